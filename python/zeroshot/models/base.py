"""The interface every patch model offers to the E-step, the EM trainer and the denoising pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Union

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


class PatchModel(Protocol):
    """What the pipeline asks of the model of every family (`zeroshot.models.family`): its parameters as named
    arrays, the statistics of its own states type (summable over ranks), F, the M-step and the posterior moments.
    How its states start and are updated (the E-step) is the family's."""

    shared_pi: bool

    @property
    def name(self) -> str:
        """The model's name in configurations, its family's."""
        ...

    @property
    def sigma2(self) -> float:
        """The noise variance per pixel (the mean one for the PMM's Poisson noise)."""
        ...

    @property
    def W(self) -> np.ndarray:
        """The model's elements as columns (D, H): a dictionary's atoms, a mixture's component rates."""
        ...

    @property
    def pi(self) -> np.ndarray:
        """The elements' prior probabilities (H,)."""
        ...

    @property
    def moments_need_products(self) -> bool:
        """Whether posterior_moments reads the patches' dense products (SSSC's slab posteriors do; BSC's
        moments depend on the patches only through lpj)."""
        ...

    def arrays(self) -> dict[str, np.ndarray]:
        """The parameters by name (scalars as 0-d arrays), as model files and checkpoints store them."""
        ...

    def accumulate(self, Y: np.ndarray, states: Any, products: Any = None) -> np.ndarray:
        """The statistics of the patches Y (N, D) as one float64 vector, summable over data shards, the free
        energy under this model's parameters included."""
        ...

    def free_energy(self, stats: np.ndarray) -> float:
        """F = sum_n log sum_{s in K_n} p(s, y_n) under the parameters the statistics were taken with."""
        ...

    def m_step(self, stats: np.ndarray) -> PatchModel:
        """A new model with the parameters maximising F for the summed statistics."""
        ...

    def posterior_moments(self, states: Any, order: int = 1, products: Any = None) -> PosteriorMoments:
        """Posterior moments of the noise-free patches of the states, up to `order` (1: mean; 2: + variance;
        3: + third central moment), each (N, D). products: the patches' dense products, required when
        `moments_need_products`."""
        ...


class Model(PatchModel, Protocol):
    """A dictionary model (y = W x + eps; BSC, SSSC): theta, log-joints, statistics, F, M-step and posterior
    moments of binary states; the E-step that updates the states is a separate strategy
    (zeroshot.variational.evo.EvoEStep)."""

    D: int
    H: int

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
        """The statistics (fields: `stats_layout`), F included."""
        ...

    def m_step(self, stats: np.ndarray) -> Model: ...

    def posterior_moments(
        self, states: TruncatedStates, order: int = 1, products: DenseProducts | None = None
    ) -> PosteriorMoments: ...
