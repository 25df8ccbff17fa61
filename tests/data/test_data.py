"""Sample data (zeroshot.data): the bundled real cryo-ET slice, its provenance, the simulated image, and
`zeroshot demo --real`. Reads only what the installed package ships."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest

import zeroshot
from zeroshot.cli.main import main
from zeroshot.data import (
    SARSCOV2_BACKGROUND,
    SARSCOV2_VIRIONS,
    crop_around,
    sarscov2,
    sarscov2_provenance,
    simulated_virus,
)
from zeroshot.io import read_image
from zeroshot.simulate import add_tem_noise, simulated_micrograph

TINY = ["--epochs", "2", "--latents", "8", "--states", "8", "--patch-size", "4", "--threads", "1", "-q"]


def test_sarscov2_loads_as_an_em_image():
    image = sarscov2()
    assert isinstance(image, zeroshot.EMImage)
    assert image.data.shape == (928, 960)
    assert image.data.dtype == np.uint8
    assert np.isfinite(image.data).all()
    assert image.pixel_size is None  # not known reliably (sarscov2_cryoet.txt)
    assert image.format == "PNG"
    assert 125 < image.data.mean() < 137 and 7 < image.data.std() < 10  # the slice: mean 131, std 8.3


def test_sarscov2_pixels_are_the_source_files():
    # SHA-256 of the pixel array recorded in the provenance file: the PNG holds the TIFF's pixels unchanged
    digest = hashlib.sha256(np.ascontiguousarray(sarscov2().data).tobytes()).hexdigest()
    assert digest in sarscov2_provenance()


def test_the_bundled_image_is_small_and_lossless_png():
    path = resources.files("zeroshot.data") / "sarscov2_cryoet.png"
    data = path.read_bytes()
    assert len(data) <= 1_000_000
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_provenance_and_licence_are_in_the_installed_package():
    provenance = resources.files("zeroshot.data") / "sarscov2_cryoet.txt"
    assert provenance.is_file()
    text = sarscov2_provenance()
    assert text == provenance.read_text(encoding="utf-8")
    for needed in (
        "jeremyschan/cryoCompare",
        "inst/extdata/TS_001.133.tif",
        "50571d866e9d57384faa82588781005c63b0f867",
        "dataset 10006",
        "CC0",
        "MIT License",
        "Permission is hereby granted",
    ):
        assert needed in text


def test_the_named_regions_lie_in_the_slice():
    image = sarscov2().data
    rows, cols = SARSCOV2_BACKGROUND
    background = image[rows, cols].astype(np.float64)
    assert background.shape == (rows.stop - rows.start, cols.stop - cols.start)
    # structureless: its standard deviation is below the whole slice's (which holds virions and filaments)
    assert background.std() < image.std()
    r, c = SARSCOV2_VIRIONS
    assert 0 <= r < image.shape[0] and 0 <= c < image.shape[1]


@pytest.mark.parametrize(
    "shape, centre, size, expected",
    [
        ((10, 12), (5, 6), 4, (slice(3, 7), slice(4, 8))),
        ((10, 12), (0, 0), 4, (slice(0, 4), slice(0, 4))),  # moved inside at the top left
        ((10, 12), (9, 11), 4, (slice(6, 10), slice(8, 12))),  # and at the bottom right
        ((10, 12), (5, 6), 11, (slice(0, 10), slice(1, 12))),  # the whole side where the image is smaller
        ((10, 12), (5, 6), 100, (slice(0, 10), slice(0, 12))),
    ],
)
def test_crop_around(shape, centre, size, expected):
    image = np.arange(np.prod(shape)).reshape(shape)
    np.testing.assert_array_equal(crop_around(image, centre, size), image[expected])


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_crop_around_refuses_a_bad_size(size):
    with pytest.raises(ValueError, match="size must be a positive integer"):
        crop_around(np.zeros((4, 4)), (2, 2), size)


def test_simulated_virus_is_the_demo_image():
    clean, noisy = simulated_virus(64, seed=2)
    np.testing.assert_array_equal(clean, simulated_micrograph(64, seed=2))
    np.testing.assert_array_equal(noisy, add_tem_noise(clean, seed=3))
    sample = simulated_virus(32)
    assert sample.clean.shape == sample.noisy.shape == (32, 32)


def test_demo_real_writes_the_four_pngs(tmp_path, capsys):
    out = tmp_path / "real"
    assert main(["demo", "--real", "-o", str(out), "--size", "40", *TINY]) == 0
    for name in ("noisy.png", "denoised.png", "variance.png", "detail.png", "relief.png"):
        image = read_image(out / name)
        assert image.dtype == np.uint8 and image.shape == (40, 40), name
    names = ["denoised.png", "detail.png", "noisy.png", "relief.png", "variance.png"]
    assert sorted(p.name for p in out.iterdir()) == names
    # the noisy panel is the crop around the virions on the noisy crop's percentile stretch
    crop = crop_around(sarscov2().data, SARSCOV2_VIRIONS, 40).astype(np.float64)
    low, high = np.percentile(crop, [0.5, 99.5])
    expected = np.clip(np.rint((crop - low) / (high - low) * 255), 0, 255)
    np.testing.assert_array_equal(read_image(out / "noisy.png"), expected)
    text = capsys.readouterr().out
    assert "REAL data" in text and "SARS-CoV-2" in text and "learned noise sigma" in text


def test_demo_real_with_a_bad_size_writes_nothing(tmp_path, capsys):
    assert main(["demo", "--real", "-o", str(tmp_path / "d"), "--size", "8", *TINY]) == 2
    assert "--size must be an integer >= 16" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
