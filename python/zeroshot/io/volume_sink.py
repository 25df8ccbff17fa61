"""Volumes (Z, Y, X) written slab by slab as they are finished, into a staged file that appears under its name
only when complete, and (optionally) resumable at section granularity after the writer was killed.

    with create_volume_output("out.mrc", (Z, Y, X), np.float32, volume.voxel_size, volume.header,
                              label="zeroshot denoise", resume=run_key) as sink:
        for z0, z1 in sink.missing():                  # all sections, or those a killed run left undone
            ...
            sink.write(z0, result)                     # (n, Y, X) or one section (Y, X)
        sink.commit()                                  # header statistics, then an atomic rename

What stays in memory is the slab being written: each section's statistics (min, max, sum, sum of squared
deviations) are kept as it is written and combined, in section order, for the MRC header at the end; the
volume is never read back.

Formats: MRC (.mrc/.mrcs: the header of the input kept: voxel size in x, y and z, origin, start indices,
labels with `label` added, volume or stack; min/max/mean/rms of the data; little-endian; no extended
header), .npy (any real dtype) and TIFF (.tif/.tiff, as `io.tiff.write_tiff` writes it, the sections'
spacing in ImageJ's metadata; staged as raw sections and converted to TIFF page by page when committed).

Staging and resuming: without `resume` the sections go to a temporary file of this process (`atomic.StagedFile`:
``.NAME.zs-HOST-PID-RANDOM.tmp``, removed on `abandon`/`close`, or by a later writer of NAME once this process
is gone). With ``resume=KEY`` (the identity of the run: e.g. a hash of the input and the settings) they go to
``.NAME.zs-partial`` beside the target, with a progress record ``.NAME.zs-partial.json``: the key, the file's
layout, and the statistics of every section written, rewritten atomically after each `write`, once the
sections are on disk (fsync). A run killed at any moment (SIGTERM, SIGKILL, a power cut) leaves them; the next
`create_volume_output` with the same key and layout continues where it stopped (`done_slices`, `missing`), and
the committed file is byte for byte the one an uninterrupted run writes. A staged file of another key or
layout is refused (ValueError naming it); `restart=True` discards any staged output and begins afresh (so does
`remove_partial`). While a writer holds it,
the staged file is locked (flock): a second writer of the same target is refused.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Optional, Union

import numpy as np
from numpy.typing import DTypeLike

from zeroshot.io.api import check_writable
from zeroshot.io.atomic import StagedFile, _write_error, write_text_atomic
from zeroshot.io.dtypes import check_finite, to_dtype_like
from zeroshot.io.formats import format_of
from zeroshot.io.mrc import MrcHeader, _write_fields
from zeroshot.io.pixelsize import PixelSize
from zeroshot.io.volume import MRC_HEADER_BYTES, VoxelSize, _index, read_at
from zeroshot.runtime.memory import format_bytes

try:  # POSIX; elsewhere a staged file is not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PathLike = Union[str, "os.PathLike[str]"]

RECORD_FORMAT = "zeroshot-volume-progress"
RECORD_VERSION = 1
_MRC_MODES = {"i1": 0, "i2": 1, "f4": 2, "u2": 6, "f2": 12}
# A section's statistics: (min, max, sum, sum of squared deviations from its mean) of its stored values, or
# None where they are not all finite.
SliceStats = Optional[tuple[float, float, float, float]]


@dataclass(frozen=True)
class VolumeStatistics:
    """Of the values written: minimum, maximum, mean and rms (their standard deviation from the mean, MRC's
    rms); None where some are not finite."""

    min: float
    max: float
    mean: float
    rms: float


def partial_path(target: Path) -> Path:
    """Where a resumable output of `target` is staged."""
    return target.with_name(f".{target.name}.zs-partial")


def record_path(target: Path) -> Path:
    """The progress record of a resumable output of `target`."""
    return target.with_name(f".{target.name}.zs-partial.json")


def remove_partial(path: PathLike) -> bool:
    """Removes the resumable output of `path` a killed run left staged (and its record), unless a process is
    writing it now; returns whether anything was removed."""
    target = Path(path)
    partial, record_file = partial_path(target), record_path(target)
    removed = False
    try:
        fd = os.open(partial, os.O_RDWR | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        fd = -1
    except OSError as exc:
        raise ValueError(f"{target}: cannot remove the staged output {partial} ({exc.strerror or exc})") from exc
    try:
        if fd >= 0:
            _lock(fd, target, partial)
            os.unlink(partial)
            removed = True
        if record_file.exists():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(record_file)
                removed = True
    finally:
        if fd >= 0:
            os.close(fd)
    return removed


class VolumeSink:
    """A volume being written (`create_volume_output` makes one). Not for use by several threads at once."""

    def __init__(
        self,
        target: Path,
        shape: tuple[int, int, int],
        stored: np.dtype,
        layout: _Layout,
        staged: Path,
        fd: int,
        key: str | None,
        done: dict[int, SliceStats],
        finite_only: bool,
    ) -> None:
        self.target = target
        self.shape = shape
        self.dtype = stored.newbyteorder("=")
        self.format = layout.name
        self.staged = staged
        self.key = key
        self._stored = stored
        self._layout = layout
        self._fd: int | None = fd
        self._done = done
        self._finite_only = finite_only

    @property
    def resumable(self) -> bool:
        return self.key is not None

    # ------------------------------------------------------------------------------------ progress

    def done_slices(self) -> np.ndarray:
        """A bool array (Z,): True for each section written (by this sink, or by the run it continues)."""
        mask = np.zeros(self.shape[0], dtype=bool)
        mask[list(self._done)] = True
        return mask

    def missing(self) -> list[tuple[int, int]]:
        """The runs of sections not yet written, as (z0, z1) with z1 excluded, first to last."""
        runs: list[tuple[int, int]] = []
        start = None
        for z in range(self.shape[0] + 1):
            todo = z < self.shape[0] and z not in self._done
            if todo and start is None:
                start = z
            elif not todo and start is not None:
                runs.append((start, z))
                start = None
        return runs

    @property
    def complete(self) -> bool:
        return len(self._done) == self.shape[0]

    def statistics(self) -> VolumeStatistics | None:
        """The statistics of all sections (once every one is written), None while some are missing or when some
        values are not finite. Combined in section order, whatever the order they were written in."""
        if not self.complete:
            return None
        return _combine([self._done[z] for z in range(self.shape[0])], self.shape[1] * self.shape[2])

    # ---------------------------------------------------------------------------------------- write

    def write(self, z0: int, data: np.ndarray) -> None:
        """Writes `data` ((n, Y, X), or one section (Y, X)) as sections z0 .. z0 + n - 1, converted to the
        sink's dtype like `write_em` (integers rounded and clipped). A section may be written again (the last
        write counts). For a resumable sink the sections are on disk and recorded when this returns."""
        fd = self._open_fd()
        arr = np.asarray(data)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        depth, rows, cols = self.shape
        if arr.ndim != 3 or arr.shape[1:] != (rows, cols) or arr.shape[0] < 1:
            raise ValueError(
                f"{self.target}: sections to write must have shape (n, {rows}, {cols}) or ({rows}, {cols}), got "
                f"{arr.shape}"
            )
        start = _index(z0)
        if start is None or not (start >= 0 and start + arr.shape[0] <= depth):
            raise ValueError(
                f"{self.target}: {arr.shape[0]} section(s) from z = {z0!r} are not within the volume of shape "
                f"{self.shape}"
            )
        z0 = start
        if arr.dtype.kind not in "uifb":
            raise ValueError(f"{self.target}: sections of dtype {arr.dtype} are not real numbers")
        if self._finite_only:
            check_finite(arr, f"{self.target}: sections {z0}..{z0 + arr.shape[0] - 1}")
        try:
            converted = arr if arr.dtype == self.dtype else to_dtype_like(arr, self.dtype)
        except ValueError as exc:
            raise ValueError(f"{self.target}: sections {z0}..{z0 + arr.shape[0] - 1}: {exc}") from exc
        stored = np.ascontiguousarray(converted, dtype=self._stored)
        stats = [_slice_stats(section) for section in stored]
        offset = self._layout.data_offset + z0 * rows * cols * self._stored.itemsize
        again = [z for z in range(z0, z0 + len(stored)) if z in self._done]
        if again and self.resumable:  # no longer recorded as done while they are rewritten
            for z in again:
                del self._done[z]
            self._save_record()
        try:
            _write_at(fd, stored, offset)
            if self.resumable:
                os.fsync(fd)  # the sections are on disk before the record says so
        except OSError as error:
            raise _write_error(error, self.target) from error
        for index, values in enumerate(stats):
            self._done[z0 + index] = values
        if self.resumable:
            self._save_record()

    # ----------------------------------------------------------------------------------- finishing

    def finish(self) -> StagedFile:
        """Completes the staged file (the header's statistics, a TIFF made of the sections) and hands it over
        as a `StagedFile`, to `commit` or to replace together with other files (`atomic.replace_together`,
        e.g. with a sidecar). ValueError naming the sections missing while some are."""
        fd = self._open_fd()
        if not self.complete:
            shown = ", ".join(f"{a}..{b - 1}" if b - a > 1 else str(a) for a, b in self.missing()[:8])
            raise ValueError(
                f"{self.target}: {self.shape[0] - len(self._done)} of {self.shape[0]} sections not written yet "
                f"({shown}{', ...' if len(self.missing()) > 8 else ''})"
            )
        try:
            if self._layout.name == "TIFF":
                staged: StagedFile = self._stage_tiff(fd)
            else:
                final = self._layout.header(self.statistics())
                _write_at(fd, np.frombuffer(final, np.uint8), 0)
                os.fsync(fd)
                staged = _Finished(self.target, self.staged, fd)
        except OSError as error:
            raise _write_error(error, self.target) from error
        if self.resumable:  # the record first: a staged file without one is begun afresh, never trusted
            with contextlib.suppress(FileNotFoundError):
                os.unlink(record_path(self.target))
        if isinstance(staged, _Finished):
            self._fd = None  # the lock stays held by the finished file until it is renamed or discarded
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.staged)
            self._release()
        return staged

    def commit(self) -> None:
        """`finish`, then the file is renamed onto the target (replacing any file there)."""
        staged = self.finish()
        try:
            staged.commit()
        except BaseException:
            staged.discard()
            raise

    def abandon(self) -> None:
        """Removes the staged file (and a resumable sink's progress record): nothing is left of this output."""
        if self.resumable:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(record_path(self.target))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.staged)
        self._release()

    def close(self) -> None:
        """Ends writing without committing: a resumable sink keeps its staged file and record for a later run to
        continue, another is abandoned. Nothing happens after `finish`, `commit` or `abandon`."""
        if self._fd is None:
            return
        if self.resumable:
            self._release()
        else:
            self.abandon()

    def __enter__(self) -> VolumeSink:
        return self

    def __del__(self) -> None:  # dropped without `close`: as `close`
        with contextlib.suppress(Exception):
            self.close()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd is None else f"{len(self._done)}/{self.shape[0]} sections written"
        return f"VolumeSink({str(self.target)!r}, {self.format}, shape={self.shape}, dtype={self.dtype}, {state})"

    # ------------------------------------------------------------------------------------- private

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.target}: the output was already committed, abandoned or closed")
        return self._fd

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # also releases the lock
            self._fd = None

    def _save_record(self) -> None:
        record = _record(self.target, self.key or "", self._layout, self._done)
        try:
            write_text_atomic(record_path(self.target), json.dumps(record, allow_nan=False) + "\n")
        except OSError as error:
            raise _write_error(error, self.target) from error

    def _stage_tiff(self, fd: int) -> StagedFile:
        """The TIFF, written page by page from the raw sections into a temporary file of its own."""
        import tifffile

        depth, rows, cols = self.shape

        def sections() -> Any:
            for z in range(depth):
                section = np.empty((rows, cols), self._stored)
                read_at(fd, section, z * section.nbytes, self.staged)
                yield section.astype(self.dtype, copy=False)

        staged = StagedFile(self.target)
        try:
            options = self._layout.tiff_options()
            tifffile.imwrite(staged.tmp, sections(), shape=self.shape, dtype=self.dtype, **options)
            staged.sync()
        except BaseException:
            staged.discard()
            raise
        return staged


