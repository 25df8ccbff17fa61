"""How the MPI ranks of `zeroshot denoise` and `zeroshot enhance` share the inputs (--parallel).

patches: every rank takes part in every image, each learning and inferring its block of the image's patches
(data-parallel; one image after the other; for a few huge images). files: rank r denoises the inputs r,
r + ranks, r + 2 ranks, ... each on its own, as one process would (`SerialComm`: every output is bitwise
that of a one-process run of its file), and writes their outputs; a file that fails is reported and the
others are still written; rank 0 shows one line per finished file for the whole set and a summary, and
the exit code is 1 when any file failed. auto (the default): files when there are at least as many inputs
as ranks (and more than one rank), else patches. In one process without mpiexec auto means patches (the run
stops at the first problem, before any work); --parallel files there denoises the files one after the other,
a failing one reported and the others written.

Files mode checks before any work only what needs no input read (the outputs' names and folders); each
input is read, checked and denoised by its rank, which frees it before the next. The memory each rank may
use is its share of its host's (`memory_share`): the inputs and each run are checked against it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from zeroshot.cli.budget import InputBudget
from zeroshot.cli.errors import AgreedError
from zeroshot.cli.files import check_distinct
from zeroshot.cli.jobs import announce_model_file, min_side, plan_job, plan_paths, read_files, run_job
from zeroshot.cli.options import RunOptions
from zeroshot.cli.progress import FileProgress, FileStatus
from zeroshot.denoise import check_threads
from zeroshot.errors import error_message
from zeroshot.runtime.comm import Comm, SerialComm
from zeroshot.runtime.memory_check import memory_share

PARALLEL_MODES = ("auto", "files", "patches")


def choose_parallel(asked: str, inputs: int, ranks: int) -> str:
    """ "files" or "patches": as asked, or for "auto" files when inputs >= ranks > 1."""
    if asked not in PARALLEL_MODES:
        raise ValueError(f"--parallel must be one of {', '.join(PARALLEL_MODES)}, got {asked!r}")
    if asked != "auto":
        return asked
    return "files" if ranks > 1 and inputs >= ranks else "patches"


def describe_choice(mode: str, asked: str, inputs: int, ranks: int) -> str:
    """One line saying how the ranks share the inputs, and why."""
    processes = f"{ranks} MPI ranks" if ranks > 1 else "1 process"
    if mode == "files":
        why = ", auto: at least as many inputs as ranks" if asked == "auto" else ""
        return f"{inputs} input(s) on {processes}: each denoises whole files (--parallel files{why})"
    why = ", auto: fewer inputs than ranks" if asked == "auto" else ""
    return f"{inputs} input(s) on {processes}: the ranks share each image's patches (--parallel patches{why})"


def run_files(options: RunOptions, comm: Comm) -> int:
    """Files mode (see the module's docstring); returns the exit code, the same on every rank: 0 when every
    file was written, 1 when any failed. A problem with the outputs' names or folders stops the run before any
    work (an AgreedError on every rank)."""
    problem, pairs = None, []
    if comm.rank == 0:  # one rank checks the paths and makes the output folder
        try:
            pairs = plan_paths(options)
        except ValueError as error:
            problem = str(error)
    problem, pairs = comm.bcast((problem, pairs))
    if problem is not None:
        raise AgreedError(problem)
    share = memory_share(comm, options.max_memory)
    announce_model_file(options, comm)
    # Each file alone, quietly (rank 0 shows the files as they finish), within this rank's share of the memory.
    limit = options.max_memory if options.max_memory is not None or share is None else share.bytes
    per_file = replace(options, quiet=True, max_memory=limit)
    threads = check_threads(options.threads)
    progress = FileProgress(len(pairs), comm)
    for index in range(comm.rank, len(pairs), comm.size):
        source, target = pairs[index]
        started = time.perf_counter()
        try:
            checkpoint = options.checkpoint is not None
            budget = InputBudget(share, options.config, moments=options.moments, threads=threads, checkpoint=checkpoint)
            job = plan_job(source, target, per_file, budget, min_side(options))
            check_distinct(read_files(options), job.outputs.written(source))  # a stack's checkpoints
            line = run_job(job, per_file, SerialComm(), callback=progress.poll if comm.rank == 0 else None)
            status = FileStatus(str(source), comm.rank, time.perf_counter() - started, line=line)
            del job
        except Exception as error:  # reported, and the other files still denoised
            why = error_message(error) or f"{type(error).__name__}: {error}"
            status = FileStatus(str(source), comm.rank, time.perf_counter() - started, error=why)
        progress.finished(status)
        progress.poll()
    progress.wait_for_all()
    failed = comm.bcast([status.source for status in progress.failed])
    if comm.rank == 0:
        _summary(options.command, len(pairs), failed, comm.size, options.quiet)
    return 1 if failed else 0


def _summary(command: str, total: int, failed: list[str], ranks: int, quiet: bool) -> None:
    processes = f"{ranks} MPI ranks" if ranks > 1 else "1 process"
    if failed:
        names = ", ".join(failed[:10]) + (f" and {len(failed) - 10} more" if len(failed) > 10 else "")
        print(
            f"zeroshot {command}: {total - len(failed)} of {total} file(s) written on {processes}; "
            f"{len(failed)} failed: {names}",
            file=sys.stderr,
        )
    elif not quiet:
        print(f"zeroshot {command}: all {total} file(s) written on {processes}", file=sys.stderr)
