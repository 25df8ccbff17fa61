"""Per-pixel posterior moments from per-patch posterior moments (the variance map and its kin).

Every pixel is covered by up to D = P * P overlapping patches (fewer at the borders); patch p gives
for that pixel a posterior mean m_p, variance v_p and, optionally, third central moment t_p. The
pixel's distribution is taken to be the equal-weight mixture of the n covering patches' posteriors,
whose moments follow from the law of total variance (and its third-order analogue):

    mean      M  = mean_p m_p
    within    W  = mean_p v_p                       (posterior uncertainty inside the patches)
    between   B  = mean_p (m_p - M)^2               (disagreement of the patches, 1/n normalisation)
    variance  V  = W + B
    third     mu3 = mean_p [t_p + 3 v_p (m_p - M) + (m_p - M)^3]
    skewness  mu3 / V^(3/2), defined as 0 where V is ~0 (see MomentMerger.result)

Numerics: the sums of powers of m are accumulated around a per-pixel shift K (the first mean seen
for that pixel), so B and mu3 come from differences of numbers of the size of the spread of the
estimates, not of their magnitude: adding 1e6 to every mean changes V by rounding only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zeroshot.patches.grid import (
    _as_int,
    _check_band_arrays,
    _check_image_shape,
    _check_patch_size,
    _check_real_dtype,
    _claim_band,
    _covering_offsets,
    _mark_added,
)

__all__ = ["MomentMerger", "PixelMoments", "merge_moments"]

# V counts as zero for the skewness where sqrt(V) <= _SKEW_REL_FLOOR * |M|: the shifted sums are
# exact only to about eps * |M| per estimate, so below that floor the skewness is rounding noise.
_SKEW_REL_FLOOR = 1e-12


@dataclass(frozen=True)
class PixelMoments:
    """Per-pixel posterior moments, each (R, C) float64.

    mean: M; variance: V = within + between; within: mean of the patch variances; between:
    population variance of the patch means; third: mu3 and skewness: mu3 / V^(3/2) (0 where V is
    ~0), both None unless third moments were given.
    """

    mean: np.ndarray
    variance: np.ndarray
    within: np.ndarray
    between: np.ndarray
    third: np.ndarray | None = None
    skewness: np.ndarray | None = None


class MomentMerger:
    """Merge per-patch posterior moments (n, D) into per-pixel maps (R, C), chunk by chunk.

    Patches are numbered as in zeroshot.patches.grid (row-major by top-left corner, stride 1). Call
    add(start, mean, variance[, third]) for consecutive or scattered ranges of patches, each patch
    once, then result(). Either every add passes `third` or none does. Adding the chunks in
    increasing `start` gives bitwise the same result however the patches are split into chunks;
    other orders agree to rounding. Memory: 6 (R, C) float64 maps, 9 with third moments.
    """

    def __init__(self, image_shape: Sequence[int], P: int) -> None:
        self.image_shape = _check_image_shape(image_shape)
        self.P = _check_patch_size(P, self.image_shape)
        self.grid_shape = (self.image_shape[0] - self.P + 1, self.image_shape[1] - self.P + 1)
        self.n_patches = self.grid_shape[0] * self.grid_shape[1]
        self.has_third: bool | None = None  # fixed by the first non-empty add

        shape = self.image_shape
        self._added = np.zeros(self.n_patches, dtype=bool)  # patches seen so far, (N,)
        self._count = np.zeros(shape)  # covering patches seen per pixel
        self._shift = np.zeros(shape)  # K: the first mean seen per pixel
        self._sum1 = np.zeros(shape)  # sum (m - K)
        self._sum2 = np.zeros(shape)  # sum (m - K)^2
        self._sum_v = np.zeros(shape)  # sum v
        self._sum3 = np.zeros(0)  # sum (m - K)^3          } allocated when third moments come
        self._sum_vd = np.zeros(0)  # sum v (m - K)        }
        self._sum_t = np.zeros(0)  # sum t                 }

    def add(
        self,
        start: int,
        mean: np.ndarray,
        variance: np.ndarray,
        third: np.ndarray | None = None,
    ) -> None:
        """Add the moments (n, D) of the patches with global indices start..start+n-1.

        mean, variance and third (optional): (n, D) real arrays, finite; variance >= 0.
        """
        arrays = {"mean": mean, "variance": variance}
        if third is not None:
            arrays["third"] = third
        first, checked = self._checked_chunk(start, arrays)
        n = checked["mean"].shape[0]
        if n == 0:
            return
        self._claim(first, n, third is not None)

        P = self.P
        for rows, shape, i, j, target in _covering_offsets(first, n, self.grid_shape[1], P):
            values = {name: v[rows].reshape(*shape, P, P)[:, :, i, j] for name, v in checked.items()}
            self._accumulate(target, values)

    def _checked_chunk(self, start: object, arrays: dict[str, np.ndarray]) -> tuple[int, dict[str, np.ndarray]]:
        """start as an int and the arrays as float64, or a ValueError naming what is wrong."""
        checked = {name: self._check_moment(name, value) for name, value in arrays.items()}
        shape = checked["mean"].shape
        for name, value in checked.items():
            if value.shape != shape:
                raise ValueError(f"{name} has shape {value.shape} but mean has shape {shape}")
        n = shape[0]
        first = _as_int(start)
        if first is None or not 0 <= first <= self.n_patches - n:
            raise ValueError(
                f"moments for patches [{start}, {start} + {n}) do not fit in the "
                f"N = {self.n_patches} patches of an image of shape {self.image_shape} "
                f"with P={self.P}"
            )
        v = checked["variance"]
        if (v < 0).any():
            row, col = np.argwhere(v < 0)[0]
            raise ValueError(f"variance must be >= 0, got {v[row, col]} for patch {first + row}, pixel {col}")
        return first, checked

    def _claim(self, first: int, n: int, has_third: bool) -> None:
        """Mark patches first..first+n-1 as added; fix has_third on the first non-empty chunk."""
        if self.has_third is not None and self.has_third != has_third:
            raise ValueError(
                "third moments must be given for every chunk or for none: earlier chunks "
                + ("had them, this one has none" if self.has_third else "had none, this one has")
            )
        _mark_added(self._added, first, np.ones(n, dtype=bool))
        if self.has_third is None:
            self.has_third = has_third
            if has_third:
                self._sum3 = np.zeros(self.image_shape)
                self._sum_vd = np.zeros(self.image_shape)
                self._sum_t = np.zeros(self.image_shape)

    def _check_moment(self, name: str, value: np.ndarray) -> np.ndarray:
        array = np.asarray(value)
        D = self.P * self.P
        if array.ndim != 2 or array.shape[1] != D:
            raise ValueError(f"{name} must have shape (n, D) = (n, {D}) for P={self.P}, got shape {array.shape}")
        _check_real_dtype(name, array)
        array = array.astype(np.float64, copy=False)
        finite = np.isfinite(array)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            raise ValueError(
                f"{name} of shape {array.shape} contains NaN or Inf (first: {array[row, col]} "
                f"in row {row} of the chunk, pixel {col})"
            )
        return array

    def _accumulate(self, target: tuple[slice, slice], values: dict[str, np.ndarray]) -> None:
        m, v = values["mean"], values["variance"]
        shift = self._shift[target]
        count = self._count[target]
        np.copyto(shift, m, where=count == 0)
        d = m - shift
        d2 = d * d
        self._sum1[target] += d
        self._sum2[target] += d2
        self._sum_v[target] += v
        if self.has_third:
            self._sum3[target] += d2 * d
            self._sum_vd[target] += v * d
            self._sum_t[target] += values["third"]
        count += 1

    def band_state(self) -> dict[str, np.ndarray]:
        """This merger's per-pixel sums and the patches added, for `absorb` into the merger of a
        larger image of which this merger's image is a band of whole rows (the rank-parallel merge)."""
        state = {
            "added": self._added,
            "count": self._count,
            "shift": self._shift,
            "sum1": self._sum1,
            "sum2": self._sum2,
            "sum_v": self._sum_v,
        }
        if self.has_third:
            state.update(sum3=self._sum3, sum_vd=self._sum_vd, sum_t=self._sum_t)
        return state

    def absorb(self, state: dict[str, np.ndarray], row0: int) -> None:
        """Adds what a merger of the rows row0.. of this image (same P and columns) merged, as given by
        its `band_state`. Each patch may be added once over all adds and absorbs; third moments in
        all or none. The band's sums around its shifts K_b are moved to this merger's shifts K
        (d = (m - K_b) + (K_b - K)): bitwise the same as adding the band's moments here for a pixel
        that only one of the two covered, equal to rounding otherwise."""
        has_third = "sum3" in state
        if bool(np.any(state.get("count", 0))):
            self._claim(0, 0, has_third)  # fixes or checks has_third, claims no patch
        rows, n_rows = _claim_band(self._added, state.get("added"), self.image_shape, self.P, row0)
        names = ("count", "shift", "sum1", "sum2", "sum_v") + (("sum3", "sum_vd", "sum_t") if has_third else ())
        _check_band_arrays(state, names, (n_rows, self.image_shape[1]))
        n_b, s1, s2, sv = (np.asarray(state[name]) for name in ("count", "sum1", "sum2", "sum_v"))
        count, shift = self._count[rows], self._shift[rows]
        np.copyto(shift, state["shift"], where=count == 0)
        delta = state["shift"] - shift  # 0 where this merger had nothing yet: the sums add exactly
        if has_third and self.has_third:
            s3, svd = np.asarray(state["sum3"]), np.asarray(state["sum_vd"])
            self._sum3[rows] += s3 + 3.0 * delta * s2 + 3.0 * delta**2 * s1 + n_b * delta**3
            self._sum_vd[rows] += svd + delta * sv
            self._sum_t[rows] += state["sum_t"]
        self._sum1[rows] += s1 + n_b * delta
        self._sum2[rows] += s2 + 2.0 * delta * s1 + n_b * delta**2
        self._sum_v[rows] += sv
        count += n_b

    def result(self) -> PixelMoments:
        """The per-pixel maps. Raises ValueError if some pixel has no estimate yet.

        The between term is clamped at 0 (rounding can make it slightly negative). The skewness is
        0 where V == 0, where sqrt(V) <= 1e-12 |M| (below the rounding level of the shifted sums)
        or where V^(3/2) underflows.
        """
        uncovered = self._count == 0
        if uncovered.any():
            r, c = np.argwhere(uncovered)[0]
            raise ValueError(
                f"{int(uncovered.sum())} of {uncovered.size} pixels of the image of shape "
                f"{self.image_shape} have no estimate yet (first at pixel ({r}, {c})); "
                f"{int(self._added.sum())} of N = {self.n_patches} patches were added"
            )
        n = self._count
        mu = self._sum1 / n  # M - K
        mean = self._shift + mu
        within = self._sum_v / n
        between = np.maximum(self._sum2 / n - mu * mu, 0.0)
        variance = within + between
        if not self.has_third:
            return PixelMoments(mean, variance, within, between)

        # Central moments of the means from the shifted sums: E[(m-M)^3] with m - M = d - mu.
        central3 = self._sum3 / n - 3.0 * mu * (self._sum2 / n) + 2.0 * mu**3
        cross = self._sum_vd / n - within * mu  # E[v (m - M)]
        third = self._sum_t / n + 3.0 * cross + central3
        scale = variance**1.5
        defined = (np.sqrt(variance) > _SKEW_REL_FLOOR * np.abs(mean)) & (scale >= np.finfo(np.float64).tiny)
        skewness = np.zeros_like(third)
        np.divide(third, scale, out=skewness, where=defined)
        return PixelMoments(mean, variance, within, between, third, skewness)


def merge_moments(
    mean: np.ndarray,
    variance: np.ndarray,
    image_shape: Sequence[int],
    P: int,
    third: np.ndarray | None = None,
) -> PixelMoments:
    """Per-pixel moments from the moments (N, D) of all N patches of an image; see MomentMerger."""
    merger = MomentMerger(image_shape, P)
    shape = np.shape(mean)
    if len(shape) != 2 or shape[0] != merger.n_patches:
        raise ValueError(
            f"mean must have shape (N, D) = ({merger.n_patches}, {merger.P**2}) for an image of "
            f"shape {merger.image_shape} with P={merger.P}, got shape {shape}"
        )
    merger.add(0, mean, variance, third)
    return merger.result()
