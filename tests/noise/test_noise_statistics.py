"""Noise statistics from the image: the ACF from the flattest half-blocks, the patch covariance Σ and the
correlation ratio."""

from __future__ import annotations

import numpy as np
import pytest

from noise_images import clean, correlated_noise, true_acf
from zeroshot.noise import correlation_ratio, estimate_noise_acf, noise_covariance


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_acf_of_pure_correlated_noise(seed):
    shape = (256, 256)
    noise = correlated_noise(shape, 10.0, np.random.default_rng(seed))
    acf = estimate_noise_acf(noise, 6)
    truth = true_acf(shape, 10.0, 6)
    assert acf.max_lag == 6 and acf.cov.shape == (13, 13)
    assert acf.sigma == pytest.approx(10.0, rel=0.05)
    # correlations at every 2-D lag within 0.07
    assert np.max(np.abs(acf.correlation() - truth / truth[6, 6])) < 0.07
    assert acf.rows[1] == pytest.approx(np.exp(-0.25), abs=0.05)
    assert acf.cols[2] == pytest.approx(np.exp(-1.0), abs=0.05)


def test_acf_of_correlated_noise_on_a_plaid():
    """Structure is excluded: the halves are chosen by the flatness of their partner half."""
    noise = correlated_noise((192, 224), 12.0, np.random.default_rng(3))
    acf = estimate_noise_acf(clean((192, 224)) + noise, 4)
    truth = true_acf((192, 224), 12.0, 4)
    assert acf.sigma == pytest.approx(12.0, rel=0.1)
    assert np.max(np.abs(acf.correlation() - truth / truth[4, 4])) < 0.08


def test_acf_of_white_noise_is_a_spike():
    acf = estimate_noise_acf(clean((128, 128)) + 5.0 * np.random.default_rng(4).standard_normal((128, 128)), 5)
    assert acf.sigma == pytest.approx(5.0, rel=0.06)
    corr = acf.correlation()
    corr[5, 5] = 0.0
    assert np.max(np.abs(corr)) < 0.08


@pytest.mark.parametrize("P", [3, 5, 8])
def test_covariance_of_patches(P):
    """Σ from the estimated ACF is symmetric positive definite and close to the true stationary covariance;
    the sample covariance of the patches of the noise agrees too. (512²: removing each half's plane costs some
    precision; at 256² the error over 12 seeds is 5-15 %, at 512² 3-10 %.)"""
    shape = (512, 512)
    noise = correlated_noise(shape, 2.0, np.random.default_rng(P))
    sigma = noise_covariance(estimate_noise_acf(noise, P - 1), P)
    truth = true_acf(shape, 2.0, P - 1)
    r, c = np.divmod(np.arange(P * P), P)
    exact = truth[(r[None, :] - r[:, None]) + P - 1, (c[None, :] - c[:, None]) + P - 1]
    assert sigma.shape == (P * P, P * P)
    assert np.array_equal(sigma, sigma.T)
    assert np.linalg.eigvalsh(sigma).min() > 0
    assert np.linalg.norm(sigma - exact) / np.linalg.norm(exact) < 0.1
    patches = np.lib.stride_tricks.sliding_window_view(noise, (P, P)).reshape(-1, P * P)
    assert np.linalg.norm(np.cov(patches.T) - sigma) / np.linalg.norm(exact) < 0.1


def test_gradients_are_not_taken_for_noise():
    """Flat regions with a gradient across them (illumination, ice thickness) leave the noise estimate alone: each
    half loses its plane, and the removal's bias is undone."""
    shape = (256, 256)
    r, c = np.mgrid[: shape[0], : shape[1]]
    ramps = 40.0 * ((r % 64) / 64.0) + 25.0 * ((c % 96) / 96.0)  # steep gradients in tiles, no flat region
    rng = np.random.default_rng(5)
    noise = correlated_noise(shape, 2.0, rng)
    acf = estimate_noise_acf(ramps + noise, 3)
    assert acf.sigma == pytest.approx(2.0, rel=0.08)
    assert np.max(np.abs(acf.rows - true_acf(shape, 2.0, 3)[3:, 3] / 4.0)) < 0.08


