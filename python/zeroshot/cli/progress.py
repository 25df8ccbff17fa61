"""A one-line progress display of the EM epochs on stderr."""

from __future__ import annotations

import sys
from typing import TextIO

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
