"""Renderings of the posterior maps: robust stretch, variance images, shaded relief, detail boost.

All functions take (R, C) real finite arrays, return (R, C) arrays (float64; to_uint8: uint8),
are deterministic (the same input gives bitwise the same output) and raise ValueError naming a bad
argument.

- stretch / percentile_normalize / to_uint8: robust percentile mapping to [0, 1], and to 8 bit.
- render_variance: the variance map V, or its square root, stretched to [0, 1].
- hillshade: Lambertian shaded relief of a height field (sqrt(V) or the denoised image).
- detail_enhance: boost the detail layer of the denoised image where the posterior is confident.
"""

from __future__ import annotations

import math

import numpy as np

from zeroshot.maps.blur import gaussian_blur
from zeroshot.maps.validation import as_image, as_number

__all__ = [
    "detail_enhance",
    "hillshade",
    "percentile_normalize",
    "render_variance",
    "stretch",
    "to_uint8",
]


# Smallest percentile span of values scaled to [-1, 1] that is used as the stretch's range.
_MIN_SPAN = 4 * float(np.finfo(np.float64).tiny)


def _percentiles(low: float, high: float) -> tuple[float, float]:
    low = as_number("low", low, minimum=0.0, maximum=100.0)
    high = as_number("high", high, minimum=0.0, maximum=100.0)
    if not low < high:
        raise ValueError(f"percentiles must satisfy low < high, got low={low:g}, high={high:g}")
    return low, high


