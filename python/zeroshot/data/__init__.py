"""Sample images: one real cryo-ET slice of SARS-CoV-2 virions shipped with the package, the simulated
micrograph of virus particles and a simulated tomogram (a volume with its clean truth), both made in code.

    image = zeroshot.data.sarscov2()            # EMImage: data (928, 960) uint8, pixel_size None
    print(zeroshot.data.sarscov2_provenance())  # where it comes from and its licence (CC0 upstream, MIT)
    clean, noisy = zeroshot.data.simulated_virus(256)   # SIMULATED (not real) image and a noisy version
    tomo = zeroshot.data.simulated_tomogram((64, 256, 256))   # SIMULATED volume: .clean, .noisy, .noise_psd()

The real slice is the whole 960 x 928 slice 133 of tomogram TS_001 of the CZ CryoET Data Portal's dataset 10006
(Ke et al., Nature 2020), as repackaged by the MIT-licensed R package cryoCompare; its pixels are unchanged,
stored as a lossless PNG (325 kB). ``sarscov2_cryoet.txt`` beside it gives the source, commits and licences.
"""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np

from zeroshot.data.tomogram import SimulatedTomogram, simulated_tomogram
from zeroshot.io import EMImage, read_em
from zeroshot.simulate import add_tem_noise, simulated_micrograph

__all__ = [
    "SARSCOV2_BACKGROUND",
    "SARSCOV2_VIRIONS",
    "SimulatedTomogram",
    "SimulatedVirus",
    "crop_around",
    "sarscov2",
    "sarscov2_provenance",
    "simulated_tomogram",
    "simulated_virus",
]

SARSCOV2_FILE = "sarscov2_cryoet.png"
SARSCOV2_PROVENANCE_FILE = "sarscov2_cryoet.txt"
SARSCOV2_SHAPE = (928, 960)
# (row, column) of the middle of the three virions in the slice: the centre of `zeroshot demo --real`'s crop.
SARSCOV2_VIRIONS = (470, 390)
# A background region with no visible structure, (row slice, column slice), chosen by looking at the slice:
# the gap right of the virions and left of the cell's filaments (bench/noise_quality.py measures noise there).
SARSCOV2_BACKGROUND = (slice(260, 380), slice(470, 610))


def sarscov2() -> EMImage:
    """The real cryo-ET slice of SARS-CoV-2 virions: data (928, 960) uint8 (dense material dark), pixel_size
    None (not known reliably: see sarscov2_provenance()), path of the bundled PNG, format "PNG"."""
    with resources.as_file(resources.files(__name__) / SARSCOV2_FILE) as path:
        image = read_em(path)
    if image.data.shape != SARSCOV2_SHAPE or image.data.dtype != np.uint8:
        raise ValueError(f"{image.path}: expected a {SARSCOV2_SHAPE} uint8 image, got {image.data.shape} {image.dtype}")
    return image


def sarscov2_provenance() -> str:
    """The provenance and licence text shipped beside the real slice (source, commit, upstream, CC0 / MIT)."""
    return (resources.files(__name__) / SARSCOV2_PROVENANCE_FILE).read_text(encoding="utf-8")


def crop_around(image: np.ndarray, centre: tuple[int, int], size: int) -> np.ndarray:
    """The size x size window of `image` (R, C) centred on `centre` (row, column), moved inside the image;
    the whole side where the image is smaller than `size`. A view, (min(size, R), min(size, C))."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    starts = []
    for length, middle in zip(image.shape[:2], centre):
        side = min(size, length)
        starts.append((min(max(middle - side // 2, 0), length - side), side))
    (r0, rows), (c0, cols) = starts
    return image[r0 : r0 + rows, c0 : c0 + cols]


class SimulatedVirus(NamedTuple):
    """A SIMULATED (not real) TEM-like micrograph of virus particles and a noisy observation of it, (size,
    size) float64 each on the [0, 1] intensity scale (zeroshot.simulate)."""

    clean: np.ndarray
    noisy: np.ndarray


def simulated_virus(size: int = 256, seed: int = 0) -> SimulatedVirus:
    """(clean, noisy): `zeroshot.simulate.simulated_micrograph(size, seed)` and its low-dose TEM noise
    (`add_tem_noise`, dose 50, readout sigma 2, noise seed `seed + 1`; about 16 dB PSNR). The image of
    `zeroshot demo` (size 256, seed 0). Deterministic for (size, seed)."""
    clean = simulated_micrograph(size, seed=seed)
    return SimulatedVirus(clean, add_tem_noise(clean, seed=seed + 1))
