"""Overlapping image patches: extraction and merging of per-patch estimates.

Notation: an image has shape (R, C); a patch is P x P pixels, D = P * P. All overlapping patches
(stride 1) are numbered row-major by their top-left corner, so patch n starts at pixel
divmod(n, C - P + 1) and there are N = (R - P + 1) * (C - P + 1) of them. A patch is flattened
row-major into a vector of length D.

Extraction and merging both work on any contiguous range [start, stop) of global patch indices, so
large images can be processed in memory-bounded chunks. Such a range covers at most three
rectangular blocks of the patch grid (a partial first row, whole rows, a partial last row); the code
loops over those blocks and over the P * P offsets inside a patch, never over pixels or patches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import cast

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["PatchMerger", "extract_patches", "merge_patches", "patch_grid_shape"]

_METHODS = ("mean", "median", "gaussian")

# Rows of the pixel grid sorted at once in PatchMerger.result() for the median; bounds the
# temporary copy to about this many rows * C * D doubles.
_MEDIAN_ROW_BLOCK = 64


def _as_int(value: object) -> int | None:
    """value as an int if it is an integer (bool excluded), else None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    return None


def _check_image_shape(image_shape: object) -> tuple[int, int]:
    try:
        dims = tuple(cast("Iterable[object]", image_shape))
    except TypeError:
        raise ValueError(f"image_shape must be a pair (R, C), got {image_shape!r}") from None
    ints = [_as_int(d) for d in dims]
    if len(ints) != 2 or ints[0] is None or ints[1] is None:
        raise ValueError(f"image_shape must be a pair of integers (R, C), got {image_shape!r}")
    R, C = ints[0], ints[1]
    if R < 1 or C < 1:
        raise ValueError(f"image_shape must be positive, got an empty image of shape {(R, C)}")
    return R, C


def _check_patch_size(P: object, image_shape: tuple[int, int]) -> int:
    size = _as_int(P)
    if size is None:
        raise ValueError(f"patch size P must be an integer, got {P!r} of type {type(P).__name__}")
    if size < 1:
        raise ValueError(f"patch size P must be at least 1, got P={size}")
    if size > min(image_shape):
        raise ValueError(
            f"patch size P={size} is larger than the image of shape {image_shape}: P must be at most {min(image_shape)}"
        )
    return size


def patch_grid_shape(image_shape: Sequence[int], P: int) -> tuple[int, int]:
    """Shape of the grid of top-left corners of all P x P patches: (R - P + 1, C - P + 1)."""
    shape = _check_image_shape(image_shape)
    P = _check_patch_size(P, shape)
    return shape[0] - P + 1, shape[1] - P + 1


def _check_range(start: object, stop: object, n_patches: int) -> tuple[int, int]:
    first = _as_int(start)
    if first is None:
        raise ValueError(f"start must be an integer, got {start!r}")
    end = n_patches if stop is None else _as_int(stop)
    if end is None:
        raise ValueError(f"stop must be an integer or None, got {stop!r}")
    if not 0 <= first <= end <= n_patches:
        raise ValueError(
            f"patch range [start, stop) = [{first}, {end}) is not within [0, {n_patches}] "
            f"(N = {n_patches} patches) or has start > stop"
        )
    return first, end


