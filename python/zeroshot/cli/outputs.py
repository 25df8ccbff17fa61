"""The files one input's run writes, and the check that none is an input or written twice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeroshot.cli.files import Written
from zeroshot.cli.sidecar import sidecar_path


@dataclass(frozen=True)
class Outputs:
    """The files one input's run writes.

    image: the denoised image (denoise) or the map (enhance), written in `dtype` (None: stretched onto
    16 bits); variance: NAME_variance beside it (--also-variance), in variance_dtype; report: the PNG
    figure; checkpoints: --checkpoint, one per frame for a stack (PATH_frameK). Images get sidecars.
    """

    image: Path
    dtype: np.dtype | None
    variance: Path | None = None
    variance_dtype: np.dtype | None = None
    report: Path | None = None
    checkpoints: tuple[Path, ...] = ()

    def written(self, source: Path) -> list[Written]:
        """Every file of this input's run, for the check that no two are the same and none an input."""
        items = [Written(self.image, "the output", source), Written(sidecar_path(self.image), "the sidecar", source)]
        if self.variance is not None:
            items += [
                Written(self.variance, "the variance map", source),
                Written(sidecar_path(self.variance), "the sidecar of the variance map", source),
            ]
        if self.report is not None:
            items.append(Written(self.report, "the report", source))
        items += [Written(path, "the checkpoint", source) for path in self.checkpoints]
        return items
