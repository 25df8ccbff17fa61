"""TIFF through tifffile: 8/16/32-bit integers, 32/64-bit floats, stacks of pages, pixel size.

Where the pixel size is read from, first found wins:
1. FEI/Thermo Fisher metadata (``[Scan] PixelWidth/PixelHeight`` in metres), which their
   microscopes write next to resolution tags that only hold a screen resolution;
2. ImageJ metadata ``unit=...``: then X/YResolution are pixels per that unit (ImageJ's rule);
3. X/YResolution with ResolutionUnit inch or centimetre (inch when the tag is absent, as the
   TIFF specification says); ResolutionUnit "none" means no pixel size.

What is written: where ImageJ can hold the dtype (uint8, int16, uint16, float32, the default float32
output included), an ImageJ TIFF as Fiji writes it: X/YResolution in pixels per nm, ResolutionUnit
none, ``unit=nm`` in the ImageJ description, stacks as ImageJ slices. Other dtypes: a plain TIFF
with X/YResolution in pixels per centimetre and ResolutionUnit centimetre.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.io.limits import DeclaredSizeError, HeaderCheck, check_declared
from zeroshot.io.pixelsize import PixelSize, pixel_size_from

IMAGEJ_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.int16, np.uint16, np.float32))
# TIFF ResolutionUnit values (4 and 5 are tifffile's own extensions, read but never written).
_RESOLUTION_UNITS = {2: "inch", 3: "cm", 4: "mm", 5: "µm"}


def read_tiff(path: Path, check: HeaderCheck | None = None) -> tuple[np.ndarray, PixelSize | None]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            _check_one_series(path, tif.series)
            series = tif.series[0]
            axes, shape = series.axes, tuple(series.shape)
            colour = "S" in axes and shape[axes.index("S")] > 1
            if not colour:  # the pages' shape and dtype from their tags, before any strip is decompressed
                check_declared(check, path, shape, np.dtype(series.dtype))
            data = None if colour else series.asarray()
            pixel_size = _pixel_size(tif, series.keyframe)
    except (DeclaredSizeError, _SeveralImages):
        raise
    except Exception as exc:  # TiffFileError, short reads, zlib.error of cut compressed data, ...
        raise ValueError(f"{path}: not a readable TIFF file ({type(exc).__name__}: {exc})") from exc
    if data is None:
        raise ValueError(
            f"{path}: is a colour or multi-sample TIFF (axes {axes}, shape {shape}); zeroshot "
            "reads one channel (convert it to grayscale first)"
        )
    return data, pixel_size


class _SeveralImages(ValueError):
    """The file holds images of different shapes or dtypes (tifffile's series)."""


def _check_one_series(path: Path, series: list[Any]) -> None:
    """One image or one stack of pages of one shape and dtype: no other image is dropped without a word
    (reduced-resolution copies are levels of their series, not series of their own)."""
    if len(series) > 1:
        shown = ", ".join(f"{tuple(s.shape)} {s.dtype}" for s in series[:4]) + (", ..." if len(series) > 4 else "")
        raise _SeveralImages(
            f"{path}: holds {len(series)} images of different shapes or dtypes ({shown}); zeroshot reads one "
            "image or a stack of one shape: save each image to a file of its own"
        )


def _pixel_size(tif: Any, page: Any) -> PixelSize | None:
    fei = tif.fei_metadata if tif.is_fei else None
    scan = fei.get("Scan", {}) if fei else {}
    if "PixelWidth" in scan:
        width = scan["PixelWidth"]
        return pixel_size_from(scan.get("PixelHeight", width), "m", width, "m")

    tags = page.tags
    if "XResolution" not in tags:
        return None
    x_per_unit = _rational(tags["XResolution"].value)
    y_per_unit = _rational(tags["YResolution"].value) if "YResolution" in tags else x_per_unit
    if not (x_per_unit > 0 and y_per_unit > 0):
        return None
    imagej = tif.imagej_metadata if tif.is_imagej else None
    if imagej and imagej.get("unit"):
        unit = str(imagej["unit"])
    else:
        code = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
        if code not in _RESOLUTION_UNITS:
            return None
        unit = _RESOLUTION_UNITS[code]
    return pixel_size_from(1.0 / y_per_unit, unit, 1.0 / x_per_unit, unit)


def _rational(value: Any) -> float:
    """A TIFF RATIONAL tag value, (numerator, denominator), as a float; 0 when undefined."""
    try:
        numerator, denominator = value
        return float(numerator) / float(denominator) if denominator else 0.0
    except (TypeError, ValueError):
        return 0.0


def write_tiff(path: Path, data: np.ndarray, pixel_size: PixelSize | None) -> None:
    """`data`: (R, C) image or (F, R, C) stack of pages."""
    import tifffile

    options: dict[str, Any] = {"photometric": "minisblack"}
    if data.dtype in IMAGEJ_DTYPES:
        metadata: dict[str, Any] = {"axes": "ZYX" if data.ndim == 3 else "YX"}
        if pixel_size is not None:
            y, x = pixel_size.in_unit("nm")
            options["resolution"] = (1.0 / x, 1.0 / y)
            metadata["unit"] = "nm"
        tifffile.imwrite(path, data, imagej=True, metadata=metadata, **options)
    else:
        if pixel_size is not None:
            y, x = pixel_size.in_unit("cm")
            options["resolution"] = (1.0 / x, 1.0 / y)
            options["resolutionunit"] = "CENTIMETER"
        tifffile.imwrite(path, data, **options)
