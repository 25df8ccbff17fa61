"""Where the ranks of a run are: host, OpenMP threads and CPU affinity per rank, gathered on rank 0,
with warnings when threads outnumber the cores they may run on."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from zeroshot.runtime.comm import Comm


@dataclass(frozen=True)
class Placement:
    rank: int
    host: str
    threads: int
    cpus: frozenset[int]


def here(rank: int, threads: int) -> Placement:
    """This process's placement (all CPUs where the OS has no affinity masks)."""
    try:
        cpus = frozenset(os.sched_getaffinity(0))
    except AttributeError:
        cpus = frozenset(range(os.cpu_count() or 1))
    return Placement(rank, socket.gethostname(), threads, cpus)


def cpu_list(cpus: frozenset[int]) -> str:
    """CPU numbers as ranges: {0, 1, 2, 5} -> '0-2,5'."""
    runs: list[tuple[int, int]] = []
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], cpu)
        else:
            runs.append((cpu, cpu))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def describe(placements: list[Placement]) -> tuple[list[str], list[str]]:
    """(lines describing the ranks, warnings): a rank pinned to fewer CPUs than it runs threads, or a
    host whose ranks together run more threads than the CPUs they may use."""
    threads = sorted({p.threads for p in placements})
    lines = [
        f"{len(placements)} MPI ranks, {'/'.join(map(str, threads))} OpenMP thread(s) per rank",
        *(f"  rank {p.rank} on {p.host}: CPUs {cpu_list(p.cpus)}" for p in placements),
    ]
    warnings = [
        f"rank {p.rank} on {p.host} runs {p.threads} threads but is pinned to {len(p.cpus)} CPU(s) "
        f"({cpu_list(p.cpus)}): give --threads {len(p.cpus)}, or start it with more cores per rank "
        "(Open MPI binds each rank to one core by default: mpiexec --map-by slot:PE=N or --bind-to none)"
        for p in placements
        if p.threads > len(p.cpus)
    ]
    by_host: dict[str, list[Placement]] = {}
    for p in placements:
        by_host.setdefault(p.host, []).append(p)
    for host, group in by_host.items():
        cpus = frozenset().union(*(p.cpus for p in group))
        total = sum(p.threads for p in group)
        if len(group) > 1 and total > len(cpus) and all(p.threads <= len(p.cpus) for p in group):
            warnings.append(
                f"{host}: {len(group)} ranks run {total} threads on {len(cpus)} CPU(s) "
                f"({cpu_list(cpus)}): give --threads {max(1, len(cpus) // len(group))} per rank"
            )
    return lines, warnings


def gather_placements(comm: Comm, threads: int) -> list[Placement]:
    """Every rank's placement on rank 0 (a collective); an empty list on the other ranks."""
    gathered = comm.gather(here(comm.rank, threads))
    return list(gathered) if gathered is not None else []
