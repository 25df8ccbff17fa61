from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from zeroshot.metrics import psnr, ssim


def _test_image(shape=(64, 80)):
    """A smooth image with edges and texture, values in [0, 1]."""
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    image = 0.5 + 0.3 * np.sin(x / 5.0) * np.cos(y / 7.0) + 0.15 * (x + y > 70)
    return np.clip(image, 0.0, 1.0)


def _ssim_reference(x, y, data_range):
    """Wang et al. 2004 written out window by window (7 x 7, sample covariance), for checking."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for i in range(x.shape[0] - 6):
        for j in range(x.shape[1] - 6):
            a = x[i : i + 7, j : j + 7].ravel()
            b = y[i : i + 7, j : j + 7].ravel()
            ma, mb = a.mean(), b.mean()
            va, vb = a.var(ddof=1), b.var(ddof=1)
            cov = np.sum((a - ma) * (b - mb)) / (a.size - 1)
            values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


# --------------------------------------------------------------------------------------------- psnr


def test_psnr_identical_is_inf():
    image = _test_image()
    assert psnr(image, image.copy()) == math.inf
    assert psnr(image, image, data_range=255) == math.inf


def test_psnr_hand_computed():
    reference = np.array([[0.0, 1.0], [2.0, 3.0]])
    estimate = reference + np.array([[1.0, 0.0], [0.0, -1.0]])
    # MSE = (1 + 1) / 4 = 0.5; default data_range = 3 - 0 = 3.
    assert psnr(reference, estimate) == pytest.approx(10 * math.log10(9 / 0.5), abs=1e-12)
    assert psnr(reference, estimate, data_range=255) == pytest.approx(10 * math.log10(255**2 / 0.5), abs=1e-12)


def test_psnr_integer_inputs_do_not_wrap_around():
    reference = np.array([[0, 255]], dtype=np.uint8)
    estimate = np.array([[255, 255]], dtype=np.uint8)
    # MSE = 255^2 / 2 -> PSNR = 10 log10(2); uint8 subtraction would wrap and give a wrong MSE.
    assert psnr(reference, estimate, data_range=255) == pytest.approx(10 * math.log10(2))


def test_psnr_falls_by_6_db_when_error_doubles():
    reference = _test_image()
    rng = np.random.default_rng(0)
    error = rng.normal(0.0, 0.05, reference.shape)
    drop = psnr(reference, reference + error) - psnr(reference, reference + 2 * error)
    assert drop == pytest.approx(20 * math.log10(2), abs=1e-9)


@pytest.mark.parametrize(
    ("reference", "estimate", "data_range", "word"),
    [
        (np.zeros((3, 3)), np.zeros((3, 4)), 1.0, "shapes"),
        (np.zeros((3, 3)), np.ones((3, 3)), None, "constant"),
        (np.eye(3), np.eye(3), 0.0, "data_range"),
        (np.eye(3), np.eye(3), -1.0, "data_range"),
        (np.eye(3), np.eye(3), float("nan"), "data_range"),
        (np.eye(3), np.full((3, 3), np.nan), None, "NaN"),
        (np.zeros((0, 3)), np.zeros((0, 3)), 1.0, "empty"),
        (np.eye(3), np.eye(3).astype(complex), None, "complex"),
    ],
)
def test_psnr_bad_input(reference, estimate, data_range, word):
    with pytest.raises(ValueError, match=word):
        psnr(reference, estimate, data_range=data_range)


# --------------------------------------------------------------------------------------------- ssim


def test_ssim_identical_is_one():
    image = _test_image()
    assert ssim(image, image.copy()) == pytest.approx(1.0, abs=1e-12)
    assert ssim(image, image, data_range=255) == pytest.approx(1.0, abs=1e-12)


def test_ssim_decreases_with_noise():
    reference = _test_image()
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(reference.shape)
    values = [ssim(reference, reference + s * noise, data_range=1.0) for s in (0.01, 0.05, 0.2, 1)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert values[0] > 0.9
    assert values[-1] < 0.2


def test_ssim_inverted_structure_is_negative():
    reference = _test_image()
    assert ssim(reference, 1.0 - reference, data_range=1.0) < 0


@given(
    data=st.data(),
    shape=st.tuples(st.integers(7, 14), st.integers(7, 14)),
)
@settings(max_examples=40, deadline=None)
def test_ssim_matches_window_by_window_reference(data, shape):
    elements = st.floats(-100, 100, allow_nan=False)
    x = data.draw(hnp.arrays(np.float64, shape, elements=elements))
    y = data.draw(hnp.arrays(np.float64, shape, elements=elements))
    data_range = data.draw(st.floats(0.5, 300))
    expected = _ssim_reference(x, y, data_range)
    assert ssim(x, y, data_range=data_range) == pytest.approx(expected, abs=1e-9)
    assert ssim(x, y, data_range=data_range) <= 1.0 + 1e-12


def test_ssim_default_data_range_is_reference_range():
    reference = 3.0 * _test_image() - 1.0
    estimate = reference + 0.1 * np.random.default_rng(2).standard_normal(reference.shape)
    span = reference.max() - reference.min()
    assert ssim(reference, estimate) == ssim(reference, estimate, data_range=span)
    assert ssim(reference, estimate) != ssim(reference, estimate, data_range=10 * span)


@pytest.mark.parametrize("seed", range(3))
def test_ssim_matches_scikit_image(seed):
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(seed)
    reference = _test_image((50 + seed, 61))
    estimate = reference + rng.normal(0.0, 0.1 * (seed + 1), reference.shape)
    for data_range in (1.0, reference.max() - reference.min()):
        expected = metrics.structural_similarity(reference, estimate, data_range=data_range)
        assert abs(ssim(reference, estimate, data_range=data_range) - expected) < 1e-6
    ref8 = (reference * 255).round().astype(np.uint8)
    est8 = np.clip(estimate * 255, 0, 255).round().astype(np.uint8)
    expected = metrics.structural_similarity(ref8, est8, data_range=255)
    assert abs(ssim(ref8, est8, data_range=255) - expected) < 1e-6


@pytest.mark.parametrize(
    ("reference", "estimate", "word"),
    [
        (np.zeros((6, 10)), np.zeros((6, 10)), "7 x 7"),
        (np.eye(8), np.eye(9), "shapes"),
        (np.zeros((8, 8, 2)), np.zeros((8, 8, 2)), "2-D"),
        (np.full((8, 8), 2.0), np.full((8, 8), 2.0), "constant"),
        (np.eye(8), np.full((8, 8), np.inf), "infinite"),
    ],
)
def test_ssim_bad_input(reference, estimate, word):
    with pytest.raises(ValueError, match=word):
        ssim(reference, estimate)
