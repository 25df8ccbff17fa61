"""Atomic file writes: a file appears complete under its name, or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yields a new empty temporary file next to `path` for the caller to write; when the block
    ends normally the file is flushed to disk and renamed onto `path` (replacing any file there),
    otherwise it is removed and `path` is left as it was.

    The temporary file is in the same folder, so the rename is atomic; it is made by our own
    O_EXCL open (not `tempfile`) so that the result gets the usual umask permissions.
    """
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    os.close(os.open(tmp, flags, 0o666))
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