def percentile_normalize(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """(image - p_low) / (p_high - p_low) with p_q the q-th percentile of image, not clipped.

    If p_high == p_low (nearly constant image; also when their span is below 1e-307 of the largest
    |value|) the minimum and maximum are used instead; a constant image gives 0 everywhere.
    Useful to make a height field unit-free before hillshade.
    """
    values = as_image("image", image)
    low, high = _percentiles(low, high)
    # Work on unit = values / max|values|, in [-1, 1]: the span hi - lo cannot overflow, and
    # (unit - lo) / span <= 2 / span stays finite for span >= _MIN_SPAN.
    peak = float(np.max(np.abs(values)))
    if peak == 0.0:
        return np.zeros_like(values)
    unit = values / peak
    lo, hi = (float(p) for p in np.percentile(unit, [low, high]))
    if not hi - lo >= _MIN_SPAN:
        # min and max of unit differ by 0 or by at least the rounding step at 1 (one of them is +-1)
        lo, hi = float(unit.min()), float(unit.max())
    if not hi > lo:
        return np.zeros_like(values)
    return (unit - lo) / (hi - lo)


def stretch(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Robust contrast stretch to [0, 1]: the low-th percentile maps to 0, the high-th to 1.

    Values outside are clipped, so a few extreme pixels do not decide the contrast. A constant
    image gives 0 everywhere (never NaN). See percentile_normalize for the nearly constant case.
    """
    clipped: np.ndarray = np.clip(percentile_normalize(image, low, high), 0.0, 1.0)
    return clipped


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """[0, 1] -> 0..255 by rounding to nearest; (R, C) uint8. Values outside [0, 1] raise."""
    values = as_image("unit", unit)
    if values.min() < 0.0 or values.max() > 1.0:
        raise ValueError(
            f"unit must lie in [0, 1], got values in [{values.min():g}, {values.max():g}]; stretch() it first"
        )
    return np.rint(values * 255.0).astype(np.uint8)


def render_variance(variance: np.ndarray, *, sqrt: bool = False, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """The variance map V (or sqrt(V), the posterior standard deviation) stretched to [0, 1].

    variance: (R, C), finite, >= 0. sqrt=True compresses the bright tail, which shows more of the
    structure of low-variance regions.
    """
    values = _as_nonnegative("variance", variance)
    return stretch(np.sqrt(values) if sqrt else values, low, high)


def _as_nonnegative(name: str, variance: np.ndarray) -> np.ndarray:
    values = as_image(name, variance)
    if values.min() < 0.0:
        r, c = np.unravel_index(int(np.argmin(values)), values.shape)
        raise ValueError(
            f"{name} must be >= 0, got {values[r, c]} at pixel ({r}, {c}); clamp any rounding noise before rendering"
        )
    return values


def _slopes(height: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d height / d col and d height / d row: central differences inside, one-sided at the border,
    0 along an axis of length 1. Exact for a plane."""
    grads = []
    for axis in (1, 0):
        if height.shape[axis] > 1:
            grads.append(np.gradient(height, axis=axis))
        else:
            grads.append(np.zeros_like(height))
    return grads[0], grads[1]


def hillshade(
    height: np.ndarray,
    azimuth: float = 315.0,
    elevation: float = 45.0,
    z_factor: float = 1.0,
    smoothing: float = 1.0,
) -> np.ndarray:
    """Shaded relief of a height field (R, C) lit from one direction; (R, C) float64 in [0, 1].

    azimuth: direction the light comes from, in degrees clockwise from the top of the image
        (north): 315 = top left, the cartographic convention (relief then reads as raised).
    elevation: angle of the light above the horizon in degrees, in [0, 90].
    z_factor: multiplies the height to convert its units into pixel units (> 0). Heights are
        used in their own units: pass a height in grey levels with z_factor 1 for a slope of one
        grey level per pixel = 45 degrees, or make it unit-free first with percentile_normalize
        and choose z_factor = the relief (in pixels) of its robust range.
    smoothing: standard deviation in pixels of a Gaussian blur applied to the height first
        (reflect padding; 0 = none), which keeps pixel-level noise from dominating the slopes.

    With slopes p = dz/dx (x to the right, east) and q = dz/dy (y to the top, north), by central
    differences, the surface normal is n = (-p, -q, 1) / sqrt(1 + p^2 + q^2) and the light
    direction l = (cos e sin a, cos e cos a, sin e); the shade is Lambert's max(0, n . l):

        shade = sin(e) cos(s) - cos(e) sin(s) (p sin a + q cos a) / g,   g = hypot(p, q),
        s = arctan(g) (the slope angle),

    the standard hill-shade formula written without overflow for steep slopes. A flat field gives
    sin(elevation); faces turned away from the light by more than 90 degrees are 0.
    """
    values = as_image("height", height)
    azimuth = as_number("azimuth", azimuth)
    elevation = as_number("elevation", elevation, minimum=0.0, maximum=90.0)
    z_factor = as_number("z_factor", z_factor, minimum=0.0, exclusive_minimum=True)
    smoothing = as_number("smoothing", smoothing, minimum=0.0)

    surface = gaussian_blur(values, smoothing) if smoothing > 0 else values
    with np.errstate(over="ignore"):  # reported below
        d_col, d_row = _slopes(surface)
        p = z_factor * d_col
        q = -z_factor * d_row  # rows grow downwards, north is up
    if not (np.isfinite(p).all() and np.isfinite(q).all()):
        raise ValueError(
            f"slopes of height * z_factor overflow (z_factor={z_factor:g}, height in "
            f"[{values.min():g}, {values.max():g}]); scale the height down"
        )
    a, e = math.radians(azimuth), math.radians(elevation)
    g = np.hypot(p, q)
    # cosine of the angle between the uphill direction and the direction towards the light
    uphill_x, uphill_y = np.zeros_like(g), np.zeros_like(g)
    np.divide(p, g, out=uphill_x, where=g > 0)
    np.divide(q, g, out=uphill_y, where=g > 0)
    towards_light = uphill_x * math.sin(a) + uphill_y * math.cos(a)
    s = np.arctan(g)
    shade = math.sin(e) * np.cos(s) - math.cos(e) * np.sin(s) * towards_light
    return np.clip(shade, 0.0, 1.0)


def detail_enhance(
    denoised: np.ndarray,
    std: np.ndarray,
    amount: float = 1.0,
    radius: float = 2.0,
    std_factor: float = 1.0,
) -> np.ndarray:
    """Uncertainty-gated detail enhancement of the denoised image; (R, C) float64, same units.

    denoised: posterior mean (R, C); std: posterior standard deviation (R, C), finite, >= 0, in
    the same units (sqrt of the variance map).

    With base = blur(denoised, radius) and detail = denoised - base (Gaussian blur, reflect
    padding), the local detail power d2 = blur(detail^2, radius) and the local posterior variance
    u2 = blur(std^2, radius):

        out  = denoised + amount * w * detail,
        w    = d2 / (d2 + std_factor^2 u2)   in [0, 1]   (w = 0 where d2 = u2 = 0).

    w is the Wiener weight: the fraction of the local detail power that stands above the posterior
    uncertainty. Detail much stronger than the posterior standard deviation is structure the
    model is sure of and is amplified by up to 1 + amount; detail at or below that level may be
    residual noise or a guess of the model and is left (nearly) as it is, never amplified. The
    gain varies smoothly, needs no threshold and is unit-free: scaling denoised and std together
    scales the output, and adding a constant to denoised adds it to the output. std = 0 gives
    denoised + amount * detail (an unsharp mask); std -> infinity gives denoised back.

    amount >= 0 (default 1: confident detail doubled); radius > 0 in pixels (default 2: the
    detail layer holds structures up to about 2 radius = 4 pixels across); std_factor > 0
    (default 1: half gain where the detail equals one posterior standard deviation).
    """
    image = as_image("denoised", denoised)
    sigma = _as_nonnegative("std", std)
    if sigma.shape != image.shape:
        raise ValueError(f"std has shape {sigma.shape} but denoised has shape {image.shape}")
    amount = as_number("amount", amount, minimum=0.0)
    radius = as_number("radius", radius, minimum=0.0, exclusive_minimum=True)
    std_factor = as_number("std_factor", std_factor, minimum=0.0, exclusive_minimum=True)

    detail = image - gaussian_blur(image, radius)
    # w is unchanged by a common scale of detail and std: divide by the largest of them so that
    # the squares cannot overflow.
    scale = max(float(np.max(np.abs(detail))), float(sigma.max()))
    if scale == 0.0:
        return image.copy()  # as_image may have returned the caller's array
    unit_detail, unit_sigma = detail / scale, sigma / scale
    detail_power = gaussian_blur(unit_detail * unit_detail, radius)
    uncertainty_power = std_factor**2 * gaussian_blur(unit_sigma * unit_sigma, radius)
    total = detail_power + uncertainty_power
    weight = np.zeros_like(total)
    np.divide(detail_power, total, out=weight, where=total > 0)
    enhanced: np.ndarray = image + amount * weight * detail
    return enhanced
