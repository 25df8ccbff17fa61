"""napari layer data tuples of images, and a layer's scale to and from a pixel size in nanometres (Qt-free)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zeroshot.io import PixelSize, nm_per_unit

# (data, layer keyword arguments, layer type): what napari's readers, samples and add_layer take.
LayerData = tuple[Any, dict[str, Any], str]
# The unit of the two image axes a layer with a pixel size gets.
NM = "nm"


def scale_of(pixel_size: PixelSize | None, ndim: int) -> tuple[float, ...]:
    """The napari scale of an image of `ndim` axes (2, or 3 for a stack of frames): the pixel size in nm on
    the rows and columns (1 without one), 1 on the frame axis."""
    y, x = (1.0, 1.0) if pixel_size is None else (pixel_size.y, pixel_size.x)
    return (1.0,) * (ndim - 2) + (y, x)


def units_of(pixel_size: PixelSize | None, ndim: int) -> tuple[str, ...] | None:
    """The napari units of such an image: nm on the rows and columns when the pixel size is known, else None
    (napari's default, pixels)."""
    return None if pixel_size is None else ("pixel",) * (ndim - 2) + (NM, NM)


# The names napari (pint) and users give the unit of an axis in pixels.
PIXEL_UNITS = ("pixel", "pixels", "px", "")


def pixel_size_of(scale: Sequence[float], units: Sequence[Any] | None = None) -> PixelSize | None:
    """The pixel size in nm of a layer with this scale (and units, names or pint units, one per axis) on its
    last two axes. A length unit converts to nm; without units (or in pixels) the scale is read as nm, and
    a scale of 1 on both axes means no pixel size. None when the scale is not positive and finite; a
    ValueError for a unit that is neither a length nor pixels."""
    if len(scale) < 2:
        return None
    y, x = (float(s) for s in scale[-2:])
    unit_names = [str(u) for u in units[-2:]] if units is not None and len(units) >= 2 else ["pixel", "pixel"]
    factors = [nm_per_unit(name) for name in unit_names]
    for name, factor in zip(unit_names, factors):
        if factor is None and name.strip().lower() not in PIXEL_UNITS:
            raise ValueError(f"unit {name!r} is neither a length (nm, Å, µm, ...) nor pixels")
    if all(f is None for f in factors) and y == 1.0 and x == 1.0:
        return None
    y_nm, x_nm = (value * (1.0 if f is None else f) for value, f in zip((y, x), factors))
    if not all(np.isfinite(v) and v > 0 for v in (y_nm, x_nm)):
        return None
    return PixelSize(y=y_nm, x=x_nm)


def image_layer(
    data: np.ndarray,
    name: str,
    scale: Sequence[float],
    translate: Sequence[float] | None = None,
    units: Sequence[Any] | None = None,
    **properties: Any,
) -> LayerData:
    """The layer data tuple of an image layer `name` with this geometry and any further Image properties
    (colormap, contrast_limits, visible, metadata, ...)."""
    meta: dict[str, Any] = {"name": name, "scale": tuple(float(s) for s in scale)}
    if translate is not None:
        meta["translate"] = tuple(float(t) for t in translate)
    if units is not None:
        meta["units"] = tuple(str(u) for u in units)
    meta.update(properties)
    return (data, meta, "image")


def percentile_limits(values: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """Contrast limits from the `low` and `high` percentiles of `values`, widened where they coincide."""
    lo, hi = (float(p) for p in np.percentile(values, [low, high]))
    if not hi > lo:
        lo, hi = float(np.min(values)), float(np.max(values))
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi
