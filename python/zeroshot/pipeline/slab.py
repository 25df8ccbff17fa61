"""3-D context: patches that see the neighbouring slices of a volume (`DenoiseConfig.context` = d, odd).

Slice z of a volume (Z, R, C) is denoised from its slab, slices z − h .. z + h (h = d // 2), held as a (d, R, C)
array with slice z in the middle. At each position of the 2-D patch grid, the P × P patches of the d slices are
concatenated slice after slice into one vector of D = d P² values (`zeroshot.patches.slab`); the models and the
noise routes are those of 2-D patches with that D. Beyond the volume's ends the slab is mirrored about the end
slice, which is not repeated (`slab_indices`: slice −1 is slice 1, slice Z is slice Z − 2): the neighbours of an
end slice are then real neighbouring content, and the end slice's own noise appears once (clamping would repeat
it, and the model would read noise repeated in z as structure).

- Learning: the training patches are drawn from the slabs around the training slices (the value scaling is that of
  the first slab, all its slices; the noise model is decided on its centre slice, as for a 2-D image).
- Centring: each patch loses the mean of all its D values.
- Correlated noise: the patches are whitened by the noise covariance of all D values, from the 3-D noise ACF
  (lags along z too) estimated from the flattest regions of the first training slab
  (`zeroshot.noise.slab.estimate_slab_noise_acf`); a reconstructed tomogram's noise is correlated between
  neighbouring slices. The Wiener pass after the model stays 2-D, on the centre slice.
- Write-back: of each patch's posterior moments (mean, and the per-pixel variance and third moment) the centre
  slice's P × P block is merged into slice z exactly as a 2-D patch's are (all blocks are computed; only the
  centre's is kept).
- d = 1 is the 2-D pipeline itself: a 2-D array goes through the same code as before, bitwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zeroshot.noise.slab import estimate_slab_noise_acf, slab_noise_covariance
from zeroshot.noise.whitening import PatchWhitening

__all__ = ["check_slab", "context_error", "slab_indices", "slab_of", "slab_whitening", "z_correlation"]

# Lags of the slab's noise ACF within a slice (as for 2-D: zeroshot.noise.model.ACF_LAGS).
SLAB_ACF_LAGS = 7


def context_error(context: int, model: str | None = None) -> ValueError:
    """The error for a 2-D image asked to be denoised with patches of `context` > 1 slices (model: how to name the
    trained model that asks for them)."""
    if model is not None:
        return ValueError(
            f"{model} was learned with context = {context} (patches spanning {context} slices) and denoises "
            "volumes, but a 2-D image has no neighbouring slices: denoise a volume with "
            "zeroshot.denoise_volume(volume, model=...) (zeroshot denoise --model-file on a stack)"
        )
    return ValueError(
        f"context = {context} (patches spanning {context} slices) needs a volume, but a 2-D image has no "
        f"neighbouring slices: denoise a volume with zeroshot.denoise_volume(volume, context={context}) (zeroshot "
        f"denoise --context {context} on a stack), or the image with context = 1"
    )


def slab_indices(z: int, n_slices: int, context: int) -> list[int]:
    """The slices of the slab around slice z of n_slices (z − h .. z + h), mirrored about the end slices without
    repeating them (see the module's docstring); ValueError when the volume has fewer slices than the slab."""
    if not 0 <= z < n_slices:
        raise ValueError(f"slice {z} is not one of the volume's {n_slices} slices")
    if context > n_slices:
        raise ValueError(
            f"context = {context} spans {context} slices, but the volume has {n_slices}: use a context of at most "
            f"{n_slices if n_slices % 2 else n_slices - 1}"
        )
    h, last = context // 2, n_slices - 1
    out = []
    for k in range(z - h, z + h + 1):
        if k < 0:
            k = -k
        elif k > last:
            k = 2 * last - k
        out.append(k)
    return out


def slab_of(volume: Any, z: int, context: int) -> np.ndarray:
    """The slab (context, R, C) around slice z of `volume` (a 3-D array, a memory map or a list of 2-D frames:
    anything with `len` and `volume[k]`; slices are read one at a time), in the volume's dtype; for context 1 the
    slice itself (R, C)."""
    if context == 1:
        return np.asarray(volume[z])
    return np.stack([np.asarray(volume[k]) for k in slab_indices(z, len(volume), context)])


def check_slab(slab: Any, context: int, patch_size: int) -> np.ndarray:
    """A new finite float64 copy of the slab (context, R, C), each slice at least patch_size a side, or a
    ValueError (a 2-D image: `context_error`)."""
    array = np.asarray(slab)
    if array.ndim == 2:
        raise context_error(context)
    if array.ndim != 3 or array.shape[0] != context:
        raise ValueError(
            f"context = {context}: a slab must be ({context}, rows, cols), the slice and {context // 2} on either "
            f"side, got shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"slab is empty: shape {array.shape}")
    if array.dtype.kind not in "uif":
        raise ValueError(f"slab must have a real numeric dtype, got {array.dtype}")
    values = array.astype(np.float64, copy=True)
    if not np.all(np.isfinite(values)):
        bad = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"slab contains NaN or Inf (first at slab slice, row, col {tuple(int(i) for i in bad)})")
    if min(array.shape[1:]) < patch_size:
        raise ValueError(f"slices of shape {array.shape[1:]} are smaller than the patch size {patch_size}")
    return values


def slab_whitening(scaled: np.ndarray, P: int) -> PatchWhitening:
    """The whitening of the patches of d slices of the scaled slab (d, R, C) by the noise covariance estimated
    from it (lags along z too; see the module's docstring)."""
    acf = estimate_slab_noise_acf(scaled, SLAB_ACF_LAGS)
    return PatchWhitening.from_cholesky(np.linalg.cholesky(slab_noise_covariance(acf, P, scaled.shape[0])))


def z_correlation(whitening: PatchWhitening, context: int) -> list[float]:
    """The noise correlation between slices at lags 1 .. context − 1 that the whitening of patches of `context`
    slices models: the mean covariance of the pixels k and k + Δz slices apart over the mean variance."""
    L = whitening.L
    D = L.shape[0] // context
    pixel_cov = L @ L.T
    variance = float(np.mean(np.diag(pixel_cov)))
    out = []
    for dz in range(1, context):
        pairs = [np.diag(pixel_cov[k * D : (k + 1) * D, (k + dz) * D : (k + dz + 1) * D]) for k in range(context - dz)]
        out.append(float(np.mean(pairs)) / variance if variance > 0 else 0.0)
    return out

