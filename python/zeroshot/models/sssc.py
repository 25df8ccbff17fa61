"""Spike-and-slab sparse coding (SPEC "SSSC"; "ES3C" when trained with the evolutionary E-step):
s_h ~ Bernoulli(pi_h), z ~ N(mu, diag(psi)), y = W (s * z) + eps, eps ~ N(0, sigma2 I)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zeroshot import _core
from zeroshot.config import EvoConfig
from zeroshot.models.base import PosteriorMoments
from zeroshot.models.bsc import BSC, dense_products, initial_activation
from zeroshot.runtime.comm import Comm
from zeroshot.variational.states import TruncatedStates


@dataclass(frozen=True)
class SSSCParams:
    """W (D, H), pi (H,), mu (H,), psi (H,) > 0, sigma2 > 0."""

    W: np.ndarray
    pi: np.ndarray
    mu: np.ndarray
    psi: np.ndarray
    sigma2: float

    def __post_init__(self) -> None:
        W = np.ascontiguousarray(self.W, dtype=np.float64)
        if W.ndim != 2 or W.size == 0 or not np.all(np.isfinite(W)):
            raise ValueError(f"W must be a finite, non-empty (D, H) array, got shape {W.shape}")
        H = W.shape[1]
        vectors = {}
        for name in ("pi", "mu", "psi"):
            v = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if v.shape != (H,) or not np.all(np.isfinite(v)):
                raise ValueError(f"{name} must be a finite ({H},) array, got shape {v.shape}")
            vectors[name] = v
        if not np.all((vectors["pi"] > 0) & (vectors["pi"] < 1)):
            raise ValueError("pi must lie in (0, 1)")
        if not np.all(vectors["psi"] > 0):
            raise ValueError("psi must be positive")
        if not (np.isfinite(self.sigma2) and self.sigma2 > 0):
            raise ValueError(f"sigma2 must be positive and finite, got {self.sigma2!r}")
        object.__setattr__(self, "W", W)
        for name, v in vectors.items():
            object.__setattr__(self, name, v)
        object.__setattr__(self, "sigma2", float(self.sigma2))


class SSSC:
    """The SSSC model; per-state Woodbury log-joints, slab posteriors and statistics in the core."""

    name = "es3c"

    def __init__(self, params: SSSCParams, shared_pi: bool = False) -> None:
        self.params = params
        self.shared_pi = shared_pi
        self.D, self.H = params.W.shape

    @classmethod
    def from_data(cls, Y: np.ndarray, H: int, seed: int, shared_pi: bool = False, comm: Comm | None = None) -> SSSC:
        """W as for BSC, slabs N(0, 1), pi = 1/H, sigma2 the data variance (of all ranks with a comm)."""
        bsc = BSC.from_data(Y, H, seed, comm=comm)
        return cls(
            SSSCParams(bsc.params.W, np.full(H, initial_activation(H)), np.zeros(H), np.ones(H), bsc.sigma2), shared_pi
        )

    @classmethod
    def from_bsc(cls, bsc: BSC) -> SSSC:
        """The SSSC that equals a BSC in its means: slabs with mean 1 and a small variance."""
        p = bsc.params
        return cls(SSSCParams(p.W, p.pi, np.ones(bsc.H), np.full(bsc.H, 0.1), p.sigma2), bsc.shared_pi)

    @property
    def W(self) -> np.ndarray:
        return self.params.W

    @property
    def pi(self) -> np.ndarray:
        return self.params.pi

    @property
    def sigma2(self) -> float:
        return self.params.sigma2

    def _kernel_args(self, Y: np.ndarray, workspace: dict | None = None) -> dict[str, Any]:
        """The dense products and parameters every SSSC kernel takes."""
        WtY, y2, WtW = dense_products(self.params.W, Y, workspace)
        p = self.params
        return {"WtY": WtY, "y2": y2, "WtW": WtW, "pi": p.pi, "mu": p.mu, "psi": p.psi, "sigma2": p.sigma2}

    def log_pseudo_joint(self, Y: np.ndarray, states: TruncatedStates) -> np.ndarray:
        return _core.sssc_log_pseudo_joint(K=states.K, **self._kernel_args(Y))

    def e_step(
        self,
        Y: np.ndarray,
        states: TruncatedStates,
        evo: EvoConfig,
        seed: int,
        epoch: int,
        workspace: dict | None = None,
    ) -> int:
        return _core.evo_step_sssc(
            K=states.K,
            lpj=states.lpj,
            **self._kernel_args(Y, workspace),
            seed=seed,
            epoch=epoch,
            first_index=states.first_index,
            **evo.core_kwargs(),
        )

    # Packed statistics: [A (D*H), B (H*H), sum <x> (H), sum <s> (H), sum log-normaliser, sum ||y||^2, N].
    def accumulate(self, Y: np.ndarray, states: TruncatedStates) -> np.ndarray:
        A, B, xs, ss, lse, y2 = _core.sssc_accumulate(Y=Y, K=states.K, lpj=states.lpj, **self._kernel_args(Y))
        return np.concatenate([A.ravel(), B.ravel(), xs, ss, [lse, y2, float(Y.shape[0])]])

    def _unpack(self, stats: np.ndarray):
        D, H = self.D, self.H
        parts = np.split(stats, np.cumsum([D * H, H * H, H, H]))
        A, B, xs, ss, rest = parts
        lse, y2, n = rest
        return A.reshape(D, H), B.reshape(H, H), xs, ss, float(lse), float(y2), float(n)

    def free_energy(self, stats: np.ndarray) -> float:
        *_, lse, _, n = self._unpack(stats)
        return lse + n * (-0.5 * self.D * np.log(2 * np.pi * self.sigma2) + np.sum(np.log1p(-self.params.pi)))

    def m_step(self, stats: np.ndarray) -> SSSC:
        A, B, xs, ss, _, y2, n = self._unpack(stats)
        p = self.params
        W, pi, mu, psi, sigma2 = _core.sssc_m_step(A, B, xs, ss, y2, n, p.W, p.mu, p.psi, self.shared_pi)
        return SSSC(SSSCParams(W, pi, mu, psi, sigma2), self.shared_pi)

    def posterior_moments(self, Y: np.ndarray, states: TruncatedStates, order: int = 1) -> PosteriorMoments:
        """Moments of W (s * z) under the truncated posterior, the slab posteriors included."""
        return PosteriorMoments(
            *_core.sssc_posterior_moments(
                W=self.params.W, K=states.K, lpj=states.lpj, order=order, **self._kernel_args(Y)
            )
        )
