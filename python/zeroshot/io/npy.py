"""NumPy .npy files: any real dtype, no pixel size."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from zeroshot.io.limits import HeaderCheck, check_declared
from zeroshot.io.pixelsize import PixelSize

_MAGIC = b"\x93NUMPY"


def read_npy(path: Path, check: HeaderCheck | None = None) -> tuple[np.ndarray, PixelSize | None]:
    try:
        with open(path, "rb") as fh:
            start = fh.read(len(_MAGIC))
            if start == _MAGIC:
                fh.seek(0)
                shape, dtype = _header(fh, path)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from exc
    if start != _MAGIC:
        # Checked here: np.load would take any other bytes for a pickle and suggest unpickling them.
        raise ValueError(f"{path}: not a .npy file (it does not start with the NumPy header)")
    if not dtype.hasobject:
        check_declared(check, path, shape, dtype)
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError for broken files
        raise ValueError(f"{path}: not a readable .npy file ({exc})") from exc
    if not isinstance(data, np.ndarray):
        raise ValueError(f"{path}: does not hold a single array")
    return data, None


def _header(fh: BinaryIO, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype the .npy header declares."""
    try:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fh)
    except Exception as exc:  # ValueError, UnicodeDecodeError, SyntaxError of a broken header
        raise ValueError(f"{path}: not a readable .npy file (its header: {exc})") from exc
    return tuple(shape), np.dtype(dtype)


def write_npy(path: Path, data: np.ndarray, pixel_size: PixelSize | None) -> None:
    """The pixel size has no place in a .npy file and is dropped (a sidecar can keep it)."""
    with open(path, "wb") as fh:  # a file object: np.save would add ".npy" to a temporary name
        np.save(fh, data, allow_pickle=False)