def test_covariance_is_made_positive_definite():
    """An ACF that is not positive definite (a lag-1 correlation of 0.9 with nothing beyond) is floored."""
    from zeroshot.noise import NoiseACF

    cov = np.zeros((3, 3))
    cov[1, 1], cov[0, 1], cov[2, 1], cov[1, 0], cov[1, 2] = 1.0, 0.9, 0.9, 0.9, 0.9
    sigma = noise_covariance(NoiseACF(cov, 8, 1), 6)
    assert np.linalg.eigvalsh(sigma).min() >= 1e-3 * (1 - 1e-9)


def test_correlation_ratio_separates_white_from_correlated():
    rng = np.random.default_rng(6)
    image = clean((128, 128))
    assert correlation_ratio(image + 10 * rng.standard_normal(image.shape)) == pytest.approx(1.0, abs=0.15)
    assert correlation_ratio(image + correlated_noise(image.shape, 10.0, rng)) < 0.25


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: estimate_noise_acf(np.zeros((4, 4, 2))), "2-D image"),
        (lambda: estimate_noise_acf(np.zeros((6, 6))), "too small"),
        (lambda: estimate_noise_acf(np.zeros((64, 64)), -1), "max_lag"),
        (lambda: estimate_noise_acf(np.zeros((64, 64)), block=7), "block"),
        (lambda: noise_covariance(estimate_noise_acf(np.zeros((64, 64))), 5), "positive noise variance"),
        (lambda: correlation_ratio(np.zeros(5)), "2-D image"),
    ],
)
def test_errors_name_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_plane_removal_bias_equals_the_dense_projector():
    """The image-space form of E[Ĉ] after removing each half's plane equals Π Σ(C) Π averaged over the pixel
    pairs at each lag, with the (h w)² matrices built in full."""
    from zeroshot.noise.statistics import _plane_basis, _plane_removal_undone

    h, w, L = 8, 12, 3
    rng = np.random.default_rng(0)
    measured = rng.standard_normal((2 * L + 1, 2 * L + 1))
    measured = measured + measured[::-1, ::-1]  # an ACF is symmetric
    measured[L, L] = 10.0
    r, c = np.divmod(np.arange(h * w), w)
    dr, dc = r[None, :] - r[:, None], c[None, :] - c[:, None]
    inside = (np.abs(dr) <= L) & (np.abs(dc) <= L)
    lag = ((dr + L) * (2 * L + 1) + (dc + L))[inside]
    pairs = np.bincount(lag, minlength=(2 * L + 1) ** 2)
    projector = np.eye(h * w) - _plane_basis(h, w) @ _plane_basis(h, w).T
    C = measured.copy()
    for _ in range(3):
        sigma = np.zeros((h * w, h * w))
        sigma[inside] = C.ravel()[lag]
        expected = np.bincount(lag, weights=(projector @ sigma @ projector)[inside]) / pairs
        C += measured - expected.reshape(C.shape)
    np.testing.assert_allclose(_plane_removal_undone(measured, h, w), C, rtol=0, atol=1e-12)


def half_constant(shape: tuple[int, int] = (128, 128), sigma: float = 20.0, correlated: bool = False) -> np.ndarray:
    """R2: the left half exactly 0 (a mask), the right half a shaded image with noise."""
    rng = np.random.default_rng(7)
    image = np.zeros(shape)
    half = shape[1] // 2
    size = (shape[0], half)
    noise = correlated_noise(size, sigma, rng) if correlated else sigma * rng.standard_normal(size)
    image[:, half:] = 100.0 + 50.0 * np.sin(np.arange(half) / 9.0)[None, :] + noise
    return image


def test_exactly_constant_parts_are_not_taken_for_noise():
    """R2: the flattest half-blocks were the constant ones (σ 1e-14, or 'variance 0.0'); now the noise is
    estimated from the non-constant part, and the correlation ratio ignores the constant part."""
    acf = estimate_noise_acf(half_constant(correlated=True), 3)
    assert acf.sigma == pytest.approx(20.0, rel=0.15)
    assert acf.rows[1] == pytest.approx(np.exp(-0.25), abs=0.1)
    assert correlation_ratio(half_constant()) == pytest.approx(1.0, abs=0.15)
    assert correlation_ratio(half_constant(correlated=True)) < 0.3
    assert np.isnan(correlation_ratio(np.full((32, 32), 5.0)))
    assert estimate_noise_acf(np.zeros((64, 64)), 3).variance == 0.0
