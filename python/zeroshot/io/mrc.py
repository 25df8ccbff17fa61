"""MRC (and .mrcs stacks) through mrcfile: the voxel size in the header is in Å. The header fields that say
where the data lies and what was done to it (`MrcHeader`: labels, origin, start indices, volume or stack) are
read with the data and written with a result of the same data."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.io.limits import HeaderCheck, check_declared
from zeroshot.io.pixelsize import PixelSize, pixel_size_from

_HEADER_BYTES = 1024
# MRC modes and the dtype of one value (4-bit mode 101 is read as uint8, one value per byte).
_MODE_DTYPES = {0: np.int8, 1: np.int16, 2: np.float32, 3: np.complex64, 4: np.complex64, 6: np.uint16}
_MODE_DTYPES.update({12: np.float16, 101: np.uint8})
# A header holds at most this many labels of at most this many ASCII characters.
MAX_LABELS = 10
LABEL_CHARS = 80


@dataclass(frozen=True)
class MrcHeader:
    """The fields of an MRC header that a file of the same data processed (the denoised image, a map of it)
    keeps from its input: labels (the file's history, oldest first: at most MAX_LABELS of at most LABEL_CHARS
    ASCII characters), origin (x, y, z in Å), start (nxstart, nystart, nzstart), space_group (0: a stack of
    images, 1-230: a volume, e.g. a tomogram, kept for 3-D data) and section_spacing (Å between the sections
    of a volume; None when not known). The voxel size in x and y is the image's pixel size; the data's
    statistics (min, max, mean, rms) are those of the data written."""

    labels: tuple[str, ...] = ()
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    start: tuple[int, int, int] = (0, 0, 0)
    space_group: int = 0
    section_spacing: float | None = None

    def __post_init__(self) -> None:
        labels = tuple(_ascii_label(label) for label in self.labels)
        if len(labels) > MAX_LABELS:
            raise ValueError(f"an MRC header holds at most {MAX_LABELS} labels, got {len(labels)}")
        object.__setattr__(self, "labels", labels)

    @property
    def volume(self) -> bool:
        return 1 <= self.space_group <= 230

    def with_label(self, label: str) -> MrcHeader:
        """The header with `label` last (ASCII, cut to LABEL_CHARS characters); when it holds MAX_LABELS
        already, the oldest after the first (the file's origin) makes room."""
        labels = self.labels if len(self.labels) < MAX_LABELS else self.labels[:1] + self.labels[2:]
        return replace(self, labels=(*labels, label))

    @classmethod
    def of(cls, header: Any) -> MrcHeader:
        """The fields of an mrcfile header (a numpy record)."""
        count = min(max(int(header.nlabl), 0), MAX_LABELS)
        labels = tuple(bytes(label).decode("ascii", "replace").rstrip() for label in header.label[:count])
        sections, depth = int(header.mz), float(header.cella.z)
        return cls(
            labels=labels,
            origin=(float(header.origin.x), float(header.origin.y), float(header.origin.z)),
            start=(int(header.nxstart), int(header.nystart), int(header.nzstart)),
            space_group=int(header.ispg),
            section_spacing=depth / sections if sections > 0 and depth > 0 and np.isfinite(depth) else None,
        )


def _ascii_label(label: str) -> str:
    """A label as the header stores it: printable ASCII (others replaced by '?'), at most LABEL_CHARS long."""
    text = "".join(c if " " <= c <= "~" else "?" for c in str(label))
    return text[:LABEL_CHARS].rstrip()


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


def read_mrc(path: Path, check: HeaderCheck | None = None) -> tuple[np.ndarray, PixelSize | None, MrcHeader]:
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
                fields = MrcHeader.of(header)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable MRC file ({exc})") from exc
    if data is None:
        why = "; ".join(str(w.message) for w in problems) or "no data block"
        raise ValueError(f"{path}: not a readable MRC file ({why})")
    pixel_size = None
    if min(sampling) > 0:  # voxel size = cell length / sampling; a zero cell means "unknown"
        pixel_size = pixel_size_from(cell[0] / sampling[0], "Å", cell[1] / sampling[1], "Å")
    return data, pixel_size, fields


def write_mrc(path: Path, data: np.ndarray, pixel_size: PixelSize | None, header: MrcHeader | None = None) -> None:
    """`data`: (R, C) image or (F, R, C) stack (written as an image stack, space group 0, or as a volume when
    `header` says so). header: the fields to write (`MrcHeader`; its labels replace mrcfile's own)."""
    import mrcfile

    finite = data.dtype.kind != "f" or bool(np.isfinite(data).all())
    with mrcfile.new(path, overwrite=True) as mrc:
        with warnings.catch_warnings():
            if not finite:  # NaN or Inf (a napari layer's): mrcfile warns of them; the statistics are reset below
                warnings.simplefilter("ignore", RuntimeWarning)
            mrc.set_data(data)
        if not finite:
            mrc.reset_header_stats()  # MRC2014's "not determined"
        volume = header if data.ndim == 3 and header is not None and header.volume else None
        if volume is not None:
            mrc.set_volume()
            mrc.header.ispg = volume.space_group
        elif data.ndim == 3:
            mrc.set_image_stack()
        if pixel_size is not None:
            y, x = pixel_size.in_unit("Å")
            # z has no meaning for an image or a stack of frames; x keeps the voxel isotropic in
            # x and z for programs that read it. A volume keeps its sections' spacing.
            spacing = None if volume is None else volume.section_spacing
            mrc.voxel_size = (x, y, x if spacing is None else spacing)
        if header is not None:
            _write_fields(mrc.header, header)


def _write_fields(target: Any, header: MrcHeader) -> None:
    """The labels, origin and start indices of `header` into an mrcfile header."""
    target.nlabl = len(header.labels)
    for index in range(MAX_LABELS):
        target.label[index] = header.labels[index].encode("ascii") if index < len(header.labels) else b""
    target.origin.x, target.origin.y, target.origin.z = header.origin
    target.nxstart, target.nystart, target.nzstart = header.start
