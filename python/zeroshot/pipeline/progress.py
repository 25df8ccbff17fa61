"""What a run reports while it works (`zeroshot.denoise(progress=...)`): the noise model once it is decided
(before any training), and every step of its stages: the training epochs, then the inference chunks and the
second pass. A training step carries the noise level learned so far as `DenoiseResult.noise_sigma` states it
(one pixel, on the input's scale; for noise "poisson" in the Anscombe-transformed domain), so a display shows
the very number the run ends with."""

from __future__ import annotations

from dataclasses import dataclass

from zeroshot.config import DenoiseConfig, total_epochs
from zeroshot.noise.model import NoiseModel
from zeroshot.noise.whitening import PatchWhitening
from zeroshot.pipeline.scaling import ImageScaling
from zeroshot.pipeline.trained import pixel_noise_sigma
from zeroshot.variational.em import Callback, EpochLog

__all__ = ["RunProgress", "Step", "epoch_reports"]


@dataclass(frozen=True)
class Step:
    """`done` of the `total` steps of `stage` ("training": epochs; "inference": the chunks of patches and, for
    correlated noise, the Wiener pass as the last) are done; `unit` names the step just done ("epoch", "chunk",
    "Wiener pass"). sigma: training only, the noise level after this epoch (see the module's docstring);
    epoch: training only, the epoch's log (F, replaced states: figures for experts)."""

    stage: str
    done: int
    total: int
    unit: str
    sigma: float | None = None
    epoch: EpochLog | None = None


class RunProgress:
    """Receives what a run reports; the methods do nothing here: override those wanted. Every rank calls them."""

    def noise_decided(self, noise: NoiseModel, sigma: float | None) -> None:
        """The noise model of the image, decided (or a model file's), before any training. sigma: the noise
        level of one pixel estimated from the image on the input's scale (None where it is not on that scale:
        Poisson counts)."""

    def step(self, step: Step) -> None:
        """One step of a stage is done."""


def epoch_reports(
    config: DenoiseConfig,
    whitening: PatchWhitening | None,
    scaling: ImageScaling,
    callback: Callback | None,
    progress: RunProgress | None,
) -> Callback | None:
    """A training's epoch callback: `progress` told of each epoch (with the noise level of one pixel on the
    input's scale, as `pixel_noise_sigma` states it for the run's config, whitening and scaling), then `callback`
    given the epoch's log."""
    if progress is None:
        return callback
    total = total_epochs(config)

    def report(log: EpochLog) -> None:
        sigma = pixel_noise_sigma(log.sigma * log.sigma, config, whitening, scaling)
        progress.step(Step("training", log.epoch + 1, total, "epoch", sigma=sigma, epoch=log))
        if callback is not None:
            callback(log)

    return report
