"""The jobs of `zeroshot denoise` and `zeroshot enhance`: one per input file.

`plan_jobs` reads every input once (refusing a file whose header declares more than the memory allows
before decoding it), decides every file the run writes (`Outputs`) and checks them all before any work:
formats and dtypes, values that would not fit the output dtype, rendering settings against the image
size, no two outputs the same and none an input, writable folders. Only then is the output folder made.
`run_job` then learns the model of each frame, writes the outputs with their sidecars and the report,
and prints a summary line; both subcommands run through it.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.cli.budget import InputBudget
from zeroshot.cli.errors import agreed
from zeroshot.cli.files import (
    Written,
    beside,
    check_distinct,
    check_folder,
    check_writable_format,
    join_frames,
    map_dtype,
    output_dtype,
    output_targets,
    per_frame,
    stage_result,
)
from zeroshot.cli.options import RunOptions
from zeroshot.cli.outputs import Outputs
from zeroshot.cli.progress import RunDisplay, sigma_text
from zeroshot.cli.report import stage_report
from zeroshot.cli.volume_job import VolumeJob, open_streamed, plan_volume_job, run_volume_job, stack_context
from zeroshot.config import DenoiseConfig
from zeroshot.denoise import DenoiseResult, check_threads
from zeroshot.enhance import RenderSettings, render_kind
from zeroshot.errors import errors_named
from zeroshot.extras import install_hint
from zeroshot.io import EMImage, read_em
from zeroshot.io.atomic import StagedFile, replace_together
from zeroshot.maps.render import to_uint8
from zeroshot.noise.statistics import NoiseACF, estimate_noise_acf
from zeroshot.patches.slab import centre_block
from zeroshot.pipeline.env import RunEnv
from zeroshot.pipeline.progress import Step
from zeroshot.pipeline.scaling import check_moments_fit
from zeroshot.pipeline.slab import context_error, z_correlation
from zeroshot.pipeline.trained import ModelMismatchWarning, TrainedModel
from zeroshot.runtime.available_memory import memory_limit
from zeroshot.runtime.comm import Comm
from zeroshot.variational.em import Callback
from zeroshot.volume import RunHooks, SliceHooks, denoise_slices, training_slices


@dataclass(frozen=True)
class FileJob:
    """One input file, as read (once), and the outputs of its run."""

    source: Path
    image: EMImage
    outputs: Outputs


# ------------------------------------------------------------------------------------- planning


def _frame_checkpoints(options: RunOptions, image: EMImage | None = None) -> tuple[Path, ...]:
    """--checkpoint, or PATH_frameK (K from 1) for each frame of a stack denoised frame by frame (image None:
    not read yet, as given)."""
    checkpoint = options.checkpoint
    if checkpoint is None:
        return ()
    if image is None or not image.is_stack or options.one_model(len(image.frames)):
        return (checkpoint,)
    return tuple(
        checkpoint.with_name(f"{checkpoint.stem}_frame{k}{checkpoint.suffix}") for k in range(1, len(image.data) + 1)
    )


def _check_values(source: Path, image: EMImage, target: Path, dtype: np.dtype | None) -> None:
    """The result is on the input's value scale: a float output dtype must hold the input's values, neither
    overflowing nor (all of them below its smallest normal number) underflowing to zeros and subnormals."""
    if dtype is None or dtype.kind != "f" or image.dtype.kind != "f":
        return
    info = np.finfo(dtype)
    peak = float(np.max(np.abs(image.data)))
    advice = f"the dtype of {target}; write float64 instead (--keep-dtype to .npy or .tif), or scale the image"
    if peak > float(info.max):
        raise ValueError(
            f"{source}: holds values up to {peak:g}, which do not fit in {dtype} (max {float(info.max):g}), "
            f"{advice} down"
        )
    if 0 < peak < float(info.tiny):
        raise ValueError(
            f"{source}: holds values only up to {peak:g}, below the smallest normal {dtype} "
            f"{float(info.tiny):g}: they would be written as zeros or lose their precision in {dtype}, "
            f"{advice} up"
        )


def _check_render(source: Path, image: EMImage, options: RunOptions) -> None:
    """The blurs of the relief's shading (--smoothing) and of the detail layer (--radius, which the relief shades)
    fit in the image: each kernel (4 sigma on each side) is at most the image's larger side."""
    side = max(image.data.shape[-2:])
    smoothing = ("--smoothing", options.render.relief.smoothing)
    radius = ("--radius", options.render.detail.radius)
    blurs = {"relief": [smoothing, radius], "detail": [radius]}
    for option, sigma in blurs.get(options.kind or "", []):
        _check_blur(source, image, option, sigma, side)


