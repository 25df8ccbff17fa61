"""The noise autocovariance of a slab of d neighbouring slices (3-D context): lags along z too, and the noise
covariance of the patches of d slices it gives.

A reconstructed tomogram's noise is correlated between neighbouring sections as well as within them (the
back-projection spreads every projection's noise along the beam). A patch that spans d slices (D = d P²,
`zeroshot.pipeline.slab`) is whitened by the covariance of all its d P² values, so the ACF is needed at 3-D lags
(Δz, Δr, Δc), |Δz| <= d − 1.

Estimator (`estimate_slab_noise_acf`): the half-block estimator of `zeroshot.noise.statistics`, taken across the
slices. Every slice is cut into the same b × b blocks and half-blocks; each half loses its least-squares plane in
each slice. A half position is used when the *other* half of its block is among the flattest, its variance
averaged over the d slices (structure is coherent in z over a few slices as it is in-plane, so a region flat in
every slice of the slab holds noise alone; the noise of the two halves is nearly independent, so the choice does
not favour halves of low noise). Over the chosen half positions, the products of the pixel pairs
(z, p) and (z + Δz, p + Δ) are averaged over every slice pair of the slab, for |Δr|, |Δc| <= L and Δz = 0..d−1.

Symmetry assumed: C(Δz, Δ) = C(Δz, −Δ) (equivalently, the noise is even in Δz at every in-plane lag: no tilt of
the correlation between z and the plane, which a tilt series symmetric about 0° gives); the measured Δz > 0 lags
are averaged with their in-plane mirror image to that end. The plane removal in each slice's half turns the
cross-covariance Σ_Δz of two slices' halves (stationary, symmetric under the assumption) into Π Σ_Δz Π, exactly as
it turns a single slice's covariance, so its bias is undone at every Δz by the 2-D correction
(`statistics._plane_removal_undone`). Δz = 0 is the 2-D estimate pooled over the d slices.

Block sides as in 2-D (32, 16 then 8 px, a smaller side kept when its noise variance is below 0.7 of the larger
one's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroshot.noise.statistics import (
    _BIAS_LAGS,
    _CONSTANT,
    _HUGE,
    _MAX_HALVES,
    _SMALLER_SIDE_RATIO,
    NoiseACF,
    _candidate_sides,
    _lag_means,
    _plane_removal_undone,
    _without_plane,
)
from zeroshot.noise.whitening import PatchWhitening

__all__ = ["SLAB_ACF_LAGS", "SlabNoiseACF", "estimate_slab_noise_acf", "slab_noise_covariance", "slab_whitening"]

# Lags of the slab's noise ACF within a slice (as for 2-D: zeroshot.noise.evidence.ACF_LAGS).
SLAB_ACF_LAGS = 7


@dataclass(frozen=True, eq=False)
class SlabNoiseACF:
    """The noise autocovariance at 3-D lags: cov[Δz, L + Δr, L + Δc] = C(Δz, Δr, Δc) for Δz = 0..Lz (negative Δz:
    the same, see the module's docstring) and |Δr|, |Δc| <= L; block: the block side it was measured in; halves:
    how many half-block positions entered it."""

    cov: np.ndarray
    block: int
    halves: int

    def __post_init__(self) -> None:
        cov = np.asarray(self.cov, dtype=np.float64)
        if cov.ndim != 3 or cov.shape[1] != cov.shape[2] or cov.shape[1] % 2 != 1:
            raise ValueError(f"a slab ACF needs an (Lz + 1, 2L + 1, 2L + 1) array of lags, got shape {cov.shape}")
        object.__setattr__(self, "cov", cov)

    @property
    def max_lag(self) -> int:
        return int(self.cov.shape[1] // 2)

    @property
    def max_z_lag(self) -> int:
        return int(self.cov.shape[0] - 1)

    @property
    def variance(self) -> float:
        return float(self.cov[0, self.max_lag, self.max_lag])

    @property
    def in_plane(self) -> NoiseACF:
        """The ACF within a slice (Δz = 0)."""
        return NoiseACF(self.cov[0], self.block, self.halves)

    def scaled(self, factor: float) -> SlabNoiseACF:
        """The ACF of the values times `factor` (the covariances times its square)."""
        return SlabNoiseACF(self.cov * (factor * factor), self.block, self.halves)

    @property
    def z_correlation(self) -> np.ndarray:
        """ρ at lags 0..Lz along z (zeros if the variance is 0)."""
        L, c0 = self.max_lag, self.variance
        return self.cov[:, L, L] / c0 if c0 > 0 else np.zeros(self.cov.shape[0])


def estimate_slab_noise_acf(
    slab: np.ndarray, max_lag: int = 7, *, block: int | None = None, fraction: float = 0.25
) -> SlabNoiseACF:
    """The noise ACF of a slab (d, R, C) at lags Δz = 0..d−1 and |Δr|, |Δc| <= max_lag (module docstring); block
    and fraction as for `estimate_noise_acf` (to which d = 1 comes down, up to rounding). Raises ValueError for
    slices under 8 × 8 or bad arguments."""
    y = np.asarray(slab, dtype=np.float64)
    if y.ndim != 3 or y.shape[0] < 1:
        raise ValueError(f"the slab noise ACF needs a 3-D slab (slices, rows, cols), got shape {y.shape}")
    if not isinstance(max_lag, (int, np.integer)) or max_lag < 0:
        raise ValueError(f"max_lag must be an integer >= 0, got {max_lag!r}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    if min(y.shape[1:]) < 8:
        raise ValueError(f"slices of shape {y.shape[1:]} are too small for the noise ACF (needs 8 x 8)")
    peak = float(np.max(np.abs(y)))
    if peak > _HUGE:
        raise ValueError(f"values up to {peak:.4g}: the noise ACF (squares of the values) would overflow float64")
    shape = (int(y.shape[1]), int(y.shape[2]))
    sides = _candidate_sides(shape, int(max_lag), block)
    if not sides:  # small slices: 8 x 8 blocks with the lags that fit
        sides, max_lag = [8], min(int(max_lag), 3)
    scale = peak if peak > 0 else 1.0
    best = None
    for side in sides:  # largest first: a smaller side must be clearly flatter to replace it
        acf = _slab_acf_in_blocks(y / scale, side, min(int(max_lag), side // 2 - 1), fraction)
        if best is None or acf.variance < _SMALLER_SIDE_RATIO * best.variance:
            best = acf
    assert best is not None
    return SlabNoiseACF(best.cov * (scale * scale), best.block, best.halves)


def _slab_acf_in_blocks(y: np.ndarray, side: int, L: int, fraction: float) -> SlabNoiseACF:
    d = y.shape[0]
    half = side // 2
    nr, nc = y.shape[1] // side, y.shape[2] // side
    blocks = (
        y[:, : nr * side, : nc * side]
        .reshape(d, nr, side, nc, side)
        .transpose(0, 1, 3, 2, 4)
        .reshape(d, -1, side, side)
    )
    halves = _without_plane(np.stack((blocks[:, :, :half, :], blocks[:, :, half:, :]), axis=2))  # (d, n, 2, h, w)
    spread = halves.var(axis=(3, 4))  # (d, blocks, 2)
    tiny = _CONSTANT * float(spread.max())
    constant = np.any(spread <= tiny, axis=0)  # (blocks, 2): constant in some slice: no noise there
    n_varying = int(np.count_nonzero(~constant))
    if n_varying == 0:
        return SlabNoiseACF(np.zeros((d, 2 * L + 1, 2 * L + 1)), side, 0)
    mean_spread = spread.mean(axis=0)
    judged = np.where(constant[:, ::-1], mean_spread, mean_spread[:, ::-1]).ravel()  # by the partner, if it varies
    judged[constant.ravel()] = np.inf
    keep = max(1, min(int(np.ceil(fraction * n_varying)), _MAX_HALVES))
    order = np.argsort(judged, kind="stable")[:keep]
    chosen = halves.reshape(d, -1, half, side)[:, order]  # (d, m, h, w)
    asked = L
    L = max(L, min(_BIAS_LAGS, half - 1))  # the removal's bias is undone over the ACF's whole reach, then cut
    cov = np.empty((d, 2 * asked + 1, 2 * asked + 1))
    for dz in range(d):
        if dz == 0:
            measured = _lag_means(chosen, chosen, L)
        else:
            cross = _lag_means(chosen[:-dz], chosen[dz:], L)
            measured = 0.5 * (cross + cross[::-1, ::-1])  # C(Δz, Δ) = C(Δz, −Δ): the module's docstring
        undone = _plane_removal_undone(measured, half, side)
        cov[dz] = undone[L - asked : L + asked + 1, L - asked : L + asked + 1]
    return SlabNoiseACF(cov, side, int(keep))


def slab_noise_covariance(acf: SlabNoiseACF, patch_size: int, context: int, *, floor: float = 1e-3) -> np.ndarray:
    """The stationary noise covariance Σ (D, D), D = d P², of patches of `context` = d slices of P × P pixels
    (slice-major, each slice's pixels row-major, as `zeroshot.pipeline.slab` makes them):
    Σ[(k, r, c), (k', r', c')] = C(|k' − k|, r' − r, c' − c), 0 beyond the ACF's lags. Made symmetric positive
    definite by raising its eigenvalues to at least floor · C(0), as `noise_covariance`."""
    if not isinstance(patch_size, (int, np.integer)) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer, got {patch_size!r}")
    if not isinstance(context, (int, np.integer)) or context < 1:
        raise ValueError(f"context must be a positive integer, got {context!r}")
    if floor <= 0:
        raise ValueError(f"floor must be > 0, got {floor!r}")
    c0 = acf.variance
    if not c0 > 0:
        raise ValueError(f"the noise ACF has variance {c0!r}; a covariance needs a positive noise variance")
    P, L, Lz = int(patch_size), acf.max_lag, acf.max_z_lag
    k, r, c = np.unravel_index(np.arange(int(context) * P * P), (int(context), P, P))
    dz = np.abs(k[None, :] - k[:, None])
    dr, dc = r[None, :] - r[:, None], c[None, :] - c[:, None]
    inside = (dz <= Lz) & (np.abs(dr) <= L) & (np.abs(dc) <= L)
    values = acf.cov[np.minimum(dz, Lz), np.clip(dr + L, 0, 2 * L), np.clip(dc + L, 0, 2 * L)]
    sigma = np.where(inside, values, 0.0)
    sigma = 0.5 * (sigma + sigma.T)
    eigenvalues, vectors = np.linalg.eigh(sigma)
    if eigenvalues.min() < floor * c0:
        sigma = (vectors * np.maximum(eigenvalues, floor * c0)) @ vectors.T
        sigma = 0.5 * (sigma + sigma.T)
    return np.asarray(sigma)


def slab_whitening(scaled: np.ndarray, P: int, acf: SlabNoiseACF | None = None) -> PatchWhitening:
    """The whitening of the patches of d slices of the scaled slab (d, R, C) by the noise covariance of `acf` (the
    slab's noise ACF in the scaled values), or else estimated from it (lags along z too; module docstring)."""
    if acf is None:
        acf = estimate_slab_noise_acf(scaled, SLAB_ACF_LAGS)
    return PatchWhitening.from_cholesky(np.linalg.cholesky(slab_noise_covariance(acf, P, scaled.shape[0])))
