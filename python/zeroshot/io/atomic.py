"""Atomic file writes: a file appears complete under its name, or not at all.

A file is written to a temporary file in the same folder, made by our own O_EXCL open (never an existing
file or a planted symlink; the usual umask permissions), flushed to disk and renamed onto its name. The
temporary name says whose it is: ``.NAME.zs-HOST-PID-RANDOM.tmp``. A process killed while writing leaves
its temporary file behind; the next write of the same NAME on that host removes those of processes that
no longer run (the temporary files of a running writer are left alone).

Several files that belong together (an image and its sidecar) are staged first and replaced only when
all of them are complete, one after the other while holding a lock on their folder (`replace_together`),
so concurrent writers of the same pair never leave an image of one run beside the sidecar of another.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX; elsewhere pairs are replaced without the lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _temp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.zs-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: a process of another user has that id
        return True
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Removes the temporary files of `path` left by killed writers on this host; returns them."""
    pattern = re.compile(re.escape(f".{path.name}.zs-{_HOST}-") + r"(\d+)-[0-9a-f]{8}\.tmp")
    removed: list[Path] = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or _running(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path.parent / name)
            removed.append(path.parent / name)
    return removed


class StagedFile:
    """A new empty temporary file next to `target` for the caller to write; `commit` flushes it to disk
    and renames it onto `target`, `discard` removes it."""

    def __init__(self, target: Path) -> None:
        self.target = target
        remove_stale_temps(target)
        self.tmp = _temp_name(target)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
        os.close(os.open(self.tmp, flags, 0o666))

    def sync(self) -> None:
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())

    def commit(self) -> None:
        self.sync()
        os.replace(self.tmp, self.target)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def stage(target: Path, write: Callable[[Path], object]) -> StagedFile:
    """A StagedFile of `target` that `write(tmp)` filled; an OSError names `target` (a full disk, a quota),
    and on any error the temporary file is removed."""
    staged = StagedFile(target)
    try:
        write(staged.tmp)
    except OSError as error:
        problem = _write_error(error, target)  # before the temporary file's space is freed
        staged.discard()
        raise problem from error
    except BaseException:
        staged.discard()
        raise
    return staged


# A short write that leaves less free space than this in its folder was a full disk.
_FULL = 2**20


def _write_error(error: OSError, target: Path) -> OSError:
    """The OSError of a failed write of `target`, naming it. NumPy's and tifffile's writes (C's fwrite) report
    a full disk as "[Errno None] 4096 requested and 2016 written": an error without errno is ENOSPC when the
    folder has (almost) no free space left."""
    code, why = error.errno, error.strerror or str(error)
    if code is None and _free_bytes(target.parent) < _FULL:
        code, why = errno.ENOSPC, os.strerror(errno.ENOSPC)
    return OSError(code, f"cannot write {target}: {why}")


def _free_bytes(folder: Path) -> int:
    """The bytes free for this user in `folder`'s file system (a large number where that cannot be told)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 2**62


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yields a new empty temporary file next to `path` for the caller to write; when the block
    ends normally the file is flushed to disk and renamed onto `path` (replacing any file there),
    otherwise it is removed and `path` is left as it was."""
    staged = StagedFile(path)
    try:
        yield staged.tmp
        staged.commit()
    except BaseException:
        staged.discard()
        raise


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on `folder` itself (no lock file is left behind)."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def replace_together(staged: Sequence[StagedFile]) -> None:
    """Flushes every staged file, then renames them onto their targets one after the other under a lock
    on their folder; on an error before the renames, every staged file is removed."""
    try:
        for item in staged:
            item.sync()
        folders = sorted({item.target.parent.resolve() for item in staged})
        with contextlib.ExitStack() as locks:
            for folder in folders:
                locks.enter_context(_folder_lock(folder))
            for item in staged:
                os.replace(item.tmp, item.target)
    except BaseException:
        for item in staged:
            item.discard()
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
