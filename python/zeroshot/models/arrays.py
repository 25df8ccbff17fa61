"""A model's parameters as named arrays (for the files of `zeroshot.runtime.archive`: checkpoints and trained
models) and back, with the checks of arrays read from a file against the model they should make."""

from __future__ import annotations

import math

import numpy as np

from zeroshot._core import SIGMA2_MIN
from zeroshot.models import BSC, SSSC, BSCParams, SSSCParams
from zeroshot.models.base import Model
from zeroshot.models.pmm import PMM, PMMParams

# The arrays of each model's parameters, by the model's name in configurations.
PARAMETER_ARRAYS = {
    "bsc": ("W", "pi", "sigma2"),
    "es3c": ("W", "pi", "mu", "psi", "sigma2"),
    "pmm": ("Lambda", "pi"),
}
# The log of the largest float64: products of the log-joints beyond it overflow.
_LOG_LARGEST = math.log(float(np.finfo(np.float64).max))
# The names of the parameter arrays of any model.
PARAMETER_NAMES = frozenset(name for names in PARAMETER_ARRAYS.values() for name in names)


def model_arrays(model: Model | PMM) -> dict[str, np.ndarray]:
    """The parameters of `model` by name (sigma2 as a 0-d array)."""
    if isinstance(model, PMM):
        return {"Lambda": model.Lambda, "pi": model.pi}
    if isinstance(model, SSSC):
        p = model.params
        return {"W": p.W, "pi": p.pi, "mu": p.mu, "psi": p.psi, "sigma2": np.array(p.sigma2)}
    if isinstance(model, BSC):
        return {"W": model.W, "pi": model.pi, "sigma2": np.array(model.sigma2)}
    raise TypeError(f"cannot store a model of type {type(model).__name__}")


def model_from_arrays(kind: str, shared_pi: bool, arrays: dict[str, np.ndarray]) -> Model | PMM:
    """The model `kind` ("bsc", "es3c", "pmm") of the named arrays; the parameter classes check the values
    (ValueError, KeyError for a missing array)."""
    if kind == "pmm":
        return PMM(PMMParams(arrays["Lambda"], arrays["pi"]))
    sigma2 = float(arrays["sigma2"])
    if kind == "es3c":
        return SSSC(SSSCParams(arrays["W"], arrays["pi"], arrays["mu"], arrays["psi"], sigma2), shared_pi)
    if kind == "bsc":
        return BSC(BSCParams(arrays["W"], arrays["pi"], sigma2), shared_pi)
    raise ValueError(f"unknown model {kind!r}")


def parameter_problem(
    kind: str, arrays: dict[str, np.ndarray], n_latents: int, patch_size: int | None, context: int = 1
) -> str | None:
    """What is wrong with the parameter arrays of model `kind` for H (or C) = n_latents and P x P patches of
    `context` slices (D = context P^2; P None: any), or None: a missing array, a dtype that is no real number,
    W (D, H) or Lambda (C, D) of another shape."""
    for name in PARAMETER_ARRAYS[kind]:
        if name not in arrays:
            return f"no {name} array"
        if arrays[name].dtype.kind not in "uif":
            return f"{name} has dtype {arrays[name].dtype}, not real numbers"
    P = patch_size
    D = None if P is None else context * P * P
    shape = f"{P}*{P}" if context == 1 else f"{context}*{P}*{P}"
    patches = f"{P}x{P} patches" if context == 1 else f"{P}x{P}x{context} patches"
    if kind == "pmm":
        C, Lambda = n_latents, arrays["Lambda"]
        if Lambda.ndim != 2 or Lambda.shape[0] != C or (D is not None and Lambda.shape[1] != D):
            return f"Lambda has shape {Lambda.shape}, expected ({C}, {shape}) for C = {C}"
        return None
    H, W = n_latents, arrays["W"]
    if W.ndim != 2 or W.shape[1] != H or (D is not None and W.shape[0] != D):
        expected = f"({D}, {H})" if D is not None else f"(D, {H})"
        return f"W has shape {W.shape}, expected {expected} for {patches} and H = {H}"
    return _value_problem(W, arrays["sigma2"])


def _value_problem(W: np.ndarray, sigma2_array: np.ndarray) -> str | None:
    """What learning cannot give: sigma2 below the M-step's least, or W so large for sigma2 that the log-joints
    (sums of W^2 / sigma2 over D and H) would overflow float64. NaN and Inf are the parameter classes' to say."""
    if sigma2_array.size != 1:
        return f"sigma2 has shape {sigma2_array.shape}, expected a single value"
    sigma2 = float(sigma2_array.reshape(()))
    if sigma2 < SIGMA2_MIN:
        return f"sigma2 {sigma2:.3g} is below {SIGMA2_MIN:g}, the least that learning gives"
    largest = float(np.max(np.abs(W)))
    if not (0 < largest < math.inf and sigma2 < math.inf):
        return None
    if 2 * math.log(largest) + math.log(W.size) - math.log(sigma2) > _LOG_LARGEST:
        return f"W's values (up to {largest:.3g}) are too large for sigma2 {sigma2:.3g}: the log-joints would overflow"
    return None
