"""The minimum-statistics noise spectrum (zeroshot.noise.spectrum), which the Wiener pass takes its noise from."""

from __future__ import annotations

import numpy as np
import pytest

from noise_images import clean, correlated_noise, true_acf
from zeroshot.noise.spectrum import estimate_noise_spectrum


def particles(shape: tuple[int, int]) -> np.ndarray:
    """A flat background with three bright discs with dark rims (virions on ice): structure in a minority of
    the windows."""
    r, c = np.mgrid[: shape[0], : shape[1]]
    image = np.full(shape, 100.0)
    for r0, c0, radius in ((60, 70, 28), (170, 180, 34), (200, 50, 22)):
        distance = np.hypot(r - r0, c - c0)
        image += 60.0 * (distance < radius) - 40.0 * (np.abs(distance - radius) < 2)
    return image


@pytest.mark.parametrize("seed", [0, 1])
def test_spectrum_of_correlated_noise_on_particles(seed):
    """σ within 5 % and the correlations at lags 1-3 within 0.05 where structure is in a minority of windows."""
    shape = (384, 384)
    noise = correlated_noise(shape, 12.0, np.random.default_rng(seed))
    acf = estimate_noise_spectrum(particles(shape) + noise, 7)
    truth = true_acf(shape, 12.0, 7)
    assert acf.cov.shape == (15, 15)
    assert acf.sigma == pytest.approx(12.0, rel=0.05)
    assert np.max(np.abs(acf.correlation()[7:11, 7:11] - truth[7:11, 7:11] / truth[7, 7])) < 0.05


def test_long_range_correlation_is_kept():
    """Noise correlated over 2 px (ρ(3) = 0.57): the flattest-half-block estimator's small halves lose it."""
    shape = (384, 384)
    noise = correlated_noise(shape, 8.0, np.random.default_rng(5), width=2.0)
    acf = estimate_noise_spectrum(noise + particles(shape), 6)
    truth = true_acf(shape, 8.0, 6, width=2.0)
    # the discs' power lies where this noise has its power: σ is 6 % high here
    assert acf.sigma == pytest.approx(8.0, rel=0.08)
    assert acf.rows[3] == pytest.approx(truth[9, 6] / truth[6, 6], abs=0.05)


def test_scale_and_offset():
    rng = np.random.default_rng(2)
    y = clean((128, 128)) + correlated_noise((128, 128), 6.0, rng)
    a, b = estimate_noise_spectrum(y, 3), estimate_noise_spectrum(1e-3 * y + 7.0, 3)
    np.testing.assert_allclose(b.cov, 1e-6 * a.cov, rtol=1e-9)


def test_small_images_use_smaller_windows():
    acf = estimate_noise_spectrum(np.random.default_rng(1).standard_normal((160, 160)) * 3.0, 3)
    assert acf.block == 64 and acf.sigma == pytest.approx(3.0, rel=0.1)
    acf = estimate_noise_spectrum(np.random.default_rng(1).standard_normal((40, 50)) * 3.0, 3)
    assert acf.block == 40 and 1.0 < acf.sigma < 9.0


@pytest.mark.parametrize(
    ("image", "lag", "match"),
    [
        (np.zeros((10, 100)), 3, "windows of 16 px"),
        (np.zeros((64, 64, 2)), 3, "2-D image"),
        (np.zeros((64, 64)), 32, "max_lag must be"),
    ],
)
def test_errors_name_the_problem(image, lag, match):
    with pytest.raises(ValueError, match=match):
        estimate_noise_spectrum(image, lag)
