from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroshot.simulate import (
    DEFAULT_DOSE,
    DEFAULT_READ_SIGMA,
    add_tem_noise,
    simulated_micrograph,
)


def _psnr(clean, noisy):
    data_range = clean.max() - clean.min()
    return 10 * np.log10(data_range**2 / np.mean((clean - noisy) ** 2))


# ----------------------------------------------------------------------------- simulated_micrograph


def test_deterministic_for_a_seed():
    a = simulated_micrograph(128, seed=3)
    b = simulated_micrograph(128, seed=3)
    np.testing.assert_array_equal(a, b)
    c = simulated_micrograph(128, seed=4)
    assert not np.array_equal(a, c)
    assert np.mean(np.abs(a - c)) > 0.01  # a different scene, not a rounding difference


def test_default_arguments():
    image = simulated_micrograph()
    assert image.shape == (256, 256)
    np.testing.assert_array_equal(image, simulated_micrograph(256, 0))


@given(size=st.integers(16, 160), seed=st.integers(0, 2**32))
@settings(max_examples=20, deadline=None)
def test_shape_dtype_and_range(size, seed):
    image = simulated_micrograph(size, seed)
    assert image.shape == (size, size)
    assert image.dtype == np.float64
    assert np.isfinite(image).all()
    assert image.min() >= 0.0
    assert image.max() <= 1.0


@pytest.mark.parametrize("seed", range(4))
def test_contrast_of_particles_on_background(seed):
    # Documented look: background around 0.75-0.85, dense membranes/knobs down to 0.15-0.35.
    image = simulated_micrograph(256, seed)
    p1, median, p99 = np.percentile(image, [1, 50, 99])
    assert 0.65 < median < 0.85
    assert p99 < 0.95  # nothing saturates
    assert p1 < 0.35
    dark = np.mean(image < 0.45)
    assert 0.01 < dark < 0.4  # particles cover part of the field, not all of it


@pytest.mark.parametrize("seed", range(5))
def test_particles_present_without_the_cell(seed):
    # Under 128 px there is no cell, so anything dark comes from virus particles:
    # their dense membrane ring must be there.
    image = simulated_micrograph(96, seed)
    assert image.min() < 0.35
    # The ring encloses a lighter interior: there are pixels of intermediate intensity too.
    assert np.mean((image > 0.4) & (image < 0.65)) > 0.01


def test_bigger_image_shows_more_particles():
    # Fixed pixel size: the dark area grows with the field of view.
    small = simulated_micrograph(128, 1)
    big = simulated_micrograph(512, 1)
    assert np.sum(big < 0.4) > 4 * np.sum(small < 0.4)


def test_fast_enough():
    def best_of_two(size):
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            simulated_micrograph(size, 0)
            times.append(time.perf_counter() - t0)
        return min(times)

    assert best_of_two(256) < 0.5
    assert best_of_two(512) < 2.0


@pytest.mark.parametrize(
    ("size", "seed", "word"),
    [
        (15, 0, "size"),
        (0, 0, "size"),
        (-3, 0, "size"),
        (16.0, 0, "size"),
        (True, 0, "size"),
        ("64", 0, "size"),
        (64, -1, "seed"),
        (64, 1.5, "seed"),
    ],
)
def test_bad_arguments(size, seed, word):
    with pytest.raises(ValueError, match=word):
        simulated_micrograph(size, seed)


# ------------------------------------------------------------------------------------ add_tem_noise


def test_noise_is_deterministic_for_a_seed():
    clean = simulated_micrograph(64, 0)
    a = add_tem_noise(clean, seed=5)
    np.testing.assert_array_equal(a, add_tem_noise(clean, seed=5))
    assert not np.array_equal(a, add_tem_noise(clean, seed=6))
    assert a.shape == clean.shape
    assert a.dtype == np.float64


def test_noise_does_not_modify_its_input():
    clean = simulated_micrograph(64, 0)
    copy = clean.copy()
    add_tem_noise(clean)
    np.testing.assert_array_equal(clean, copy)


@pytest.mark.parametrize("image_seed", range(4))
@pytest.mark.parametrize("size", [128, 256, 512])
def test_default_noise_psnr_in_documented_range(image_seed, size):
    clean = simulated_micrograph(size, image_seed)
    value = _psnr(clean, add_tem_noise(clean, seed=image_seed))
    assert 14.0 <= value <= 18.0


def test_default_parameters():
    assert DEFAULT_DOSE > 0 and DEFAULT_READ_SIGMA >= 0
    clean = simulated_micrograph()
    np.testing.assert_array_equal(add_tem_noise(clean), add_tem_noise(clean, 0, DEFAULT_DOSE, DEFAULT_READ_SIGMA))


@pytest.mark.parametrize(("level", "dose", "read_sigma"), [(0.5, 50.0, 2.0), (0.8, 10.0, 0.0)])
def test_noise_statistics(level, dose, read_sigma):
    # Poisson + Gaussian: unbiased, variance level/dose + (read_sigma/dose)^2 on the clean scale.
    clean = np.full((300, 300), level)
    noisy = add_tem_noise(clean, seed=1, dose=dose, read_sigma=read_sigma)
    var = level / dose + (read_sigma / dose) ** 2
    n = clean.size
    assert abs(noisy.mean() - level) < 5 * np.sqrt(var / n)
    assert abs(noisy.var() / var - 1.0) < 0.03  # relative sd of a variance estimate ~ 0.5 %


def test_without_readout_noise_values_are_counts():
    clean = np.linspace(0.0, 1.0, 400).reshape(20, 20)
    dose = 7.0
    counts = add_tem_noise(clean, seed=2, dose=dose, read_sigma=0.0) * dose
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert counts.min() >= 0
    assert np.all(counts[clean == 0] == 0)  # no electrons where nothing is transmitted


def test_more_dose_less_noise():
    clean = simulated_micrograph(128, 0)
    low = _psnr(clean, add_tem_noise(clean, seed=0, dose=20.0))
    high = _psnr(clean, add_tem_noise(clean, seed=0, dose=500.0))
    assert high > low + 10.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dose": -1.0},
        {"dose": 0.0},
        {"dose": float("nan")},
        {"dose": float("inf")},
        {"dose": "50"},
        {"read_sigma": -0.1},
        {"read_sigma": float("nan")},
        {"seed": -1},
        {"seed": 0.5},
    ],
)
def test_bad_noise_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        add_tem_noise(np.full((4, 4), 0.5), **kwargs)


@pytest.mark.parametrize(
    ("clean", "words"),
    [
        (np.array([[0.5, -0.1]]), ">= 0"),
        (np.array([[0.5, np.nan]]), "NaN"),
        (np.array([[0.5, np.inf]]), "NaN"),
        (np.array([["a"]]), "dtype"),
    ],
)
def test_bad_clean_image(clean, words):
    with pytest.raises(ValueError, match=words):
        add_tem_noise(clean)
