"""Binary sparse coding (SPEC "BSC"): y = W s + eps, s_h ~ Bernoulli(pi_h), eps ~ N(0, sigma2 I)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroshot import _core
from zeroshot.config import EvoConfig
from zeroshot.models.base import PosteriorMoments
from zeroshot.runtime.comm import Comm, SerialComm
from zeroshot.variational.states import TruncatedStates


@dataclass(frozen=True)
class BSCParams:
    """W (D, H), pi (H,), sigma2 > 0."""

    W: np.ndarray
    pi: np.ndarray
    sigma2: float

    def __post_init__(self) -> None:
        W = np.ascontiguousarray(self.W, dtype=np.float64)
        pi = np.ascontiguousarray(self.pi, dtype=np.float64)
        if W.ndim != 2 or W.size == 0:
            raise ValueError(f"W must be a non-empty (D, H) array, got shape {W.shape}")
        if pi.shape != (W.shape[1],):
            raise ValueError(f"pi must have shape ({W.shape[1]},), got {pi.shape}")
        if not np.all(np.isfinite(W)):
            raise ValueError("W contains NaN or Inf")
        if not np.all((pi > 0) & (pi < 1)):
            raise ValueError(f"pi must lie in (0, 1), got values in [{pi.min()}, {pi.max()}]")
        if not (np.isfinite(self.sigma2) and self.sigma2 > 0):
            raise ValueError(f"sigma2 must be positive and finite, got {self.sigma2!r}")
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "pi", pi)
        object.__setattr__(self, "sigma2", float(self.sigma2))


def dense_products(
    W: np.ndarray, Y: np.ndarray, workspace: dict | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y W (N, H), ||y_n||^2 (N,), W^T W (H, H): the dense work the models' kernels start from. A
    workspace dict keeps the (N, H) buffer between epochs: allocating it anew each time costs as much
    as the product (page faults)."""
    shape = (Y.shape[0], W.shape[1])
    if workspace is None:
        WtY = Y @ W
    else:
        WtY = workspace.get("WtY")
        if WtY is None or WtY.shape != shape:
            WtY = workspace["WtY"] = np.empty(shape)
        np.matmul(Y, W, out=WtY)
    return WtY, np.einsum("nd,nd->n", Y, Y), W.T @ W


def data_moments(Y: np.ndarray, comm: Comm) -> tuple[np.ndarray, float]:
    """The mean patch (D,) and the standard deviation of all values of the patches Y (N, D) of every
    rank (two passes, as numpy's mean and std; bitwise the same as Y.mean(axis=0), Y.std() for one rank)."""
    D = Y.shape[1]
    sums = comm.allreduce(np.concatenate([Y.sum(axis=0), [Y.sum(), float(Y.shape[0])]]))
    n = sums[-1]
    if n == 0:
        raise ValueError("no patches to learn from")
    grand_mean = sums[D] / (n * D)
    deviations = Y - grand_mean
    np.multiply(deviations, deviations, out=deviations)  # squared in place: one (N, D) temporary, not two
    squares = comm.allreduce(np.array([np.sum(deviations)]))[0]
    return sums[:D] / n, float(np.sqrt(squares / (n * D)))


def initial_activation(H: int) -> float:
    """Prior activation of each latent at the start (and of the initial states): one latent per patch
    on average, at most 1/2 (H = 1)."""
    return min(1.0 / H, 0.5)


class BSC:
    """The BSC model; kernels in the compiled core, dense products (Y W, W^T W) with numpy."""

    name = "bsc"

    def __init__(self, params: BSCParams, shared_pi: bool = False) -> None:
        self.params = params
        self.shared_pi = shared_pi
        self.D, self.H = params.W.shape

    @classmethod
    def from_data(cls, Y: np.ndarray, H: int, seed: int, shared_pi: bool = False, comm: Comm | None = None) -> BSC:
        """Initial parameters from the data: W around the mean patch with data-scaled noise, pi = 1/H,
        sigma2 the data variance. With a `comm`, Y is this rank's share of the data and the moments
        are those of all ranks' data (every rank gets the same model)."""
        rng = np.random.default_rng(seed)
        mean, std = data_moments(Y, comm if comm is not None else SerialComm())
        std = std or 1.0
        W = mean[:, None] + 0.25 * std * rng.standard_normal((Y.shape[1], H))
        return cls(BSCParams(W, np.full(H, initial_activation(H)), std**2), shared_pi)

    @property
    def W(self) -> np.ndarray:
        return self.params.W

    @property
    def pi(self) -> np.ndarray:
        return self.params.pi

    @property
    def sigma2(self) -> float:
        return self.params.sigma2

    def _products(self, Y: np.ndarray, workspace: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return dense_products(self.params.W, Y, workspace)

    def log_pseudo_joint(self, Y: np.ndarray, states: TruncatedStates) -> np.ndarray:
        WtY, y2, WtW = self._products(Y)
        return _core.bsc_log_pseudo_joint(WtY, y2, WtW, self.params.pi, self.sigma2, states.K)

    def e_step(
        self,
        Y: np.ndarray,
        states: TruncatedStates,
        evo: EvoConfig,
        seed: int,
        epoch: int,
        workspace: dict | None = None,
    ) -> int:
        WtY, y2, WtW = self._products(Y, workspace)
        return _core.evo_step_bsc(
            states.K,
            states.lpj,
            WtY,
            y2,
            WtW,
            self.params.pi,
            self.sigma2,
            seed=seed,
            epoch=epoch,
            first_index=states.first_index,
            **evo.core_kwargs(),
        )

    # Packed statistics: [A (D*H), B (H*H), sum log-normaliser, sum ||y||^2, N].
    def accumulate(self, Y: np.ndarray, states: TruncatedStates) -> np.ndarray:
        A, B, lse, y2 = _core.bsc_accumulate(Y, states.K, states.lpj, self.H)
        return np.concatenate([A.ravel(), B.ravel(), [lse, y2, float(Y.shape[0])]])

    def _unpack(self, stats: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float, float]:
        D, H = self.D, self.H
        A = stats[: D * H].reshape(D, H)
        B = stats[D * H : D * H + H * H].reshape(H, H)
        lse, y2, n = stats[D * H + H * H :]
        return A, B, float(lse), float(y2), float(n)

    def free_energy(self, stats: np.ndarray) -> float:
        _, _, lse, _, n = self._unpack(stats)
        pi, sigma2 = self.params.pi, self.sigma2
        return lse + n * (-0.5 * self.D * np.log(2 * np.pi * sigma2) + np.sum(np.log1p(-pi)))

    def m_step(self, stats: np.ndarray) -> BSC:
        A, B, _, y2, n = self._unpack(stats)
        W, pi, sigma2 = _core.bsc_m_step(A, B, y2, n, self.params.W, self.shared_pi)
        return BSC(BSCParams(W, pi, sigma2), self.shared_pi)

    def posterior_moments(self, Y: np.ndarray, states: TruncatedStates, order: int = 1) -> PosteriorMoments:
        """Moments of W s under the truncated posterior (Y is not needed: lpj carries it)."""
        return PosteriorMoments(*_core.bsc_posterior_moments(self.params.W, states.K, states.lpj, order))
