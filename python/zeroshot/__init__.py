"""zeroshot: zero-shot denoising and structure enhancement of noisy electron-microscopy images.

    import zeroshot
    result = zeroshot.denoise(noisy)      # noisy: 2-D array; result.denoised, result.noise_sigma, ...
    image = zeroshot.read_em("in.mrc")    # EMImage: data (R, C) or (F, R, C), pixel_size (nm) or None
"""
from __future__ import annotations

from zeroshot._core import get_num_threads, has_openmp, set_num_threads
from zeroshot.config import DenoiseConfig, EvoConfig
from zeroshot.denoise import DenoiseResult, denoise
from zeroshot.imageio import EMImage, PixelSize, read_em, write_em

__all__ = [
    "DenoiseConfig",
    "DenoiseResult",
    "EMImage",
    "EvoConfig",
    "PixelSize",
    "denoise",
    "get_num_threads",
    "has_openmp",
    "read_em",
    "set_num_threads",
    "write_em",
]
__version__ = "0.1.0"
