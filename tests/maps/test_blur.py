"""Tests of zeroshot.maps.blur: the separable Gaussian blur with reflect padding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from zeroshot.maps.blur import gaussian_blur, gaussian_kernel


def images(max_side=7):
    shape = st.tuples(st.integers(1, max_side), st.integers(1, max_side))
    elements = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    return shape.flatmap(lambda s: arrays(np.float64, s, elements=elements))


def reflect_index(i, n):
    """Index into a length-n axis mirrored about its pixel edges (d c b a | a b c d)."""
    m = i % (2 * n)
    return m if m < n else 2 * n - 1 - m


def reference_blur(image, sigma):
    """Plain loops: the 2-D convolution with the outer product of the 1-D kernel."""
    w = gaussian_kernel(sigma)
    r = (w.size - 1) // 2
    R, C = image.shape
    out = np.zeros((R, C))
    for y in range(R):
        for x in range(C):
            total = 0.0
            for a in range(-r, r + 1):
                for b in range(-r, r + 1):
                    pixel = image[reflect_index(y + a, R), reflect_index(x + b, C)]
                    total += w[a + r] * w[b + r] * pixel
            out[y, x] = total
    return out


def test_kernel():
    w = gaussian_kernel(1.0)
    assert w.size == 9  # radius ceil(4 sigma)
    assert w.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_array_equal(w, w[::-1])
    assert np.all(np.diff(w[:5]) > 0)
    assert gaussian_kernel(0.1).size == 3  # at least one tap on each side
    # a sigma so small that (k / sigma)^2 overflows: the identity, not NaN
    np.testing.assert_array_equal(gaussian_kernel(1e-300), [0.0, 1.0, 0.0])
    image = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(gaussian_blur(image, 5e-324), image)


@given(images(), st.floats(0.2, 3.0))
@settings(max_examples=40)
def test_blur_matches_plain_convolution(image, sigma):
    # kernels wider than the image check the repeated reflection
    np.testing.assert_allclose(gaussian_blur(image, sigma), reference_blur(image, sigma), rtol=1e-12, atol=1e-9)


def test_blur_keeps_constants_and_zero_sigma_copies():
    image = np.full((5, 8), 3.25)
    np.testing.assert_allclose(gaussian_blur(image, 2.0), image, rtol=1e-15)
    ints = np.arange(12).reshape(3, 4)
    copy = gaussian_blur(ints, 0)
    assert copy.dtype == np.float64
    np.testing.assert_array_equal(copy, ints)
    copy[0, 0] = 99
    assert ints[0, 0] == 0


@pytest.mark.parametrize(
    ("sigma", "pattern"),
    [(-1.0, r"sigma must be a finite number >= 0, got -1\.0"), (np.nan, "got nan"), ("2", "real")],
)
def test_blur_bad_sigma(sigma, pattern):
    with pytest.raises(ValueError, match=pattern):
        gaussian_blur(np.zeros((3, 3)), sigma)
    with pytest.raises(ValueError, match=r"sigma must be a finite number > 0, got 0"):
        gaussian_kernel(0.0)
