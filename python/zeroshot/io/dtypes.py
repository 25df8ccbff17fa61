"""Checks of dtypes and values, and the conversions of results to the dtype a file stores."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


def real_dtype(dtype: DTypeLike, what: str) -> np.dtype:
    """``np.dtype(dtype)`` if it is a real integer or floating type, else ValueError."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"{what}: {dtype!r} is not a numpy dtype") from exc
    if dt.kind not in "uif":
        raise ValueError(f"{what}: dtype {dt} is not a real integer or floating type")
    return dt


def check_finite(arr: np.ndarray, name: str) -> None:
    """ValueError naming `name` when a floating array holds NaN or infinite values."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name}: contains {n_bad} NaN or infinite value(s)")


def to_dtype_like(values: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """Convert ``values`` to ``dtype``: round to nearest and clip to the range for integer dtypes,
    a plain cast for floating dtypes.

    Raises ValueError for a non-real dtype, NaN/Inf going to an integer dtype, or finite values too
    large for a floating dtype (they would silently become Inf).
    """
    dt = real_dtype(dtype, "to_dtype_like")
    arr = np.asarray(values)
    if arr.dtype.kind not in "uifb":
        raise ValueError(f"to_dtype_like: values of dtype {arr.dtype} are not real numbers")
    if dt.kind == "f":
        finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
        if finite.size:
            # Python ints/floats here: an exact comparison, and no overflow warning from the cast.
            biggest = max(abs(finite.max().item()), abs(finite.min().item()))
            if biggest > float(np.finfo(dt).max):
                raise ValueError(
                    f"to_dtype_like: value {biggest:g} does not fit in {dt} (max {float(np.finfo(dt).max):g})"
                )
        return arr.astype(dt)
    if arr.dtype.kind == "b":
        return arr.astype(dt)
    if arr.dtype.kind in "ui":
        # Integer to integer: clip exactly in integer arithmetic, with bounds the source can hold.
        src, dst = np.iinfo(arr.dtype), np.iinfo(dt)
        lo, hi = max(src.min, dst.min), min(src.max, dst.max)
        clipped: np.ndarray = np.clip(arr, arr.dtype.type(lo), arr.dtype.type(hi)).astype(dt)
        return clipped
    f = arr.astype(np.float64)
    check_finite(f, f"to_dtype_like to {dt}")
    info = np.iinfo(dt)
    top = float(info.max)
    if int(top) > info.max:  # 2**63 - 1 rounds up to 2**63 as a float: step below it
        top = float(np.nextafter(top, 0.0))
    return np.clip(np.rint(f), float(info.min), top).astype(dt)


def stretch_to_dtype(values: np.ndarray, dtype: DTypeLike) -> tuple[np.ndarray, tuple[float, float]]:
    """Map ``values`` linearly onto the full range of the unsigned integer ``dtype``: the minimum
    becomes 0, the maximum the dtype's largest value (65535 for uint16), rounded to nearest. A
    constant image becomes all 0. Returns the array and the (minimum, maximum) that were mapped, so
    that ``minimum + stored * (maximum - minimum) / top`` recovers the values.
    """
    dt = real_dtype(dtype, "stretch_to_dtype")
    if dt.kind != "u":
        raise ValueError(f"stretch_to_dtype: {dt} is not an unsigned integer dtype")
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"stretch_to_dtype: no values to stretch (shape {arr.shape})")
    check_finite(arr, "stretch_to_dtype")
    low, high = float(arr.min()), float(arr.max())
    top = float(np.iinfo(dt).max)
    if high == low:
        return np.zeros(arr.shape, dt), (low, high)
    # (arr - low) / (high - low) in [0, 1] even when high - low overflows: scale both first.
    span = high / 2 - low / 2
    unit = (arr / 2 - low / 2) / span
    return np.clip(np.rint(unit * top), 0, top).astype(dt), (low, high)
