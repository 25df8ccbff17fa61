"""Reading and writing single-channel images: PNG and TIFF (via pillow) and .npy (via numpy).

zeroshot works on one 2-D array of real numbers (R, C). ``read_image`` returns it with the file's
own dtype (uint8, uint16, float32 for PNG/TIFF; any real dtype for .npy); ``write_image`` converts
to the requested dtype (rounding and clipping for integers) and writes atomically, so a failed
write never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Union

import numpy as np
from numpy.typing import DTypeLike

PathLike = Union[str, "os.PathLike[str]"]

# Target dtypes each suffix can hold; .npy takes any real dtype.
_PIL_DTYPES = {
    ".png": ("PNG", (np.dtype(np.uint8), np.dtype(np.uint16))),
    ".tif": ("TIFF", (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))),
    ".tiff": ("TIFF", (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))),
}
_SUFFIXES = (".png", ".tif", ".tiff", ".npy")


def _real_dtype(dtype: DTypeLike, what: str) -> np.dtype:
    """``np.dtype(dtype)`` if it is a real integer or floating type, else ValueError."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"{what}: {dtype!r} is not a numpy dtype") from exc
    if dt.kind not in "uif":
        raise ValueError(f"{what}: dtype {dt} is not a real integer or floating type")
    return dt


def _check_finite(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name}: contains {n_bad} NaN or infinite value(s)")


def to_dtype_like(values: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """Convert ``values`` to ``dtype``: round to nearest and clip to the range for integer dtypes,
    a plain cast for floating dtypes.

    Raises ValueError for a non-real dtype, NaN/Inf going to an integer dtype, or finite values too
    large for a floating dtype (they would silently become Inf).
    """
    dt = _real_dtype(dtype, "to_dtype_like")
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
                    f"to_dtype_like: value {biggest:g} does not fit in {dt} "
                    f"(max {float(np.finfo(dt).max):g})"
                )
        return arr.astype(dt)
    if arr.dtype.kind == "b":
        return arr.astype(dt)
    if arr.dtype.kind in "ui":
        # Integer to integer: clip exactly in integer arithmetic, with bounds the source can hold.
        src, dst = np.iinfo(arr.dtype), np.iinfo(dt)
        lo, hi = max(src.min, dst.min), min(src.max, dst.max)
        return np.clip(arr, arr.dtype.type(lo), arr.dtype.type(hi)).astype(dt)
    f = arr.astype(np.float64)
    _check_finite(f, f"to_dtype_like to {dt}")
    info = np.iinfo(dt)
    top = float(info.max)
    if int(top) > info.max:  # 2**63 - 1 rounds up to 2**63 as a float: step below it
        top = float(np.nextafter(top, 0.0))
    return np.clip(np.rint(f), float(info.min), top).astype(dt)


# ------------------------------------------------------------------------------------------ read


