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

    A kernel wider than an axis of n pixels is folded onto the 2 n offsets the reflections repeat
    with (the same sums in another order), so the cost stays O(R C n) along that axis; a sigma above
    _UNIFORM_SIGMAS n gives the axis mean (the folded kernel is uniform there but for the truncation).
    """
    values = as_image("image", image)
    sigma = as_number("sigma", sigma, minimum=0.0)
    if sigma == 0.0:
        return values.copy()
    radius = max(1, math.ceil(_TRUNCATE * sigma))
    kernel = gaussian_kernel(sigma) if radius <= max(values.shape) else None
    return _blur_along(_blur_along(values, sigma, kernel, axis=0), sigma, kernel, axis=1)


# Beyond this many pixels per pixel of the axis, sigma blurs an axis to its mean.
_UNIFORM_SIGMAS = 8.0


def _folded_kernel(sigma: float, n: int) -> np.ndarray:
    """The taps of gaussian_kernel(sigma) summed over offsets that the reflections of an axis of n pixels
    map to the same pixel: (2 n,) for the offsets -n .. n - 1."""
    kernel = gaussian_kernel(sigma)
    radius = (kernel.size - 1) // 2
    folded = np.zeros(2 * n)
    np.add.at(folded, (np.arange(-radius, radius + 1) + n) % (2 * n), kernel)
    return folded


def _blur_along(values: np.ndarray, sigma: float, kernel: np.ndarray | None, axis: int) -> np.ndarray:
    n = values.shape[axis]
    radius = max(1, math.ceil(_TRUNCATE * sigma))
    if radius > n:
        if sigma > _UNIFORM_SIGMAS * n:
            return np.broadcast_to(values.mean(axis=axis, keepdims=True), values.shape).copy()
        kernel, radius = _folded_kernel(sigma, n), n
    elif kernel is None:
        kernel = gaussian_kernel(sigma)
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius)
    padded = np.pad(values, pad, mode="symmetric")  # one reflection: radius <= n
    out = np.zeros_like(values)
    for k, weight in enumerate(kernel):
        window = padded[k : k + n] if axis == 0 else padded[:, k : k + n]
        out += weight * window
    return out
