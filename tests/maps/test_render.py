"""Tests of zeroshot.maps.render: stretch, variance images, shaded relief, detail enhancement."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from zeroshot.maps.blur import gaussian_blur
from zeroshot.maps.render import (
    detail_enhance,
    hillshade,
    percentile_normalize,
    render_variance,
    stretch,
    to_uint8,
)

# ---------------------------------------------------------------- strategies and references


def images(max_side=10, min_side=1, bound=1e3):
    shape = st.tuples(st.integers(min_side, max_side), st.integers(min_side, max_side))
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    return shape.flatmap(lambda s: arrays(np.float64, s, elements=elements))


def ramp(shape, d_row, d_col):
    rows, cols = np.indices(shape, dtype=np.float64)
    return d_row * rows + d_col * cols


# ---------------------------------------------------------------- stretch and 8 bit


@given(images(min_side=2, bound=1e6), st.floats(0, 49), st.floats(51, 100))
def test_stretch_range_and_percentiles(image, low, high):
    out = stretch(image, low, high)
    assert out.shape == image.shape
    assert np.all((out >= 0) & (out <= 1))
    lo, hi = np.percentile(image, [low, high])
    if hi - lo > 1e-300 * np.abs(image).max():  # not the documented degenerate case
        assert np.all(out[image <= lo] == 0)
        assert np.all(out[image >= hi] == 1)
        inside = (image > lo) & (image < hi)
        np.testing.assert_allclose(out[inside], (image[inside] - lo) / (hi - lo), atol=1e-9)


def test_stretch_constant_and_nearly_constant():
    for value in (0.0, 7.0, -1e300):
        out = stretch(np.full((4, 6), value))
        np.testing.assert_array_equal(out, np.zeros((4, 6)))
    # 99.5 % of the pixels equal: the percentiles coincide, so the min and max are used
    image = np.zeros((20, 20))
    image[3, 4] = 5.0
    out = stretch(image)
    assert out[3, 4] == 1.0 and out.sum() == 1.0


def test_stretch_does_not_overflow():
    image = np.array([[-1.7e308, 1.7e308], [0.0, 1e308]])
    out = stretch(image, 0, 100)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [[0, 1], [0.5, 2.7 / 3.4]], rtol=1e-12)
    # percentiles a subnormal apart: the span would overflow the quotient, min and max are used
    tiny = np.array([[1.0, 2.2e-309], [0.0, 0.0]])
    np.testing.assert_array_equal(percentile_normalize(tiny, 0, 51), [[1.0, 2.2e-309], [0, 0]])


def test_stretch_is_invariant_to_positive_affine_maps():
    image = np.random.default_rng(0).normal(size=(16, 16))
    np.testing.assert_allclose(stretch(3.5 * image - 40), stretch(image), atol=1e-12)
    np.testing.assert_allclose(stretch(-image), 1 - stretch(image), atol=1e-12)


def test_percentile_normalize_is_not_clipped():
    image = np.arange(201, dtype=np.float64).reshape(1, 201)
    out = percentile_normalize(image, 10, 90)  # percentiles 20 and 180
    assert out[0, 0] == pytest.approx(-20 / 160)
    assert out[0, -1] == pytest.approx(1 + 20 / 160)


@pytest.mark.parametrize(
    ("low", "high", "pattern"),
    [
        (50, 50, r"low < high, got low=50, high=50"),
        (60, 40, r"low=60, high=40"),
        (-1, 50, r"low must be a finite number >= 0 and <= 100, got -1"),
        (0, 101, r"high must be .* got 101"),
        (np.nan, 99, "low must be a finite number"),
    ],
)
def test_stretch_bad_percentiles(low, high, pattern):
    with pytest.raises(ValueError, match=pattern):
        stretch(np.zeros((3, 3)), low, high)


def test_to_uint8():
    unit = np.array([[0.0, 0.5, 1.0], [1 / 255, 0.999, 0.001]])
    np.testing.assert_array_equal(to_uint8(unit), [[0, 128, 255], [1, 255, 0]])
    assert to_uint8(unit).dtype == np.uint8
    with pytest.raises(ValueError, match=r"unit must lie in \[0, 1\], got values in \[-0\.1, 1\]"):
        to_uint8(np.array([[-0.1, 1.0]]))


def test_render_variance():
    variance = np.random.default_rng(1).exponential(size=(12, 9))
    np.testing.assert_array_equal(render_variance(variance), stretch(variance))
    np.testing.assert_array_equal(render_variance(variance, sqrt=True), stretch(np.sqrt(variance)))
    bad = variance.copy()
    bad[2, 5] = -1e-9
    with pytest.raises(ValueError, match=r"variance must be >= 0, got -1e-09 at pixel \(2, 5\)"):
        render_variance(bad)


# ---------------------------------------------------------------- hillshade


@given(images(), st.floats(0, 360), st.floats(0, 90), st.floats(0.01, 10), st.floats(0, 3))
@settings(max_examples=40)
def test_hillshade_is_deterministic_and_in_range(height, azimuth, elevation, z_factor, smoothing):
    first = hillshade(height, azimuth, elevation, z_factor, smoothing)
    second = hillshade(height.copy(), azimuth, elevation, z_factor, smoothing)
    np.testing.assert_array_equal(first, second)
    assert first.shape == height.shape and first.dtype == np.float64
    assert np.all((first >= 0) & (first <= 1))


@pytest.mark.parametrize("elevation", [0.0, 10.0, 45.0, 90.0])
@pytest.mark.parametrize("smoothing", [0.0, 1.5])
def test_flat_field_gives_sin_elevation(elevation, smoothing):
    out = hillshade(np.full((7, 9), 12.5), elevation=elevation, smoothing=smoothing)
    np.testing.assert_array_equal(out, np.full((7, 9), math.sin(math.radians(elevation))))


def test_plane_facing_the_light_is_brighter():
    # default light from the top left (azimuth 315): a plane that rises towards the bottom right
    # faces it; the opposite plane faces away
    facing = hillshade(ramp((10, 10), 0.3, 0.3))
    away = hillshade(ramp((10, 10), -0.3, -0.3))
    flat = math.sin(math.radians(45))
    assert np.all(facing > flat) and np.all(away < flat)
    # light from the right (azimuth 90): a plane rising to the left faces it
    assert np.all(hillshade(ramp((6, 6), 0, -0.5), azimuth=90) > hillshade(ramp((6, 6), 0, 0.5), azimuth=90))
    # light from the top (azimuth 0): a plane rising downwards (towards the south) faces it
    assert np.all(hillshade(ramp((6, 6), 0.5, 0), azimuth=0) > flat)


@pytest.mark.parametrize("slope", [-2.0, -0.4, 0.0, 0.7, 3.0])
@pytest.mark.parametrize("elevation", [20.0, 60.0])
def test_plane_matches_lambert(slope, elevation):
    # height rising to the right with `slope`, light from the right (east): cos of the angle
    # between normal and light = sin(elevation - slope angle), 0 when the face turns away
    e = math.radians(elevation)
    expected = max(0.0, math.sin(e - math.atan(slope)))
    out = hillshade(ramp((6, 8), 0, slope), azimuth=90, elevation=elevation, smoothing=0)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)
    # smoothing leaves a plane a plane away from the borders (reflect padding bends it there)
    smoothed = hillshade(ramp((30, 30), 0, slope), azimuth=90, elevation=elevation, smoothing=1.0)
    np.testing.assert_allclose(smoothed[6:-6, 6:-6], expected, rtol=0, atol=1e-12)


def test_z_factor_scales_the_height_and_rotation_turns_the_light():
    height = np.random.default_rng(2).normal(size=(11, 13))
    np.testing.assert_allclose(hillshade(height, z_factor=2.5), hillshade(2.5 * height, z_factor=1.0), atol=1e-14)
    # turning the image a quarter counter-clockwise turns the light with it (azimuth - 90)
    np.testing.assert_allclose(
        hillshade(np.rot90(height), azimuth=300 - 90),
        np.rot90(hillshade(height, azimuth=300)),
        atol=1e-14,
    )
    # light from straight above: only the slope matters, not its direction
    np.testing.assert_allclose(
        hillshade(height, azimuth=0, elevation=90),
        hillshade(height, azimuth=123, elevation=90),
        atol=1e-15,
    )


def test_hillshade_thin_and_steep():
    assert hillshade(np.array([[1.0, 2.0, 4.0]])).shape == (1, 3)
    np.testing.assert_array_equal(hillshade(np.array([[5.0]])), [[math.sin(math.radians(45))]])
    steep = hillshade(ramp((4, 4), 0, 1e300), azimuth=270, elevation=30, smoothing=0)
    np.testing.assert_allclose(steep, math.sin(math.radians(30 + 90)), atol=1e-12)  # faces the light
    with pytest.raises(ValueError, match=r"slopes of height \* z_factor overflow"):
        hillshade(ramp((4, 4), 0, 1e307), z_factor=100, smoothing=0)
    with pytest.raises(ValueError, match=r"slopes of height \* z_factor overflow"):
        hillshade(np.array([[-1.7e308, 0.0, 1.7e308]]), smoothing=0)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"height": np.zeros(5)}, r"height must be a 2-D array \(R, C\), got shape \(5,\)"),
        ({"height": np.zeros((2, 2, 2))}, r"got shape \(2, 2, 2\)"),
        ({"height": np.zeros((0, 3))}, r"height is empty"),
        ({"height": np.array([[0.0, np.nan]])}, r"height of shape \(1, 2\) contains NaN or Inf"),
        ({"height": np.zeros((2, 2), dtype=complex)}, r"real numeric dtype"),
        ({"elevation": 91.0}, r"elevation must be a finite number >= 0 and <= 90, got 91\.0"),
        ({"elevation": -5.0}, r"elevation must be"),
        ({"azimuth": np.inf}, r"azimuth must be a finite number, got inf"),
        ({"z_factor": 0.0}, r"z_factor must be a finite number > 0, got 0\.0"),
        ({"smoothing": -1.0}, r"smoothing must be a finite number >= 0"),
        ({"smoothing": True}, r"smoothing must be a real number, got True"),
    ],
)
def test_hillshade_bad_input(kwargs, pattern):
    args = {"height": np.zeros((4, 4))}
    args.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        hillshade(**args)


# ---------------------------------------------------------------- detail enhancement


def textured(shape=(24, 20), seed=3):
    rng = np.random.default_rng(seed)
    return gaussian_blur(rng.normal(size=shape), 1.0) * 50 + 100


def test_infinite_uncertainty_leaves_the_image():
    image = textured()
    out = detail_enhance(image, np.full(image.shape, 1e150), amount=3.0)
    np.testing.assert_allclose(out, image, rtol=1e-13, atol=0)


def test_zero_uncertainty_boosts_the_detail():
    image = textured()
    amount, radius = 0.8, 1.5
    out = detail_enhance(image, np.zeros(image.shape), amount=amount, radius=radius)
    detail = image - gaussian_blur(image, radius)
    np.testing.assert_allclose(out, image + amount * detail, rtol=1e-13)
    boosted = out - gaussian_blur(out, radius)
    assert np.std(boosted) > 1.5 * np.std(detail)


def test_gain_lies_between_none_and_full_and_follows_the_uncertainty():
    image = textured()
    std = np.full(image.shape, 0.5)
    std[:, 10:] = 50.0  # very unsure on the right half
    amount = 2.0
    detail = image - gaussian_blur(image, 2.0)
    out = detail_enhance(image, std, amount=amount)
    gain = (out - image)[detail != 0] / detail[detail != 0]
    assert np.all((gain >= 0) & (gain <= amount + 1e-12))
    gain_map = np.zeros(image.shape)
    gain_map[detail != 0] = gain
    # confident left interior boosted much more than the unsure right interior
    assert np.median(gain_map[4:-4, 2:6]) > 5 * np.median(gain_map[4:-4, 15:18])


def test_detail_enhance_equivariance_and_trivial_cases():
    image = textured()
    std = np.random.default_rng(4).uniform(0, 5, size=image.shape)
    out = detail_enhance(image, std)
    np.testing.assert_allclose(detail_enhance(7.0 * image, 7.0 * std), 7.0 * out, rtol=1e-12)
    np.testing.assert_allclose(detail_enhance(image + 1e3, std), out + 1e3, rtol=1e-12)
    np.testing.assert_array_equal(detail_enhance(image, std), out)  # deterministic
    np.testing.assert_array_equal(detail_enhance(image, std, amount=0.0), image)
    flat = np.full((5, 5), 2.0)
    out_flat = detail_enhance(flat, np.zeros((5, 5)))
    np.testing.assert_allclose(out_flat, flat, rtol=1e-15)
    out_flat[0, 0] = 9.0
    assert flat[0, 0] == 2.0  # a new array, never the input


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"std": np.zeros((4, 5))}, r"std has shape \(4, 5\) but denoised has shape \(5, 5\)"),
        ({"std": np.zeros(25)}, r"std must be a 2-D array"),
        ({"denoised": np.zeros((5, 5, 1))}, r"denoised must be a 2-D array"),
        ({"std": np.full((5, 5), np.nan)}, r"std of shape \(5, 5\) contains NaN or Inf"),
        ({"std": np.full((5, 5), np.inf)}, r"std .* contains NaN or Inf"),
        ({"denoised": np.full((5, 5), np.nan)}, r"denoised .* contains NaN or Inf"),
        ({"std": np.full((5, 5), -1.0)}, r"std must be >= 0, got -1\.0 at pixel \(0, 0\)"),
        ({"amount": -0.5}, r"amount must be a finite number >= 0, got -0\.5"),
        ({"radius": 0.0}, r"radius must be a finite number > 0, got 0\.0"),
        ({"std_factor": np.nan}, r"std_factor must be a finite number > 0, got nan"),
    ],
)
def test_detail_enhance_bad_input(kwargs, pattern):
    args = {"denoised": np.zeros((5, 5)), "std": np.zeros((5, 5))}
    args.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        detail_enhance(**args)
