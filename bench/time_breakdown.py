"""Where the time of a default `zeroshot.denoise` run goes (issue 11): preparation (noise model, patch size,
scaling), the training E-steps, the statistics, the M-steps, the inference E-steps, the posterior moments, the
merging, and the rest (Python between them).

Each part is timed by wrapping the function that does it (wall time, perf_counter; the wrappers cost
microseconds per call); the training and inference E-steps are told apart by whether inference has started.
Images: the House (256², noisy σ 25) and a 1024² crop tiled from the standard images (σ 25) by default.
Prints a table per image with each part's seconds and share of the run; checks that the parts add up to at
most the run's wall time and that the denoised image beats the noisy one.

    python bench/time_breakdown.py [--images house tiled1024] [--threads N] [--model bsc|es3c]
                                   [--zeroshot KEY=VALUE ...]   # evo.<field>=... sets the E-step's
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

import zeroshot
from common import add_gaussian_noise, commit, load_standard
from denoise_quality import model_config
from zeroshot.config import DenoiseConfig
from zeroshot.metrics import psnr


def load(name: str) -> np.ndarray:
    if name == "tiled1024":  # 1024² from Lena and Barbara (512² each), two of each
        a, b = (load_standard(n)[:512, :512] for n in ("lena", "barbara"))
        return np.block([[a, b], [b, a]])
    return load_standard(name)


@contextmanager
def timed(targets: list[tuple[Any, str, str]], seconds: dict[str, float], stage: list[str]) -> Iterator[None]:
    """Wraps obj.attr so that its calls add to seconds[part] (part "{stage}" substituted)."""
    originals = []
    for obj, attr, part in targets:
        original = getattr(obj, attr)
        originals.append((obj, attr, original))

        def wrapper(*args: Any, _f: Callable[..., Any] = original, _part: str = part, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                seconds[_part.format(stage=stage[0])] += time.perf_counter() - start

        setattr(obj, attr, wrapper)
    try:
        yield
    finally:
        for obj, attr, original in originals:
            setattr(obj, attr, original)


def breakdown(image: np.ndarray, threads: int | None, config: DenoiseConfig) -> tuple[dict[str, float], float, Any]:
    import importlib

    import zeroshot.pipeline.inference as inference
    import zeroshot.variational.evo as evo
    from zeroshot.models.dictionary import DictionaryModel

    denoise_module = importlib.import_module("zeroshot.denoise")  # the attribute zeroshot.denoise is the function
    seconds: dict[str, float] = defaultdict(float)
    stage = ["training"]
    original_infer = denoise_module.infer

    def infer(*args: Any, **kwargs: Any) -> Any:
        stage[0] = "inference"
        start = time.perf_counter()
        try:
            return original_infer(*args, **kwargs)
        finally:
            seconds["inference (all)"] += time.perf_counter() - start

    targets = [
        (denoise_module, "prepare", "prepare (noise model, patch size, scaling, training rows)"),
        (denoise_module, "training_patches", "training patches (extract, centre)"),
        (evo.Workspace, "products", "dense products (Y W, W^T W)"),
        (evo, "evo_step", "{stage} E-steps"),
        (DictionaryModel, "accumulate", "statistics"),
        (DictionaryModel, "m_step", "M-steps"),
        (DictionaryModel, "posterior_moments", "posterior moments"),
        (inference, "_merged", "merge over ranks"),
        (inference.Merger, "add", "merging chunks"),
    ]
    with timed(targets, seconds, stage):
        denoise_module.infer = infer
        try:
            start = time.perf_counter()
            result = zeroshot.denoise(image, config=config, threads=threads)
            total = time.perf_counter() - start
        finally:
            denoise_module.infer = original_infer
    return dict(seconds), total, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=["house", "tiled1024"])
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", default="bsc", choices=("bsc", "es3c"))
    parser.add_argument("--zeroshot", nargs="*", default=[], metavar="KEY=VALUE", help="DenoiseConfig fields")
    args = parser.parse_args()
    config = model_config(args.model, args.zeroshot, "--zeroshot")
    overrides = " ".join(args.zeroshot) or "none"
    threads = args.threads or zeroshot.get_num_threads()
    print(f"commit {commit()}; threads {threads}; {args.model}, overrides {overrides}")
    failures = []
    for name in args.images:
        clean = load(name)
        noisy = add_gaussian_noise(clean, args.sigma)
        seconds, total, result = breakdown(noisy, args.threads, config)
        denoised_psnr = psnr(clean, result.denoised, data_range=255.0)
        noisy_psnr = psnr(clean, noisy, data_range=255.0)
        used = result.config
        print(
            f"\n{name} {clean.shape[0]}x{clean.shape[1]}, σ {args.sigma:g}: {total:.1f} s, PSNR {noisy_psnr:.2f} -> "
            f"{denoised_psnr:.2f} dB; {used.model} P {used.patch_size} H {used.n_latents} S {used.n_states} "
            f"epochs {used.epochs} max_train_patches {used.max_train_patches} "
            f"inference_epochs {used.inference_epochs}"
        )
        print("| part | s | share |\n|---|---:|---:|")
        inner = {k: v for k, v in seconds.items() if k != "inference (all)"}
        for part, value in inner.items():
            print(f"| {part} | {value:.2f} | {100 * value / total:.1f} % |")
        rest = total - sum(inner.values())
        print(f"| rest (Python between the parts, noise inverse, scaling) | {rest:.2f} | {100 * rest / total:.1f} % |")
        if rest < -0.01 * total:
            failures.append(f"{name}: the parts add up to more than the run")
        if denoised_psnr <= noisy_psnr:
            failures.append(f"{name}: no better than the noisy input")
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
