"""Stopping training cleanly on Ctrl-C (SIGINT) or SIGTERM: the signal only sets a flag, training ends
after the current epoch with a checkpoint, and `TrainingInterrupted` says where it is."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on request after `epoch` of `total` epochs; the checkpoint holds that state."""

    def __init__(self, epoch: int, total: int, checkpoint: Path) -> None:
        super().__init__(epoch, total, checkpoint)
        self.epoch, self.total, self.checkpoint = epoch, total, checkpoint

    def __str__(self) -> str:
        return (
            f"training stopped after epoch {self.epoch} of {self.total}; checkpoint saved to "
            f"{self.checkpoint} (continue with --resume, or resume=True)"
        )


class SlicesInterrupted(KeyboardInterrupt):
    """A volume's slices stopped on request after `done` of `total`; `kept` says where the finished ones are
    kept for a run with --resume to continue (or that they were not kept)."""

    def __init__(self, done: int, total: int, kept: str) -> None:
        super().__init__(done, total, kept)
        self.done, self.total, self.kept = done, total, kept

    def __str__(self) -> str:
        return f"stopped after {self.done} of {self.total} slices; {self.kept}"


class StopRequest:
    """Whether SIGINT or SIGTERM came while `stop_on_signals` was active: call it to ask; `consume()`
    once the request was acted on (training stopped with a checkpoint)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.consumed = False

    def __call__(self) -> bool:
        return self.signum is not None

    def consume(self) -> None:
        self.consumed = True


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """While active, SIGINT and SIGTERM set a flag instead of ending the process; yields the
    `StopRequest` that tells whether one came. A second signal ends the process as usual
    (KeyboardInterrupt). A signal that was not acted on (it came after the last check) is delivered
    again to the previous handler on leaving, so that it is never lost. Signal handlers belong to the
    main thread: elsewhere nothing is installed and the flag stays false."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if request.signum is not None:
            raise KeyboardInterrupt
        request.signum = signum

    previous: dict[int, Any] = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if request.signum is not None and not request.consumed:
            signal.raise_signal(request.signum)
