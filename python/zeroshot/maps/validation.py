"""Argument checks of the rendering modules; each raises ValueError naming the argument."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_image", "as_number"]


def as_image(name: str, value: object) -> np.ndarray:
    """value as a float64 array (R, C): 2-D, non-empty, real and finite, else ValueError."""
    array = np.asarray(value)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (R, C), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: shape {array.shape}")
    if array.dtype.kind not in "uif":
        raise ValueError(f"{name} must have a real numeric dtype, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name} of shape {array.shape} contains NaN or Inf (first at pixel ({r}, {c}), value {array[r, c]})"
        )
    return array


def as_number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """value as a finite float in [minimum, maximum] ((minimum, maximum] if exclusive_minimum)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    number = float(value)
    too_low = minimum is not None and (number <= minimum if exclusive_minimum else number < minimum)
    too_high = maximum is not None and number > maximum
    if not np.isfinite(number) or too_low or too_high:
        lower = "" if minimum is None else f"{'>' if exclusive_minimum else '>='} {minimum:g}"
        upper = "" if maximum is None else f"<= {maximum:g}"
        bounds = " and ".join(b for b in (lower, upper) if b)
        raise ValueError(f"{name} must be a finite number{' ' + bounds if bounds else ''}, got {value!r}")
    return number
