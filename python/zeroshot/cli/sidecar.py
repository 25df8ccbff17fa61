"""The JSON sidecar written next to each output file: what was run on which input, and what came
of it.

``out.tif`` gets ``out.tif.json`` (the whole output name plus ``.json``, so ``out.tif`` and
``out.mrc`` in one folder keep separate sidecars).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zeroshot.io.atomic import write_text_atomic


def sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def write_sidecar(output: Path, record: dict[str, Any]) -> Path:
    """Writes ``record`` with the zeroshot version and the date (UTC, ISO 8601) first, atomically,
    to the sidecar of ``output``; returns the sidecar's path."""
    from zeroshot import __version__

    stamped = {
        "zeroshot_version": __version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **record,
    }
    path = sidecar_path(output)
    # allow_nan=False: a NaN would make the file invalid JSON for strict readers.
    write_text_atomic(path, json.dumps(stamped, indent=2, allow_nan=False) + "\n")
    return path
