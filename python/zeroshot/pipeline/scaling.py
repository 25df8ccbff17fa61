"""The image's value scaling: to zero mean and unit variance for learning, and back to the input's scale."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zeroshot._core import SIGMA2_MIN
from zeroshot.patches.moments import PixelMoments

# The largest magnitude a scaled value may reach: its square, summed over a patch and divided by the least noise
# variance learning gives, stays far inside float64 (the learned images reach a few units).
MAX_SCALED = math.sqrt(float(np.finfo(np.float64).max) * SIGMA2_MIN) / 1e6


@dataclass(frozen=True)
class ImageScaling:
    """scaled = (x / peak - offset_unit) / scale_unit, so x = scaled * scale + offset with
    scale = scale_unit * peak and offset = offset_unit * peak. The statistics are taken of x / peak
    (peak = max |x|) so that they cannot overflow: an image of values near 1e300 would give inf and NaN."""

    peak: float
    offset_unit: float
    scale_unit: float

    @classmethod
    def normalise(cls, values: np.ndarray) -> ImageScaling:
        """Scales `values` (float64, the pipeline's own copy) in place; returns the scaling to undo it.
        In place: one image copy less counts for a large micrograph."""
        peak = float(np.max(np.abs(values)))
        if peak > 0:
            values /= peak
        offset_unit, scale_unit = float(values.mean()), float(values.std())
        scale_unit = scale_unit if scale_unit > 0 else 1.0
        values -= offset_unit
        values /= scale_unit
        return cls(peak if peak > 0 else 1.0, offset_unit, scale_unit)

    def apply(self, values: np.ndarray, of: str) -> np.ndarray:
        """Another image (float64, the pipeline's own copy) mapped by this scaling, in place: the operations
        of `normalise`, so that the image this scaling was made of would come out bitwise the same. A
        ValueError, before any change, when its values would reach beyond MAX_SCALED (`of`: where the scaling
        comes from, for the message)."""
        largest = max(float(values.max()), -float(values.min()))
        reach = (largest / self.peak + abs(self.offset_unit)) / self.scale_unit  # Python floats: inf, no warning
        if reach > MAX_SCALED:
            raise ValueError(
                f"values up to {largest:.3g} do not fit the value scaling of {of} (learned on values up to "
                f"{self.peak:.3g}): on it they would reach {reach:.3g}, beyond the {MAX_SCALED:.3g} that can be "
                "computed with"
            )
        values /= self.peak
        values -= self.offset_unit
        values /= self.scale_unit
        return values

    @property
    def scale(self) -> float:
        return self.scale_unit * self.peak

    @property
    def offset(self) -> float:
        return self.offset_unit * self.peak

    def check_moments_fit(self, order: int) -> None:
        check_moments_fit(self.peak, order)

    def to_input(self, denoised: np.ndarray) -> np.ndarray:
        """The scaled image back on the input's scale, in place (bitwise the same as new arrays)."""
        denoised *= self.scale_unit
        denoised += self.offset_unit
        denoised *= self.peak
        return denoised

    def moments_to_input(self, m: PixelMoments) -> PixelMoments:
        """Moments of x * scale + offset, in place (the maps are the pipeline's own). Products one factor
        at a time: scale**2 may overflow where V * scale does not, and 0 * inf would be NaN."""
        mean = m.mean  # a local name: `m.mean *= ...` would assign to the frozen dataclass
        mean *= self.scale
        mean += self.offset
        for power, maps in ((2, (m.variance, m.within, m.between)), (3, (m.third,))):
            for values in maps:
                if values is not None:
                    for _ in range(power):
                        values *= self.scale
        return m


def check_moments_fit(peak: float, order: int) -> None:
    """Moment maps of order k scale with peak**k (peak: the image's largest magnitude): refuse, before any
    work, an image whose maps would overflow float64 (a ValueError naming the largest value)."""
    limit = float(np.finfo(np.float64).max) ** (1.0 / order) / 1e3  # headroom for sums of patches
    if order > 1 and peak > limit:
        raise ValueError(
            f"the image's largest magnitude {peak:.4g} is too large for posterior moments of order {order} "
            f"(their maps scale with value**{order} and would overflow float64 above {limit:.3g}); divide the "
            "image by a constant first, or ask for the denoised image alone"
        )
