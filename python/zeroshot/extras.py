"""The optional extras (pyproject.toml) and how a message tells people to install one.

The extras are installed from zeroshot's source folder, `pip install ".[em]"`: on a package index the name
`zeroshot` belongs to another project, which `pip install` of zeroshot with an extra in brackets would fetch. A
message also names the packages the extra brings (read from the installed metadata), which install anywhere.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, requires

# One requirement of the metadata: its name (with its own extras), then anything (version, markers).
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def extra_packages(extra: str) -> list[str]:
    """The names of the packages the extra `extra` installs (e.g. ["matplotlib"] for "report"), in the order
    of pyproject.toml; [] when zeroshot's metadata is not installed or has no such extra."""
    try:
        requirements = requires("zeroshot") or []
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return []
    names = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        match = _NAME.match(spec)
        if match is not None and extra in _EXTRA.findall(marker) and match.group(1) not in names:
            names.append(match.group(1))
    return names


def install_hint(extra: str) -> str:
    """How to install the extra `extra`, for a message: from the source folder, or its packages by name."""
    hint = f'pip install ".[{extra}]" in the zeroshot source folder'
    packages = extra_packages(extra)
    if packages:
        hint += " (or: pip install " + " ".join(f'"{p}"' if "[" in p else p for p in packages) + ")"
    return hint
