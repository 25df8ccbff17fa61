"""Progress displays: a one-line display of the EM epochs on stderr, and one line per finished file of a run
whose MPI ranks denoise whole files."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from zeroshot.runtime.comm import Comm
from zeroshot.variational.em import EpochLog


class EpochProgress:
    """Callback printing epoch, F per patch, sigma and replaced states; redraws one line on a terminal."""

    def __init__(self, total_epochs: int, sigma_scale: float = 1.0, stream: TextIO | None = None) -> None:
        self.total = total_epochs
        self.sigma_scale = sigma_scale
        self.stream = stream if stream is not None else sys.stderr  # looked up now, not at import
        self.interactive = self.stream.isatty()

    def __call__(self, log: EpochLog) -> None:
        done = log.epoch + 1
        width = 24
        filled = width * done // max(self.total, 1)
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] epoch {done}/{self.total}  "
            f"F/N {log.free_energy_per_patch:.4f}  sigma {log.sigma * self.sigma_scale:.4g}  "
            f"replaced {log.n_replaced}  {log.seconds:.2f}s"
        )
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if done >= self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


@dataclass(frozen=True)
class FileStatus:
    """How one input of a files-mode run ended: `line` (the summary of its outputs) when written, else `error`
    (why it failed); rank: who denoised it; seconds: how long it took."""

    source: str
    rank: int
    seconds: float
    line: str | None = None
    error: str | None = None


class FileProgress:
    """One display for the files of a run whose ranks denoise whole files: rank 0 prints one line per finished
    file, its own and those the other ranks send it (`send_object`), numbered by how many are done ("[3/10]");
    written ones on stdout, failures on stderr. Rank 0 calls `poll` now and then (between epochs) to show the
    others' as they come, and `wait_for_all` at the end; `failed` then lists the failures."""

    def __init__(self, total: int, comm: Comm, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.total = total
        self.comm = comm
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.done: list[FileStatus] = []

    def finished(self, status: FileStatus) -> None:
        if self.comm.rank == 0:
            self._show(status)
        else:
            self.comm.send_object(status, 0)

    def poll(self, _log: object = None) -> None:
        """Shows the statuses other ranks have sent (rank 0; an epoch callback too)."""
        while self.comm.rank == 0 and len(self.done) < self.total:
            status = self.comm.recv_object(wait=False)
            if status is None:
                return
            self._show(status)

    def wait_for_all(self) -> None:
        """Rank 0 waits for the status of every file (the others return at once)."""
        while self.comm.rank == 0 and len(self.done) < self.total:
            status = self.comm.recv_object(wait=True)
            if not isinstance(status, FileStatus):
                raise RuntimeError(f"rank 0 expected the status of a file, got {status!r}")
            self._show(status)

    @property
    def failed(self) -> list[FileStatus]:
        return [status for status in self.done if status.error is not None]

    def _show(self, status: FileStatus) -> None:
        self.done.append(status)
        count = f"[{len(self.done)}/{self.total}]"
        if status.error is None:
            print(f"{count} {status.line} [rank {status.rank}, {status.seconds:.1f} s]", file=self.out, flush=True)
        else:
            named = status.error if status.source in status.error else f"{status.source}: {status.error}"
            print(f"{count} failed: {named}", file=self.err, flush=True)
