"""Separable Gaussian blur of a 2-D image with reflect padding (numpy only)."""

from __future__ import annotations

import math

import numpy as np

from zeroshot.maps.validation import as_image, as_number

__all__ = ["gaussian_blur", "gaussian_kernel"]

# The kernel is cut at this many standard deviations (the weight there is exp(-8) ~ 3e-4 of the
# centre's), as in scipy.ndimage.gaussian_filter's default.
_TRUNCATE = 4.0


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Weights exp(-k^2 / (2 sigma^2)) for k = -r..r, r = ceil(4 sigma), normalised to sum 1.

    sigma: standard deviation in pixels, > 0. Returns a (2 r + 1,) float64 array, symmetric.
    """
    sigma = as_number("sigma", sigma, minimum=0.0, exclusive_minimum=True)
    radius = max(1, math.ceil(_TRUNCATE * sigma))
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    with np.errstate(over="ignore"):  # a tiny sigma: (k / sigma)^2 = inf, weight exp(-inf) = 0
        z = k / sigma
        weights = np.exp(-0.5 * (z * z))
    normalised: np.ndarray = weights / weights.sum()
    return normalised


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of image (R, C) with standard deviation sigma pixels; (R, C) float64.

    sigma = 0 returns a float64 copy. Borders are padded by reflection about the pixel edge
    (numpy's "symmetric" mode, scipy.ndimage's "reflect": d c b a | a b c d | d c b a), so a
    constant image stays constant up to rounding. Rows, then columns, each by a fixed-order sum
    over the kernel's taps: deterministic. Cost: O(R C sigma).
    """
    values = as_image("image", image)
    sigma = as_number("sigma", sigma, minimum=0.0)
    if sigma == 0.0:
        return values.copy()
    kernel = gaussian_kernel(sigma)
    return _blur_along(_blur_along(values, kernel, axis=0), kernel, axis=1)


def _blur_along(values: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    radius = (kernel.size - 1) // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius)
    padded = np.pad(values, pad, mode="symmetric")  # reflects repeatedly if radius > the axis
    n = values.shape[axis]
    out = np.zeros_like(values)
    for k, weight in enumerate(kernel):
        window = padded[k : k + n] if axis == 0 else padded[:, k : k + n]
        out += weight * window
    return out