def read_image(path: PathLike) -> np.ndarray:
    """Read a single-channel image as a 2-D array (R, C) with the file's dtype.

    Supported: grayscale PNG/TIFF with 8 bits (uint8) or 16 bits (uint16), float TIFF (float32),
    and .npy files holding a 2-D real array (any real dtype, returned in native byte order).
    An RGB/RGBA/palette image is accepted only if its colour channels are equal and it is opaque
    (returned as uint8); otherwise, and for a missing, non-image, corrupt, multi-frame or empty
    file, or NaN/Inf values, ValueError is raised with the file name in its message.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such file" if not p.exists() else f"{p}: not a regular file")
    if p.suffix.lower() == ".npy":
        arr = _read_npy(p)
    else:
        arr = _read_pil(p)
    if arr.ndim != 2:
        raise ValueError(f"{p}: expected a 2-D image, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{p}: the image is empty (shape {arr.shape})")
    _check_finite(arr, str(p))
    return arr


def _read_npy(p: Path) -> np.ndarray:
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError for broken files
        raise ValueError(f"{p}: not a readable .npy file ({exc})") from exc
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{p}: does not hold a single array")
    if arr.dtype.kind not in "uif":
        raise ValueError(f"{p}: dtype {arr.dtype} is not a real integer or floating type")
    # Native byte order and C order, so downstream code (and the compiled core) can take views.
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))


def _read_pil(p: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(p) as im:
            n_frames = getattr(im, "n_frames", 1)
            if n_frames > 1:
                raise ValueError(f"{p}: has {n_frames} frames; zeroshot reads one 2-D image")
            im.load()  # decode now: a truncated or corrupt file fails here, not later
            return _pil_to_array(im, p)
    except ValueError:
        raise
    # UnidentifiedImageError, OSError (truncated file), DecompressionBombError, ...
    except Exception as exc:
        raise ValueError(f"{p}: not a readable image file ({exc})") from exc


def _pil_to_array(im, p: Path) -> np.ndarray:
    mode = im.mode
    if mode in ("L", "F"):
        return np.array(im)
    if mode.startswith("I;16"):
        # I;16, I;16L, I;16B: 16-bit unsigned in either byte order -> native uint16.
        return np.array(im).astype(np.uint16)
    if mode == "I":
        arr = np.array(im)
        # Older pillow opens 16-bit grayscale PNG as 32-bit mode "I"; PNG has no 32-bit grayscale.
        if im.format == "PNG":
            return arr.astype(np.uint16)
        return arr.astype(np.int32)
    if mode == "1":
        return np.array(im.convert("L"))
    # Colour, alpha or palette modes: accept only an opaque image whose channels are all equal.
    rgba = np.array(im.convert("RGBA"))
    if not (rgba[..., 3] == 255).all():
        raise ValueError(
            f"{p}: image mode {mode} has transparency; zeroshot wants one opaque channel"
        )
    r, g, b = rgba[..., 0], rgba[..., 1], rgba[..., 2]
    if not (np.array_equal(r, g) and np.array_equal(r, b)):
        raise ValueError(
            f"{p}: image mode {mode} has colour channels that differ; zeroshot wants one channel "
            "(convert the image to grayscale first)"
        )
    return np.ascontiguousarray(r)


# ----------------------------------------------------------------------------------------- write


def check_writable(path: PathLike, dtype: DTypeLike) -> np.dtype:
    """Checks, before any work is done, that an image of `dtype` can be written to `path` (known suffix,
    a dtype the format stores, an existing folder); returns the stored dtype or raises ValueError."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"{p}: unknown image suffix {p.suffix!r}; use one of {', '.join(_SUFFIXES)}"
        )
    target = _real_dtype(dtype, str(p))
    if suffix in _PIL_DTYPES:
        fmt, allowed = _PIL_DTYPES[suffix]
        if target.newbyteorder("=") not in allowed:
            hint = ", or write .npy / .tif (float32)" if target.kind == "f" else ""
            raise ValueError(
                f"{p}: {fmt} cannot store dtype {target}; pass dtype= one of "
                f"{', '.join(str(d) for d in allowed)}{hint}"
            )
        target = target.newbyteorder("=")
    if not p.parent.is_dir():
        raise ValueError(f"{p}: folder {p.parent} does not exist")
    return target


def write_image(path: PathLike, image: np.ndarray, dtype: DTypeLike | None = None) -> None:
    """Write a 2-D array (R, C) to ``path``; the format follows the suffix.

    ``dtype`` (default: ``image.dtype``) is the stored dtype; integer targets are rounded and
    clipped to the dtype's range. Allowed: .png uint8/uint16; .tif/.tiff uint8/uint16/float32;
    .npy any real dtype. The file is written to a temporary file in the same folder and moved into
    place, so a failure leaves nothing behind (and an existing file untouched).
    """
    p = Path(path)
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"{p}: expected a 2-D image to write, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{p}: refusing to write an empty image (shape {arr.shape})")
    if arr.dtype.kind not in "uifb":
        raise ValueError(f"{p}: image dtype {arr.dtype} is not real numbers")
    target = check_writable(p, arr.dtype if dtype is None else dtype)
    suffix = p.suffix.lower()
    _check_finite(arr, f"{p}: image to write")
    try:
        data = to_dtype_like(arr, target)
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from exc
    data = np.ascontiguousarray(data)

    folder = p.parent
    # Our own O_EXCL temporary name (not tempfile) so the new file gets the usual umask permissions.
    tmp = folder / f".{p.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            if suffix == ".npy":
                np.save(fh, data, allow_pickle=False)
            else:
                from PIL import Image

                Image.fromarray(data).save(fh, format=_PIL_DTYPES[suffix][0])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
