"""The generalized Anscombe transform (GAT) of Poisson–Gaussian data and its exact unbiased inverse.

Noise model: z = α p + n, p ~ Poisson(λ), n ~ N(μ, σ²) (gain α, offset μ, read noise σ), so
E[z] = α λ + μ and Var[z] = α (E[z] − μ) + σ². In the units z̃ = (z − μ) / α the data are
Poisson(λ) + N(0, σ̃²) with σ̃ = σ / α, and the transform reads

    f(z) = (2 / α) sqrt(α z + 3/8 α² + σ² − α μ) = 2 sqrt(z̃ + 3/8 + σ̃²)      (0 where the root's argument <= 0)

which makes the noise approximately N(0, 1) (Mäkitalo & Foi, IEEE TIP 22(1), 2013, eq. 3; Starck, Murtagh
& Bijaoui 1998). A denoiser applied to f(z) estimates D ≈ E[f(z) | λ]; the *exact unbiased inverse* is the
map D = E[f(z) | λ] -> λ (not the algebraic inverse (D/2)² − 3/8 − σ̃², biased at low counts). Its closed-form
approximation for pure Poisson (Mäkitalo & Foi, IEEE TIP 20(9), 2011):

    I₀(D) = D²/4 + sqrt(3/2)/(4 D) − 11/(8 D²) + 5 sqrt(3/2)/(8 D³) − 1/8,

and for Poisson–Gaussian noise I_σ̃(D) = max(0, I₀(D) − σ̃²) in the normalised units (Mäkitalo & Foi 2013),
so E[z] = α I_σ̃(D) + μ. I₀ is exactly 0 at D₀ = 2 sqrt(3/8) = E[f | λ = 0] for pure Poisson and not monotone
below it, so D <= D₀ maps to λ = 0. `expected_gat` tabulates E[f | λ] numerically (the Poisson pmf summed
and the Gaussian integrated by Gauss–Hermite quadrature); `exact_unbiased_inverse` inverts that table by
monotone interpolation (the definition itself, for tests and small σ̃ where the closed form is rougher).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "D0",
    "PoissonGaussian",
    "exact_unbiased_inverse",
    "expected_gat",
    "gat",
    "gat_inverse",
    "gat_inverse_derivative",
    "gat_inverse_variance",
]

_SQRT_3_2 = math.sqrt(1.5)
# E[2 sqrt(p + 3/8)] at λ = 0: where the closed-form inverse reaches 0.
D0 = 2.0 * math.sqrt(3.0 / 8.0)


@dataclass(frozen=True)
class PoissonGaussian:
    """Parameters of z = gain · Poisson(λ) + N(offset, read_noise²): gain α > 0, offset μ, read_noise σ >= 0
    (all on the data's value scale). Only α and σ² − αμ enter the transform (see `estimate_poisson_gaussian`
    for how the two are told apart)."""

    gain: float = 1.0
    offset: float = 0.0
    read_noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("gain", "offset", "read_noise"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(float(value)):
                raise ValueError(f"Poisson–Gaussian {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.gain <= 0:
            raise ValueError(f"Poisson–Gaussian gain must be > 0, got {self.gain!r}")
        if self.read_noise < 0:
            raise ValueError(f"Poisson–Gaussian read_noise must be >= 0, got {self.read_noise!r}")

    @property
    def sigma_tilde(self) -> float:
        """σ̃ = σ / α: the read noise in counts."""
        return self.read_noise / self.gain

    def describe(self) -> str:
        return f"gain {self.gain:.4g}, offset {self.offset:.4g}, read noise {self.read_noise:.4g}"


def gat(z: np.ndarray, params: PoissonGaussian) -> np.ndarray:
    """f(z) = (2/α) sqrt(α z + 3/8 α² + σ² − α μ), 0 where the root's argument is <= 0. z: any shape; float64."""
    a, s, mu = params.gain, params.read_noise, params.offset
    arg = np.asarray(z, dtype=np.float64) * a + (0.375 * a * a + s * s - a * mu)
    return (2.0 / a) * np.sqrt(np.maximum(arg, 0.0))


def _closed_form(D: np.ndarray) -> np.ndarray:
    """I₀(D) for D > 0 (Mäkitalo & Foi 2011)."""
    inv = 1.0 / D
    return np.asarray(
        0.25 * D * D + inv * (0.25 * _SQRT_3_2 + inv * (-11.0 / 8.0 + inv * (5.0 / 8.0 * _SQRT_3_2))) - 0.125
    )


def gat_inverse(D: np.ndarray, params: PoissonGaussian) -> np.ndarray:
    """The closed-form approximation of the exact unbiased inverse: E[z] = α max(0, I₀(D) − σ̃²) + μ, with
    I₀ = 0 for D <= D₀. D: any shape (a denoised GAT image); returns float64 on the data's scale."""
    D = np.asarray(D, dtype=np.float64)
    safe = np.maximum(D, D0)  # I₀ is 0 at D₀ and not monotone below
    lam = np.maximum(_closed_form(safe) - params.sigma_tilde**2, 0.0)
    return params.gain * lam + params.offset


