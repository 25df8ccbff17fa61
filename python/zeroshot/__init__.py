"""zeroshot: zero-shot denoising and structure enhancement of noisy electron-microscopy images.

import zeroshot
image = zeroshot.read_em("in.mrc")    # EMImage: data (R, C) or (F, R, C), pixel_size (nm) or None
result = zeroshot.denoise(image.data)  # 2-D array; result.denoised, result.noise_sigma, ...
relief = zeroshot.enhance(image.data, "relief")   # structure from the posterior variance: .values, .display
sample = zeroshot.data.sarscov2()      # a real cryo-ET slice of SARS-CoV-2 virions shipped with the package
"""

from __future__ import annotations

from importlib.metadata import version

from zeroshot import data
from zeroshot._core import get_num_threads, has_openmp, set_num_threads
from zeroshot.config import DenoiseConfig, EvoConfig
from zeroshot.denoise import DenoiseResult, denoise
from zeroshot.enhance import EnhanceResult, RenderSettings, enhance
from zeroshot.io import EMImage, PixelSize, read_em, write_em
from zeroshot.runtime.interrupt import TrainingInterrupted

__all__ = [
    "DenoiseConfig",
    "DenoiseResult",
    "EMImage",
    "EnhanceResult",
    "EvoConfig",
    "PixelSize",
    "RenderSettings",
    "TrainingInterrupted",
    "data",
    "denoise",
    "enhance",
    "get_num_threads",
    "has_openmp",
    "read_em",
    "set_num_threads",
    "write_em",
]
__version__ = version("zeroshot")  # one home: pyproject.toml
