"""Matrix products of patches whose rows do not depend on how many patches come at once.

OpenBLAS computes the rows of an odd remainder of a product's rows by another kernel, which rounds otherwise (seen
with the AVX2 kernels numpy picks on Haswell and Zen CPUs): a patch's log-joints would then depend on the chunk it
was in, and a result on chunk_patches and on the number of MPI ranks. So the rows beyond a multiple of
ROW_MULTIPLE are taken from a zero-padded block of ROW_MULTIPLE rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ROW_MULTIPLE", "rows_times"]

ROW_MULTIPLE = 8


def rows_times(Y: np.ndarray, W: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Y @ W (N, K) for Y (N, D) and W (D, K), into `out` when given, each row bitwise the same for any N."""
    n = Y.shape[0]
    if out is None:
        out = np.empty((n, W.shape[1]), dtype=np.result_type(Y, W))
    bulk = n - n % ROW_MULTIPLE
    if bulk:
        np.matmul(Y[:bulk], W, out=out[:bulk])
    if bulk < n:
        padded = np.zeros((ROW_MULTIPLE, Y.shape[1]), dtype=Y.dtype)
        padded[: n - bulk] = Y[bulk:]
        out[bulk:] = (padded @ W)[: n - bulk]
    return out
