"""Volumes (Z, Y, X): a tomogram or a stack of sections, read slab by slab without loading the volume.

    with open_volume("tomo.mrc") as volume:          # checks the file, reads nothing but its header
        volume.shape, volume.dtype, volume.voxel_size  # (Z, Y, X), the values' dtype, Å per voxel
        slab = volume.slab(10, 18)                     # a copy of sections 10..17: (8, Y, X)

`open_volume` checks the whole file before any work: an MRC file's header (size, mode, dimensions, the
extended header) against the file's size, a .npy header against the file's size, a TIFF's pages against
the file's end; a file that is truncated, longer than its header says, or declares nonsense is refused
with a ValueError naming the file and both sizes.

The values are read with positioned reads (``os.preadv``) into a new array of the slab's size: the memory
held is the slab, not the volume. The file is not memory-mapped: a mapped file that shrinks while it is read
ends the process with SIGBUS, and the pages of a mapping count as the process' resident memory until it is
dropped; a read that comes up short is a ValueError naming the file. (A Fortran-order .npy file, whose
sections are not contiguous, is the exception: it is read through a memory map, one slab at a time.)
`volume_sink.create_volume_output` writes a result slab by slab.
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Union

import numpy as np
from numpy.typing import DTypeLike

from zeroshot.io.dtypes import real_dtype
from zeroshot.io.formats import check_input_file
from zeroshot.io.mrc import MrcHeader
from zeroshot.io.pixelsize import PixelSize, nm_per_unit
from zeroshot.runtime.memory import format_bytes

PathLike = Union[str, "os.PathLike[str]"]

MRC_HEADER_BYTES = 1024
# MRC modes read slab by slab and the dtype of their values (in the file's byte order).
MRC_MODES: dict[int, np.dtype] = {0: np.dtype(np.int8), 1: np.dtype(np.int16), 2: np.dtype(np.float32)}
MRC_MODES.update({6: np.dtype(np.uint16), 12: np.dtype(np.float16)})
_MRC_UNREAD_MODES = {
    3: "complex 16-bit integers (mode 3)",
    4: "complex 32-bit floats (mode 4)",
    101: "packed 4-bit integers (mode 101)",
}
# Where os.preadv is missing, reads seek first; one at a time.
_SEEK_LOCK = threading.Lock()
# Space groups 401-630: a stack of volumes (nz / mz volumes of mz sections each).
_VOLUME_STACKS = range(401, 631)


@dataclass(frozen=True)
class VoxelSize:
    """The size of one voxel in Å (as MRC headers state it): x between columns, y between rows, z between
    sections (None where the file does not say, e.g. a TIFF stack)."""

    x: float
    y: float
    z: float | None = None

    def __post_init__(self) -> None:
        for name in ("x", "y", "z"):
            value = getattr(self, name)
            if value is None and name == "z":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"VoxelSize.{name} must be a number of Å, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"VoxelSize.{name} must be positive and finite, got {value!r}")
            object.__setattr__(self, name, float(value))

    @property
    def pixel_size(self) -> PixelSize:
        """The size of a pixel of one section (y, x in nm)."""
        return PixelSize(y=self.y / 10.0, x=self.x / 10.0)

    @classmethod
    def of_pixel_size(cls, pixel_size: PixelSize, z: float | None = None) -> VoxelSize:
        """A section's pixel size (nm) and the sections' spacing `z` (Å; None: not known)."""
        y, x = pixel_size.in_unit("Å")
        return cls(x=x, y=y, z=z)

    def to_json(self) -> dict[str, object]:
        return {"x": self.x, "y": self.y, "z": self.z, "unit": "Å"}


class VolumeSource:
    """A volume (Z, Y, X) in a file, read slab by slab (`open_volume` makes one).

    path, format ("MRC", "NPY", "TIFF"); shape (Z, Y, X); dtype: the values' dtype as `slab` returns them
    (native byte order); voxel_size (Å, None where the file does not say); header: an MRC file's header
    fields for a result to keep (`MrcHeader`), None for other formats.
    """

    def __init__(
        self,
        path: Path,
        fmt: str,
        shape: tuple[int, int, int],
        dtype: np.dtype,
        reader: _Reader,
        voxel_size: VoxelSize | None = None,
        header: MrcHeader | None = None,
    ) -> None:
        self.path = path
        self.format = fmt
        self.shape = shape
        self.dtype = dtype
        self.voxel_size = voxel_size
        self.header = header
        self._reader: _Reader | None = reader

    @property
    def nbytes(self) -> int:
        """The bytes of the whole volume in `dtype` (what reading it at once would take)."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def slice_bytes(self) -> int:
        """The bytes of one section (Y, X) in `dtype`."""
        return self.shape[1] * self.shape[2] * self.dtype.itemsize

    @property
    def pixel_size(self) -> PixelSize | None:
        """The pixel size of one section in nm (`EMImage.pixel_size`'s unit), None where not known."""
        return None if self.voxel_size is None else self.voxel_size.pixel_size

    def slab(self, z0: int, z1: int, dtype: DTypeLike | None = None) -> np.ndarray:
        """A new array (z1 - z0, Y, X) of sections z0 .. z1 - 1 (0 <= z0 < z1 <= Z), C order, native byte
        order, in `dtype` (default: the file's; a plain cast, e.g. np.float32)."""
        reader = self._reader
        if reader is None:
            raise ValueError(f"{self.path}: the volume was closed")
        depth = self.shape[0]
        start, stop = _index(z0), _index(z1)
        if start is None or stop is None or not (0 <= start < stop <= depth):
            raise ValueError(
                f"{self.path}: sections {z0!r}..{z1!r} (z0 to z1, z1 excluded) are not within the volume of "
                f"shape {self.shape} (0 <= z0 < z1 <= {depth})"
            )
        data = reader.read(start, stop)
        if dtype is not None:
            target = real_dtype(dtype, f"{self.path}: slab dtype")
            if target != data.dtype:
                converted: np.ndarray = data.astype(target)
                return converted
        return data

    def section(self, z: int, dtype: DTypeLike | None = None) -> np.ndarray:
        """Section z (Y, X); see `slab`."""
        index = _index(z)
        section: np.ndarray = self.slab(z, z if index is None else index + 1, dtype)[0]
        return section

    @property
    def ndim(self) -> int:
        return 3

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        """volume[z]: section z (negative z counts from the end); volume[z0:z1]: `slab` (a step of 1 only). With
        `shape`, `dtype` and `ndim`, what an array-taking function that reads one section at a time (e.g.
        `zeroshot.denoise_volume`) needs."""
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1 or stop <= start:
                raise ValueError(f"{self.path}: sections [{key.start}:{key.stop}:{key.step}] are not a slab (z0 < z1)")
            return self.slab(start, stop)
        index = _index(key)
        if index is not None and -self.shape[0] <= index < 0:
            index += self.shape[0]
        return self.section(key if index is None else index)

    def slabs(self, depth: int, dtype: DTypeLike | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(z0, slab) of `depth` sections each (the last may be shorter), from the first section to the last."""
        step = _index(depth)
        if step is None or step < 1:
            raise ValueError(f"{self.path}: slab depth must be a positive number of sections, got {depth!r}")
        for z0 in range(0, self.shape[0], step):
            yield z0, self.slab(z0, min(z0 + step, self.shape[0]), dtype)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> VolumeSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VolumeSource({str(self.path)!r}, {self.format}, shape={self.shape}, dtype={self.dtype})"


def _index(value: Any) -> int | None:
    """An integer (Python's or NumPy's, not a bool) as an int; None for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def open_volume(path: PathLike) -> VolumeSource:
    """Opens a volume (Z, Y, X) for reading slab by slab: .mrc/.mrcs, .npy, .tif/.tiff (one page per
    section). A 2-D file is a volume of one section. Checks the file before anything is read beyond its
    header (see the module's docstring); ValueError naming the file for a missing, truncated, inconsistent
    or unsupported file (an unknown or complex mode, a colour TIFF, a stack of volumes, ...)."""
    p = Path(path)
    check_input_file(p)
    suffix = p.suffix.lower()
    if suffix in (".mrc", ".mrcs"):
        return _open_mrc(p)
    if suffix == ".npy":
        return _open_npy(p)
    if suffix in (".tif", ".tiff"):
        return _open_tiff(p)
    raise ValueError(
        f"{p}: zeroshot reads volumes slice by slice from .mrc, .mrcs, .npy, .tif and .tiff files, not "
        f"{p.suffix or 'files without a suffix'}"
    )


# ----------------------------------------------------------------------------------------- readers


class _Reader:
    def read(self, z0: int, z1: int) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _RawReader(_Reader):
    """Sections stored one after the other from `offset` on, in `stored` (the file's byte order)."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, int, int], stored: np.dtype) -> None:
        self.path, self.offset, self.shape, self.stored = path, offset, shape, stored
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def read(self, z0: int, z1: int) -> np.ndarray:
        rows, cols = self.shape[1], self.shape[2]
        data = np.empty((z1 - z0, rows, cols), self.stored)
        start = self.offset + z0 * rows * cols * self.stored.itemsize
        read_at(self.fd, data, start, self.path)
        native = self.stored.newbyteorder("=")
        return data if native == self.stored else data.astype(native)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def read_at(fd: int, out: np.ndarray, offset: int, path: Path) -> None:
    """Fills the C-contiguous `out` with the bytes of the file from `offset` on; ValueError naming `path`
    when the file ends first (it was cut after it was opened)."""
    view = out.reshape(-1).view(np.uint8).data
    done = 0
    while done < len(view):
        try:
            if hasattr(os, "preadv"):
                count = os.preadv(fd, [view[done:]], offset + done)
            else:  # pragma: no cover - Windows
                with _SEEK_LOCK:
                    os.lseek(fd, offset + done, os.SEEK_SET)
                    chunk = os.read(fd, min(len(view) - done, 1 << 30))
                view[done : done + len(chunk)] = chunk
                count = len(chunk)
        except OSError as exc:
            raise ValueError(f"{path}: cannot be read at byte {offset + done} ({exc})") from exc
        if count == 0:
            raise ValueError(
                f"{path}: the file ends at byte {offset + done}, before the {len(view)} bytes from byte {offset} "
                "(it was cut or replaced while being read)"
            )
        done += count


class _MemmapReader(_Reader):
    """A Fortran-order .npy volume: a memory map of the file, opened for each slab and dropped after it."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, int, int], stored: np.dtype) -> None:
        self.path, self.offset, self.shape, self.stored = path, offset, shape, stored

    def read(self, z0: int, z1: int) -> np.ndarray:
        mapped = np.memmap(self.path, dtype=self.stored, mode="r", offset=self.offset, shape=self.shape, order="F")
        try:
            return np.ascontiguousarray(mapped[z0:z1], dtype=self.stored.newbyteorder("="))
        finally:
            del mapped


class _TiffReader(_Reader):
    """The pages of a TIFF series, decoded one slab at a time by tifffile."""

    def __init__(self, path: Path, tif: Any, squeeze: tuple[int, int, int]) -> None:
        self.path, self.tif, self.shape = path, tif, squeeze

    def read(self, z0: int, z1: int) -> np.ndarray:
        try:
            data = self.tif.asarray(key=range(z0, z1), series=0)
        except Exception as exc:  # a page cut short, a broken compressed strip
            raise ValueError(
                f"{self.path}: sections {z0}..{z1 - 1} cannot be read ({type(exc).__name__}: {exc})"
            ) from exc
        data = np.asarray(data).reshape((z1 - z0, self.shape[1], self.shape[2]))
        return np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("="))

    def close(self) -> None:
        self.tif.close()


