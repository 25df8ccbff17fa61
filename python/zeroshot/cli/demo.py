"""`zeroshot demo`: denoise a simulated TEM image of virus particles, made in code (not real data)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from zeroshot.cli.budget import memory_limit, run_fits
from zeroshot.cli.progress import EpochProgress
from zeroshot.config import DenoiseConfig, total_epochs
from zeroshot.denoise import check_threads, denoise
from zeroshot.enhance import render_kind
from zeroshot.io import write_image
from zeroshot.metrics import psnr
from zeroshot.simulate import add_tem_noise, simulated_micrograph

MIN_SIZE = 16
# Images of the simulation and the panels besides the run's own (float64 each, the comparison 3 wide).
_DEMO_IMAGES = 8


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] -> 0..255 with the same fixed mapping for every panel, so they compare directly."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def run_demo(
    output_dir: Path,
    config: DenoiseConfig,
    size: int = 256,
    threads: int | None = None,
    quiet: bool = False,
    max_memory: int | None = None,
) -> dict[str, float]:
    """Writes noisy.png, denoised.png, comparison.png (noisy | denoised | simulated truth), and the
    structure maps variance.png (stretched posterior standard deviation) and relief.png (its hill-shade)
    into output_dir; returns the PSNR figures. The size, the folder and the memory are checked first, and
    the folder is made only to write the results."""
    _check(output_dir, config, size, threads, max_memory)
    print(
        f"zeroshot demo: a SIMULATED {size}x{size} TEM-like image of virus particles "
        "(made in code, not real data) with low-dose shot noise and readout noise"
    )
    clean = simulated_micrograph(size, seed=0)
    noisy = add_tem_noise(clean, seed=1)
    callback = (
        None if quiet else EpochProgress(total_epochs(config), sigma_scale=float(np.std(noisy)), stream=sys.stderr)
    )
    result = denoise(noisy, config=config, threads=threads, callback=callback, moments=2, max_memory=max_memory)

    gap = np.ones((size, 4))
    panels = np.hstack([noisy, gap, result.denoised, gap, clean])
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "noisy": output_dir / "noisy.png",
        "denoised": output_dir / "denoised.png",
        "comparison": output_dir / "comparison.png",
        "variance": output_dir / "variance.png",
        "relief": output_dir / "relief.png",
    }
    write_image(paths["noisy"], _to_uint8(noisy))
    write_image(paths["denoised"], _to_uint8(result.denoised))
    write_image(paths["comparison"], _to_uint8(panels))
    for kind in ("variance", "relief"):
        write_image(paths[kind], _to_uint8(render_kind(result, kind)[1]))

    figures = {
        "psnr_noisy": psnr(clean, noisy, data_range=1.0),
        "psnr_denoised": psnr(clean, result.denoised, data_range=1.0),
        "noise_sigma": result.noise_sigma,
        "true_noise_sigma": float(np.std(noisy - clean)),
    }
    print(
        f"PSNR against the simulated truth: noisy {figures['psnr_noisy']:.2f} dB -> "
        f"denoised {figures['psnr_denoised']:.2f} dB"
    )
    print(f"estimated noise sigma {figures['noise_sigma']:.4f} (true {figures['true_noise_sigma']:.4f})")
    print("wrote " + ", ".join(str(p) for p in paths.values()) + "  (left to right: noisy | denoised | truth)")
    return figures


def _check(output_dir: Path, config: DenoiseConfig, size: int, threads: int | None, max_memory: int | None) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise ValueError(f"--size must be an integer >= {MIN_SIZE}, got {size!r}")
    existing = output_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{output_dir}: cannot write the demo there: {existing} is not a folder")
    limit = memory_limit(max_memory)
    if limit is not None:
        run_fits(
            (size, size),
            config,
            moments=2,
            threads=check_threads(threads),
            checkpoint=False,
            limit=limit,
            held=_DEMO_IMAGES * 8 * size * size,
            held_as="the simulated images and panels",
            what=f" (zeroshot demo --size {size}, checked before simulating it)",
        )
