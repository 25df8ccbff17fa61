"""The second pass after the model: for correlated noise, the Wiener pass (`zeroshot.patches.wiener`) with the
model's posterior mean as its pilot and the noise covariance of 16 × 16 patches from the minimum-statistics noise
spectrum (`zeroshot.noise.spectrum`), both on the scaled image.

Measured on the demo crop of the SARS-CoV-2 slice (bench/real_em.py, bench/RESULTS.md): region SNR over the five
box pairs 9.6 → 13.4 dB, the membrane bilayer's dip kept 0.09 → 0.45, the flat ice's standard deviation 0.57 →
0.535 of the input's (BM3D given the noise spectrum estimated from the crop: 12.8 dB, 0.39, 0.55). Not on the
Anscombe route: there it lost 0.04-0.39 dB against the posterior mean (no grouping of similar patches); nor, by
analogy (unmeasured), on white noise."""

from __future__ import annotations

import numpy as np

from zeroshot.noise.spectrum import estimate_noise_spectrum
from zeroshot.noise.statistics import NoiseACF, noise_covariance
from zeroshot.patches.wiener import WIENER_PATCH, wiener_pass
from zeroshot.pipeline.run import Run, wiener_follows

__all__ = ["noise_spectrum", "second_pass", "second_pass_applies"]


def second_pass(run: Run, scaled: np.ndarray, pilot: np.ndarray, spectrum: NoiseACF | None = None) -> np.ndarray:
    """The run's final estimate (scaled units) from the posterior mean `pilot`: the Wiener pass for correlated
    noise (second_pass "wiener") on an image of at least 32 px a side, else the pilot itself. spectrum: the noise
    spectrum to filter with (`noise_spectrum` of another image in the same units), else the image's own."""
    if not second_pass_applies(run, scaled.shape):
        return pilot
    spectrum = spectrum if spectrum is not None else noise_spectrum(scaled)
    if not spectrum.variance > 0:  # a constant image: nothing to filter
        return pilot
    return wiener_pass(scaled, pilot, noise_covariance(spectrum, WIENER_PATCH))


def noise_spectrum(scaled: np.ndarray) -> NoiseACF:
    """The noise spectrum the Wiener pass filters the (scaled) image with."""
    return estimate_noise_spectrum(scaled, WIENER_PATCH - 1)


def second_pass_applies(run: Run, shape: tuple[int, ...]) -> bool:
    """Whether `second_pass` filters an image of this shape (else it returns the pilot)."""
    return wiener_follows(run.config, run.noise, shape)
