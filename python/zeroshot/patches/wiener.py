"""The Wiener pass: the model's estimate sharpened by empirical Wiener shrinkage of the noisy image's patches.

Every P × P patch (P = 16, every `step` px) of the noisy image y and of the pilot estimate p (the posterior mean) is
taken into the orthonormal 2-D DCT; coefficient k of the noisy patch is kept with the weight w_k = p_k² / (p_k² +
n_k), n_k = d_kᵀ Σ d_k the noise variance of coefficient k (d_k its basis vector, Σ the noise covariance of the
patches); the patch's mean (k = 0) is the pilot's. Such a weight is the Wiener filter given the pilot as the clean
signal's power (the second step of BM3D, Dabov et al. 2007, without the grouping of similar patches); the DCT nearly
diagonalises a stationary Σ. Each filtered patch is added back with the weight 1 / Σ_k w_k² n_k (the inverse of its
remaining noise variance) times a window tapering its edges (`patch_window`), and the sums are divided by the summed
weights.

Why after the model: the patch model's posterior mean leaves low-frequency noise that is correlated beyond its
6 × 6 patches and smooths the finest detail (a membrane's two leaflets); the 16 × 16 pass, given the noise
spectrum, takes out the first and gives back the second (bench/real_em.py, bench/RESULTS.md). It needs the image
to be at least P on each side; smaller images keep the pilot.

The patches are filtered in the compiled core (`_core.wiener_filter`, cpp/src/filters/wiener.cpp: the 2-D DCT as
two 16 × 16 products, threads over bands of patches, added back in patch order so that any thread count gives the
same image). With the per-slice noise estimates a volume's own model skips, it took a 1024² tomogram slice from
3.03 to 2.26 s on 2 cores (bench/volume_memory.py, bench/RESULTS.md "Session 14").
"""

from __future__ import annotations

import numpy as np

from zeroshot import _core

__all__ = ["WIENER_PATCH", "WIENER_STEP", "dct_basis", "patch_window", "wiener_pass"]

WIENER_PATCH = 16
# Patches every 4 px: as good as every 2 (the prototype on the SARS-CoV-2 crop: region SNR 13.97 against 13.93 dB)
# and 4x cheaper; the image's last rows and columns get their own patches.
WIENER_STEP = 4


def dct_1d(P: int) -> np.ndarray:
    """(P, P): the orthonormal 1-D DCT-II basis of P samples, one basis vector a row."""
    n = np.arange(P)
    d = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * P)) * np.sqrt(2.0 / P)
    d[0] /= np.sqrt(2.0)
    return np.asarray(d)


def dct_basis(P: int) -> np.ndarray:
    """(P², P²): the orthonormal 2-D DCT-II basis of P × P patches (row-major), one basis vector a row."""
    d = dct_1d(P)
    return np.asarray(np.kron(d, d))


def wiener_pass(
    noisy: np.ndarray,
    pilot: np.ndarray,
    noise_cov: np.ndarray,
    *,
    patch_size: int = WIENER_PATCH,
    step: int = WIENER_STEP,
) -> np.ndarray:
    """The Wiener estimate (R, C) from the noisy image and the pilot (both (R, C)) with the noise covariance
    noise_cov (P², P²) of P × P patches (module docstring). An image under P on a side gets the pilot back."""
    y = np.asarray(noisy, dtype=np.float64)
    p = np.asarray(pilot, dtype=np.float64)
    P = int(patch_size)
    if y.shape != p.shape or y.ndim != 2:
        raise ValueError(f"the noisy image {y.shape} and the pilot {p.shape} must be 2-D of one shape")
    if noise_cov.shape != (P * P, P * P):
        raise ValueError(
            f"the noise covariance must be ({P * P}, {P * P}) for {P} x {P} patches, got {noise_cov.shape}"
        )
    if min(y.shape) < P:
        return p.copy()
    basis = dct_basis(P)
    noise_var = np.maximum(np.einsum("kd,de,ke->k", basis, noise_cov, basis), 1e-300)
    rows, cols = _corners(y.shape[0], P, step), _corners(y.shape[1], P, step)
    return _core.wiener_filter(y, p, dct_1d(P), noise_var, patch_window(P), rows, cols)


def patch_window(P: int) -> np.ndarray:
    """(P, P): the separable sine-squared window each filtered patch is added back with, tapering its edges. With
    a flat weight the patches' edges, every `step` px, left a grid of 4-px steps in flat ice (the real slice's
    result changed 1.33x more across every 4th column than elsewhere); the taper spreads each edge over the patch."""
    taper = np.sin(np.pi * (np.arange(P) + 0.5) / P) ** 2
    return np.asarray(np.outer(taper, taper))


def _corners(length: int, P: int, step: int) -> np.ndarray:
    """The patches' first indices along one axis: every `step`, and the last patch flush with the end."""
    starts = np.arange(0, length - P + 1, step)
    return np.unique(np.append(starts, length - P))
