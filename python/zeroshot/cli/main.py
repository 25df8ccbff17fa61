"""Command line: `zeroshot denoise`, `zeroshot enhance`, `zeroshot train`, `zeroshot demo`."""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import NoReturn

from zeroshot.cli.demo import REAL_SIZE, SIMULATED_SIZE, run_demo
from zeroshot.cli.demo_volume import VOLUME_FRAMES, VOLUME_SIZE, run_volume_demo
from zeroshot.cli.errors import AgreedError
from zeroshot.cli.files import add_file_arguments
from zeroshot.cli.jobs import run_jobs
from zeroshot.cli.options import RunOptions, config_from_args, read_model_file
from zeroshot.cli.parallel import PARALLEL_MODES, choose_parallel, describe_choice, run_files
from zeroshot.cli.placement import describe, gather_placements
from zeroshot.cli.train import run_train
from zeroshot.config import MERGE_METHODS, MODELS, NOISE_MODELS, SECOND_PASSES, DenoiseConfig
from zeroshot.denoise import check_threads
from zeroshot.enhance import KINDS, DetailSettings, ReliefSettings
from zeroshot.errors import error_message
from zeroshot.models.family import FAMILIES
from zeroshot.noise.kinds import NOISE_KINDS
from zeroshot.runtime.comm import Comm
from zeroshot.runtime.interrupt import SlicesInterrupted, TrainingInterrupted
from zeroshot.runtime.memory import parse_size
from zeroshot.runtime.mpi import MPIComm, world_comm
from zeroshot.version import package_version

_DEFAULTS = DenoiseConfig()
_RELIEF = ReliefSettings()
_DETAIL = DetailSettings()

_DENOISE_EPILOG = """\
formats (by suffix):
  read and write  .mrc .mrcs (MRC), .tif .tiff (TIFF), .png (8/16-bit), .npy
  read only       .dm3 .dm4 (DigitalMicrograph), .ser .emi (TIA), .emd (Velox/Berkeley),
                  with the em extra (pip install ".[em]" in the zeroshot source folder)
  A stack of frames (F, R, C) is denoised frame by frame, each with its own model (--noise auto:
  decided on the first frame for all), and written back as a stack (not to PNG). Singleton axes
  are dropped; colour images are refused.

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
  zeroshot denoise c.mrc d.mrc -o outdir/ --model-file model.npz --finetune 5
  mpiexec -n 4 python -m zeroshot.cli denoise day1/*.mrc -o outdir/ --threads 2
"""

_TRAIN_EPILOG = """\
examples:
  zeroshot train a.mrc b.mrc c.mrc -o model.npz --epochs 20
  zeroshot denoise d.mrc -o d_denoised.mrc --model-file model.npz
  zeroshot denoise e.mrc -o e_denoised.mrc --model-file model.npz --finetune 5
"""

