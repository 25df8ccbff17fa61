"""Command line: `zeroshot denoise`, `zeroshot enhance`, `zeroshot demo`."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zeroshot.cli.files import add_file_arguments
from zeroshot.config import MERGE_METHODS, MODELS, DenoiseConfig, total_epochs
from zeroshot.enhance import KINDS, DetailSettings, ReliefSettings, RenderSettings

if TYPE_CHECKING:
    from zeroshot.cli.files import FileJob
    from zeroshot.denoise import DenoiseResult
    from zeroshot.io import EMImage

_DEFAULTS = DenoiseConfig()
_RELIEF = ReliefSettings()
_DETAIL = DetailSettings()

_DENOISE_EPILOG = """\
formats (by suffix):
  read and write  .mrc .mrcs (MRC), .tif .tiff (TIFF), .png (8/16-bit), .npy
  read only       .dm3 .dm4 (DigitalMicrograph), .ser .emi (TIA), .emd (Velox/Berkeley),
                  with `pip install zeroshot[em]`
  A stack of frames (F, R, C) is denoised frame by frame, each with its own model, and written
  back as a stack (not to PNG). Singleton axes are dropped; colour images are refused.

output:
  float32 in MRC, TIFF and .npy (--keep-dtype: the input's dtype, rounded and clipped). PNG
  keeps an 8- or 16-bit input's dtype; any other input is stretched to 16 bits (result's minimum
  -> 0, maximum -> 65535). The pixel size (nm) is carried into MRC, TIFF and PNG outputs.
  Next to each output a sidecar (out.tif -> out.tif.json) records the input, the settings, the noise
  sigma, the pixel size, the zeroshot version and the date.

examples:
  zeroshot denoise noisy.mrc -o denoised.mrc
  zeroshot denoise a.mrc b.tif -o outdir/ --format tif
  zeroshot denoise noisy.tif -o denoised.tif --also-variance --report report.png
"""

_ENHANCE_EPILOG = """\
kinds:
  variance  per-pixel posterior variance V = within-patch + between-patch (law of total variance);
            float outputs hold V, PNG shows the stretched sqrt(V)
  relief    hill-shade of the stretched sqrt(V): a three-dimensional impression (values in [0, 1])
  detail    the denoised image with its detail boosted where the posterior is confident
  skewness  the signed third standardised posterior moment, a detail map
Float outputs (.npy, .mrc, .tif) hold the raw float32 values; .png holds the 8-bit rendering
(0.5/99.5 percentile stretch). Formats, stacks and sidecars as for `zeroshot denoise`.

examples:
  zeroshot enhance noisy.mrc -o relief.png --kind relief
  zeroshot enhance a.mrc b.dm4 -o outdir/ --kind variance --format tif
"""


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "model and training", "defaults: the measured defaults of the chosen --model (see the README)"
    )
    g.add_argument(
        "--model",
        choices=MODELS,
        default=_DEFAULTS.model,
        help="bsc: binary sparse coding (faster); es3c: spike-and-slab (better)",
    )
    # None: the model's own default (DenoiseConfig.for_model).
    g.add_argument("--patch-size", type=int, help="P: patches are P x P (default: from the noise level)")
    g.add_argument("--latents", type=int, help="H: number of latents")
    g.add_argument("--states", type=int, help="S: states per patch")
    g.add_argument("--epochs", type=int)
    g.add_argument("--max-train-patches", type=int, help="learn on a random subset of this many patches (0: all)")
    g.add_argument(
        "--inference-epochs", type=int, help="E-steps at fixed parameters over all patches when learning used a subset"
    )
    g.add_argument(
        "--chunk-patches",
        type=int,
        help=f"patches per inference chunk (default {_DEFAULTS.chunk_patches}; lowered automatically "
        "when the memory is short)",
    )
    g.add_argument(
        "--max-memory",
        type=_memory_size,
        metavar="SIZE",
        help="memory each process may use, e.g. 8G or 500M (default: what is available: MemAvailable "
        "and cgroup limits); checked before any work (README: Large images and memory)",
    )
    g.add_argument("--merge", choices=MERGE_METHODS)
    g.add_argument("--seed", type=int)
    g.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: all cores)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress display")


def _memory_size(text: str) -> int:
    from zeroshot.runtime.memory import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


_OPTION_FIELDS = {
    "patch_size": "patch_size",
    "chunk_patches": "chunk_patches",
    "latents": "n_latents",
    "states": "n_states",
    "epochs": "epochs",
    "inference_epochs": "inference_epochs",
    "merge": "merge",
    "seed": "seed",
}


def _add_report_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report",
        nargs="?",
        const="auto",
        metavar="PNG",
        help="a one-page PNG figure of the run (noisy, denoised, variance, relief, F over epochs, dictionary); "
        "without a path: NAME_report.png beside each output. Needs matplotlib (zeroshot[report])",
    )


def _config(args: argparse.Namespace) -> DenoiseConfig:
    """The model's measured defaults with the options given on the command line."""
    given = {
        field: getattr(args, option) for option, field in _OPTION_FIELDS.items() if getattr(args, option) is not None
    }
    if args.max_train_patches is not None:
        given["max_train_patches"] = args.max_train_patches or None
    return DenoiseConfig.for_model(args.model, **given)


