"""Noise statistics from the noisy image alone: the noise autocovariance (ACF), the stationary noise
covariance of P × P patches, and a structure-robust test of correlation at lags 1–2.

ACF (`estimate_noise_acf`): from the flattest regions of the image. The image is cut into b × b blocks, each
split into a top and a bottom half (b/2 × b). A half is used when the *other* half of its block is among the
flattest (the lowest `fraction` of the halves' variances): structure is spatially coherent and shows in both
halves, while the noise of the two halves is (nearly) independent, so the choice excludes structure without
favouring halves whose own noise happened to be small (choosing by a half's own variance would bias σ low by
several per cent). From each chosen half its least-squares plane is removed (its mean and gradient: a gradient
across a flat region is structure; with the mean alone, correlated noise σ 25 on the standard images was estimated
at 26.8–34.9, with the plane at 24.8–27.1) and the products of pixel pairs at every 2-D lag
(Δr, Δc), |Δr|, |Δc| <= L, are averaged over all chosen halves.

Why not a high-pass residual (difference to a local median or mean, or differences): a filter reshapes a
correlated noise's ACF, and undoing it is ill-conditioned exactly where correlated noise has its power (low
frequencies); a median follows correlated noise. In flat regions nothing needs to be undone except the mean
removal, whose effect is known and linear in the ACF (the projection Π off the plane turns the covariance Σ of a
half into Π Σ Π; for the mean alone E[Ĉ(Δ)] ≈ C(Δ) − S / n, S the ACF's sum, n the pixels of a half): it is undone
by a few fixed-point iterations (`_plane_removal_undone`, the ACF taken to vanish beyond the lags L).

Correlation test (`correlation_ratio`): the diagonal detail (y(r, c) − y(r, c+k) − y(r+k, c) + y(r+k, c+k)) / 2
cancels constant and linear structure and every horizontal or vertical edge, and its robust variance (median
absolute deviation) ignores the remaining edges. For stationary noise its variance is
v_k = C₀ [1 − ρ(k, 0) − ρ(0, k) + (ρ(k, k) + ρ(k, −k)) / 2]: the ratio q = v₁ / v₂ is 1 for white noise at any
level and falls with the correlation at lags 1–2. For a separable ACF with ρ(1) = a in both directions and
ρ(2) = a⁴ (Gaussian-shaped), q = 1 / (1 + a + a² + a³)²: 0.6 at a = 0.23, 0.31 at a = 0.47 (the ribosome
micrograph), 0.12 for white noise blurred by a Gaussian of 1 pixel (a = 0.78).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NoiseACF", "correlation_ratio", "estimate_noise_acf", "noise_covariance"]

_MAD_TO_SIGMA = 1.0 / 0.6744897501960817
# Block sides tried, largest first, and the fewest blocks an estimate is made from.
_BLOCK_SIDES = (32, 16, 8)
_MIN_BLOCKS = 16
# At most this many halves (the flattest) enter the ACF: enough for a precise estimate of a micrograph.
_MAX_HALVES = 2048
# A smaller block side replaces a larger one only when its noise variance is below this share of the larger
# one's: structure raises the variance by far more, while the plane removal in the smaller halves takes noise
# correlated over longer ranges that its correction cannot give back (the SARS-CoV-2 slice, whose noise is
# correlated to lag 8: 16-px blocks give 0.75-0.79 of the 32-px blocks' variance and an ACF that falls too fast,
# lag 3 along the columns 0.09 against the flat ice's 0.27; at 0.8 they were chosen, at 0.7 not).
_SMALLER_SIDE_RATIO = 0.7
# Fixed-point iterations that undo the plane removal's bias (enough: the bias is a few per cent).
_BIAS_ITERATIONS = 3
# The lags over which the bias is undone (the ACF is taken to vanish beyond): those the pipeline measures.
_BIAS_LAGS = 7
# Values beyond this have squares beyond float64.
_HUGE = 1e150
# A half-block whose variance is below this share of the largest one's is exactly constant (a mask, a zero
# border, saturation): it holds no noise and is not used.
_CONSTANT = 1e-12
# q (`correlation_ratio`) is measured in the flattest _Q_FLAT_SHARE of the _Q_BLOCK-px blocks, when there are at
# least _Q_MIN_BLOCKS: where structure dominates the noise (high-count images, R3: the House at 100 counts per grey
# level gave q 0.52 over the whole image, 0.87 in its flattest quarter) it lowers q as correlated noise would.
_Q_BLOCK = 16
_Q_FLAT_SHARE = 0.25
_Q_MIN_BLOCKS = 8


@dataclass(frozen=True, eq=False)
class NoiseACF:
    """The noise autocovariance at 2-D lags: cov[L + Δr, L + Δc] = C(Δr, Δc) for |Δr|, |Δc| <= L (symmetric:
    C(−Δ) = C(Δ)); block: the block side it was measured in; halves: how many half-blocks entered it."""

    cov: np.ndarray
    block: int
    halves: int

    def __post_init__(self) -> None:
        cov = np.asarray(self.cov, dtype=np.float64)
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] % 2 != 1:
            raise ValueError(f"an ACF needs a square (2L+1, 2L+1) array of lags, got shape {cov.shape}")
        object.__setattr__(self, "cov", cov)

    @property
    def max_lag(self) -> int:
        return int(self.cov.shape[0] // 2)

    @property
    def variance(self) -> float:
        return float(self.cov[self.max_lag, self.max_lag])

    @property
    def sigma(self) -> float:
        return float(np.sqrt(max(self.variance, 0.0)))

    def correlation(self) -> np.ndarray:
        """ρ(Δ) = C(Δ) / C(0), (2L+1, 2L+1); zeros if the variance is 0."""
        c0 = self.variance
        return self.cov / c0 if c0 > 0 else np.zeros_like(self.cov)

    @property
    def rows(self) -> np.ndarray:
        """ρ at lags 0..L down the rows (along axis 0)."""
        L = self.max_lag
        return self.correlation()[L:, L].copy()

    @property
    def cols(self) -> np.ndarray:
        """ρ at lags 0..L along the columns (axis 1)."""
        L = self.max_lag
        return self.correlation()[L, L:].copy()

    def record(self) -> dict[str, object]:
        """For a JSON sidecar: the noise σ and the correlations down the rows and along the columns."""
        return {
            "sigma": self.sigma,
            "rows": [round(float(v), 6) for v in self.rows],
            "cols": [round(float(v), 6) for v in self.cols],
            "block": self.block,
            "halves": self.halves,
        }


def _candidate_sides(shape: tuple[int, int], max_lag: int, block: int | None) -> list[int]:
    if block is not None:
        if not isinstance(block, (int, np.integer)) or block < 4 or block % 2:
            raise ValueError(f"block must be an even number >= 4, got {block!r}")
        return [int(block)]
    rows, cols = shape
    # Halves taller than the lags measured and than the lags over which the plane removal's bias is undone (in
    # smaller ones that removal eats low-frequency noise the correction cannot give back).
    tall = max(max_lag, _BIAS_LAGS)
    return [s for s in _BLOCK_SIDES if (rows // s) * (cols // s) >= _MIN_BLOCKS and s // 2 > tall]


def estimate_noise_acf(
    image: np.ndarray, max_lag: int = 7, *, block: int | None = None, fraction: float = 0.25
) -> NoiseACF:
    """The noise ACF at lags |Δr|, |Δc| <= max_lag from the flattest half-blocks (see the module's docstring).

    image: (R, C). block: the block side (even); default: each of 32, 16 and 8 that gives at least 16 blocks and
    halves taller than max_lag is tried, largest first, and a smaller one kept when its noise variance is below
    0.7 of the larger one's (structure only adds variance; the estimate from noise alone is nearly unbiased at
    every side); an image too small for any gets 8 × 8 blocks and lags up to 3. fraction: the share of the
    halves (by the flatness of their partner) used. Raises ValueError for an image under 8 × 8 or bad
    arguments."""
    y = np.asarray(image, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"the noise ACF needs a 2-D image, got shape {y.shape}")
    if not isinstance(max_lag, (int, np.integer)) or max_lag < 0:
        raise ValueError(f"max_lag must be an integer >= 0, got {max_lag!r}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > _HUGE:
        raise ValueError(f"values up to {peak:.4g}: the noise ACF (squares of the values) would overflow float64")
    sides = _candidate_sides(y.shape, int(max_lag), block)
    if not sides:  # a small image: 8 x 8 blocks with the lags that fit
        sides, max_lag = [8], min(int(max_lag), 3)
    scale = peak if peak > 0 else 1.0  # measured on y / peak (sums of squares cannot overflow), scaled back
    best = None
    for side in sides:  # largest first: a smaller side must be clearly flatter to replace it
        acf = _acf_in_blocks(y / scale, side, min(int(max_lag), side // 2 - 1), fraction)
        if best is None or acf.variance < _SMALLER_SIDE_RATIO * best.variance:
            best = acf
    assert best is not None
    return NoiseACF(best.cov * (scale * scale), best.block, best.halves)


def _acf_in_blocks(y: np.ndarray, side: int, L: int, fraction: float) -> NoiseACF:
    half = side // 2
    nr, nc = y.shape[0] // side, y.shape[1] // side
    if nr * nc < 1:
        raise ValueError(f"image of shape {y.shape} is too small for the noise ACF (needs {side} x {side})")
    blocks = y[: nr * side, : nc * side].reshape(nr, side, nc, side).transpose(0, 2, 1, 3).reshape(-1, side, side)
    halves = np.stack((blocks[:, :half, :], blocks[:, half:, :]), axis=1)  # (blocks, 2, half, side)
    halves = _without_plane(halves)
    spread = halves.var(axis=(2, 3))  # (blocks, 2)
    partner = spread[:, ::-1]  # each half is judged by the other half of its block
    tiny = _CONSTANT * float(spread.max())  # halves at most this are constant and hold no noise
    n_varying = int(np.count_nonzero(spread > tiny))
    if n_varying == 0:
        return NoiseACF(np.zeros((2 * L + 1, 2 * L + 1)), side, 0)
    keep = max(1, min(int(np.ceil(fraction * n_varying)), _MAX_HALVES))
    judged = np.where(partner > tiny, partner, spread).ravel()  # beside a constant partner: by itself
    judged[spread.ravel() <= tiny] = np.inf
    order = np.argsort(judged, kind="stable")[:keep]
    chosen = halves.reshape(-1, half, side)[order]  # (m, half, side)
    asked = L
    L = max(L, min(_BIAS_LAGS, half - 1))  # the removal's bias is undone over the ACF's whole reach, then cut
    cov = _plane_removal_undone(_lag_means(chosen, chosen, L), half, side)
    cov = cov[L - asked : L + asked + 1, L - asked : L + asked + 1]
    return NoiseACF(cov, side, int(keep))


def _plane_basis(h: int, w: int) -> np.ndarray:
    """Orthonormal (h w, 3): the constant and the two gradients over an h x w half (row-major pixels)."""
    r, c = np.mgrid[:h, :w]
    basis = np.stack([np.ones(h * w), (r - r.mean()).ravel(), (c - c.mean()).ravel()], axis=1)
    normalised: np.ndarray = basis / np.sqrt(np.sum(basis * basis, axis=0))
    return normalised


def _plane_removal_undone(measured: np.ndarray, h: int, w: int, iterations: int = _BIAS_ITERATIONS) -> np.ndarray:
    """The ACF C whose expected measurement after the plane removal equals `measured` ((2L+1)²): the removal
    (projector Π = I − B Bᵀ, B the orthonormal plane basis of an h × w half) turns the halves' covariance Σ(C) into
    Π Σ Π, whose mean over the pixel pairs (p, p + Δ) at each lag is what is measured:
    E[Ĉ(Δ)] = C(Δ) − Σ_k ⟨b_k, Σ b_k⟩_Δ − Σ_k ⟨Σ b_k, b_k⟩_Δ + Σ_kl (Bᵀ Σ B)_kl ⟨b_k, b_l⟩_Δ, with
    ⟨u, v⟩_Δ the mean of u(p) v(p + Δ) (`_lag_means`) — linear in C (the ACF taken to vanish beyond the lags L),
    computed on h × w images, never as (h w)² matrices. Fixed-point iterations C ← C + (measured − E[Ĉ])."""
    L = measured.shape[0] // 2
    basis = [b.reshape(h, w) for b in _plane_basis(h, w).T]
    between = [[_lag_means(bk, bl, L) for bl in basis] for bk in basis]  # fixed: the basis alone
    C = measured.copy()
    for _ in range(iterations):
        smeared = [_apply_acf(C, b) for b in basis]
        M = np.array([[float(np.sum(bk * sl)) for sl in smeared] for bk in basis])  # Bᵀ Σ B
        expected = C.copy()
        for k, (bk, sk) in enumerate(zip(basis, smeared, strict=True)):
            expected -= _lag_means(bk, sk, L) + _lag_means(sk, bk, L)
            for l_index in range(len(basis)):
                expected += M[k, l_index] * between[k][l_index]
        C += measured - expected
    return C


def _lag_means(u: np.ndarray, v: np.ndarray, L: int) -> np.ndarray:
    """out[L + Δr, L + Δc]: the mean over the pixels p of h × w images (u and v: (..., h, w), the mean taken over
    the leading axes too) with p + Δ inside of u(p) v(p + Δ), for |Δr|, |Δc| <= L. For v the same array as u
    (an ACF), −Δ takes the same pairs as Δ: only Δr >= 0 is summed."""
    h, w = u.shape[-2:]
    symmetric = u is v
    out = np.empty((2 * L + 1, 2 * L + 1))
    for dr in range(0 if symmetric else -L, L + 1):
        ur, vr = slice(max(0, -dr), h - max(0, dr)), slice(max(0, dr), h - max(0, -dr))
        for dc in range(-L, L + 1):
            uc, vc = slice(max(0, -dc), w - max(0, dc)), slice(max(0, dc), w - max(0, -dc))
            value = float(np.mean(u[..., ur, uc] * v[..., vr, vc]))
            out[L + dr, L + dc] = value
            if symmetric:
                out[L - dr, L - dc] = value
    return out


def _apply_acf(C: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(Σ u)(p) = Σ_Δ C(Δ) u(p + Δ) over |Δr|, |Δc| <= L, u taken as 0 outside its h × w half."""
    L = C.shape[0] // 2
    h, w = u.shape
    padded = np.zeros((h + 2 * L, w + 2 * L))
    padded[L : L + h, L : L + w] = u
    out = np.zeros((h, w))
    for dr in range(-L, L + 1):
        for dc in range(-L, L + 1):
            out += C[L + dr, L + dc] * padded[L + dr : L + dr + h, L + dc : L + dc + w]
    return out


