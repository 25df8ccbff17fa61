"""Progress displays: the run's display on stderr (the noise model decided, then one line for the training epochs
and one for the inference, each with the time elapsed and an estimate of the time left), and one line per
finished file of a run whose MPI ranks denoise whole files."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, TextIO

from zeroshot.noise.model import NoiseModel
from zeroshot.pipeline.progress import RunProgress, Step
from zeroshot.runtime.comm import Comm

BAR_WIDTH = 24
# Without a terminal (a log file), the inference line is printed at every tenth of its chunks, not at each.
LOG_STEPS = 10


def sigma_text(sigmas: float | Sequence[float | None], transformed: bool = False) -> str:
    """Noise sigmas as every display of the command line prints them: 4 significant digits (None: "not
    estimated"), then their unit."""
    values = [sigmas] if isinstance(sigmas, (int, float)) else list(sigmas)
    numbers = ", ".join("not estimated" if s is None else f"{s:.4g}" for s in values)
    if all(s is None for s in values):
        return numbers
    return f"{numbers} " + ("in the Anscombe-transformed domain" if transformed else "grey levels")


def duration_text(seconds: float) -> str:
    """'7 s', '2 min 05 s', '1 h 02 min'."""
    whole = round(max(seconds, 0.0))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def step_text(step: Step, elapsed: float, left: float | None, transformed: bool, verbose: bool) -> str:
    """One progress line: bar, stage, step, the sigma learned so far (training), time elapsed and left."""
    filled = BAR_WIDTH * step.done // max(step.total, 1)
    parts = [f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {step.stage}: {step.unit} {step.done}/{step.total}"]
    if step.sigma is not None:
        parts.append(f"noise sigma {sigma_text(step.sigma, transformed)}")
    if verbose and step.epoch is not None:
        parts.append(f"F/N {step.epoch.free_energy_per_patch:.4f}, replaced {step.epoch.n_replaced}")
    parts.append(f"{duration_text(elapsed)} elapsed")
    if left is not None and step.done < step.total:
        parts.append(f"about {duration_text(left)} left")
    return ", ".join(parts)


class RunDisplay(RunProgress):
    """The run's display on `stream` (stderr): the noise model in plain words when decided (its technical
    description too with `verbose`; only when `announce`), then one line per stage, redrawn in place on a
    terminal; `verbose` adds the training's internal figures. `note` follows the noise line (a stack's scope)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        verbose: bool = False,
        announce: bool = True,
        note: str = "",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr  # looked up now, not at import
        self.interactive = self.stream.isatty()
        self.verbose, self.announce, self.note, self.clock = verbose, announce, note, clock
        self.transformed = False
        self._last = clock()  # the time of the last report: where the next stage starts
        self._stage: str | None = None
        self._start, self._first = self._last, 0
        self._open = False  # a redrawn line not yet ended

    def noise_decided(self, noise: NoiseModel, sigma: float | None) -> None:
        self.transformed = noise.transforms
        self._last = self.clock()
        if self.announce:
            self._write(noise.plain_words(sigma) + self.note)
            if self.verbose:
                self._write(f"noise model ({noise.asked}): {noise.description}")

    def step(self, step: Step) -> None:
        now = self.clock()
        if step.stage != self._stage:
            self._end_line()
            self._stage, self._start, self._first = step.stage, self._last, step.done - 1
        self._last = now
        elapsed = now - self._start
        counted = step.done - self._first
        left = elapsed / counted * (step.total - step.done) if counted > 0 else None
        line = step_text(step, elapsed, left, self.transformed, self.verbose)
        if self.interactive:
            self.stream.write("\r" + line)
            self._open = True
            if step.done >= step.total:
                self._end_line()
        elif self._logged(step):
            self._write(line)
        self.stream.flush()

    def _logged(self, step: Step) -> bool:
        """Whether a line goes to a log (not a terminal): every epoch and slice; a tenth of the inference's steps."""
        if step.stage in ("training", "slices") or step.done >= step.total:
            return True
        return LOG_STEPS * step.done // step.total != LOG_STEPS * (step.done - 1) // step.total

    def _end_line(self) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False

    def _write(self, line: str) -> None:
        self._end_line()
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
