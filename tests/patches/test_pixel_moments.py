"""Tests of zeroshot.patches.moments: per-pixel mixture moments from per-patch posterior moments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroshot.patches.extract import extract_patches
from zeroshot.patches.grid import PatchGrid
from zeroshot.patches.merge import Merger
from zeroshot.patches.moments import MomentAccumulator, PixelMoments, merge_moments


def moment_merger(image_shape, P, third=False) -> Merger:
    """A merger of the moment maps alone, with third moments or without."""
    grid = PatchGrid.of(image_shape, P)
    return Merger(grid, [MomentAccumulator(grid, third)])


def moments_of(merger: Merger) -> PixelMoments:
    return PixelMoments.of(merger.result())


# ---------------------------------------------------------------- strategies and references


@st.composite
def random_moments(draw, max_side=9, with_third=True):
    """(image_shape, P, mean, variance, third) for all patches; random, variance >= 0."""
    R = draw(st.integers(1, max_side))
    C = draw(st.integers(1, max_side))
    P = draw(st.one_of(st.just(1), st.just(min(R, C)), st.integers(1, min(R, C))))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    grid = PatchGrid(R, C, P).grid_shape
    shape = (grid[0] * grid[1], P * P)
    mean = rng.normal(size=shape) * 3
    variance = rng.exponential(size=shape)
    third = rng.normal(size=shape) if with_third else None
    return (R, C), P, mean, variance, third


def covering_estimates(values, image_shape, P):
    """Plain loop: for every pixel, the list of values of the patches covering it (patch order)."""
    R, C = image_shape
    grid_cols = C - P + 1
    out = [[[] for _ in range(C)] for _ in range(R)]
    for n, patch in enumerate(values):
        r, c = divmod(n, grid_cols)
        for i in range(P):
            for j in range(P):
                out[r + i][c + j].append(patch[i * P + j])
    return out


def reference_moments(mean, variance, third, image_shape, P):
    """Brute force, pixel by pixel: moments of the equal-weight mixture of the covering patches."""
    R, C = image_shape
    m_lists = covering_estimates(mean, image_shape, P)
    v_lists = covering_estimates(variance, image_shape, P)
    t_lists = covering_estimates(third, image_shape, P) if third is not None else None
    maps = {name: np.empty((R, C)) for name in ("mean", "within", "between", "third")}
    for y in range(R):
        for x in range(C):
            m = np.array(m_lists[y][x])
            v = np.array(v_lists[y][x])
            M = m.mean()
            maps["mean"][y, x] = M
            maps["within"][y, x] = v.mean()
            maps["between"][y, x] = np.mean((m - M) ** 2)  # population variance, 1/n
            if t_lists is not None:
                t = np.array(t_lists[y][x])
                maps["third"][y, x] = np.mean(t + 3 * v * (m - M) + (m - M) ** 3)
    maps["variance"] = maps["within"] + maps["between"]
    return maps


def split_points(draw, n):
    """Sorted chunk boundaries 0 = b0 <= b1 <= ... <= bk = n (empty chunks allowed)."""
    cuts = draw(st.lists(st.integers(0, n), max_size=6))
    return [0, *sorted(cuts), n]


def assert_same_moments(a: PixelMoments, b: PixelMoments, exact: bool) -> None:
    for name in ("mean", "variance", "within", "between", "third", "skewness"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is None:
            continue
        if exact:
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-10, err_msg=name)


# ---------------------------------------------------------------- exact cases


@given(st.integers(1, 8), st.integers(1, 8), st.data())
def test_zero_variance_when_patches_agree(R, C, data):
    P = data.draw(st.integers(1, min(R, C)))
    image = data.draw(st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s).normal(size=(R, C)) * 1e3))
    mean = extract_patches(image, P)
    zero = np.zeros_like(mean)
    moments = merge_moments(mean, zero, image.shape, P, third=zero)
    np.testing.assert_array_equal(moments.mean, image)
    for name in ("variance", "within", "between", "third", "skewness"):
        np.testing.assert_array_equal(getattr(moments, name), np.zeros((R, C)), err_msg=name)


def test_hand_computed_centre_pixel():
    # 3x3 image, P=2: four patches with constant means 1, 2, 3, 10 and variances 0.5, 0.5, 1, 2
    means = np.array([1.0, 2.0, 3.0, 10.0])
    variances = np.array([0.5, 0.5, 1.0, 2.0])
    thirds = np.array([0.0, 1.0, 0.0, -1.0])
    moments = merge_moments(
        np.repeat(means[:, None], 4, axis=1),
        np.repeat(variances[:, None], 4, axis=1),
        (3, 3),
        2,
        third=np.repeat(thirds[:, None], 4, axis=1),
    )
    # the centre (1, 1) is covered by all four: M = 4, deviations -3, -2, -1, 6
    assert moments.mean[1, 1] == 4.0
    assert moments.within[1, 1] == 1.0
    assert moments.between[1, 1] == (9 + 4 + 1 + 36) / 4
    # mean(t) + 3 mean(v d) + mean(d^3) = 0 + 3 (-1.5 - 1 - 1 + 12) / 4 + (-27 - 8 - 1 + 216) / 4
    assert moments.third[1, 1] == pytest.approx(3 * 8.5 / 4 + 45.0, rel=1e-15)
    V = 1.0 + 12.5
    assert moments.variance[1, 1] == V
    assert moments.skewness[1, 1] == pytest.approx(moments.third[1, 1] / V**1.5, rel=1e-15)
    # the corner (0, 0) sees patch 0 alone: its own moments, no disagreement
    assert (moments.mean[0, 0], moments.variance[0, 0], moments.between[0, 0]) == (1.0, 0.5, 0.0)
    assert moments.third[0, 0] == 0.0
    # (0, 1) sees patches 0 and 1: means 1, 2 -> between 0.25; third: 3 mean(v d) = 0
    assert moments.between[0, 1] == 0.25
    assert moments.third[0, 1] == pytest.approx(0.5, abs=1e-15)


def test_single_pixel_patches_give_the_inputs_back():
    rng = np.random.default_rng(3)
    mean, variance, third = (
        rng.normal(size=(12, 1)),
        rng.exponential(size=(12, 1)),
        rng.normal(size=(12, 1)),
    )
    moments = merge_moments(mean, variance, (3, 4), 1, third)
    np.testing.assert_array_equal(moments.mean, mean.reshape(3, 4))
    np.testing.assert_array_equal(moments.variance, variance.reshape(3, 4))
    np.testing.assert_array_equal(moments.between, np.zeros((3, 4)))
    np.testing.assert_array_equal(moments.third, third.reshape(3, 4))


def test_without_third_moments():
    rng = np.random.default_rng(4)
    moments = merge_moments(rng.normal(size=(12, 4)), rng.exponential(size=(12, 4)), (4, 5), 2)
    assert moments.third is None and moments.skewness is None


# ---------------------------------------------------------------- against the brute force


@given(random_moments())
@settings(max_examples=60)
def test_matches_brute_force_mixture(case):
    image_shape, P, mean, variance, third = case
    moments = merge_moments(mean, variance, image_shape, P, third)
    expected = reference_moments(mean, variance, third, image_shape, P)
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(moments, name), value, rtol=1e-11, atol=1e-11, err_msg=name)
    defined = expected["variance"] > 1e-6
    np.testing.assert_allclose(
        moments.skewness[defined],
        expected["third"][defined] / expected["variance"][defined] ** 1.5,
        rtol=1e-9,
    )
    assert np.all(moments.between >= 0)


@given(st.data())
@settings(max_examples=60)
def test_chunked_adds_equal_one_add(data):
    with_third = data.draw(st.booleans())
    image_shape, P, mean, variance, third = data.draw(random_moments(with_third=with_third))
    N = mean.shape[0]
    at_once = merge_moments(mean, variance, image_shape, P, third)

    bounds = split_points(data.draw, N)
    chunks = list(zip(bounds[:-1], bounds[1:]))
    merger = moment_merger(image_shape, P, with_third)
    for a, b in chunks:
        merger.add(a, mean[a:b], variance[a:b], None if third is None else third[a:b])
    # increasing chunks: bitwise the same, whatever the chunk sizes
    assert_same_moments(moments_of(merger), at_once, exact=True)

    shuffled = moment_merger(image_shape, P, with_third)
    for index in data.draw(st.permutations(range(len(chunks)))):
        a, b = chunks[index]
        shuffled.add(a, mean[a:b], variance[a:b], None if third is None else third[a:b])
    assert_same_moments(moments_of(shuffled), at_once, exact=False)


@pytest.mark.parametrize("chunk", [1, 2, 5, 7, 40, 1000])
def test_fixed_chunk_sizes(chunk):
    rng = np.random.default_rng(chunk)
    shape, P = (9, 11), 3
    N = 7 * 9
    mean, variance, third = (
        rng.normal(size=(N, 9)),
        rng.exponential(size=(N, 9)),
        rng.normal(size=(N, 9)),
    )
    merger = moment_merger(shape, P, third=True)
    for a in range(0, N, chunk):
        merger.add(a, mean[a : a + chunk], variance[a : a + chunk], third[a : a + chunk])
    assert_same_moments(moments_of(merger), merge_moments(mean, variance, shape, P, third), exact=True)


# ---------------------------------------------------------------- numerical care


@pytest.mark.parametrize("constant", [1e3, 1e6, -1e6, 1e8])
def test_adding_a_constant_to_the_means(constant):
    # A naive E[m^2] - E[m]^2 loses about eps * constant^2 = 2e-4 at 1e6; the shifted sums do not.
    rng = np.random.default_rng(5)
    shape, P = (12, 10), 4
    N = 9 * 7
    mean = rng.normal(size=(N, 16))
    variance = rng.uniform(0.1, 1.0, size=(N, 16))
    third = rng.normal(size=(N, 16)) * 0.1
    base = merge_moments(mean, variance, shape, P, third)
    shifted = merge_moments(mean + constant, variance, shape, P, third)
    tol = 1e-15 * abs(constant) * 100
    np.testing.assert_allclose(shifted.mean, base.mean + constant, rtol=0, atol=tol)
    for name in ("variance", "within", "between", "third", "skewness"):
        np.testing.assert_allclose(getattr(shifted, name), getattr(base, name), rtol=0, atol=tol, err_msg=name)


def test_constant_shift_with_agreeing_patches():
    # Agreeing estimates far from zero: V stays exactly 0 and the skewness is 0, not rounding noise.
    image = np.random.default_rng(6).normal(size=(7, 8)) + 1e9
    mean = extract_patches(image, 3)
    tiny = np.full_like(mean, 1e-30)
    moments = merge_moments(mean, np.zeros_like(mean), image.shape, 3, third=tiny)
    np.testing.assert_array_equal(moments.variance, np.zeros(image.shape))
    np.testing.assert_array_equal(moments.skewness, np.zeros(image.shape))


def two_overlapping_patches(first: float, second: float, third: float) -> PixelMoments:
    """2x3 image, P=2: patches at columns 0 and 1 with constant means; they overlap in column 1."""
    mean = np.array([[first] * 4, [second] * 4])
    return merge_moments(mean, np.zeros((2, 4)), (2, 3), 2, third=np.full((2, 4), third))


def test_skewness_zero_below_the_rounding_floor():
    # means one ulp apart at 1e6: V ~ 3e-21 is rounding, so the skewness is 0, not 1e-31 / V^1.5
    moments = two_overlapping_patches(1e6, np.nextafter(1e6, 2e6), 1e-31)
    assert 0 < moments.variance[0, 1] < 1e-20
    assert moments.third[0, 1] != 0
    np.testing.assert_array_equal(moments.skewness, np.zeros((2, 3)))


def test_skewness_of_a_tiny_but_real_spread():
    # the floor is relative to |M|: a spread of 1e-20 around 0 is signal, not rounding
    moments = two_overlapping_patches(0.0, 1e-20, 1e-61)
    V = moments.variance[0, 1]
    assert pytest.approx(0.25e-40, rel=1e-12) == V
    assert moments.skewness[0, 1] == pytest.approx(1e-61 / V**1.5, rel=1e-12)
    assert moments.skewness[0, 0] == 0.0  # covered by one patch with v = 0: V = 0


# ---------------------------------------------------------------- validation


def test_attributes():
    merger = moment_merger((5, 7), 3)
    assert merger.grid.shape == (5, 7)
    assert merger.grid.P == 3
    assert merger.grid.grid_shape == (3, 5)
    assert merger.grid.N == 15
    assert merger.inputs == ("mean", "variance")
    assert moment_merger((5, 7), 3, third=True).inputs == ("mean", "variance", "third")


def test_result_twice_and_after_more_adds():
    rng = np.random.default_rng(7)
    mean, variance = rng.normal(size=(9, 4)), rng.exponential(size=(9, 4))
    merger = moment_merger((4, 4), 2)
    merger.add(0, mean[:4], variance[:4])
    with pytest.raises(ValueError, match=r"have no estimate yet"):
        merger.result()
    merger.add(4, mean[4:], variance[4:])
    first = moments_of(merger)
    assert_same_moments(moments_of(merger), first, exact=True)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (
            {"mean": np.zeros((3, 9))},
            r"mean must have shape \(n, D\) = \(n, 4\) for P=2, got shape \(3, 9\)",
        ),
        ({"variance": np.zeros(12)}, r"variance must have shape \(n, D\).*got shape \(12,\)"),
        ({"third": np.zeros((12, 4, 1))}, r"third must have shape \(n, D\)"),
        (
            {"variance": np.zeros((11, 4))},
            r"variance has shape \(11, 4\) but mean has shape \(12, 4\)",
        ),
        ({"third": np.zeros((10, 4))}, r"third has shape \(10, 4\) but mean"),
        ({"mean": np.zeros((12, 4), dtype=complex)}, r"mean must have a real numeric dtype"),
    ],
)
def test_bad_moments(kwargs, pattern):
    arrays = {"mean": np.zeros((12, 4)), "variance": np.zeros((12, 4)), "third": None}
    arrays.update(kwargs)
    merger = moment_merger((4, 5), 2, third=arrays["third"] is not None)
    with pytest.raises(ValueError, match=pattern):
        merger.add(0, arrays["mean"], arrays["variance"], arrays["third"])
    assert not merger.added.any() and not merger.count.any()  # no trace left


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"mean": np.full((12, 4), np.nan)}, r"mean of shape \(12, 4\) contains NaN or Inf"),
        ({"variance": np.full((12, 4), np.inf)}, r"variance .* contains NaN or Inf"),
        ({"third": np.full((12, 4), -np.inf)}, r"third .* contains NaN or Inf"),
    ],
)
def test_non_finite_moments(kwargs, pattern):
    # the entry point for any array scans them; the pipeline's merger trusts what its kernels made
    arrays = {"mean": np.zeros((12, 4)), "variance": np.zeros((12, 4)), "third": None}
    arrays.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        merge_moments(arrays["mean"], arrays["variance"], (4, 5), 2, arrays["third"])


def test_negative_variance():
    variance = np.zeros((12, 4))
    variance[7, 3] = -1e-3
    with pytest.raises(ValueError, match=r"variance must be >= 0, got -0\.001 for patch 7, pixel 3"):
        merge_moments(np.zeros((12, 4)), variance, (4, 5), 2)


@pytest.mark.parametrize(
    ("start", "n", "pattern"),
    [
        (10, 3, r"patches \[10, 10 \+ 3\) do not fit in the N = 12"),
        (-1, 1, r"patches \[-1, -1 \+ 1\)"),
        (1.0, 1, r"patches \[1\.0, 1\.0 \+ 1\)"),
    ],
)
def test_bad_start(start, n, pattern):
    with pytest.raises(ValueError, match=pattern):
        moment_merger((4, 5), 2).add(start, np.zeros((n, 4)), np.zeros((n, 4)))


def test_patch_added_twice():
    merger = moment_merger((4, 5), 2)
    merger.add(0, np.zeros((6, 4)), np.zeros((6, 4)))
    with pytest.raises(ValueError, match=r"patch 4 was already added"):
        merger.add(4, np.zeros((3, 4)), np.zeros((3, 4)))
    merger.add(6, np.zeros((6, 4)), np.zeros((6, 4)))  # the failed add left no trace
    assert_same_moments(moments_of(merger), merge_moments(np.zeros((12, 4)), np.zeros((12, 4)), (4, 5), 2), exact=True)


def test_third_moments_for_all_chunks_or_none():
    # the accumulator is made with third moments or without; every chunk must match it
    zeros = np.zeros((6, 4))
    merger = moment_merger((4, 5), 2, third=True)
    merger.add(0, zeros, zeros, zeros)
    with pytest.raises(ValueError, match=r"takes mean, variance, third; got mean, variance$"):
        merger.add(6, zeros, zeros)
    other = moment_merger((4, 5), 2)
    other.add(0, zeros, zeros)
    with pytest.raises(ValueError, match=r"takes mean, variance; got mean, variance, third"):
        other.add(6, zeros, zeros, zeros)


def test_result_before_all_pixels_covered():
    merger = moment_merger((4, 5), 2)
    merger.add(0, np.ones((11, 4)), np.ones((11, 4)))
    with pytest.raises(ValueError, match=r"1 of 20 pixels .*pixel \(3, 4\).*11 of N = 12"):
        merger.result()


def test_bad_geometry():
    with pytest.raises(ValueError, match=r"P=6 is larger than the image"):
        moment_merger((5, 7), 6)
    with pytest.raises(ValueError, match=r"pair of integers"):
        moment_merger((5,), 1)
    with pytest.raises(ValueError, match=r"mean must have shape \(N, D\) = \(12, 4\) .*got shape \(11, 4\)"):
        merge_moments(np.zeros((11, 4)), np.zeros((11, 4)), (4, 5), 2)
