"""zeroshot: zero-shot denoising and structure enhancement of noisy electron-microscopy images."""
from __future__ import annotations

from zeroshot._core import get_num_threads, has_openmp, set_num_threads

__all__ = ["get_num_threads", "has_openmp", "set_num_threads"]
__version__ = "0.1.0"
