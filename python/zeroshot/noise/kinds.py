"""The kinds of noise: the one table of the noise models, each a `NoiseModel` class owning what its kind does
differently. `NOISE_MODELS` (the values of `DenoiseConfig.noise` and of the command line's --noise), model files,
checkpoints and sidecars read it. Adding a noise model: CONTRIBUTING.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from zeroshot.noise.correlated import CorrelatedNoise
from zeroshot.noise.model import NoiseModel
from zeroshot.noise.native import NativeCounts
from zeroshot.noise.poisson import PoissonNoise
from zeroshot.noise.white import WhiteNoise

__all__ = ["NOISE_KINDS", "NOISE_MODELS", "noise_from_stored", "noise_model_named", "stored_array_names"]

# The noise models by kind (a new noise model: its class and one line here).
NOISE_KINDS: dict[str, type[NoiseModel]] = {
    model.kind: model
    for model in (
        WhiteNoise,
        PoissonNoise,
        CorrelatedNoise,
        NativeCounts,
    )
}

# The values of the noise option: "auto" (decided from the image, `zeroshot.noise.decide`) or an askable kind.
NOISE_MODELS = ("auto", *(kind for kind, model in NOISE_KINDS.items() if model.askable))


def noise_model_named(kind: object) -> type[NoiseModel]:
    """The noise model class of `kind`, or a ValueError naming the kinds there are."""
    model = NOISE_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValueError(f"noise model kind must be one of {tuple(NOISE_KINDS)}, got {kind!r}")
    return model


def noise_from_stored(record: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> NoiseModel:
    """The noise model of `NoiseModel.stored`'s record and arrays; ValueError, TypeError or KeyError when they are
    not one."""
    if not isinstance(record, Mapping):
        raise TypeError(f"a noise model record must be a mapping, got {record!r}")
    model = noise_model_named(record["kind"])
    if record["asked"] not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {NOISE_MODELS}, got {record['asked']!r}")
    return model.from_stored(record, arrays)


def stored_array_names() -> frozenset[str]:
    """The names of the arrays that the noise models' file records may hold."""
    return frozenset(name for model in NOISE_KINDS.values() for name in model.stored_arrays)
