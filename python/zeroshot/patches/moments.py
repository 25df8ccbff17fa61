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
    skewness  mu3 / V^(3/2), defined as 0 where V is ~0 (see MomentAccumulator.result)

Numerics: the sums of powers of m are accumulated around a per-pixel shift K (the first mean seen
for that pixel), so B and mu3 come from differences of numbers of the size of the spread of the
estimates, not of their magnitude: adding 1e6 to every mean changes V by rounding only.
Memory beside the merger's count: 4 (R, C) float64 maps, 7 with third moments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

from zeroshot.patches.grid import PatchGrid
from zeroshot.patches.merge import Merger, check_finite

__all__ = ["MomentAccumulator", "PixelMoments", "merge_moments"]

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

    @classmethod
    def of(cls, maps: Mapping[str, np.ndarray]) -> PixelMoments:
        """The moments among named maps (a merger's result); other maps are left out."""
        return cls(**{f.name: maps[f.name] for f in fields(cls) if f.name in maps})

    def cropped(self, R: int, C: int) -> PixelMoments:
        """The maps' first R rows and C columns (new contiguous arrays)."""

        def crop(values: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(values[:R, :C])

        third, skewness = self.third, self.skewness
        return PixelMoments(
            crop(self.mean),
            crop(self.variance),
            crop(self.within),
            crop(self.between),
            None if third is None else crop(third),
            None if skewness is None else crop(skewness),
        )


class MomentAccumulator:
    """The per-pixel moments of the mixture of the covering patches' posteriors, from their mean and
    variance (n, D) and, if `third`, third central moments. Gives the maps mean, variance, within,
    between and, with third moments, third and skewness."""

    name: str = "moments"

    def __init__(self, grid: PatchGrid, third: bool = False) -> None:
        self.third = third
        self.inputs: tuple[str, ...] = ("mean", "variance", "third") if third else ("mean", "variance")
        shape = grid.shape
        self._shift = np.zeros(shape)  # K: the first mean seen per pixel
        self._sum1 = np.zeros(shape)  # sum (m - K)
        self._sum2 = np.zeros(shape)  # sum (m - K)^2
        self._sum_v = np.zeros(shape)  # sum v
        if third:
            self._sum3 = np.zeros(shape)  # sum (m - K)^3
            self._sum_vd = np.zeros(shape)  # sum v (m - K)
            self._sum_t = np.zeros(shape)  # sum t

    def empty(self, grid: PatchGrid) -> MomentAccumulator:
        return MomentAccumulator(grid, self.third)

    def add(
        self, target: tuple[slice, slice], i: int, j: int, values: Mapping[str, np.ndarray], first: np.ndarray
    ) -> None:
        m, v = values["mean"], values["variance"]
        shift = self._shift[target]
        np.copyto(shift, m, where=first)
        d = m - shift
        d2 = d * d
        self._sum1[target] += d
        self._sum2[target] += d2
        self._sum_v[target] += v
        if self.third:
            self._sum3[target] += d2 * d
            self._sum_vd[target] += v * d
            self._sum_t[target] += values["third"]

    def band_state(self) -> dict[str, np.ndarray]:
        state = {"shift": self._shift, "sum1": self._sum1, "sum2": self._sum2, "sum_v": self._sum_v}
        if self.third:
            state.update(sum3=self._sum3, sum_vd=self._sum_vd, sum_t=self._sum_t)
        return state

    def absorb(self, state: Mapping[str, np.ndarray], rows: slice, count: np.ndarray, first: np.ndarray) -> None:
        """The band's sums around its shifts K_b are moved to this accumulator's shifts K
        (d = (m - K_b) + (K_b - K)): bitwise the same as adding the band's moments here for a pixel that
        only one of the two covered, equal to rounding otherwise."""
        n_b = count
        s1, s2, sv = (np.asarray(state[name]) for name in ("sum1", "sum2", "sum_v"))
        shift = self._shift[rows]
        np.copyto(shift, state["shift"], where=first)
        delta = state["shift"] - shift  # 0 where this merger had nothing yet: the sums add exactly
        if self.third:
            s3, svd = np.asarray(state["sum3"]), np.asarray(state["sum_vd"])
            self._sum3[rows] += s3 + 3.0 * delta * s2 + 3.0 * delta**2 * s1 + n_b * delta**3
            self._sum_vd[rows] += svd + delta * sv
            self._sum_t[rows] += state["sum_t"]
        self._sum1[rows] += s1 + n_b * delta
        self._sum2[rows] += s2 + 2.0 * delta * s1 + n_b * delta**2
        self._sum_v[rows] += sv

    def result(self, count: np.ndarray) -> dict[str, np.ndarray]:
        """The maps by name. The between term is clamped at 0 (rounding can make it slightly negative).
        The skewness is 0 where V == 0, where sqrt(V) <= 1e-12 |M| (below the rounding level of the
        shifted sums) or where V^(3/2) underflows."""
        n = count
        mu = self._sum1 / n  # M - K
        mean = self._shift + mu
        within = self._sum_v / n
        between = np.maximum(self._sum2 / n - mu * mu, 0.0)
        variance = within + between
        maps = {"mean": mean, "variance": variance, "within": within, "between": between}
        if not self.third:
            return maps

        # Central moments of the means from the shifted sums: E[(m-M)^3] with m - M = d - mu.
        central3 = self._sum3 / n - 3.0 * mu * (self._sum2 / n) + 2.0 * mu**3
        cross = self._sum_vd / n - within * mu  # E[v (m - M)]
        third = self._sum_t / n + 3.0 * cross + central3
        scale = variance**1.5
        defined = (np.sqrt(variance) > _SKEW_REL_FLOOR * np.abs(mean)) & (scale >= np.finfo(np.float64).tiny)
        skewness = np.zeros_like(third)
        np.divide(third, scale, out=skewness, where=defined)
        return {**maps, "third": third, "skewness": skewness}


def merge_moments(
    mean: np.ndarray,
    variance: np.ndarray,
    image_shape: Sequence[int],
    P: int,
    third: np.ndarray | None = None,
) -> PixelMoments:
    """Per-pixel moments from the moments (N, D) of all N patches of an image: mean, variance (>= 0) and
    third (optional), each (N, D), finite; see MomentAccumulator."""
    grid = PatchGrid.of(image_shape, P)
    merger = Merger(grid, [MomentAccumulator(grid, third is not None)])
    shape = np.shape(mean)
    if len(shape) != 2 or shape[0] != grid.N:
        raise ValueError(
            f"mean must have shape (N, D) = ({grid.N}, {grid.D}) for an image of "
            f"shape {grid.shape} with P={grid.P}, got shape {shape}"
        )
    for name, values in (("mean", mean), ("variance", variance), ("third", third)):
        if values is not None:
            check_finite(name, np.asarray(values))
    negative = np.asarray(variance) < 0
    if negative.any():
        row, col = np.argwhere(negative)[0]
        raise ValueError(f"variance must be >= 0, got {np.asarray(variance)[row, col]} for patch {row}, pixel {col}")
    merger.add(0, mean, variance, third)
    return PixelMoments.of(merger.result())
