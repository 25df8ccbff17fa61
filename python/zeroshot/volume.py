"""Volumes and stacks as one job: a tomogram (Z, R, C), an MRC stack or a series of micrographs of one specimen.

By default one model is learned for the whole volume, from the patches of up to `train_slices` slices spread
evenly over it (the middle one first: it decides the noise model, which the end slices of a reconstructed
tomogram, often masked or empty, would not; `max_train_patches` bounds the patches of all of them), and then
applied to every slice (E-steps at the model's parameters, the Wiener pass for correlated noise: what
`zeroshot.denoise(slice, model=...)` does). Inside one volume the content is shared, so one model serves every
slice, and learning it once instead of once per slice is what makes a volume fast: inference is a fraction of
training. `per_slice=True` learns a model per slice instead (the noise model decided once, on the first slice).

Slices are read one at a time (`volume[z]`), so a memory-mapped array (`np.load(path, mmap_mode="r")`, an
mrcfile memory map) is never read whole; `on_slice(z, result)` takes each slice's result as it is finished (to
write it and let it go); without it the results are collected into arrays.

3-D context (`context=d`, a DenoiseConfig field; d odd, default 1): every patch spans the slices z - d//2 ..
z + d//2 around slice z, mirrored at the volume's ends (`zeroshot.pipeline.slab`); the model is learned from the
slabs around the training slices (chosen among the slices whose slab lies inside the volume) and each slice is
denoised from its slab, the centre slice's posterior moments written back. Correlated noise is then whitened by a
noise covariance that spans z too. A volume needs at least d slices.

`denoise_slices` is the loop over a volume's slices that every front end runs (`denoise_volume`, the command
line's stacks read whole, the napari widget's): the model (learned once for the volume, given, or one per slice),
the slabs, and hooks for what each front end adds (progress, checkpoints, error messages naming the slice).

MPI: every rank learns the same model (the training is repeated, with one process's arithmetic: the volume is
then bitwise the same at any rank count), then the ranks share the slices, each denoising every size-th one,
and send them to rank 0, which alone calls `on_slice` (or holds the arrays), in slice order.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from zeroshot.config import DenoiseConfig, integer_at_least, resolve_config
from zeroshot.denoise import DenoiseResult, denoise, later_frames_config, model_noise_spectrum
from zeroshot.pipeline.env import RunEnv
from zeroshot.pipeline.progress import RunProgress, Step
from zeroshot.pipeline.slab import ContextChoice, choose_context, slab_indices, slab_of
from zeroshot.pipeline.trained import TrainedModel
from zeroshot.runtime.comm import Comm, SerialComm
from zeroshot.runtime.memory_check import MaxMemory
from zeroshot.train import train
from zeroshot.variational.em import Callback

__all__ = [
    "TRAIN_SLICES",
    "RunHooks",
    "SliceHooks",
    "SliceRuns",
    "VolumeResult",
    "denoise_slices",
    "denoise_volume",
    "training_slices",
]

# Slices a volume's model is learned from: enough to hold its variety of content, few enough that their float64
# copies stay small (8 slices of 1024 x 1024: 64 MiB).
TRAIN_SLICES = 8


@dataclass(frozen=True)
class SliceResult:
    """One slice's result: denoised (R, C) float64 on the input's value scale, variance (R, C) (moments >= 2;
    else None), noise_sigma (as `DenoiseResult.noise_sigma`)."""

    denoised: np.ndarray
    variance: np.ndarray | None
    noise_sigma: float

    @classmethod
    def of(cls, result: DenoiseResult) -> SliceResult:
        return cls(result.denoised, result.variance, result.noise_sigma)

    def arrays(self) -> dict[str, np.ndarray]:
        """For sending to another rank (`from_arrays` reads them back)."""
        arrays = {"denoised": self.denoised, "noise_sigma": np.array([self.noise_sigma])}
        return arrays if self.variance is None else {**arrays, "variance": self.variance}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> SliceResult:
        return cls(arrays["denoised"], arrays.get("variance"), float(arrays["noise_sigma"][0]))


SliceHandler = Callable[[int, SliceResult], None]


@dataclass(frozen=True)
class VolumeResult:
    """denoised (Z, R, C) and variance (when moments >= 2) in float32, or float64 for a float64 or 32-bit
    integer volume (None where `on_slice` took the slices, and on ranks other than 0); model: the volume's
    model (None with per_slice); noise_sigma: per slice, the learned noise level on the input's scale (as
    `DenoiseResult.noise_sigma`: the volume model's for every slice); trained_on: the slices the model was
    learned from (empty with per_slice); context: the slices a patch spanned (3-D context), context_choice: why
    (`choose_context` for "auto")."""

    denoised: np.ndarray | None
    variance: np.ndarray | None
    model: TrainedModel | None
    noise_sigma: tuple[float, ...]
    trained_on: tuple[int, ...]
    context: int = 1
    context_choice: str = ""


def training_slices(n: int, count: int = TRAIN_SLICES, first: int | None = None, context: int = 1) -> list[int]:
    """`count` of the slices 0..n-1 (all when n <= count), each in the middle of one of `count` equal parts of the
    volume (its ends, often masked or empty, are left out), `first` (default: the middle slice) in place of the
    nearest, and first: it decides the noise model. context d > 1 (3-D context): of the slices whose slab of d
    lies inside the volume (d // 2 .. n - 1 - d // 2), so that no training slab is mirrored."""
    if context > 1:
        h = context // 2
        if n - 2 * h < 1:
            raise ValueError(f"context = {context} spans {context} slices, but the volume has {n}")
        inner = training_slices(n - 2 * h, count, None if first is None else first - h)
        return [z + h for z in inner]
    first = n // 2 if first is None else first
    if count >= n:
        chosen = list(range(n))
    else:
        chosen = [int((k + 0.5) * n / count) for k in range(count)]
        chosen[min(range(count), key=lambda k: abs(chosen[k] - first))] = first
    return [first, *(z for z in chosen if z != first)]


def _check_volume(volume: Any) -> tuple[int, int, int]:
    shape = tuple(getattr(volume, "shape", ()))
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"a volume must be a 3-D array (slices, rows, cols), got shape {shape}")
    dtype = np.dtype(getattr(volume, "dtype", np.float64))
    if dtype.kind not in "biuf":
        raise ValueError(f"a volume must hold real numbers, got dtype {dtype}")
    return int(shape[0]), int(shape[1]), int(shape[2])


