"""Noise of the image, from the image alone.

patch_size: a quick noise level before learning and the patch size it suggests; statistics: the noise ACF,
the covariance Σ of P × P patches and a structure-robust correlation test; signal_dependent: gain, offset and
read noise of Poisson–Gaussian noise; anscombe: the generalized Anscombe transform and its exact unbiased
inverse; model: the noise model of a run (`decide_noise`, `NoiseModel`).
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
from zeroshot.noise.model import NOISE_MODELS, NoiseModel, decide_noise
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
from zeroshot.noise.signal_dependent import PoissonGaussianFit, estimate_poisson_gaussian
from zeroshot.noise.statistics import NoiseACF, correlation_ratio, estimate_noise_acf, noise_covariance

__all__ = [
    "ES3C_P0",
    "ES3C_P_RANGE",
    "ES3C_P_SLOPE",
    "LARGE_PATCH",
    "LARGE_PATCH_RELATIVE_NOISE",
    "NOISE_MODELS",
    "SMALL_PATCH",
    "NoiseACF",
    "NoiseModel",
    "PatchRule",
    "PoissonGaussian",
    "PoissonGaussianFit",
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
    "relative_noise",
]
