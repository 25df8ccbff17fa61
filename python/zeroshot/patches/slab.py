"""Patches of a slab (3-D context): at each position of the 2-D patch grid, the P x P patches of the d slices of
the slab concatenated slice after slice, D = d P²; and the centre slice's block of a patch's values.

The pipeline holds one image as a 2-D array (R, C) and a slab as a 3-D array (d, R, C), d odd, the slice being
denoised in the middle; the functions here take either (a 2-D array: exactly `patch_range` and `patches_at`).
"""

from __future__ import annotations

import numpy as np

from zeroshot.patches.extract import patch_range, patches_at, rows_of_ranges
from zeroshot.patches.grid import PatchGrid

__all__ = ["centre_block", "centre_slice", "slab_patch_range", "slab_patches_at"]


def centre_slice(values: np.ndarray) -> np.ndarray:
    """The image itself (2-D) or the middle slice of a slab (d, R, C): a view."""
    return values if values.ndim == 2 else values[values.shape[0] // 2]


def slab_patch_range(values: np.ndarray, grid: PatchGrid, start: int, stop: int) -> np.ndarray:
    """Y (stop - start, d D): row n - start holds patch n of each slice of the slab (d, R, C), slice after slice
    (each flattened row-major); for a 2-D image, `patch_range`."""
    if values.ndim == 2:
        return patch_range(values, grid, start, stop)
    d, D = values.shape[0], grid.D
    out = np.empty((stop - start, d * D), dtype=np.float64)
    for k in range(d):
        out[:, k * D : (k + 1) * D] = patch_range(values[k], grid, start, stop)
    return out


def slab_patches_at(values: np.ndarray, grid: PatchGrid, rows: np.ndarray, chunk: int) -> np.ndarray:
    """Y (len(rows), d D): the slab's patches at the sorted indices `rows`, `chunk` patches extracted at a time;
    for a 2-D image, `patches_at`."""
    if values.ndim == 2:
        return patches_at(values, grid, rows, chunk)
    width = values.shape[0] * grid.D
    return rows_of_ranges(lambda start, stop: slab_patch_range(values, grid, start, stop), grid, rows, chunk, width)


def centre_block(values: np.ndarray | None, context: int) -> np.ndarray | None:
    """The centre slice's values (N, D) of patch values (N, context D), a new contiguous array; the array itself
    for context 1 (and None for None)."""
    if values is None or context == 1:
        return values
    D = values.shape[1] // context
    h = context // 2
    return np.ascontiguousarray(values[:, h * D : (h + 1) * D])
