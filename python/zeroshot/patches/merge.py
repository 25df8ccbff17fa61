"""Merging per-patch values into per-pixel maps: one traversal of the covering patches feeding accumulators.

Every pixel is covered by up to D patches. A `Merger` walks the covering offsets of each chunk of patches
once and hands every accumulator the values landing on the pixels, with the mask of the pixels seen for
the first time; it keeps what all accumulators share (which patches were added, how many cover each
pixel). The accumulators (zeroshot.patches.estimates for the denoised image, zeroshot.patches.moments for
the posterior moment maps) keep their own sums.

Rank-parallel merging: each rank merges its block of patches into a merger of the band of image rows they
cover; `merge_over_ranks` has rank 0 absorb the bands, in rank order, into a merger of the whole image.

Inputs are checked for shape, dtype and range, not scanned for NaN: the pipeline hands over what its own
kernels made; merge_patches and merge_moments, the entry points for any array, scan them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from zeroshot.patches.grid import PatchGrid, as_int
from zeroshot.runtime.comm import Comm

__all__ = ["INPUTS", "Accumulator", "Merger", "check_finite", "merge_over_ranks"]

# What a patch can bring, each (n, D): its posterior mean (the estimate), variance and third central moment.
INPUTS = ("mean", "variance", "third")


class Accumulator(Protocol):
    """Per-pixel sums of some of the INPUTS.

    name: the prefix of its band_state keys; inputs: the INPUTS it reads. `first` is the mask of the
    target pixels that no patch covered before; `count` (in absorb: the band's) the covering patches
    per pixel seen so far."""

    name: str
    inputs: tuple[str, ...]

    def add(
        self, target: tuple[slice, slice], i: int, j: int, values: Mapping[str, np.ndarray], first: np.ndarray
    ) -> None:
        """Adds values (n_rows, n_cols) of pixel (i, j) of a block of patches landing on `target`."""
        ...

    def band_state(self) -> dict[str, np.ndarray]:
        """The per-pixel sums (R, C, ...) by name."""
        ...

    def absorb(self, state: Mapping[str, np.ndarray], rows: slice, count: np.ndarray, first: np.ndarray) -> None:
        """Adds a band's band_state that covers this accumulator's image rows `rows`; count: the band's."""
        ...

    def result(self, count: np.ndarray) -> dict[str, np.ndarray]:
        """The maps (R, C) by name; every count > 0."""
        ...

    def empty(self, grid: PatchGrid) -> Accumulator:
        """A new accumulator with the same settings for the image of `grid`."""
        ...


class Merger:
    """Merge per-patch values (n, D) into per-pixel maps (R, C), chunk by chunk, through `accumulators`.

    add(start, mean, variance, third) gives the patches start..start+n-1 the arrays the accumulators
    read (those and no others), each patch once. Adding the chunks in increasing `start` gives bitwise the
    same result however the patches are split into chunks; other orders agree to rounding.
    Memory: one (R, C) float64 map and a flag per patch, plus the accumulators' sums.
    """

    def __init__(self, grid: PatchGrid, accumulators: Sequence[Accumulator]) -> None:
        names = [accumulator.name for accumulator in accumulators]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a merger needs accumulators of distinct names, got {names}")
        self.grid = grid
        self.accumulators = list(accumulators)
        self.inputs = tuple(name for name in INPUTS if any(name in a.inputs for a in self.accumulators))
        self.added = np.zeros(grid.N, dtype=bool)  # the patches seen so far, (N,)
        self.count = np.zeros(grid.shape)  # the covering patches seen per pixel

    def empty(self, grid: PatchGrid) -> Merger:
        """A new merger with the same accumulators for the image of `grid`."""
        return Merger(grid, [accumulator.empty(grid) for accumulator in self.accumulators])

    def add(
        self, start: int, mean: np.ndarray, variance: np.ndarray | None = None, third: np.ndarray | None = None
    ) -> None:
        """Adds the values (n, D) of the patches with indices start..start+n-1."""
        given = {name: value for name, value in zip(INPUTS, (mean, variance, third)) if value is not None}
        arrays = self._checked(start, given)
        n = arrays["mean"].shape[0]
        self._claim(int(start), np.ones(n, dtype=bool))
        P = self.grid.P
        for rows, shape, i, j, target in self.grid.covering_offsets(int(start), int(start) + n):
            values = {name: v[rows].reshape(*shape, P, P)[:, :, i, j] for name, v in arrays.items()}
            count = self.count[target]
            first = count == 0
            for accumulator in self.accumulators:
                accumulator.add(target, i, j, values, first)
            count += 1

    def _checked(self, start: object, given: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The arrays as float64, or a ValueError naming what is wrong with them or with start."""
        if set(given) != set(self.inputs):
            raise ValueError(f"this merger takes {', '.join(self.inputs)}; got {', '.join(given)}")
        D = self.grid.D
        arrays: dict[str, np.ndarray] = {}
        for name, value in given.items():
            array = np.asarray(value)
            if array.ndim != 2 or array.shape[1] != D:
                raise ValueError(
                    f"{name} must have shape (n, D) = (n, {D}) for P={self.grid.P}, got shape {array.shape}"
                )
            if array.dtype.kind not in "uif":
                raise ValueError(f"{name} must have a real numeric dtype, got dtype {array.dtype}")
            if array.shape != np.shape(given["mean"]):
                raise ValueError(f"{name} has shape {array.shape} but mean has shape {np.shape(given['mean'])}")
            arrays[name] = array.astype(np.float64, copy=False)
        n = arrays["mean"].shape[0]
        first = as_int(start)
        if first is None or not 0 <= first <= self.grid.N - n:
            raise ValueError(
                f"values for patches [{start}, {start} + {n}) do not fit in the N = {self.grid.N} patches "
                f"of an image of shape {self.grid.shape} with P={self.grid.P}"
            )
        return arrays

    def _claim(self, first: int, new: np.ndarray) -> None:
        """Marks the patches first..first+len(new)-1 where `new` is True as added, or raises a ValueError
        naming a patch that was added before."""
        mine = self.added[first : first + new.size]
        twice = mine & new
        if twice.any():
            raise ValueError(f"patch {first + int(np.argmax(twice))} was already added; each patch may be added once")
        mine |= new

    def band_state(self) -> dict[str, np.ndarray]:
        """The patches added and every per-pixel sum, for `absorb` into the merger of a larger image of which
        this merger's image is a band of whole rows (the rank-parallel merge)."""
        state = {"added": self.added, "count": self.count}
        for accumulator in self.accumulators:
            state.update({f"{accumulator.name}.{key}": value for key, value in accumulator.band_state().items()})
        return state

    def absorb(self, state: Mapping[str, np.ndarray], row0: int) -> None:
        """Adds what a merger of the rows row0.. of this image (same P, columns and accumulators) merged, as
        given by its `band_state`. Each patch may be added once over all adds and absorbs.

        For a pixel that only one of the two mergers covered the result is bitwise the same as adding the
        band's values here; otherwise the sums agree to rounding. Absorbing bands in increasing row0
        keeps each pixel's first value in patch order as its reference."""
        rows = self._band_rows(state, row0)
        n_rows = rows.stop - rows.start
        for accumulator in self.accumulators:
            for key, sums in accumulator.band_state().items():
                name, want = f"{accumulator.name}.{key}", (n_rows, *sums.shape[1:])
                if _shape_of(state, name) != want:
                    raise ValueError(f"the band's {name} has shape {_shape_of(state, name)}, expected {want}")
        expected = 2 + sum(len(a.band_state()) for a in self.accumulators)
        if len(state) != expected:
            raise ValueError(f"the band state has {sorted(state)}; this merger takes {sorted(self.band_state())}")
        self._claim(rows.start // self.grid.stride * self.grid.grid_cols, np.asarray(state["added"]))
        count = self.count[rows]
        band_count = np.asarray(state["count"])
        first = count == 0
        for accumulator in self.accumulators:
            prefix = f"{accumulator.name}."
            band_sums = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
            accumulator.absorb(band_sums, rows, band_count, first)
        count += band_count

    def _band_rows(self, state: Mapping[str, np.ndarray], row0: object) -> slice:
        """The rows of this image that a band of whole rows from row0 on fills, or a ValueError."""
        first_row = as_int(row0)
        R, C = self.grid.shape
        grid_cols = self.grid.grid_cols
        added = np.asarray(state.get("added"))
        n_band = added.shape[0] if added.ndim == 1 else -1
        rows = self.grid.rows_covered(n_band // grid_cols) if n_band > 0 and n_band % grid_cols == 0 else -1
        if added.dtype != np.bool_ or rows < self.grid.P or first_row is None or not 0 <= first_row <= R - rows:
            raise ValueError(
                f"a band of {n_band} patches from row {row0!r} does not fit an image of shape "
                f"{(R, C)} with P={self.grid.P} (whole rows of {grid_cols} patches are needed)"
            )
        if _shape_of(state, "count") != (rows, C):
            raise ValueError(f"the band's count has shape {_shape_of(state, 'count')}, expected {(rows, C)}")
        return slice(first_row, first_row + rows)

    def check_covered(self) -> None:
        """Raises a ValueError if some pixel has no value yet."""
        uncovered = self.count == 0
        if uncovered.any():
            r, c = np.argwhere(uncovered)[0]
            raise ValueError(
                f"{int(uncovered.sum())} of {uncovered.size} pixels of the image of shape "
                f"{self.grid.shape} have no estimate yet (first at pixel ({r}, {c})); "
                f"{int(self.added.sum())} of N = {self.grid.N} patches were added"
            )

    def result(self) -> dict[str, np.ndarray]:
        """Every accumulator's maps (R, C) by name. Raises ValueError if some pixel has no value yet."""
        self.check_covered()
        maps: dict[str, np.ndarray] = {}
        for accumulator in self.accumulators:
            maps.update(accumulator.result(self.count))
        return maps

    def take_result(self) -> dict[str, np.ndarray]:
        """result(), freeing each accumulator's sums as soon as its maps are made (the merger is then
        spent): the peak holds one accumulator's sums and temporaries, not all of them."""
        self.check_covered()
        maps: dict[str, np.ndarray] = {}
        while self.accumulators:
            maps.update(self.accumulators.pop(0).result(self.count))
        return maps


def _shape_of(state: Mapping[str, np.ndarray], name: str) -> tuple[int, ...] | None:
    return np.shape(state[name]) if name in state else None


def merge_over_ranks(band: Merger, row0: int, grid: PatchGrid, comm: Comm) -> Merger | None:
    """The merger of the whole image of `grid` on rank 0 (None on the others), from every rank's merger of
    its band of rows starting at row0. One rank: its band is the whole image."""
    if comm.size == 1:
        return band
    if comm.rank != 0:
        comm.send_arrays({**band.band_state(), "row0": np.array(row0)}, 0)
        return None
    whole = band.empty(grid)
    whole.absorb(band.band_state(), row0)
    for source in range(1, comm.size):
        state = comm.recv_arrays(source)
        whole.absorb(state, int(state.pop("row0")))
    return whole


def check_finite(name: str, values: np.ndarray) -> None:
    """A ValueError naming the first NaN or Inf of values (n, D) by patch and pixel, if there is one: for
    the entry points that take arrays from anywhere."""
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            verb = "contain" if name.endswith("s") else "contains"
            raise ValueError(
                f"{name} of shape {values.shape} {verb} NaN or Inf (first: {values[row, col]} "
                f"for patch {row}, pixel {col})"
            )
