"""Merging per-patch estimates rank by rank: mergers of bands of image rows, each holding a contiguous
block of the patches, absorbed into the merger of the whole image (`band_state` / `absorb`)."""

from __future__ import annotations

import numpy as np
import pytest

from zeroshot.patches.grid import PatchMerger
from zeroshot.patches.moment_merge import MomentMerger
from zeroshot.runtime.comm import block_range

SHAPE, P = (23, 19), 4
GRID_COLS = SHAPE[1] - P + 1
N = (SHAPE[0] - P + 1) * GRID_COLS
D = P * P


def estimates(seed: int = 0):
    rng = np.random.default_rng(seed)
    mean = 100.0 + rng.standard_normal((N, D))  # an offset, so the shifted sums matter
    return mean, rng.uniform(0.1, 2.0, (N, D)), rng.standard_normal((N, D))


def bands(size: int):
    """(row0, rows, first patch, last patch + 1) of each of `size` ranks, as zeroshot.pipeline.inference makes them."""
    out = []
    for rank in range(size):
        lo, hi = block_range(N, rank, size)
        row0 = lo // GRID_COLS
        out.append((row0, (hi - 1) // GRID_COLS + P - row0, lo, hi))
    return out


@pytest.mark.parametrize("size", [2, 3, 7])
@pytest.mark.parametrize("method", ["mean", "gaussian", "median"])
def test_patch_merger_bands_absorbed_equal_one_merger(method, size):
    mean, _, _ = estimates()
    whole = PatchMerger(SHAPE, P, method)
    whole.add(0, mean)
    want = whole.result()

    merged = PatchMerger(SHAPE, P, method)
    for row0, rows, lo, hi in bands(size):
        band = PatchMerger((rows, SHAPE[1]), P, method)
        band.add(lo - row0 * GRID_COLS, mean[lo:hi])
        merged.absorb(band.band_state(), row0)
    got = merged.result()
    np.testing.assert_allclose(got, want, rtol=1e-13)
    if method == "median":
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("size", [2, 3, 7])
@pytest.mark.parametrize("third", [False, True])
def test_moment_merger_bands_absorbed_equal_one_merger(third, size):
    mean, variance, third_moment = estimates(1)
    t = third_moment if third else None
    want = MomentMerger(SHAPE, P)
    want.add(0, mean, variance, t)
    want_moments = want.result()

    merged = MomentMerger(SHAPE, P)
    for row0, rows, lo, hi in bands(size):
        band = MomentMerger((rows, SHAPE[1]), P)
        band.add(lo - row0 * GRID_COLS, mean[lo:hi], variance[lo:hi], None if t is None else t[lo:hi])
        merged.absorb(band.band_state(), row0)
    got = merged.result()
    for name in ("mean", "variance", "within", "between") + (("third", "skewness") if third else ()):
        np.testing.assert_allclose(getattr(got, name), getattr(want_moments, name), rtol=1e-9, atol=1e-11)


def test_one_band_covering_the_image_is_bitwise_the_same():
    mean, variance, third_moment = estimates(2)
    direct = MomentMerger(SHAPE, P)
    direct.add(0, mean, variance, third_moment)
    merged = MomentMerger(SHAPE, P)
    merged.absorb(direct.band_state(), 0)
    np.testing.assert_array_equal(merged.result().variance, direct.result().variance)
    np.testing.assert_array_equal(merged.result().third, direct.result().third)


def test_a_patch_absorbed_twice_is_refused():
    mean, _, _ = estimates()
    band = PatchMerger((P + 1, SHAPE[1]), P)
    band.add(0, mean[: 2 * GRID_COLS])
    merged = PatchMerger(SHAPE, P)
    merged.absorb(band.band_state(), 3)
    with pytest.raises(ValueError, match=f"patch {3 * GRID_COLS} was already added"):
        merged.absorb(band.band_state(), 3)


def test_a_band_that_does_not_fit_is_refused():
    band = MomentMerger((P + 1, SHAPE[1]), P)
    merged = MomentMerger(SHAPE, P)
    with pytest.raises(ValueError, match="does not fit"):
        merged.absorb(band.band_state(), SHAPE[0] - P)  # would reach past the last row
    other = MomentMerger((P + 1, SHAPE[1] + 1), P)  # other columns
    with pytest.raises(ValueError, match="does not fit"):
        merged.absorb(other.band_state(), 0)