def _without_plane(halves: np.ndarray) -> np.ndarray:
    """The halves (..., h, w) less their least-squares planes a + b r + c s (a gradient across a half, of ice
    thickness or illumination, is structure, not noise)."""
    h, w = halves.shape[-2:]
    basis = _plane_basis(h, w)
    flat = halves.reshape(-1, h * w)
    residual: np.ndarray = flat - (flat @ basis) @ basis.T
    return residual.reshape(halves.shape)


def noise_covariance(acf: NoiseACF, patch_size: int, *, floor: float = 1e-3) -> np.ndarray:
    """The stationary noise covariance Σ (D, D), D = P², of P × P patches (row-major pixels) from the ACF:
    Σ[(r, c), (r', c')] = C(r' − r, c' − c), 0 beyond the ACF's lags. Made symmetric positive definite by
    raising its eigenvalues to at least floor · C(0) (an estimated ACF need not be positive definite)."""
    if not isinstance(patch_size, (int, np.integer)) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer, got {patch_size!r}")
    if floor <= 0:
        raise ValueError(f"floor must be > 0, got {floor!r}")
    c0 = acf.variance
    if not c0 > 0:
        raise ValueError(f"the noise ACF has variance {c0!r}; a covariance needs a positive noise variance")
    P, L = int(patch_size), acf.max_lag
    r, c = np.divmod(np.arange(P * P), P)
    dr, dc = r[None, :] - r[:, None], c[None, :] - c[:, None]
    inside = (np.abs(dr) <= L) & (np.abs(dc) <= L)
    sigma = np.where(inside, acf.cov[np.clip(dr + L, 0, 2 * L), np.clip(dc + L, 0, 2 * L)], 0.0)
    sigma = 0.5 * (sigma + sigma.T)
    values, vectors = np.linalg.eigh(sigma)
    if values.min() < floor * c0:
        sigma = (vectors * np.maximum(values, floor * c0)) @ vectors.T
        sigma = 0.5 * (sigma + sigma.T)
    return np.asarray(sigma)


