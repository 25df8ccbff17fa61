"""Truncated variational state sets K_n (bit-packed) with their log-joints, and how they start; what every model
family's states offer (`States`, `StatesType`)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from zeroshot._core import init_states, pack_states, unpack_states, words_for


def initial_activation(H: int) -> float:
    """Prior activation of each latent at the start of training (and of the initial states, in training and
    inference): one latent per patch on average, at most 1/2 (H = 1)."""
    return min(1.0 / H, 0.5)


class States(Protocol):
    """The truncated state sets of N patches of a model family (`TruncatedStates`, `ComponentStates`): K and the
    log-joints lpj (N, S), both updated in place by the family's E-step; first_index, the global index of row 0."""

    K: np.ndarray
    lpj: np.ndarray
    first_index: int

    @property
    def N(self) -> int: ...

    @property
    def S(self) -> int: ...

    def subset(self, rows: np.ndarray | slice, first_index: int | None = None) -> States: ...


class StatesType(Protocol):
    """A states class: states from K and lpj (as a checkpoint holds them), the states training and inference start
    from, and what is wrong with stored ones (None: nothing), for n_latents (H, or C components) and S per patch."""

    def __call__(self, K: np.ndarray, lpj: np.ndarray, n_latents: int, first_index: int = 0, /) -> States: ...

    def fresh(self, N: int, n_latents: int, S: int, seed: int, first_index: int = 0, /) -> States: ...

    def stored_problem(self, K: np.ndarray, lpj: np.ndarray, n_latents: int, S: int, /) -> str | None: ...


def dtype_problem(K: np.ndarray, lpj: np.ndarray, K_kinds: str) -> str | None:
    """K of a dtype kind not in K_kinds, or lpj of no real numbers: the problem in words; else None."""
    for name, array, kinds in (("K", K, K_kinds), ("lpj", lpj, "uif")):
        if array.dtype.kind not in kinds:
            return f"{name} has dtype {array.dtype}, not real numbers"
    return None


class TruncatedStates:
    """S distinct binary states per data point, packed into 64-bit words.

    K: (N, S, n_words) uint64, lpj: (N, S) float64, both updated in place by E-steps.
    ``first_index`` is the global index of row 0 (random streams are keyed by global index).
    """

    def __init__(self, K: np.ndarray, lpj: np.ndarray, H: int, first_index: int = 0) -> None:
        n_words = words_for(H)
        if K.dtype != np.uint64 or K.ndim != 3 or K.shape[2] != n_words:
            raise ValueError(f"K must be uint64 of shape (N, S, {n_words}), got {K.dtype} {K.shape}")
        if lpj.shape != K.shape[:2] or lpj.dtype != np.float64:
            raise ValueError(f"lpj must be float64 of shape {K.shape[:2]}, got {lpj.dtype} {lpj.shape}")
        if not isinstance(first_index, (int, np.integer)) or not 0 <= first_index < 2**64:
            raise ValueError(f"first_index must be an integer in [0, 2**64), got {first_index!r}")
        self.K = np.ascontiguousarray(K)
        self.lpj = np.ascontiguousarray(lpj)
        self.H = H
        self.first_index = int(first_index)

    @classmethod
    def random(cls, N: int, H: int, S: int, p_on: float, seed: int, first_index: int = 0) -> TruncatedStates:
        """The all-zero state plus S-1 distinct Bernoulli(p_on) states per data point (S = 2^H: all states)."""
        K = init_states(N, H, S, p_on, seed, first_index)
        return cls(K, np.full((N, S), -np.inf), H, first_index)

    @classmethod
    def fresh(cls, N: int, H: int, S: int, seed: int, first_index: int = 0) -> TruncatedStates:
        """The states training and inference start from: random, with the initial activation of H latents."""
        return cls.random(N, H, S, initial_activation(H), seed, first_index)

    @staticmethod
    def stored_problem(K: np.ndarray, lpj: np.ndarray, H: int, S: int) -> str | None:
        """What is wrong with states read from a file (K (N, S, words) uint64 of H latents, lpj (N, S)): a dtype
        or shape, bits set beyond H, a state held twice by a patch; None if nothing."""
        problem = dtype_problem(K, lpj, "u")
        if problem is not None:
            return problem
        words = (H + 63) // 64
        if K.dtype != np.uint64 or K.ndim != 3 or K.shape[1:] != (S, words) or lpj.shape != K.shape[:2]:
            return f"states {K.dtype} {K.shape} and lpj {lpj.shape}, expected uint64 (N, {S}, {words}) and (N, {S})"
        if H % 64 and np.any(K[..., -1] >> np.uint64(H % 64)):
            return f"states with bits set beyond H = {H}"
        if S > 1 and K.size:
            rows = np.sort(K.view(np.dtype((np.void, 8 * words))).reshape(K.shape[:2]), axis=1)
            twice = np.flatnonzero(np.any(rows[:, 1:] == rows[:, :-1], axis=1))
            if twice.size:
                return f"patch {int(twice[0])} holds the same state twice"
        return None

    @classmethod
    def from_bits(cls, bits: np.ndarray, first_index: int = 0) -> TruncatedStates:
        """From an (N, S, H) array of 0/1."""
        bits = np.asarray(bits)
        if bits.ndim != 3:
            raise ValueError(f"bits must have shape (N, S, H), got {bits.shape}")
        K = pack_states(bits.astype(np.uint8))
        return cls(K, np.full(bits.shape[:2], -np.inf), bits.shape[2], first_index)

    @property
    def N(self) -> int:
        return int(self.K.shape[0])

    @property
    def S(self) -> int:
        return int(self.K.shape[1])

    def bits(self) -> np.ndarray:
        """(N, S, H) uint8 view of the states (a copy; for tests and inspection)."""
        return unpack_states(self.K, self.H)

    def subset(self, rows: np.ndarray | slice, first_index: int | None = None) -> TruncatedStates:
        """The rows' states (a view for a slice, a copy for an index array). first_index: the global
        index of the subset's row 0 (default: this set's)."""
        return TruncatedStates(
            self.K[rows], self.lpj[rows], self.H, self.first_index if first_index is None else first_index
        )
