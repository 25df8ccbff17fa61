"""The E-step of a mixture model (the PMM): every component's log-joint (one GEMM per block of patches),
and the best S of them per patch kept in the states (the compiled core's `pmm_select`). It is exact for the
truncation: no search, no random numbers, so one E-step at fixed parameters is all inference needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zeroshot._core import pmm_select
from zeroshot.models.products import rows_times
from zeroshot.variational.components import ComponentStates

if TYPE_CHECKING:
    from zeroshot.models.pmm import PMM

# Patches per GEMM block: the log-joints of a block (rows x C float64) stay within tens of MB.
BLOCK_ROWS = 4096


class NoProducts:
    """The workspace of an E-step whose model reads no dense products: nothing to hold."""

    def products(self, model: Any, Y: np.ndarray) -> None:
        return None

    def clear(self) -> None:
        return None


class TopKEStep:
    """Keeps, per patch, the S components of the highest log-joint (ties to the lower index)."""

    def __init__(self, block_rows: int = BLOCK_ROWS) -> None:
        if not isinstance(block_rows, int) or block_rows < 1:
            raise ValueError(f"block_rows must be a positive integer, got {block_rows!r}")
        self.block_rows = block_rows
        self.workspace = NoProducts()

    def update(self, model: PMM, Y: np.ndarray, states: ComponentStates, epoch: int) -> int:
        """Updates states.K and states.lpj in place for the patches Y (N, D); returns how many components
        entered the sets. `epoch` is unused (the selection is deterministic)."""
        if Y.shape[0] != states.N:
            raise ValueError(f"the states cover {states.N} patches, Y has {Y.shape[0]}")
        log_rates_t = np.ascontiguousarray(model.log_Lambda.T)  # (D, C)
        offset = model.offset
        replaced = 0
        for start in range(0, Y.shape[0], self.block_rows):
            stop = min(start + self.block_rows, Y.shape[0])
            block = Y[start:stop]
            replaced += pmm_select(
                rows_times(block, log_rates_t), offset, block, states.K[start:stop], states.lpj[start:stop]
            )
        return replaced
