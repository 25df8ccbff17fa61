"""Command line: `zeroshot denoise`, `zeroshot demo`."""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import numpy as np

from zeroshot.cli_files import add_file_arguments
from zeroshot.config import MERGE_METHODS, MODELS, DenoiseConfig, total_epochs

if TYPE_CHECKING:
    from zeroshot.denoise import DenoiseResult
    from zeroshot.imageio import EMImage

_DEFAULTS = DenoiseConfig()

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
"""


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model and training")
    g.add_argument("--model", choices=MODELS, default=_DEFAULTS.model)
    g.add_argument("--patch-size", type=int, default=_DEFAULTS.patch_size,
                   help="P: patches are P x P (default: 5, or 8 for very noisy images)")
    g.add_argument("--latents", type=int, default=_DEFAULTS.n_latents, help="H: number of latents")
    g.add_argument("--states", type=int, default=_DEFAULTS.n_states, help="S: states per patch")
    g.add_argument("--epochs", type=int, default=_DEFAULTS.epochs)
    g.add_argument("--max-train-patches", type=int, default=_DEFAULTS.max_train_patches,
                   help="learn on a random subset of this many patches (0: all)")
    g.add_argument("--inference-epochs", type=int, default=_DEFAULTS.inference_epochs,
                   help="E-steps at fixed parameters over all patches when learning used a subset")
    g.add_argument("--merge", choices=MERGE_METHODS, default=_DEFAULTS.merge)
    g.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    g.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: all cores)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress display")


def _config(args: argparse.Namespace) -> DenoiseConfig:
    return DenoiseConfig(
        model=args.model,
        patch_size=args.patch_size,
        n_latents=args.latents,
        n_states=args.states,
        epochs=args.epochs,
        max_train_patches=args.max_train_patches or None,
        inference_epochs=args.inference_epochs,
        merge=args.merge,
        seed=args.seed,
    )


def _run(image: np.ndarray, config: DenoiseConfig, args: argparse.Namespace) -> DenoiseResult:
    from zeroshot.denoise import denoise
    from zeroshot.progress import EpochProgress

    callback = None if args.quiet else EpochProgress(
        total_epochs(config), sigma_scale=float(np.std(image)) or 1.0, stream=sys.stderr
    )
    return denoise(image, config=config, threads=args.threads, callback=callback)


def _settings(config: DenoiseConfig, args: argparse.Namespace) -> Dict[str, Any]:
    """The run's settings for the sidecar: the DenoiseConfig fields and the thread count."""
    return {**asdict(config), "threads": args.threads}


def _denoise_frames(
    image: EMImage, config: DenoiseConfig, args: argparse.Namespace, label: str
) -> List[DenoiseResult]:
    """Each frame of `image` denoised with its own model; `label` (if any) is shown before each."""
    results = []
    for index, frame in enumerate(image.frames, start=1):
        if label and not args.quiet:
            frame_note = f" frame {index}/{len(image.frames)}" if image.is_stack else ""
            print(f"{label}{frame_note}", file=sys.stderr)
        results.append(_run(frame, config, args))
    return results


def _cmd_denoise(args: argparse.Namespace) -> int:
    from zeroshot.cli_files import join_frames, per_frame, prepare_jobs, write_result
    from zeroshot.imageio import read_em

    config = _config(args)
    # Every input read and every output checked before the first training starts.
    jobs = prepare_jobs(
        args.inputs, args.output, args.format, args.keep_dtype, min_side=config.patch_size or 1
    )
    for number, job in enumerate(jobs, start=1):
        image = read_em(job.source)
        label = f"[{number}/{len(jobs)}] {job.source}" if len(jobs) > 1 or image.is_stack else ""
        results = _denoise_frames(image, config, args, label)
        sigmas = [r.noise_sigma for r in results]
        record = {
            "settings": _settings(config, args),
            "results": {
                "noise_sigma": per_frame(sigmas, image),
                "patch_size": per_frame([r.config.patch_size for r in results], image),
            },
        }
        write_result(job, join_frames([r.denoised for r in results], image), image.pixel_size,
                     "denoise", record)
        print(
            f"{job.source} -> {job.target}: estimated noise sigma"
            f"{' per frame' if image.is_stack else ''} {', '.join(f'{s:.4g}' for s in sigmas)} "
            f"(on the input's value scale); pixel size {image.pixel_size or 'unknown'}"
        )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from zeroshot.demo import run_demo

    run_demo(Path(args.output), _config(args), size=args.size, threads=args.threads, quiet=args.quiet)
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
    _add_training_options(p)
    p.set_defaults(run=_cmd_denoise)

    d = sub.add_parser("demo", help="denoise a simulated TEM image of virus particles (made in code)")
    d.add_argument("-o", "--output", default=".", help="folder for the PNGs (default: current folder)")
    d.add_argument("--size", type=int, default=256, help="side of the simulated image in pixels")
    _add_training_options(d)
    d.set_defaults(run=_cmd_demo)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, OSError) as error:
        print(f"zeroshot {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zeroshot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
