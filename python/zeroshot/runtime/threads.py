"""The OpenMP threads of the compiled core for one run."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from contextlib import contextmanager

from zeroshot import _core


def check_threads(threads: int | None) -> int:
    """The OpenMP threads a run will use: `threads` (any integer type), or the current number when None."""
    if threads is None:
        return _core.get_num_threads()
    if not isinstance(threads, numbers.Integral) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    if threads > _core.MAX_THREADS:
        raise ValueError(f"threads must be at most {_core.MAX_THREADS}, got {threads}")
    return int(threads)


@contextmanager
def thread_count(threads: int | None) -> Iterator[None]:
    """Runs the block with `threads` OpenMP threads (None: as they are), restoring the number after."""
    n_threads = check_threads(threads)
    if threads is None:
        yield
        return
    previous = _core.get_num_threads()
    _core.set_num_threads(n_threads)
    try:
        yield
    finally:
        _core.set_num_threads(previous)
