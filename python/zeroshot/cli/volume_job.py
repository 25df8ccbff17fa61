"""A volume (a tomogram, an MRC stack) through `zeroshot denoise` in bounded memory: its sections are read one at
a time from the file (`zeroshot.io.volume.open_volume`: nothing but the header before the run), denoised with one
model learned from sections spread over it (`zeroshot.denoise_volume`; or the --model-file's), and written as
they are finished into staged outputs (`zeroshot.io.volume_sink`) that replace the targets together with their
sidecars at the end. A 1024 x 1024 x 300 float32 tomogram then holds a few sections and the model in memory, not
the volume.

With --checkpoint the outputs are staged to be continued: Ctrl-C or SIGTERM stops after the current section (or
the current training epoch) and --resume continues where the run stopped, to the same files as an uninterrupted
run. Without it a stopped run leaves nothing.

A run streams when the command is denoise without --report, the input and outputs are MRC, .npy or TIFF files,
the input has more than one section, and one model serves all of them (not --per-slice, not --finetune); other
volumes are read whole and denoised frame by frame (`zeroshot.cli.jobs`)."""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.cli.files import beside, map_dtype, output_dtype
from zeroshot.cli.options import RunOptions
from zeroshot.cli.outputs import Outputs
from zeroshot.cli.progress import RunDisplay, sigma_text
from zeroshot.cli.sidecar import stage_pair
from zeroshot.io.atomic import StagedFile, replace_together
from zeroshot.io.formats import format_of
from zeroshot.io.mrc import MrcHeader
from zeroshot.io.volume import VolumeSource, open_volume
from zeroshot.io.volume_sink import VolumeSink, create_volume_output
from zeroshot.pipeline.slab import ContextChoice
from zeroshot.pipeline.trained import ModelMismatchWarning
from zeroshot.runtime.checkpoint import config_record
from zeroshot.runtime.comm import Comm
from zeroshot.runtime.interrupt import SlicesInterrupted, stop_on_signals
from zeroshot.version import package_version
from zeroshot.volume import SliceResult, context_choice, denoise_volume, training_slices

__all__ = ["VolumeJob", "open_streamed", "plan_volume_job", "run_volume_job"]

STREAMED_SUFFIXES = (".mrc", ".mrcs", ".npy", ".tif", ".tiff")


@dataclass(frozen=True)
class VolumeJob:
    """One volume input, opened (its header checked against the file), and the outputs of its run."""

    source: Path
    volume: VolumeSource
    outputs: Outputs


def open_streamed(source: Path, target: Path, options: RunOptions) -> VolumeSource | None:
    """The input opened for streaming when its run streams (see the module's docstring), else None."""
    if options.command != "denoise" or options.report is not None:
        return None
    if source.suffix.lower() not in STREAMED_SUFFIXES or target.suffix.lower() not in STREAMED_SUFFIXES:
        return None
    if options.trained is not None and options.finetune:
        return None
    if options.trained is None and options.per_slice:
        return None
    volume = open_volume(source)
    depth, rows, cols = volume.shape
    colour = cols in (3, 4) and min(depth, rows) > cols  # read whole, where it is refused as colour
    if depth < 2 or 1 in volume.shape or colour:
        volume.close()
        return None
    return volume


def plan_volume_job(source: Path, target: Path, volume: VolumeSource, options: RunOptions, min_side: int) -> VolumeJob:
    """The job of a streamed volume, its outputs checked (formats, dtypes, the values fitting them) before work."""
    depth, rows, cols = volume.shape
    if min(rows, cols) < min_side:
        raise ValueError(f"{source}: sections of shape {(rows, cols)} smaller than the patch size {min_side}")
    context = options.config.context  # --context, or a model file's
    if context > depth:
        raise ValueError(
            f"{source}: context = {context} spans {context} slices, but the stack has {depth} frames; give "
            f"--context {depth if depth % 2 else depth - 1} or less"
        )
    dtype = output_dtype(target, volume.dtype, options.keep_dtype, 3)
    variance = beside(target, "variance") if options.also_variance else None
    outputs = Outputs(
        image=target,
        dtype=dtype,
        variance=variance,
        variance_dtype=None if variance is None else map_dtype(variance, 3),
        checkpoints=() if options.checkpoint is None else (options.checkpoint,),
    )
    if volume.dtype.kind == "f":
        _check_values(source, volume, dtype)
    return VolumeJob(source, volume, outputs)


