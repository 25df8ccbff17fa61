"""zeroshot: zero-shot denoising and structure enhancement of noisy electron-microscopy images.

import zeroshot
image = zeroshot.read_em("in.mrc")    # EMImage: data (R, C) or (F, R, C), pixel_size (nm) or None
result = zeroshot.denoise(image.data)  # 2-D array; result.denoised, result.noise_sigma, ...
model = zeroshot.train([a, b, c])      # one model of several images: model.save("model.npz")
result = zeroshot.denoise(d, model=model)   # or model="model.npz": inference at the model's parameters
relief = zeroshot.enhance(image.data, "relief")   # structure from the posterior variance: .values, .display
sample = zeroshot.data.sarscov2()      # a real cryo-ET slice of SARS-CoV-2 virions shipped with the package
"""

from __future__ import annotations

import os

# The core's OpenMP threads sleep when idle instead of spinning, before the core loads OpenMP: between its kernel
# calls numpy's BLAS threads then have the cores (bench/volume_memory.py: a 1024² tomogram slice's CPU time 3.9 ->
# 3.75-4.0 s, its wall time 2.03 -> 1.74-2.09 s over three runs on 2 cores; bench/RESULTS.md "Session 14"). A
# policy the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Likewise OpenBLAS's threads (numpy's, where zeroshot is imported first, as by the CLI) sleep at once after a
# product instead of spinning for about 2^28 cycles, which took 12 % of a tomogram slice's CPU time from the core's
# threads on 2 cores (perf; bench/RESULTS.md "Session 15"). The products keep all their threads.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from zeroshot import data
from zeroshot._core import get_num_threads, has_openmp, set_num_threads
from zeroshot.config import DenoiseConfig, EvoConfig
from zeroshot.denoise import DenoiseResult, denoise
from zeroshot.enhance import EnhanceResult, RenderSettings, enhance
from zeroshot.io import EMImage, PixelSize, read_em, write_em
from zeroshot.pipeline.trained import ModelMismatchWarning, TrainedModel
from zeroshot.runtime.interrupt import TrainingInterrupted
from zeroshot.train import train
from zeroshot.version import package_version
from zeroshot.volume import VolumeResult, denoise_volume

__all__ = [
    "DenoiseConfig",
    "DenoiseResult",
    "EMImage",
    "EnhanceResult",
    "EvoConfig",
    "ModelMismatchWarning",
    "PixelSize",
    "RenderSettings",
    "TrainedModel",
    "TrainingInterrupted",
    "VolumeResult",
    "data",
    "denoise",
    "denoise_volume",
    "enhance",
    "get_num_threads",
    "has_openmp",
    "read_em",
    "set_num_threads",
    "train",
    "write_em",
]
__version__ = package_version()  # one home: pyproject.toml
