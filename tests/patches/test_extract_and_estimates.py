"""Tests of zeroshot.patches.extract and zeroshot.patches.estimates: extraction of overlapping patches and merging
of estimates into the denoised image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from zeroshot.patches.estimates import GaussianEstimate, estimate_accumulator, merge_patches
from zeroshot.patches.extract import extract_patches
from zeroshot.patches.grid import PatchGrid
from zeroshot.patches.merge import Merger

METHODS = ["mean", "median", "gaussian"]


def patch_merger(image_shape, P, method="mean", sigma=None) -> Merger:
    """A merger of the denoised image alone, by `method`."""
    grid = PatchGrid.of(image_shape, P)
    return Merger(grid, [estimate_accumulator(grid, method, sigma)])


def patch_grid_shape(image_shape, P):
    return PatchGrid.of(image_shape, P).grid_shape


# ---------------------------------------------------------------- strategies and references


@st.composite
def image_and_patch(draw, max_side=12, dtypes=(np.float64,)):
    """An (R, C) image and a patch size P in 1..min(R, C), P = 1 and P = min(R, C) favoured."""
    R = draw(st.integers(1, max_side))
    C = draw(st.integers(1, max_side))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    if dtype.kind == "f":
        width = 8 * dtype.itemsize
        elements = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=width)
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    image = draw(arrays(dtype, (R, C), elements=elements))
    side = min(R, C)
    P = draw(st.one_of(st.just(1), st.just(side), st.integers(1, side)))
    return image, P


def reference_patches(image, P):
    """Plain-loop extraction: row n is image[r:r+P, c:c+P] raveled, (r, c) = divmod(n, C-P+1)."""
    R, C = image.shape
    rows = []
    for r in range(R - P + 1):
        for c in range(C - P + 1):
            rows.append(image[r : r + P, c : c + P].astype(np.float64).ravel())
    return np.array(rows).reshape(-1, P * P)


def reference_merge(estimates, image_shape, P, method, sigma=None):
    """Plain-loop merge: collect every pixel's estimates, then np.mean / np.median / weights."""
    R, C = image_shape
    grid_cols = C - P + 1
    values = [[[] for _ in range(C)] for _ in range(R)]
    weights = [[[] for _ in range(C)] for _ in range(R)]
    s = P / 4 if sigma is None else sigma
    c0 = (P - 1) / 2
    for n, est in enumerate(estimates):
        r, c = divmod(n, grid_cols)
        for i in range(P):
            for j in range(P):
                values[r + i][c + j].append(est[i * P + j])
                weights[r + i][c + j].append(math.exp(-((i - c0) ** 2 + (j - c0) ** 2) / (2 * s * s)))
    out = np.empty((R, C))
    for y in range(R):
        for x in range(C):
            v = np.array(values[y][x])
            if method == "mean":
                out[y, x] = np.mean(v)
            elif method == "median":
                out[y, x] = np.median(v)
            else:
                w = np.array(weights[y][x])
                out[y, x] = np.sum(w * v) / np.sum(w)
    return out


def split_points(draw, n):
    """Sorted chunk boundaries 0 = b0 <= b1 <= ... <= bk = n (empty chunks allowed)."""
    cuts = draw(st.lists(st.integers(0, n), max_size=6))
    return [0, *sorted(cuts), n]


# ---------------------------------------------------------------- grid shape and extraction


def test_patch_grid_shape_known():
    assert patch_grid_shape((5, 7), 3) == (3, 5)
    assert patch_grid_shape((5, 7), 1) == (5, 7)
    assert patch_grid_shape((5, 7), 5) == (1, 3)
    assert patch_grid_shape(np.array([4, 4]), np.int64(4)) == (1, 1)


def test_extract_known_small_case():
    image = np.arange(12).reshape(3, 4)
    patches = extract_patches(image, 2)
    assert patches.dtype == np.float64
    assert patches.shape == (6, 4)
    # patch 4 has its top-left corner at (1, 1): pixels 5, 6, 9, 10
    np.testing.assert_array_equal(patches[4], [5, 6, 9, 10])
    np.testing.assert_array_equal(patches[0], [0, 1, 4, 5])
    np.testing.assert_array_equal(patches[5], [6, 7, 10, 11])