_ENHANCE_EPILOG = """\
kinds:
  variance  per-pixel posterior variance V = within-patch + between-patch (law of total variance);
            float outputs hold V, PNG shows the stretched sqrt(V)
  relief    the detail map shaded by a hill-shade of the denoised image: a three-dimensional impression
            of the particles' surfaces (values in [0, 1])
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
        help="; ".join(
            f"{name}{' (default)' if name == _DEFAULTS.model else ''}: {family.description}"
            for name, family in FAMILIES.items()
        ),
    )
    g.add_argument(
        "--noise",
        choices=NOISE_MODELS,
        help="the noise model: auto (default) decides from the image and prints what it decided; "
        + "; ".join(
            f"{kind} ({model.option_help})" if model.option_help else kind
            for kind, model in NOISE_KINDS.items()
            if model.askable
        ),
    )
    g.add_argument(
        "--second-pass",
        choices=SECOND_PASSES,
        help="after the model, for correlated noise: wiener (default) sharpens its posterior mean by a Wiener pass "
        "of 16 x 16 patches given the noise spectrum estimated from the image; none keeps the posterior mean",
    )
    g.add_argument(
        "--structure-guard",
        action="store_true",
        help="first check quickly whether the image holds structure beyond its noise; if it clearly does not, "
        "write the smooth estimate and say so (experimental: it can take faint structure under correlated noise "
        "for none)",
    )
    # None: the model's own default (DenoiseConfig.for_model).
    g.add_argument("--patch-size", type=int, help="P: patches are P x P (default: from the noise level)")
    g.add_argument("--latents", type=int, help="H: number of latents")
    g.add_argument("--states", type=int, help="S: states per patch")
    g.add_argument("--epochs", type=int)
    g.add_argument("--max-train-patches", type=int, help="learn on a random subset of this many patches (0: all)")
    g.add_argument(
        "--inference-epochs",
        type=int,
        help="E-steps at fixed parameters over all patches when learning used a subset (at most 100)",
    )
    g.add_argument(
        "--inference-stride",
        type=int,
        help="pixels between the patches inference takes, at most P (default: 3 where the Wiener pass follows, "
        "correlated noise, and no moment maps are written; else 1, every patch)",
    )
    g.add_argument(
        "--inference-states",
        type=int,
        help="S' states per patch when inference starts afresh (default: 10 for bsc, else --states)",
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
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also the internal figures: the noise model's technical description, F per patch and replaced states",
    )


def _memory_size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_report_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report",
        nargs="?",
        const="auto",
        metavar="PNG",
        help="a one-page PNG figure of the run (noisy, denoised, variance, relief, F over epochs, dictionary); "
        "without a path: NAME_report.png beside each output. Needs matplotlib (the report extra: "
        'pip install ".[report]")',
    )


def _add_checkpoint_options(parser: argparse.ArgumentParser, one_training: bool = False) -> None:
    g = parser.add_argument_group(
        "checkpoints",
        "Ctrl-C or SIGTERM during training then stops after the current epoch with a checkpoint "
        "(exit code 130); --resume continues it to the result of an uninterrupted run",
    )
    g.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="save the training state to PATH "
        + (
            "(one for all the inputs)"
            if one_training
            else "(one input; with --per-slice, a stack's frames each PATH_frameK)"
        )
        + " every --checkpoint-every epochs, at the end of training and when stopped",
    )
    g.add_argument(
        "--checkpoint-every", type=int, default=10, metavar="K", help="epochs between checkpoints (default %(default)s)"
    )
    g.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint (refused for other options or another input)"
    )


def _add_model_file_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "trained model",
        "denoise with a model learned beforehand (zeroshot train) instead of learning one per image: the "
        "image is taken through the model's noise model and value scaling and inferred at its parameters",
    )
    g.add_argument(
        "--model-file",
        metavar="NPZ",
        help="the model file (zeroshot train -o); it fixes --model, --patch-size, --latents and --noise: "
        "those given with other values are refused",
    )
    g.add_argument(
        "--finetune",
        type=int,
        metavar="K",
        help="K epochs of EM on each image's own patches, starting from the model, before inference "
        "(default 0: pure inference at the model's parameters)",
    )


def _add_parallel_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parallel",
        choices=PARALLEL_MODES,
        default="auto",
        help="under mpiexec: files (each rank denoises whole files, a failing file reported and the others "
        "written), patches (all ranks share each image's patches), or auto (default): files when there are at "
        "least as many inputs as ranks, else patches",
    )


def _cmd_files(args: argparse.Namespace, comm: Comm) -> int:
    """`zeroshot denoise` and `zeroshot enhance`: every check, then one job per input."""
    trained = None if args.model_file is None else read_model_file(Path(args.model_file), comm, args.max_memory)
    try:  # the same on every rank: a problem is reported once, and no rank waits for another
        options = RunOptions.from_args(args, trained)
    except ValueError as error:
        raise AgreedError(str(error)) from None
    mode = choose_parallel(options.parallel, len(options.inputs), comm.size)
    if comm.rank == 0 and not options.quiet and (comm.size > 1 or options.parallel != "auto"):
        print(f"zeroshot: {describe_choice(mode, options.parallel, len(options.inputs), comm.size)}", file=sys.stderr)
    return run_files(options, comm) if mode == "files" else run_jobs(options, comm)


def _cmd_train(args: argparse.Namespace, comm: Comm) -> int:
    return run_train(args, comm)


def _cmd_demo(args: argparse.Namespace, comm: Comm) -> int:
    if comm.size > 1:
        raise ValueError("zeroshot demo runs in one process; start it without mpiexec")
    if args.volume:
        if args.real:
            raise ValueError("--volume and --real: the volume demo is simulated; give one of them")
        run_volume_demo(
            Path(args.output),
            config_from_args(args),
            size=args.size,
            frames=args.frames,
            threads=args.threads,
            quiet=args.quiet,
            verbose=args.verbose,
        )
        return 0
    if args.frames is not None:
        raise ValueError("--frames is the volume demo's: give --volume")
    run_demo(
        Path(args.output),
        config_from_args(args),
        size=args.size,
        threads=args.threads,
        quiet=args.quiet,
        max_memory=args.max_memory,
        real=args.real,
        verbose=args.verbose,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zeroshot",
        description="Zero-shot denoising of noisy (electron-microscopy) images from the image alone.",
    )
    parser.add_argument("--version", action="version", version=f"zeroshot {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "denoise",
        help="denoise image files (MRC, TIFF, PNG, .npy; DM3/DM4/SER/EMD with the em extra)",
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
    _add_parallel_option(p)
    _add_training_options(p)
    _add_model_file_options(p)
    _add_checkpoint_options(p)
    p.set_defaults(run=_cmd_files)

    t = sub.add_parser(
        "train",
        help="learn one model from the patches of one or several images and save it (-o model.npz)",
        description="Learn one model from the patches of one or several images of one specimen on one\n"
        "instrument (data-parallel over MPI ranks) and save it as a model file, to denoise other\n"
        "images with (zeroshot denoise --model-file). The first image decides the noise model,\n"
        "its parameters, the patch size and the value scaling for all of them.",
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("inputs", nargs="+", metavar="INPUT", help="the images to learn from (the formats of denoise)")
    t.add_argument("-o", "--output", required=True, metavar="NPZ", help="the model file to write (a .npz)")
    _add_training_options(t)
    _add_checkpoint_options(t, one_training=True)
    t.set_defaults(run=_cmd_train)

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
        help="relief: height in pixels of the full stretch of the denoised image (default %(default)s)",
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
    _add_parallel_option(e)
    _add_training_options(e)
    _add_model_file_options(e)
    _add_checkpoint_options(e)
    e.set_defaults(run=_cmd_files)

    d = sub.add_parser(
        "demo",
        help="denoise a simulated TEM image of virus particles (made in code), or with --real a real cryo-ET "
        "slice of SARS-CoV-2 virions shipped with zeroshot, or with --volume a simulated tomogram",
        description="Denoise a simulated TEM image of virus particles (made in code) and compare it with the "
        "truth, or (--real) the real cryo-ET slice of SARS-CoV-2 virions shipped with zeroshot "
        "(zeroshot.data.sarscov2(); CZ CryoET Data Portal dataset 10006). Writes noisy.png, denoised.png, "
        "variance.png, detail.png and relief.png (and comparison.png for the simulated image).",
    )
    d.add_argument("-o", "--output", default=".", help="folder for the PNGs (default: current folder)")
    d.add_argument(
        "--real",
        action="store_true",
        help="denoise the real cryo-ET slice instead (a 512x512 crop: about 8 seconds on 2 free cores, 15 CPU-seconds)",
    )
    d.add_argument(
        "--volume",
        action="store_true",
        help=f"denoise a SIMULATED tomogram as one volume instead ({VOLUME_FRAMES} sections of {VOLUME_SIZE}x"
        f"{VOLUME_SIZE}, noise correlated in x, y and z): writes noisy.mrc, denoised.mrc, variance.mrc and "
        "sections.png (orthogonal sections)",
    )
    d.add_argument(
        "--size",
        type=int,
        default=None,
        help=f"side of the simulated image in pixels (default {SIMULATED_SIZE}); with --real, of the crop "
        f"around the virions (default {REAL_SIZE}; 960: the whole 960x928 slice); with --volume, of its sections "
        f"(default {VOLUME_SIZE})",
    )
    d.add_argument("--frames", type=int, default=None, help=f"with --volume: its sections (default {VOLUME_FRAMES})")
    _add_training_options(d)
    d.set_defaults(run=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line. Under mpiexec with several processes every rank runs it: each trains and infers
    on its block of the patches, rank 0 alone prints and writes, and a rank that fails ends the whole job;
    or (files mode, `zeroshot.cli.parallel`) each rank denoises whole files.

    Errors: a problem with the inputs, outputs or options (ValueError), a file system error (OSError),
    memory that ran out (MemoryError) or numbers out of range (ArithmeticError) end the run with a message
    and exit code 2; Ctrl-C or SIGTERM with 130. In files mode a file that fails is reported and the others
    written; the exit code is then 1."""
    args = build_parser().parse_args(argv)
    try:
        comm = world_comm()
    except ImportError as error:
        print(f"zeroshot {args.command}: error: {error}", file=sys.stderr)
        return 2
    try:
        if comm.size > 1:
            _log_ranks(comm, args.threads, args.quiet)
        return int(args.run(args, comm))
    except (TrainingInterrupted, SlicesInterrupted) as stop:  # every rank stopped after the same epoch
        if comm.rank == 0:
            print(f"zeroshot {args.command}: interrupted: {stop}", file=sys.stderr)
        return 130
    except AgreedError as error:  # raised by every rank alike: rank 0 reports it, nobody waits
        if comm.rank == 0:
            print(f"zeroshot {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BaseException as error:
        message = error_message(error)
        if comm.size > 1 and isinstance(comm, MPIComm) and not isinstance(error, SystemExit):
            _end_the_job(comm, args.command, error, message)
        if message is not None:
            print(f"zeroshot {args.command}: error: {message}", file=sys.stderr)
            return 2
        if isinstance(error, KeyboardInterrupt):
            print("zeroshot: interrupted", file=sys.stderr)
            return 130
        raise


# After Ctrl-C, how long a rank other than 0 gives rank 0 to report it and end the job.
_INTERRUPT_GRACE_S = 2.0
# After an error, how long a rank gives mpiexec to pass its message on before it ends the job.
_REPORT_GRACE_S = 0.5


def _end_the_job(comm: MPIComm, command: str, error: BaseException, message: str | None) -> NoReturn:
    """Ends every process of the MPI job after this rank failed (the others may be waiting for it in a
    collective). Ctrl-C reaches every rank (mpiexec passes it on): rank 0 says "interrupted" and aborts the job;
    the others wait for that, and a rank still running a moment later (rank 0 held in an MPI call) says it and
    aborts the job itself (two aborts at once leave mpiexec's own errors and exit code 255)."""
    if isinstance(error, KeyboardInterrupt):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: no traceback from here
        if comm.rank != 0:
            time.sleep(_INTERRUPT_GRACE_S)
        print(f"zeroshot {command}: interrupted", file=sys.stderr)
        comm.abort(130)
    if message is not None:
        print(f"zeroshot {command}: error on rank {comm.rank}: {message}", file=sys.stderr)
    else:
        traceback.print_exc()
        print(f"zeroshot {command}: rank {comm.rank} failed; aborting the job", file=sys.stderr)
    # mpiexec forwards a rank's output on its own time: an abort right after the message once lost it
    sys.stderr.flush()
    time.sleep(_REPORT_GRACE_S)
    comm.abort(1)


def _log_ranks(comm: Comm, threads: int | None, quiet: bool) -> None:
    """Rank 0 prints the ranks' hosts, threads and CPUs (not with -q) and warnings of oversubscription."""
    placements = gather_placements(comm, check_threads(threads))
    if comm.rank != 0:
        return
    lines, warnings = describe(placements)
    if not quiet:
        print("zeroshot: " + "\n".join(lines), file=sys.stderr)
    for warning in warnings:
        print(f"zeroshot: warning: {warning}", file=sys.stderr)
