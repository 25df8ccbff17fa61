"""MRC (and .mrcs stacks) through mrcfile: the voxel size in the header is in Å."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from zeroshot.io.limits import HeaderCheck, check_declared
from zeroshot.io.pixelsize import PixelSize, pixel_size_from

_HEADER_BYTES = 1024
# MRC modes and the dtype of one value (4-bit mode 101 is read as uint8, one value per byte).
_MODE_DTYPES = {0: np.int8, 1: np.int16, 2: np.float32, 3: np.complex64, 4: np.complex64, 6: np.uint16}
_MODE_DTYPES.update({12: np.float16, 101: np.uint8})


def _declared(path: Path) -> tuple[tuple[int, int, int], np.dtype | None, int] | None:
    """(nz, ny, nx), the dtype of the mode (None: unknown) and the extended header's length (nsymbt) from
    the 1024-byte header, in the byte order of its machine stamp; None for a file shorter than a header."""
    with open(path, "rb") as fh:
        header = fh.read(_HEADER_BYTES)
    if len(header) < _HEADER_BYTES:
        return None
    order = ">" if header[212] == 0x11 else "<"  # machine stamp 0x11 0x11: big-endian; otherwise little
    words = np.frombuffer(header, dtype=f"{order}i4", count=24)
    nx, ny, nz, mode, nsymbt = (int(words[i]) for i in (0, 1, 2, 3, 23))
    dtype = _MODE_DTYPES.get(mode)
    return (nz, ny, nx), None if dtype is None else np.dtype(dtype), nsymbt


def _check_header(path: Path, check: HeaderCheck | None) -> None:
    """Refuses, before mrcfile reads anything more, an extended header longer than the file and (`check`) a
    declared data block too large to decode."""
    try:
        declared = _declared(path)
        size = os.path.getsize(path)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from exc
    if declared is None:
        return  # mrcfile says what is wrong
    shape, dtype, nsymbt = declared
    if nsymbt < 0 or _HEADER_BYTES + nsymbt > size:
        raise ValueError(
            f"{path}: not a readable MRC file (the header declares an extended header of {nsymbt} bytes, "
            f"but the file has {size} bytes)"
        )
    if dtype is not None and min(shape) > 0:
        check_declared(check, path, shape, dtype)


def read_mrc(path: Path, check: HeaderCheck | None = None) -> tuple[np.ndarray, PixelSize | None]:
    import mrcfile

    _check_header(path, check)
    try:
        with warnings.catch_warnings(record=True) as problems:
            warnings.simplefilter("always")
            # Permissive, because files from older software lack the "MAP " id string and are still
            # good; what makes the data unreadable (an unknown mode, a data block shorter than the
            # header says) leaves mrc.data None, an error below.
            with mrcfile.open(path, mode="r", permissive=True) as mrc:
                data = None if mrc.data is None else np.array(mrc.data)
                header = mrc.header
                sampling = (int(header.my), int(header.mx))
                cell = (float(header.cella.y), float(header.cella.x))
    except Exception as exc:
        raise ValueError(f"{path}: not a readable MRC file ({exc})") from exc
    if data is None:
        why = "; ".join(str(w.message) for w in problems) or "no data block"
        raise ValueError(f"{path}: not a readable MRC file ({why})")
    pixel_size = None
    if min(sampling) > 0:  # voxel size = cell length / sampling; a zero cell means "unknown"
        pixel_size = pixel_size_from(cell[0] / sampling[0], "Å", cell[1] / sampling[1], "Å")
    return data, pixel_size


def write_mrc(path: Path, data: np.ndarray, pixel_size: PixelSize | None) -> None:
    """`data`: (R, C) image or (F, R, C) stack (written as an image stack, space group 0)."""
    import mrcfile

    finite = data.dtype.kind != "f" or bool(np.isfinite(data).all())
    with mrcfile.new(path, overwrite=True) as mrc:
        with warnings.catch_warnings():
            if not finite:  # NaN or Inf (a napari layer's): mrcfile warns of them; the statistics are reset below
                warnings.simplefilter("ignore", RuntimeWarning)
            mrc.set_data(data)
        if not finite:
            mrc.reset_header_stats()  # MRC2014's "not determined"
        if data.ndim == 3:
            mrc.set_image_stack()
        if pixel_size is not None:
            y, x = pixel_size.in_unit("Å")
            # z has no meaning for an image or a stack of frames; x keeps the voxel isotropic in
            # x and z for programs that read it.
            mrc.voxel_size = (x, y, x)
