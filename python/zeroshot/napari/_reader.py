"""The napari reader of the EM formats: `zeroshot.read_em` gives the image and its pixel size, which becomes the
layer's scale in nm (Qt-free)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Union

from zeroshot.io import read_em
from zeroshot.napari._layers import LayerData, image_layer, scale_of, units_of
from zeroshot.napari._notify import notify_error

# The suffixes this reader claims (napari reads PNG and .npy itself); napari.yaml lists the same patterns.
READ_SUFFIXES = (".mrc", ".mrcs", ".tif", ".tiff", ".dm3", ".dm4", ".ser", ".emi", ".emd")

PathOrPaths = Union[str, Sequence[str]]
ReaderFunction = Callable[[PathOrPaths], list[tuple[Any, ...]]]
# napari's "read, but no layers" answer.
NO_LAYERS: list[tuple[Any, ...]] = [(None,)]


def read_layers(path: str | Path) -> list[LayerData]:
    """The image layer of one file: data as stored, scale and units from its pixel size, named after the file;
    the pixel size and format also in the layer's metadata. Raises ValueError naming the file."""
    image = read_em(path)
    ndim = image.data.ndim
    return [
        image_layer(
            image.data,
            Path(path).stem,
            scale_of(image.pixel_size, ndim),
            units=units_of(image.pixel_size, ndim),
            metadata={
                "zeroshot": {
                    "path": str(image.path),
                    "format": image.format,
                    "pixel_size_nm": None if image.pixel_size is None else image.pixel_size.to_json(),
                }
            },
        )
    ]


def _paths(path: PathOrPaths) -> list[str]:
    return [path] if isinstance(path, str) else [str(p) for p in path]


def get_reader(path: PathOrPaths) -> ReaderFunction | None:
    """napari's reader hook: `read` for files with a suffix of READ_SUFFIXES, else None."""
    paths = _paths(path)
    if not paths or not all(Path(p).suffix.lower() in READ_SUFFIXES for p in paths):
        return None
    return read


def read(path: PathOrPaths) -> list[tuple[Any, ...]]:
    """The layers of every file; a file zeroshot cannot read is shown as a napari error notification with the
    message of `read_em`, and adds no layer (napari's null layer when none could be read)."""
    layers: list[tuple[Any, ...]] = []
    for p in _paths(path):
        try:
            layers += read_layers(p)
        except ValueError as error:
            notify_error(str(error))
    return layers or list(NO_LAYERS)
