"""A one-page PNG report of a run: noisy, denoised, variance, relief, F over epochs, the learned dictionary and
the noise autocorrelation the noise model saw.

matplotlib is an optional dependency (the report extra, `pip install ".[report]"`); it is imported only here, with the
non-interactive Agg canvas, so no display is needed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from zeroshot.extras import install_hint
from zeroshot.io.atomic import StagedFile, stage
from zeroshot.maps.render import stretch
from zeroshot.noise.statistics import NoiseACF

PathLike = Union[str, "os.PathLike[str]"]


def dictionary_tiles(W: np.ndarray, P: int, order: np.ndarray | None = None, max_tiles: int = 100) -> np.ndarray:
    """The columns of W (D = P*P, H) as P x P tiles on a grid with 1-pixel gaps, each tile stretched to
    [0, 1] on its own (gaps are 1, white). order: column indices to show first (e.g. by usage)."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != P * P:
        raise ValueError(f"dictionary: W has shape {W.shape}, expected ({P * P}, H) for {P}x{P} patches")
    columns = np.arange(W.shape[1]) if order is None else np.asarray(order)[: W.shape[1]]
    columns = columns[:max_tiles]
    n = len(columns)
    side = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / side))
    grid = np.ones((rows * (P + 1) + 1, side * (P + 1) + 1))
    for k, h in enumerate(columns):
        tile = W[:, h].reshape(P, P)
        span = float(tile.max() - tile.min())
        tile = (tile - tile.min()) / span if span > 0 else np.full((P, P), 0.5)
        r, c = divmod(k, side)
        grid[1 + r * (P + 1) : 1 + r * (P + 1) + P, 1 + c * (P + 1) : 1 + c * (P + 1) + P] = tile
    return grid


def stage_report(
    path: PathLike,
    *,
    noisy: np.ndarray,
    denoised: np.ndarray,
    variance: np.ndarray,
    relief: np.ndarray,
    free_energy: Sequence[float],
    W: np.ndarray,
    patch_size: int,
    usage: np.ndarray | None = None,
    noise_acf: NoiseACF | None = None,
    title: str = "",
) -> StagedFile:
    """The report figure as PNG, staged in a temporary file next to `path` (see `zeroshot.io.atomic`) for
    the caller to commit. usage: per-latent prior probabilities, to show the most used dictionary elements
    first. noise_acf: the input's estimated noise autocorrelation, plotted by lag down the rows and along the
    columns (a panel left empty without it)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError(f"--report needs matplotlib: {install_hint('report')}") from None
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ValueError(f"report {target}: the report is a PNG figure, name it *.png")
    order = None if usage is None else np.argsort(-np.asarray(usage), kind="stable")

    fig = Figure(figsize=(16, 8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 4)
    panels = [
        (noisy, "noisy input"),
        (denoised, "denoised"),  # the posterior mean, or after it the Wiener pass
        (np.sqrt(np.maximum(variance, 0.0)), "posterior standard deviation √V"),
        (relief, "relief (shaded detail)"),
    ]
    for ax, (image, name) in zip(axes.flat, panels):
        # Large images are shown smaller than their pixels: antialiased resampling avoids moiré.
        ax.imshow(stretch(image), cmap="gray", vmin=0, vmax=1, interpolation="antialiased")
        ax.set_title(name)
        ax.set_axis_off()
    ax = axes.flat[6]
    if noise_acf is not None:
        lags = np.arange(noise_acf.max_lag + 1)
        ax.plot(lags, noise_acf.rows, "o-", color="black", label="down the rows")
        ax.plot(lags, noise_acf.cols, "s--", color="gray", label="along the columns")
        ax.axhline(0.0, color="black", linewidth=0.5)
        ax.set_xlabel("lag (pixels)")
        ax.set_ylabel("correlation")
        ax.set_title(f"noise autocorrelation (σ {noise_acf.sigma:.3g})")
        ax.legend()
    else:
        ax.set_axis_off()
    axes.flat[7].set_axis_off()
    ax = axes.flat[4]
    ax.plot(np.arange(1, len(free_energy) + 1), free_energy, color="black")
    ax.set_xlabel("epoch")
    ax.set_ylabel("free energy F")
    ax.set_title("F over training epochs")
    ax = axes.flat[5]
    ax.imshow(dictionary_tiles(W, patch_size, order), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(f"dictionary ({min(W.shape[1], 100)} of {W.shape[1]} elements)")
    ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, format="png")

    return stage(target, save)


def write_report(path: PathLike, **panels: Any) -> None:
    """Writes the report figure (`stage_report`'s arguments) as PNG to `path`, atomically (making its
    folder if needed)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    staged = stage_report(path, **panels)
    try:
        staged.commit()
    except BaseException:
        staged.discard()
        raise
