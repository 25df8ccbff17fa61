# Type stubs of zeroshot._core.testing: kernels exposed for the tests only (small problems, the GIL held).
import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import DenseProducts, EvoConfig, SsscParams

def select_parents(
    lpj: ArrayLike, n_parents: int, selection: str, seed: int, epoch: int = 0, first_index: int = 0
) -> NDArray[np.int64]: ...  # (N, n_parents); -1 where fewer exist (uniform)
def make_children(
    parents: ArrayLike, H: int, expected_active: float, seed: int, evo: EvoConfig
) -> NDArray[np.uint64]: ...  # (children, n_words) of one generation from evo.n_parents parents
def sssc_slab_posterior(
    params: SsscParams, products: DenseProducts, K: NDArray[np.uint64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...  # kappa (N, S, H), Lambda (N, S, H, H), embedded
