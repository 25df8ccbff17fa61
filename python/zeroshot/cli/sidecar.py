"""The JSON sidecar written next to each output file: what was run on which input, and what came
of it.

``out.tif`` gets ``out.tif.json`` (the whole output name plus ``.json``, so ``out.tif`` and
``out.mrc`` in one folder keep separate sidecars). An image and its sidecar are written as a pair
(`write_pair`): both are staged in temporary files first, and replaced only when both are complete.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from zeroshot.io.atomic import StagedFile, replace_together, stage
from zeroshot.version import package_version


def sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def sidecar_text(record: dict[str, Any]) -> str:
    """`record` with the zeroshot version and the date (UTC, ISO 8601) first, as JSON text."""
    stamped = {
        "zeroshot_version": package_version(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **record,
    }
    # allow_nan=False: a NaN would make the file invalid JSON for strict readers.
    return json.dumps(stamped, indent=2, allow_nan=False) + "\n"


def _stage_text(path: Path, text: str) -> StagedFile:
    return stage(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def stage_pair(output: Path, stage_image: Callable[[], StagedFile], record: dict[str, Any]) -> list[StagedFile]:
    """The image (`stage_image` writes it to a temporary file) and its sidecar with `record`, both staged in
    temporary files; on an error neither is left. Replace them with `atomic.replace_together`."""
    text = sidecar_text(record)
    image = stage_image()
    try:
        side = _stage_text(sidecar_path(output), text)
    except BaseException:
        image.discard()
        raise
    return [image, side]


def write_pair(output: Path, stage_image: Callable[[], StagedFile], record: dict[str, Any]) -> Path:
    """`stage_pair`, then both replaced one after the other under a lock on their folder: a failure (a full
    disk) leaves neither, and two runs writing the same output leave the image and the sidecar of one of
    them. Returns the sidecar's path."""
    staged = stage_pair(output, stage_image, record)
    replace_together(staged)
    return staged[1].target
