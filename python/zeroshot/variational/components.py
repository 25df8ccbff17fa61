"""Truncated state sets of a mixture model: the S best components of each patch, as int32 indices."""

from __future__ import annotations

import numpy as np

from zeroshot.variational.states import dtype_problem


class ComponentStates:
    """K: (N, S) int32 component indices (best first after an E-step), lpj: (N, S) float64 log-joints,
    both updated in place by `zeroshot.variational.topk.TopKEStep`. ``first_index``: the global index of
    row 0 (the top-S E-step draws no random numbers, but chunks and ranks keep it as for every family's states)."""

    def __init__(self, K: np.ndarray, lpj: np.ndarray, C: int, first_index: int = 0) -> None:
        if K.dtype != np.int32 or K.ndim != 2:
            raise ValueError(f"K must be int32 of shape (N, S), got {K.dtype} {K.shape}")
        if lpj.shape != K.shape or lpj.dtype != np.float64:
            raise ValueError(f"lpj must be float64 of shape {K.shape}, got {lpj.dtype} {lpj.shape}")
        if not isinstance(C, (int, np.integer)) or not 1 <= K.shape[1] <= C:
            raise ValueError(f"S = {K.shape[1]} states per patch need 1 <= S <= C = {C}")
        if not isinstance(first_index, (int, np.integer)) or not 0 <= first_index < 2**64:
            raise ValueError(f"first_index must be an integer in [0, 2**64), got {first_index!r}")
        self.K = np.ascontiguousarray(K)
        self.lpj = np.ascontiguousarray(lpj)
        self.C = int(C)
        self.first_index = int(first_index)

    @classmethod
    def empty(cls, N: int, C: int, S: int, first_index: int = 0) -> ComponentStates:
        """No components yet (K = -1, lpj = -inf): the first E-step fills them."""
        return cls(np.full((N, S), -1, dtype=np.int32), np.full((N, S), -np.inf), C, first_index)

    @classmethod
    def fresh(cls, N: int, C: int, S: int, seed: int, first_index: int = 0) -> ComponentStates:
        """The states training and inference start from: none (`empty`; the seed is not needed)."""
        return cls.empty(N, C, S, first_index)

    @staticmethod
    def stored_problem(K: np.ndarray, lpj: np.ndarray, C: int, S: int) -> str | None:
        """What is wrong with states read from a file (K (N, S) int32 of distinct components in [0, C) per patch,
        lpj (N, S)); None if nothing."""
        problem = dtype_problem(K, lpj, "i")
        if problem is not None:
            return problem
        if K.dtype != np.int32 or K.ndim != 2 or K.shape[1] != S or lpj.shape != K.shape:
            return f"states {K.dtype} {K.shape} and lpj {lpj.shape}, expected int32 (N, {S}) and (N, {S})"
        if K.size and (K.min() < 0 or K.max() >= C):
            return f"states with components outside [0, {C})"
        if S > 1 and K.size:
            rows = np.sort(K, axis=1)
            twice = np.flatnonzero(np.any(rows[:, 1:] == rows[:, :-1], axis=1))
            if twice.size:
                return f"patch {int(twice[0])} holds the same component twice"
        return None

    @property
    def N(self) -> int:
        return int(self.K.shape[0])

    @property
    def S(self) -> int:
        return int(self.K.shape[1])

    def subset(self, rows: np.ndarray | slice, first_index: int | None = None) -> ComponentStates:
        """The rows' states (a view for a slice, a copy for an index array)."""
        return ComponentStates(
            self.K[rows], self.lpj[rows], self.C, self.first_index if first_index is None else first_index
        )