def create_volume_output(
    path: PathLike,
    shape: Sequence[int],
    dtype: DTypeLike = np.float32,
    voxel_size: VoxelSize | PixelSize | None = None,
    header: MrcHeader | None = None,
    *,
    label: str | None = None,
    resume: str | None = None,
    restart: bool = False,
    finite_only: bool = True,
) -> VolumeSink:
    """A `VolumeSink` writing a volume of `shape` (Z, Y, X) and `dtype` to `path` (.mrc/.mrcs, .npy, .tif/.tiff)
    section by section; see the module's docstring.

    Checked before anything is written (ValueError naming the file): the format stores `dtype` and stacks, the
    shape is three positive lengths, the folder exists, and there is room on its disk for the file.

    voxel_size: Å per voxel (a `PixelSize` of the sections, in nm, is taken with z not known); z, where not
    known, is the header's section spacing or else x. header: MRC header fields to keep (an input's
    `VolumeSource.header`); None writes a volume (space group 1). label: added to the header's labels.
    resume: the key of the run (see the module's docstring): staged to be continued after a kill; restart:
    begin afresh, discarding whatever output of `path` a run left staged (of this key or another).
    finite_only: refuse NaN and Inf (otherwise floats store them and the MRC statistics say "not determined").
    """
    target = Path(path)
    dims = _shape(target, shape)
    if voxel_size is not None and not isinstance(voxel_size, (VoxelSize, PixelSize)):
        raise ValueError(f"{target}: voxel_size must be a VoxelSize, a PixelSize or None, got {voxel_size!r}")
    if header is not None and not isinstance(header, MrcHeader):
        raise ValueError(f"{target}: header must be an MrcHeader or None, got {header!r}")
    if resume is not None and not isinstance(resume, str):
        raise ValueError(f"{target}: resume must be a key (str) or None, got {resume!r}")
    stored = check_writable(target, dtype, 3).newbyteorder("<")
    if target.is_dir():
        raise ValueError(f"{target}: is a folder, not an output file")
    voxel = VoxelSize.of_pixel_size(voxel_size) if isinstance(voxel_size, PixelSize) else voxel_size
    fields = MrcHeader(space_group=1) if header is None else header
    if label is not None:
        fields = fields.with_label(label)
    layout = _layout(format_of(target).name, dims, stored, voxel, fields)
    if resume is None:
        return _fresh_sink(target, dims, stored, layout, finite_only)
    return _resumable_sink(target, dims, stored, layout, resume, restart, finite_only)


