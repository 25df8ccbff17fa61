"""A minimal DigitalMicrograph 3 writer for tests: one float32 image with a calibrated pixel size.

DM3 is a tree of tag groups and data tags. Structure fields are big-endian; the values of data
tags are in the byte order the header names (little-endian here). A data tag is "%%%%", the length
of its info array, the info array (1: [type] of a single value; 3: [20, element type, length] of an
array), then the value(s). Type codes used: 3 int32, 4 uint16 (characters of strings), 6 float32.
"""

from __future__ import annotations

import struct

import numpy as np

_INT32, _CHAR16, _FLOAT32, _ARRAY = 3, 4, 6, 20


def _name(tag_kind: int, name: str) -> bytes:
    raw = name.encode("ascii")
    return struct.pack(">bh", tag_kind, len(raw)) + raw


def _group(name: str, entries: list[bytes]) -> bytes:
    return _name(20, name) + struct.pack(">bbi", 0, 1, len(entries)) + b"".join(entries)


def _value(name: str, code: int, fmt: str, value: float) -> bytes:
    return _name(21, name) + b"%%%%" + struct.pack(">ii", 1, code) + struct.pack("<" + fmt, value)


def _array(name: str, code: int, raw: bytes, length: int) -> bytes:
    return _name(21, name) + b"%%%%" + struct.pack(">iiii", 3, _ARRAY, code, length) + raw


def _text(name: str, text: str) -> bytes:
    return _array(name, _CHAR16, text.encode("utf-16-le"), len(text))


def _calibration(name: str, scale: float, units: str) -> bytes:
    return _group(
        name,
        [
            _value("Origin", _FLOAT32, "f", 0.0),
            _value("Scale", _FLOAT32, "f", scale),
            _text("Units", units),
        ],
    )


def dm3_bytes(image: np.ndarray, scale_yx: tuple[float, float], units: str) -> bytes:
    """A DM3 file holding `image` (R, C) as float32, with the pixel size `scale_yx` in `units`."""
    rows, cols = image.shape
    data = np.ascontiguousarray(image, dtype="<f4")
    image_data = _group(
        "ImageData",
        [
            _group(
                "Calibrations",
                [
                    _calibration("Brightness", 1.0, ""),
                    # DM lists dimensions x first.
                    _group(
                        "Dimension",
                        [
                            _calibration("", scale_yx[1], units),
                            _calibration("", scale_yx[0], units),
                        ],
                    ),
                ],
            ),
            _array("Data", _FLOAT32, data.tobytes(), data.size),
            _value("DataType", _INT32, "i", 2),  # 2: float32
            _group("Dimensions", [_value("", _INT32, "i", cols), _value("", _INT32, "i", rows)]),
        ],
    )
    one_image = _group("", [image_data, _group("ImageTags", []), _text("Name", "test image")])
    root = struct.pack(">bbi", 0, 1, 1) + _group("ImageList", [one_image])
    return struct.pack(">iii", 3, len(root) + 4, 1) + root + b"\0" * 8
