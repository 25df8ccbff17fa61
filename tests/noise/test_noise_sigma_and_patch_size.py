import numpy as np
import pytest

from zeroshot.noise import (
    LARGE_PATCH,
    SMALL_PATCH,
    choose_patch_size,
    es3c_patch_size,
    estimate_noise_sigma,
    relative_noise,
)
from zeroshot.noise.patch_size import CORRELATED_SMALL_PATCH


def smooth_image(shape=(128, 160)) -> np.ndarray:
    r, c = np.mgrid[: shape[0], : shape[1]]
    return 100 + 40 * np.sin(r / 9.0) * np.cos(c / 13.0) + 30 * (r > shape[0] // 2)


@pytest.mark.parametrize("sigma", [2.0, 10.0, 40.0])
def test_noise_estimate_within_ten_percent(sigma):
    rng = np.random.default_rng(3)
    noisy = smooth_image() + sigma * rng.standard_normal((128, 160))
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.1)


def test_noise_estimate_of_a_noiseless_smooth_image_is_small():
    assert estimate_noise_sigma(smooth_image()) < 0.5


def test_patch_size_grows_with_relative_noise():
    rng = np.random.default_rng(4)
    clean = smooth_image()
    assert choose_patch_size(clean + 5 * rng.standard_normal(clean.shape)) == SMALL_PATCH
    assert choose_patch_size(clean + 0.75 * clean.std() * rng.standard_normal(clean.shape)) == LARGE_PATCH
    assert choose_patch_size(clean + 60 * rng.standard_normal(clean.shape)) > LARGE_PATCH  # r beyond 0.84
    # Never larger than the image.
    assert choose_patch_size(rng.standard_normal((4, 50))) == 4


def test_correlated_noise_gets_larger_patches():
    """Its sigma from the ACF replaces the white estimate; BSC gets 6 up to relative noise 1, then 8."""
    rng = np.random.default_rng(4)
    clean = smooth_image()
    signal = float(clean.std())
    noisy = clean + 0.3 * signal * rng.standard_normal(clean.shape)
    assert choose_patch_size(noisy) == SMALL_PATCH
    assert choose_patch_size(noisy, noise_sigma=0.5 * signal, correlated=True) == CORRELATED_SMALL_PATCH
    assert choose_patch_size(noisy, noise_sigma=2.0 * signal, correlated=True) == LARGE_PATCH  # never more
    assert relative_noise(noisy, 0.5 * signal) == pytest.approx(0.5 / np.sqrt(1.09 - 0.25), rel=0.05)


def test_patches_keep_growing_at_high_noise():
    """Beyond r = 0.7 BSC's patch grows as 3 + 6 r, from 8 up to 16 (Poisson counts at a few per pixel); a known
    sigma at or above the image's spread (r unbounded) takes the largest, never more than the image."""
    rng = np.random.default_rng(4)
    clean = smooth_image()
    signal = float(clean.std())
    noisy = clean + 0.3 * signal * rng.standard_normal(clean.shape)
    spread = float(noisy.std())
    r2 = 2.0 * spread / np.sqrt(5.0)  # sigma with relative noise 2: sigma / sqrt(spread² - sigma²) = 2
    assert choose_patch_size(noisy, noise_sigma=r2) == 15
    assert choose_patch_size(noisy, noise_sigma=2.0 * spread) == 16
    assert choose_patch_size(noisy[:12, :40], noise_sigma=2.0 * spread) == 12
    assert choose_patch_size(noisy, es3c_patch_size, noise_sigma=2.0 * spread) == 10  # ES3C keeps its own rule


def test_too_small_image_is_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        estimate_noise_sigma(np.zeros((1, 10)))


def test_es3c_patch_size_grows_with_relative_noise():
    rng = np.random.default_rng(4)
    clean = smooth_image()
    sizes = [
        choose_patch_size(clean + sigma * rng.standard_normal(clean.shape), es3c_patch_size)
        for sigma in (2, 20, 60, 200)
    ]
    assert sizes == sorted(sizes) and sizes[0] == 5 and sizes[-1] == 10
    assert choose_patch_size(rng.standard_normal((4, 50)), es3c_patch_size) == 4


@pytest.mark.parametrize("scale", [1e155, 1e200, 1e305])
def test_relative_noise_of_huge_values_does_not_overflow(scale):
    # reliability.md D11: sigma**2 of a Python float raised OverflowError for values above ~1e154
    image = np.random.default_rng(0).random((48, 48))
    assert relative_noise(image * scale) == pytest.approx(relative_noise(image), rel=1e-9)
    assert choose_patch_size(image * scale) == choose_patch_size(image)
