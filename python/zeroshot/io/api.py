"""Reading and writing EM images and stacks with their pixel size, in every format zeroshot
knows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Union

import numpy as np
from numpy.typing import DTypeLike

from zeroshot.io.atomic import StagedFile, stage
from zeroshot.io.dtypes import check_finite, real_dtype, to_dtype_like
from zeroshot.io.formats import FORMATS, WRITE_SUFFIXES, Format, Writer, check_input_file, format_of
from zeroshot.io.limits import HeaderCheck, default_check
from zeroshot.io.mrc import MrcHeader
from zeroshot.io.pixelsize import PixelSize

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class EMImage:
    """An image read from a file.

    data: (R, C) image or (F, R, C) stack of frames, with the file's dtype (native byte order,
    C order, finite); pixel_size: nanometres per pixel, None when the file does not say;
    path and format (e.g. "MRC") of the file it came from; header: an MRC file's header fields (labels,
    origin, ...) for a result of the data to keep (`write_em(header=...)`), None for other formats.
    """

    data: np.ndarray
    pixel_size: PixelSize | None = None
    path: Path | None = None
    format: str = ""
    header: MrcHeader | None = None

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_stack(self) -> bool:
        return self.data.ndim == 3

    @property
    def frames(self) -> list[np.ndarray]:
        """The (R, C) frames: one for an image, F for a stack."""
        return list(self.data) if self.is_stack else [self.data]


# ------------------------------------------------------------------------------------------ read


def read_em(path: PathLike, *, check: HeaderCheck | Literal["available"] | None = "available") -> EMImage:
    """Read an image or a stack of frames with its pixel size; the format follows the suffix
    (.mrc/.mrcs, .tif/.tiff, .png, .npy; .dm3/.dm4/.ser/.emi/.emd with the em extra, ``pip install ".[em]"``).

    Singleton axes are dropped ((1, R, C) and (R, C, 1) become (R, C)). Raises ValueError naming
    the file for a missing, unreadable, corrupt or truncated file, colour images, arrays of more
    than three axes, non-real dtypes, empty arrays and NaN/Inf values.

    check: run on the shape and dtype the file declares before it is decoded (MRC, TIFF, PNG, .npy,
    .emd); the default refuses arrays larger than the memory available now (`io.limits.byte_limit`
    for another limit, None for no check).
    """
    p = Path(path)
    check_input_file(p)
    fmt = format_of(p)
    data, pixel_size, header = fmt.read(p, default_check() if check == "available" else check)
    return EMImage(data=_image_or_stack(data, p), pixel_size=pixel_size, path=p, format=fmt.name, header=header)


def _image_or_stack(data: np.ndarray, path: Path) -> np.ndarray:
    """`data` as (R, C) or (F, R, C), native byte order and C order, or a ValueError."""
    if data.dtype.kind not in "uif":
        raise ValueError(f"{path}: dtype {data.dtype} is not a real integer or floating type")
    shape = data.shape
    while data.ndim > 2 and 1 in data.shape:
        data = np.squeeze(data, axis=data.shape.index(1))
    if data.ndim == 3 and data.shape[2] in (3, 4) and min(data.shape[:2]) > data.shape[2]:
        raise ValueError(
            f"{path}: an array of shape {shape} looks like a colour (RGB/RGBA) image; zeroshot "
            "reads one channel (R, C) or a stack of frames (F, R, C)"
        )
    if data.ndim not in (2, 3):
        raise ValueError(
            f"{path}: expected a 2-D image (R, C) or a stack of frames (F, R, C), got an array of shape {shape}"
        )
    if data.size == 0:
        raise ValueError(f"{path}: the image is empty (shape {shape})")
    check_finite(data, str(path))
    # Native byte order and C order, so downstream code (and the compiled core) can take views.
    return np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("="))


def read_image(path: PathLike) -> np.ndarray:
    """Read a single 2-D image (R, C) with the file's dtype; like `read_em` but a stack of several
    frames is a ValueError, and the pixel size is not returned."""
    image = read_em(path)
    if image.is_stack:
        raise ValueError(
            f"{path}: has {image.data.shape[0]} frames (array shape {image.data.shape}); "
            "read_image reads one 2-D image, read_em reads stacks"
        )
    return image.data


# ----------------------------------------------------------------------------------------- write


def _writable_suffixes(condition: Callable[[Format], bool]) -> list[str]:
    """The suffixes of the writable formats that meet `condition`."""
    return [s for f in FORMATS if f.write is not None and condition(f) for s in f.suffixes]


def _check_format(path: Path, dtype: DTypeLike, ndim: int) -> tuple[Writer, np.dtype]:
    """The writer of `path`'s format and the dtype it will store `dtype` as, or a ValueError."""
    fmt = format_of(path)
    writer = fmt.write
    if writer is None:
        raise ValueError(
            f"{path}: zeroshot reads {fmt.name} files but cannot write them; write one of {', '.join(WRITE_SUFFIXES)}"
        )
    target = real_dtype(dtype, str(path))
    if fmt.write_dtypes:
        target = target.newbyteorder("=")
        if not fmt.stores(target):
            stored = target
            raise ValueError(
                f"{path}: {fmt.name} cannot store dtype {target} (it stores "
                f"{', '.join(str(d) for d in fmt.write_dtypes)}); {target} can be written to "
                f"{' / '.join(_writable_suffixes(lambda f: f.stores(stored)))}"
            )
    if ndim == 3 and not fmt.write_stacks:
        raise ValueError(
            f"{path}: {fmt.name} holds one 2-D image, not a stack of frames; write stacks to "
            f"{' / '.join(_writable_suffixes(lambda f: f.write_stacks))}"
        )
    if ndim not in (2, 3):
        raise ValueError(f"{path}: zeroshot writes 2-D images and 3-D stacks, not {ndim}-D arrays")
    return writer, target


