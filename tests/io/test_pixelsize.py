"""PixelSize and the unit names files use."""

from __future__ import annotations

import math

import pytest

from zeroshot.io import PixelSize, nm_per_unit, pixel_size_from


@pytest.mark.parametrize(
    "unit, nm",
    [
        ("nm", 1.0),
        ("NM", 1.0),
        ("Å", 0.1),
        ("A", 0.1),
        ("angstrom", 0.1),
        ("pm", 1e-3),
        ("µm", 1e3),
        ("μm", 1e3),
        ("um", 1e3),
        ("micron", 1e3),
        ("\\u00B5m", 1e3),
        ("mm", 1e6),
        ("cm", 1e7),
        ("m", 1e9),
        ("inch", 2.54e7),
        (" nm ", 1.0),
    ],
)
def test_length_units(unit, nm):
    assert nm_per_unit(unit) == nm


@pytest.mark.parametrize("unit", ["", "pixel", "px", "1/nm", "eV", "keV", "<undefined>", "\\uZZZZ"])
def test_non_length_units(unit):
    assert nm_per_unit(unit) is None


def test_pixel_size_from_mixed_units():
    size = pixel_size_from(2.0, "Å", 1.0, "nm")
    assert size == PixelSize(y=0.2, x=1.0)
    assert size is not None and size.in_unit("Å") == pytest.approx((2.0, 10.0))


@pytest.mark.parametrize(
    "y, y_unit, x, x_unit",
    [
        (1.0, "nm", 1.0, "1/nm"),
        (0.0, "nm", 1.0, "nm"),
        (1.0, "nm", math.nan, "nm"),
        (1.0, "pixel", 1.0, "nm"),
        (math.inf, "nm", 1.0, "nm"),
    ],
)
def test_pixel_size_from_gives_none_when_unknown(y, y_unit, x, x_unit):
    assert pixel_size_from(y, y_unit, x, x_unit) is None


def test_negative_scale_of_a_flipped_axis_keeps_its_magnitude():
    assert pixel_size_from(-0.5, "nm", 0.5, "nm") == PixelSize(0.5, 0.5)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, True, "1"])
def test_pixel_size_is_validated(bad):
    with pytest.raises(ValueError, match=r"PixelSize\.x"):
        PixelSize(y=1.0, x=bad)


def test_pixel_size_text_and_json():
    assert str(PixelSize(0.25, 0.25)) == "0.25 nm"
    assert str(PixelSize(0.2, 1)) == "0.2 x 1 nm (y x)"
    assert PixelSize(0.2, 1).to_json() == {"y": 0.2, "x": 1.0, "unit": "nm"}
    with pytest.raises(ValueError, match="unknown length unit 'eV'"):
        PixelSize(1, 1).in_unit("eV")
