"""The report figure and its dictionary tiles."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zeroshot.cli.report import dictionary_tiles, write_report
from zeroshot.noise.statistics import estimate_noise_acf


def test_tiles_place_each_column_stretched_with_gaps():
    P, H = 3, 5
    W = np.arange(P * P * H, dtype=float).reshape(P * P, H)
    grid = dictionary_tiles(W, P)
    side = 3  # ceil(sqrt(5))
    assert grid.shape == (2 * (P + 1) + 1, side * (P + 1) + 1)
    first = grid[1 : 1 + P, 1 : 1 + P]
    np.testing.assert_allclose(first, np.linspace(0, 1, P * P).reshape(P, P))
    assert np.all(grid[0] == 1.0) and np.all(grid[:, 0] == 1.0)


def test_tiles_follow_the_given_order_and_limit():
    P = 2
    W = np.zeros((4, 3))
    W[0, 2] = 1.0  # only column 2 has structure
    grid = dictionary_tiles(W, P, order=np.array([2, 0, 1]), max_tiles=1)
    assert grid.shape == (P + 2, P + 2)
    assert grid[1, 1] == 1.0 and grid[2, 2] == 0.0


def test_tiles_reject_a_wrong_patch_size():
    with pytest.raises(ValueError, match="expected \\(16, H\\)"):
        dictionary_tiles(np.zeros((9, 2)), 4)


def test_report_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    image = rng.random((20, 24))
    out = tmp_path / "sub" / "report.png"
    write_report(
        out,
        noisy=image,
        denoised=image,
        variance=image**2,
        relief=image,
        free_energy=[-3.0, -2.0, -1.5],
        W=rng.standard_normal((9, 12)),
        patch_size=3,
        usage=rng.random(12),
        noise_acf=estimate_noise_acf(rng.standard_normal((64, 64))),
        title="test",
    )
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 200
    assert [p.name for p in out.parent.iterdir()] == ["report.png"]  # no temporary file left


def test_report_must_be_png(tmp_path):
    with pytest.raises(ValueError, match="PNG"):
        write_report(
            tmp_path / "r.jpg",
            noisy=np.zeros((4, 4)),
            denoised=np.zeros((4, 4)),
            variance=np.zeros((4, 4)),
            relief=np.zeros((4, 4)),
            free_energy=[0.0],
            W=np.zeros((4, 1)),
            patch_size=2,
        )


def test_report_without_matplotlib_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)  # makes the import fail
    image = np.zeros((8, 8))
    with pytest.raises(ValueError, match=r'needs matplotlib: pip install "\.\[report\]" in the zeroshot source'):
        write_report(
            tmp_path / "report.png",
            noisy=image,
            denoised=image,
            variance=image,
            relief=image,
            free_energy=[-1.0],
            W=np.zeros((9, 2)),
            patch_size=3,
        )
