"""Communication between the processes of a data-parallel run (serial by default; MPI in zeroshot.runtime.mpi).

Every rank holds the whole image and the same configuration; the patches are split into contiguous
blocks (`block_range`), one per rank. Per EM epoch the ranks exchange one summed buffer
(`allreduce`); the rest (broadcasts, gathers, point-to-point arrays) happens once per run or per
checkpoint.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import numpy as np

T = TypeVar("T")
Arrays = dict[str, np.ndarray]


class Comm(Protocol):
    rank: int
    size: int

    def allreduce(self, buffer: np.ndarray) -> np.ndarray:
        """Element-wise sum of a float64 buffer over all processes."""
        ...

    def bcast(self, obj: T) -> T:
        """Rank 0's `obj` (a small picklable object) on every rank."""
        ...

    def gather(self, obj: Any) -> list[Any] | None:
        """[obj of rank 0, obj of rank 1, ...] on rank 0 (small picklable objects), None elsewhere."""
        ...

    def send_arrays(self, arrays: Arrays, dest: int) -> None:
        """Sends named arrays of any size to rank `dest` (matched by one `recv_arrays` there)."""
        ...

    def recv_arrays(self, source: int) -> Arrays:
        """The named arrays that rank `source` sent with `send_arrays`."""
        ...

    def bcast_arrays(self, arrays: Arrays | None) -> Arrays:
        """Rank 0's named arrays of any size on every rank (other ranks pass None)."""
        ...

    def send_object(self, obj: Any, dest: int) -> None:
        """Sends a small picklable object to rank `dest`, matched by a `recv_object` there whenever it comes
        (messages of ranks that work on their own, such as the status of a finished file)."""
        ...

    def recv_object(self, wait: bool) -> Any | None:
        """An object another rank sent with `send_object`, from any rank: the next one to arrive (wait), or one
        that has arrived already, else None (not wait)."""
        ...


class SerialComm:
    """One process: the sum over processes is the buffer itself; there is no other rank."""

    rank = 0
    size = 1

    def allreduce(self, buffer: np.ndarray) -> np.ndarray:
        return buffer

    def bcast(self, obj: T) -> T:
        return obj

    def gather(self, obj: Any) -> list[Any] | None:
        return [obj]

    def send_arrays(self, arrays: Arrays, dest: int) -> None:
        raise RuntimeError(f"a single process has no rank {dest} to send to")

    def recv_arrays(self, source: int) -> Arrays:
        raise RuntimeError(f"a single process has no rank {source} to receive from")

    def bcast_arrays(self, arrays: Arrays | None) -> Arrays:
        if arrays is None:
            raise ValueError("rank 0 must give the arrays to broadcast")
        return arrays

    def send_object(self, obj: Any, dest: int) -> None:
        raise RuntimeError(f"a single process has no rank {dest} to send to")

    def recv_object(self, wait: bool) -> Any | None:
        if wait:
            raise RuntimeError("a single process has no other rank to wait for")
        return None  # nothing ever arrives


def block_range(n: int, rank: int, size: int) -> tuple[int, int]:
    """The contiguous block [lo, hi) of n items that `rank` of `size` ranks owns: blocks in rank order,
    their lengths differ by at most one (the first n % size ranks get the longer ones)."""
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"rank {rank} is not one of {size} ranks")
    if n < 0:
        raise ValueError(f"cannot split a negative number of items ({n})")
    base, extra = divmod(n, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def any_rank(comm: Comm, flag: bool) -> bool:
    """True on every rank if `flag` is true on any rank (a collective: every rank must call it)."""
    return bool(comm.allreduce(np.array([1.0 if flag else 0.0]))[0] > 0)
