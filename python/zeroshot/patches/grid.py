"""The grid of all overlapping P x P patches of an (R, C) image: every count, range and band in one place.

Notation: an image has shape (R, C); a patch is P x P pixels, D = P * P. All overlapping patches
(stride 1) are numbered row-major by their top-left corner, so patch n starts at pixel
divmod(n, C - P + 1) and there are N = (R - P + 1) * (C - P + 1) of them. A patch is flattened
row-major into a vector of length D.

Inference may take every `stride`-th patch along rows and columns instead (a strided grid: `PatchGrid.strided`);
then the top-left corners are (r s, c s), the image is padded so that the last patches end on its last row and
column, and indices, blocks and bands count the corners of that coarser grid.

Extraction and merging work on any contiguous range [start, stop) of patch indices, so large images
are processed in memory-bounded chunks. Such a range covers at most three rectangular blocks of the
patch grid (a partial first row, whole rows, a partial last row); the code loops over those blocks
and over the P * P offsets inside a patch, never over pixels or patches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple, cast

import numpy as np

__all__ = ["Band", "Block", "CoveringOffset", "PatchGrid", "as_int", "draw_training_rows", "pad_to"]


def as_int(value: object) -> int | None:
    """value as an int if it is an integer (bool excluded), else None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    return None


class Block(NamedTuple):
    """A rectangle of the patch grid: top-left grid position (row, col), its size, and the offset k of
    its first patch within the range it was cut from."""

    row: int
    col: int
    n_rows: int
    n_cols: int
    k: int


class CoveringOffset(NamedTuple):
    """One block of a range and one offset (i, j) inside its patches: `rows` of the range's (n, D)
    arrays hold the block's patches, `shape` is the block's (n_rows, n_cols), and `target` are the image
    pixels that pixel (i, j) of those patches lands on."""

    rows: slice
    shape: tuple[int, int]
    i: int
    j: int
    target: tuple[slice, slice]


@dataclass(frozen=True)
class Band:
    """The image rows row0 .. row0 + grid.R - 1 that a contiguous range of patches covers, with the patch
    grid of that band; the band's patch 0 is the image's patch `first_patch`."""

    row0: int
    grid: PatchGrid

    @property
    def first_patch(self) -> int:
        return self.row0 // self.grid.stride * self.grid.grid_cols