@dataclass(frozen=True)
class RunHooks:
    """What a front end adds to one run of `denoise_slices` (a slice's `denoise`, or the `train` of the volume's
    model): progress and callback as for `zeroshot.denoise`; checkpoint and resume, of the training (per slice: of
    the slice's own); errors: a context around the run, to name the slice in its error messages."""

    progress: RunProgress | None = None
    callback: Callback | None = None
    checkpoint: str | os.PathLike[str] | None = None
    resume: bool = False
    errors: AbstractContextManager[object] = field(default_factory=nullcontext)


class SliceHooks:
    """What a front end adds to the loop of `denoise_slices`: these add nothing, override those wanted."""

    def name(self, z: int) -> str:
        """Slice z in the error messages of the training of the volume's model."""
        return f"slice {z}"

    def training(self, slices: Sequence[int]) -> RunHooks:
        """Said before the volume's model is learned from `slices` (the first decides the noise model)."""
        return RunHooks()

    def starting(self, z: int, decided: str | None) -> RunHooks:
        """Said before slice z is denoised. decided: per slice, on the slices after the first, the kind of noise
        decided on the first and asked of this one (else None)."""
        return RunHooks()


@dataclass(frozen=True)
class SliceRuns:
    """model: the slices' model (given, or the volume's own, learned before any slice; None per slice); results:
    (z, slice z's `DenoiseResult`) as each is done, in the order asked."""

    model: TrainedModel | None
    results: Iterator[tuple[int, DenoiseResult]]

    def __iter__(self) -> Iterator[tuple[int, DenoiseResult]]:
        return self.results


