"""Truncated EM: E-step on the states, accumulate -> allreduce -> finalize for the M-step."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import numpy as np

from zeroshot.comm import Comm, SerialComm
from zeroshot.config import EvoConfig
from zeroshot.models.base import Model
from zeroshot.states import TruncatedStates


@dataclass(frozen=True)
class EpochLog:
    """One EM epoch: F (total over all patches of all processes) under the parameters of this epoch's
    E-step, sigma after the M-step, states replaced by the E-step, wall time."""

    epoch: int
    free_energy: float
    free_energy_per_patch: float
    sigma: float
    n_replaced: int
    seconds: float


Callback = Callable[[EpochLog], None]


class EMTrainer:
    def __init__(
        self,
        evo: EvoConfig,
        seed: int = 0,
        comm: Optional[Comm] = None,
        callback: Optional[Callback] = None,
    ) -> None:
        self.evo = evo
        self.seed = seed
        self.comm: Comm = comm if comm is not None else SerialComm()
        self.callback = callback

    def fit(
        self, model: Model, Y: np.ndarray, states: TruncatedStates, epochs: int, first_epoch: int = 0
    ) -> Tuple[Model, List[EpochLog]]:
        """Runs `epochs` epochs; returns (model, [EpochLog])."""
        history: List[EpochLog] = []
        workspace: dict = {}
        for epoch in range(first_epoch, first_epoch + epochs):
            start = time.perf_counter()
            replaced = model.e_step(Y, states, self.evo, self.seed, epoch, workspace)
            # One buffer per epoch: the model's statistics, then the patch and replaced-state counts.
            local = np.concatenate([model.accumulate(Y, states), [float(Y.shape[0]), float(replaced)]])
            total = self.comm.allreduce(local)
            stats, n_patches, total_replaced = total[:-2], float(total[-2]), int(total[-1])
            free_energy = model.free_energy(stats)
            if not np.isfinite(free_energy):
                raise FloatingPointError(f"free energy is not finite at epoch {epoch}")
            model = model.m_step(stats)
            log = EpochLog(
                epoch=epoch,
                free_energy=free_energy,
                free_energy_per_patch=free_energy / n_patches,
                sigma=float(np.sqrt(model.sigma2)),
                n_replaced=total_replaced,
                seconds=time.perf_counter() - start,
            )
            history.append(log)
            if self.callback is not None:
                self.callback(log)
        return model, history
