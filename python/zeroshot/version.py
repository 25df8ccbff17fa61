"""The package's version (one home: pyproject.toml, read from the installed metadata) and which versions read
each other's model files."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed zeroshot's version, or "unknown" for a source tree that was never installed."""
    try:
        return version("zeroshot")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "unknown"


def release(text: str) -> str:
    """The major.minor part of a version ("0.1.3" -> "0.1"); the whole text when it has no such part."""
    parts = text.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]) else text