def _grid_blocks(start: int, n: int, grid_cols: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Split patch indices start..start+n-1 into rectangular blocks of the patch grid.

    Yields (row, col, n_rows, n_cols, k): the block's top-left grid position, its size, and the
    offset k of its first patch within the range. Blocks come in increasing patch index.
    """
    stop = start + n
    k = start
    row, col = divmod(start, grid_cols)
    if n > 0 and col != 0:  # partial first row
        n_cols = min(grid_cols - col, n)
        yield row, col, 1, n_cols, 0
        k += n_cols
    n_rows = (stop - k) // grid_cols
    if n_rows > 0:  # whole rows
        yield k // grid_cols, 0, n_rows, grid_cols, k - start
        k += n_rows * grid_cols
    if k < stop:  # partial last row
        yield k // grid_cols, 0, 1, stop - k, k - start


def _covering_offsets(
    start: int, n: int, grid_cols: int, P: int
) -> Iterator[tuple[slice, tuple[int, int], int, int, tuple[slice, slice]]]:
    """For adding the patches start..start+n-1 to per-pixel maps: per grid block and patch offset (i, j),
    (rows, shape, i, j, target): the block's rows of the chunk, its (n_rows, n_cols), and the image
    pixels its patches' pixel (i, j) lands on. Offsets descend, so each pixel sees its covering patches
    in increasing patch index and sums do not depend on how the patches were split into chunks."""
    for row, col, n_rows, n_cols, k in _grid_blocks(start, n, grid_cols):
        rows = slice(k, k + n_rows * n_cols)
        for i in range(P - 1, -1, -1):
            for j in range(P - 1, -1, -1):
                target = (slice(row + i, row + i + n_rows), slice(col + j, col + j + n_cols))
                yield rows, (n_rows, n_cols), i, j, target


def _mark_added(added: np.ndarray, first: int, new: np.ndarray) -> None:
    """Marks the patches first..first+len(new)-1 where `new` is True in `added` (N,), or raises a
    ValueError naming a patch that was added before."""
    mine = added[first : first + new.size]
    twice = mine & new
    if twice.any():
        raise ValueError(f"patch {first + int(np.argmax(twice))} was already added; each patch may be added once")
    mine |= new


def _claim_band(
    added: np.ndarray, band_added: object, image_shape: tuple[int, int], P: int, row0: object
) -> tuple[slice, int]:
    """For combining the merger of a band of rows row0.. of an image into the whole image's merger:
    checks that the band fits and adds no patch twice, marks its patches in `added` (N,) and returns
    the band's rows and its number of rows."""
    first_row = _as_int(row0)
    R, C = image_shape
    grid_cols = C - P + 1
    band = np.asarray(band_added)
    n_band = band.shape[0] if band.ndim == 1 else -1
    rows = n_band // grid_cols + P - 1 if n_band > 0 and n_band % grid_cols == 0 else -1
    if band.dtype != np.bool_ or rows < P or first_row is None or not 0 <= first_row <= R - rows:
        raise ValueError(
            f"a band of {n_band} patches from row {row0!r} does not fit an image of shape "
            f"{image_shape} with P={P} (whole rows of {grid_cols} patches are needed)"
        )
    _mark_added(added, first_row * grid_cols, band)
    return slice(first_row, first_row + rows), rows


def _check_band_arrays(state: dict[str, np.ndarray], names: Sequence[str], shape: tuple[int, ...]) -> None:
    for name in names:
        if name not in state:
            raise ValueError(f"the band state has no {name!r}")
        if np.shape(state[name]) != shape:
            raise ValueError(f"the band's {name} has shape {np.shape(state[name])}, expected {shape}")


def _check_real_dtype(what: str, array: np.ndarray) -> None:
    kind = array.dtype.kind
    if kind not in "uif":
        raise ValueError(f"{what} must have a real numeric dtype, got dtype {array.dtype}")


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
    _check_real_dtype("image", image)
    grid_rows, grid_cols = patch_grid_shape(image.shape, P)
    start, stop = _check_range(start, stop, grid_rows * grid_cols)

    windows = sliding_window_view(image, (P, P))  # (grid_rows, grid_cols, P, P), a view
    out = np.empty((stop - start, P * P), dtype=np.float64)
    for row, col, n_rows, n_cols, k in _grid_blocks(start, stop - start, grid_cols):
        block = out[k : k + n_rows * n_cols].reshape(n_rows, n_cols, P, P)
        block[...] = windows[row : row + n_rows, col : col + n_cols]
    if image.dtype.kind == "f" and not np.isfinite(out).all():
        r, c = np.argwhere(~np.isfinite(image))[0]
        raise ValueError(
            f"image of shape {image.shape} contains NaN or Inf (first at pixel ({r}, {c}), value {image[r, c]})"
        )
    return out


def _gaussian_window(P: int, sigma: float) -> np.ndarray:
    """(P, P) weights exp(-((i - c)^2 + (j - c)^2) / (2 sigma^2)), c = (P - 1) / 2."""
    d = np.arange(P, dtype=np.float64) - (P - 1) / 2
    return np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2.0 * sigma**2))


