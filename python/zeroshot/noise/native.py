"""Poisson counts learned as they are, by a model that is itself the Poisson noise model (the PMM: a model family
of counts, `zeroshot.models.family.ModelFamily.counts`): nothing estimated, nothing transformed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from zeroshot.noise.model import NoiseModel
from zeroshot.noise.poisson import PoissonNoise

__all__ = ["NATIVE_NOISE_OPTIONS", "NativeCounts"]

# The noise options a model of counts takes: both mean its own Poisson noise model.
NATIVE_NOISE_OPTIONS = ("auto", PoissonNoise.kind)


@dataclass(frozen=True, eq=False)
class NativeCounts(NoiseModel):
    """The noise model of the runs of a model family of counts (the PMM)."""

    kind: ClassVar[str] = "poisson-native"
    askable: ClassVar[bool] = False
    sigma_on_input_scale: ClassVar[bool] = False

    @classmethod
    def estimate(cls, image: np.ndarray, asked: str) -> NativeCounts:
        """Nothing to estimate: the model is the noise model."""
        description = "poisson-native: model pmm is the Poisson noise model itself (counts learned as they are)"
        return cls(asked, description)

    def agrees_with(self, noise: str) -> bool:
        return noise in NATIVE_NOISE_OPTIONS

    def plain_words(self, sigma: float | None) -> str:
        return "noise: Poisson counts, learned as they are by model pmm"
