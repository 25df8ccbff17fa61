"""`zeroshot demo --volume`: a SIMULATED tomogram (made in code, not real data: `zeroshot.data.simulated_tomogram`)
denoised as one volume (`zeroshot.denoise_volume`), compared with its truth, shown in orthogonal sections."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from zeroshot.cli.demo import MIN_SIZE
from zeroshot.cli.progress import RunDisplay, sigma_text
from zeroshot.config import DenoiseConfig
from zeroshot.data.tomogram import simulated_tomogram
from zeroshot.io import PixelSize, write_em, write_image
from zeroshot.metrics import psnr
from zeroshot.volume import denoise_volume

# The default volume: 32 sections of 256 x 256 voxels (8 virions and the cell's edge in the middle section).
VOLUME_SIZE = 256
VOLUME_FRAMES = 32
# The simulated voxel's nominal size (zeroshot.data.tomogram), written into the MRC headers.
NOMINAL_VOXEL = PixelSize(1.0, 1.0)
# Pixels between the panels of the section figure.
_GAP = 4


def orthoview(volume: np.ndarray, low: float, high: float) -> np.ndarray:
    """The sections through the middle of a (Z, Y, X) volume laid out as microscopists view them: xy (Y, X) with
    the yz section beside it (Y, Z: z to the right) and the xz section below (Z, X), on [low, high] -> [0, 1]."""
    depth, rows, cols = volume.shape
    z, y, x = depth // 2, rows // 2, cols // 2
    view = np.ones((rows + _GAP + depth, cols + _GAP + depth))
    view[:rows, :cols] = volume[z]
    view[:rows, cols + _GAP :] = volume[:, :, x].T
    view[rows + _GAP :, :cols] = volume[:, y, :]
    scaled = np.clip((view - low) / (high - low), 0.0, 1.0)
    scaled[rows:, cols:] = 1.0  # the corner holds no section
    scaled[rows : rows + _GAP, :] = 1.0
    scaled[:, cols : cols + _GAP] = 1.0
    return scaled


def section_figure(volumes: list[np.ndarray], low: float, high: float) -> np.ndarray:
    """One uint8 image: the orthoviews of `volumes` side by side, all on [low, high]."""
    views = [np.pad(orthoview(volume, low, high), ((0, 0), (0, 2 * _GAP)), constant_values=1.0) for volume in volumes]
    return np.rint(np.hstack(views)[:, : -2 * _GAP] * 255.0).astype(np.uint8)


def run_volume_demo(
    output_dir: Path,
    config: DenoiseConfig,
    size: int | None = None,
    frames: int | None = None,
    threads: int | None = None,
    quiet: bool = False,
    verbose: bool = False,
) -> dict[str, float]:
    """Denoises the simulated tomogram of `frames` sections of size x size voxels (default 32 of 128 x 128) as one
    volume; writes noisy.mrc, denoised.mrc, variance.mrc (the posterior variance) and sections.png (left to right:
    noisy, denoised, truth, stretched posterior standard deviation, each in orthogonal sections through the middle:
    `orthoview`) into output_dir; returns the PSNR figures and the time."""
    size = VOLUME_SIZE if size is None else size
    frames = VOLUME_FRAMES if frames is None else frames
    for name, value, least in (("--size", size, MIN_SIZE), ("--frames", frames, 8)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"{output_dir}: cannot write the demo there: it is not a folder")
    print(
        f"zeroshot demo --volume: a SIMULATED {frames}x{size}x{size} tomogram of virions (made in code, not real "
        "data) with noise correlated in x, y and z like the real slice's, denoised as one volume"
    )
    tomogram = simulated_tomogram((frames, size, size), seed=0)
    display = None if quiet else RunDisplay(sys.stderr, verbose=verbose)
    start = time.perf_counter()
    result = denoise_volume(tomogram.noisy, config=config, moments=2, threads=threads, progress=display)
    seconds = time.perf_counter() - start
    assert result.denoised is not None and result.variance is not None
    data_range = float(tomogram.clean.max() - tomogram.clean.min())
    figures = {
        "psnr_noisy": psnr(tomogram.clean, tomogram.noisy, data_range=data_range),
        "psnr_denoised": psnr(tomogram.clean, result.denoised.astype(np.float64), data_range=data_range),
        "noise_sigma": result.noise_sigma[0],
        "true_noise_sigma": tomogram.noise_sigma,
        "seconds": seconds,
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: output_dir / f"{name}.mrc" for name in ("noisy", "denoised", "variance")}
    for name, values in (("noisy", tomogram.noisy), ("denoised", result.denoised), ("variance", result.variance)):
        write_em(paths[name], values.astype(np.float32), pixel_size=NOMINAL_VOXEL)
    low, high = (float(p) for p in np.percentile(tomogram.noisy, [0.5, 99.5]))
    spread = np.sqrt(np.maximum(result.variance, 0.0))
    top = float(np.percentile(spread, 99.5)) or 1.0
    volumes = [tomogram.noisy, result.denoised, tomogram.clean, low + spread / top * (high - low)]
    paths["sections"] = output_dir / "sections.png"
    write_image(paths["sections"], section_figure(volumes, low, high))
    print(
        f"PSNR against the simulated truth: noisy {figures['psnr_noisy']:.2f} dB -> denoised "
        f"{figures['psnr_denoised']:.2f} dB in {seconds:.1f} s; learned noise sigma "
        f"{sigma_text(figures['noise_sigma'])} (true {sigma_text(figures['true_noise_sigma'])})"
    )
    print(
        "wrote " + ", ".join(str(p) for p in paths.values()) + "  (sections.png, left to right: noisy, denoised, "
        "truth, posterior standard deviation; each the xy section with yz beside it and xz below)"
    )
    return figures