def _shape(target: Path, shape: Sequence[int]) -> tuple[int, int, int]:
    try:
        dims = tuple(int(n) for n in shape)
        exact = all(not isinstance(n, bool) and int(n) == n for n in shape)
    except (TypeError, ValueError):
        dims, exact = (), False
    if len(dims) != 3 or not exact or min(dims) < 1:
        raise ValueError(f"{target}: a volume's shape is three positive lengths (Z, Y, X), got {shape!r}")
    return (dims[0], dims[1], dims[2])


def _fresh_sink(
    target: Path, shape: tuple[int, int, int], stored: np.dtype, layout: _Layout, finite_only: bool
) -> VolumeSink:
    try:
        staged = StagedFile(target)
    except OSError as exc:
        raise ValueError(f"{target}: cannot stage the output in {target.parent} ({exc.strerror or exc})") from exc
    try:
        fd = os.open(staged.tmp, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            _begin(target, fd, layout)
        except BaseException:
            os.close(fd)
            raise
    except BaseException:
        staged.discard()
        raise
    return VolumeSink(target, shape, stored, layout, staged.tmp, fd, None, {}, finite_only)


def _resumable_sink(
    target: Path,
    shape: tuple[int, int, int],
    stored: np.dtype,
    layout: _Layout,
    key: str,
    restart: bool,
    finite_only: bool,
) -> VolumeSink:
    partial, record_file = partial_path(target), record_path(target)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(partial, flags, 0o666)
    except OSError as exc:
        raise ValueError(f"{target}: cannot stage the output in {partial} ({exc.strerror or exc})") from exc
    try:
        _lock(fd, target, partial)
        done: dict[int, SliceStats] | None = None
        size = os.fstat(fd).st_size
        # An empty staged file (just made) holds nothing to keep, and one without a record no section known written.
        if size > 0 and record_file.exists() and not restart:
            done, problem = _read_record(record_file, key, layout, shape[0])
            if problem is not None:
                raise ValueError(
                    f"{target}: a partly written output is staged in {partial} and {record_file.name}, but {problem}; "
                    "continue that run, or start over (restart=True), which discards it"
                )
            if size != layout.size:
                done = None  # the staged file is not the one recorded
    except BaseException:
        os.close(fd)
        raise
    sink = VolumeSink(target, shape, stored, layout, partial, fd, key, done or {}, finite_only)
    if done is None:  # begun afresh
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(record_file)
            os.ftruncate(fd, 0)
            _begin(target, fd, layout)
            sink._save_record()
        except BaseException:
            sink.abandon()
            raise
    return sink


def _lock(fd: int, target: Path, partial: Path) -> None:
    if fcntl is None:  # pragma: no cover - Windows
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise ValueError(
                f"{target}: another process is writing this output (its staged file {partial} is locked)"
            ) from exc
        raise


def _begin(target: Path, fd: int, layout: _Layout) -> None:
    """An empty staged file made the size of the output, with the header (statistics not yet determined), after
    checking there is room for it."""
    status = os.fstat(fd)
    allocated = getattr(status, "st_blocks", 0) * 512
    needed = layout.size - min(allocated, layout.size)
    free = _free_bytes(target.parent)
    if needed > free:
        raise ValueError(
            f"{target}: needs {format_bytes(layout.size)} ({layout.size} bytes), but {target.parent} has "
            f"{format_bytes(free)} free"
        )
    try:
        header = layout.header(None)
        if header:
            _write_at(fd, np.frombuffer(header, np.uint8), 0)
        os.ftruncate(fd, layout.size)
    except OSError as error:
        raise _write_error(error, target) from error


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 2**62


def _write_at(fd: int, data: np.ndarray, offset: int) -> None:
    view = np.ascontiguousarray(data).reshape(-1).view(np.uint8).data
    done = 0
    while done < len(view):
        if hasattr(os, "pwritev"):
            count = os.pwritev(fd, [view[done:]], offset + done)
        else:  # pragma: no cover - Windows (a sink is written by one thread)
            os.lseek(fd, offset + done, os.SEEK_SET)
            count = os.write(fd, view[done:])
        if count == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done += count


class _Finished(StagedFile):
    """The finished staged file of a sink as a StagedFile of `target`, holding the sink's descriptor (and lock)
    until it is renamed (`commit`), discarded, or dropped after `atomic.replace_together` renamed it."""

    def __init__(self, target: Path, tmp: Path, fd: int) -> None:  # no new temporary file: `tmp` is the one
        self.target, self.tmp, self._fd = target, tmp, fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release()

    def discard(self) -> None:
        try:
            super().discard()
        finally:
            self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release()


# --------------------------------------------------------------------------------------- statistics


def _slice_stats(section: np.ndarray) -> SliceStats:
    """(min, max, sum, sum of squared deviations) of a section's values in float64; None where not finite."""
    values = section.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(values.sum())
        mean = total / values.size
        squares = float(np.square(values - mean).sum())
        low, high = float(values.min()), float(values.max())
    stats = (low, high, total, squares)
    return stats if all(math.isfinite(v) for v in stats) else None


def _combine(stats: list[SliceStats], count: int) -> VolumeStatistics | None:
    """The statistics of sections of `count` values each, combined one after the other (Chan et al.'s update of
    the sum of squared deviations)."""
    if any(s is None for s in stats):
        return None
    low, high, n, mean, squares = math.inf, -math.inf, 0, 0.0, 0.0
    for item in stats:
        assert item is not None
        s_low, s_high, s_total, s_squares = item
        s_mean = s_total / count
        low, high = min(low, s_low), max(high, s_high)
        total = n + count
        delta = s_mean - mean
        mean += delta * count / total
        squares += s_squares + delta * delta * n * count / total
        n = total
    return VolumeStatistics(min=low, max=high, mean=mean, rms=math.sqrt(squares / n))


# ----------------------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class _Layout:
    """How the staged file is laid out: name (the format), data_offset, size (bytes of the staged file), header
    (the header bytes for the given statistics; b"" for TIFF, whose staged file is raw sections),
    tiff_options (tifffile.imwrite's options for a TIFF), identity (what a resumed run must match)."""

    name: str
    data_offset: int
    size: int
    header: Callable[[VolumeStatistics | None], bytes]
    tiff_options: Callable[[], dict[str, Any]]
    identity: str


def _layout(
    name: str, shape: tuple[int, int, int], stored: np.dtype, voxel: VoxelSize | None, fields: MrcHeader
) -> _Layout:
    data = math.prod(shape) * stored.itemsize
    if name == "MRC":

        def header(stats: VolumeStatistics | None) -> bytes:
            return _mrc_header(shape, stored, voxel, fields, stats)

        offset, described = MRC_HEADER_BYTES, header(None)
    elif name == "NPY":
        described = _npy_header(shape, stored)
        offset = len(described)

        def header(stats: VolumeStatistics | None) -> bytes:
            return described

    else:  # TIFF: raw sections, made into a TIFF when committed

        def header(stats: VolumeStatistics | None) -> bytes:
            return b""

        offset = 0
        described = json.dumps(_tiff_options(stored, voxel), sort_keys=True, default=str).encode()

    identity = hashlib.sha256(f"{name} {shape} {stored.str} ".encode() + described).hexdigest()
    return _Layout(name, offset, offset + data, header, lambda: _tiff_options(stored, voxel), identity)


def _mrc_header(
    shape: tuple[int, int, int],
    stored: np.dtype,
    voxel: VoxelSize | None,
    fields: MrcHeader,
    stats: VolumeStatistics | None,
) -> bytes:
    from mrcfile.dtypes import HEADER_DTYPE

    depth, rows, cols = shape
    record = np.zeros((), HEADER_DTYPE.newbyteorder("<")).view(np.recarray)
    record.nx, record.ny, record.nz = cols, rows, depth
    record.mode = _MRC_MODES[stored.kind + str(stored.itemsize)]
    record.mx, record.my = cols, rows
    record.mz = depth if fields.volume else 1
    record.ispg = fields.space_group if fields.volume else 0
    record.cellb.alpha = record.cellb.beta = record.cellb.gamma = 90.0
    record.mapc, record.mapr, record.maps = 1, 2, 3
    if voxel is not None:
        z = voxel.z if voxel.z is not None else fields.section_spacing
        record.cella.x, record.cella.y = voxel.x * cols, voxel.y * rows
        record.cella.z = (voxel.x if z is None else z) * int(record.mz)
    record.map = b"MAP "
    record.nversion = 20141
    record.machst = (0x44, 0x44, 0, 0)
    if stats is None:  # MRC2014's "not determined"
        record.dmin, record.dmax, record.dmean, record.rms = 0.0, -1.0, -2.0, -1.0
    else:
        record.dmin, record.dmax, record.dmean, record.rms = stats.min, stats.max, stats.mean, stats.rms
    _write_fields(record, fields)
    return bytes(record.tobytes())


def _npy_header(shape: tuple[int, int, int], stored: np.dtype) -> bytes:
    described = {"descr": np.lib.format.dtype_to_descr(stored), "fortran_order": False, "shape": shape}
    buffer = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buffer, described)
    except ValueError:  # pragma: no cover - a header over 64 KiB
        buffer = io.BytesIO()
        np.lib.format.write_array_header_2_0(buffer, described)
    return buffer.getvalue()


