"""Image quality: PSNR and SSIM of an estimate against a clean reference.

Both take ``data_range`` (the span of possible values, e.g. 255 for 8-bit images); by default it is
the reference's own range ``reference.max() - reference.min()``. Pass it explicitly when comparing
numbers across images (the 0-255 scale of the denoising literature: ``data_range=255``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# SSIM constants of Wang et al. 2004, as in scikit-image's structural_similarity defaults.
_SSIM_WIN = 7
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def _pair(reference: object, estimate: object, name: str, ndim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference)
    est = np.asarray(estimate)
    for label, arr in (("reference", ref), ("estimate", est)):
        if arr.dtype.kind not in "uifb":
            raise ValueError(f"{name}: {label} has dtype {arr.dtype}, not real numbers")
    if ref.shape != est.shape:
        raise ValueError(f"{name}: shapes differ: reference {ref.shape}, estimate {est.shape}")
    if ref.size == 0:
        raise ValueError(f"{name}: empty arrays (shape {ref.shape})")
    if ndim is not None and ref.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim}-D images, got shape {ref.shape}")
    ref = ref.astype(np.float64)
    est = est.astype(np.float64)
    for label, arr in (("reference", ref), ("estimate", est)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}: {label} contains NaN or infinite values")
    return ref, est


def _range(ref: np.ndarray, data_range: float | None, name: str) -> float:
    if data_range is None:
        dr = float(ref.max() - ref.min())
        if dr <= 0:
            raise ValueError(f"{name}: the reference is constant; pass data_range explicitly")
        return dr
    dr = float(data_range)
    if not np.isfinite(dr) or dr <= 0:
        raise ValueError(f"{name}: data_range must be finite and > 0, got {data_range!r}")
    return dr


def psnr(reference: np.ndarray, estimate: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(data_range^2 / mean((reference - estimate)^2)).

    Arrays of any equal shape; ``inf`` when they are equal. ``data_range`` defaults to
    ``reference.max() - reference.min()``.
    """
    ref, est = _pair(reference, estimate, "psnr")
    dr = _range(ref, data_range, "psnr")
    mse = float(np.mean((ref - est) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(dr * dr / mse))


def _box_mean(a: np.ndarray, w: int) -> np.ndarray:
    """Mean over every fully inside w x w window: (R, C) -> (R-w+1, C-w+1). Separable sums."""
    rows = sliding_window_view(a, w, axis=0).sum(axis=-1)
    means: np.ndarray = sliding_window_view(rows, w, axis=1).sum(axis=-1) / (w * w)
    return means


def ssim(reference: np.ndarray, estimate: np.ndarray, data_range: float | None = None) -> float:
    """Mean structural similarity (Wang et al. 2004) of two 2-D images (R, C), R, C >= 7.

    Local statistics over a 7 x 7 uniform window with the sample covariance (normalised by 48),
    K1 = 0.01, K2 = 0.03, averaged over the windows that lie fully inside the image: the same
    number as ``skimage.metrics.structural_similarity(reference, estimate, data_range=...)`` with
    its defaults (which averages the same interior windows). 1 for equal images.
    ``data_range`` defaults to ``reference.max() - reference.min()``.
    """
    ref, est = _pair(reference, estimate, "ssim", ndim=2)
    if min(ref.shape) < _SSIM_WIN:
        raise ValueError(f"ssim: images must be at least {_SSIM_WIN} x {_SSIM_WIN}, got {ref.shape}")
    dr = _range(ref, data_range, "ssim")
    w = _SSIM_WIN
    n = w * w
    cov_norm = n / (n - 1.0)  # sample (unbiased) covariance
    mx = _box_mean(ref, w)
    my = _box_mean(est, w)
    # Second moments of mean-shifted data: the variances do not change, cancellation shrinks.
    xc = ref - ref.mean()
    yc = est - est.mean()
    mxc = mx - ref.mean()
    myc = my - est.mean()
    vx = cov_norm * (_box_mean(xc * xc, w) - mxc * mxc)
    vy = cov_norm * (_box_mean(yc * yc, w) - myc * myc)
    vxy = cov_norm * (_box_mean(xc * yc, w) - mxc * myc)
    c1 = (_SSIM_K1 * dr) ** 2
    c2 = (_SSIM_K2 * dr) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())
