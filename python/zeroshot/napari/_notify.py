"""Messages to the person at the viewer: napari notifications (a log record where napari is missing)."""

from __future__ import annotations

import logging

logger = logging.getLogger("zeroshot.napari")


def notify_error(message: str) -> None:
    """Shows `message` as a napari error notification."""
    try:
        from napari.utils.notifications import show_error
    except ImportError:  # pragma: no cover - only without napari
        logger.error(message)
        return
    show_error(message)


def notify_info(message: str) -> None:
    """Shows `message` as a napari information notification."""
    try:
        from napari.utils.notifications import show_info
    except ImportError:  # pragma: no cover - only without napari
        logger.info(message)
        return
    show_info(message)
