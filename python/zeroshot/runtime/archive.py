"""The files zeroshot keeps between runs (training checkpoints, trained models): NumPy .npz archives of named
arrays and a JSON text member `meta`, written atomically and read without pickles.

Reading takes only the members the kind of file holds (others are skipped unread), refuses them before they
are inflated when together they would take more than the memory allowed (a small file of a few deflated
gigabytes is a decompression bomb), and checks every member's .npy header before its data is read: a real
numeric or text array (no Python objects) whose declared size is the member's size, so a header claiming
terabytes is refused without allocating them. Every problem is a ValueError naming the file and the kind of
file (the `noun`), with no advice of numpy's on pickles.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from zeroshot.io.atomic import atomic_output
from zeroshot.runtime.available_memory import MemoryLimit
from zeroshot.runtime.memory import format_bytes

_READ_CHUNK = 16 * 2**20  # a member is read into its array this many bytes at a time


def damaged(path: Path, noun: str, problem: str) -> ValueError:
    return ValueError(f"{path}: damaged {noun} ({problem})")


def not_a(path: Path, noun: str, why: str | None = None) -> ValueError:
    return ValueError(f"{path} is not a zeroshot {noun}" + (f" ({why})" if why else ""))


def write_archive(path: Path, meta: str, arrays: dict[str, np.ndarray]) -> None:
    """Writes the JSON text `meta` and `arrays` to `path` atomically: the file is complete under its name, or
    (on any error) whatever was there before is left as it was."""
    with atomic_output(Path(path)) as tmp, open(tmp, "wb") as fh:  # a file object: np.savez would append .npz
        members: dict[str, Any] = {"meta": np.array(meta), **arrays}  # Any: numpy's stubs type **kwds oddly
        np.savez(fh, **members)


def read_archive(
    path: Path, noun: str, members: Collection[str], limit: MemoryLimit | None
) -> tuple[str, dict[str, np.ndarray]]:
    """(the meta member's JSON text, the arrays named in `members` that it holds) of the archive at `path`, an
    existing file, or a ValueError saying why it is no readable zeroshot `noun`. Members of other names are
    skipped unread; the others are refused before they are inflated when together they would take more than
    `limit` (`available_memory.memory_limit`; None: unknown, no check)."""
    try:
        if not zipfile.is_zipfile(path):
            raise _not_an_archive(path, noun)
        arrays = _read_arrays(path, noun, {"meta", *members}, limit)
    except OSError as error:
        raise ValueError(f"{path}: cannot read the {noun} ({error})") from None
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as error:
        raise not_a(path, noun, str(error)) from None
    meta = arrays.pop("meta", None)
    if meta is None or meta.dtype.kind != "U" or meta.ndim != 0:
        raise not_a(path, noun, "no meta record")
    return str(meta), arrays


def parse_meta(
    path: Path, noun: str, text: str, file_format: str, other_formats: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The meta record as a dict, or a ValueError unless it is JSON naming `file_format`; other_formats: what
    to say of a file of another format (format -> why it is no `noun`)."""
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as error:  # RecursionError: arrays or objects nested too deep
        raise not_a(path, noun, f"its meta record: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != file_format:
        other = meta.get("format") if isinstance(meta, dict) else None
        raise not_a(path, noun, (other_formats or {}).get(other) if isinstance(other, str) else None)
    return meta


MetaTypes = dict[str, tuple[tuple[type, ...], str]]


def check_meta_types(path: Path, noun: str, meta: dict[str, Any], types: MetaTypes) -> None:
    """Every key of `types` (name -> (the JSON types it may have, what it must be)) is in `meta` with such a
    type (a bool is no integer)."""
    for key, (allowed, what) in types.items():
        if key not in meta:
            raise damaged(path, noun, f"its meta record has no {key!r}")
        value = meta[key]
        if not isinstance(value, allowed) or (bool not in allowed and isinstance(value, bool)):
            raise damaged(path, noun, f"{key!r} in its meta record must be {what}, got {value!r}")


def _not_an_archive(path: Path, noun: str) -> ValueError:
    """Why `path`, which is no zip archive, is no zeroshot file (without numpy's advice on pickles)."""
    with open(path, "rb") as fh:
        start = fh.read(8)
    if not start:
        why = "the file is empty"
    elif start.startswith(b"\x93NUMPY"):
        why = f"it is a single .npy array, not a {noun} archive"
    else:
        why = "it is not a .npz archive"
    return not_a(path, noun, why)


def _array_name(info: zipfile.ZipInfo) -> str:
    return info.filename[:-4] if info.filename.endswith(".npy") else info.filename


def _read_arrays(path: Path, noun: str, members: set[str], limit: MemoryLimit | None) -> dict[str, np.ndarray]:
    """The archive's arrays named in `members`, their sizes checked against `limit` before any is read."""
    with zipfile.ZipFile(path) as archive:
        wanted = [info for info in archive.infolist() if _array_name(info) in members]
        encrypted = [_array_name(info) for info in wanted if info.flag_bits & 0x1]
        if encrypted:  # zipfile would ask for a password (a RuntimeError)
            raise not_a(path, noun, f"member {encrypted[0]} is encrypted")
        size = sum(info.file_size for info in wanted)  # what inflating them gives at most (zipfile stops there)
        if limit is not None and size > limit.bytes:
            raise ValueError(
                f"{path}: the {noun} would take {format_bytes(size)}, more than the {format_bytes(limit.bytes)} "
                f"available ({limit.source}); refused before inflating it"
            )
        arrays: dict[str, np.ndarray] = {}
        for info in wanted:
            with archive.open(info) as fh:
                arrays[_array_name(info)] = _read_member(path, noun, _array_name(info), info.file_size, fh)
    return arrays


def _read_member(path: Path, noun: str, name: str, file_size: int, fh: IO[bytes]) -> np.ndarray:
    """The array of one member (`file_size` bytes), its header checked before its data is read: a real
    numeric or text array (no pickles) whose declared size is the member's size (a header claiming more is
    refused)."""
    try:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(fh)
    except Exception as error:  # a broken header: ValueError, SyntaxError, ...
        raise damaged(path, noun, f"member {name}: not a .npy array ({error})") from None
    if dtype.hasobject:
        raise damaged(path, noun, f"member {name} holds Python objects, not numbers")
    declared = math.prod(shape) * dtype.itemsize
    available = file_size - fh.tell()
    if declared != available:
        raise damaged(
            path,
            noun,
            f"member {name} declares an array of shape {tuple(shape)} {dtype} ({declared} bytes) "
            f"but holds {available} bytes",
        )
    values = np.frombuffer(_read_bytes(fh, declared), dtype=dtype)  # writable, as np.load gives
    return values.reshape(tuple(shape)[::-1]).T if fortran else values.reshape(tuple(shape))


def _read_bytes(fh: IO[bytes], size: int) -> bytearray:
    """The next `size` bytes of `fh`, read a chunk at a time into one buffer (no second copy of them all)."""
    data = bytearray(size)
    view = memoryview(data)
    done = 0
    while done < size:
        chunk = fh.read(min(_READ_CHUNK, size - done))
        if not chunk:
            raise EOFError(f"a member ends after {done} of its {size} bytes")
        view[done : done + len(chunk)] = chunk
        done += len(chunk)
    return data
