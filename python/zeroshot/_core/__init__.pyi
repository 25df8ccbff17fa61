# Type stubs of the compiled module zeroshot._core (cpp/bindings). Shapes in paper notation:
# N patches, D pixels per patch, H latents, S states per patch, n_words = ceil(H / 64).
# Every function raises ValueError naming the argument for bad shapes, dtypes, sizes or values.
from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import testing as testing

PI_MIN: float
SIGMA2_MIN: float
PSI_MIN: float
MAX_THREADS: int  # set_num_threads accepts 1..MAX_THREADS
MAX_LATENTS: int  # H
MAX_STATES: int  # S
MAX_EVO_CHILDREN: int  # children of one patch in one E-step (children per generation x generations)

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def has_openmp() -> bool: ...
def words_for(H: int) -> int: ...
def init_states(
    N: int, H: int, S: int, p_on: float, seed: int, first_index: int = 0
) -> NDArray[np.uint64]: ...  # (N, S, n_words); seed, first_index in [0, 2**64)
def pack_states(bits: ArrayLike) -> NDArray[np.uint64]: ...  # (..., H) 0/1 -> (..., n_words)
def unpack_states(K: ArrayLike, H: int) -> NDArray[np.uint8]: ...  # (..., n_words) -> (..., H)

class EvoConfig:
    """The E-step's settings, validated at construction (EvoConfig::validate)."""

    def __init__(
        self,
        *,
        n_parents: int = 5,
        n_children: int = 4,
        n_generations: int = 3,
        selection: str = "fitness",
        mutation: str = "sparseflip",
        crossover: bool = False,
        bitflip_prob: float | None = None,
        single_latents_from: int | None = None,
    ) -> None: ...
    @property
    def n_parents(self) -> int: ...
    @property
    def n_children(self) -> int: ...
    @property
    def n_generations(self) -> int: ...
    @property
    def selection(self) -> str: ...
    @property
    def mutation(self) -> str: ...
    @property
    def crossover(self) -> bool: ...
    @property
    def bitflip_prob(self) -> float | None: ...
    @property
    def single_latents_from(self) -> int | None: ...
    @property
    def children_per_generation(self) -> int: ...

class DenseProducts:
    """WtY = Y W (N, H), y2 = ||y_n||^2 (N,), WtW = W^T W (H, H), checked (shapes, finite) once."""

    def __init__(self, WtY: ArrayLike, y2: ArrayLike, WtW: ArrayLike) -> None: ...
    @property
    def N(self) -> int: ...
    @property
    def H(self) -> int: ...
    @property
    def WtY(self) -> NDArray[np.float64]: ...
    @property
    def y2(self) -> NDArray[np.float64]: ...
    @property
    def WtW(self) -> NDArray[np.float64]: ...

StatsLayout = list[tuple[str, tuple[int, ...]]]
Moments = tuple[NDArray[np.float64], NDArray[np.float64] | None, NDArray[np.float64] | None]
# mean (N, D); variance (N, D) if order >= 2 else None; third central moment (N, D) if order == 3 else None

class BscParams:
    """BSC's W (D, H), pi (H,), sigma2, checked once (keyword arguments only)."""

    def __init__(self, *, W: ArrayLike, pi: ArrayLike, sigma2: float) -> None: ...
    @property
    def W(self) -> NDArray[np.float64]: ...  # read-only views of the parameter set
    @property
    def pi(self) -> NDArray[np.float64]: ...
    @property
    def sigma2(self) -> float: ...
    @property
    def D(self) -> int: ...
    @property
    def H(self) -> int: ...
    def stats_layout(self) -> StatsLayout: ...  # A (D, H), B (H, H), y2, n_patches, free_energy