# -------------------------------------------------------------------------------------------- MRC


def _mrc_header(raw: bytes) -> tuple[Any, str]:
    """The 1024-byte header as an mrcfile header record, in the byte order of its machine stamp (0x44 0x44 or
    0x44 0x41: little-endian, 0x11 0x11: big-endian; with no known stamp, the order in which the mode is a
    known mode), and that byte order ("<" or ">")."""
    from mrcfile.dtypes import HEADER_DTYPE

    stamp = raw[212:214]
    if stamp[:1] == b"\x44":
        order = "<"
    elif stamp == b"\x11\x11":
        order = ">"
    else:
        little = int(np.frombuffer(raw, "<i4", count=1, offset=12)[0])
        order = "<" if little in MRC_MODES or little in _MRC_UNREAD_MODES else ">"
    return np.frombuffer(raw, dtype=HEADER_DTYPE.newbyteorder(order))[0].view(np.recarray), order


def _open_mrc(path: Path) -> VolumeSource:
    size = _file_size(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MRC_HEADER_BYTES)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from exc
    if len(raw) < MRC_HEADER_BYTES:
        raise ValueError(
            f"{path}: not an MRC file: {size} bytes, shorter than the {MRC_HEADER_BYTES}-byte header of every MRC file"
        )
    header, order = _mrc_header(raw)
    nx, ny, nz, mode = (int(header[name]) for name in ("nx", "ny", "nz", "mode"))
    nsymbt, ispg, mz = int(header.nsymbt), int(header.ispg), int(header.mz)
    if mode in _MRC_UNREAD_MODES:
        raise ValueError(
            f"{path}: holds {_MRC_UNREAD_MODES[mode]}; zeroshot reads volumes of real values "
            f"(modes {', '.join(str(m) for m in MRC_MODES)})"
        )
    if mode not in MRC_MODES:
        raise ValueError(
            f"{path}: not a readable MRC file: unknown mode {mode} in its header (known: "
            f"{', '.join(str(m) for m in MRC_MODES)})"
        )
    if min(nx, ny, nz) < 1:
        raise ValueError(
            f"{path}: not a readable MRC file: its header declares nx={nx}, ny={ny}, nz={nz} (each must be at least 1)"
        )
    axes = (int(header.mapc), int(header.mapr), int(header.maps))
    if axes not in ((1, 2, 3), (0, 0, 0)):
        raise ValueError(
            f"{path}: stores its axes in the order mapc, mapr, maps = {axes}; zeroshot reads volumes stored "
            "as columns = x, rows = y, sections = z (1, 2, 3): reorder it first (e.g. with IMOD's trimvol)"
        )
    if ispg in _VOLUME_STACKS and 0 < mz < nz:
        raise ValueError(
            f"{path}: holds a stack of {nz // mz} volumes of {mz} sections (space group {ispg}); zeroshot reads "
            "one volume at a time: save each volume to a file of its own"
        )
    stored = MRC_MODES[mode].newbyteorder(">" if order == ">" else "<")
    data_offset = MRC_HEADER_BYTES + nsymbt
    if nsymbt < 0 or data_offset > size:
        raise ValueError(
            f"{path}: not a readable MRC file: its header declares an extended header of {nsymbt} bytes, "
            f"but the file has {size} bytes"
        )
    declared = nx * ny * nz * stored.itemsize
    what = f"{nx} x {ny} x {nz} (nx, ny, nz) {stored.name} (mode {mode})"
    _check_size(path, "MRC", size, data_offset, declared, what)
    fields = MrcHeader.of(header)
    return VolumeSource(
        path,
        "MRC",
        (nz, ny, nx),
        stored.newbyteorder("="),
        _RawReader(path, data_offset, (nz, ny, nx), stored),
        voxel_size=_mrc_voxel_size(header),
        header=fields,
    )