def _check_blur(source: Path, image: EMImage, option: str, sigma: float, side: int) -> None:
    if 4 * sigma > side:
        raise ValueError(
            f"{option} {sigma:g}: the blur kernel (4 x {sigma:g} pixels on each side) is wider than the image "
            f"{source} of shape {image.data.shape[-2:]}; give at most {side / 4:g}"
        )


def _side_outputs(target: Path, options: RunOptions) -> tuple[Path | None, Path | None]:
    """(the variance map, the report) beside `target`, when asked for."""
    variance = beside(target, "variance") if options.also_variance else None
    report = None
    if options.report is not None:
        report = beside(target, "report", ".png") if options.report == "auto" else Path(options.report)
        if report.suffix.lower() != ".png":
            raise ValueError(f"--report {report}: the report is a PNG figure, name it *.png")
    return variance, report


def plan_job(
    source: Path, target: Path, options: RunOptions, budget: InputBudget, min_side: int
) -> FileJob | VolumeJob:
    """The job of one input: a volume streamed section by section (`zeroshot.cli.volume_job`), or else the input
    read whole, with every check of its outputs."""
    volume = open_streamed(source, target, options)
    if volume is not None:
        try:
            return plan_volume_job(source, target, volume, options, min_side)
        except BaseException:
            volume.close()
            raise
    image = read_em(source, check=budget.check(source))
    rows, cols = image.data.shape[-2:]
    if min(rows, cols) < min_side:
        raise ValueError(
            f"{source}: {'frames' if image.is_stack else 'image'} of shape {(rows, cols)} "
            f"smaller than the patch size {min_side}"
        )
    ndim = image.data.ndim
    if options.kind is None:
        dtype = output_dtype(target, image.dtype, options.keep_dtype, ndim)
    else:
        dtype = map_dtype(target, ndim)
    variance, report = _side_outputs(target, options)
    outputs = Outputs(
        image=target,
        dtype=dtype,
        variance=variance,
        variance_dtype=None if variance is None else map_dtype(variance, ndim),
        report=report,
        checkpoints=_frame_checkpoints(options, image),
    )
    if options.kind is None:
        _check_values(source, image, target, dtype)
    try:
        check_moments_fit(float(np.max(np.abs(image.data))), options.moments)
    except ValueError as problem:
        raise ValueError(f"{source}: {problem}") from None
    _check_render(source, image, options)
    _check_context(source, image, options.config.context)
    return FileJob(source, image, outputs)


def _check_context(source: Path, image: EMImage, context: int) -> None:
    """With --context d > 1 (or a model file of patches of d slices), every input is a stack of at least d
    frames: a 2-D image has no neighbouring slices."""
    if context == 1:
        return
    frames = len(image.frames)
    if not image.is_stack:
        raise ValueError(f"{source}: {context_error(context)}")
    if frames < context:
        raise ValueError(
            f"{source}: context = {context} spans {context} slices, but the stack has {frames} frames; give "
            f"--context {frames if frames % 2 else frames - 1} or less"
        )


def plan_jobs(options: RunOptions, ranks: int = 1) -> list[FileJob | VolumeJob]:
    """One job per input, every input read and every output checked (see the module's docstring); makes
    a missing output folder last. Raises ValueError naming the file at the first problem; nothing is
    written then."""
    sources = list(options.inputs)
    targets, folder = output_targets(sources, options.output, options.output_format, options.suffix)
    budget = InputBudget(
        memory_limit(options.max_memory),
        options.config,
        moments=options.moments,
        threads=check_threads(options.threads),
        checkpoint=options.checkpoint is not None,
        ranks=ranks,
    )
    jobs = [plan_job(source, target, options, budget, min_side(options)) for source, target in zip(sources, targets)]
    _check_written(options, [item for job in jobs for item in job.outputs.written(job.source)], folder)
    return jobs