def _tiff_options(stored: np.dtype, voxel: VoxelSize | None) -> dict[str, Any]:
    """tifffile.imwrite's options, as `io.tiff.write_tiff` chooses them, with the sections' spacing."""
    from zeroshot.io.tiff import IMAGEJ_DTYPES

    options: dict[str, Any] = {"photometric": "minisblack"}
    native = stored.newbyteorder("=")
    if native in IMAGEJ_DTYPES:
        metadata: dict[str, Any] = {"axes": "ZYX"}
        if voxel is not None:
            options["resolution"] = (10.0 / voxel.x, 10.0 / voxel.y)
            metadata["unit"] = "nm"
            if voxel.z is not None:
                metadata["spacing"] = voxel.z / 10.0
        options.update(imagej=True, metadata=metadata)
    elif voxel is not None:
        options["resolution"] = (1e8 / voxel.x, 1e8 / voxel.y)
        options["resolutionunit"] = "CENTIMETER"
    return options


# ---------------------------------------------------------------------------------- progress record


def _record(target: Path, key: str, layout: _Layout, done: dict[int, SliceStats]) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "version": RECORD_VERSION,
        "target": str(target),
        "key": key,
        "layout": layout.identity,
        "size": layout.size,
        "slices": {str(z): _listed(done[z]) for z in sorted(done)},
    }


