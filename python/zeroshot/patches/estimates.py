"""The denoised image from per-patch estimates: every pixel combines the estimates of the patches covering it.

  "mean":     plain average;
  "median":   median (the mean of the two middle values for an even count);
  "gaussian": weighted average; the estimate at offset (i, j) inside a patch has weight
              exp(-((i - c)^2 + (j - c)^2) / (2 s^2)), c = (P - 1) / 2, s = gaussian_sigma (default P / 4),
              so patch centres count more than patch borders.

Averages are taken relative to each pixel's first estimate (ref + sum w (e - ref) / sum w), so identical
estimates give back exactly that value. Each accumulator gives the map "denoised". Memory beside the
merger's count: 2 (R, C) float64 maps for the mean, 3 for the gaussian, D for the median.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from zeroshot.patches.grid import PatchGrid
from zeroshot.patches.merge import Accumulator, Merger, check_finite

__all__ = [
    "MEDIAN_ROW_BLOCK",
    "METHODS",
    "GaussianEstimate",
    "MeanEstimate",
    "MedianEstimate",
    "estimate_accumulator",
    "merge_patches",
]

METHODS = ("mean", "median", "gaussian")

# Rows of the image sorted at once for the median; bounds the temporary copy to about this many rows * C * D
# doubles.
MEDIAN_ROW_BLOCK = 64


class MeanEstimate:
    """The plain average of the covering estimates."""

    name: str = "mean"
    inputs: tuple[str, ...] = ("mean",)

    def __init__(self, grid: PatchGrid) -> None:
        self._ref = np.zeros(grid.shape)  # the first estimate per pixel
        self._dsum = np.zeros(grid.shape)  # sum (estimate - ref)

    def empty(self, grid: PatchGrid) -> MeanEstimate:
        return MeanEstimate(grid)

    def add(
        self, target: tuple[slice, slice], i: int, j: int, values: Mapping[str, np.ndarray], first: np.ndarray
    ) -> None:
        ref = self._ref[target]
        np.copyto(ref, values["mean"], where=first)
        self._dsum[target] += values["mean"] - ref

    def band_state(self) -> dict[str, np.ndarray]:
        return {"ref": self._ref, "dsum": self._dsum}

    def absorb(self, state: Mapping[str, np.ndarray], rows: slice, count: np.ndarray, first: np.ndarray) -> None:
        ref = self._ref[rows]
        band_ref = np.asarray(state["ref"])
        np.copyto(ref, band_ref, where=first)
        # sum (e - ref) = sum (e - band_ref) + (band_ref - ref) n
        self._dsum[rows] += state["dsum"] + count * (band_ref - ref)

    def result(self, count: np.ndarray) -> dict[str, np.ndarray]:
        return {"denoised": self._ref + self._dsum / count}


def gaussian_window(P: int, sigma: float) -> np.ndarray:
    """(P, P) weights exp(-((i - c)^2 + (j - c)^2) / (2 sigma^2)), c = (P - 1) / 2."""
    d = np.arange(P, dtype=np.float64) - (P - 1) / 2
    return np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2.0 * sigma**2))


class GaussianEstimate:
    """The average of the covering estimates weighted by a Gaussian window over the patch (sigma: P / 4
    when None)."""

    name: str = "gaussian"
    inputs: tuple[str, ...] = ("mean",)

    def __init__(self, grid: PatchGrid, sigma: float | None = None) -> None:
        value = grid.P / 4 if sigma is None else sigma
        is_real = isinstance(value, (int, float, np.integer, np.floating))
        if isinstance(value, bool) or not is_real or not (np.isfinite(value) and value > 0):
            raise ValueError(f"gaussian_sigma must be a finite number > 0, got {value!r}")
        self.sigma = float(value)
        self._weights = gaussian_window(grid.P, self.sigma)
        if not self._weights.min() >= np.finfo(np.float64).tiny:
            raise ValueError(
                f"gaussian_sigma={value!r} is too small for P={grid.P}: the window weight of "
                f"the patch corners underflows to {self._weights.min()}"
            )
        self._ref = np.zeros(grid.shape)  # the first estimate per pixel
        self._dsum = np.zeros(grid.shape)  # sum w (estimate - ref)
        self._wsum = np.zeros(grid.shape)  # sum w

    def empty(self, grid: PatchGrid) -> GaussianEstimate:
        return GaussianEstimate(grid, self.sigma)

    def add(
        self, target: tuple[slice, slice], i: int, j: int, values: Mapping[str, np.ndarray], first: np.ndarray
    ) -> None:
        w = self._weights[i, j]
        ref = self._ref[target]
        np.copyto(ref, values["mean"], where=first)
        self._dsum[target] += w * (values["mean"] - ref)
        self._wsum[target] += w

    def band_state(self) -> dict[str, np.ndarray]:
        return {"ref": self._ref, "dsum": self._dsum, "wsum": self._wsum}

    def absorb(self, state: Mapping[str, np.ndarray], rows: slice, count: np.ndarray, first: np.ndarray) -> None:
        ref = self._ref[rows]
        band_ref = np.asarray(state["ref"])
        np.copyto(ref, band_ref, where=first)
        # sum w (e - ref) = sum w (e - band_ref) + (band_ref - ref) sum w
        self._dsum[rows] += state["dsum"] + state["wsum"] * (band_ref - ref)
        self._wsum[rows] += state["wsum"]

    def result(self, count: np.ndarray) -> dict[str, np.ndarray]:
        return {"denoised": self._ref + self._dsum / self._wsum}


class MedianEstimate:
    """The median of the covering estimates; keeps every estimate of every pixel (R, C, D)."""

    name: str = "median"
    inputs: tuple[str, ...] = ("mean",)

    def __init__(self, grid: PatchGrid) -> None:
        self.P = grid.P
        # the estimate of the patch at offset (i, j) lands in slot i * P + j; NaN = not yet
        self._planes = np.full((*grid.shape, grid.D), np.nan)

    def empty(self, grid: PatchGrid) -> MedianEstimate:
        return MedianEstimate(grid)

    def add(
        self, target: tuple[slice, slice], i: int, j: int, values: Mapping[str, np.ndarray], first: np.ndarray
    ) -> None:
        self._planes[(*target, i * self.P + j)] = values["mean"]

    def band_state(self) -> dict[str, np.ndarray]:
        return {"planes": self._planes}

    def absorb(self, state: Mapping[str, np.ndarray], rows: slice, count: np.ndarray, first: np.ndarray) -> None:
        planes = np.asarray(state["planes"])
        np.copyto(self._planes[rows], planes, where=~np.isnan(planes))

    def result(self, count: np.ndarray) -> dict[str, np.ndarray]:
        R, C, _ = self._planes.shape
        out = np.empty((R, C))
        counts = count.astype(np.intp)  # estimates per pixel
        for r0 in range(0, R, MEDIAN_ROW_BLOCK):
            rows = slice(r0, min(r0 + MEDIAN_ROW_BLOCK, R))
            ordered = np.sort(self._planes[rows], axis=-1)  # NaN (empty slots) sort last
            k = counts[rows][..., None]
            lo = np.take_along_axis(ordered, (k - 1) // 2, axis=-1)[..., 0]
            hi = np.take_along_axis(ordered, k // 2, axis=-1)[..., 0]
            out[rows] = lo + (hi - lo) / 2  # exact when lo == hi
        return {"denoised": out}


def estimate_accumulator(grid: PatchGrid, method: str = "mean", gaussian_sigma: float | None = None) -> Accumulator:
    """The accumulator of the denoised image by `method` (one of METHODS)."""
    if method not in METHODS:
        raise ValueError(f"unknown merge method {method!r}: expected one of {METHODS}")
    if gaussian_sigma is not None and method != "gaussian":
        raise ValueError(
            f"gaussian_sigma={gaussian_sigma!r} is only used with method='gaussian', not method={method!r}"
        )
    if method == "gaussian":
        return GaussianEstimate(grid, gaussian_sigma)
    return MedianEstimate(grid) if method == "median" else MeanEstimate(grid)


def merge_patches(
    estimates: np.ndarray,
    image_shape: Sequence[int],
    P: int,
    method: str = "mean",
    gaussian_sigma: float | None = None,
) -> np.ndarray:
    """Merge estimates (N, D) for all N patches of an image into an (R, C) float64 image (see the module
    for the methods). merge_patches(extract_patches(img, P), img.shape, P) returns img (as float64)
    exactly for "mean" and "median". The estimates must be finite."""
    grid = PatchGrid.of(image_shape, P)
    merger = Merger(grid, [estimate_accumulator(grid, method, gaussian_sigma)])
    estimates = np.asarray(estimates)
    if estimates.ndim != 2 or estimates.shape[0] != grid.N:
        raise ValueError(
            f"estimates must have shape (N, D) = ({grid.N}, {grid.D}) for an image "
            f"of shape {grid.shape} with P={grid.P}, got shape {estimates.shape}"
        )
    check_finite("estimates", estimates)
    merger.add(0, estimates)
    return merger.result()["denoised"]
