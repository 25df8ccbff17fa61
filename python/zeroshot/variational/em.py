"""Truncated EM: E-step on the states, accumulate -> allreduce -> finalize for the M-step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, TypeVar

import numpy as np

from zeroshot.runtime.comm import Comm, SerialComm
from zeroshot.variational.evo import EStep


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

ModelT = TypeVar("ModelT", bound="EMModel")


class EMModel(Protocol):
    """What the trainer asks of a model (`zeroshot.models.base.Model`, and the PMM): statistics of its own
    states type, F, the M-step, and sigma2 for the log."""

    @property
    def sigma2(self) -> float: ...

    def accumulate(self, Y: np.ndarray, states: Any, products: Any = ...) -> np.ndarray: ...

    def free_energy(self, stats: np.ndarray) -> float: ...

    def m_step(self: ModelT, stats: np.ndarray) -> ModelT: ...


class EMTrainer:
    """Truncated EM over the patches of this process: the E-step strategy `estep` (e.g. EvoEStep) updates
    the states, then the model's statistics (reusing the E-step's dense products) give F and the M-step.
    With a `Comm` of several ranks the statistics are summed over all ranks, so every rank computes the
    same M-step.

    stop_requested: polled once per epoch on every rank; when it is true on any rank, every rank ends
    `fit` after that epoch (the flag travels in the epoch's one summed buffer) and sets `stopped`.
    after_epoch(epoch, model, stopping): called on every rank after each epoch's M-step (e.g. to write
    a checkpoint); `stopping` is true for the last epoch of a stopped fit.
    """

    def __init__(
        self,
        estep: EStep,
        comm: Comm | None = None,
        callback: Callback | None = None,
        stop_requested: Callable[[], bool] | None = None,
        after_epoch: Callable[[int, Any, bool], None] | None = None,
    ) -> None:
        self.estep = estep
        self.comm: Comm = comm if comm is not None else SerialComm()
        self.callback = callback
        self.stop_requested = stop_requested
        self.after_epoch = after_epoch
        self.stopped = False

    def fit(
        self, model: ModelT, Y: np.ndarray, states: Any, epochs: int, first_epoch: int = 0
    ) -> tuple[ModelT, list[EpochLog]]:
        """Runs `epochs` epochs (fewer if stopped) on the model's states (updated in place); returns
        (model, [EpochLog])."""
        history: list[EpochLog] = []
        for epoch in range(first_epoch, first_epoch + epochs):
            start = time.perf_counter()
            replaced = self.estep.update(model, Y, states, epoch)
            stop = self.stop_requested is not None and self.stop_requested()
            # One buffer per epoch: the model's statistics, then the patch, replaced-state and stop counts.
            counts = [float(Y.shape[0]), float(replaced), 1.0 if stop else 0.0]
            stats = model.accumulate(Y, states, self.estep.workspace.products(model, Y))
            total = self.comm.allreduce(np.concatenate([stats, counts]))
            stats, n_patches, total_replaced = total[:-3], float(total[-3]), int(total[-2])
            stopping = bool(total[-1] > 0)
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
            if self.after_epoch is not None:
                self.after_epoch(epoch, model, stopping)
            if stopping:
                self.stopped = True
                break
        return model, history