def _check_values(source: Path, volume: VolumeSource, dtype: np.dtype | None) -> None:
    """Float values read a slab at a time: NaN or Inf, and values beyond a narrower float output dtype, refused
    before the run."""
    peak = 0.0
    for z0, slab in volume.slabs(8):
        finite = np.isfinite(slab)
        if not finite.all():
            z, r, c = (int(i) for i in np.argwhere(~finite)[0])
            raise ValueError(f"{source}: the volume contains NaN or Inf (first at frame {z0 + z + 1}, pixel {(r, c)})")
        peak = max(peak, float(np.max(np.abs(slab))))
    if dtype is not None and dtype.kind == "f" and peak > float(np.finfo(dtype).max):
        raise ValueError(
            f"{source}: holds values up to {peak:g}, which do not fit in {dtype}; write float64 instead "
            "(--keep-dtype to .npy or .tif), or scale the volume down"
        )


def _resume_key(job: VolumeJob, options: RunOptions) -> str:
    """What a staged output may be continued under: the input file as it is, the settings and the model file."""
    stat = job.source.stat()
    facts = [
        str(job.source.resolve()),
        stat.st_size,
        stat.st_mtime_ns,
        config_record(options.config),
        options.moments,
        None if options.trained is None else options.trained.checksum,
    ]
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=repr).encode()).hexdigest()


def _header(volume: VolumeSource, target: Path, command: str) -> MrcHeader:
    made = f"zeroshot {package_version()} {command}"
    label = f"{made}; settings in {target.name}.json"
    return (volume.header or MrcHeader(space_group=1)).with_label(label if len(label) <= 80 else made)


def _sinks(job: VolumeJob, options: RunOptions) -> dict[str, VolumeSink]:
    """The staged outputs: resumable under --checkpoint (begun afresh unless --resume)."""
    volume, out = job.volume, job.outputs
    key = None if options.checkpoint is None else _resume_key(job, options)
    restart = not options.resume
    sinks = {}
    targets = [("denoised", out.image, out.dtype or np.dtype(np.float32), "denoise")]
    if out.variance is not None:
        targets.append(
            ("variance", out.variance, out.variance_dtype or np.dtype(np.float32), "enhance --kind variance")
        )
    try:
        for name, target, dtype, command in targets:
            sinks[name] = create_volume_output(
                target,
                volume.shape,
                dtype,
                voxel_size=volume.voxel_size,
                header=_header(volume, target, command),
                resume=None if key is None else f"{key}:{name}",
                restart=restart,
            )
    except BaseException:
        for sink in sinks.values():
            sink.close()
        raise
    return sinks


def run_volume_job(job: VolumeJob, options: RunOptions, comm: Comm, label: str = "") -> str | None:
    """Denoises the volume section by section (see the module's docstring); rank 0 writes. Returns the summary
    line on rank 0 (None on the others)."""
    volume, out = job.volume, job.outputs
    depth = volume.shape[0]
    loud = not options.quiet and comm.rank == 0
    chosen = training_slices(depth) if options.trained is None else []
    choice = stack_context(volume, options)
    if loud and choice.measured:
        print(f"{job.source}: {choice.reason}", file=sys.stderr)
    sinks = _sinks(job, options) if comm.rank == 0 else {}
    try:
        done = (
            [int(z) for z in np.flatnonzero(np.all([s.done_slices() for s in sinks.values()], axis=0))] if sinks else []
        )
        skip = comm.bcast(done)
        if loud:
            if label:
                print(f"{label}: one model for its {depth} frames, read and written one at a time", file=sys.stderr)
            if skip:
                print(f"{job.source}: {len(skip)} of {depth} frames done by the stopped run", file=sys.stderr)
        display = None
        if loud:
            note = (
                ""
                if options.trained is not None
                else f" (decided on frame {chosen[0] + 1}; one model for all {depth} frames)"
            )
            display = RunDisplay(sys.stderr, verbose=options.verbose, note=note)
        sigmas, context = _denoise(job, options, comm, sinks, skip, display, choice.context)
        if comm.rank != 0:
            return None
        chosen = training_slices(depth, context=context) if options.trained is None else []
        staged = _stage(job, options, sinks, sigmas, chosen, comm, context)
    except BaseException:
        for sink in sinks.values():
            sink.close()  # a resumable sink keeps what is done, another is removed
        raise
    replace_together(staged)
    extra = f", variance -> {out.variance}" if out.variance is not None else ""
    whose = "learned noise sigma" if options.trained is None else "the model's noise sigma"
    return (
        f"{job.source} -> {out.image}{extra}: {whose} {sigma_text(sigmas[0])} (one model for the {depth} frames); "
        f"pixel size {volume.pixel_size or 'unknown'}{_spacing_text(volume)}"
    )


def stack_context(volume: Any, options: RunOptions) -> ContextChoice:
    """The context of the run of a stack or volume (anything with `len` and `volume[z]`; 3-D context,
    `zeroshot.pipeline.slab`): `zeroshot.volume.context_choice` of the model file's, --context as given, 1 with
    --per-slice, or else measured on its frames (`ContextChoice.measured`: then its reason is worth saying)."""
    asked = options.config.context if "context" in options.overrides else "auto"
    config = None if options.trained is not None else options.config
    slices = training_slices(len(volume))
    return context_choice(volume, asked, options.trained, config, slices, options.per_slice)


