"""Binary sparse coding (Drefs, Guiraud & Lücke, JMLR 2022, "EBSC"): y = W s + eps, s_h ~ Bernoulli(pi_h),
eps ~ N(0, sigma2 I)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroshot._core import BscParams as CoreBscParams
from zeroshot._core import bsc_accumulate, bsc_log_pseudo_joint, bsc_m_step, bsc_posterior_moments
from zeroshot.models.dictionary import CoreKernels, DictionaryModel, check_dictionary, initial_dictionary
from zeroshot.runtime.comm import Comm


@dataclass(frozen=True)
class BSCParams:
    """W (D, H), pi (H,), sigma2 > 0."""

    W: np.ndarray
    pi: np.ndarray
    sigma2: float

    def __post_init__(self) -> None:
        W, pi, sigma2 = check_dictionary(self.W, self.pi, self.sigma2)
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "pi", pi)
        object.__setattr__(self, "sigma2", sigma2)


class BSC(DictionaryModel[BSCParams]):
    """The BSC model; kernels in the compiled core (cpp/include/zeroshot/model/bsc.hpp)."""

    name = "bsc"
    moments_need_products = False  # given s, x = W s exactly: the moments read the patches only through lpj
    params_type = BSCParams
    kernels = CoreKernels(CoreBscParams, bsc_log_pseudo_joint, bsc_accumulate, bsc_posterior_moments, bsc_m_step)

    @classmethod
    def from_data(cls, Y: np.ndarray, H: int, seed: int, shared_pi: bool = False, comm: Comm | None = None) -> BSC:
        """Initial parameters from the data: W around the mean patch with data-scaled noise, pi = 1/H,
        sigma2 the data variance. With a `comm`, Y is this rank's share of the data and the moments
        are those of all ranks' data (every rank gets the same model)."""
        W, sigma2 = initial_dictionary(Y, H, seed, comm)
        return cls(BSCParams(W, cls.start_pi(H), sigma2), shared_pi)