def _listed(stats: SliceStats) -> list[float] | None:
    return None if stats is None else list(stats)


def _read_record(path: Path, key: str, layout: _Layout, depth: int) -> tuple[dict[int, SliceStats] | None, str | None]:
    """(the sections done and their statistics, None) for a record of this run; (None, why not) otherwise."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, ValueError) as exc:
        return None, f"its progress record cannot be read ({exc})"
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return None, "its progress record is not one zeroshot writes"
    if record.get("version") != RECORD_VERSION:
        return None, f"its progress record has version {record.get('version')!r}, not {RECORD_VERSION}"
    if record.get("key") != key:
        return None, "it was begun by another run (another input or other settings: its key differs)"
    if record.get("layout") != layout.identity or record.get("size") != layout.size:
        return None, "it was begun for another volume (another shape, dtype, voxel size or header)"
    slices = record.get("slices")
    done: dict[int, SliceStats] = {}
    if not isinstance(slices, dict):
        return None, "its progress record has no list of sections"
    for name, stats in slices.items():
        z = int(name) if isinstance(name, str) and name.isdigit() else -1
        if not 0 <= z < depth:
            return None, f"its progress record names a section {name!r} of a volume of {depth}"
        if stats is None:
            done[z] = None
        elif (
            isinstance(stats, list)
            and len(stats) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in stats)
        ):
            done[z] = (float(stats[0]), float(stats[1]), float(stats[2]), float(stats[3]))
        else:
            return None, f"its progress record holds {stats!r} for section {z}"
    return done, None
