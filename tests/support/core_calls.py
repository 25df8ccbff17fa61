"""The compiled kernels called with the loose arrays the numpy reference (reference.py) speaks in: each
helper builds the parameter set, dense products and EvoConfig objects of zeroshot._core and unpacks the
statistics by their named layout. Kernels that do not read an argument get a neutral stand-in (noted)."""

from __future__ import annotations

from typing import Any

import numpy as np

from zeroshot import _core

# Parameters with a free-energy constant of ~0 (-D/2 log(2 pi sigma2) + sum log(1 - pi)), for statistics
# whose log-normaliser sum lse = F - N * constant is wanted on its own.
_NEUTRAL_SIGMA2 = 1.0 / (2.0 * np.pi)
_NEUTRAL_PI = 1e-300


def _H(WtW: Any, pi: Any) -> int:
    shape = np.shape(pi)
    return int(shape[0]) if len(shape) == 1 else int(np.shape(WtW)[-1])


def products(WtY: Any, y2: Any, WtW: Any) -> _core.DenseProducts:
    return _core.DenseProducts(WtY, y2, WtW)


def products_of(Y: np.ndarray, W: np.ndarray) -> _core.DenseProducts:
    return _core.DenseProducts(Y @ W, np.einsum("nd,nd->n", Y, Y), W.T @ W)


def evo_config(**kw: Any) -> _core.EvoConfig:
    if kw.get("bitflip_prob") is not None and kw["bitflip_prob"] < 0:
        kw["bitflip_prob"] = None
    return _core.EvoConfig(**kw)


def _stats(params: Any, flat: np.ndarray) -> dict[str, Any]:
    out, start = {}, 0
    for name, shape in params.stats_layout():
        size = int(np.prod(shape))
        value = flat[start : start + size].reshape(shape)
        out[name] = float(value) if shape == () else value
        start += size
    assert start == flat.size
    return out


def _flat(*parts: Any) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts])


def lpj_offset(D: int, pi: np.ndarray, sigma2: float) -> float:
    """-(the free-energy constant): lpj + this = log p(s, y)."""
    return 0.5 * D * np.log(2 * np.pi * sigma2) - float(np.sum(np.log1p(-np.asarray(pi))))


# ----------------------------------------------------------------------------- BSC


def bsc_params(W: Any, pi: Any, sigma2: Any) -> _core.BscParams:
    return _core.BscParams(W=W, pi=pi, sigma2=sigma2)


def bsc_log_pseudo_joint(WtY: Any, y2: Any, WtW: Any, pi: Any, sigma2: Any, K: Any, W: Any = None) -> np.ndarray:
    # lpj reads W only through WtY and WtW
    W = np.zeros((1, _H(WtW, pi))) if W is None else W
    return _core.bsc_log_pseudo_joint(bsc_params(W, pi, sigma2), products(WtY, y2, WtW), K)


def evo_step_bsc(
    K: Any,
    lpj: Any,
    WtY: Any,
    y2: Any,
    WtW: Any,
    pi: Any,
    sigma2: Any,
    seed: Any,
    epoch: Any,
    first_index: Any,
    evo: _core.EvoConfig | None = None,
    **evo_kw: Any,
) -> int:
    params = bsc_params(np.zeros((1, _H(WtW, pi))), pi, sigma2)  # W read through WtY and WtW only
    evo = evo if evo is not None else evo_config(**evo_kw)
    return _core.evo_step(params, products(WtY, y2, WtW), K, lpj, evo, seed, epoch, first_index)


