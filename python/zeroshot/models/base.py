"""The interface every patch model offers to the EM trainer and the denoising pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from zeroshot.config import EvoConfig
from zeroshot.variational.states import TruncatedStates


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
    D: int
    H: int

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

    def log_pseudo_joint(self, Y: np.ndarray, states: TruncatedStates) -> np.ndarray:
        """lpj (N, S) of the states in K for the patches Y (N, D)."""
        ...

    def e_step(
        self,
        Y: np.ndarray,
        states: TruncatedStates,
        evo: EvoConfig,
        seed: int,
        epoch: int,
        workspace: dict | None = None,
    ) -> int:
        """Evolutionary E-step on `states` in place; returns the number of replaced states.
        `workspace` (a dict the caller keeps for the same Y) lets the model reuse buffers."""
        ...

    def accumulate(self, Y: np.ndarray, states: TruncatedStates) -> np.ndarray:
        """Packed sufficient statistics (one float64 vector, summable over data shards)."""
        ...

    def free_energy(self, stats: np.ndarray) -> float:
        """F = sum_n log sum_{s in K_n} p(s, y_n) of the parameters the statistics were taken under."""
        ...

    def m_step(self, stats: np.ndarray) -> Model:
        """A new model with the parameters maximising F for the summed statistics."""
        ...

    def posterior_moments(self, Y: np.ndarray, states: TruncatedStates, order: int = 1) -> PosteriorMoments:
        """Posterior moments of the noise-free patches of Y (N, D) up to `order` (1: mean; 2: + variance;
        3: + third central moment), each (N, D)."""
        ...
