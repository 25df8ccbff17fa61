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
- Patch size: chosen from the centre slice by the 2-D rule (`zeroshot.noise.choose_patch_size`), with the
  relative noise r taken times √a, a = (1 + 2 Σ_k (1 − k/d) ρ_z(k)) / d the share of the noise variance left in the
  mean of the d slices (ρ_z: the noise's correlation between slices; 0 for white and Poisson noise): the slices of
  a patch see the same structure under noise that partly averages out, so the patch needs the size the 2-D rule
  gives at that lower noise. Measured on the simulated tomogram (r 1.02-1.10, ρ_z(1) 0.5, so a = 0.57 at d = 3 and
  0.37 at d = 5: P 8 → 6): the 2-D rule's P = 8 at d = 3 gave 24.29 dB against d = 1's 24.70 (32 × 192², six
  slices), P = 6 24.87 (bench/RESULTS.md).
- Write-back: of each patch's posterior moments (mean, and the per-pixel variance and third moment) the centre
  slice's P × P block is merged into slice z exactly as a 2-D patch's are (all blocks are computed; only the
  centre's is kept).
- d = 1 is the 2-D pipeline itself: a 2-D array goes through the same code as before, bitwise.

Where it wins (`choose_context`, context "auto" of `zeroshot.denoise_volume` and of `zeroshot denoise` on a
stack): 3-D context helps where neighbouring slices show the same structure (a tomogram, a stack of frames of one
field) and costs dearly where they do not (a series of micrographs of different fields: the patches of three
unrelated images are modelled jointly). The share of the signal that neighbouring slices have in common,
ρ_s = (T₁ − N₁) / (T₀ − N₀), T_k the covariance of slices k apart (each less its mean), N_k the noise's (from the
slab's flattest regions, `estimate_slab_noise_acf`), is measured on the slabs around up to three training slices
and its median decides: d = 3 from CONTEXT_MIN_SHARED on, else 1. Measured (bench/RESULTS.md, "3-D context"):
simulated tomograms 0.84-0.95 (with a missing wedge too), the same volume's every 4th slice 0.40-0.59 (d = 3 still
+0.38 dB), identical frames with independent noise 0.97-0.98; eight simulated virus images of different fields
−0.40..0.14 (d = 3 lost 4.4 dB there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zeroshot.noise.model import NoiseModel
from zeroshot.noise.slab import SLAB_ACF_LAGS, SlabNoiseACF, estimate_slab_noise_acf
from zeroshot.noise.whitening import PatchWhitening

__all__ = [
    "AUTO_CONTEXT",
    "ContextChoice",
    "check_slab",
    "choose_context",
    "context_error",
    "shared_signal",
    "slab_indices",
    "slab_of",
    "z_correlation",
]

# context "auto": AUTO_CONTEXT where the median shared signal share of neighbouring slices reaches CONTEXT_MIN_SHARED
# (module docstring), judged on up to CONTEXT_JUDGED slabs; signal below SIGNAL_MIN_SHARE of a slice's variance is
# too weak to judge (context 1).
AUTO_CONTEXT = 3
CONTEXT_MIN_SHARED = 0.3
CONTEXT_JUDGED = 3
SIGNAL_MIN_SHARE = 0.02


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


def input_slab_acf(values: np.ndarray, noise: NoiseModel, needed: bool) -> SlabNoiseACF | None:
    """The noise ACF of a slab (d, R, C) in the noise model's domain, where the noise is correlated and `needed`
    (for the patch size); the whitening then takes it to the scaled values. None for an image, other noise, or a
    slab whose slices are too small for it."""
    if values.ndim != 3 or not noise.correlated or not needed:
        return None
    try:
        return estimate_slab_noise_acf(values, SLAB_ACF_LAGS)
    except ValueError:
        return None


def noise_averaging(context: int, acf: SlabNoiseACF | None, noise: NoiseModel) -> float:
    """The share of the noise variance of one slice left in the mean of `context` slices (module docstring, "Patch
    size"): (1 + 2 Σ_k (1 − k/d) ρ_z(k)) / d with the noise's correlation ρ_z between slices (0 for white and
    Poisson noise, the slab ACF's for correlated noise; 1 for an image). Correlated noise whose ACF is unknown is
    taken as fully correlated (1: the 2-D rule)."""
    if context == 1:
        return 1.0
    if noise.correlated:
        if acf is None:
            return 1.0
        rho = acf.z_correlation
    else:
        rho = np.zeros(context)
    d = context
    total = 1.0 + 2.0 * sum((1.0 - k / d) * float(rho[k]) for k in range(1, min(d, rho.size)))
    return float(min(max(total / d, 1.0 / d), 1.0))


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


def shared_signal(slab: np.ndarray) -> float:
    """ρ_s of a slab (d >= 2, R, C): the share of the signal that slices one apart have in common (module
    docstring); nan when the signal is under SIGNAL_MIN_SHARE of the slices' variance (too weak to judge) or the
    slices are too small for the noise ACF (under 8 x 8)."""
    y = np.asarray(slab, dtype=np.float64)
    if y.ndim != 3 or y.shape[0] < 2:
        raise ValueError(f"the shared signal needs a slab of at least 2 slices, got shape {y.shape}")
    peak = float(np.max(np.abs(y)))
    if peak == 0:
        return math.nan
    y = y / peak  # products cannot overflow; the ratio is scale-free
    try:
        noise = estimate_slab_noise_acf(y, 0)
    except ValueError:
        return math.nan
    y = y - y.mean(axis=(1, 2), keepdims=True)
    total0 = float(np.mean(y * y))
    total1 = float(np.mean(y[:-1] * y[1:]))
    signal = total0 - float(noise.cov[0, 0, 0])
    if not signal > SIGNAL_MIN_SHARE * total0:
        return math.nan
    return (total1 - float(noise.cov[1, 0, 0])) / signal


@dataclass(frozen=True)
class ContextChoice:
    """context: the slices a patch spans; shared: the median share of the signal that neighbouring slices have in
    common (nan when not measured); reason: in words."""

    context: int
    shared: float
    reason: str

    @property
    def measured(self) -> bool:
        """Whether the volume decided it (`choose_context`), rather than what was asked or given."""
        return not math.isnan(self.shared)


def choose_context(volume: Any, slices: Sequence[int]) -> ContextChoice:
    """Context "auto" for `volume` (anything with `len` and `volume[k]`): AUTO_CONTEXT where the median `shared_signal`
    of the 3-slice slabs around the first CONTEXT_JUDGED of `slices` (the training slices, inside the volume) reaches
    CONTEXT_MIN_SHARED, else 1 (module docstring); 1 for a volume of fewer than 3 slices."""
    n = len(volume)
    if n < AUTO_CONTEXT:
        return ContextChoice(1, math.nan, f"context 1: {n} slice(s), too few for patches of {AUTO_CONTEXT} slices")
    inner = [z for z in slices if 0 < z < n - 1][:CONTEXT_JUDGED] or [n // 2]
    values = [shared_signal(slab_of(volume, z, 3)) for z in inner]
    measured = [v for v in values if math.isfinite(v)]
    if not measured:
        return ContextChoice(1, math.nan, "context 1: the slices' shared signal could not be measured")
    shared = float(np.median(measured))
    if shared >= CONTEXT_MIN_SHARED:
        reason = f"neighbouring slices share {shared:.2f} of their signal (>= {CONTEXT_MIN_SHARED})"
        return ContextChoice(AUTO_CONTEXT, shared, f"context {AUTO_CONTEXT}: {reason}")
    reason = f"neighbouring slices share {shared:.2f} of their signal (< {CONTEXT_MIN_SHARED})"
    return ContextChoice(1, shared, f"context 1: {reason}")