def bsc_accumulate(Y: np.ndarray, K: Any, lpj: Any, H: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(A, B, lse, y2); the statistics do not read W, pi or sigma2 except for F's constant (~0 here)."""
    params = bsc_params(np.zeros((Y.shape[1], H)), np.full(H, _NEUTRAL_PI), _NEUTRAL_SIGMA2)
    d = _core.DenseProducts(np.zeros((Y.shape[0], H)), np.zeros(Y.shape[0]), np.zeros((H, H)))
    st = _stats(params, _core.bsc_accumulate(params, d, Y, K, lpj))
    assert st["n_patches"] == Y.shape[0]
    return st["A"], st["B"], st["free_energy"], st["y2"]


def bsc_posterior_moments(W: np.ndarray, K: Any, lpj: Any, order: int = 1) -> tuple[Any, Any, Any]:
    """BSC's moments read W, K and lpj only."""
    H = W.shape[1] if np.ndim(W) == 2 else 1
    params = bsc_params(W, np.full(H, 0.5), 1.0)
    return _core.bsc_posterior_moments(params, None, K, lpj, order)


def bsc_m_step(
    A: Any, B: Any, y2_sum: float, n_patches: float, W_old: np.ndarray, shared_pi: bool = False
) -> tuple[np.ndarray, np.ndarray, float]:
    H = W_old.shape[1]
    params = bsc_params(W_old, np.full(H, 0.5), 1.0)  # the M-step reads W_old only
    new = _core.bsc_m_step(params, _flat(A, B, y2_sum, n_patches, 0.0), shared_pi)
    return new.W, new.pi, new.sigma2


# ----------------------------------------------------------------------------- SSSC


def sssc_params(W: Any, pi: Any, mu: Any, psi: Any, sigma2: Any) -> _core.SsscParams:
    return _core.SsscParams(W=W, pi=pi, mu=mu, psi=psi, sigma2=sigma2)


def sssc_log_pseudo_joint(
    WtY: Any, y2: Any, WtW: Any, pi: Any, mu: Any, psi: Any, sigma2: Any, K: Any, W: Any = None
) -> np.ndarray:
    W = np.zeros((1, _H(WtW, pi))) if W is None else W  # read through WtY and WtW only
    return _core.sssc_log_pseudo_joint(sssc_params(W, pi, mu, psi, sigma2), products(WtY, y2, WtW), K)


def evo_step_sssc(
    K: Any,
    lpj: Any,
    WtY: Any,
    y2: Any,
    WtW: Any,
    pi: Any,
    mu: Any,
    psi: Any,
    sigma2: Any,
    seed: Any,
    epoch: Any,
    first_index: Any,
    evo: _core.EvoConfig | None = None,
    **evo_kw: Any,
) -> int:
    params = sssc_params(np.zeros((1, _H(WtW, pi))), pi, mu, psi, sigma2)  # W read through WtY, WtW only
    evo = evo if evo is not None else evo_config(**evo_kw)
    return _core.evo_step(params, products(WtY, y2, WtW), K, lpj, evo, seed, epoch, first_index)


def sssc_slab_posterior(
    WtY: Any, y2: Any, WtW: Any, pi: Any, mu: Any, psi: Any, sigma2: Any, K: Any
) -> tuple[np.ndarray, np.ndarray]:
    params = sssc_params(np.zeros((1, _H(WtW, pi))), pi, mu, psi, sigma2)
    return _core.testing.sssc_slab_posterior(params, products(WtY, y2, WtW), K)


def sssc_accumulate(
    Y: np.ndarray, WtY: Any, y2: Any, WtW: Any, pi: Any, mu: Any, psi: Any, sigma2: Any, K: Any, lpj: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(A, B, sum <x>, sum <s>, lse, y2); W is read through WtY and WtW only."""
    params = sssc_params(np.zeros((Y.shape[1], _H(WtW, pi))), pi, mu, psi, sigma2)
    st = _stats(params, _core.sssc_accumulate(params, products(WtY, y2, WtW), Y, K, lpj))
    lse = st["free_energy"] + st["n_patches"] * lpj_offset(Y.shape[1], np.asarray(pi), float(sigma2))
    return st["A"], st["B"], st["x_sum"], st["s_sum"], lse, st["y2"]


def sssc_m_step(
    A: Any,
    B: Any,
    x_sum: Any,
    s_sum: Any,
    y2_sum: float,
    n_patches: float,
    W_old: np.ndarray,
    mu_old: Any,
    psi_old: Any,
    shared_pi: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    H = W_old.shape[1]
    params = sssc_params(W_old, np.full(H, 0.5), mu_old, psi_old, 1.0)  # pi and sigma2 are not read
    new = _core.sssc_m_step(params, _flat(A, B, x_sum, s_sum, y2_sum, n_patches, 0.0), shared_pi)
    return new.W, new.pi, new.mu, new.psi, new.sigma2


def sssc_posterior_moments(
    W: Any, WtY: Any, y2: Any, WtW: Any, pi: Any, mu: Any, psi: Any, sigma2: Any, K: Any, lpj: Any, order: int = 1
) -> tuple[Any, Any, Any]:
    params = sssc_params(W, pi, mu, psi, sigma2)
    return _core.sssc_posterior_moments(params, products(WtY, y2, WtW), K, lpj, order)


# ----------------------------------------------------------------------------- EVO pieces


def select_parents(lpj: Any, n_parents: Any, selection: str, seed: Any, epoch: Any = 0, first_index: Any = 0) -> Any:
    return _core.testing.select_parents(lpj, n_parents, selection, seed, epoch, first_index)


def make_children(parents: Any, H: Any, expected_active: float, seed: Any, **evo: Any) -> np.ndarray:
    return _core.testing.make_children(parents, H, expected_active, seed, evo_config(**evo))