def min_side(options: RunOptions) -> int:
    """The smallest side an input's frames may have: the patch size when it is known before the run."""
    return options.config.patch_size or 1


def plan_paths(options: RunOptions) -> list[tuple[Path, Path]]:
    """(input, output) of every input, with every check that needs no input read: the files the run writes
    (outputs, sidecars, variance maps, reports, the checkpoint) none an input nor the model file and no two the
    same, formats zeroshot writes, their folders writable; makes a missing output folder last. ValueError at
    the first problem."""
    sources = list(options.inputs)
    targets, folder = output_targets(sources, options.output, options.output_format, options.suffix)
    written = []
    for source, target in zip(sources, targets):
        check_writable_format(target)
        variance, report = _side_outputs(target, options)
        written += Outputs(target, None, variance, None, report, _frame_checkpoints(options)).written(source)
    _check_written(options, written, folder)
    return list(zip(sources, targets))


def _check_written(options: RunOptions, written: list[Written], folder: Path) -> None:
    """No file written is an input (or the model file) or written twice, the folders are writable, --report's
    matplotlib is there; then the output folder is made."""
    check_distinct(read_files(options), written)
    # The folder of -o is made when missing, for a folder output (-o out/) and a file output (-o out/a.mrc) alike.
    check_folder(folder, may_create=True)
    if options.report is not None and options.report != "auto":
        check_folder(Path(options.report).parent, may_create=False, what="the report")
    if options.checkpoint is not None:
        check_folder(options.checkpoint.parent, may_create=False, what="the checkpoint")
    if options.report is not None and importlib.util.find_spec("matplotlib") is None:
        raise ValueError(f"--report needs matplotlib: {install_hint('report')}")
    folder.mkdir(parents=True, exist_ok=True)


def read_files(options: RunOptions) -> list[Path]:
    """The files the run reads, which none it writes may be: the inputs and the model file."""
    return [*options.inputs, *([options.model_file] if options.model_file is not None else [])]


# -------------------------------------------------------------------------------------- running


def _denoise_frames(
    job: FileJob, options: RunOptions, comm: Comm, label: str, callback: Callback | None = None
) -> list[DenoiseResult]:
    """Each frame of the job's image denoised (`zeroshot.volume.denoise_slices`; every rank runs every frame, on
    its share of the patches) with its own model, the model file's, or one model learned from up to TRAIN_SLICES
    frames spread over a volume or stack; `label` (if any) is shown before each frame (before the one model);
    callback: for the epochs, instead of the progress display. The noise model of a stack is decided once, on its
    first frame (`later_frames_config`)."""
    frames = job.image.frames
    config = replace(options.config, context=_job_context(job, options, comm))
    one_model = options.one_model(len(frames))
    hooks = _FrameHooks(job, options, comm, label, callback, one_model)
    model: DenoiseConfig | TrainedModel = config
    inference = None
    if options.trained is not None:  # the model file's configuration, with the options given beside it
        model, inference = options.trained, {"finetune": options.finetune, **options.overrides}
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelMismatchWarning)  # said by `_FrameHooks.done`, naming the file
        runs = denoise_slices(
            frames,
            range(len(frames)),
            model,
            learn_from=training_slices(len(frames), context=config.context) if one_model else (),
            inference=inference,
            moments=options.moments,
            env=RunEnv(comm, options.threads, options.max_memory, checkpoint_every=options.checkpoint_every),
            hooks=hooks,
        )
        for z, result in runs:
            hooks.done(z, result)
            results.append(result)
    return results