@given(image_and_patch(dtypes=(np.float64, np.float32, np.uint8, np.uint16, np.int32)))
def test_extract_matches_plain_loop(case):
    image, P = case
    patches = extract_patches(image, P)
    assert patches.dtype == np.float64
    assert patches.flags.c_contiguous
    np.testing.assert_array_equal(patches, reference_patches(image, P))


@given(st.data())
def test_chunked_extraction_concatenates_to_full(data):
    image, P = data.draw(image_and_patch())
    full = extract_patches(image, P)
    bounds = split_points(data.draw, full.shape[0])
    chunks = [extract_patches(image, P, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    for (a, b), chunk in zip(zip(bounds[:-1], bounds[1:]), chunks):
        assert chunk.shape == (b - a, P * P)
    np.testing.assert_array_equal(np.concatenate(chunks), full)


def test_extract_does_not_alias_image():
    image = np.zeros((4, 4))
    patches = extract_patches(image, 2)
    patches[:] = 7.0
    assert not image.any()


def test_extract_non_contiguous_image():
    base = np.arange(60, dtype=np.float64).reshape(6, 10)
    image = base[::2, ::3].T  # a strided, transposed view
    np.testing.assert_array_equal(extract_patches(image, 2), reference_patches(image, 2))


# ---------------------------------------------------------------- round trip extract -> merge


@given(image_and_patch(dtypes=(np.float64, np.float32, np.uint8, np.int16)))
@pytest.mark.parametrize("method", ["mean", "median"])
def test_round_trip_is_exact(method, case):
    image, P = case
    merged = merge_patches(extract_patches(image, P), image.shape, P, method)
    assert merged.dtype == np.float64
    assert merged.shape == image.shape
    np.testing.assert_array_equal(merged, image.astype(np.float64))


@given(image_and_patch(), st.one_of(st.none(), st.floats(0.3, 10.0)))
def test_round_trip_gaussian(case, sigma):
    image, P = case
    merged = merge_patches(extract_patches(image, P), image.shape, P, "gaussian", sigma)
    np.testing.assert_allclose(merged, image, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(image).max()))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (6, 6), (5, 9), (70, 3)])
