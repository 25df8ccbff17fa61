"""The napari writer of image layers to MRC and TIFF with the layer's scale as the pixel size (Qt-free)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.io import format_of, write_em
from zeroshot.napari._layers import pixel_size_of
from zeroshot.napari._notify import notify_error

# The suffixes of the writer (napari.yaml lists the same).
WRITE_SUFFIXES = (".mrc", ".mrcs", ".tif", ".tiff")


def stored_dtype(path: Path, data: np.ndarray) -> np.dtype:
    """The dtype `data` is written to `path` as: its own where the format stores it; else for integers (and
    booleans) the narrowest stored integer dtype that holds every value of their dtype (uint8 in MRC: int16),
    else the narrowest that holds the values present, else float32 (MRC) / float64 (TIFF); float32 for other
    floating types."""
    fmt = format_of(path)
    if fmt.stores(data.dtype):
        return data.dtype
    if data.dtype.kind in "uib":
        integers = sorted((d for d in fmt.write_dtypes if d.kind in "ui"), key=lambda d: d.itemsize)
        for dtype in integers:
            if np.can_cast(data.dtype, dtype, "safe"):
                return dtype
        lo, hi = (int(v) for v in (np.min(data), np.max(data)))
        for dtype in integers:
            info = np.iinfo(dtype)
            if info.min <= lo and hi <= info.max:
                return dtype
        return np.dtype(np.float64) if fmt.stores(np.dtype(np.float64)) else np.dtype(np.float32)
    return np.dtype(np.float32)


def write_layer(path: str | Path, data: Any, meta: Mapping[str, Any]) -> list[str]:
    """Writes one image layer (data and its napari state `meta`) to an MRC or TIFF file, the pixel size taken
    from the layer's scale and units (`pixel_size_of`); returns [path]. Raises ValueError naming the file for
    another suffix, an RGB or multiscale layer, or data the format cannot hold."""
    p = Path(path)
    if p.suffix.lower() not in WRITE_SUFFIXES:
        raise ValueError(f"{p}: the zeroshot writer writes {', '.join(WRITE_SUFFIXES)} files, not {p.suffix!r}")
    name = meta.get("name", "the layer")
    if meta.get("rgb"):
        raise ValueError(f"{p}: layer {name!r} is an RGB(A) image; the EM formats hold one channel")
    if meta.get("multiscale"):
        raise ValueError(f"{p}: layer {name!r} is multiscale; save one scale of it as its own layer")
    array = np.asarray(data)
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{p}: layer {name!r} has {array.ndim} dimensions (shape {array.shape}); "
            "the writer writes a 2-D image (R, C) or a stack of frames (F, R, C)"
        )
    if array.dtype.kind not in "uifb" or array.size == 0:
        raise ValueError(f"{p}: layer {name!r} holds {array.dtype} data of shape {array.shape}, not a real image")
    try:
        pixel_size = pixel_size_of(meta.get("scale", (1.0, 1.0)), meta.get("units"))
    except ValueError as error:
        raise ValueError(f"{p}: layer {name!r}: {error}") from None
    dtype = stored_dtype(p, array)
    _check_integers_kept(p, name, array, dtype)
    write_em(p, array, pixel_size=pixel_size, dtype=dtype, finite_only=False)  # MRC and TIFF store NaN and Inf
    return [str(p)]


def _check_integers_kept(path: Path, name: str, array: np.ndarray, dtype: np.dtype) -> None:
    """Integers the format stores only as floats must come through exactly: `dtype` keeps every integer up to
    2^(mantissa bits + 1) (float32: 16777216)."""
    if array.dtype.kind not in "ui" or dtype.kind != "f":
        return
    exact = 2 ** (np.finfo(dtype).nmant + 1)
    largest = max(int(np.max(array)), -int(np.min(array)))
    if largest > exact:
        advice = "write a .tif (TIFF stores (u)int32 and float64)" if dtype.itemsize < 8 else "scale it down first"
        raise ValueError(
            f"{path}: layer {name!r} holds {array.dtype} values up to {largest}, beyond the {exact} up to which "
            f"{dtype}, the widest dtype {path.suffix} stores them as, keeps every integer; {advice}"
        )


def write(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """napari's single-layer writer: `write_layer`, with a problem shown as a napari error notification (and
    nothing written) instead of a traceback."""
    try:
        return write_layer(path, data, meta)
    except (ValueError, OSError) as error:
        notify_error(str(error))
        return []