def _spacing_text(volume: VolumeSource) -> str:
    size = volume.voxel_size
    return "" if size is None or size.z is None else f", section spacing {size.z / 10:g} nm"


@contextmanager
def _mismatch_said_once(source: Path, comm: Comm) -> Iterator[None]:
    """A model file's `ModelMismatchWarning` said once, on rank 0, as the command line says warnings (also with
    -q: the result may be poor), with how many frames it was given for at the end."""
    frames = 0

    def show(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        nonlocal frames
        frames += 1
        if frames == 1 and comm.rank == 0:
            print(f"zeroshot: warning: {source}: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always", ModelMismatchWarning)
        warnings.showwarning = show
        yield
    if frames > 1 and comm.rank == 0:
        print(f"zeroshot: warning: {source}: {frames} frames are that far from the model", file=sys.stderr)


def _denoise(
    job: VolumeJob,
    options: RunOptions,
    comm: Comm,
    sinks: dict[str, VolumeSink],
    skip: list[int],
    display: RunDisplay | None,
    context: int | str = "auto",
) -> tuple[list[float], int]:
    """The sections not done, denoised and written (rank 0), with patches of `context` slices (denoise_volume's);
    (their noise sigmas, the context the patches spanned). Ctrl-C or SIGTERM in one process stops after the current
    section."""
    depth = job.volume.shape[0]
    sigmas: list[float] = []
    resumable = options.checkpoint is not None
    with stop_on_signals() as stop:

        def write(z: int, result: SliceResult) -> None:
            sinks["denoised"].write(z, result.denoised)
            if "variance" in sinks and result.variance is not None:
                sinks["variance"].write(z, result.variance)
            sigmas.append(result.noise_sigma)
            if stop() and comm.size == 1:
                stop.consume()
                kept = (
                    f"the finished ones are kept: continue with --resume --checkpoint {options.checkpoint}"
                    if resumable
                    else "nothing is kept (give --checkpoint to keep them for --resume)"
                )
                raise SlicesInterrupted(len(skip) + len(sigmas), depth, kept)

        how: dict[str, Any] = {"model": options.trained} if options.trained is not None else {"config": options.config}
        if options.trained is not None and options.overrides:
            how.update(options.overrides)
        how["context"] = context
        checkpoint: dict[str, Any] = {}
        if options.trained is None and options.checkpoint is not None:
            checkpoint = {
                "checkpoint": options.checkpoint,
                "checkpoint_every": options.checkpoint_every,
                "resume": options.resume and options.checkpoint.exists(),
            }
        try:
            with _mismatch_said_once(job.source, comm):
                result = denoise_volume(
                    job.volume,
                    moments=options.moments,
                    threads=options.threads,
                    comm=comm,
                    progress=display,
                    on_slice=write,
                    skip=skip,
                    max_memory=options.max_memory,
                    **checkpoint,
                    **how,
                )
        except (OverflowError, FloatingPointError) as error:
            raise ValueError(
                f"{job.source}: values too large to compute with ({type(error).__name__}: {error}); scale the "
                "volume down"
            ) from None
    return sigmas or [float("nan")], result.context


def _stage(
    job: VolumeJob,
    options: RunOptions,
    sinks: dict[str, VolumeSink],
    sigmas: list[float],
    chosen: list[int],
    comm: Comm,
    context: int = 1,
) -> list[StagedFile]:
    """Every output and its sidecar staged (all or none)."""
    volume = job.volume
    volume_record: dict[str, Any] = {"one_model": True, "trained_on_frames": [z + 1 for z in chosen], "streamed": True}
    if context > 1:
        volume_record["context"] = context
    record = {
        "settings": {**asdict(options.config), "context": context, "threads": options.threads, "mpi_ranks": comm.size},
        "model_file": None if options.model_file is None else str(options.model_file.resolve()),
        "volume": volume_record,
        "results": {"noise_sigma": sigmas[0]},
    }
    staged: list[StagedFile] = []
    try:
        for name, sink in sinks.items():
            target = sink.target
            files = {
                "command": "denoise" if name == "denoised" else "enhance --kind variance",
                "input": {
                    "path": str(job.source.resolve()),
                    "format": format_of(job.source).name,
                    "shape": list(volume.shape),
                    "dtype": str(volume.dtype),
                },
                "output": {
                    "path": str(target.resolve()),
                    "format": format_of(target).name,
                    "shape": list(volume.shape),
                    "dtype": str(sink.dtype),
                },
                "voxel_size": None if volume.voxel_size is None else volume.voxel_size.to_json(),
            }
            staged += stage_pair(target, sink.finish, {**files, **record})
    except BaseException:
        for item in staged:
            item.discard()
        raise
    return staged