def test_round_trip_extreme_patch_sizes(method, shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.normal(size=shape) * 100
    for P in (1, min(shape)):
        merged = merge_patches(extract_patches(image, P), shape, P, method)
        np.testing.assert_allclose(merged, image, rtol=1e-12, atol=0)


# ---------------------------------------------------------------- merging arbitrary estimates


@given(st.data())
@settings(max_examples=60)
@pytest.mark.parametrize("method", METHODS)
def test_merge_matches_plain_loop(method, data):
    image, P = data.draw(image_and_patch(max_side=8))
    seed = data.draw(st.integers(0, 2**32 - 1))
    N = patch_grid_shape(image.shape, P)
    estimates = np.random.default_rng(seed).normal(size=(N[0] * N[1], P * P))
    merged = merge_patches(estimates, image.shape, P, method)
    expected = reference_merge(estimates, image.shape, P, method)
    np.testing.assert_allclose(merged, expected, rtol=1e-12, atol=1e-12)


@given(st.data())
@pytest.mark.parametrize("method", METHODS)
def test_chunked_merge_equals_merge_at_once(method, data):
    image, P = data.draw(image_and_patch())
    seed = data.draw(st.integers(0, 2**32 - 1))
    grid = patch_grid_shape(image.shape, P)
    N = grid[0] * grid[1]
    estimates = np.random.default_rng(seed).normal(size=(N, P * P)) * 10
    at_once = merge_patches(estimates, image.shape, P, method)

    bounds = split_points(data.draw, N)
    merger = patch_merger(image.shape, P, method)
    for a, b in zip(bounds[:-1], bounds[1:]):
        merger.add(a, estimates[a:b])
    # increasing chunks: bitwise the same, whatever the chunk sizes
    np.testing.assert_array_equal(merger.result()["denoised"], at_once)

    shuffled = patch_merger(image.shape, P, method)
    chunks = list(zip(bounds[:-1], bounds[1:]))
    order = data.draw(st.permutations(range(len(chunks))))
    for index in order:
        a, b = chunks[index]
        shuffled.add(a, estimates[a:b])
    # any other order: equal up to rounding (the median exactly)
    np.testing.assert_allclose(shuffled.result()["denoised"], at_once, rtol=1e-12, atol=1e-12)


def test_mean_merge_hand_computed():
    # 3x3 image, P=2: four patches with constant values 1, 2, 3, 4 (corners (0,0),(0,1),(1,0),(1,1))
    estimates = np.repeat(np.array([[1.0], [2.0], [3.0], [4.0]]), 4, axis=1)
    expected = np.array(
        [
            [1.0, 1.5, 2.0],  # (0,1) covered by patches 0 and 1
            [2.0, 2.5, 3.0],  # centre covered by all four: 10 / 4
            [3.0, 3.5, 4.0],
        ]
    )
    np.testing.assert_array_equal(merge_patches(estimates, (3, 3), 2, "mean"), expected)


def test_median_merge_hand_computed():
    # same layout with constants 1, 2, 3, 10: the centre sees {1, 2, 3, 10} -> median 2.5 (mean 4)
    estimates = np.repeat(np.array([[1.0], [2.0], [3.0], [10.0]]), 4, axis=1)
    expected = np.array([[1.0, 1.5, 2.0], [2.0, 2.5, 6.0], [3.0, 6.5, 10.0]])
    np.testing.assert_array_equal(merge_patches(estimates, (3, 3), 2, "median"), expected)


def test_median_merge_hand_computed_odd_count():
    # 3x5 image, P=3: patches at columns 0, 1, 2; each patch has the same 3 values on every row.
    rows = np.array([[0.0, 5.0, 9.0], [7.0, 1.0, 100.0], [4.0, 0.0, 0.0]])  # per patch, per column
    estimates = np.tile(rows, (1, 3))  # (3, 9): each patch repeats its column values on 3 rows
    merged = merge_patches(estimates, (3, 5), 3, "median")
    # column 2 sees {9, 1, 4} -> 4 (mean would be 14/3); column 1 {5, 7} -> 6; column 3 {100, 0} -> 50
    np.testing.assert_array_equal(merged, np.tile([0.0, 6.0, 4.0, 50.0, 0.0], (3, 1)))


def test_gaussian_merge_hand_computed():
    # 3x4 image, P=3: two patches, constants a (corner (0,0)) and b (corner (0,1)).
    a, b, sigma = 2.0, 8.0, 0.75  # sigma = P / 4, the default
    estimates = np.array([[a] * 9, [b] * 9])
    merged = merge_patches(estimates, (3, 4), 3, "gaussian")
    # pixel (1, 1): centre of patch 0 (weight 1), left-edge middle of patch 1 (weight e1)
    e1 = math.exp(-1 / (2 * sigma**2))
    assert merged[1, 1] == pytest.approx((a + e1 * b) / (1 + e1), rel=1e-14)
    # pixel (0, 1): top-middle of patch 0 (weight e1), top-left corner of patch 1 (weight e2)
    e2 = math.exp(-2 / (2 * sigma**2))
    assert merged[0, 1] == pytest.approx((e1 * a + e2 * b) / (e1 + e2), rel=1e-14)
    assert merged[0, 0] == a and merged[2, 3] == b  # covered by one patch only
    # a wider window weighs patch borders more: pixel (1, 1) moves towards b
    wide = merge_patches(estimates, (3, 4), 3, "gaussian", gaussian_sigma=100.0)
    assert merged[1, 1] < wide[1, 1] < (a + b) / 2 + 1e-3


def test_gaussian_equals_mean_when_offsets_are_equidistant():
    # P=2: all four offsets are at the same distance from the centre, so the weights are equal
    estimates = np.random.default_rng(1).normal(size=(12, 4))
    np.testing.assert_allclose(
        merge_patches(estimates, (4, 5), 2, "gaussian", 0.3),
        merge_patches(estimates, (4, 5), 2, "mean"),
        rtol=1e-13,
        atol=1e-13,
    )


def test_result_can_be_called_twice_and_after_more_adds():
    estimates = np.random.default_rng(2).normal(size=(9, 4))
    merger = patch_merger((4, 4), 2, "median")
    merger.add(0, estimates[:4])
    with pytest.raises(ValueError, match="no estimate"):
        merger.result()["denoised"]
    merger.add(4, estimates[4:])
    first = merger.result()["denoised"]
    np.testing.assert_array_equal(merger.result()["denoised"], first)
    np.testing.assert_array_equal(first, merge_patches(estimates, (4, 4), 2, "median"))


def test_merger_attributes():
    merger = patch_merger((5, 7), 3, "gaussian")
    assert merger.grid.shape == (5, 7)
    assert merger.grid.P == 3
    assert merger.grid.grid_shape == (3, 5)
    assert merger.grid.N == 15
    assert merger.inputs == ("mean",)
    gaussian = merger.accumulators[0]
    assert isinstance(gaussian, GaussianEstimate)
    assert gaussian.sigma == 0.75


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("P", "pattern"),
    [
        (0, r"at least 1, got P=0"),
        (-3, r"at least 1, got P=-3"),
        (6, r"P=6 is larger than the image of shape \(5, 7\)"),
        (2.0, r"must be an integer, got 2\.0"),
        (True, r"must be an integer, got True"),
    ],
)
def test_bad_patch_size(P, pattern):
    image = np.zeros((5, 7))
    with pytest.raises(ValueError, match=pattern):
        extract_patches(image, P)
    with pytest.raises(ValueError, match=pattern):
        patch_grid_shape(image.shape, P)
    with pytest.raises(ValueError, match=pattern):
        PatchGrid.of(image.shape, P)


