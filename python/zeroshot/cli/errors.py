"""How the command line reports errors: which ones get a message instead of a traceback, and which ones every
rank of an MPI run raised together (those need no abort of the job)."""

from __future__ import annotations

from typing import Callable, TypeVar

from zeroshot.errors import error_message
from zeroshot.runtime.comm import Comm

T = TypeVar("T")


class AgreedError(ValueError):
    """A problem every rank raises at the same point, from the same decision (made on rank 0 and broadcast):
    no rank is left waiting for another, so the job ends normally, rank 0 alone reporting it."""


def agreed(comm: Comm, step: Callable[[], T]) -> T:
    """`step()` on every rank, its failure agreed on (a collective): a problem the command line reports
    (`error_message`) on any rank becomes an AgreedError on every rank, with the message of the first rank
    that had one, so that it is reported once and no rank waits for another. `step` takes part in no
    collective (a rank that fails in it would leave the others waiting there)."""
    problem = None
    try:
        result = step()
    except Exception as error:
        problem = error_message(error)
        if problem is None:  # no input problem but a bug: its traceback, and the job is aborted
            raise
    problems = comm.gather(problem)
    first = comm.bcast(next((p for p in problems or [] if p is not None), None))
    if first is not None:
        raise AgreedError(first)
    return result
