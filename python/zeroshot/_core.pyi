# Type stubs of the compiled module zeroshot._core (cpp/bindings). Shapes in paper notation:
# N patches, D pixels per patch, H latents, S states per patch, n_words = ceil(H / 64).
import numpy as np
from numpy.typing import NDArray

PI_MIN: float
SIGMA2_MIN: float
PSI_MIN: float

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def has_openmp() -> bool: ...
def words_for(H: int) -> int: ...
def init_states(
    N: int, H: int, S: int, p_on: float, seed: int, first_index: int = 0
) -> NDArray[np.uint64]: ...  # (N, S, n_words)
def pack_states(bits: NDArray[np.uint8]) -> NDArray[np.uint64]: ...  # (..., H) -> (..., n_words)
def unpack_states(K: NDArray[np.uint64], H: int) -> NDArray[np.uint8]: ...  # (..., n_words) -> (..., H)
def select_parents(
    lpj: NDArray[np.float64], n_parents: int, selection: str, seed: int, epoch: int = 0, first_index: int = 0
) -> NDArray[np.int64]: ...  # (N, n_parents)
def make_children(
    parents: NDArray[np.uint64],
    H: int,
    expected_active: float,
    seed: int,
    n_parents: int,
    n_children: int,
    n_generations: int,
    selection: str,
    mutation: str,
    crossover: bool,
    bitflip_prob: float,
) -> NDArray[np.uint64]: ...
def bsc_log_pseudo_joint(
    WtY: NDArray[np.float64],
    y2: NDArray[np.float64],
    WtW: NDArray[np.float64],
    pi: NDArray[np.float64],
    sigma2: float,
    K: NDArray[np.uint64],
) -> NDArray[np.float64]: ...  # (N, S)
def evo_step_bsc(
    K: NDArray[np.uint64],
    lpj: NDArray[np.float64],
    WtY: NDArray[np.float64],
    y2: NDArray[np.float64],
    WtW: NDArray[np.float64],
    pi: NDArray[np.float64],
    sigma2: float,
    seed: int,
    epoch: int,
    first_index: int,
    n_parents: int,
    n_children: int,
    n_generations: int,
    selection: str,
    mutation: str,
    crossover: bool,
    bitflip_prob: float,
) -> int: ...
def bsc_accumulate(
    Y: NDArray[np.float64], K: NDArray[np.uint64], lpj: NDArray[np.float64], H: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], float, float]: ...  # A (D, H), B (H, H), lse, y2
def bsc_posterior_moments(
    W: NDArray[np.float64], K: NDArray[np.uint64], lpj: NDArray[np.float64], order: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, NDArray[np.float64] | None]: ...

# mean (N, D); variance (N, D) if order >= 2 else None; third central moment (N, D) if order == 3 else None
def bsc_m_step(
    A: NDArray[np.float64],
    B: NDArray[np.float64],
    y2_sum: float,
    n_patches: float,
    W_old: NDArray[np.float64],
    shared_pi: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]: ...  # W, pi, sigma2
def sssc_log_pseudo_joint(
    WtY: NDArray[np.float64],
    y2: NDArray[np.float64],
    WtW: NDArray[np.float64],
    pi: NDArray[np.float64],
    mu: NDArray[np.float64],
    psi: NDArray[np.float64],
    sigma2: float,
    K: NDArray[np.uint64],
) -> NDArray[np.float64]: ...  # (N, S)
def evo_step_sssc(
    K: NDArray[np.uint64],
    lpj: NDArray[np.float64],
    WtY: NDArray[np.float64],
    y2: NDArray[np.float64],
    WtW: NDArray[np.float64],
    pi: NDArray[np.float64],
    mu: NDArray[np.float64],
    psi: NDArray[np.float64],
    sigma2: float,
    seed: int,
    epoch: int,
    first_index: int,
    n_parents: int,
    n_children: int,
    n_generations: int,
    selection: str,
    mutation: str,
    crossover: bool,
    bitflip_prob: float,
) -> int: ...
def sssc_slab_posterior(
    WtY: NDArray[np.float64],
    y2: NDArray[np.float64],
    WtW: NDArray[np.float64],
    pi: NDArray[np.float64],
    mu: NDArray[np.float64],
    psi: NDArray[np.float64],
    sigma2: float,
    K: NDArray[np.uint64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...  # kappa (N, S, H), Lambda (N, S, H, H), embedded
def sssc_accumulate(
    Y: NDArray[np.float64],
    WtY: NDArray[np.float64],
    y2: NDArray[np.float64],
    WtW: NDArray[np.float64],
    pi: NDArray[np.float64],
    mu: NDArray[np.float64],
    psi: NDArray[np.float64],
    sigma2: float,
    K: NDArray[np.uint64],
    lpj: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float, float]: ...
def sssc_m_step(
    A: NDArray[np.float64],
    B: NDArray[np.float64],
    x_sum: NDArray[np.float64],
    s_sum: NDArray[np.float64],
    y2_sum: float,
    n_patches: float,
    W_old: NDArray[np.float64],
    mu_old: NDArray[np.float64],
    psi_old: NDArray[np.float64],
    shared_pi: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float]: ...
def sssc_posterior_moments(
    W: NDArray[np.float64],
    WtY: NDArray[np.float64],
    y2: NDArray[np.float64],
    WtW: NDArray[np.float64],
    pi: NDArray[np.float64],
    mu: NDArray[np.float64],
    psi: NDArray[np.float64],
    sigma2: float,
    K: NDArray[np.uint64],
    lpj: NDArray[np.float64],
    order: int = 1,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, NDArray[np.float64] | None]: ...

# mean (N, D); variance (N, D) if order >= 2 else None; third central moment (N, D) if order == 3 else None
