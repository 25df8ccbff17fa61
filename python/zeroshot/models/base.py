"""The interface every patch model offers to the EM trainer and the denoising pipeline."""
from __future__ import annotations

from typing import Optional, Protocol, Tuple

import numpy as np

from zeroshot.config import EvoConfig
from zeroshot.states import TruncatedStates


class Model(Protocol):
    D: int
    H: int

    @property
    def sigma2(self) -> float: ...

    def log_pseudo_joint(self, Y: np.ndarray, states: TruncatedStates) -> np.ndarray:
        """lpj (N, S) of the states in K for the patches Y (N, D)."""
        ...

    def e_step(
        self, Y: np.ndarray, states: TruncatedStates, evo: EvoConfig, seed: int, epoch: int,
        workspace: Optional[dict] = None,
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

    def m_step(self, stats: np.ndarray) -> "Model":
        """A new model with the parameters maximising F for the summed statistics."""
        ...

    def posterior_moments(
        self, Y: np.ndarray, states: TruncatedStates, want_variance: bool = False
    ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Posterior mean (N, D) of the noise-free patch and optionally its variance (N, D)."""
        ...