@dataclass(frozen=True)
class PatchGrid:
    """The patches of an (R, C) image with P x P patches, their top-left corners `stride` pixels apart (1: all
    patches); validated on construction (a ValueError names the shape, P and the stride)."""

    R: int
    C: int
    P: int
    stride: int = 1

    def __post_init__(self) -> None:
        R, C, P = as_int(self.R), as_int(self.C), as_int(self.P)
        if R is None or C is None:
            raise ValueError(f"image_shape must be a pair of integers (R, C), got {(self.R, self.C)!r}")
        if R < 1 or C < 1:
            raise ValueError(f"image_shape must be positive, got an empty image of shape {(R, C)}")
        if P is None:
            raise ValueError(f"patch size P must be an integer, got {self.P!r} of type {type(self.P).__name__}")
        if P < 1:
            raise ValueError(f"patch size P must be at least 1, got P={P}")
        if min(R, C) < P:
            raise ValueError(
                f"patch size P={P} is larger than the image of shape {(R, C)}: P must be at most {min(R, C)}"
            )
        s = as_int(self.stride)
        if s is None or s < 1:
            raise ValueError(f"stride must be a positive integer, got {self.stride!r}")
        if (R - P) % s or (C - P) % s:
            raise ValueError(
                f"patches of P={P} with stride {s} do not end on the last row and column of an image of shape "
                f"{(R, C)}: pad it to `PatchGrid.strided` first"
            )
        # numpy integers become ints: shapes and messages then print alike
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "C", C)
        object.__setattr__(self, "P", P)
        object.__setattr__(self, "stride", s)

    @classmethod
    def of(cls, image_shape: object, P: object) -> PatchGrid:
        """The grid of an image of shape image_shape (a pair (R, C)) with P x P patches."""
        try:
            dims = tuple(cast("Iterable[object]", image_shape))
        except TypeError:
            raise ValueError(f"image_shape must be a pair (R, C), got {image_shape!r}") from None
        if len(dims) != 2:
            raise ValueError(f"image_shape must be a pair of integers (R, C), got {image_shape!r}")
        return cls(dims[0], dims[1], P)  # type: ignore[arg-type]  # checked in __post_init__

    def strided(self, stride: int) -> PatchGrid:
        """The grid with corners `stride` pixels apart of this image padded at the bottom and right by the fewest
        pixels that let the last patches end on its last row and column (`pad_to`); this grid for stride 1."""
        if stride == 1:
            return self
        R, C = (self.P + -(-(n - self.P) // stride) * stride for n in (self.R, self.C))
        return PatchGrid(R, C, self.P, stride)

    @property
    def shape(self) -> tuple[int, int]:
        """(R, C), the image's shape."""
        return self.R, self.C

    @property
    def grid_shape(self) -> tuple[int, int]:
        """The grid of top-left corners, ((R - P) / stride + 1, (C - P) / stride + 1)."""
        return (self.R - self.P) // self.stride + 1, self.grid_cols

    @property
    def grid_cols(self) -> int:
        return (self.C - self.P) // self.stride + 1

    @property
    def N(self) -> int:
        """The number of patches."""
        rows, cols = self.grid_shape
        return rows * cols

    def rows_covered(self, grid_rows: int) -> int:
        """The image rows that `grid_rows` consecutive rows of patches cover."""
        return (grid_rows - 1) * self.stride + self.P

    @property
    def D(self) -> int:
        """The values per patch, P * P."""
        return self.P * self.P

    def check_range(self, start: object, stop: object = None) -> tuple[int, int]:
        """(start, stop) as ints, stop None meaning N, or a ValueError unless 0 <= start <= stop <= N."""
        first = as_int(start)
        if first is None:
            raise ValueError(f"start must be an integer, got {start!r}")
        end = self.N if stop is None else as_int(stop)
        if end is None:
            raise ValueError(f"stop must be an integer or None, got {stop!r}")
        if not 0 <= first <= end <= self.N:
            raise ValueError(
                f"patch range [start, stop) = [{first}, {end}) is not within [0, {self.N}] "
                f"(N = {self.N} patches) or has start > stop"
            )
        return first, end

    def blocks(self, start: int, stop: int) -> Iterator[Block]:
        """The rectangular blocks of the patch grid that the patches start..stop-1 fill, in patch order."""
        grid_cols = self.grid_cols
        k = start
        row, col = divmod(start, grid_cols)
        if stop > start and col != 0:  # partial first row
            n_cols = min(grid_cols - col, stop - start)
            yield Block(row, col, 1, n_cols, 0)
            k += n_cols
        n_rows = (stop - k) // grid_cols
        if n_rows > 0:  # whole rows
            yield Block(k // grid_cols, 0, n_rows, grid_cols, k - start)
            k += n_rows * grid_cols
        if k < stop:  # partial last row
            yield Block(k // grid_cols, 0, 1, stop - k, k - start)

    def covering_offsets(self, start: int, stop: int) -> Iterator[CoveringOffset]:
        """For adding the patches start..stop-1 to per-pixel maps: per block and patch offset (i, j), where
        the block's pixel (i, j) lands. Offsets descend, so each pixel sees its covering patches in
        increasing patch index and sums do not depend on how the patches were split into chunks."""
        P, s = self.P, self.stride
        for row, col, n_rows, n_cols, k in self.blocks(start, stop):
            rows = slice(k, k + n_rows * n_cols)
            top, left = row * s, col * s  # the block's first corner in pixels
            for i in range(P - 1, -1, -1):
                for j in range(P - 1, -1, -1):
                    target = (
                        slice(top + i, top + i + (n_rows - 1) * s + 1, s),
                        slice(left + j, left + j + (n_cols - 1) * s + 1, s),
                    )
                    yield CoveringOffset(rows, (n_rows, n_cols), i, j, target)

    def chunks(self, start: int, stop: int, size: int) -> Iterator[tuple[int, int]]:
        """[start, stop) cut into consecutive ranges of at most `size` patches."""
        for first in range(start, stop, size):
            yield first, min(first + size, stop)

    def band(self, lo: int, hi: int) -> Band:
        """The band of whole image rows that the patches lo..hi-1 cover (0 <= lo < hi <= N)."""
        if not 0 <= lo < hi <= self.N:
            raise ValueError(f"patches [{lo}, {hi}) are no non-empty range of the N = {self.N} patches")
        first, last = lo // self.grid_cols, (hi - 1) // self.grid_cols
        return Band(first * self.stride, PatchGrid(self.rows_covered(last - first + 1), self.C, self.P, self.stride))

    def training_rows(self, max_train_patches: int | None, seed: int) -> np.ndarray:
        """The sorted indices of the training patches of this grid (`draw_training_rows` of its N)."""
        return draw_training_rows(self.N, max_train_patches, seed)


def pad_to(values: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """The image (R, C) or slab (d, R, C) padded at the bottom and right to the grid's shape, mirrored at the edge
    (a copy); the array itself if it has that shape."""
    extra = [(0, 0)] * (values.ndim - 2) + [(0, grid.R - values.shape[-2]), (0, grid.C - values.shape[-1])]
    if not any(after for _, after in extra):
        return values
    return np.pad(values, extra, mode="symmetric")


def draw_training_rows(n: int, max_train_patches: int | None, seed: int) -> np.ndarray:
    """The sorted indices of the training patches among n: max_train_patches of them drawn without replacement
    with the generator of `seed` (the same on every rank), or all n when that is not fewer."""
    if max_train_patches is None or max_train_patches >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_train_patches, replace=False))
