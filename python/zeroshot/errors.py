"""Which errors a front end (the command line, the napari widget) reports as a message instead of a traceback,
and in which words."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["error_message", "errors_named"]


@contextmanager
def errors_named(where: str, values: np.ndarray, note: str = "") -> Iterator[None]:
    """A ValueError, and the overflow of values too large to compute with, as a ValueError naming `where` (when
    given; else the error names what it is about itself) and ending with `note`."""
    try:
        yield
    except ValueError as error:
        raise ValueError(f"{where}: {error}{note}" if where else f"{error}{note}") from None
    except (OverflowError, FloatingPointError) as error:
        raise ValueError(
            f"{where or 'the image'}: the values (up to {float(np.max(np.abs(values))):g}) are too large to compute "
            f"with ({type(error).__name__}: {error}); scale the image down"
        ) from None


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
