"""Command line: `zeroshot denoise`, `zeroshot demo`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np

from zeroshot.config import MERGE_METHODS, MODELS, DenoiseConfig, total_epochs

_DEFAULTS = DenoiseConfig()


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


def _run(image: np.ndarray, config: DenoiseConfig, args: argparse.Namespace):
    from zeroshot.denoise import denoise
    from zeroshot.progress import EpochProgress

    callback = None if args.quiet else EpochProgress(
        total_epochs(config), sigma_scale=float(np.std(image)) or 1.0, stream=sys.stderr
    )
    return denoise(image, config=config, threads=args.threads, callback=callback)


def _cmd_denoise(args: argparse.Namespace) -> int:
    from zeroshot.imageio import check_writable, read_image, to_dtype_like, write_image

    config = _config(args)
    image = read_image(args.input)
    check_writable(args.output, image.dtype)  # fail before training, not after
    result = _run(image, config, args)
    write_image(args.output, to_dtype_like(result.denoised, image.dtype))
    print(f"{args.input} -> {args.output}: estimated noise sigma {result.noise_sigma:.4g} "
          f"(on the input's value scale)")
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

    p = sub.add_parser("denoise", help="denoise an image file (PNG, TIFF, .npy)")
    p.add_argument("input", help="noisy image: PNG/TIFF (8/16-bit, float32 TIFF) or .npy")
    p.add_argument("-o", "--output", required=True, help="output file; same dtype and value range as the input")
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
