"""The files zeroshot keeps between runs (training checkpoints, trained models): NumPy .npz archives of named
arrays and a JSON text member `meta`, written atomically and read without pickles.

Reading checks every member's .npy header before its data is read: a real numeric or text array (no Python
objects) whose declared size is the member's size, so a header claiming terabytes is refused without
allocating them. Every problem is a ValueError naming the file and the kind of file (the `noun`), with no
advice of numpy's on pickles.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.io.atomic import atomic_output


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


def read_archive(path: Path, noun: str) -> tuple[str, dict[str, np.ndarray]]:
    """(the meta member's JSON text, the other arrays) of the archive at `path`, an existing file, or a
    ValueError saying why it is no readable zeroshot `noun`."""
    try:
        if not zipfile.is_zipfile(path):
            raise _not_an_archive(path, noun)
        arrays = _read_arrays(path, noun)
    except OSError as error:
        raise ValueError(f"{path}: cannot read the {noun} ({error})") from None
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as error:
        raise not_a(path, noun, str(error)) from None
    meta = arrays.pop("meta", None)
    if meta is None or meta.dtype.kind != "U" or meta.ndim != 0:
        raise not_a(path, noun, "no meta record")
    return str(meta), arrays


def parse_meta(path: Path, noun: str, text: str, file_format: str) -> dict[str, Any]:
    """The meta record as a dict, or a ValueError unless it is JSON naming `file_format`."""
    try:
        meta = json.loads(text)
    except ValueError as error:
        raise not_a(path, noun, f"its meta record: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != file_format:
        raise not_a(path, noun)
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


def _read_arrays(path: Path, noun: str) -> dict[str, np.ndarray]:
    """The archive's arrays, each member's header checked before it is read: a real numeric or text
    array (no pickles) whose declared size is the member's size (a header claiming more is refused)."""
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            with archive.open(info) as fh:
                try:
                    version = np.lib.format.read_magic(fh)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, fortran, dtype = read(fh)
                except Exception as error:  # a broken header: ValueError, SyntaxError, ...
                    raise damaged(path, noun, f"member {name}: not a .npy array ({error})") from None
                if dtype.hasobject:
                    raise damaged(path, noun, f"member {name} holds Python objects, not numbers")
                declared = math.prod(shape) * dtype.itemsize
                available = info.file_size - fh.tell()
                if declared != available:
                    raise damaged(
                        path,
                        noun,
                        f"member {name} declares an array of shape {tuple(shape)} {dtype} "
                        f"({declared} bytes) but holds {available} bytes",
                    )
                data = fh.read(declared)
            values = np.frombuffer(bytearray(data), dtype=dtype)  # a writable copy, as np.load gives
            arrays[name] = values.reshape(tuple(shape)[::-1]).T if fortran else values.reshape(tuple(shape))
    return arrays
