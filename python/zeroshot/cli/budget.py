"""The memory a command-line run may use, checked before images are decoded or made: the inputs a run
keeps (each is read once and held until its job is done) and one frame's denoising must fit in the memory
available (or --max-memory), judged from the shape and dtype each file declares in its header."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from zeroshot.config import DenoiseConfig
from zeroshot.io.limits import DeclaredSizeError, HeaderCheck, declared_bytes
from zeroshot.runtime.available_memory import MemoryLimit
from zeroshot.runtime.memory import estimate_memory, format_bytes, knobs_to_lower
from zeroshot.runtime.memory_check import MIN_AUTO_CHUNK


def frame_shape(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """The (R, C) of one frame of an array of `shape` as `read_em` will see it (singleton axes dropped),
    or None when it is no image (read_em says why)."""
    kept = [n for n in shape if n != 1] if len(shape) > 2 else list(shape)
    while len(kept) < 2:
        kept.insert(0, 1)
    return (kept[-2], kept[-1]) if len(kept) in (2, 3) else None


def run_fits(
    shape: tuple[int, int],
    config: DenoiseConfig,
    *,
    moments: int,
    threads: int,
    checkpoint: bool,
    limit: MemoryLimit,
    held: int = 0,
    held_as: str = "the input image(s) kept",
    what: str = "",
) -> None:
    """ValueError unless denoising one (R, C) frame fits in `limit` beside `held` bytes of images kept,
    at the smallest chunk the run may choose (as `zeroshot.runtime.memory_check` will check again)."""
    if min(shape) < 1:
        return
    low = replace(config, chunk_patches=min(config.chunk_patches, MIN_AUTO_CHUNK))
    try:
        estimate = estimate_memory(shape, low, moments=moments, threads=threads, checkpoint=checkpoint)
    except ValueError:
        return  # too small for the patches, ...: the run's own checks say so
    if estimate.total + held <= limit.bytes:
        return
    knobs = knobs_to_lower(estimate, config)
    besides = f" besides the {format_bytes(held)} of {held_as}" if held else ""
    raise DeclaredSizeError(
        f"denoising an image of shape {tuple(shape)} needs about {estimate.describe()} per process, more than "
        f"the {format_bytes(limit.bytes)} available ({limit.source}){besides}{what}; lower "
        f"{', '.join(knobs) if knobs else 'the size of the image or of the model'}, or give --max-memory "
        "if more memory can be used"
    )


@dataclass
class InputBudget:
    """Declared input sizes against the memory limit: every input is kept until its job is done, so the
    images together, and beside them one frame's run, must fit. `check(path)` is the reader's HeaderCheck
    for one file; `held` counts the bytes of the files accepted so far."""

    limit: MemoryLimit | None
    config: DenoiseConfig
    moments: int
    threads: int
    checkpoint: bool
    ranks: int = 1
    held: int = 0

    def check(self, path: Path) -> HeaderCheck | None:
        limit = self.limit
        if limit is None:
            return None

        def check(shape: tuple[int, ...], dtype: np.dtype) -> None:
            size = declared_bytes(shape, dtype)
            if self.held + size > limit.bytes:
                others = f" beside the {format_bytes(self.held)} of the inputs before it" if self.held else ""
                raise ValueError(
                    f"declares an array of shape {tuple(shape)} {dtype} ({format_bytes(size)}), which does not fit "
                    f"in the {format_bytes(limit.bytes)} available ({limit.source}){others}; refused before "
                    "decoding it" + ("; denoise fewer files at once" if self.held else "")
                )
            frame = frame_shape(shape)
            if frame is not None and self.ranks == 1:  # ranks on several hosts share the work: the run checks
                run_fits(
                    frame,
                    self.config,
                    moments=self.moments,
                    threads=self.threads,
                    checkpoint=self.checkpoint,
                    limit=limit,
                    held=self.held + size,
                    what=f" (from the header of {path}, before decoding it)",
                )
            self.held += size

        return check
