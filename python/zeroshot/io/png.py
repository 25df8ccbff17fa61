"""PNG through pillow: 8- and 16-bit grayscale, with the pixel size in the pHYs chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.io.limits import HeaderCheck, check_declared
from zeroshot.io.pixelsize import PixelSize, pixel_size_from

# pHYs counts whole pixels per metre in a PNG four-byte integer (at most 2**31 - 1), so it can
# hold pixel sizes down to about 0.47 nm; smaller ones are not written.
_MAX_PIXELS_PER_METRE = 2**31 - 1
_METRES_PER_INCH = 0.0254


def read_png(path: Path, check: HeaderCheck | None = None) -> tuple[np.ndarray, PixelSize | None]:
    from PIL import Image

    try:
        with Image.open(path, formats=["PNG"]) as im:
            # Colour and palette images are decoded as RGBA: 4 bytes per pixel.
            dtype = np.dtype(np.uint16 if im.mode.startswith("I") else np.uint8)
            bands = 1 if im.mode in ("L", "1") or im.mode.startswith("I") else 4
            check_declared(check, path, (im.size[1], im.size[0], bands), dtype)
            im.load()  # decode now: a truncated or corrupt file fails here, not later
            data = _pil_to_array(im, path)
            dpi = im.info.get("dpi")  # present only when pHYs is in pixels per metre
    except ValueError:
        raise
    # UnidentifiedImageError, OSError (truncated file), DecompressionBombError, ...
    except Exception as exc:
        raise ValueError(f"{path}: not a readable PNG file ({exc})") from exc
    pixel_size = None
    if dpi and min(dpi) > 0:
        pixel_size = pixel_size_from(1.0 / dpi[1], "inch", 1.0 / dpi[0], "inch")
    return data, pixel_size


def _pil_to_array(im: Any, path: Path) -> np.ndarray:
    mode = im.mode
    if mode == "L":
        return np.array(im)
    if mode.startswith("I;16"):
        # I;16, I;16L, I;16B: 16-bit unsigned in either byte order -> native uint16.
        return np.array(im).astype(np.uint16)
    if mode == "I":
        # Older pillow opens 16-bit grayscale PNG as 32-bit mode "I"; PNG has no 32-bit grayscale.
        return np.array(im).astype(np.uint16)
    if mode == "1":
        return np.array(im.convert("L"))
    # Colour, alpha or palette modes: accept only an opaque image whose channels are all equal.
    rgba = np.array(im.convert("RGBA"))
    if not (rgba[..., 3] == 255).all():
        raise ValueError(f"{path}: image mode {mode} has transparency; zeroshot wants one opaque channel")
    r, g, b = rgba[..., 0], rgba[..., 1], rgba[..., 2]
    if not (np.array_equal(r, g) and np.array_equal(r, b)):
        raise ValueError(
            f"{path}: image mode {mode} (shape {(*rgba.shape[:2], len(im.getbands()))}) has "
            "colour channels that differ; zeroshot wants one channel (convert the image to "
            "grayscale first)"
        )
    return np.ascontiguousarray(r)


def write_png(path: Path, data: np.ndarray, pixel_size: PixelSize | None) -> None:
    """`data`: (R, C) uint8 or uint16."""
    from PIL import Image

    options: dict[str, Any] = {}
    if pixel_size is not None:
        per_metre = (1e9 / pixel_size.x, 1e9 / pixel_size.y)
        if max(per_metre) <= _MAX_PIXELS_PER_METRE and min(per_metre) >= 1:
            options["dpi"] = tuple(p * _METRES_PER_INCH for p in per_metre)
    with open(path, "wb") as fh:
        Image.fromarray(data).save(fh, format="PNG", **options)
