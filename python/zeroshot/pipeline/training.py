"""Learning the model of the training patches: the family's start (and pretraining: BSC for es3c), EM,
checkpoints and resuming, on one process or on the ranks of a `Comm` (each with its own block of the training
patches)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

import numpy as np

from zeroshot.config import DenoiseConfig
from zeroshot.models.base import PatchModel
from zeroshot.pipeline.env import CheckpointPlan
from zeroshot.runtime.checkpoint import Checkpoint, config_record, load_checkpoint, save_checkpoint
from zeroshot.runtime.comm import Comm, any_rank, block_range
from zeroshot.runtime.interrupt import StopRequest, TrainingInterrupted, stop_on_signals
from zeroshot.variational.em import Callback, EMTrainer, EpochLog
from zeroshot.variational.states import States


class Learning(Protocol):
    """What training reads of a run: the configuration, the ranks, the checkpoints, the number of training
    patches of all ranks and this rank's block of them (a `Run` of one image, a `TrainingSet` of several)."""

    @property
    def config(self) -> DenoiseConfig: ...

    @property
    def comm(self) -> Comm: ...

    @property
    def checkpoint(self) -> CheckpointPlan | None: ...

    @property
    def n_train(self) -> int: ...

    @property
    def block(self) -> tuple[int, int]: ...


def train(
    run: Learning, Y: np.ndarray, callback: Callback | None = None, start: PatchModel | None = None
) -> tuple[PatchModel, States, list[EpochLog]]:
    """Trains on this rank's training patches Y (N, D), its block of the run's training patches; returns
    (model, this rank's states, history of every epoch). start: the parameters to start from (fine-tuning a
    trained model: no pretraining then), else the family's start from the data. Raises TrainingInterrupted after
    writing a checkpoint when a signal asked to stop."""
    config, comm, plan, n_train = run.config, run.comm, run.checkpoint, run.n_train
    family, first_index = config.family, run.block[0]
    pretrain = family.pretrain_epochs(config) if start is None else 0
    total = pretrain + config.epochs
    history: list[EpochLog] = []
    model: PatchModel
    states: States
    if plan is not None and plan.resume:
        model, states, history = _restore(plan, config, Y.shape[0], first_index, n_train, comm)
    else:
        model = start if start is not None else family.starting_family(config).initial(Y, config, comm)
        states = family.states.fresh(Y.shape[0], config.n_latents, config.n_states, config.seed, first_index)

    def record(log: EpochLog) -> None:
        history.append(log)
        if callback is not None:
            callback(log)

    def after_epoch(epoch: int, trained: PatchModel, stopping: bool) -> None:
        done = epoch + 1
        if plan is not None and (stopping or done % plan.every == 0 or done == total):
            _save(plan, config, done, trained, states, history, n_train, comm)

    stop_signals: AbstractContextManager[StopRequest] = (
        stop_on_signals() if plan is not None else nullcontext(StopRequest())
    )
    with stop_signals as stop_requested:
        trainer = EMTrainer(
            family.e_step(config.evo, config.seed),
            comm=comm,
            callback=record,
            stop_requested=stop_requested,
            after_epoch=after_epoch,
        )
        for phase_end in (pretrain, total):
            if len(history) < phase_end:
                model, _ = trainer.fit(model, Y, states, phase_end - len(history), first_epoch=len(history))
                if trainer.stopped:
                    raise _interrupted(stop_requested, len(history), total, plan)
            model = family.adopt(model)  # the pretraining's model continues as this family's
        # A signal after the last epoch's check (statistics, M-step, callback, final checkpoint) still
        # stops the run here, before inference; the final checkpoint holds the whole training.
        if plan is not None and any_rank(comm, stop_requested()):
            raise _interrupted(stop_requested, len(history), total, plan)
    return model, states, history


def _interrupted(request: StopRequest, epoch: int, total: int, plan: CheckpointPlan | None) -> TrainingInterrupted:
    if plan is None:
        raise RuntimeError("training stopped on a signal without a checkpoint to resume from")
    request.consume()
    return TrainingInterrupted(epoch, total, plan.path)


def _save(
    plan: CheckpointPlan,
    config: DenoiseConfig,
    epoch: int,
    model: PatchModel,
    states: States,
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
) -> tuple[PatchModel, States, list[EpochLog]]:
    """The model, this rank's block of the states and the history from the checkpoint, which rank 0
    reads and checks (the error, if any, is raised on every rank)."""
    checkpoint: Checkpoint | None = None
    shared: tuple[PatchModel, list[EpochLog]] | None = None
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
    return model, config.family.states(K, lpj, config.n_latents, first_index), list(history)
