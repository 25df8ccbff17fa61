"""Whether a denoise run fits in memory, checked before any work: the bound of `zeroshot.runtime.memory` against
the memory available to each process; fewer patches per inference chunk when that alone makes it fit."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from typing import Callable, Union

from zeroshot.config import DenoiseConfig
from zeroshot.runtime.available_memory import MemoryLimit, available_memory
from zeroshot.runtime.comm import Comm
from zeroshot.runtime.memory import MemoryEstimate, estimate_memory, format_bytes, knobs_to_lower, parse_size

logger = logging.getLogger("zeroshot")

# Automatic chunking goes no lower than this many patches per chunk (smaller chunks only add overhead).
MIN_AUTO_CHUNK = 4096

MaxMemory = Union[int, str, None]


def check_max_memory(max_memory: MaxMemory) -> int | None:
    """max_memory as bytes: a positive int, a size such as '8G', or None (use what is available)."""
    if max_memory is None:
        return None
    if isinstance(max_memory, str):
        return parse_size(max_memory)
    if isinstance(max_memory, bool) or not isinstance(max_memory, int) or max_memory <= 0:
        raise ValueError(f"max_memory must be a positive number of bytes or a size such as '8G', got {max_memory!r}")
    return max_memory


def _budget(limits: list[tuple[str, MemoryLimit | None]]) -> MemoryLimit | None:
    """Each rank's share of the memory: the least available on its host divided by the host's ranks
    (they share it); the smallest share over the hosts. None if some rank could not tell."""
    if any(limit is None for _, limit in limits):
        return None
    by_host: dict[str, list[MemoryLimit]] = {}
    for host, limit in limits:
        assert limit is not None
        by_host.setdefault(host, []).append(limit)
    shares = []
    for host, host_limits in by_host.items():
        least = min(host_limits, key=lambda limit: limit.bytes)
        ranks = len(host_limits)
        source = least.source if ranks == 1 else f"{least.source}, shared by {ranks} ranks on {host}"
        shares.append(MemoryLimit(least.bytes // ranks, source))
    return min(shares, key=lambda share: share.bytes)


def _largest_fitting_chunk(fits: Callable[[int], bool], low: int, high: int) -> int:
    """The largest chunk in [low, high] for which fits(chunk) holds, given fits(low) (fits is monotone)."""
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _decide(
    image_shape: tuple[int, int],
    config: DenoiseConfig,
    moments: int,
    ranks: int,
    threads: int,
    checkpoint: bool,
    budget: MemoryLimit,
) -> tuple[int, str | None, str | None]:
    """(chunk_patches to use, a note of a lowered chunk, an error) for the per-rank budget."""

    def estimate(chunk: int) -> MemoryEstimate:
        return estimate_memory(
            image_shape,
            replace(config, chunk_patches=chunk),
            moments=moments,
            ranks=ranks,
            threads=threads,
            checkpoint=checkpoint,
        )

    asked = estimate(config.chunk_patches)
    if asked.total <= budget.bytes:
        return config.chunk_patches, None, None
    low = min(config.chunk_patches, MIN_AUTO_CHUNK)
    lowest = estimate(low)
    if lowest.total > budget.bytes:
        knobs = knobs_to_lower(lowest, config)
        return (
            config.chunk_patches,
            None,
            (
                f"denoising an image of shape {image_shape} needs about {lowest.describe()} per process"
                f"{f' (with chunk_patches lowered to {low})' if low < config.chunk_patches else ''}, more than the "
                f"{format_bytes(budget.bytes)} available ({budget.source}); lower "
                f"{', '.join(knobs) if knobs else 'the size of the image or of the model'}"
                + (", or use more MPI ranks on more hosts" if lowest.phase in ("training", "init", "patches") else "")
                + ", or give max_memory (--max-memory) if more memory can be used"
            ),
        )
    chunk = _largest_fitting_chunk(lambda c: estimate(c).total <= budget.bytes, low, config.chunk_patches)
    note = (
        f"chunk_patches lowered from {config.chunk_patches} to {chunk} to fit the memory: about "
        f"{format_bytes(estimate(chunk).total)} per process instead of {format_bytes(asked.total)}, "
        f"{format_bytes(budget.bytes)} available ({budget.source})"
    )
    return chunk, note, None


def fit_chunk_patches(
    image_shape: tuple[int, int],
    config: DenoiseConfig,
    *,
    moments: int,
    threads: int,
    checkpoint: bool,
    comm: Comm,
    max_memory: int | None = None,
) -> int:
    """The chunk_patches to run with: config.chunk_patches if the memory bound fits every rank's share of
    the available memory (max_memory per process, if given), else the largest smaller chunk (down to
    MIN_AUTO_CHUNK) that fits, logged as a warning on rank 0; ValueError if nothing fits. Without a
    readable limit (not Linux) nothing is checked. A collective: every rank gets rank 0's decision."""
    budget = _share_on_rank_0(comm, max_memory)
    decision: tuple[int, str | None, str | None] = (config.chunk_patches, None, None)
    if comm.rank == 0 and budget is not None:
        decision = _decide(image_shape, config, moments, comm.size, threads, checkpoint, budget)
    chunk, note, error = comm.bcast(decision)
    if error is not None:
        raise ValueError(error)
    if note is not None and comm.rank == 0:
        logger.warning("zeroshot: %s", note)
    return chunk


def memory_share(comm: Comm, max_memory: int | None = None) -> MemoryLimit | None:
    """The memory each rank may use (on every rank; a collective): max_memory per process if given, else the
    least available on each host divided by that host's ranks, the smallest over the hosts; None where some
    rank cannot tell."""
    return comm.bcast(_share_on_rank_0(comm, max_memory))


def _share_on_rank_0(comm: Comm, max_memory: int | None) -> MemoryLimit | None:
    """memory_share on rank 0 (None on the others): a gather, a collective."""
    limit = MemoryLimit(max_memory, "max_memory") if max_memory is not None else available_memory()
    limits = comm.gather((socket.gethostname(), limit))
    if comm.rank != 0:
        return None
    assert limits is not None
    return limit if max_memory is not None else _budget(limits)
