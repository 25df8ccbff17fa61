"""Correlated Gaussian noise through whitened patches.

With noise ε ~ N(0, σ² R) in every P × P patch (R: the stationary noise covariance estimated from the image's own
noise, zeroshot.noise.statistics), log N(y; W s, σ² R) = log N(L⁻¹ y; L⁻¹ W s, σ² I) − log |L| for R = L Lᵀ. So
the white-noise models learn, unchanged and at the cost of white noise per state, on the whitened patches L⁻¹ y
(their dictionary is L⁻¹ W, σ² is learned as before), and the noise-free patch W s = L (L⁻¹ W) s: the posterior
moments of the model with its dictionary coloured back by L are those of the noise-free patch in the image's own
pixels — the means exactly, and the variances too, since they are taken of W s (and of W (s ⊙ z) with the slab
posterior, which reads only the whitened products).

Identifiability: the noise's correlation shape R comes from the image's noise alone (the flattest blocks) and is
kept fixed; only its scale σ² is learned with the structure, as for white noise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

from zeroshot.models.products import rows_times
from zeroshot.noise.statistics import NoiseACF, noise_covariance

M = TypeVar("M")

_CHUNK = 65536  # patches whitened at a time: in place, one chunk-sized temporary


@dataclass(frozen=True, eq=False)
class PatchWhitening:
    """L (D, D): the Cholesky factor of the noise covariance R = L Lᵀ of the patches, on the pipeline's scale;
    L_inv its inverse."""

    L: np.ndarray
    L_inv: np.ndarray

    @classmethod
    def from_acf(cls, acf: NoiseACF, patch_size: int) -> PatchWhitening:
        return cls.from_cholesky(np.linalg.cholesky(noise_covariance(acf, patch_size)))

    @classmethod
    def from_cholesky(cls, L: np.ndarray) -> PatchWhitening:
        """The whitening of the Cholesky factor L (D, D): lower triangular with a positive finite diagonal
        (ValueError otherwise; e.g. one read from a file)."""
        L = np.asarray(L)
        if L.ndim != 2 or L.shape[0] != L.shape[1] or L.dtype.kind != "f":
            raise ValueError(f"a whitening needs a square float (D, D) Cholesky factor, got {L.dtype} {L.shape}")
        if not np.all(np.isfinite(L)) or np.any(np.triu(L, 1)) or not np.all(np.diag(L) > 0):
            raise ValueError("a whitening's Cholesky factor must be finite, lower triangular, with a positive diagonal")
        return cls(L, np.linalg.inv(L))

    @property
    def pixel_variance(self) -> float:
        """The noise variance of one pixel, R's mean diagonal (the scale of the learned σ² = 1 on the image)."""
        return float(np.mean(np.sum(self.L * self.L, axis=1)))

    def whiten(self, Y: np.ndarray) -> np.ndarray:
        """The patches Y (N, D) whitened in place: y ← L⁻¹ y."""
        for start in range(0, Y.shape[0], _CHUNK):
            rows = Y[start : start + _CHUNK]
            rows[...] = rows_times(rows, self.L_inv.T)
        return Y

    def colour(self, model: M) -> M:
        """The model with its dictionary taken back to the image's pixels (W ← L W), for the posterior moments."""
        params: Any = model.params  # type: ignore[attr-defined]
        coloured = replace(params, W=self.L @ params.W)
        return type(model)(coloured, model.shared_pi)  # type: ignore[call-arg,attr-defined]