@pytest.mark.parametrize(
    ("image", "pattern"),
    [
        (np.zeros(5), r"must be 2-D \(R, C\), got shape \(5,\)"),
        (np.zeros((3, 4, 2)), r"must be 2-D \(R, C\), got shape \(3, 4, 2\)"),
        (np.zeros((0, 5)), r"image is empty: shape \(0, 5\)"),
        (np.zeros((4, 4), dtype=complex), r"real numeric dtype, got dtype complex128"),
        (np.zeros((4, 4), dtype=bool), r"real numeric dtype, got dtype bool"),
    ],
)
def test_bad_image(image, pattern):
    with pytest.raises(ValueError, match=pattern):
        extract_patches(image, 1)


def test_non_finite_image():
    image = np.zeros((4, 5))
    image[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"shape \(4, 5\) contains NaN or Inf \(first at pixel \(2, 3\)"):
        extract_patches(image, 2)
    # a chunk that does not touch the bad pixel is fine
    assert extract_patches(image, 2, 0, 2).shape == (2, 4)


@pytest.mark.parametrize(
    ("start", "stop", "pattern"),
    [
        (-1, None, r"\[-1, 12\)"),
        (5, 13, r"\[5, 13\) is not within \[0, 12\]"),
        (7, 6, r"\[7, 6\)"),
        (1.5, None, r"start must be an integer, got 1\.5"),
        (0, 2.0, r"stop must be an integer or None, got 2\.0"),
    ],
)
def test_bad_extraction_range(start, stop, pattern):
    with pytest.raises(ValueError, match=pattern):
        extract_patches(np.zeros((4, 5)), 2, start, stop)


