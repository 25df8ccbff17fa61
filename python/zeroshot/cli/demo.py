"""`zeroshot demo`: denoise a simulated TEM image of virus particles, made in code (not real data), or with
``--real`` the real cryo-ET slice of SARS-CoV-2 virions shipped with the package (`zeroshot.data.sarscov2`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from zeroshot.cli.budget import run_fits
from zeroshot.cli.progress import RunDisplay, sigma_text
from zeroshot.config import DenoiseConfig, total_epochs
from zeroshot.data import SARSCOV2_VIRIONS, crop_around, sarscov2, simulated_virus
from zeroshot.denoise import DenoiseResult, check_threads, denoise
from zeroshot.enhance import render_kind
from zeroshot.io import write_image
from zeroshot.metrics import psnr
from zeroshot.runtime.available_memory import memory_limit

MIN_SIZE = 16
SIMULATED_SIZE = 256
# The real demo's crop around the virions: 512 x 512 holds the three virions and background, and takes about
# 15 CPU-seconds at the defaults (8 s on 2 free cores of an Intel Xeon; 0.5 GB at its peak; the whole 960 x 928
# slice: --size 960).
REAL_SIZE = 512
# Images of the simulation and the panels besides the run's own (float64 each, the comparison 3 wide).
_DEMO_IMAGES = 8
# The real demo holds the slice (uint8), its float64 crop and the display panels besides the run's own.
_REAL_IMAGES = 4
# The structure maps the demos write (see _write_panels).
DEMO_MAPS = ("variance", "detail", "relief")


def _to_uint8(image: np.ndarray, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """[low, high] -> 0..255 with the same fixed mapping for every panel, so they compare directly."""
    return np.clip(np.rint((image - low) / (high - low) * 255.0), 0, 255).astype(np.uint8)


def _write_panels(
    output_dir: Path, images: dict[str, np.ndarray], result: DenoiseResult, low: float = 0.0, high: float = 1.0
) -> dict[str, Path]:
    """Writes NAME.png of each image in `images` (mapped from [low, high] to 8 bit) and the structure maps
    variance.png (stretched posterior standard deviation), detail.png (the denoised image with the detail the
    posterior is sure of raised) and relief.png (the detail map shaded: a three-dimensional impression) of `result`
    into output_dir, which is made here; returns the paths by name. The maps that outline structure on the
    SARS-CoV-2 slice (region SNR over the membrane pairs 11.1, 17.9 and 17.2 dB against 5.5 for an edge map;
    skewness -9.6: bench/real_em.py)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, image in images.items():
        paths[name] = output_dir / f"{name}.png"
        write_image(paths[name], _to_uint8(image, low, high))
    for kind in DEMO_MAPS:
        paths[kind] = output_dir / f"{kind}.png"
        write_image(paths[kind], _to_uint8(render_kind(result, kind)[1]))
    return paths


def run_demo(
    output_dir: Path,
    config: DenoiseConfig,
    size: int | None = None,
    threads: int | None = None,
    quiet: bool = False,
    max_memory: int | None = None,
    real: bool = False,
    verbose: bool = False,
) -> dict[str, float]:
    """The simulated demo (`real` False): writes noisy.png, denoised.png, comparison.png (noisy | denoised |
    simulated truth), and the structure maps variance.png (stretched posterior standard deviation), detail.png
    and relief.png into output_dir; returns the PSNR figures. size: the side of the simulated
    image (default 256).

    The real demo (`real` True): denoises a size x size crop (default 512; the whole slice when size is at
    least its sides) of the bundled cryo-ET slice of SARS-CoV-2 virions around the virions, and writes
    noisy.png, denoised.png (both with the noisy crop's 0.5-99.5 percentile stretch), variance.png, detail.png
    and relief.png; returns the learned noise sigma and how much the result differs from the input.

    The size, the folder and the memory are checked first, and the folder is made only to write the results.
    quiet: no progress display (nor the noise model decided); verbose: the internal figures too."""
    display = None if quiet else RunDisplay(sys.stderr, verbose=verbose)
    if real:
        return _run_real(output_dir, config, REAL_SIZE if size is None else size, threads, display, max_memory)
    size = SIMULATED_SIZE if size is None else size
    _check(output_dir, config, size, threads, max_memory)
    print(
        f"zeroshot demo: a SIMULATED {size}x{size} TEM-like image of virus particles "
        "(made in code, not real data) with low-dose shot noise and readout noise"
    )
    clean, noisy = simulated_virus(size, seed=0)
    result = _denoise(noisy, config, threads, display, max_memory)

    gap = np.ones((size, 4))
    panels = np.hstack([noisy, gap, result.denoised, gap, clean])
    paths = _write_panels(
        output_dir, {"noisy": noisy, "denoised": result.denoised, "comparison": panels}, result, 0.0, 1.0
    )
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
    print(f"learned noise sigma {sigma_text(figures['noise_sigma'])} (true {sigma_text(figures['true_noise_sigma'])})")
    print("wrote " + ", ".join(str(p) for p in paths.values()) + "  (left to right: noisy | denoised | truth)")
    return figures