class SsscParams:
    """SSSC's W (D, H), pi, mu, psi (H,), sigma2, checked once (keyword arguments only)."""

    def __init__(self, *, W: ArrayLike, pi: ArrayLike, mu: ArrayLike, psi: ArrayLike, sigma2: float) -> None: ...
    @property
    def W(self) -> NDArray[np.float64]: ...
    @property
    def pi(self) -> NDArray[np.float64]: ...
    @property
    def mu(self) -> NDArray[np.float64]: ...
    @property
    def psi(self) -> NDArray[np.float64]: ...
    @property
    def sigma2(self) -> float: ...
    @property
    def D(self) -> int: ...
    @property
    def H(self) -> int: ...
    def stats_layout(self) -> StatsLayout: ...  # A, B, x_sum (H,), s_sum (H,), y2, n_patches, free_energy

@overload
def evo_step(
    params: BscParams,
    products: DenseProducts,
    K: NDArray[np.uint64],
    lpj: NDArray[np.float64],
    evo: EvoConfig,
    seed: int,
    epoch: int,
    first_index: int,
) -> int: ...
@overload
def evo_step(
    params: SsscParams,
    products: DenseProducts,
    K: NDArray[np.uint64],
    lpj: NDArray[np.float64],
    evo: EvoConfig,
    seed: int,
    epoch: int,
    first_index: int,
) -> int: ...

# K (N, S, n_words) and lpj (N, S) are updated in place; returns the replaced-state count.
def bsc_log_pseudo_joint(
    params: BscParams, products: DenseProducts, K: NDArray[np.uint64]
) -> NDArray[np.float64]: ...  # (N, S)
def bsc_accumulate(
    params: BscParams,
    products: DenseProducts,
    Y: NDArray[np.float64],
    K: NDArray[np.uint64],
    lpj: NDArray[np.float64],
) -> NDArray[np.float64]: ...  # flat statistics, fields params.stats_layout()
def bsc_posterior_moments(
    params: BscParams, products: DenseProducts | None, K: NDArray[np.uint64], lpj: NDArray[np.float64], order: int = 1
) -> Moments: ...
def bsc_m_step(params: BscParams, stats: NDArray[np.float64], shared_pi: bool = False) -> BscParams: ...
def sssc_log_pseudo_joint(
    params: SsscParams, products: DenseProducts, K: NDArray[np.uint64]
) -> NDArray[np.float64]: ...  # (N, S)
def sssc_accumulate(
    params: SsscParams,
    products: DenseProducts,
    Y: NDArray[np.float64],
    K: NDArray[np.uint64],
    lpj: NDArray[np.float64],
) -> NDArray[np.float64]: ...
def sssc_posterior_moments(
    params: SsscParams, products: DenseProducts | None, K: NDArray[np.uint64], lpj: NDArray[np.float64], order: int = 1
) -> Moments: ...
def sssc_m_step(params: SsscParams, stats: NDArray[np.float64], shared_pi: bool = False) -> SsscParams: ...

# The Poisson mixture model (cpp/bindings/bind_pmm.cpp).
def pmm_select(
    G: ArrayLike,
    offset: ArrayLike,
    Y: ArrayLike,
    K: NDArray[np.int32],
    lpj: NDArray[np.float64],
) -> int: ...
def pmm_accumulate(Y: ArrayLike, K: NDArray[np.int32], lpj: ArrayLike, C: int) -> NDArray[np.float64]: ...
def pmm_posterior_moments(
    Lambda: ArrayLike, K: NDArray[np.int32], lpj: ArrayLike, order: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, NDArray[np.float64] | None]: ...

# Filters (cpp/bindings/bind_filters.cpp).
def wiener_filter(
    noisy: ArrayLike,
    pilot: ArrayLike,
    dct: ArrayLike,
    noise_var: ArrayLike,
    window: ArrayLike,
    row_starts: ArrayLike,
    col_starts: ArrayLike,
) -> NDArray[np.float64]: ...  # (R, C); dct, window (P, P), noise_var (P * P,), starts in [0, side - P]
