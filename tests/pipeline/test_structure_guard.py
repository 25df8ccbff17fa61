"""The structure guard: no structure beyond the noise -> the smooth estimate, said so; structure -> a normal run."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zeroshot
from zeroshot.cli.main import main
from zeroshot.maps.blur import gaussian_blur
from zeroshot.pipeline.structure_guard import GUARD_EPOCHS, SMOOTH_PATCHES

SMALL = {"n_latents": 16, "n_states": 6, "epochs": 4, "inference_epochs": 2, "threads": 1, "structure_guard": True}


def _white_noise(shape: tuple[int, int] = (96, 96)) -> np.ndarray:
    return 100.0 + 10.0 * np.random.default_rng(3).standard_normal(shape)


def test_pure_noise_gets_the_smooth_estimate():
    noisy = _white_noise()
    result = zeroshot.denoise(noisy, noise="white", moments=3, **SMALL)
    check = result.structure
    assert check is not None and not check.found
    assert check.gain < 0 and "no structure found" in check.description
    P = result.config.patch_size
    assert P is not None
    expected = gaussian_blur(noisy, SMOOTH_PATCHES * P)
    np.testing.assert_allclose(result.denoised, expected, rtol=1e-9, atol=1e-9)
    assert len(result.history) == GUARD_EPOCHS  # the guard's model: the main training never ran
    assert 5.0 < result.noise_sigma < 15.0  # the guard's model learned the noise (sigma 10)
    m = result.moments
    assert m is not None and m.third is not None and m.skewness is not None
    np.testing.assert_allclose(m.mean, result.denoised)
    assert not np.any(m.variance) and not np.any(m.third) and not np.any(m.skewness)


def test_structure_is_found_and_learned():
    noisy = zeroshot.data.simulated_virus(96).noisy
    result = zeroshot.denoise(noisy, **SMALL)
    check = result.structure
    assert check is not None and check.found and check.gain > 0
    assert len(result.history) == SMALL["epochs"]


def test_guard_off_and_small_images():
    noisy = _white_noise()
    off = zeroshot.denoise(noisy, noise="white", **{**SMALL, "structure_guard": False})
    assert off.structure is None and len(off.history) == SMALL["epochs"]
    small = zeroshot.denoise(noisy[:32, :32], noise="white", **SMALL)  # too few patches to judge
    assert small.structure is None and len(small.history) == SMALL["epochs"]
    with pytest.raises(ValueError, match="structure_guard must be True or False"):
        zeroshot.DenoiseConfig(structure_guard="no")  # type: ignore[arg-type]


def test_cli_says_so_and_records_it(tmp_path, capsys):
    source = tmp_path / "noise.npy"
    np.save(source, _white_noise().astype(np.float32))
    args = ["denoise", str(source), "--latents", "16", "--states", "6", "--epochs", "4", "--threads", "1"]
    assert main([*args, "-o", str(tmp_path / "out.npy"), "--structure-guard"]) == 0
    assert "no structure found" in capsys.readouterr().err
    record = json.loads((tmp_path / "out.npy.json").read_text())
    assert record["results"]["structure"]["found"] is False
    assert record["settings"]["structure_guard"] is True
    assert main([*args, "-o", str(tmp_path / "off.npy")]) == 0  # off by default
    record = json.loads((tmp_path / "off.npy.json").read_text())
    assert record["results"]["structure"] is None and record["settings"]["structure_guard"] is False
