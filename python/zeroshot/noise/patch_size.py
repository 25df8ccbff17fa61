"""A quick noise-level estimate before learning, used to pick the patch size."""

from __future__ import annotations

from typing import Callable

import numpy as np

# Relative noise (sigma over the signal's standard deviation) above which larger patches denoise
# better with BSC; measured on the standard images (bench/RESULTS.md): 5x5 patches win at sigma 15
# and 25 (relative noise 0.26-0.55), 8x8 and larger patches at sigma 50 (0.82-1.10; see HIGH_P0).
LARGE_PATCH_RELATIVE_NOISE = 0.7
SMALL_PATCH, LARGE_PATCH = 5, 8
# ES3C's best patch size grows steadily with the relative noise r (bench/RESULTS.md: 5 at r ~ 0.26-0.30,
# 6-7 at r ~ 0.42-0.55, 8 at r ~ 0.82, 10 at r ~ 1.1): P = round(ES3C_P0 + ES3C_P_SLOPE * r) in [5, 10].
ES3C_P0, ES3C_P_SLOPE, ES3C_P_RANGE = 3.5, 6.0, (5, 10)
# Correlated noise (its sigma from the noise ACF of the flattest blocks; the diagonal detail above sees only its
# high-frequency part: 0.09 instead of 0.65 on the SARS-CoV-2 slice): BSC takes 6 up to r = 1, then 8 (bench/
# RESULTS.md, "Patch size under correlated noise"): House with noise blurred by 1 px, r = 0.66: P 5 / 6 / 8 give
# 25.81 / 26.44 / 26.80 dB; r = 1.3: 20.58 / 21.59 / 22.77 dB, P 11: 21.73; Peppers σ 50, r 0.95: P 6 / 8 20.99 /
# 21.55. The synthetic images like 8 from r = 0.7 on, but on the SARS-CoV-2 slice 8 washes out the membranes (the
# whole slice, r = 0.65, and the demo's 512² crop of it, r = 0.77, look right at 6), so 8 waits for r > 1.
CORRELATED_SMALL_PATCH, CORRELATED_LARGE_RELATIVE_NOISE = 6, 1.0
# Above r = 0.7, BSC's best patch keeps growing with r: P = round(HIGH_P0 + HIGH_P_SLOPE * r) in [8, 16]
# (bench/RESULTS.md, "Patch size at high noise"; defaults otherwise): white noise σ 50, House (r 1.10): P 8 / 10
# 28.80 / 29.25 dB, Peppers (r 0.94): 26.53 / 26.45; Poisson counts after the Anscombe transform (σ = 1 known),
# House at peak 16 (r 0.98): P 8 / 10 / 12 29.21 / 29.70 / 29.68; at peak 4 (r 2.6): P 8 / 10 / 12 / 16 24.54 /
# 25.17 / 25.56 / 25.82; at peak 1, where the transformed image varies less than its noise (r unbounded):
# P 8 / 10 / 12 / 14 / 16 19.79 / 20.79 / 21.44 / 21.94 / 22.02; Cameraman at peak 1: P 12 / 16 19.36 / 19.90.
HIGH_P0, HIGH_P_SLOPE, HIGH_P_RANGE = 3.0, 6.0, (LARGE_PATCH, 16)


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Standard deviation of additive white noise, from the median absolute deviation of the
    diagonal Haar detail (a - b - c + d) / 2 of disjoint 2x2 blocks that are not exactly constant: smooth
    structure cancels in it, white noise keeps its variance (0 for a constant image). image: (R, C) with
    R, C >= 2."""
    y = np.asarray(image, dtype=np.float64)
    rows, cols = (y.shape[0] // 2) * 2, (y.shape[1] // 2) * 2
    if rows < 2 or cols < 2:
        raise ValueError(f"image of shape {y.shape} is too small to estimate the noise (needs 2x2)")
    y = y[:rows, :cols]
    a, b, c, d = y[0::2, 0::2], y[1::2, 0::2], y[0::2, 1::2], y[1::2, 1::2]
    varying = (a != b) | (a != c) | (a != d)  # exactly constant blocks (masks, zero borders) hold no noise
    if not varying.any():
        return 0.0
    detail = ((a - b - c + d) / 2.0)[varying]
    mad = np.median(np.abs(detail - np.median(detail)))
    return float(mad / 0.6744897501960817)  # MAD of a normal variable is 0.6745 sigma


def relative_noise(image: np.ndarray, noise_sigma: float | None = None) -> float:
    """Noise sigma (estimated, or `noise_sigma` when given) over the standard deviation of the noise-free signal
    (a ratio, so it is taken of the image over its largest magnitude: values near 1e300 would overflow
    sigma**2)."""
    y = np.asarray(image, dtype=np.float64)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0:
        y = y / peak
    sigma = estimate_noise_sigma(y) if noise_sigma is None else noise_sigma / (peak or 1.0)
    signal_var = max(float(y.var()) - sigma**2, 1e-300)
    return float(sigma / np.sqrt(signal_var))


# A model family's patch size from the relative noise r and whether the noise is correlated
# (`zeroshot.models.family`: each family names its rule).
PatchRule = Callable[[float, bool], int]


def bsc_patch_size(r: float, correlated: bool = False) -> int:
    """BSC's patch size at relative noise r (see the constants above)."""
    if correlated:  # larger patches learn the whitened noise's errors: House σ 50, P 11: 21.73 dB, P 8: 22.92
        return LARGE_PATCH if r > CORRELATED_LARGE_RELATIVE_NOISE else CORRELATED_SMALL_PATCH
    if r > LARGE_PATCH_RELATIVE_NOISE:
        low, high = HIGH_P_RANGE
        return int(np.clip(round(HIGH_P0 + HIGH_P_SLOPE * min(r, 1e6)), low, high))
    return SMALL_PATCH


def es3c_patch_size(r: float, correlated: bool = False) -> int:
    """ES3C's patch size at relative noise r, growing steadily with it (correlated noise or not)."""
    low, high = ES3C_P_RANGE
    return int(np.clip(round(ES3C_P0 + ES3C_P_SLOPE * r), low, high))


def choose_patch_size(
    image: np.ndarray,
    rule: PatchRule = bsc_patch_size,
    noise_sigma: float | None = None,
    correlated: bool = False,
    averaging: float = 1.0,
) -> int:
    """The patch size by a model family's `rule` from the image's relative noise, never more than the image's
    smaller side. noise_sigma: the noise's sigma when known (1 after the Anscombe transform; correlated noise: from
    its ACF), else estimated; correlated: the noise is correlated. averaging: the share of the noise variance left
    where the patches span several slices (3-D context, `zeroshot.pipeline.slab.noise_averaging`); the relative
    noise is taken times its square root."""
    r = relative_noise(image, noise_sigma)
    if averaging != 1.0:
        r *= float(np.sqrt(averaging))
    return int(min(rule(r, correlated), *np.shape(image)))
