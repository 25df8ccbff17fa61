"""Merging per-patch estimates rank by rank: mergers of bands of image rows, each holding a contiguous
block of the patches, absorbed into the merger of the whole image (`band_state` / `absorb`)."""

from __future__ import annotations

import numpy as np
import pytest

from zeroshot.patches.estimates import estimate_accumulator
from zeroshot.patches.grid import PatchGrid
from zeroshot.patches.merge import Merger
from zeroshot.patches.moments import MomentAccumulator, PixelMoments
from zeroshot.runtime.comm import block_range

SHAPE, P = (23, 19), 4
GRID_COLS = SHAPE[1] - P + 1
N = (SHAPE[0] - P + 1) * GRID_COLS
D = P * P


def estimates(seed: int = 0):
    rng = np.random.default_rng(seed)
    mean = 100.0 + rng.standard_normal((N, D))  # an offset, so the shifted sums matter
    return mean, rng.uniform(0.1, 2.0, (N, D)), rng.standard_normal((N, D))


def patch_merger(shape, P, method="mean"):
    """The merger of the denoised image alone."""
    grid = PatchGrid.of(shape, P)
    return Merger(grid, [estimate_accumulator(grid, method)])


def moment_merger(shape, P, third=True):
    """The merger of the moment maps alone."""
    grid = PatchGrid.of(shape, P)
    return Merger(grid, [MomentAccumulator(grid, third)])


def bands(size: int):
    """(row0, rows, first patch, last patch + 1) of each of `size` ranks, as zeroshot.pipeline.inference makes them."""
    out = []
    for rank in range(size):
        lo, hi = block_range(N, rank, size)
        band = PatchGrid(*SHAPE, P).band(lo, hi)
        rows = band.grid.shape[0]
        assert band.row0 == lo // GRID_COLS and rows == (hi - 1) // GRID_COLS + P - band.row0
        out.append((band.row0, rows, lo, hi))
    return out


@pytest.mark.parametrize("size", [2, 3, 7])
@pytest.mark.parametrize("method", ["mean", "gaussian", "median"])
def test_patch_merger_bands_absorbed_equal_one_merger(method, size):
    mean, _, _ = estimates()
    whole = patch_merger(SHAPE, P, method)
    whole.add(0, mean)
    want = whole.result()["denoised"]

    merged = patch_merger(SHAPE, P, method)
    for row0, rows, lo, hi in bands(size):
        band = patch_merger((rows, SHAPE[1]), P, method)
        band.add(lo - row0 * GRID_COLS, mean[lo:hi])
        merged.absorb(band.band_state(), row0)
    got = merged.result()["denoised"]
    np.testing.assert_allclose(got, want, rtol=1e-13)
    if method == "median":
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("size", [2, 3, 7])
@pytest.mark.parametrize("third", [False, True])
def test_moment_merger_bands_absorbed_equal_one_merger(third, size):
    mean, variance, third_moment = estimates(1)
    t = third_moment if third else None
    want = moment_merger(SHAPE, P, third)
    want.add(0, mean, variance, t)
    want_moments = PixelMoments.of(want.result())

    merged = moment_merger(SHAPE, P, third)
    for row0, rows, lo, hi in bands(size):
        band = moment_merger((rows, SHAPE[1]), P, third)
        band.add(lo - row0 * GRID_COLS, mean[lo:hi], variance[lo:hi], None if t is None else t[lo:hi])
        merged.absorb(band.band_state(), row0)
    got = PixelMoments.of(merged.result())
    for name in ("mean", "variance", "within", "between") + (("third", "skewness") if third else ()):
        np.testing.assert_allclose(getattr(got, name), getattr(want_moments, name), rtol=1e-9, atol=1e-11)


