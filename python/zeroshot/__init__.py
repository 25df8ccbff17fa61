"""zeroshot: zero-shot denoising and structure enhancement of noisy electron-microscopy images.

    import zeroshot
    result = zeroshot.denoise(noisy)      # noisy: 2-D array; result.denoised, result.noise_sigma, ...
    relief = zeroshot.enhance(noisy, "relief")   # structure from the posterior variance: .values, .display
"""
from __future__ import annotations

from zeroshot._core import get_num_threads, has_openmp, set_num_threads
from zeroshot.config import DenoiseConfig, EvoConfig
from zeroshot.denoise import DenoiseResult, denoise
from zeroshot.enhance import EnhanceResult, RenderSettings, enhance

__all__ = [
    "DenoiseConfig",
    "DenoiseResult",
    "EnhanceResult",
    "EvoConfig",
    "RenderSettings",
    "denoise",
    "enhance",
    "get_num_threads",
    "has_openmp",
    "set_num_threads",
]
__version__ = "0.1.0"