def _mrc_voxel_size(header: Any) -> VoxelSize | None:
    """cella / (mx, my, mz); None where x or y is not known (zero sampling or cell), z None alone."""
    sizes: list[float | None] = []
    for cell, sampling in ((header.cella.x, header.mx), (header.cella.y, header.my), (header.cella.z, header.mz)):
        value = abs(float(cell)) / int(sampling) if int(sampling) > 0 else 0.0
        sizes.append(value if math.isfinite(value) and value > 0 else None)
    x, y, z = sizes
    if x is None or y is None:
        return None
    return VoxelSize(x=x, y=y, z=z)


def _file_size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from exc


def _check_size(path: Path, name: str, size: int, offset: int, declared: int, what: str, exact: bool = True) -> None:
    """The file holds `offset` header bytes and the `declared` data bytes (`exact`: and nothing after them)."""
    expected = offset + declared
    layout = f"its header declares {what}: {declared} data bytes after {offset} header bytes"
    if size < expected:
        raise ValueError(
            f"{path}: truncated {name} file: {layout}, {expected} bytes ({format_bytes(expected)}) in all, but the "
            f"file has {size} bytes ({expected - size} missing)"
        )
    if exact and size > expected:
        raise ValueError(
            f"{path}: inconsistent {name} file: {layout}, {expected} bytes in all, but the file has {size} bytes "
            f"({size - expected} more); the header does not describe this file"
        )