def _add_checkpoint_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "checkpoints",
        "Ctrl-C or SIGTERM during training then stops after the current epoch with a checkpoint "
        "(exit code 130); --resume continues it to the result of an uninterrupted run",
    )
    g.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="save the training state to PATH (one input; a stack: PATH_frameK per frame) every "
        "--checkpoint-every epochs, at the end of training and when stopped",
    )
    g.add_argument(
        "--checkpoint-every", type=int, default=10, metavar="K", help="epochs between checkpoints (default %(default)s)"
    )
    g.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint (refused for other options or another input)"
    )


def _frame_checkpoint(args: argparse.Namespace, index: int, image: EMImage) -> Path | None:
    """The checkpoint of frame `index` (1-based) of the input: --checkpoint, or PATH_frameK for a stack."""
    path = getattr(args, "checkpoint", None)
    if path is None:
        return None
    path = Path(path)
    return path.with_name(f"{path.stem}_frame{index}{path.suffix}") if image.is_stack else path


def _run(
    image: np.ndarray,
    config: DenoiseConfig,
    args: argparse.Namespace,
    moments: int = 1,
    checkpoint: Path | None = None,
    resume: bool = False,
) -> DenoiseResult:
    from zeroshot.cli.progress import EpochProgress
    from zeroshot.denoise import denoise

    callback = (
        None
        if args.quiet or args.comm.rank != 0
        else EpochProgress(total_epochs(config), sigma_scale=float(np.std(image)) or 1.0, stream=sys.stderr)
    )
    return denoise(
        image,
        config=config,
        threads=args.threads,
        callback=callback,
        moments=moments,
        comm=args.comm,
        checkpoint=checkpoint,
        checkpoint_every=getattr(args, "checkpoint_every", 10),
        resume=resume,
        max_memory=args.max_memory,
    )


def _settings(config: DenoiseConfig, args: argparse.Namespace) -> dict[str, Any]:
    """The run's settings for the sidecar: the DenoiseConfig fields, the threads (per rank) and the MPI ranks
    (results of different rank counts agree to rounding only)."""
    return {**asdict(config), "threads": args.threads, "mpi_ranks": args.comm.size}


def _denoise_frames(
    image: EMImage, config: DenoiseConfig, args: argparse.Namespace, label: str, moments: int = 1
) -> list[DenoiseResult]:
    """Each frame of `image` denoised with its own model; `label` (if any) is shown before each."""
    results = []
    for index, frame in enumerate(image.frames, start=1):
        if label and not args.quiet and args.comm.rank == 0:
            frame_note = f" frame {index}/{len(image.frames)}" if image.is_stack else ""
            print(f"{label}{frame_note}", file=sys.stderr)
        checkpoint = _frame_checkpoint(args, index, image)
        # A stack stopped at frame k has no checkpoints of the later frames yet: those start afresh.
        resume = getattr(args, "resume", False) and (index == 1 or (checkpoint is not None and checkpoint.exists()))
        results.append(_run(frame, config, args, moments, checkpoint, resume))
    return results


