"""The Poisson mixture model (Salwig, Drefs & Lücke, PLOS Comput. Biol. 2024): each patch y (D,) of counts from one of
C components, p(c) = pi_c, p(y | c) = prod_d Poisson(y_d; Lambda_cd).

Truncated EM over the S best components per patch (`zeroshot.variational.topk.TopKEStep`; states
`ComponentStates`). The kernels (top-S selection, statistics, moments) are in the compiled core
(cpp/include/zeroshot/model/pmm.hpp); the closed-form M-step is C x D work and lives here:
pi_c = sum_n q_n(c) / N and Lambda_c = sum_n q_n(c) y_n / sum_n q_n(c), with
- a floor on the rates, RATE_FLOOR times the mean count (at least MIN_RATE), so that log Lambda stays finite;
- a floor MIN_PI on pi (then renormalised), so that log pi stays finite;
- a component that received no mass keeps its old rates (and the floored pi); it is not re-seeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from zeroshot._core import pmm_accumulate, pmm_posterior_moments, pmm_select
from zeroshot.models.base import PosteriorMoments
from zeroshot.models.products import rows_times
from zeroshot.runtime.comm import Comm, SerialComm
from zeroshot.variational.components import ComponentStates

RATE_FLOOR = 1e-6  # times the mean count
MIN_RATE = 1e-12
MIN_PI = 1e-12
KMEANS_MAX_PATCHES = 65536  # k-means++ seeds from at most this many patches (a seeded random subset)
SEED_MIX = 0.9  # initial rates: SEED_MIX * the k-means++ patch + (1 - SEED_MIX) * the mean patch


@dataclass(frozen=True)
class PMMParams:
    """Lambda (C, D) positive finite rates, pi (C,) positive, summing to 1."""

    Lambda: np.ndarray
    pi: np.ndarray

    def __post_init__(self) -> None:
        Lambda = np.ascontiguousarray(self.Lambda, dtype=np.float64)
        pi = np.ascontiguousarray(self.pi, dtype=np.float64)
        if Lambda.ndim != 2 or Lambda.size == 0:
            raise ValueError(f"Lambda must be a non-empty (C, D) array, got shape {Lambda.shape}")
        if pi.shape != (Lambda.shape[0],):
            raise ValueError(f"pi must have shape ({Lambda.shape[0]},), got {pi.shape}")
        if not np.all(np.isfinite(Lambda) & (Lambda > 0)):
            raise ValueError("Lambda must be positive and finite")
        if not np.all(np.isfinite(pi) & (pi > 0)) or abs(float(pi.sum()) - 1.0) > 1e-9:
            raise ValueError("pi must be positive and sum to 1")
        object.__setattr__(self, "Lambda", Lambda)
        object.__setattr__(self, "pi", pi)


class PMM:
    """The PMM with parameters Lambda (C, D) and pi (C,). As the dictionary models it offers log-joints,
    statistics (one flat vector, summable over ranks: sum q (C,), sum q y (C, D), then F), F, the M-step and
    posterior moments; its states are `ComponentStates`."""

    name = "pmm"
    moments_need_products = False
    shared_pi = False  # pi are the mixture's weights, one per component

    def __init__(self, params: PMMParams) -> None:
        self.params = params
        self.C, self.D = params.Lambda.shape
        self.log_Lambda = np.log(params.Lambda)
        self.offset = np.log(params.pi) - params.Lambda.sum(axis=1)  # (C,): log pi_c - sum_d Lambda_cd

    @property
    def Lambda(self) -> np.ndarray:
        return self.params.Lambda

    @property
    def pi(self) -> np.ndarray:
        return self.params.pi

    @staticmethod
    def parameter_names() -> tuple[str, ...]:
        return ("Lambda", "pi")

    def arrays(self) -> dict[str, np.ndarray]:
        return {"Lambda": self.Lambda, "pi": self.pi}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], shared_pi: bool = False) -> PMM:
        """The model of the named arrays (shared_pi has no meaning for it); PMMParams checks the values."""
        return cls(PMMParams(arrays["Lambda"], arrays["pi"]))

    @property
    def W(self) -> np.ndarray:
        """The rates as a (D, C) "dictionary" (for reports that show a model's elements)."""
        return self.params.Lambda.T

    @property
    def sigma2(self) -> float:
        """The mean Poisson noise variance per pixel: the mean rate, sum_c pi_c mean_d Lambda_cd."""
        return float(self.pi @ self.Lambda.mean(axis=1))

    def log_joints(self, Y: np.ndarray) -> np.ndarray:
        """log p(y_n, c) (N, C) of every component, the sum_d lgamma(y_d + 1) term included (the core's
        selection with S = C, scattered back into component order; for tests and small problems)."""
        N = Y.shape[0]
        K = np.empty((N, self.C), dtype=np.int32)
        lpj = np.empty((N, self.C))
        pmm_select(rows_times(Y, self.log_Lambda.T), self.offset, Y, K, lpj)
        out = np.empty_like(lpj)
        out[np.arange(N)[:, None], K] = lpj
        return out

    def log_pseudo_joint(self, Y: np.ndarray, states: ComponentStates, products: object = None) -> np.ndarray:
        """lpj (N, S) of the components in K (the full log-joints, as the E-step writes them)."""
        rows = np.arange(states.N)[:, None]
        return np.asarray(self.log_joints(Y)[rows, states.K])

    def accumulate(self, Y: np.ndarray, states: ComponentStates, products: object = None) -> np.ndarray:
        return pmm_accumulate(Y, states.K, states.lpj, self.C)

    def free_energy(self, stats: np.ndarray) -> float:
        return float(stats[-1])

    def m_step(self, stats: np.ndarray) -> PMM:
        C, D = self.C, self.D
        if stats.shape != (C + C * D + 1,):
            raise ValueError(f"statistics have shape {stats.shape}, expected ({C + C * D + 1},)")
        q_sum, qy = stats[:C], stats[C : C + C * D].reshape(C, D)
        n = float(q_sum.sum())
        if not n > 0:
            raise ValueError("the statistics hold no patches")
        floor = max(RATE_FLOOR * float(qy.sum()) / (n * D), MIN_RATE)
        has_mass = q_sum > 0
        Lambda = self.Lambda.copy()
        Lambda[has_mass] = qy[has_mass] / q_sum[has_mass, None]
        np.maximum(Lambda, floor, out=Lambda)
        pi = np.maximum(q_sum / n, MIN_PI)
        return PMM(PMMParams(Lambda, pi / pi.sum()))

    def posterior_moments(self, states: ComponentStates, order: int = 1, products: object = None) -> PosteriorMoments:
        """Posterior moments of the noise-free rates per pixel: mean sum_c q(c) Lambda_c, variance and third
        central moment of Lambda_c under q."""
        return PosteriorMoments(*pmm_posterior_moments(self.Lambda, states.K, states.lpj, order))

    @classmethod
    def from_data(cls, Y: np.ndarray, C: int, seed: int, comm: Comm | None = None) -> PMM:
        """k-means++ seeding on the patches Y (N, D) (on at most KMEANS_MAX_PATCHES of them, drawn with the
        seed): rates SEED_MIX * seed patch + (1 - SEED_MIX) * mean patch, floored; pi uniform. With a comm of
        several ranks, Y is this rank's block: rank 0 gathers the blocks in rank order, seeds from them all
        (the start of one process with all the patches) and broadcasts the rates."""
        comm = comm if comm is not None else SerialComm()
        if comm.rank != 0:
            comm.send_arrays({"Y": Y}, 0)
            seeded = None
        else:
            blocks = [Y] + [comm.recv_arrays(source)["Y"] for source in range(1, comm.size)]
            seeded = {"Lambda": kmeans_pp_rates(np.concatenate(blocks) if comm.size > 1 else Y, C, seed)}
        return cls(PMMParams(comm.bcast_arrays(seeded)["Lambda"], np.full(C, 1.0 / C)))


def kmeans_pp_rates(Y: np.ndarray, C: int, seed: int) -> np.ndarray:
    """Initial rates (C, D) by k-means++ (squared Euclidean distance) on the patches, deterministic from seed."""
    if Y.ndim != 2 or Y.shape[0] == 0:
        raise ValueError(f"k-means++ needs patches (N, D) with N >= 1, got shape {Y.shape}")
    rng = np.random.default_rng(seed)
    X = Y
    if X.shape[0] > KMEANS_MAX_PATCHES:
        X = Y[np.sort(rng.choice(Y.shape[0], KMEANS_MAX_PATCHES, replace=False))]
    N = X.shape[0]
    chosen = np.empty(C, dtype=np.int64)
    chosen[0] = rng.integers(N)
    d2 = np.sum((X - X[chosen[0]]) ** 2, axis=1)
    for c in range(1, C):
        total = float(d2.sum())
        if total > 0:
            chosen[c] = min(int(np.searchsorted(np.cumsum(d2), rng.random() * total, side="right")), N - 1)
        else:  # fewer distinct patches than components: repeat uniformly
            chosen[c] = rng.integers(N)
        np.minimum(d2, np.sum((X - X[chosen[c]]) ** 2, axis=1), out=d2)
    mean = X.mean(axis=0)
    Lambda = SEED_MIX * X[chosen] + (1.0 - SEED_MIX) * mean
    floor = max(RATE_FLOOR * float(mean.mean()), MIN_RATE)
    rates: np.ndarray = np.maximum(Lambda, floor)
    return rates
