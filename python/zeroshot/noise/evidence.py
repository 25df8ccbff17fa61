"""What the noise models measure of an image to be decided and estimated: its values, their magnitude, whether they
are integers or constant, and the noise ACF."""

from __future__ import annotations

import numpy as np

from zeroshot.noise.statistics import NoiseACF, correlation_ratio, estimate_noise_acf

__all__ = [
    "ACF_LAGS",
    "HUGE_VALUES",
    "acf_or_none",
    "constant",
    "correlation_evidence",
    "image_values",
    "integer_valued",
    "peak_of",
]

# Squares of values beyond this overflow float64: such an image is judged by the scale-free ratio q alone (its
# ACF is not estimated, and values that large are never counts).
HUGE_VALUES = 1e150
# The ACF recorded with a decision: lags 0..ACF_LAGS (patch sides are 5-10; 7 still lets 16 x 16 blocks be
# tried, which an image without flat 32 x 32 regions needs).
ACF_LAGS = 7


def image_values(image: np.ndarray) -> np.ndarray:
    """The image (R, C) as float64, or a ValueError for another number of axes."""
    values = np.asarray(image, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"the noise model needs a 2-D image, got shape {values.shape}")
    return values


def peak_of(values: np.ndarray) -> float:
    """The largest magnitude of the values (0 for none)."""
    return float(np.max(np.abs(values))) if values.size else 0.0


def constant(values: np.ndarray) -> bool:
    return bool(values.size) and float(values.max()) == float(values.min())


def integer_valued(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


def acf_or_none(values: np.ndarray) -> NoiseACF | None:
    """The noise ACF at lags up to ACF_LAGS, None for an image under 8 x 8."""
    if min(values.shape) < 8:
        return None
    return estimate_noise_acf(values, ACF_LAGS)


def correlation_evidence(values: np.ndarray, peak: float) -> tuple[NoiseACF | None, float]:
    """(the noise ACF, or None where it is not estimated: values too large to square or an image too small; the
    correlation ratio q, which is scale-free) of an image whose values reach `peak`."""
    huge = peak > HUGE_VALUES
    acf = None if huge else acf_or_none(values)
    return acf, correlation_ratio(values / peak if huge else values)