def _varying_blocks(y: np.ndarray, side: int) -> np.ndarray:
    """(R − side + 1, C − side + 1): whether the side × side block at each position holds two different values
    (exactly constant parts of an image — masks, zero borders, saturation — hold no noise)."""
    first = y[: y.shape[0] - side + 1, : y.shape[1] - side + 1]
    varying = np.zeros(first.shape, dtype=bool)
    for i in range(side):
        for j in range(side):
            varying |= y[i : i + first.shape[0], j : j + first.shape[1]] != first
    return varying


def _flattest_positions(y: np.ndarray, varying: np.ndarray) -> np.ndarray:
    """(R − 2, C − 2): the positions of the diagonal details that q is measured over. Where the image has at
    least _Q_MIN_BLOCKS blocks of _Q_BLOCK² wholly varying positions, those of the _Q_FLAT_SHARE of such blocks
    with the least spacing-4 diagonal-detail energy (structure, not noise: a measure the noise's correlation at
    lags 1–2 hardly changes, so the choice does not bias q); else every varying position."""
    b = _Q_BLOCK
    rows, cols = (y.shape[0] - 4) // b, (y.shape[1] - 4) // b
    if rows * cols < _Q_MIN_BLOCKS:
        return varying
    d4 = (y[:-4, :-4] - y[:-4, 4:] - y[4:, :-4] + y[4:, 4:])[: rows * b, : cols * b] ** 2
    energy = d4.reshape(rows, b, cols, b).mean(axis=(1, 3))
    whole = varying[: rows * b, : cols * b].reshape(rows, b, cols, b).all(axis=(1, 3))
    if whole.sum() < _Q_MIN_BLOCKS:
        return varying
    chosen = whole & (energy <= np.quantile(energy[whole], _Q_FLAT_SHARE))
    positions = np.zeros_like(varying)
    positions[: rows * b, : cols * b] = np.repeat(np.repeat(chosen, b, axis=0), b, axis=1)
    return positions


