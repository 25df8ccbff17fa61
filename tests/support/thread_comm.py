"""A `Comm` whose ranks are threads of this process: the rank-parallel code paths in one quick test,
without mpiexec. Sums are taken in rank order, as MPI does for two ranks."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

import numpy as np

TIMEOUT = 120.0


class ThreadWorld:
    def __init__(self, size: int) -> None:
        self.size = size
        self.barrier = threading.Barrier(size, timeout=TIMEOUT)
        self.slots: list[Any] = [None] * size
        self.mailboxes: dict[tuple[int, int], queue.Queue[dict[str, np.ndarray]]] = {
            (s, d): queue.Queue() for s in range(size) for d in range(size)
        }
        self.objects: list[queue.Queue[Any]] = [queue.Queue() for _ in range(size)]


class ThreadComm:
    def __init__(self, world: ThreadWorld, rank: int) -> None:
        self.world, self.rank, self.size = world, rank, world.size

    def _exchange(self, value: Any) -> list[Any]:
        """Every rank's value, on every rank."""
        self.world.slots[self.rank] = value
        self.world.barrier.wait()
        values = list(self.world.slots)
        self.world.barrier.wait()
        return values

    def allreduce(self, buffer: np.ndarray) -> np.ndarray:
        values = self._exchange(np.array(buffer, dtype=np.float64))
        total = values[0].copy()
        for value in values[1:]:
            total += value
        return total

    def bcast(self, obj: Any) -> Any:
        return self._exchange(obj)[0]

    def gather(self, obj: Any) -> list[Any] | None:
        values = self._exchange(obj)
        return values if self.rank == 0 else None

    def send_arrays(self, arrays: dict[str, np.ndarray], dest: int) -> None:
        self.world.mailboxes[(self.rank, dest)].put({k: np.array(v) for k, v in arrays.items()})

    def recv_arrays(self, source: int) -> dict[str, np.ndarray]:
        return self.world.mailboxes[(source, self.rank)].get(timeout=TIMEOUT)

    def bcast_arrays(self, arrays: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        root = self._exchange(arrays)[0]
        return {k: np.array(v) for k, v in root.items()}

    def send_object(self, obj: Any, dest: int) -> None:
        self.world.objects[dest].put(obj)

    def recv_object(self, wait: bool) -> Any | None:
        try:
            return self.world.objects[self.rank].get(block=wait, timeout=TIMEOUT if wait else None)
        except queue.Empty:
            if wait:
                raise
            return None


def run_ranks(size: int, work: Callable[[ThreadComm], Any]) -> list[Any]:
    """work(comm) on `size` thread ranks; their results in rank order. An exception on any rank is
    raised here (the others are released from their barrier instead of waiting for it)."""
    world = ThreadWorld(size)
    results: list[Any] = [None] * size
    errors: list[BaseException] = []

    def run(rank: int) -> None:
        try:
            results[rank] = work(ThreadComm(world, rank))
        except threading.BrokenBarrierError:
            pass
        except BaseException as error:
            errors.append(error)
            world.barrier.abort()

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    if errors:
        raise errors[0]
    return results