class _FrameHooks(SliceHooks):
    """The command line's part of a job's frame loop: the label, the progress display (or the callback), the
    frames' checkpoints (per frame) and error messages naming the file and frame; after each frame, the model
    file's mismatch and the structure guard's verdict (per frame) or a progress line (one model)."""

    def __init__(
        self, job: FileJob, options: RunOptions, comm: Comm, label: str, callback: Callback | None, one_model: bool
    ) -> None:
        self.job, self.options, self.comm, self.label, self.callback = job, options, comm, label, callback
        self.one_model = one_model
        self.loud = not options.quiet and comm.rank == 0
        self.display: RunDisplay | None = None  # the one model's: its training, then a line per frame

    def name(self, z: int) -> str:
        return f"{self.job.source} (frame {z + 1})"

    def where(self, z: int) -> str:
        return self.name(z) if self.job.image.is_stack else str(self.job.source)

    def training(self, slices: Sequence[int]) -> RunHooks:
        frames = self.job.image.frames
        if self.label and self.loud:
            print(f"{self.label}: one model for its {len(frames)} frames", file=sys.stderr)
        if self.loud and self.callback is None:
            note = f" (decided on frame {slices[0] + 1}; one model for all {len(frames)} frames)"
            self.display = RunDisplay(sys.stderr, verbose=self.options.verbose, note=note)
        checkpoints = self.job.outputs.checkpoints
        return RunHooks(
            self.display,
            self.callback,
            checkpoints[0] if checkpoints else None,
            self.options.resume,
            errors_named(str(self.job.source), frames[slices[0]]),
        )

    def starting(self, z: int, decided: str | None) -> RunHooks:
        image, options = self.job.image, self.options
        if self.one_model:  # no mismatch to warn of: the model is learned from these frames
            return RunHooks(errors=errors_named(self.where(z), image.frames[z]))
        index = z + 1
        if self.label and self.loud:
            frame_note = f" frame {index}/{len(image.frames)}" if image.is_stack else ""
            print(f"{self.label}{frame_note}", file=sys.stderr)
        checkpoint = self.job.outputs.checkpoints[z] if self.job.outputs.checkpoints else None
        # A stack stopped at frame k has no checkpoints of the later frames yet: those start afresh.
        resume = options.resume and (index == 1 or (checkpoint is not None and checkpoint.exists()))
        display = None
        if self.loud and self.callback is None:  # the noise model is announced for the first frame alone
            note = f" (decided on frame 1, for all {len(image.frames)} frames)" if image.is_stack else ""
            display = RunDisplay(sys.stderr, verbose=options.verbose, announce=index == 1, note=note)
        note = f" (noise {decided} was decided on frame 1 for the whole stack; --noise chooses it)" if decided else ""
        return RunHooks(display, self.callback, checkpoint, resume, errors_named(self.where(z), image.frames[z], note))

    def done(self, z: int, result: DenoiseResult) -> None:
        if self.one_model:
            if self.display is not None:
                self.display.step(Step("slices", z + 1, len(self.job.image.frames), "frame"))
            return
        fit = result.model_fit
        problem = None if fit is None else fit.problem()
        if problem is not None and self.comm.rank == 0:  # also with -q: the result may be poor
            print(f"zeroshot: warning: {self.where(z)}: {problem}", file=sys.stderr)
        structure = result.structure
        if structure is not None and not structure.found and self.comm.rank == 0:
            print(f"{self.job.source}: {structure.description}", file=sys.stderr)


def _job_context(job: FileJob, options: RunOptions, comm: Comm) -> int:
    """The slices a patch spans for the job: an image's configuration's (1, or the --context its check refuses), and
    for a stack `stack_context`'s (said unless -q where its frames decided it)."""
    image = job.image
    if not image.is_stack:
        return options.config.context
    choice = stack_context(image.frames, options)
    if choice.measured and not options.quiet and comm.rank == 0:
        print(f"{job.source}: {choice.reason}", file=sys.stderr)
    return choice.context