def gat_inverse_derivative(D: np.ndarray, params: PoissonGaussian) -> np.ndarray:
    """d E[z] / dD of `gat_inverse`: α I₀'(D), taken at max(D, D₀) so that it stays positive where the inverse
    is clamped to 0 (the posterior spread there is that of the lowest rates, not zero)."""
    D = np.maximum(np.asarray(D, dtype=np.float64), D0)
    inv = 1.0 / D
    inv2 = inv * inv
    slope = 0.5 * D + inv2 * (-0.25 * _SQRT_3_2 + inv * (11.0 / 4.0 + inv * (-15.0 / 8.0 * _SQRT_3_2)))
    return params.gain * slope


def gat_inverse_variance(D: np.ndarray, variance: np.ndarray, params: PoissonGaussian) -> np.ndarray:
    """A variance map of D carried to the data's scale by the delta method: Var[x] ≈ (dI/dD)² Var[D]."""
    slope = gat_inverse_derivative(D, params)
    return np.asarray(slope * slope * np.asarray(variance, dtype=np.float64))


def expected_gat(lam: np.ndarray, sigma_tilde: float = 0.0, *, nodes: int = 40) -> np.ndarray:
    """E[2 sqrt(max(p + n + 3/8 + σ̃², 0))] for p ~ Poisson(λ), n ~ N(0, σ̃²), per λ >= 0 (normalised units).
    The Poisson pmf is summed up to λ + 12 sqrt(λ) + 30 (the tail beyond is below 1e-12); the Gaussian is
    integrated with `nodes` Gauss–Hermite nodes."""
    lam = np.asarray(lam, dtype=np.float64)
    if np.any(lam < 0) or not np.all(np.isfinite(lam)):
        raise ValueError("expected_gat needs finite rates λ >= 0")
    if sigma_tilde < 0:
        raise ValueError(f"sigma_tilde must be >= 0, got {sigma_tilde!r}")
    flat = lam.ravel()
    kmax = int(np.ceil(flat.max(initial=0.0) + 12.0 * np.sqrt(flat.max(initial=0.0)) + 30.0))
    k = np.arange(kmax + 1, dtype=np.float64)
    # log pmf(k; λ) = k log λ − λ − log k!, with 0 log 0 = 0
    log_fact = np.concatenate(([0.0], np.cumsum(np.log(k[1:]))))
    positive = flat > 0
    log_lam = np.log(np.where(positive, flat, 1.0))[:, None]
    pmf = np.exp(k[None, :] * log_lam - flat[:, None] - log_fact[None, :])
    pmf[~positive] = k == 0  # Poisson(0) is 0 surely
    if sigma_tilde == 0:
        values = 2.0 * np.sqrt(k + 0.375)
    else:
        x, w = np.polynomial.hermite.hermgauss(nodes)
        n = math.sqrt(2.0) * sigma_tilde * x  # ∫ g(n) N(n; 0, σ̃²) dn = Σ w g(√2 σ̃ x) / √π
        inner = 2.0 * np.sqrt(np.maximum(k[:, None] + n[None, :] + 0.375 + sigma_tilde**2, 0.0))
        values = inner @ w / math.sqrt(math.pi)
    return np.asarray((pmf @ values).reshape(lam.shape))


def exact_unbiased_inverse(D: np.ndarray, params: PoissonGaussian, *, lam_max: float | None = None) -> np.ndarray:
    """The exact unbiased inverse by definition: E[f(z) | λ] tabulated on a grid of λ (`expected_gat`) and
    inverted by monotone interpolation; λ = 0 below the table, the asymptotic (D/2)² − 1/8 − σ̃² above it.
    Returns α λ + μ on the data's scale."""
    shape = np.shape(D)
    D = np.asarray(D, dtype=np.float64).ravel()
    top = float(lam_max) if lam_max is not None else max(200.0, float(np.max(D, initial=0.0)) ** 2 / 4.0)
    grid = np.concatenate((np.linspace(0.0, 2.0, 201)[:-1], np.geomspace(2.0, top, 400)))
    table = expected_gat(grid, params.sigma_tilde)
    # λ − D²/4 is smooth and small along the table: interpolating it is far more accurate than λ itself.
    d = D  # (lower case: a comparison of D reads as a constant's to the linter)
    rest = np.interp(d, table, grid - 0.25 * table**2)
    lam = np.where(d <= table[0], 0.0, np.maximum(0.25 * d * d + rest, 0.0))
    above = d > table[-1]
    lam[above] = np.maximum(0.25 * d[above] ** 2 - 0.125 - params.sigma_tilde**2, 0.0)
    return np.asarray(params.gain * lam + params.offset).reshape(shape)
