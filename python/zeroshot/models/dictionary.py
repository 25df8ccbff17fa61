"""What the dictionary models (y = W x + eps; BSC, SSSC) share on the Python side: parameter checks, the
start from the data, the dense products, the named layout of the statistics, and every kernel call.
A model adds its parameter dataclass and a `CoreKernels` table of its compiled functions (CONTRIBUTING.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Callable, ClassVar, Generic, NamedTuple, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from zeroshot._core import DenseProducts
from zeroshot.models.base import CoreParams, PosteriorMoments
from zeroshot.models.products import rows_times
from zeroshot.runtime.comm import Comm, SerialComm
from zeroshot.variational.states import TruncatedStates, initial_activation

Moments = tuple[NDArray[np.float64], "NDArray[np.float64] | None", "NDArray[np.float64] | None"]


class CoreKernels(NamedTuple):
    """A model's compiled functions, as register_model<Model>(m, name, params_class) binds them."""

    params: Callable[..., Any]  # the parameter class, constructed from keyword arguments named as the fields
    log_pseudo_joint: Callable[[Any, DenseProducts, NDArray[np.uint64]], NDArray[np.float64]]
    accumulate: Callable[
        [Any, DenseProducts, NDArray[np.float64], NDArray[np.uint64], NDArray[np.float64]], NDArray[np.float64]
    ]
    posterior_moments: Callable[[Any, DenseProducts | None, NDArray[np.uint64], NDArray[np.float64], int], Moments]
    m_step: Callable[[Any, NDArray[np.float64], bool], Any]


