"""Communication of the M-step sufficient statistics (serial by default; MPI comes as an extra)."""
from __future__ import annotations

from typing import Protocol

import numpy as np


class Comm(Protocol):
    rank: int
    size: int

    def allreduce(self, buffer: np.ndarray) -> np.ndarray:
        """Element-wise sum of a float64 buffer over all processes."""
        ...


class SerialComm:
    """One process: the sum over processes is the buffer itself."""

    rank = 0
    size = 1

    def allreduce(self, buffer: np.ndarray) -> np.ndarray:
        return buffer
