"""The file formats zeroshot knows, chosen by the file's suffix: how each is read and written, and
which dtypes and shapes it can store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from zeroshot.io.limits import HeaderCheck
from zeroshot.io.mrc import MrcHeader, read_mrc, write_mrc
from zeroshot.io.npy import read_npy, write_npy
from zeroshot.io.pixelsize import PixelSize
from zeroshot.io.png import read_png, write_png
from zeroshot.io.tiff import read_tiff, write_tiff
from zeroshot.io.vendor import read_vendor

# A reader returns the file's array as stored (any shape, any dtype), its pixel size and the header fields a
# result of its data keeps (MRC's; None for the other formats), after running the check (if any) on the shape
# and dtype its header declares, before decoding; a writer gets an array already in a dtype and shape the format
# stores, and those header fields (which only MRC writes).
Reader = Callable[[Path, Optional[HeaderCheck]], tuple[np.ndarray, Optional[PixelSize], Optional[MrcHeader]]]
Writer = Callable[[Path, np.ndarray, Optional[PixelSize], Optional[MrcHeader]], None]
PlainReader = Callable[[Path, Optional[HeaderCheck]], tuple[np.ndarray, Optional[PixelSize]]]
PlainWriter = Callable[[Path, np.ndarray, Optional[PixelSize]], None]


def _no_header(read: PlainReader) -> Reader:
    """The reader of a format whose header holds nothing a result keeps besides the pixel size."""
    return lambda path, check: (*read(path, check), None)


def _header_ignored(write: PlainWriter) -> Writer:
    """The writer of a format that has no place for MRC header fields."""
    return lambda path, data, pixel_size, header: write(path, data, pixel_size)


def _dtypes(*types: type) -> tuple[np.dtype, ...]:
    return tuple(np.dtype(t) for t in types)


@dataclass(frozen=True)
class Format:
    """name as in messages; suffixes (lower case, with the dot); write None for read-only formats;
    write_dtypes the dtypes it stores (empty: every real dtype); write_stacks whether it stores an
    (F, R, C) stack of frames besides one (R, C) image."""

    name: str
    suffixes: tuple[str, ...]
    read: Reader
    write: Writer | None = None
    write_dtypes: tuple[np.dtype, ...] = ()
    write_stacks: bool = True

    def stores(self, dtype: np.dtype) -> bool:
        return not self.write_dtypes or dtype in self.write_dtypes


FORMATS = (
    # uint8 is left out: MRC mode 0 is signed, and mrcfile would silently widen uint8 to uint16.
    Format(
        "MRC",
        (".mrc", ".mrcs"),
        read_mrc,
        write_mrc,
        _dtypes(np.int8, np.int16, np.uint16, np.float16, np.float32),
    ),
    Format(
        "TIFF",
        (".tif", ".tiff"),
        _no_header(read_tiff),
        _header_ignored(write_tiff),
        _dtypes(np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.float32, np.float64),
    ),
    Format("PNG", (".png",), _no_header(read_png), _header_ignored(write_png), _dtypes(np.uint8, np.uint16), False),
    Format("NPY", (".npy",), _no_header(read_npy), _header_ignored(write_npy)),
    Format("DigitalMicrograph", (".dm3", ".dm4"), _no_header(read_vendor)),
    Format("TIA", (".ser", ".emi"), _no_header(read_vendor)),
    Format("EMD", (".emd",), _no_header(read_vendor)),
)

READ_SUFFIXES = tuple(s for f in FORMATS for s in f.suffixes)
WRITE_SUFFIXES = tuple(s for f in FORMATS if f.write is not None for s in f.suffixes)


def check_input_file(path: Path) -> None:
    """A ValueError naming `path` unless it is a regular file: missing, a folder (with the command that takes its
    images), or another kind of file."""
    if path.is_file():
        return
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: a folder, not an image file; give its images, e.g. {path / '*.mrc'}")
    raise ValueError(f"{path}: not a regular file")


def format_of(path: Path) -> Format:
    """The format of `path` by its suffix (any case), or a ValueError naming the file."""
    suffix = path.suffix.lower()
    for fmt in FORMATS:
        if suffix in fmt.suffixes:
            return fmt
    raise ValueError(
        f"{path}: unknown image suffix {path.suffix!r}; zeroshot reads {', '.join(READ_SUFFIXES)} and writes "
        f"{', '.join(WRITE_SUFFIXES)}"
    )
