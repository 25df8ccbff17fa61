"""Learning the model of the training patches: BSC pre-training for es3c, EM, checkpoints and resuming,
on one process or on the ranks of a `Comm` (each with its own block of the training patches)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

import numpy as np

from zeroshot.config import DenoiseConfig
from zeroshot.models import BSC, SSSC
from zeroshot.models.base import Model
from zeroshot.models.pmm import PMM
from zeroshot.pipeline.run import CheckpointPlan
from zeroshot.runtime.checkpoint import Checkpoint, config_record, load_checkpoint, save_checkpoint
from zeroshot.runtime.comm import Comm, any_rank, block_range
from zeroshot.runtime.interrupt import StopRequest, TrainingInterrupted, stop_on_signals
from zeroshot.variational.components import ComponentStates
from zeroshot.variational.em import Callback, EMTrainer, EpochLog
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates, initial_activation
from zeroshot.variational.topk import TopKEStep


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
    run: Learning, Y: np.ndarray, callback: Callback | None = None, start: Model | PMM | None = None
) -> tuple[Model | PMM, TruncatedStates | ComponentStates, list[EpochLog]]:
    """Trains on this rank's training patches Y (N, D), its block of the run's training patches; returns
    (model, this rank's states, history of every epoch). start: the parameters to start from (fine-tuning a
    trained model: no BSC pre-training then), else the model is initialised from the data. Raises
    TrainingInterrupted after writing a checkpoint when a signal asked to stop."""
    config, comm, plan, n_train = run.config, run.comm, run.checkpoint, run.n_train
    first_index = run.block[0]
    pretrain = config.bsc_pretrain_epochs if config.model == "es3c" and start is None else 0
    total = pretrain + config.epochs
    history: list[EpochLog] = []
    model: Model | PMM
    states: TruncatedStates | ComponentStates
    if plan is not None and plan.resume:
        model, states, history = _restore(plan, config, Y.shape[0], first_index, n_train, comm)
    elif start is not None:
        model = start
        states = _fresh_states(config, Y.shape[0], first_index)
    elif config.model == "pmm":  # k-means++ start; the first E-step fills the states
        model = PMM.from_data(Y, config.n_latents, config.seed, comm=comm)
        states = _fresh_states(config, Y.shape[0], first_index)
    else:
        model = _initial_model(config, Y, comm, pretrain > 0)
        states = _fresh_states(config, Y.shape[0], first_index)

    def record(log: EpochLog) -> None:
        history.append(log)
        if callback is not None:
            callback(log)

    def after_epoch(epoch: int, trained: Model | PMM, stopping: bool) -> None:
        done = epoch + 1
        if plan is not None and (stopping or done % plan.every == 0 or done == total):
            _save(plan, config, done, trained, states, history, n_train, comm)

    stop_signals: AbstractContextManager[StopRequest] = (
        stop_on_signals() if plan is not None else nullcontext(StopRequest())
    )
    with stop_signals as stop_requested:
        trainer = EMTrainer(
            TopKEStep() if config.model == "pmm" else EvoEStep(config.evo, seed=config.seed),
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
            if isinstance(model, BSC) and config.model == "es3c":
                # BSC first (binary amplitudes are quicker to settle), then SSSC from it on the same states.
                model = SSSC.from_bsc(model)
        # A signal after the last epoch's check (statistics, M-step, callback, final checkpoint) still
        # stops the run here, before inference; the final checkpoint holds the whole training.
        if plan is not None and any_rank(comm, stop_requested()):
            raise _interrupted(stop_requested, len(history), total, plan)
    return model, states, history


def _fresh_states(config: DenoiseConfig, n: int, first_index: int) -> TruncatedStates | ComponentStates:
    """The states training starts from: none yet for the PMM (its first E-step fills them), random ones
    otherwise."""
    if config.model == "pmm":
        return ComponentStates.empty(n, config.n_latents, config.n_states, first_index=first_index)
    return TruncatedStates.random(
        n, config.n_latents, config.n_states, initial_activation(config.n_latents), config.seed, first_index=first_index
    )


def _interrupted(request: StopRequest, epoch: int, total: int, plan: CheckpointPlan | None) -> TrainingInterrupted:
    if plan is None:
        raise RuntimeError("training stopped on a signal without a checkpoint to resume from")
    request.consume()
    return TrainingInterrupted(epoch, total, plan.path)


def _initial_model(config: DenoiseConfig, Y: np.ndarray, comm: Comm, bsc_first: bool) -> Model:
    if config.model == "es3c" and not bsc_first:
        return SSSC.from_data(Y, config.n_latents, config.seed, shared_pi=config.shared_pi, comm=comm)
    return BSC.from_data(Y, config.n_latents, config.seed, shared_pi=config.shared_pi, comm=comm)


def _save(
    plan: CheckpointPlan,
    config: DenoiseConfig,
    epoch: int,
    model: Model | PMM,
    states: TruncatedStates | ComponentStates,
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
) -> tuple[Model | PMM, TruncatedStates | ComponentStates, list[EpochLog]]:
    """The model, this rank's block of the states and the history from the checkpoint, which rank 0
    reads and checks (the error, if any, is raised on every rank)."""
    checkpoint: Checkpoint | None = None
    shared: tuple[Model | PMM, list[EpochLog]] | None = None
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
    if config.model == "pmm":
        return model, ComponentStates(K, lpj, config.n_latents, first_index), list(history)
    return model, TruncatedStates(K, lpj, config.n_latents, first_index), list(history)