def _run_real(
    output_dir: Path,
    config: DenoiseConfig,
    size: int,
    threads: int | None,
    display: RunDisplay | None,
    max_memory: int | None,
) -> dict[str, float]:
    _check_size(size)
    slice_ = sarscov2()
    noisy = crop_around(slice_.data, SARSCOV2_VIRIONS, size).astype(np.float64)
    _check(output_dir, config, size, threads, max_memory, shape=noisy.shape, real=True)
    rows, cols = noisy.shape
    whole = noisy.shape == slice_.data.shape
    print(
        "zeroshot demo --real: REAL data, a cryo-electron tomogram slice of SARS-CoV-2 virions with spikes "
        "(CZ CryoET Data Portal dataset 10006, Ke et al. 2020; zeroshot.data.sarscov2()): "
        + ("the whole" if whole else f"a {rows}x{cols} crop around the virions of the")
        + f" {slice_.data.shape[0]}x{slice_.data.shape[1]} slice"
    )
    print(f"model {config.model}; {total_epochs(config)} epochs")
    start = time.perf_counter()
    result = _denoise(noisy, config, threads, display, max_memory)
    seconds = time.perf_counter() - start
    low, high = (float(p) for p in np.percentile(noisy, [0.5, 99.5]))
    paths = _write_panels(output_dir, {"noisy": noisy, "denoised": result.denoised}, result, low, high)
    figures = {
        "noise_sigma": result.noise_sigma,
        "input_std": float(np.std(noisy)),
        "removed_std": float(np.std(noisy - result.denoised)),
        "seconds": seconds,
    }
    print(
        f"denoised in {seconds:.1f} s: learned noise sigma {sigma_text(figures['noise_sigma'])}; the result "
        f"differs from the input by a standard deviation of {figures['removed_std']:.2f} "
        f"(the input's is {figures['input_std']:.2f})"
    )
    print(
        "wrote " + ", ".join(str(p) for p in paths.values()) + f"  (noisy and denoised share one grey scale: "
        f"{low:g} -> black, {high:g} -> white)"
    )
    return figures


def _denoise(
    noisy: np.ndarray, config: DenoiseConfig, threads: int | None, display: RunDisplay | None, max_memory: int | None
) -> DenoiseResult:
    return denoise(noisy, config=config, threads=threads, progress=display, moments=2, max_memory=max_memory)


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise ValueError(f"--size must be an integer >= {MIN_SIZE}, got {size!r}")


def _check(
    output_dir: Path,
    config: DenoiseConfig,
    size: int,
    threads: int | None,
    max_memory: int | None,
    shape: tuple[int, ...] | None = None,
    real: bool = False,
) -> None:
    _check_size(size)
    existing = output_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{output_dir}: cannot write the demo there: {existing} is not a folder")
    limit = memory_limit(max_memory)
    if limit is not None:
        rows, cols = shape if shape is not None else (size, size)
        run_fits(
            (rows, cols),
            config,
            moments=2,
            threads=check_threads(threads),
            checkpoint=False,
            limit=limit,
            held=(_REAL_IMAGES if real else _DEMO_IMAGES) * 8 * rows * cols,
            held_as="the real slice and panels" if real else "the simulated images and panels",
            what=f" (zeroshot demo {'--real ' if real else ''}--size {size}, checked before "
            + ("denoising it)" if real else "simulating it)"),
        )
