"""Shared helpers of the benchmarks: test images, noise, machine description."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
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
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            cwd=Path(__file__).parent, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