def _check_checkpoint_options(args: argparse.Namespace) -> None:
    if args.checkpoint is not None and len(args.inputs) > 1:
        raise ValueError(
            f"--checkpoint {args.checkpoint}: one checkpoint file for {len(args.inputs)} inputs; "
            "checkpoint one input at a time"
        )
    if args.resume and args.checkpoint is None:
        raise ValueError("--resume needs --checkpoint PATH, the checkpoint to continue from")
    if args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be at least 1, got {args.checkpoint_every}")


def _cmd_denoise(args: argparse.Namespace) -> int:
    from zeroshot.cli.files import derived_job, join_frames, prepare_jobs, write_result
    from zeroshot.io import read_em

    config = _config(args)
    _check_checkpoint_options(args)
    # Every input read and every output checked before the first training starts.
    jobs = prepare_jobs(args.inputs, args.output, args.format, args.keep_dtype, min_side=config.patch_size or 1)
    variance_jobs = [derived_job(job, "variance") for job in jobs] if args.also_variance else []
    reports = _report_paths(args, jobs)
    moments = 2 if args.also_variance or reports else 1
    for number, job in enumerate(jobs, start=1):
        image = read_em(job.source)
        label = f"[{number}/{len(jobs)}] {job.source}" if len(jobs) > 1 or image.is_stack else ""
        results = _denoise_frames(image, config, args, label, moments)
        if args.comm.rank != 0:  # every rank has the results; rank 0 writes and reports them
            continue
        sigmas = [r.noise_sigma for r in results]
        record = _record(config, args, results, image)
        write_result(job, join_frames([r.denoised for r in results], image), image.pixel_size, "denoise", record)
        extra = ""
        if variance_jobs:
            _write_kind(variance_jobs[number - 1], results, image, "variance", RenderSettings(), record)
            extra += f", variance -> {variance_jobs[number - 1].target}"
        if reports:
            _write_report(reports[number - 1], image, results[0], args)
            extra += f", report -> {reports[number - 1]}"
        print(
            f"{job.source} -> {job.target}{extra}: estimated noise sigma"
            f"{' per frame' if image.is_stack else ''} {', '.join(f'{s:.4g}' for s in sigmas)} "
            f"(on the input's value scale); pixel size {image.pixel_size or 'unknown'}"
        )
    return 0


def _record(
    config: DenoiseConfig, args: argparse.Namespace, results: list[DenoiseResult], image: EMImage
) -> dict[str, Any]:
    from zeroshot.cli.files import per_frame

    return {
        "settings": _settings(config, args),
        "results": {
            "noise_sigma": per_frame([r.noise_sigma for r in results], image),
            "patch_size": per_frame([r.config.patch_size for r in results], image),
        },
    }


def _report_paths(args: argparse.Namespace, jobs: list[FileJob]) -> list[Path]:
    """Where each input's report goes: --report PATH (one input), or beside each output."""
    if args.report is None:
        return []
    if args.report != "auto" and len(jobs) > 1:
        raise ValueError(
            f"--report {args.report}: one report file for {len(jobs)} inputs; give --report "
            "without a path to write one beside each output"
        )
    paths = (
        [Path(args.report)]
        if args.report != "auto"
        else [job.target.with_name(job.target.stem + "_report.png") for job in jobs]
    )
    for path in paths:
        if path.suffix.lower() != ".png":
            raise ValueError(f"--report {path}: the report is a PNG figure, name it *.png")
        if not path.parent.is_dir():
            raise ValueError(f"--report {path}: the folder {path.parent} does not exist")
    if importlib.util.find_spec("matplotlib") is None:
        raise ValueError("--report needs matplotlib: pip install 'zeroshot[report]'")
    return paths


def _write_report(path: Path, image: EMImage, run: DenoiseResult, args: argparse.Namespace) -> None:
    """The one-page figure of a run (of the first frame for a stack)."""
    from zeroshot.cli.report import write_report
    from zeroshot.enhance import render_kind

    relief, _ = render_kind(run, "relief")
    assert run.variance is not None and run.config.patch_size is not None  # a run with moments >= 2
    frame = " (frame 1)" if image.is_stack else ""
    name = image.path.name if image.path is not None else "image"
    write_report(
        path,
        noisy=image.frames[0],
        denoised=run.denoised,
        variance=run.variance,
        relief=relief,
        free_energy=run.free_energy,
        W=run.model.W,
        patch_size=run.config.patch_size,
        usage=run.model.pi,
        title=f"{name}{frame}: {run.config.model}, estimated noise sigma {run.noise_sigma:.4g}",
    )


