"""The checks of a model's parameter arrays read from a file (`zeroshot.runtime.archive`: checkpoints and trained
models) against the model they should make; each family names its check (`zeroshot.models.family`). The arrays
themselves are the models' (`arrays()`, `from_arrays`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from zeroshot._core import SIGMA2_MIN

# The log of the largest float64: products of the log-joints beyond it overflow.
_LOG_LARGEST = math.log(float(np.finfo(np.float64).max))


def arrays_problem(names: tuple[str, ...], arrays: Mapping[str, np.ndarray]) -> str | None:
    """A missing array of `names`, or one whose dtype is no real number; None."""
    for name in names:
        if name not in arrays:
            return f"no {name} array"
        if arrays[name].dtype.kind not in "uif":
            return f"{name} has dtype {arrays[name].dtype}, not real numbers"
    return None


def dictionary_problem(
    arrays: Mapping[str, np.ndarray], n_latents: int, patch_size: int | None, context: int = 1
) -> str | None:
    """What is wrong with a dictionary model's W (D, H) and sigma2 for H = n_latents and P x P patches of `context`
    slices (D = context P^2; P None: any): another shape, or values learning cannot give; None."""
    P, H, W = patch_size, n_latents, arrays["W"]
    D = None if P is None else context * P * P
    if W.ndim != 2 or W.shape[1] != H or (D is not None and W.shape[0] != D):
        expected = f"({D}, {H})" if D is not None else f"(D, {H})"
        patches = f"{P}x{P} patches" if context == 1 else f"{P}x{P}x{context} patches"
        return f"W has shape {W.shape}, expected {expected} for {patches} and H = {H}"
    return _value_problem(W, arrays["sigma2"])


def rates_problem(
    arrays: Mapping[str, np.ndarray], n_latents: int, patch_size: int | None, context: int = 1
) -> str | None:
    """What is wrong with a mixture's rates Lambda (C, D) for C = n_latents and P x P patches of `context` slices
    (D = context P^2; P None: any)."""
    P, C, Lambda = patch_size, n_latents, arrays["Lambda"]
    if Lambda.ndim != 2 or Lambda.shape[0] != C or (P is not None and Lambda.shape[1] != context * P * P):
        shape = f"{P}*{P}" if context == 1 else f"{context}*{P}*{P}"
        return f"Lambda has shape {Lambda.shape}, expected ({C}, {shape}) for C = {C}"
    return None


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