@pytest.mark.parametrize(
    ("shape", "pattern"),
    [
        ((0, 4), r"empty image of shape \(0, 4\)"),
        ((3,), r"pair of integers"),
        (5, r"pair \(R, C\)"),
    ],
)
def test_bad_image_shape(shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        PatchGrid.of(shape, 1)


def test_unknown_method():
    with pytest.raises(ValueError, match=r"unknown merge method 'average'"):
        patch_merger((4, 4), 2, "average")
    with pytest.raises(ValueError, match=r"unknown merge method 'Mean'"):
        merge_patches(np.zeros((9, 4)), (4, 4), 2, "Mean")


@pytest.mark.parametrize(
    ("method", "sigma", "pattern"),
    [
        ("gaussian", 0.0, r"gaussian_sigma must be a finite number > 0, got 0\.0"),
        ("gaussian", -1.0, r"got -1\.0"),
        ("gaussian", float("nan"), r"got nan"),
        ("gaussian", "1", r"got '1'"),
        ("gaussian", 0.01, r"gaussian_sigma=0\.01 is too small for P=8"),
        ("mean", 2.0, r"gaussian_sigma=2\.0 is only used with method='gaussian'"),
    ],
)
def test_bad_gaussian_sigma(method, sigma, pattern):
    with pytest.raises(ValueError, match=pattern):
        patch_merger((10, 10), 8, method, sigma)


@pytest.mark.parametrize(
    ("estimates", "pattern"),
    [
        (np.zeros((3, 9)), r"shape \(n, D\) = \(n, 4\) for P=2, got shape \(3, 9\)"),
        (np.zeros(4), r"got shape \(4,\)"),
        (np.zeros((3, 4), dtype=complex), r"real numeric dtype, got dtype complex128"),
        (np.zeros((13, 4)), r"patches \[0, 0 \+ 13\) do not fit in the N = 12 patches"),
    ],
)
def test_bad_estimates_for_add(estimates, pattern):
    merger = patch_merger((4, 5), 2)
    with pytest.raises(ValueError, match=pattern):
        merger.add(0, estimates)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_estimates(method, bad):
    estimates = np.zeros((12, 4))
    estimates[5, 2] = bad
    # the entry point for any array scans them; the pipeline's merger trusts what its kernels made
    with pytest.raises(ValueError, match=r"shape \(12, 4\) contain NaN or Inf .*patch 5, pixel 2"):
        merge_patches(estimates, (4, 5), 2, method)


def test_bad_add_start():
    merger = patch_merger((4, 5), 2)
    with pytest.raises(ValueError, match=r"patches \[10, 10 \+ 3\) do not fit in the N = 12"):
        merger.add(10, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"patches \[-1, -1 \+ 1\)"):
        merger.add(-1, np.zeros((1, 4)))


def test_patch_added_twice():
    merger = patch_merger((4, 5), 2)
    merger.add(0, np.zeros((6, 4)))
    with pytest.raises(ValueError, match=r"patch 4 was already added"):
        merger.add(4, np.zeros((3, 4)))
    merger.add(6, np.zeros((6, 4)))  # the failed add left no trace
    np.testing.assert_array_equal(merger.result()["denoised"], np.zeros((4, 5)))


@pytest.mark.parametrize("method", METHODS)
def test_result_before_all_pixels_covered(method):
    merger = patch_merger((4, 5), 2, method)
    merger.add(0, np.ones((11, 4)))  # the last patch covers the bottom-right pixel alone
    with pytest.raises(ValueError, match=r"1 of 20 pixels .* shape \(4, 5\) .*pixel \(3, 4\).*11 of N = 12"):
        merger.result()["denoised"]
    empty = patch_merger((4, 5), 2, method)
    with pytest.raises(ValueError, match=r"20 of 20 pixels"):
        empty.result()["denoised"]


def test_merge_patches_wrong_number_of_patches():
    with pytest.raises(
        ValueError,
        match=r"shape \(N, D\) = \(12, 4\) .*shape \(4, 5\) with P=2, got shape \(11, 4\)",
    ):
        merge_patches(np.zeros((11, 4)), (4, 5), 2)
    with pytest.raises(ValueError, match=r"got shape \(48,\)"):
        merge_patches(np.zeros(48), (4, 5), 2)
