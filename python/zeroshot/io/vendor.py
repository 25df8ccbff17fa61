"""Microscope vendors' formats, read-only, through rosettasciio (module ``rsciio``): Gatan
DigitalMicrograph .dm3/.dm4, FEI/Thermo Fisher TIA .ser/.emi, Velox and Berkeley .emd.

rosettasciio is GPL-licensed, so it is the optional em extra (``pip install ".[em]"``) and imported only here.
A file may hold several signals (e.g. HAADF and EDS); exactly one image (a signal with two axes,
possibly a stack of them) must be among them. The pixel size is the two image axes' scale and units.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.extras import install_hint
from zeroshot.io.limits import HeaderCheck, check_declared, declared_bytes
from zeroshot.io.pixelsize import PixelSize, pixel_size_from

# suffix -> rsciio plugin module
_READERS = {
    ".dm3": "rsciio.digitalmicrograph",
    ".dm4": "rsciio.digitalmicrograph",
    ".ser": "rsciio.tia",
    ".emi": "rsciio.tia",
    ".emd": "rsciio.emd",
}


def read_vendor(path: Path, check: HeaderCheck | None = None) -> tuple[np.ndarray, PixelSize | None]:
    module = _READERS[path.suffix.lower()]
    try:
        reader = importlib.import_module(module).file_reader
    except ImportError as exc:
        raise ValueError(
            f"{path}: reading {path.suffix} files needs rosettasciio ({exc}); install it: {install_hint('em')}"
        ) from exc
    if path.suffix.lower() == ".emd":
        _check_hdf5(path, check)
    try:
        signals: list[dict[str, Any]] = reader(str(path), lazy=False)
    except Exception as exc:  # each plugin raises its own types for broken files
        raise ValueError(f"{path}: not a readable {path.suffix} file ({type(exc).__name__}: {exc})") from exc
    images = [s for s in signals if len(_signal_axes(s)) == 2]
    if len(images) != 1:
        found = "; ".join(_describe(s) for s in signals) or "nothing"
        what = "no image" if not images else f"{len(images)} images"
        raise ValueError(f"{path}: holds {what} (found: {found}); zeroshot reads a file with one image")
    image = images[0]
    y_axis, x_axis = _signal_axes(image)
    pixel_size = pixel_size_from(
        y_axis.get("scale", 0.0),
        str(y_axis.get("units", "")),
        x_axis.get("scale", 0.0),
        str(x_axis.get("units", "")),
    )
    return np.asarray(image["data"]), pixel_size


def _check_hdf5(path: Path, check: HeaderCheck | None) -> None:
    """Runs `check` on the largest dataset an .emd (HDF5) file declares, before any is read."""
    if check is None:
        return
    try:
        import h5py
    except ImportError:
        return  # rosettasciio's reader says that it needs h5py
    largest: list[tuple[int, tuple[int, ...], np.dtype]] = []

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset) and item.dtype.kind in "uifc":
            shape = tuple(int(n) for n in item.shape)
            largest.append((declared_bytes(shape, item.dtype), shape, np.dtype(item.dtype)))

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception:  # not HDF5, damaged: rosettasciio's reader says what is wrong
        return
    if largest:
        _, shape, dtype = max(largest, key=lambda entry: entry[0])
        check_declared(check, path, shape, dtype)


def _signal_axes(signal: dict[str, Any]) -> list[dict[str, Any]]:
    """The signal (not navigation) axes in array order; for an image (y, x)."""
    return [axis for axis in signal.get("axes", []) if not axis.get("navigate", False)]


def _describe(signal: dict[str, Any]) -> str:
    title = signal.get("metadata", {}).get("General", {}).get("title") or "untitled"
    axes = ", ".join(f"{axis.get('name') or '?'} ({axis.get('units') or 'no unit'})" for axis in _signal_axes(signal))
    shape = tuple(getattr(signal.get("data"), "shape", ()))
    return f"{title!r}: {len(_signal_axes(signal))}-D signal over [{axes}], data shape {shape}"
