"""Poisson–Gaussian counts through the generalized Anscombe transform (`zeroshot.noise.anscombe`): the image is
transformed, the white-noise models denoise it there, and the closed-form exact unbiased inverse brings the denoised
image back; the moment maps go back by the delta method (variance, within and between by (dI/dD)², the third
moment by (dI/dD)³, the skewness unchanged)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from zeroshot.noise.anscombe import PoissonGaussian, gat_inverse, gat_inverse_derivative
from zeroshot.noise.evidence import HUGE_VALUES, acf_or_none, image_values, integer_valued, peak_of
from zeroshot.noise.model import NoiseModel
from zeroshot.noise.signal_dependent import PoissonGaussianFit, estimate_poisson_gaussian
from zeroshot.patches.moments import PixelMoments

__all__ = ["POISSON_MIN_GROWTH", "POISSON_MIN_T", "PoissonNoise"]

# noise="auto" takes an integer-valued image for counts when its fitted mean–variance line has a slope more than
# POISSON_MIN_T standard errors above 0 and grows at least POISSON_MIN_GROWTH-fold (`zeroshot.noise.decide`).
POISSON_MIN_T = 3.0
POISSON_MIN_GROWTH = 1.5


@dataclass(frozen=True, eq=False)
class PoissonNoise(NoiseModel):
    """Poisson–Gaussian counts, learned after the generalized Anscombe transform with the parameters `poisson`
    (gain, offset, read noise), where the noise sigma is 1."""

    kind: ClassVar[str] = "poisson"
    option_help: ClassVar[str] = "counts: generalized Anscombe transform, exact unbiased inverse"
    transforms: ClassVar[bool] = True
    sigma_on_input_scale: ClassVar[bool] = False

    # A plain default (frozen, so one shared instance is safe): a default_factory would leave the class attribute to
    # NoiseModel's read-only `poisson` property, which the generated __init__ could not set.
    poisson: PoissonGaussian = PoissonGaussian()  # noqa: RUF009

    @classmethod
    def estimate(cls, image: np.ndarray, asked: str) -> PoissonNoise:
        """ValueError for values too large to be counts, or an image whose noise variance does not grow with its
        mean and which is not made of non-negative counts."""
        values = image_values(image)
        peak = peak_of(values)
        if peak > HUGE_VALUES:
            raise ValueError(f"noise='poisson': values up to {peak:.4g} are not counts; use noise='white' or 'auto'")
        return cls.of_counts(values, asked)

    @classmethod
    def shows_in(cls, values: np.ndarray) -> bool:
        """Whether noise="auto" takes the image (values not too large to square) for counts: integer-valued,
        with a noise variance that grows clearly with its mean."""
        if min(values.shape) < 16 or not integer_valued(values):
            return False
        fit = _fit_or_none(values)
        return fit is not None and fit.slope > POISSON_MIN_T * fit.slope_se and fit.growth >= POISSON_MIN_GROWTH

    @classmethod
    def of_counts(cls, values: np.ndarray, asked: str) -> PoissonNoise:
        """The model with its gain and read noise fitted to the image's mean–variance line, or pure Poisson for
        non-negative counts without a line to fit; ValueError otherwise."""
        fit = _fit_or_none(values)
        if fit is not None and fit.slope > POISSON_MIN_T * fit.slope_se:
            params, growth, how = fit.params, fit.growth, f"variance grows {fit.growth:.3g}x over the mean levels"
        elif integer_valued(values) and float(values.min()) >= 0:
            params, growth, how = PoissonGaussian(), math.nan, "counts assumed: no mean–variance line to fit"
        else:
            raise ValueError(
                "noise='poisson': the image's noise variance does not grow with its mean (no gain could be fitted: "
                "the slope of its mean–variance line is not clearly above 0) and its values are not non-negative "
                "counts; use noise='white' or 'auto'"
            )
        description = f"poisson: {params.describe()} ({how})"
        return cls(asked, description, acf=acf_or_none(values), growth=growth, poisson=params)

    @property
    def known_sigma(self) -> float:
        return 1.0  # the transform's purpose

    def forward(self, values: np.ndarray) -> np.ndarray:
        """The generalized Anscombe transform, in place."""
        a, s, mu = self.poisson.gain, self.poisson.read_noise, self.poisson.offset
        values *= a
        values += 0.375 * a * a + s * s - a * mu
        np.maximum(values, 0.0, out=values)
        np.sqrt(values, out=values)
        values *= 2.0 / a
        return values

    def inverse(self, denoised: np.ndarray) -> np.ndarray:
        """The closed-form exact unbiased inverse."""
        return gat_inverse(denoised, self.poisson)

    def moments_to_input(self, moments: PixelMoments) -> PixelMoments:
        """By the delta method about the posterior mean D: mean I(D), variances (dI/dD)² ·, third moment
        (dI/dD)³ ·, skewness unchanged (dI/dD > 0)."""
        slope = gat_inverse_derivative(moments.mean, self.poisson)
        slope2 = slope * slope
        return replace(
            moments,
            mean=gat_inverse(moments.mean, self.poisson),
            variance=moments.variance * slope2,
            within=moments.within * slope2,
            between=moments.between * slope2,
            third=None if moments.third is None else moments.third * slope2 * slope,
        )

    def plain_words(self, sigma: float | None) -> str:
        return (
            f"noise: Poisson counts (gain {self.poisson.gain:.3g}){self._as_asked()}, denoised after the Anscombe "
            "transform (its noise sigma is about 1 when the transform fits)"
        )

    @classmethod
    def stored_parameters(cls, record: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
        return {"poisson": PoissonGaussian(**record["poisson"])}


def _fit_or_none(values: np.ndarray) -> PoissonGaussianFit | None:
    try:
        return estimate_poisson_gaussian(values)
    except ValueError:
        return None
