"""The interface every patch model offers to the E-step, the EM trainer and the denoising pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Union

import numpy as np

from zeroshot._core import BscParams, DenseProducts, SsscParams
from zeroshot.variational.states import TruncatedStates

# The compiled parameter sets the kernels take (one class per model, registered by register_model).
CoreParams = Union[BscParams, SsscParams]


@dataclass(frozen=True)
class PosteriorMoments:
    """Posterior moments of the noise-free patches, per pixel: mean (N, D), and if asked for the
    variance (N, D) and the third central moment (N, D)."""

    mean: np.ndarray
    variance: np.ndarray | None = None
    third: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.mean.ndim != 2:
            raise ValueError(f"mean must have shape (N, D), got {self.mean.shape}")
        for name in ("variance", "third"):
            value = getattr(self, name)
            if value is not None and value.shape != self.mean.shape:
                raise ValueError(f"{name} has shape {value.shape}, expected the mean's {self.mean.shape}")


class Model(Protocol):
    """Theta, log-joints, statistics, F, M-step and posterior moments of a model; the E-step that
    updates the states is a separate strategy (zeroshot.variational.evo.EvoEStep)."""

    D: int
    H: int
    shared_pi: bool

    @property
    def name(self) -> str:
        """The model's name in configurations ("bsc", "es3c")."""
        ...

    @property
    def sigma2(self) -> float: ...

    @property
    def W(self) -> np.ndarray:
        """The dictionary (D, H)."""
        ...

    @property
    def pi(self) -> np.ndarray:
        """Prior activation probabilities (H,)."""
        ...

    @property
    def core(self) -> CoreParams:
        """The parameters as the compiled kernels (and the E-step) take them, checked once."""
        ...

    def dense_products(self, Y: np.ndarray, WtY: np.ndarray | None = None) -> DenseProducts:
        """The products of the patches Y (N, D) with W that every kernel reads (WtY into the given buffer)."""
        ...

    def log_pseudo_joint(
        self, Y: np.ndarray, states: TruncatedStates, products: DenseProducts | None = None
    ) -> np.ndarray:
        """lpj (N, S) of the states in K for the patches Y (N, D)."""
        ...

    def accumulate(self, Y: np.ndarray, states: TruncatedStates, products: DenseProducts | None = None) -> np.ndarray:
        """The statistics of the patches Y (N, D) as one float64 vector, summable over data shards (fields:
        `stats_layout`), the free energy under this model's parameters included."""
        ...

    def free_energy(self, stats: np.ndarray) -> float:
        """F = sum_n log sum_{s in K_n} p(s, y_n) under the parameters the statistics were taken with."""
        ...

    def m_step(self, stats: np.ndarray) -> Model:
        """A new model with the parameters maximising F for the summed statistics."""
        ...

    @property
    def moments_need_products(self) -> bool:
        """Whether posterior_moments reads the patches' dense products (SSSC's slab posteriors do; BSC's
        moments depend on the patches only through lpj)."""
        ...

    def posterior_moments(
        self, states: TruncatedStates, order: int = 1, products: DenseProducts | None = None
    ) -> PosteriorMoments:
        """Posterior moments of the noise-free patches of the states, up to `order` (1: mean; 2: + variance;
        3: + third central moment), each (N, D). products: the patches' dense products with W, required
        when `moments_need_products`."""
        ...