def denoise_slices(
    volume: Any,
    order: Sequence[int],
    model: DenoiseConfig | TrainedModel,
    *,
    learn_from: Sequence[int] = (),
    inference: Mapping[str, Any] | None = None,
    moments: int = 1,
    env: RunEnv | None = None,
    hooks: SliceHooks | None = None,
) -> SliceRuns:
    """The runs of slices `order` of `volume` (anything with `len` and `volume[z]`; read a slab at a time), in that
    order, each from its slab of the context's slices (`slab_of`). model: a `TrainedModel`, which denoises every
    slice (`inference`: its options, as for `zeroshot.denoise`), or a configuration: one model learned from the
    slabs around `learn_from` (now, before any slice; the first decides the noise model), its noise the volume's by
    construction (its slices are not compared with it: no `ModelMismatchWarning`; the Wiener pass of every slice
    filters with the noise spectrum of the first of `learn_from`), or with `learn_from` empty a
    model per slice, the noise model decided on the first slice run (`later_frames_config`). moments as for
    `zeroshot.denoise`; env: of every run (each rank runs every slice asked of it), but its checkpoint and resume,
    which are each run's hooks'; hooks: what a front end adds."""
    env = env if env is not None else RunEnv()
    hooks = hooks if hooks is not None else SliceHooks()
    asked = model if isinstance(model, DenoiseConfig) else None
    trained = model if isinstance(model, TrainedModel) else None
    context = model.context if isinstance(model, DenoiseConfig) else model.config.context
    own = asked is not None and len(learn_from) > 0

    def keywords(run: RunHooks) -> dict[str, Any]:
        watched = replace(env, checkpoint=run.checkpoint, resume=run.resume)
        return {"progress": run.progress, "callback": run.callback, **watched.keywords()}

    wiener_noise = None
    if own:
        run = hooks.training(learn_from)
        with run.errors:
            slabs = [slab_of(volume, z, context) for z in learn_from]
            trained = train(slabs, config=asked, names=[hooks.name(z) for z in learn_from], **keywords(run))
            # the noise spectrum of the Wiener pass of every slice: the volume's noise, from its middle slice
            wiener_noise = model_noise_spectrum(slabs[0], trained)
            del slabs

    def results() -> Iterator[tuple[int, DenoiseResult]]:
        config = asked  # per slice: after the first, another one once the noise is decided on it
        for z in order:
            run = hooks.starting(z, config.noise if config is not None and config is not asked else None)
            with run.errors:
                image = slab_of(volume, z, context)
                if trained is None:
                    assert config is not None
                    result = denoise(image, config=config, moments=moments, **keywords(run))
                    config = later_frames_config(config, result)
                else:  # a model learned from this volume needs no comparison with its slices: their noise is its own
                    result = denoise(
                        image,
                        model=trained,
                        moments=moments,
                        compare_to_model=not own,
                        wiener_noise=wiener_noise,
                        **keywords(run),
                        **(inference or {}),
                    )
            yield z, result

    return SliceRuns(trained, results())