def _write_kind(
    job: FileJob,
    results: list[DenoiseResult],
    image: EMImage,
    kind: str,
    settings: RenderSettings,
    record: dict[str, Any],
) -> None:
    """`kind` of every frame into job.target: raw values as float32, or the 8-bit rendering in PNG."""
    from zeroshot.cli.files import join_frames, write_result
    from zeroshot.enhance import render_kind
    from zeroshot.maps.render import to_uint8

    rendered = [render_kind(run, kind, settings) for run in results]
    png = job.target.suffix.lower() == ".png"
    frames = [to_uint8(display) if png else values for values, display in rendered]
    extra = {"enhance": {"kind": kind, **asdict(settings)}, "png": "8-bit rendering" if png else None}
    write_result(job, join_frames(frames, image), image.pixel_size, f"enhance --kind {kind}", {**record, **extra})


def _render_settings(args: argparse.Namespace) -> RenderSettings:
    return RenderSettings(
        relief=ReliefSettings(args.azimuth, args.elevation, args.z_factor, args.smoothing),
        detail=DetailSettings(args.amount, args.radius, args.std_factor),
    )


def _cmd_enhance(args: argparse.Namespace) -> int:
    from zeroshot.cli.files import float_or_png_job, prepare_jobs
    from zeroshot.io import read_em

    config = _config(args)
    _check_checkpoint_options(args)
    settings = _render_settings(args)
    jobs = [
        float_or_png_job(job)
        for job in prepare_jobs(args.inputs, args.output, args.format, False, min_side=config.patch_size or 1)
    ]
    reports = _report_paths(args, jobs)
    moments = 3 if args.kind == "skewness" else 2
    for number, job in enumerate(jobs, start=1):
        image = read_em(job.source)
        label = f"[{number}/{len(jobs)}] {job.source}" if len(jobs) > 1 or image.is_stack else ""
        results = _denoise_frames(image, config, args, label, moments)
        if args.comm.rank != 0:  # every rank has the results; rank 0 writes and reports them
            continue
        _write_kind(job, results, image, args.kind, settings, _record(config, args, results, image))
        if reports:
            _write_report(reports[number - 1], image, results[0], args)
        print(
            f"{job.source} -> {job.target}: {args.kind}; estimated noise sigma "
            f"{', '.join(f'{r.noise_sigma:.4g}' for r in results)}"
        )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from zeroshot.cli.demo import run_demo

    if args.comm.size > 1:
        raise ValueError("zeroshot demo runs in one process; start it without mpiexec")
    run_demo(
        Path(args.output),
        _config(args),
        size=args.size,
        threads=args.threads,
        quiet=args.quiet,
        max_memory=args.max_memory,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zeroshot",
        description="Zero-shot denoising of noisy (electron-microscopy) images from the image alone.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "denoise",
        help="denoise image files (MRC, TIFF, PNG, .npy; DM3/DM4/SER/EMD with zeroshot[em])",
        description="Denoise EM images, each from itself alone. Problems with any input or output\n"
        "are reported before training starts.",
        epilog=_DENOISE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_file_arguments(p, "denoise")
    p.add_argument(
        "--also-variance",
        action="store_true",
        help="also write the posterior variance map beside each output (NAME_variance.SUFFIX; "
        "float formats hold V, PNG the stretched sqrt(V)) from the same training run",
    )
    _add_report_option(p)
    _add_training_options(p)
    _add_checkpoint_options(p)
    p.set_defaults(run=_cmd_denoise)

    e = sub.add_parser(
        "enhance",
        help="structure maps from the posterior: variance, relief, detail, skewness",
        description="Learn the model of each image (as `denoise`) and render structure from its higher-order\n"
        "posterior statistics.",
        epilog=_ENHANCE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_file_arguments(e, "enhance", keep_dtype=False)
    e.add_argument("--kind", choices=KINDS, default="variance", help="what to render (default: variance)")
    r = e.add_argument_group("rendering")
    r.add_argument(
        "--azimuth",
        type=float,
        default=_RELIEF.azimuth,
        help="relief: light direction in degrees clockwise from the top (default %(default)s)",
    )
    r.add_argument(
        "--elevation",
        type=float,
        default=_RELIEF.elevation,
        help="relief: light elevation in degrees (default %(default)s)",
    )
    r.add_argument(
        "--z-factor",
        type=float,
        default=_RELIEF.z_factor,
        help="relief: height in pixels of the full stretch of sqrt(V) (default %(default)s)",
    )
    r.add_argument(
        "--smoothing",
        type=float,
        default=_RELIEF.smoothing,
        help="relief: Gaussian sigma in pixels before shading (default %(default)s)",
    )
    r.add_argument(
        "--amount", type=float, default=_DETAIL.amount, help="detail: boost of confident detail (default %(default)s)"
    )
    r.add_argument(
        "--radius",
        type=float,
        default=_DETAIL.radius,
        help="detail: scale of the detail layer in pixels (default %(default)s)",
    )
    r.add_argument(
        "--std-factor",
        type=float,
        default=_DETAIL.std_factor,
        help="detail: detail within this many posterior std is damped (default %(default)s)",
    )
    _add_report_option(e)
    _add_training_options(e)
    _add_checkpoint_options(e)
    e.set_defaults(run=_cmd_enhance)

    d = sub.add_parser("demo", help="denoise a simulated TEM image of virus particles (made in code)")
    d.add_argument("-o", "--output", default=".", help="folder for the PNGs (default: current folder)")
    d.add_argument("--size", type=int, default=256, help="side of the simulated image in pixels")
    _add_training_options(d)
    d.set_defaults(run=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line. Under mpiexec with several processes every rank runs it: each trains and infers
    on its block of the patches, rank 0 alone prints and writes. A rank that fails ends the whole job."""
    from zeroshot.runtime.interrupt import TrainingInterrupted
    from zeroshot.runtime.mpi import MPIComm, world_comm

    args = build_parser().parse_args(argv)
    try:
        args.comm = world_comm()
    except ImportError as error:
        print(f"zeroshot {args.command}: error: {error}", file=sys.stderr)
        return 2
    comm = args.comm
    try:
        if comm.size > 1:
            _log_ranks(args)
        return int(args.run(args))
    except TrainingInterrupted as stop:  # every rank stopped after the same epoch
        if comm.rank == 0:
            print(f"zeroshot {args.command}: interrupted: {stop}", file=sys.stderr)
        return 130
    except BaseException as error:
        if comm.size > 1 and isinstance(comm, MPIComm) and not isinstance(error, SystemExit):
            # The other ranks may be waiting for this one in a collective: end the whole job.
            if isinstance(error, (ValueError, OSError)):
                print(f"zeroshot {args.command}: error on rank {comm.rank}: {error}", file=sys.stderr)
            else:
                traceback.print_exc()
                print(f"zeroshot {args.command}: rank {comm.rank} failed; aborting the job", file=sys.stderr)
            sys.stderr.flush()
            comm.abort(130 if isinstance(error, KeyboardInterrupt) else 1)
        if isinstance(error, (ValueError, OSError)):
            print(f"zeroshot {args.command}: error: {error}", file=sys.stderr)
            return 2
        if isinstance(error, KeyboardInterrupt):
            print("zeroshot: interrupted", file=sys.stderr)
            return 130
        raise


def _log_ranks(args: argparse.Namespace) -> None:
    """Rank 0 prints the ranks' hosts, threads and CPUs (not with -q) and warnings of oversubscription."""
    from zeroshot import _core
    from zeroshot.cli.placement import describe, gather_placements

    threads = args.threads if args.threads is not None else _core.get_num_threads()
    placements = gather_placements(args.comm, threads)
    if args.comm.rank != 0:
        return
    lines, warnings = describe(placements)
    if not args.quiet:
        print("zeroshot: " + "\n".join(lines), file=sys.stderr)
    for warning in warnings:
        print(f"zeroshot: warning: {warning}", file=sys.stderr)
