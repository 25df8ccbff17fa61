"""Which errors a front end (the command line, the napari widget) reports as a message instead of a traceback,
and in which words."""

from __future__ import annotations

__all__ = ["error_message"]


def error_message(error: BaseException) -> str | None:
    """The message of an error the command line reports without a traceback, or None."""
    if isinstance(error, (ValueError, OSError)):
        return str(error)
    if isinstance(error, MemoryError):
        detail = f" ({error})" if str(error) else ""
        return (
            f"out of memory{detail}; lower the size of the model or of the training subset (--latents, --states, "
            "--max-train-patches), denoise fewer or smaller images at once, or give --max-memory to check the "
            "run against the memory it may use before it starts"
        )
    if isinstance(error, ArithmeticError):
        return f"a number out of range ({type(error).__name__}: {error}); scale the image down"
    return None
