"""White Gaussian noise: nothing estimated when asked for, nothing transformed, nothing whitened (the results are
bitwise those of the white pipeline)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from zeroshot.noise.model import NoiseModel
from zeroshot.noise.patch_size import estimate_noise_sigma
from zeroshot.noise.statistics import NoiseACF

__all__ = ["WhiteNoise"]


@dataclass(frozen=True, eq=False)
class WhiteNoise(NoiseModel):
    """White Gaussian noise of one sigma, learned by the models as it is."""

    kind: ClassVar[str] = "white"

    @classmethod
    def estimate(cls, image: np.ndarray, asked: str) -> WhiteNoise:
        """Taken as it is, without estimates."""
        return cls(asked, "white (as asked)")

    @classmethod
    def of_constant(cls, values: np.ndarray, asked: str) -> WhiteNoise:
        """The model of a constant image (for every asked model: a covariance of variance 0 whitens nothing)."""
        return cls(asked, f"white: the image is constant ({values.flat[0]:.4g}), nothing to denoise")

    @classmethod
    def by_elimination(cls, values: np.ndarray, peak: float, acf: NoiseACF | None, q: float, reason: str) -> WhiteNoise:
        """noise="auto"'s model of an image whose noise is neither Poisson nor correlated (`reason`), with the
        measures that said so and its noise sigma in the description."""
        sigma = 0.0 if peak == 0 else math.nan
        if min(values.shape) >= 2 and peak > 0:
            sigma = estimate_noise_sigma(values / peak) * peak
        words = f"noise sigma {sigma:.4g}, ratio q {q:.3g}" if math.isfinite(q) else f"noise sigma {sigma:.4g}"
        return cls("auto", f"white: {words} ({reason})", acf=acf, q=q)

    def plain_words(self, sigma: float | None) -> str:
        estimate = "" if sigma is None else f", estimated sigma {sigma:.3g} grey levels"
        return f"noise: white{self._as_asked()}{estimate}"
