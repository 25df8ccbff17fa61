"""Checks of what a file declares (the array's shape and dtype in its header) before it is decoded, so that
a small file that claims a huge image (a decompression or header bomb) is refused before any memory is
taken for it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from zeroshot.runtime.available_memory import available_memory
from zeroshot.runtime.memory import format_bytes

# Called with the declared shape and dtype of the array a reader is about to decode; raises ValueError
# (the reader puts the file's name in front) when it must not be decoded.
HeaderCheck = Callable[[tuple[int, ...], np.dtype], None]


class DeclaredSizeError(ValueError):
    """A file declares an array that must not be decoded (see `HeaderCheck`). A check may raise it with a
    message that names the file itself; other ValueErrors get the file's name in front."""


def declared_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """The bytes of an array of `shape` and `dtype` (Python ints: no overflow)."""
    return math.prod(int(n) for n in shape) * int(np.dtype(dtype).itemsize)


def byte_limit(max_bytes: int, source: str) -> HeaderCheck:
    """A check refusing arrays of more than `max_bytes`; `source` says where the limit comes from."""

    def check(shape: tuple[int, ...], dtype: np.dtype) -> None:
        size = declared_bytes(shape, dtype)
        if size > max_bytes:
            raise ValueError(
                f"declares an array of shape {tuple(shape)} {np.dtype(dtype)} ({format_bytes(size)}), more than "
                f"the {format_bytes(max_bytes)} it may take ({source}); refused before decoding it"
            )

    return check


def default_check() -> HeaderCheck | None:
    """The byte limit of the memory available to this process now, or None where it cannot be read."""
    limit = available_memory()
    return None if limit is None else byte_limit(limit.bytes, f"the memory available: {limit.source}")


def check_declared(check: HeaderCheck | None, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Runs `check` on what `path` declares; its ValueError becomes a DeclaredSizeError naming the file."""
    if check is None:
        return
    try:
        check(tuple(int(n) for n in shape), np.dtype(dtype))
    except DeclaredSizeError:
        raise  # a message of its own, which names the file
    except ValueError as error:
        raise DeclaredSizeError(f"{path}: {error}") from None