def _check_writable(path: Path, dtype: DTypeLike, ndim: int) -> tuple[Writer, np.dtype]:
    writer, target = _check_format(path, dtype, ndim)
    if not path.parent.is_dir():
        raise ValueError(f"{path}: folder {path.parent} does not exist")
    return writer, target


def check_format(path: PathLike, dtype: DTypeLike, ndim: int = 2) -> np.dtype:
    """Checks, without touching the file system, that a `ndim`-D array of `dtype` can be written
    to `path` (a known writable suffix, a dtype and shape the format stores); returns the stored
    dtype or raises ValueError naming the file."""
    return _check_format(Path(path), dtype, ndim)[1]


def check_writable(path: PathLike, dtype: DTypeLike, ndim: int = 2) -> np.dtype:
    """`check_format`, and that the folder of `path` exists: the checks to run before any work."""
    return _check_writable(Path(path), dtype, ndim)[1]


def write_em(
    path: PathLike,
    data: np.ndarray,
    pixel_size: PixelSize | None = None,
    dtype: DTypeLike | None = None,
    finite_only: bool = True,
    header: MrcHeader | None = None,
) -> None:
    """Write an (R, C) image or an (F, R, C) stack to `path`; the format follows the suffix.

    dtype (default: data's dtype) is the stored dtype; integer targets are rounded and clipped to
    the dtype's range (`to_dtype_like`). Stored dtypes: .mrc/.mrcs int8, int16, uint16, float16,
    float32; .tif/.tiff (u)int8/16/32, float32, float64; .png uint8, uint16 (no stacks); .npy any
    real dtype. The pixel size goes into MRC (voxel size), TIFF (resolution tags, ImageJ metadata)
    and PNG (pHYs, down to 0.47 nm); .npy drops it. The file is written to a temporary file in
    the same folder and moved into place, so a failure leaves nothing behind (and an existing file
    untouched). NaN and Inf are refused unless finite_only is False (float dtypes store them).
    header: MRC header fields to write (an input's `EMImage.header`, e.g. with `header.with_label(...)`): its
    labels replace mrcfile's own, its origin and start indices are kept, and a 3-D array is written as a
    volume when it says so; the other formats have no place for it.
    """
    staged = stage_em(path, data, pixel_size, dtype, finite_only, header)
    try:
        staged.commit()
    except BaseException:
        staged.discard()
        raise


def stage_em(
    path: PathLike,
    data: np.ndarray,
    pixel_size: PixelSize | None = None,
    dtype: DTypeLike | None = None,
    finite_only: bool = True,
    header: MrcHeader | None = None,
) -> StagedFile:
    """`write_em` into a temporary file next to `path`, not yet moved onto it: the caller commits it (or
    replaces it together with other files, `atomic.replace_together`) or discards it. On an error the
    temporary file is removed and the error names `path`."""
    p = Path(path)
    arr = np.asarray(data)
    if arr.ndim not in (2, 3):
        raise ValueError(f"{p}: expected a 2-D image (R, C) or a stack (F, R, C) to write, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{p}: refusing to write an empty image (shape {arr.shape})")
    if arr.dtype.kind not in "uifb":
        raise ValueError(f"{p}: image dtype {arr.dtype} is not real numbers")
    if pixel_size is not None and not isinstance(pixel_size, PixelSize):
        raise ValueError(f"{p}: pixel_size must be a PixelSize or None, got {pixel_size!r}")
    if header is not None and not isinstance(header, MrcHeader):
        raise ValueError(f"{p}: header must be an MrcHeader or None, got {header!r}")
    writer, target = _check_writable(p, arr.dtype if dtype is None else dtype, arr.ndim)
    if finite_only:
        check_finite(arr, f"{p}: image to write")
    try:
        stored = np.ascontiguousarray(to_dtype_like(arr, target))
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from exc
    return stage(p, lambda tmp: writer(tmp, stored, pixel_size, header))


def write_image(path: PathLike, image: np.ndarray, dtype: DTypeLike | None = None) -> None:
    """Write one 2-D image (R, C) without a pixel size; see `write_em`."""
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D image to write, got shape {arr.shape}")
    write_em(path, arr, dtype=dtype)