def check_dictionary(W: Any, pi: Any, sigma2: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """W (D, H) finite and non-empty, pi (H,) in (0, 1), sigma2 positive and finite, as float64 arrays."""
    W = np.ascontiguousarray(W, dtype=np.float64)
    pi = np.ascontiguousarray(pi, dtype=np.float64)
    if W.ndim != 2 or W.size == 0:
        raise ValueError(f"W must be a non-empty (D, H) array, got shape {W.shape}")
    if pi.shape != (W.shape[1],):
        raise ValueError(f"pi must have shape ({W.shape[1]},), got {pi.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("W contains NaN or Inf")
    if not np.all((pi > 0) & (pi < 1)):
        raise ValueError(f"pi must lie in (0, 1), got values in [{pi.min()}, {pi.max()}]")
    if not (np.isfinite(sigma2) and sigma2 > 0):
        raise ValueError(f"sigma2 must be positive and finite, got {sigma2!r}")
    return W, pi, float(sigma2)


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


def initial_dictionary(Y: np.ndarray, H: int, seed: int, comm: Comm | None = None) -> tuple[np.ndarray, float]:
    """W (D, H) around the mean patch with data-scaled noise, and sigma2 the data variance (of all ranks'
    patches with a comm)."""
    rng = np.random.default_rng(seed)
    mean, std = data_moments(Y, comm if comm is not None else SerialComm())
    std = std or 1.0
    return mean[:, None] + 0.25 * std * rng.standard_normal((Y.shape[1], H)), std**2


@dataclass(frozen=True)
class StatsLayout:
    """The named fields (name, shape) of a model's statistics vector, in order (params.stats_layout())."""

    fields: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def size(self) -> int:
        return sum(int(np.prod(shape)) for _, shape in self.fields)

    def unpack(self, stats: np.ndarray) -> dict[str, np.ndarray]:
        """Views of the fields of a statistics vector (scalars as 0-d arrays)."""
        if stats.shape != (self.size,):
            raise ValueError(f"statistics have shape {stats.shape}, expected ({self.size},)")
        out, start = {}, 0
        for name, shape in self.fields:
            stop = start + int(np.prod(shape))
            out[name] = stats[start:stop].reshape(shape)
            start = stop
        return out


class DictionaryParams(Protocol):
    """What every dictionary model's parameter dataclass holds (besides its own fields)."""

    @property
    def W(self) -> np.ndarray: ...

    @property
    def pi(self) -> np.ndarray: ...

    @property
    def sigma2(self) -> float: ...


P = TypeVar("P", bound=DictionaryParams)
M = TypeVar("M", bound="DictionaryModel[Any]")


class DictionaryModel(Generic[P]):
    """A dictionary model with parameters P (a frozen dataclass whose fields are named as the compiled
    parameter class's). Subclasses set `name`, `kernels` and `params_type` and may add constructors."""

    name: ClassVar[str]
    kernels: ClassVar[CoreKernels]
    params_type: ClassVar[type[Any]]
    moments_need_products: ClassVar[bool]

    def __init__(self, params: P, shared_pi: bool = False, core: CoreParams | None = None) -> None:
        self.params = params
        self.shared_pi = shared_pi
        self.D, self.H = self.W.shape
        self._core = core

    @classmethod
    def from_core(cls: type[M], core: CoreParams, shared_pi: bool = False) -> M:
        values = {f.name: getattr(core, f.name) for f in fields(cls.params_type)}
        return cls(cls.params_type(**values), shared_pi, core)

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """The names of the parameter arrays: the parameter dataclass's fields."""
        return tuple(f.name for f in fields(cls.params_type))

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(self.params, name)) for name in self.parameter_names()}

    @classmethod
    def from_arrays(cls: type[M], arrays: Mapping[str, np.ndarray], shared_pi: bool = False) -> M:
        """The model of the named arrays (sigma2 a single value); the parameter class checks the values
        (ValueError; KeyError for a missing array)."""
        values: dict[str, Any] = {name: arrays[name] for name in cls.parameter_names()}
        values["sigma2"] = float(values["sigma2"])
        return cls(cls.params_type(**values), shared_pi)

    @property
    def core(self) -> CoreParams:
        if self._core is None:
            values = {f.name: getattr(self.params, f.name) for f in fields(self.params_type)}
            self._core = self.kernels.params(**values)
        return self._core

    @property
    def W(self) -> np.ndarray:
        return self.params.W

    @property
    def pi(self) -> np.ndarray:
        return self.params.pi

    @property
    def sigma2(self) -> float:
        return self.params.sigma2

    @property
    def stats_layout(self) -> StatsLayout:
        return StatsLayout(tuple(self.core.stats_layout()))

    def dense_products(self, Y: np.ndarray, WtY: np.ndarray | None = None) -> DenseProducts:
        """Y W (N, H) (into the buffer WtY when given), ||y_n||^2 (N,), W^T W (H, H)."""
        return DenseProducts(self._wty(Y, WtY), np.einsum("nd,nd->n", Y, Y), self.W.T @ self.W)

    def _wty(self, Y: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return rows_times(Y, self.W, out)

    def log_pseudo_joint(
        self, Y: np.ndarray, states: TruncatedStates, products: DenseProducts | None = None
    ) -> np.ndarray:
        products = products if products is not None else self.dense_products(Y)
        return self.kernels.log_pseudo_joint(self.core, products, states.K)

    def accumulate(self, Y: np.ndarray, states: TruncatedStates, products: DenseProducts | None = None) -> np.ndarray:
        products = products if products is not None else self.dense_products(Y)
        return self.kernels.accumulate(self.core, products, Y, states.K, states.lpj)

    def free_energy(self, stats: np.ndarray) -> float:
        return float(self.stats_layout.unpack(stats)["free_energy"])

    def m_step(self: M, stats: np.ndarray) -> M:
        return self.from_core(self.kernels.m_step(self.core, stats, self.shared_pi), self.shared_pi)

    def posterior_moments(
        self, states: TruncatedStates, order: int = 1, products: DenseProducts | None = None
    ) -> PosteriorMoments:
        if products is None and self.moments_need_products:
            raise ValueError(f"the posterior moments of {self.name} need the patches' dense products")
        return PosteriorMoments(*self.kernels.posterior_moments(self.core, products, states.K, states.lpj, order))

    @classmethod
    def start_pi(cls, H: int) -> np.ndarray:
        """pi at the start of training: initial_activation(H) for every latent."""
        return np.full(H, initial_activation(H))
