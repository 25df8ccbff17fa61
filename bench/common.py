"""Shared helpers of the benchmarks: test images, noise, machine description."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np

# ../shared/data beside the repository; ZEROSHOT_SHARED_DATA names another folder (a git worktree elsewhere).
SHARED_DATA = Path(os.environ.get("ZEROSHOT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
STANDARD_IMAGES = ("house", "peppers", "cameraman", "lena", "barbara")


def load_standard(name: str) -> np.ndarray:
    """A clean standard test image (float64, 0-255) from ../shared/data/standard."""
    from PIL import Image

    path = SHARED_DATA / "standard" / f"{name}.png"
    if not path.exists():
        raise SystemExit(f"benchmark data not found: {path} (the benchmarks read ../shared/data)")
    return np.asarray(Image.open(path).convert("L"), dtype=np.float64)


def add_gaussian_noise(clean: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """clean + sigma * N(0, 1), no clipping."""
    return clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_commit() -> str:
    """The commit of the zeroshot sources this interpreter imports (an editable install's checkout), with
    "+modified" when its python/ or cpp/ files differ from that commit."""
    import zeroshot

    def git(*args: str) -> str:
        where = Path(zeroshot.__file__).parent
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=where).stdout.strip()

    try:
        modified = git("status", "--porcelain", "--", ":/python", ":/cpp")
        return git("rev-parse", "--short", "HEAD") + ("+modified" if modified else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def synthetic_micrograph(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy): zeroshot.simulate's SIMULATED micrograph of virus particles, size x size, with its
    default TEM noise (dose 50, readout sigma 2; about 16 dB PSNR)."""
    from zeroshot.data import simulated_virus

    clean, noisy = simulated_virus(size, seed=seed)
    return clean, noisy


def training_patches(image_size: int, P: int, N: int, seed: int = 0) -> np.ndarray:
    """Y (N, P*P): N distinct random P x P patches (sorted by position) of the noisy synthetic micrograph
    of side image_size, scaled to zero mean and unit variance and centred, as zeroshot.denoise prepares them."""
    from numpy.lib.stride_tricks import sliding_window_view

    _, noisy = synthetic_micrograph(image_size, seed)
    image = (noisy - noisy.mean()) / noisy.std()
    cols = image_size - P + 1
    if cols * cols < N:
        raise SystemExit(f"a {image_size}x{image_size} image has only {cols * cols} patches of {P}x{P}, not {N}")
    rows, columns = np.divmod(np.sort(np.random.default_rng(seed).choice(cols * cols, N, replace=False)), cols)
    Y = sliding_window_view(image, (P, P))[rows, columns].reshape(N, P * P)
    return Y - Y.mean(axis=1, keepdims=True)


def gray_png(figure: Path) -> None:
    """The figure rewritten as an 8-bit grayscale PNG (the panels are gray): a third of the RGB file, small
    enough for the repository."""
    from PIL import Image

    with Image.open(figure) as im:
        gray = im.convert("L")
    gray.save(figure, optimize=True)