# -------------------------------------------------------------------------------------------- NPY


def _open_npy(path: Path) -> VolumeSource:
    from zeroshot.io.npy import _MAGIC, _header

    size = _file_size(path)
    try:
        with open(path, "rb") as fh:
            start = fh.read(len(_MAGIC))
            if start == _MAGIC:
                fh.seek(0)
                shape, dtype = _header(fh, path)
                fortran = _fortran_order(fh, path)
                offset = fh.tell()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from exc
    if start != _MAGIC:
        raise ValueError(f"{path}: not a .npy file (it does not start with the NumPy header)")
    if dtype.kind not in "uif" or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{path}: dtype {dtype} is not a real integer or floating type")
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{path}: expected a volume (Z, Y, X) or one section (Y, X), got an array of shape {shape}")
    volume = (int(shape[0]), int(shape[1]), int(shape[2]))
    _check_size(path, ".npy", size, offset, math.prod(volume) * dtype.itemsize, f"shape {volume} {dtype}")
    reader: _Reader = (_MemmapReader if fortran else _RawReader)(path, offset, volume, dtype)
    return VolumeSource(path, "NPY", volume, dtype.newbyteorder("="), reader)


def _fortran_order(fh: Any, path: Path) -> bool:
    """Whether the .npy header just read says fortran_order (read again: `_header` drops it); leaves `fh` at
    the data."""
    fh.seek(0)
    version = np.lib.format.read_magic(fh)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    _, fortran, _ = read(fh)
    return bool(fortran)


