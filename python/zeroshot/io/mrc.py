"""MRC (and .mrcs stacks) through mrcfile: the voxel size in the header is in Å."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from zeroshot.io.pixelsize import PixelSize, pixel_size_from


def read_mrc(path: Path) -> tuple[np.ndarray, PixelSize | None]:
    import mrcfile

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

    with mrcfile.new(path, data=data, overwrite=True) as mrc:
        if data.ndim == 3:
            mrc.set_image_stack()
        if pixel_size is not None:
            y, x = pixel_size.in_unit("Å")
            # z has no meaning for an image or a stack of frames; x keeps the voxel isotropic in
            # x and z for programs that read it.
            mrc.voxel_size = (x, y, x)