class PatchMerger:
    """Merge per-patch estimates (n, D) into an (R, C) image, chunk by chunk.

    Every pixel collects the estimates of all patches that cover it (up to D of them) and
    combines them by `method`:
      "mean":     plain average;
      "median":   median (the mean of the two middle values for an even count);
      "gaussian": weighted average; the estimate at offset (i, j) inside a patch has weight
                  exp(-((i - c)^2 + (j - c)^2) / (2 s^2)), c = (P - 1) / 2, s = gaussian_sigma
                  (default P / 4), so patch centres count more than patch borders.

    Averages are taken relative to each pixel's first estimate (ref + sum w (e - ref) / sum w), so
    identical estimates give back exactly that value. Adding the chunks in increasing `start` gives
    bitwise the same result however the patches are split into chunks; other orders agree to
    rounding. Memory: O(R C) for the averages, R * C * D doubles for the median.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        P: int,
        method: str = "mean",
        gaussian_sigma: float | None = None,
    ) -> None:
        self.image_shape = _check_image_shape(image_shape)
        self.P = _check_patch_size(P, self.image_shape)
        if method not in _METHODS:
            raise ValueError(f"unknown merge method {method!r}: expected one of {_METHODS}")
        self.method = method
        self.grid_shape = (self.image_shape[0] - self.P + 1, self.image_shape[1] - self.P + 1)
        self.n_patches = self.grid_shape[0] * self.grid_shape[1]

        R, C = self.image_shape
        D = self.P * self.P
        self.gaussian_sigma: float | None = None
        if method == "gaussian":
            sigma = self.P / 4 if gaussian_sigma is None else gaussian_sigma
            is_real = isinstance(sigma, (int, float, np.integer, np.floating))
            if isinstance(sigma, bool) or not is_real or not (np.isfinite(sigma) and sigma > 0):
                raise ValueError(f"gaussian_sigma must be a finite number > 0, got {sigma!r}")
            self.gaussian_sigma = float(sigma)
            self._weights = _gaussian_window(self.P, self.gaussian_sigma)
            if not self._weights.min() >= np.finfo(np.float64).tiny:
                raise ValueError(
                    f"gaussian_sigma={sigma!r} is too small for P={self.P}: the window weight of "
                    f"the patch corners underflows to {self._weights.min()}"
                )
        elif gaussian_sigma is not None:
            raise ValueError(
                f"gaussian_sigma={gaussian_sigma!r} is only used with method='gaussian', not method={method!r}"
            )
        else:
            self._weights = np.ones((self.P, self.P))

        self._added = np.zeros(self.n_patches, dtype=bool)  # patches seen so far, (N,)
        self._wsum = np.zeros((R, C))  # sum of weights per pixel (the count for mean/median)
        if method == "median":
            # estimate of the patch at offset (i, j) lands in slot i * P + j; NaN = not yet
            self._planes = np.full((R, C, D), np.nan)
        else:
            self._ref = np.zeros((R, C))  # first estimate per pixel
            self._dsum = np.zeros((R, C))  # sum of w * (estimate - ref)

    def add(self, start: int, estimates: np.ndarray) -> None:
        """Add estimates (n, D) for the patches with global indices start..start+n-1."""
        P, D = self.P, self.P * self.P
        estimates = np.asarray(estimates)
        if estimates.ndim != 2 or estimates.shape[1] != D:
            raise ValueError(f"estimates must have shape (n, D) = (n, {D}) for P={P}, got shape {estimates.shape}")
        _check_real_dtype("estimates", estimates)
        n = estimates.shape[0]
        first = _as_int(start)
        if first is None or not 0 <= first <= self.n_patches - n:
            raise ValueError(
                f"estimates for patches [{start}, {start} + {n}) do not fit in the "
                f"N = {self.n_patches} patches of an image of shape {self.image_shape} with P={P}"
            )
        start = first
        estimates = estimates.astype(np.float64, copy=False)
        finite = np.isfinite(estimates)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            raise ValueError(
                f"estimates of shape {estimates.shape} contain NaN or Inf (first: "
                f"{estimates[row, col]} for patch {start + row}, pixel {col})"
            )
        _mark_added(self._added, start, np.ones(n, dtype=bool))
        for rows, shape, i, j, target in _covering_offsets(start, n, self.grid_shape[1], P):
            self._accumulate(target, i, j, estimates[rows].reshape(*shape, P, P)[:, :, i, j])

    def _accumulate(self, target: tuple[slice, slice], i: int, j: int, values: np.ndarray) -> None:
        w = self._weights[i, j]
        wsum = self._wsum[target]
        if self.method == "median":
            self._planes[(*target, i * self.P + j)] = values
        else:
            ref = self._ref[target]
            first = wsum == 0
            np.copyto(ref, values, where=first)
            self._dsum[target] += w * (values - ref)
        wsum += w

    def band_state(self) -> dict[str, np.ndarray]:
        """This merger's per-pixel sums and the patches added, for `absorb` into the merger of a
        larger image of which this merger's image is a band of whole rows (the rank-parallel merge)."""
        if self.method == "median":
            return {"added": self._added, "wsum": self._wsum, "planes": self._planes}
        return {"added": self._added, "wsum": self._wsum, "ref": self._ref, "dsum": self._dsum}

    def absorb(self, state: dict[str, np.ndarray], row0: int) -> None:
        """Adds what a merger of the rows row0.. of this image (same P, method and columns) merged,
        as given by its `band_state`. Each patch may be added once over all adds and absorbs.

        For a pixel that only one of the two mergers covered the result is bitwise the same as
        adding the band's estimates here; otherwise the sums agree to rounding. Absorbing bands in
        increasing row0 keeps each pixel's reference (its first estimate in patch order)."""
        rows, n_rows = _claim_band(self._added, state.get("added"), self.image_shape, self.P, row0)
        shape = (n_rows, self.image_shape[1])
        wsum = self._wsum[rows]
        if self.method == "median":
            _check_band_arrays(state, ("wsum",), shape)
            _check_band_arrays(state, ("planes",), (*shape, self.P * self.P))
            planes = np.asarray(state["planes"])
            np.copyto(self._planes[rows], planes, where=~np.isnan(planes))
        else:
            _check_band_arrays(state, ("wsum", "ref", "dsum"), shape)
            band_ref = np.asarray(state["ref"])
            ref = self._ref[rows]
            np.copyto(ref, band_ref, where=wsum == 0)
            # sum w (e - ref) = sum w (e - band_ref) + (band_ref - ref) sum w
            self._dsum[rows] += state["dsum"] + state["wsum"] * (band_ref - ref)
        wsum += state["wsum"]

    def result(self) -> np.ndarray:
        """The merged image (R, C) float64. Raises ValueError if some pixel has no estimate."""
        uncovered = self._wsum == 0
        if uncovered.any():
            r, c = np.argwhere(uncovered)[0]
            raise ValueError(
                f"{int(uncovered.sum())} of {uncovered.size} pixels of the image of shape "
                f"{self.image_shape} have no estimate yet (first at pixel ({r}, {c})); "
                f"{int(self._added.sum())} of N = {self.n_patches} patches were added"
            )
        if self.method != "median":
            return self._ref + self._dsum / self._wsum
        return self._median()

    def _median(self) -> np.ndarray:
        R, C = self.image_shape
        out = np.empty((R, C))
        count = self._wsum.astype(np.intp)  # estimates per pixel
        for r0 in range(0, R, _MEDIAN_ROW_BLOCK):
            rows = slice(r0, min(r0 + _MEDIAN_ROW_BLOCK, R))
            ordered = np.sort(self._planes[rows], axis=-1)  # NaN (empty slots) sort last
            k = count[rows][..., None]
            lo = np.take_along_axis(ordered, (k - 1) // 2, axis=-1)[..., 0]
            hi = np.take_along_axis(ordered, k // 2, axis=-1)[..., 0]
            out[rows] = lo + (hi - lo) / 2  # exact when lo == hi
        return out


def merge_patches(
    estimates: np.ndarray,
    image_shape: Sequence[int],
    P: int,
    method: str = "mean",
    gaussian_sigma: float | None = None,
) -> np.ndarray:
    """Merge estimates (N, D) for all N patches of an image into an (R, C) float64 image.

    See PatchMerger for the methods. merge_patches(extract_patches(img, P), img.shape, P)
    returns img (as float64) exactly for "mean" and "median".
    """
    merger = PatchMerger(image_shape, P, method, gaussian_sigma)
    estimates = np.asarray(estimates)
    if estimates.ndim != 2 or estimates.shape[0] != merger.n_patches:
        raise ValueError(
            f"estimates must have shape (N, D) = ({merger.n_patches}, {merger.P**2}) for an image "
            f"of shape {merger.image_shape} with P={merger.P}, got shape {estimates.shape}"
        )
    merger.add(0, estimates)
    return merger.result()
