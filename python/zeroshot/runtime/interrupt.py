"""Stopping training cleanly on Ctrl-C (SIGINT) or SIGTERM: the signal only sets a flag, training ends
after the current epoch with a checkpoint, and `TrainingInterrupted` says where it is."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Callable

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


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], bool]]:
    """While active, SIGINT and SIGTERM set a flag instead of ending the process; yields a function
    that tells whether one came. A second signal ends the process as usual (KeyboardInterrupt).
    Signal handlers belong to the main thread: elsewhere nothing is installed and the flag stays false."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    received: dict[str, int] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        if received:
            raise KeyboardInterrupt
        received["signal"] = signum

    previous: dict[int, Any] = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    try:
        yield lambda: bool(received)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
