"""Learning the model of the training patches: BSC pre-training for es3c, EM, checkpoints and resuming,
on one process or on the ranks of a `Comm` (each with its own block of the training patches)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from zeroshot.config import DenoiseConfig
from zeroshot.models import BSC, SSSC
from zeroshot.models.base import Model
from zeroshot.runtime.checkpoint import Checkpoint, config_record, load_checkpoint, save_checkpoint
from zeroshot.runtime.comm import Comm, block_range
from zeroshot.runtime.interrupt import TrainingInterrupted, stop_on_signals
from zeroshot.variational.em import Callback, EMTrainer, EpochLog
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates, initial_activation


@dataclass(frozen=True)
class CheckpointPlan:
    """Checkpoints of a run: written to `path` every `every` epochs, at the end of training and when
    stopped by a signal; `resume` continues from the one at `path`. input_hash: `image_hash` of the input."""

    path: Path
    every: int
    resume: bool
    input_hash: str


def train(
    config: DenoiseConfig,
    Y: np.ndarray,
    first_index: int,
    n_train: int,
    comm: Comm,
    callback: Callback | None = None,
    plan: CheckpointPlan | None = None,
) -> tuple[Model, TruncatedStates, list[EpochLog]]:
    """Trains on this rank's training patches Y (N, D), rows first_index.. of the n_train training
    patches of all ranks; returns (model, this rank's states, history of every epoch). Raises
    TrainingInterrupted after writing a checkpoint when a signal asked to stop."""
    pretrain = config.bsc_pretrain_epochs if config.model == "es3c" else 0
    total = pretrain + config.epochs
    history: list[EpochLog] = []
    if plan is not None and plan.resume:
        model, states, history = _restore(plan, config, Y.shape[0], first_index, n_train, comm)
    else:
        model = _initial_model(config, Y, comm, pretrain > 0)
        states = TruncatedStates.random(
            Y.shape[0],
            config.n_latents,
            config.n_states,
            initial_activation(config.n_latents),
            config.seed,
            first_index=first_index,
        )

    def record(log: EpochLog) -> None:
        history.append(log)
        if callback is not None:
            callback(log)

    def after_epoch(epoch: int, trained: Model, stopping: bool) -> None:
        done = epoch + 1
        if plan is not None and (stopping or done % plan.every == 0 or done == total):
            _save(plan, config, done, trained, states, history, n_train, comm)

    stop_signals: AbstractContextManager[Callable[[], bool]] = (
        stop_on_signals() if plan is not None else nullcontext(lambda: False)
    )
    with stop_signals as stop_requested:
        trainer = EMTrainer(
            EvoEStep(config.evo, seed=config.seed),
            comm=comm,
            callback=record,
            stop_requested=stop_requested,
            after_epoch=after_epoch,
        )
        for phase_end in (pretrain, total):
            if len(history) < phase_end:
                model, _ = trainer.fit(model, Y, states, phase_end - len(history), first_epoch=len(history))
                if trainer.stopped:
                    assert plan is not None  # only a checkpointed run listens for signals
                    raise TrainingInterrupted(len(history), total, plan.path)
            if isinstance(model, BSC) and config.model == "es3c":
                # BSC first (binary amplitudes are quicker to settle), then SSSC from it on the same states.
                model = SSSC.from_bsc(model)
    return model, states, history


def _initial_model(config: DenoiseConfig, Y: np.ndarray, comm: Comm, bsc_first: bool) -> Model:
    if config.model == "es3c" and not bsc_first:
        return SSSC.from_data(Y, config.n_latents, config.seed, shared_pi=config.shared_pi, comm=comm)
    return BSC.from_data(Y, config.n_latents, config.seed, shared_pi=config.shared_pi, comm=comm)


def _save(
    plan: CheckpointPlan,
    config: DenoiseConfig,
    epoch: int,
    model: Model,
    states: TruncatedStates,
    history: list[EpochLog],
    n_train: int,
    comm: Comm,
) -> None:
    """Rank 0 gathers the states of every rank and writes the checkpoint; a write error is raised on
    every rank (the others must not wait for a rank that gave up)."""
    if comm.rank != 0:
        comm.send_arrays({"K": states.K, "lpj": states.lpj}, 0)
        error = comm.bcast(None)
    else:
        K, lpj = states.K, states.lpj
        if comm.size > 1:
            parts = [comm.recv_arrays(source) for source in range(1, comm.size)]
            K = np.concatenate([K] + [part["K"] for part in parts])
            lpj = np.concatenate([lpj] + [part["lpj"] for part in parts])
        error = None
        try:
            if K.shape[0] != n_train:
                raise ValueError(f"the ranks hold {K.shape[0]} training patches, expected {n_train}")
            save_checkpoint(
                plan.path, Checkpoint(epoch, model, K, lpj, list(history), config_record(config), plan.input_hash)
            )
        except (OSError, ValueError) as problem:
            error = f"cannot write the checkpoint {plan.path}: {problem}"
        error = comm.bcast(error)
    if error is not None:
        raise OSError(error)


def _restore(
    plan: CheckpointPlan, config: DenoiseConfig, n_local: int, first_index: int, n_train: int, comm: Comm
) -> tuple[Model, TruncatedStates, list[EpochLog]]:
    """The model, this rank's block of the states and the history from the checkpoint, which rank 0
    reads and checks (the error, if any, is raised on every rank)."""
    checkpoint: Checkpoint | None = None
    shared: tuple[Model, list[EpochLog]] | None = None
    error = None
    if comm.rank == 0:
        try:
            checkpoint = load_checkpoint(plan.path, config, plan.input_hash)
            if checkpoint.K.shape[0] != n_train or checkpoint.K.shape[1] != config.n_states:
                raise ValueError(
                    f"{plan.path}: states of shape {checkpoint.K.shape} do not fit "
                    f"{n_train} training patches with {config.n_states} states each"
                )
        except ValueError as problem:
            error = str(problem)
    error = comm.bcast(error)
    if error is not None:
        raise ValueError(error)
    if comm.rank == 0:
        assert checkpoint is not None
        for dest in range(1, comm.size):
            lo, hi = block_range(n_train, dest, comm.size)
            comm.send_arrays({"K": checkpoint.K[lo:hi], "lpj": checkpoint.lpj[lo:hi]}, dest)
        lo, hi = first_index, first_index + n_local
        K, lpj = checkpoint.K[lo:hi].copy(), checkpoint.lpj[lo:hi].copy()
        shared = (checkpoint.model, checkpoint.history)
    else:
        arrays = comm.recv_arrays(0)
        K, lpj = arrays["K"], arrays["lpj"]
    received = comm.bcast(shared)
    assert received is not None
    model, history = received
    return model, TruncatedStates(K, lpj, config.n_latents, first_index), list(history)