class _SliceSteps:
    """Tells `progress` of each slice done (stage "slices"), counting from the slices an earlier run did."""

    def __init__(self, progress: RunProgress | None, total: int, done: int = 0) -> None:
        self.progress, self.total, self.done = progress, total, done

    def slice_done(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress.step(Step("slices", self.done, self.total, "slice"))


def denoise_volume(
    volume: Any,
    *,
    model: str | TrainedModel | None = None,
    per_slice: bool = False,
    context: int | str = "auto",
    train_slices: int = TRAIN_SLICES,
    moments: int = 1,
    config: DenoiseConfig | None = None,
    threads: int | None = None,
    comm: Comm | None = None,
    progress: RunProgress | None = None,
    on_slice: SliceHandler | None = None,
    skip: Sequence[int] = (),
    max_memory: MaxMemory = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 10,
    resume: bool = False,
    **options: Any,
) -> VolumeResult:
    """Denoise a volume (Z, R, C) as one job (see the module's docstring).

    volume: a 3-D array of any real dtype, or anything with `shape`, `dtype` and `volume[z]` (a memory map).
    model: a model name (the DenoiseConfig field) or a `TrainedModel` (then nothing is learned: every slice is
    denoised with it, the options being those of its inference: merge, n_states, seed, ...). per_slice: a model
    learned per slice instead. context: the slices d a patch spans (3-D context, `zeroshot.pipeline.slab`; odd),
    or "auto" (default): 3 where neighbouring slices share their structure, else 1 (`choose_context`; 1 with
    per_slice; a config whose context is above 1 keeps it; a model brings its own). train_slices: how many slices
    the volume's model is learned from. moments, threads, max_memory and the options (DenoiseConfig fields) as for
    `zeroshot.denoise`; comm: see the module's docstring. progress: told of the noise model and the training epochs
    of the volume's model, then of every slice (stage "slices"). on_slice(z, result): each slice's result, in
    slice order, on rank 0 (the arrays are then not collected). skip: slices not to denoise (done by an earlier run
    that was stopped; resuming with the same options gives the same results for the others). checkpoint,
    checkpoint_every, resume: of the training of the volume's model, as for `zeroshot.train` (per_slice or a
    trained model: not taken)."""
    Z, R, C = _check_volume(volume)
    comm = comm if comm is not None else SerialComm()
    train_slices = integer_at_least("train_slices", train_slices, minimum=1)
    skipped = set(skip)
    trained = model if isinstance(model, TrainedModel) else None
    if trained is None and model is not None:
        options["model"] = model
    # With a trained model the options are its inference's (TrainedModel.config_for checks them).
    inference = options if trained is not None else {}
    cfg = None if trained is not None else resolve_config(config, dict(options))
    choice = context_choice(volume, context, trained, cfg, training_slices(Z, train_slices), per_slice)
    context = choice.context
    slab_indices(Z // 2, Z, context)  # a volume of fewer slices than the context: refused before any work
    given = trained if trained is not None else cfg
    assert given is not None
    if isinstance(given, DenoiseConfig):
        given = replace(given, context=context)
    if checkpoint is not None and (per_slice or trained is not None):
        raise ValueError("checkpoint= checkpoints the training of a volume's model: not with per_slice or a model")
    own_model = trained is None and not per_slice
    chosen = training_slices(Z, train_slices, context=context) if own_model else []
    todo = [z for z in range(Z) if z not in skipped]
    # per slice, the noise model is decided on the first: every rank runs it (and ends on the same kind)
    first = todo[:1] if trained is None and per_slice and comm.size > 1 else []
    shared = todo[len(first) :]
    runs = denoise_slices(
        volume,
        first + shared[comm.rank :: comm.size],
        given,
        learn_from=chosen,
        inference=inference,
        moments=moments,
        # each run in one process, the ranks sharing the slices: see the module's docstring
        env=RunEnv(threads=threads, max_memory=max_memory, checkpoint_every=checkpoint_every),
        hooks=_VolumeHooks(RunHooks(progress, checkpoint=checkpoint, resume=resume)),
    )
    steps = _SliceSteps(progress if comm.rank == 0 else None, Z, Z - len(todo))
    out_dtype = np.result_type(np.dtype(volume.dtype), np.float32)
    collect = on_slice is None and comm.rank == 0
    denoised = np.zeros((Z, R, C), out_dtype) if collect else None
    variance = np.zeros((Z, R, C), out_dtype) if collect and moments >= 2 else None
    sigmas: list[float] = []

    def handle(z: int, result: SliceResult) -> None:
        sigmas.append(result.noise_sigma)
        if denoised is not None:
            denoised[z] = result.denoised
        if variance is not None and result.variance is not None:
            variance[z] = result.variance
        if on_slice is not None:
            on_slice(z, result)
        steps.slice_done()

    def next_slice() -> SliceResult:
        return SliceResult.of(next(runs.results)[1])

    for z in first:
        result = next_slice()
        if comm.rank == 0:
            handle(z, result)
    for position, z in enumerate(shared):
        owner = position % comm.size
        if owner == comm.rank:
            result = next_slice()
            if comm.rank == 0:
                handle(z, result)
            else:
                comm.send_arrays(result.arrays(), 0)
        elif comm.rank == 0:
            handle(z, SliceResult.from_arrays(comm.recv_arrays(owner)))
    return VolumeResult(
        denoised=denoised,
        variance=variance,
        model=None if per_slice else runs.model,
        noise_sigma=tuple(sigmas),
        trained_on=tuple(chosen),
        context=context,
        context_choice=choice.reason,
    )


class _VolumeHooks(SliceHooks):
    def __init__(self, training: RunHooks) -> None:
        self._training = training

    def training(self, slices: Sequence[int]) -> RunHooks:
        return self._training


def context_choice(
    volume: Any,
    context: int | str,
    trained: TrainedModel | None,
    cfg: DenoiseConfig | None,
    slices: list[int],
    per_slice: bool,
) -> ContextChoice:
    """The context of a volume's run: a trained model's (another one asked for is refused), the one asked for, a
    config's above 1, or for "auto" `choose_context`'s (1 per slice: each slice then learns as an image)."""
    asked: int | None = None
    if isinstance(context, (int, np.integer)) and not isinstance(context, bool):
        asked = int(context)
    elif context != "auto":
        raise ValueError(f"context must be 'auto' or an odd number of slices (1, 3, 5, ...), got {context!r}")
    if trained is not None:
        own = trained.config.context
        if asked not in (None, own):
            raise ValueError(
                f"the model was learned with context = {own} (patches of {own} slices), but context = {asked} was "
                "asked; leave context out, or learn another model"
            )
        return ContextChoice(own, math.nan, f"context {own}: the model's")
    assert cfg is not None
    if asked is not None:
        replace(cfg, context=asked)  # validated as a DenoiseConfig field
        return ContextChoice(asked, math.nan, f"context {asked}: as asked")
    if cfg.context > 1:
        return ContextChoice(cfg.context, math.nan, f"context {cfg.context}: the configuration's")
    if per_slice:
        return ContextChoice(1, math.nan, "context 1: a model per slice, each slice learned as an image")
    return choose_context(volume, slices)
