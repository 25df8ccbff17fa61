"""napari's sample data: the bundled cryo-ET slice of SARS-CoV-2 virions (whole, and a small crop quick to
denoise) and the simulated virus image of `zeroshot demo` (Qt-free)."""

from __future__ import annotations

import numpy as np

from zeroshot.data import SARSCOV2_VIRIONS, crop_around, sarscov2, simulated_virus
from zeroshot.napari._layers import LayerData, image_layer, percentile_limits, scale_of

# The side of the quick crop around the virions: a denoise with small settings takes seconds.
CROP_SIZE = 192
SIMULATED_SIZE = 256


def sarscov2_slice() -> list[LayerData]:
    """The whole real slice, (928, 960) uint8, no pixel size (not known reliably); its grey scale stretched over
    the 0.5-99.5 percentiles, as are the crop's."""
    image = sarscov2()
    limits = percentile_limits(image.data)
    return [image_layer(image.data, "SARS-CoV-2 cryo-ET slice", scale_of(image.pixel_size, 2), contrast_limits=limits)]


def sarscov2_crop() -> list[LayerData]:
    """A CROP_SIZE x CROP_SIZE crop of the slice around the virions, placed where it lies in the slice."""
    image = sarscov2()
    crop = crop_around(image.data, SARSCOV2_VIRIONS, CROP_SIZE)
    origin = _origin(image.data, crop)
    return [
        image_layer(
            np.ascontiguousarray(crop),
            "SARS-CoV-2 virions (crop)",
            scale_of(image.pixel_size, 2),
            translate=origin,
            contrast_limits=percentile_limits(crop),
        )
    ]


def simulated_virus_image() -> list[LayerData]:
    """The SIMULATED image of `zeroshot demo`: the noisy image, and its noise-free truth as a hidden layer."""
    clean, noisy = simulated_virus(SIMULATED_SIZE, seed=0)
    scale = scale_of(None, 2)
    return [
        image_layer(clean, "simulated virus (truth)", scale, visible=False),
        image_layer(noisy, "simulated virus (noisy)", scale),
    ]


def _origin(whole: np.ndarray, view: np.ndarray) -> tuple[float, float]:
    """(row, column) of a view's first pixel in the array it views."""
    offset = view.__array_interface__["data"][0] - whole.__array_interface__["data"][0]
    row, col = divmod(offset // whole.itemsize, whole.shape[1])
    return float(row), float(col)