def correlation_ratio(image: np.ndarray) -> float:
    """q = v₁ / v₂: the ratio of the robust variances (median absolute deviation) of the diagonal details
    (y(r, c) − y(r, c+k) − y(r+k, c) + y(r+k, c+k)) / 2 at spacings k = 1 and 2, over the positions whose 3 × 3
    block is not exactly constant (see the module's docstring), in the flattest blocks (`_flattest_positions`).
    1 for white noise, lower for noise correlated at lags 1–2; nan if v₂ is 0 (or the image is under 3 × 3 or
    constant)."""
    y = np.asarray(image, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"the correlation ratio needs a 2-D image, got shape {y.shape}")
    if min(y.shape) < 3:
        return float("nan")
    varying = _varying_blocks(y, 3)  # both details over the same positions, none in constant regions
    if not varying.any():
        return float("nan")
    positions = _flattest_positions(y, varying)
    v = []
    for k in (1, 2):
        d = ((y[:-k, :-k] - y[:-k, k:] - y[k:, :-k] + y[k:, k:]) / 2.0)[: y.shape[0] - 2, : y.shape[1] - 2][positions]
        v.append((np.median(np.abs(d - np.median(d))) * _MAD_TO_SIGMA) ** 2)
    return float(v[0] / v[1]) if v[1] > 0 else float("nan")
