"""The noise model of an image for the noise option (`noise="auto"` or a kind of `zeroshot.noise.kinds`): a kind
asked for is estimated from the image by its class; `auto` decides the kind first.

`auto` decides in this order (thresholds and why):
1. **poisson** when the image is integer-valued (counts) and its noise variance grows with its mean: the fitted
   mean–variance line (`estimate_poisson_gaussian`) has a slope more than POISSON_MIN_T standard errors above 0
   and predicts at the 90th percentile of the block means at least POISSON_MIN_GROWTH times the variance at the
   10th. Both are needed: a clipped 8-bit image has integer values and a variance that shrinks at the clip,
   which tilts the line but not by much, and a flat count image has nothing to fit (there the transform would
   be nearly affine anyway). Measured: Poisson images of the House at peaks 1–16 give growth 2.6–2.7 and
   t > 30; white and correlated noise on the standard images and plaids give growth 0.8–1.13 and t < 1.4.
2. **correlated** when the diagonal-detail ratio q (`correlation_ratio`; 1 for white noise) is below
   CORRELATION_MAX_Q = 0.6, a lag-1 correlation of about 0.23 for a Gaussian-shaped ACF, "well above zero".
   q is measured in the flattest quarter of the image's 16-px blocks, where noise rather than structure shows:
   on the standard images white noise σ 25 gives 0.89–0.99, the 1-pixel Gaussian blur 0.14–0.16, the SARS-CoV-2
   slice 0.25; Poisson counts at 100 per grey level (reliability review R3, where structure dominates) 0.74–0.97
   (over the whole image they gave 0.48–0.66 and were taken for correlated noise), except the fingerprint, which
   is structure everywhere (0.19). Images with fewer than CORRELATION_MIN_PIXELS pixels are not judged (white).
3. **white** otherwise.

A constant image is white for every option but "poisson" ("nothing to denoise"). What each kind then does: its
class (`zeroshot.noise.white`, `.poisson`, `.correlated`).
"""

from __future__ import annotations

import numpy as np

from zeroshot.noise.correlated import CORRELATION_MAX_Q, CORRELATION_MIN_PIXELS, CorrelatedNoise
from zeroshot.noise.evidence import HUGE_VALUES, constant, correlation_evidence, image_values, peak_of
from zeroshot.noise.kinds import NOISE_KINDS, NOISE_MODELS
from zeroshot.noise.model import NoiseModel
from zeroshot.noise.poisson import PoissonNoise
from zeroshot.noise.white import WhiteNoise

__all__ = ["decide_noise"]


def decide_noise(image: np.ndarray, noise: str = "auto") -> NoiseModel:
    """The noise model of `image` (R, C) for `noise` ("auto" decides, see the module's docstring; "white" is
    taken as it is, without estimates). ValueError names the problem: an unknown noise, or noise="poisson" on
    an image whose variance does not grow with its mean and which is not made of non-negative counts."""
    if noise not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {', '.join(NOISE_MODELS)}, got {noise!r}")
    if noise != "auto":
        return NOISE_KINDS[noise].estimate(image, noise)
    values = image_values(image)
    peak = peak_of(values)
    if constant(values):
        return WhiteNoise.of_constant(values, noise)
    acf, q = correlation_evidence(values, peak)
    if peak <= HUGE_VALUES and PoissonNoise.shows_in(values):
        return PoissonNoise.of_counts(values, "auto")
    if CorrelatedNoise.shows_in(values, q):
        return CorrelatedNoise.of_estimates(acf, q, "auto", f"q below {CORRELATION_MAX_Q}")
    if values.size < CORRELATION_MIN_PIXELS:
        reason = f"image under {CORRELATION_MIN_PIXELS} pixels, too small to judge the correlation"
    else:
        reason = f"correlated below q {CORRELATION_MAX_Q}"
    return WhiteNoise.by_elimination(values, peak, acf, q, reason)