# ------------------------------------------------------------------------------------------- TIFF


def _open_tiff(path: Path) -> VolumeSource:
    import tifffile

    from zeroshot.io.tiff import _check_one_series, _pixel_size, _SeveralImages

    size = _file_size(path)
    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable TIFF file ({type(exc).__name__}: {exc})") from exc
    try:
        try:
            _check_one_series(path, tif.series)
            series = tif.series[0]
            axes, shape = series.axes, tuple(int(n) for n in series.shape)
            dtype = np.dtype(series.dtype)
            keyframe = series.keyframe
            pages = [series[i] for i in range(len(series))]
            pixel_size = _pixel_size(tif, keyframe)
            spacing = _imagej_spacing(tif)
            found = series.dataoffset
        except _SeveralImages:
            raise
        except Exception as exc:
            raise ValueError(f"{path}: not a readable TIFF file ({type(exc).__name__}: {exc})") from exc
        plain = keyframe.compression == 1 and keyframe.bitspersample == 8 * dtype.itemsize
        offset = int(found) if found is not None and plain else -1  # -1: decoded page by page
        # sections stored one after the other need no page of their own (ImageJ's files over 4 GiB index the first)
        pages_needed = None if offset >= 0 else len(pages)
        volume = _tiff_volume(path, axes, shape, dtype, tuple(int(n) for n in keyframe.shape), pages_needed)
        voxel = None if pixel_size is None else VoxelSize.of_pixel_size(pixel_size, spacing)
        stored = dtype.newbyteorder(tif.byteorder)
        if offset >= 0:
            declared = math.prod(volume) * dtype.itemsize
            _check_size(path, "TIFF", size, offset, declared, f"shape {volume} {dtype}", exact=False)
        else:
            _check_pages(path, pages, size)
    except BaseException:
        tif.close()
        raise
    if offset >= 0:
        tif.close()
        reader: _Reader = _RawReader(path, offset, volume, stored)
    else:
        reader = _TiffReader(path, tif, volume)
    return VolumeSource(path, "TIFF", volume, dtype.newbyteorder("="), reader, voxel_size=voxel)


def _tiff_volume(
    path: Path, axes: str, shape: tuple[int, ...], dtype: np.dtype, page: tuple[int, ...], pages: int | None
) -> tuple[int, int, int]:
    """(Z, Y, X) of a series of sections of the page's shape, one page each unless `pages` is None; ValueError for
    colour, non-real and other layouts."""
    if "S" in axes and shape[axes.index("S")] > 1:
        raise ValueError(
            f"{path}: is a colour or multi-sample TIFF (axes {axes}, shape {shape}); zeroshot reads one channel"
        )
    if dtype.kind not in "uif":
        raise ValueError(f"{path}: dtype {dtype} is not a real integer or floating type")
    kept = tuple(n for n in shape if n != 1)
    plane = tuple(n for n in page if n != 1)
    if len(kept) == 2:
        kept = (1, *kept)
    if len(kept) == 3 and len(plane) == 2 and kept[1:] == plane and pages is not None and 0 < pages < kept[0]:
        raise ValueError(
            f"{path}: truncated or damaged TIFF file: it declares {kept[0]} sections of shape {plane} {dtype}, but "
            f"holds {pages} page(s)"
        )
    if len(kept) != 3 or len(plane) != 2 or kept[1:] != plane or kept[0] != (kept[0] if pages is None else pages):
        raise ValueError(
            f"{path}: holds an image of axes {axes} and shape {shape} in pages of shape {page}; zeroshot "
            "reads a volume slice by slice from a TIFF of one page per section (Z, Y, X)"
        )
    return (kept[0], kept[1], kept[2])


def _imagej_spacing(tif: Any) -> float | None:
    """The sections' spacing in Å from ImageJ metadata (spacing= in unit=), None where not stated."""
    meta = tif.imagej_metadata if tif.is_imagej else None
    if not meta or "spacing" not in meta:
        return None
    factor = nm_per_unit(str(meta.get("unit", "")))
    try:
        value = abs(float(meta["spacing"])) * (factor or 0.0) * 10.0
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _check_pages(path: Path, pages: list[Any], size: int) -> None:
    """Every page's strips or tiles lie within the file."""
    for index, page in enumerate(pages):
        ends = [int(o) + int(n) for o, n in zip(page.dataoffsets, page.databytecounts)]
        end = max(ends, default=0)
        if end > size:
            raise ValueError(
                f"{path}: truncated TIFF file: page {index} ends at byte {end}, but the file has {size} bytes "
                f"({end - size} missing)"
            )
