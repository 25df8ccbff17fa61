"""Correlated noise through whitened patches (`zeroshot.noise.whitening`): the white-noise models on whitened
patches are the models with the full noise covariance Σ = σ² R, checked against a direct numpy evaluation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from noise_images import correlated_noise, true_acf
from zeroshot.models import BSC, SSSC, BSCParams, SSSCParams
from zeroshot.noise.statistics import NoiseACF, estimate_noise_acf
from zeroshot.noise.whitening import PatchWhitening
from zeroshot.variational.states import TruncatedStates

D_SIDE, H = 3, 4
D = D_SIDE * D_SIDE


def _whitening() -> PatchWhitening:
    return PatchWhitening.from_acf(NoiseACF(true_acf((32, 32), 1.0, 2), block=32, halves=1), D_SIDE)


def _all_states(N: int) -> TruncatedStates:
    bits = np.array(list(itertools.product([0, 1], repeat=H)), dtype=np.uint8)
    return TruncatedStates.from_bits(np.broadcast_to(bits, (N, *bits.shape)).copy())


def _log_gauss(y: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    diff = y - mean
    _, logdet = np.linalg.slogdet(2 * np.pi * cov)
    return float(-0.5 * (diff @ np.linalg.solve(cov, diff) + logdet))


def test_the_factor_reproduces_the_covariance():
    w = _whitening()
    R = w.L @ w.L.T
    assert np.allclose(w.L_inv @ R @ w.L_inv.T, np.eye(D), atol=1e-10)
    assert w.pixel_variance == pytest.approx(float(np.mean(np.diag(R))))


def test_whitened_bsc_log_joints_are_those_of_the_full_covariance():
    rng = np.random.default_rng(0)
    w = _whitening()
    R = w.L @ w.L.T
    W_pixels = rng.normal(0.0, 1.0, (D, H))  # the dictionary in the image's pixels
    pi, sigma2 = np.full(H, 0.3), 0.7
    model = BSC(BSCParams(w.L_inv @ W_pixels, pi, sigma2))  # what training on whitened patches learns
    Y = rng.normal(0.0, 1.0, (5, D))
    states = _all_states(Y.shape[0])
    lpj = model.log_pseudo_joint(w.whiten(Y.copy()), states)
    bits = states.bits().astype(float)
    for n in range(Y.shape[0]):
        direct = [
            _log_gauss(Y[n], W_pixels @ s, sigma2 * R) + float(np.sum(s * np.log(pi) + (1 - s) * np.log1p(-pi)))
            for s in bits[n]
        ]
        # a pseudo-joint drops what does not depend on the state: compare differences between states
        np.testing.assert_allclose(lpj[n] - lpj[n, 0], np.array(direct) - direct[0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ["bsc", "sssc"])
def test_coloured_moments_are_the_noise_free_patch_in_pixels(kind):
    rng = np.random.default_rng(1)
    w = _whitening()
    W_white = rng.normal(0.0, 1.0, (D, H))
    pi, sigma2 = np.full(H, 0.3), 0.5
    if kind == "bsc":
        model = BSC(BSCParams(W_white, pi, sigma2))
    else:
        model = SSSC(SSSCParams(W_white, pi, np.full(H, 1.0), np.full(H, 0.2), sigma2))
    Yw = rng.normal(0.0, 1.0, (4, D))
    states = _all_states(Yw.shape[0])
    products = model.dense_products(Yw)
    states.lpj[...] = model.log_pseudo_joint(Yw, states, products)
    whitened = model.posterior_moments(states, order=2, products=products)
    pixels = w.colour(model).posterior_moments(states, order=2, products=products)
    # the mean maps linearly
    np.testing.assert_allclose(pixels.mean, whitened.mean @ w.L.T, rtol=1e-9, atol=1e-9)
    if kind == "bsc":  # x = W s given s: the variance over the states, in pixels
        q = np.exp(states.lpj - states.lpj.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
        x = states.bits().astype(float) @ (w.L @ W_white).T  # (N, S, D)
        variance = np.einsum("ns,nsd->nd", q, (x - pixels.mean[:, None, :]) ** 2)
        np.testing.assert_allclose(pixels.variance, variance, rtol=1e-9, atol=1e-12)
    assert pixels.variance is not None and np.all(pixels.variance >= -1e-12)


def test_estimated_whitening_makes_correlated_noise_white():
    rng = np.random.default_rng(3)
    noise = correlated_noise((256, 256), 1.0, rng)
    w = PatchWhitening.from_acf(estimate_noise_acf(noise), 4)
    patches = np.lib.stride_tricks.sliding_window_view(noise, (4, 4))[::4, ::4].reshape(-1, 16).copy()
    whitened = w.whiten(patches)
    cov = np.cov(whitened.T)
    assert np.allclose(np.diag(cov), 1.0, atol=0.15)
    off = cov[~np.eye(16, dtype=bool)]
    assert np.max(np.abs(off)) < 0.15  # before: neighbours correlate at about 0.78


def test_a_whitening_from_its_cholesky_factor_is_the_one_from_the_acf():
    acf = NoiseACF(true_acf((32, 32), 1.0, 3), 16, 64)
    whitening = PatchWhitening.from_acf(acf, 4)
    again = PatchWhitening.from_cholesky(whitening.L.copy())
    np.testing.assert_array_equal(again.L_inv, whitening.L_inv)


@pytest.mark.parametrize(
    "L, message",
    [
        (np.ones((3, 3)), "lower triangular"),
        (np.diag([1.0, -1.0, 1.0]), "positive diagonal"),
        (np.diag([1.0, np.nan, 1.0]), "finite"),
        (np.ones((3, 2)), "square float"),
        (np.eye(3, dtype=int), "square float"),
    ],
)
def test_a_bad_cholesky_factor_is_refused(L, message):
    with pytest.raises(ValueError, match=message):
        PatchWhitening.from_cholesky(L)
