"""Patches out of an image: a range of them, the ones at given indices, and their centring.

`extract_patches` is the checked entry point for any array; `patch_range` and `patches_at` serve the
pipeline, whose image is already a validated finite float64 array of the grid's shape, and check nothing
more than the indices.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from zeroshot.patches.grid import PatchGrid

__all__ = ["center", "extract_patches", "patch_range", "patches_at", "rows_of_ranges"]


def patch_range(image: np.ndarray, grid: PatchGrid, start: int, stop: int) -> np.ndarray:
    """Y (stop - start, D) float64: row n - start holds patch n of `image` (R, C), flattened row-major.
    Only the range is copied."""
    P, s = grid.P, grid.stride
    windows = sliding_window_view(image, (P, P))[::s, ::s]  # (grid rows, grid cols, P, P), a view
    out = np.empty((stop - start, grid.D), dtype=np.float64)
    for row, col, n_rows, n_cols, k in grid.blocks(start, stop):
        block = out[k : k + n_rows * n_cols].reshape(n_rows, n_cols, P, P)
        block[...] = windows[row : row + n_rows, col : col + n_cols]
    return out


def patches_at(image: np.ndarray, grid: PatchGrid, rows: np.ndarray, chunk: int) -> np.ndarray:
    """Y (len(rows), D): the patches at the sorted indices `rows`, extracted `chunk` patches at a time so
    that no more than one chunk of unwanted patches is made."""
    return rows_of_ranges(lambda start, stop: patch_range(image, grid, start, stop), grid, rows, chunk, grid.D)


def rows_of_ranges(
    ranged: Callable[[int, int], np.ndarray], grid: PatchGrid, rows: np.ndarray, chunk: int, width: int
) -> np.ndarray:
    """(len(rows), width): the rows at the sorted patch indices `rows` of what ranged(start, stop) gives for the
    patches start..stop-1, asked `chunk` patches at a time (only for the chunks that hold some of `rows`)."""
    out = np.empty((rows.size, width))
    done = 0
    for start, stop in grid.chunks(0, grid.N, chunk):
        hi = int(np.searchsorted(rows, stop))
        if hi > done:
            out[done:hi] = ranged(start, stop)[rows[done:hi] - start]
            done = hi
    return out


def center(Y: np.ndarray, on: bool) -> tuple[np.ndarray, np.ndarray]:
    """(Y without the patches' means, the means (N, 1)); zeros as means when `on` is false. Y (N, D) is
    centred in place (callers pass freshly extracted patches): no second (N, D) array."""
    if not on:
        return Y, np.zeros((Y.shape[0], 1))
    dc = Y.mean(axis=1, keepdims=True)
    Y -= dc
    return Y, dc


def extract_patches(image: np.ndarray, P: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Extract the overlapping P x P patches with global indices start..stop-1.

    image: (R, C) real array, finite. Returns Y (stop - start, D) float64, D = P * P; row n - start
    holds patch n (top-left corner at divmod(n, C - P + 1)), its pixels flattened row-major.
    stop=None means N, the number of patches. Only the selected range is copied.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (R, C), got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    if image.dtype.kind not in "uif":
        raise ValueError(f"image must have a real numeric dtype, got dtype {image.dtype}")
    grid = PatchGrid.of(image.shape, P)
    start, stop = grid.check_range(start, stop)
    out = patch_range(image, grid, start, stop)
    if image.dtype.kind == "f" and not np.isfinite(out).all():
        r, c = np.argwhere(~np.isfinite(image))[0]
        raise ValueError(
            f"image of shape {image.shape} contains NaN or Inf (first at pixel ({r}, {c}), value {image[r, c]})"
        )
    return out
