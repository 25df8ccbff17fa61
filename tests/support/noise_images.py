"""Synthetic noisy images for the noise-model tests: white, correlated (white noise circularly convolved with
a Gaussian of 1 pixel) and Poisson counts, on a piecewise-constant plaid with smooth shading."""

from __future__ import annotations

import numpy as np


def clean(shape: tuple[int, int] = (96, 112)) -> np.ndarray:
    """Tiles of 48 x 40 pixels (flat regions as in a micrograph's background) with a gentle shading."""
    r, c = np.mgrid[: shape[0], : shape[1]]
    return 60.0 + 80.0 * ((c // 40) % 2) + 50.0 * ((r // 48) % 2) + 10.0 * np.sin(r / 40.0)


def gaussian_kernel(shape: tuple[int, int], width: float = 1.0) -> np.ndarray:
    """A circular Gaussian kernel (centred at pixel 0) with sum of squares 1: unit white noise convolved
    with it keeps variance 1."""
    r = np.minimum(np.arange(shape[0]), shape[0] - np.arange(shape[0]))[:, None]
    c = np.minimum(np.arange(shape[1]), shape[1] - np.arange(shape[1]))[None, :]
    k = np.exp(-(r**2 + c**2) / (2.0 * width**2))
    return k / np.sqrt(np.sum(k**2))


def correlated_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator, width: float = 1.0) -> np.ndarray:
    k = gaussian_kernel(shape, width)
    return sigma * np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal(shape)) * np.fft.fft2(k)))


def true_acf(shape: tuple[int, int], sigma: float, lags: int, width: float = 1.0) -> np.ndarray:
    """C(Δr, Δc) of `correlated_noise`, (2L+1, 2L+1) centred: σ² Σ_x k(x) k(x + Δ)."""
    k = gaussian_kernel(shape, width)
    acf = sigma**2 * np.real(np.fft.ifft2(np.abs(np.fft.fft2(k)) ** 2))
    idx_r = np.arange(-lags, lags + 1) % shape[0]
    idx_c = np.arange(-lags, lags + 1) % shape[1]
    return acf[np.ix_(idx_r, idx_c)]
