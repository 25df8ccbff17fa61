"""Spike-and-slab sparse coding (Sheikh, Shelton & Lücke, JMLR 2014; "ES3C" when trained with the evolutionary E-step):
s_h ~ Bernoulli(pi_h), z ~ N(mu, diag(psi)), y = W (s * z) + eps, eps ~ N(0, sigma2 I)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroshot._core import SsscParams as CoreSsscParams
from zeroshot._core import sssc_accumulate, sssc_log_pseudo_joint, sssc_m_step, sssc_posterior_moments
from zeroshot.models.base import Model
from zeroshot.models.dictionary import CoreKernels, DictionaryModel, check_dictionary, initial_dictionary
from zeroshot.runtime.comm import Comm


@dataclass(frozen=True)
class SSSCParams:
    """W (D, H), pi (H,), mu (H,), psi (H,) > 0, sigma2 > 0."""

    W: np.ndarray
    pi: np.ndarray
    mu: np.ndarray
    psi: np.ndarray
    sigma2: float

    def __post_init__(self) -> None:
        W, pi, sigma2 = check_dictionary(self.W, self.pi, self.sigma2)
        H = W.shape[1]
        for name in ("mu", "psi"):
            v = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if v.shape != (H,) or not np.all(np.isfinite(v)):
                raise ValueError(f"{name} must be a finite ({H},) array, got shape {v.shape}")
            object.__setattr__(self, name, v)
        if not np.all(self.psi > 0):
            raise ValueError("psi must be positive")
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "pi", pi)
        object.__setattr__(self, "sigma2", sigma2)


class SSSC(DictionaryModel[SSSCParams]):
    """The SSSC model; per-state Woodbury log-joints, slab posteriors and statistics in the compiled core
    (cpp/include/zeroshot/model/sssc.hpp)."""

    name = "es3c"
    moments_need_products = True  # the slab posteriors read W^T y
    params_type = SSSCParams
    kernels = CoreKernels(
        CoreSsscParams,
        sssc_log_pseudo_joint,
        sssc_accumulate,
        sssc_posterior_moments,
        sssc_m_step,
    )

    @classmethod
    def from_data(cls, Y: np.ndarray, H: int, seed: int, shared_pi: bool = False, comm: Comm | None = None) -> SSSC:
        """W as for BSC, slabs N(0, 1), pi = 1/H, sigma2 the data variance (of all ranks with a comm)."""
        W, sigma2 = initial_dictionary(Y, H, seed, comm)
        return cls(SSSCParams(W, cls.start_pi(H), np.zeros(H), np.ones(H), sigma2), shared_pi)

    @classmethod
    def from_bsc(cls, bsc: Model) -> SSSC:
        """The SSSC that equals a BSC in its means: slabs with mean 1 and a small variance."""
        return cls(SSSCParams(bsc.W, bsc.pi, np.ones(bsc.H), np.full(bsc.H, 0.1), bsc.sigma2), bsc.shared_pi)
