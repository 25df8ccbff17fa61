"""The size of one pixel, in one canonical unit (nanometres), from the many ways files state it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

# Nanometres per unit, keyed by the lower-cased unit names that microscope software and file
# formats write (ImageJ writes "micron", DigitalMicrograph "µm" or "A", MRC headers are in Å).
_NM_PER_UNIT = {
    "pm": 1e-3,
    "å": 0.1,
    "a": 0.1,
    "angstrom": 0.1,
    "angstroms": 0.1,
    "nm": 1.0,
    "nanometer": 1.0,
    "nanometre": 1.0,
    "µm": 1e3,  # micro sign U+00B5
    "μm": 1e3,  # Greek small letter mu U+03BC
    "um": 1e3,
    "micron": 1e3,
    "microns": 1e3,
    "micrometer": 1e3,
    "micrometre": 1e3,
    "mm": 1e6,
    "cm": 1e7,
    "m": 1e9,
    "inch": 2.54e7,
    "in": 2.54e7,
}

Number = Union[int, float]


def nm_per_unit(unit: str) -> float | None:
    """Nanometres in one `unit` (a length unit name such as "nm", "Å", "micron"); None when `unit`
    is not a length (pixels, "1/nm" of a diffraction pattern, "eV", empty)."""
    name = unit.strip()
    if "\\u" in name:  # ImageJ may store "µm" escaped as the six characters \u00B5m
        try:
            name = name.encode("ascii").decode("unicode_escape")
        except UnicodeError:
            return None
    return _NM_PER_UNIT.get(name.lower())


@dataclass(frozen=True)
class PixelSize:
    """The size of one pixel in nanometres: ``y`` between rows, ``x`` between columns."""

    y: float
    x: float

    def __post_init__(self) -> None:
        for name in ("y", "x"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"PixelSize.{name} must be a number of nanometres, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"PixelSize.{name} must be positive and finite, got {value!r}")
            object.__setattr__(self, name, float(value))

    def in_unit(self, unit: str) -> tuple[float, float]:
        """(y, x) in `unit` (any length unit `nm_per_unit` knows)."""
        factor = nm_per_unit(unit)
        if factor is None:
            raise ValueError(f"unknown length unit {unit!r}")
        return self.y / factor, self.x / factor

    def to_json(self) -> dict[str, object]:
        return {"y": self.y, "x": self.x, "unit": "nm"}

    def __str__(self) -> str:
        if self.y == self.x:
            return f"{self.x:.6g} nm"
        return f"{self.y:.6g} x {self.x:.6g} nm (y x)"


def pixel_size_from(y: Number, y_unit: str, x: Number, x_unit: str) -> PixelSize | None:
    """The PixelSize of a y and an x size each in its own unit, or None when either unit is not a
    length or either size is zero, negative (a flipped axis keeps its magnitude) or not finite."""
    y_factor, x_factor = nm_per_unit(y_unit), nm_per_unit(x_unit)
    if y_factor is None or x_factor is None:
        return None
    y_nm, x_nm = abs(float(y)) * y_factor, abs(float(x)) * x_factor
    if not (math.isfinite(y_nm) and math.isfinite(x_nm) and y_nm > 0 and x_nm > 0):
        return None
    return PixelSize(y=y_nm, x=x_nm)