def _record(options: RunOptions, results: list[DenoiseResult], image: EMImage, comm: Comm) -> dict[str, Any]:
    """The settings and results of a run for the sidecars: the DenoiseConfig fields, the threads (per rank)
    and the MPI ranks (results of different rank counts agree to rounding only); among the results the noise
    model each frame used, with its estimated parameters and noise ACF."""
    model_file = None
    if options.trained is not None and options.model_file is not None:
        model_file = {
            "path": str(options.model_file.resolve()),
            "checksum": options.trained.checksum,
            "zeroshot_version": options.trained.version,
            "finetune": options.finetune,
            "description": options.trained.describe(),
        }
    own = {}
    if options.trained is not None:  # noise_sigma is the model's: the image's own estimate beside it
        own = {
            "image_noise_sigma": per_frame(
                [None if r.model_fit is None else r.model_fit.noise_sigma for r in results], image
            )
        }
    frames = len(results)
    context = results[0].config.context if results else options.config.context
    volume: dict[str, Any] = {
        "one_model": True,
        "trained_on_frames": [z + 1 for z in training_slices(frames, context=context)],
    }
    if context > 1:
        whitening = results[0].whitening if results else None
        volume["context"] = context
        if whitening is not None:  # the noise correlation between slices the whitening models
            volume["noise_z_correlation"] = [round(v, 6) for v in z_correlation(whitening, context)]
    return {
        "settings": {**asdict(options.config), "context": context, "threads": options.threads, "mpi_ranks": comm.size},
        "model_file": model_file,
        "volume": volume if options.one_model(frames) else None,
        "results": {
            "noise_sigma": per_frame([r.noise_sigma for r in results], image),
            **own,
            "patch_size": per_frame([r.config.patch_size for r in results], image),
            "noise": per_frame([None if r.noise is None else r.noise.record() for r in results], image),
            "structure": per_frame([None if r.structure is None else r.structure.record() for r in results], image),
        },
    }


def _stage_map(
    job: FileJob,
    target: Path,
    dtype: np.dtype | None,
    results: list[DenoiseResult],
    kind: str,
    settings: RenderSettings,
    record: dict[str, Any],
) -> list[StagedFile]:
    """`kind` of every frame for `target`: raw values as float32, or the 8-bit rendering in PNG."""
    rendered = [render_kind(run, kind, settings) for run in results]
    png = target.suffix.lower() == ".png"
    frames = [to_uint8(display) if png else values for values, display in rendered]
    extra = {"enhance": {"kind": kind, **asdict(settings)}, "png": "8-bit rendering" if png else None}
    joined = join_frames(frames, job.image)
    return stage_result(target, dtype, job.source, job.image, joined, f"enhance --kind {kind}", {**record, **extra})


def _input_noise_acf(run: DenoiseResult, frame: np.ndarray) -> NoiseACF | None:
    """The noise ACF the noise model estimated, or else one estimated now (None for an image too small)."""
    if run.noise is not None and run.noise.acf is not None:
        return run.noise.acf
    try:
        return estimate_noise_acf(frame)
    except ValueError:
        return None


def _stage_report(path: Path, job: FileJob, run: DenoiseResult, options: RunOptions) -> StagedFile:
    """The one-page figure of a run (of the first frame for a stack)."""
    relief, _ = render_kind(run, "relief", RenderSettings())
    variance, patch_size = run.variance, run.config.patch_size
    if variance is None or patch_size is None:
        raise ValueError(f"{path}: the report needs a run with the posterior variance")
    image = job.image
    frame = " (frame 1)" if image.is_stack else ""
    return stage_report(
        path,
        noisy=image.frames[0],
        denoised=run.denoised,
        variance=variance,
        relief=relief,
        free_energy=run.free_energy,
        # in the image's pixels (coloured back for whitened patches); of patches of several slices, the centre's
        W=_centre_rows(run.dictionary, run.config.context),
        patch_size=patch_size,
        usage=run.model.pi,
        noise_acf=_input_noise_acf(run, image.frames[0]),
        title=f"{job.source.name}{frame}: {run.config.model}, noise {run.noise.kind if run.noise else 'white'}, "
        + describe_sigmas([run], options),
    )


def _centre_rows(W: np.ndarray, context: int) -> np.ndarray:
    """The rows of a dictionary W (context P^2, H) of the centre slice of its patches (W itself for context 1)."""
    block = centre_block(W.T, context)
    assert block is not None
    return W if context == 1 else block.T