def test_one_band_covering_the_image_is_bitwise_the_same():
    mean, variance, third_moment = estimates(2)
    direct = moment_merger(SHAPE, P)
    direct.add(0, mean, variance, third_moment)
    merged = moment_merger(SHAPE, P)
    merged.absorb(direct.band_state(), 0)
    np.testing.assert_array_equal(merged.result()["variance"], direct.result()["variance"])
    np.testing.assert_array_equal(merged.result()["third"], direct.result()["third"])


def test_a_patch_absorbed_twice_is_refused():
    mean, _, _ = estimates()
    band = patch_merger((P + 1, SHAPE[1]), P)
    band.add(0, mean[: 2 * GRID_COLS])
    merged = patch_merger(SHAPE, P)
    merged.absorb(band.band_state(), 3)
    with pytest.raises(ValueError, match=f"patch {3 * GRID_COLS} was already added"):
        merged.absorb(band.band_state(), 3)


def test_a_band_that_does_not_fit_is_refused():
    band = moment_merger((P + 1, SHAPE[1]), P)
    merged = moment_merger(SHAPE, P)
    with pytest.raises(ValueError, match="does not fit"):
        merged.absorb(band.band_state(), SHAPE[0] - P)  # would reach past the last row
    other = moment_merger((P + 1, SHAPE[1] + 1), P)  # other columns
    with pytest.raises(ValueError, match="does not fit"):
        merged.absorb(other.band_state(), 0)


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("method", ["gaussian", "median"])
def test_a_merger_of_two_accumulators_merges_bands_as_each_alone(method, size):
    mean, variance, third_moment = estimates(3)

    def both(shape):
        grid = PatchGrid.of(shape, P)
        return Merger(grid, [estimate_accumulator(grid, method), MomentAccumulator(grid, third=True)])

    merged = both(SHAPE)
    for row0, rows, lo, hi in bands(size):
        band = both((rows, SHAPE[1]))
        band.add(lo - row0 * GRID_COLS, mean[lo:hi], variance[lo:hi], third_moment[lo:hi])
        merged.absorb(band.band_state(), row0)
    got = merged.result()
    alone = patch_merger(SHAPE, P, method)
    for row0, rows, lo, hi in bands(size):
        band = patch_merger((rows, SHAPE[1]), P, method)
        band.add(lo - row0 * GRID_COLS, mean[lo:hi])
        alone.absorb(band.band_state(), row0)
    np.testing.assert_array_equal(got["denoised"], alone.result()["denoised"])
    moments = moment_merger(SHAPE, P)
    for row0, rows, lo, hi in bands(size):
        band = moment_merger((rows, SHAPE[1]), P)
        band.add(lo - row0 * GRID_COLS, mean[lo:hi], variance[lo:hi], third_moment[lo:hi])
        moments.absorb(band.band_state(), row0)
    for name, values in moments.result().items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_the_moments_mean_is_the_mean_merge_bitwise(size):
    """What lets inference merge each chunk once: with moments, their mean serves as the mean merge."""
    mean, variance, _ = estimates(4)
    means = patch_merger(SHAPE, P)
    moments = moment_merger(SHAPE, P, third=False)
    for row0, rows, lo, hi in bands(size):
        band_means, band_moments = patch_merger((rows, SHAPE[1]), P), moment_merger((rows, SHAPE[1]), P, third=False)
        band_means.add(lo - row0 * GRID_COLS, mean[lo:hi])
        band_moments.add(lo - row0 * GRID_COLS, mean[lo:hi], variance[lo:hi])
        means.absorb(band_means.band_state(), row0)
        moments.absorb(band_moments.band_state(), row0)
    np.testing.assert_array_equal(moments.result()["mean"], means.result()["denoised"])


def test_a_band_of_other_accumulators_is_refused():
    band = moment_merger((P + 1, SHAPE[1]), P, third=False)
    with pytest.raises(ValueError, match=r"moments\.sum3"):
        moment_merger(SHAPE, P, third=True).absorb(band.band_state(), 0)
    with pytest.raises(ValueError, match=r"mean\.ref"):
        patch_merger(SHAPE, P).absorb(band.band_state(), 0)
