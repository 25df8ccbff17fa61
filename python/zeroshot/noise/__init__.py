"""Noise of the image, from the image alone.

patch_size: a quick noise level before learning and the patch size it suggests; statistics: the noise ACF,
the covariance Σ of P × P patches and a structure-robust correlation test; signal_dependent: gain, offset and
read noise of Poisson–Gaussian noise; anscombe: the generalized Anscombe transform and its exact unbiased
inverse; model: what a noise model of a run does (`NoiseModel`); white, poisson, correlated, native: the kinds of
noise, each a class, registered in kinds (`NOISE_KINDS`); decide: the noise model of an image (`decide_noise`).
"""

from zeroshot.noise.anscombe import (
    PoissonGaussian,
    exact_unbiased_inverse,
    expected_gat,
    gat,
    gat_inverse,
    gat_inverse_derivative,
    gat_inverse_variance,
)
from zeroshot.noise.correlated import CorrelatedNoise
from zeroshot.noise.decide import decide_noise
from zeroshot.noise.kinds import NOISE_KINDS, NOISE_MODELS, noise_model_named
from zeroshot.noise.model import NoiseModel
from zeroshot.noise.native import NativeCounts
from zeroshot.noise.patch_size import (
    ES3C_P0,
    ES3C_P_RANGE,
    ES3C_P_SLOPE,
    LARGE_PATCH,
    LARGE_PATCH_RELATIVE_NOISE,
    SMALL_PATCH,
    PatchRule,
    bsc_patch_size,
    choose_patch_size,
    es3c_patch_size,
    estimate_noise_sigma,
    relative_noise,
)
from zeroshot.noise.poisson import PoissonNoise
from zeroshot.noise.signal_dependent import PoissonGaussianFit, estimate_poisson_gaussian
from zeroshot.noise.statistics import NoiseACF, correlation_ratio, estimate_noise_acf, noise_covariance
from zeroshot.noise.white import WhiteNoise

__all__ = [
    "ES3C_P0",
    "ES3C_P_RANGE",
    "ES3C_P_SLOPE",
    "LARGE_PATCH",
    "LARGE_PATCH_RELATIVE_NOISE",
    "NOISE_KINDS",
    "NOISE_MODELS",
    "SMALL_PATCH",
    "CorrelatedNoise",
    "NativeCounts",
    "NoiseACF",
    "NoiseModel",
    "PatchRule",
    "PoissonGaussian",
    "PoissonGaussianFit",
    "PoissonNoise",
    "WhiteNoise",
    "bsc_patch_size",
    "choose_patch_size",
    "correlation_ratio",
    "decide_noise",
    "es3c_patch_size",
    "estimate_noise_acf",
    "estimate_noise_sigma",
    "estimate_poisson_gaussian",
    "exact_unbiased_inverse",
    "expected_gat",
    "gat",
    "gat_inverse",
    "gat_inverse_derivative",
    "gat_inverse_variance",
    "noise_covariance",
    "noise_model_named",
    "relative_noise",
]