def _stage_outputs(job: FileJob, options: RunOptions, results: list[DenoiseResult], comm: Comm) -> list[StagedFile]:
    """Every output of the job in temporary files (all or none: on an error the staged ones are removed)."""
    image, out = job.image, job.outputs
    record = _record(options, results, image, comm)
    staged: list[StagedFile] = []
    try:
        if options.kind is not None:
            staged += _stage_map(job, out.image, out.dtype, results, options.kind, options.render, record)
        else:
            denoised = join_frames([r.denoised for r in results], image)
            staged += stage_result(out.image, out.dtype, job.source, image, denoised, "denoise", record)
            if out.variance is not None:
                staged += _stage_map(
                    job, out.variance, out.variance_dtype, results, "variance", RenderSettings(), record
                )
        if out.report is not None:
            staged.append(_stage_report(out.report, job, results[0], options))
    except BaseException:
        for item in staged:
            item.discard()
        raise
    return staged


def run_job(
    job: FileJob | VolumeJob, options: RunOptions, comm: Comm, label: str = "", callback: Callback | None = None
) -> str | None:
    """Learns the model of each frame of the job's image (every rank); then rank 0 writes every output (the
    images with their sidecars, the report) to temporary files and, when all are complete, moves them into
    place together. Returns the summary line on rank 0 (None on the others). callback: for the epochs,
    instead of the progress display."""
    if isinstance(job, VolumeJob):
        try:
            return run_volume_job(job, options, comm, label)
        finally:
            job.volume.close()
    results = _denoise_frames(job, options, comm, label, callback)
    if comm.rank != 0:  # every rank has the results; rank 0 writes and reports them
        return None
    replace_together(_stage_outputs(job, options, results, comm))
    out = job.outputs
    sigmas = describe_sigmas(results, options)
    if options.kind is not None:
        return f"{job.source} -> {out.image}: {options.kind}; {sigmas}"
    extra = f", variance -> {out.variance}" if out.variance is not None else ""
    extra += f", report -> {out.report}" if out.report is not None else ""
    return f"{job.source} -> {out.image}{extra}: {sigmas}; pixel size {job.image.pixel_size or 'unknown'}"


def describe_sigmas(results: list[DenoiseResult], options: RunOptions) -> str:
    """The noise sigma of the frames' runs in words: the estimated one, or with a model file the model's (after
    --finetune epochs) with the image's own estimate beside it."""
    transformed = any(r.noise is not None and r.noise.transforms for r in results)
    if options.one_model(len(results)):
        one = sigma_text(results[0].noise_sigma, transformed)
        return f"learned noise sigma {one} (one model for the {len(results)} frames)"
    per = " per frame" if len(results) > 1 else ""
    sigmas = sigma_text([r.noise_sigma for r in results], transformed)
    if options.trained is None:
        return f"learned noise sigma{per} {sigmas}"
    own = sigma_text([None if r.model_fit is None else r.model_fit.noise_sigma for r in results], transformed)
    whose = "the fine-tuned model's" if options.finetune else "the model's"
    return f"{whose} noise sigma{per} {sigmas}, the image's own estimate {own}"


def announce_model_file(options: RunOptions, comm: Comm) -> None:
    """Rank 0 says which model file the run denoises with (not with -q)."""
    if options.trained is None or options.quiet or comm.rank != 0:
        return
    tuning = f"; {options.finetune} fine-tuning epoch(s) per image" if options.finetune else "; inference only"
    print(f"model file {options.model_file}: {options.trained.describe()}{tuning}", file=sys.stderr)


def run_jobs(options: RunOptions, comm: Comm) -> int:
    """Plans every job (every check before any work), then runs them one after the other (all ranks on each
    image's patches); each input is let go when its job is done."""
    jobs = agreed(comm, lambda: plan_jobs(options, comm.size))  # a bad input: reported once, every rank ends
    announce_model_file(options, comm)
    total = len(jobs)
    for number in range(1, total + 1):
        job = jobs.pop(0)
        stack = isinstance(job, VolumeJob) or job.image.is_stack
        label = f"[{number}/{total}] {job.source}" if total > 1 or stack else ""
        line = run_job(job, options, comm, label)
        if line is not None:
            print(line)
        del job
    return 0
