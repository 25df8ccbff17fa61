"""The structure guard: does the image hold structure that a patch model learns, beyond its noise?

Before the main training, a small BSC (GUARD_LATENTS atoms, GUARD_EPOCHS epochs) learns from patches of the top
rows of the image; its free energy F_n (a lower bound of log p(y_n)) on patches of the bottom HELD_OUT_SHARE of the
rows, which no training patch overlaps, is compared with the log-likelihood of those patches under noise alone,
N(0, σ₀² I) with σ₀² the mean square of the training patches' values (the patches centred and whitened as the run
learns them, so that noise alone is white there). A model that found structure predicts held-out patches better
than noise alone (gain F_n − log N(y_n) > 0); one that learned the noise's particulars predicts them worse.

The verdict "no structure" needs strong evidence: the mean gain more than GUARD_Z standard errors below 0. Then
training is skipped and the smooth estimate is returned (the image blurred by a Gaussian of SMOOTH_PATCHES patch
sides): the blotches a model paints from noise alone are worse than a flat estimate. Measured (bench/RESULTS.md,
"Structure guard"): uniform noise (openNCEM's temp.mrc) and white Gaussian noise gain −0.06 and −0.05 nats per
patch (12-14 standard errors below 0); the House with white noise σ 25 and 50 +1.3 and +1.1, with correlated noise
+0.13, the SARS-CoV-2 slice +1.7, the 80S ribosome micrograph −0.012 ± 0.005 (its structure is faint at this
patch size after whitening: hence the strict threshold), white Gaussian noise blurred by a Gaussian of 1 px +0.04
(the estimated whitening leaves some correlation, which the guard takes for structure: not caught).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zeroshot.maps.blur import gaussian_blur
from zeroshot.models import BSC
from zeroshot.patches.extract import center, patches_at
from zeroshot.patches.grid import PatchGrid
from zeroshot.patches.moments import PixelMoments
from zeroshot.pipeline.run import Run
from zeroshot.variational.em import EMTrainer, EpochLog
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates, initial_activation

HELD_OUT_SHARE = 0.2
GUARD_LATENTS, GUARD_EPOCHS, GUARD_STATES = 32, 10, 30
MAX_TRAIN, MAX_HELD_OUT = 10000, 4000
MIN_TRAIN, MIN_HELD_OUT = 1000, 400  # fewer: the image is too small to judge, the guard stays out of the way
GUARD_Z = 5.0
SMOOTH_PATCHES = 2.0


@dataclass(frozen=True)
class StructureCheck:
    """gain: the held-out patches' mean free energy over noise alone (nats per patch), standard_error its
    standard error; found: whether the run goes on to learn (False: the smooth estimate is returned)."""

    gain: float
    standard_error: float
    patch_size: int
    model: BSC
    history: list[EpochLog]

    @property
    def found(self) -> bool:
        return not self.gain < -GUARD_Z * self.standard_error

    @property
    def smooth_sigma(self) -> float:
        return SMOOTH_PATCHES * self.patch_size

    @property
    def description(self) -> str:
        measured = f"held-out patches gain {self.gain:+.4g} ± {self.standard_error:.2g} nats per patch over noise alone"
        if self.found:
            return f"structure found ({measured})"
        return (
            f"no structure found: the model explains the image no better than noise alone ({measured}); "
            f"returning the smooth estimate (Gaussian blur of {self.smooth_sigma:g} px)"
        )

    def record(self) -> dict[str, object]:
        return {"found": self.found, "gain": self.gain, "standard_error": self.standard_error}


def check_structure(run: Run, scaled: np.ndarray) -> StructureCheck | None:
    """The guard's verdict on the scaled image (the same on every rank: each computes it alone, bitwise alike),
    or None for a model that is not a dictionary model or an image too small to judge."""
    config = run.config
    P = run.grid.P
    if config.model == "pmm":
        return None
    cut = int(round(scaled.shape[0] * (1.0 - HELD_OUT_SHARE)))
    if cut < P or scaled.shape[0] - cut < P:
        return None
    Yt = _patches(run, scaled[:cut], MAX_TRAIN, config.seed)
    Yh = _patches(run, scaled[cut:], MAX_HELD_OUT, config.seed + 1)
    if Yt.shape[0] < MIN_TRAIN or Yh.shape[0] < MIN_HELD_OUT:
        return None
    estep = EvoEStep(config.evo, seed=config.seed)
    model = BSC.from_data(Yt, GUARD_LATENTS, config.seed)
    activation = initial_activation(GUARD_LATENTS)
    states = TruncatedStates.random(Yt.shape[0], GUARD_LATENTS, GUARD_STATES, activation, config.seed)
    model, history = EMTrainer(estep).fit(model, Yt, states, GUARD_EPOCHS)
    held = TruncatedStates.random(Yh.shape[0], GUARD_LATENTS, GUARD_STATES, activation, config.seed + 1)
    for epoch in range(GUARD_EPOCHS, GUARD_EPOCHS + config.inference_epochs):
        estep.update(model, Yh, held, epoch)
    total = model.free_energy(model.accumulate(Yh, held, estep.workspace.products(model, Yh)))
    # Per patch: log Σ_states exp(lpj) up to a constant shared by all patches, fixed by the total F.
    top = held.lpj.max(axis=1, keepdims=True)
    per_patch = top[:, 0] + np.log(np.exp(held.lpj - top).sum(axis=1))
    per_patch += (total - per_patch.sum()) / per_patch.size
    D = Yt.shape[1]
    sigma0_2 = float(np.mean(Yt * Yt))
    noise_alone = -0.5 * D * math.log(2 * math.pi * sigma0_2) - 0.5 * np.einsum("nd,nd->n", Yh, Yh) / sigma0_2
    gain = per_patch - noise_alone
    return StructureCheck(float(gain.mean()), float(gain.std() / math.sqrt(gain.size)), P, model, history)


def _patches(run: Run, part: np.ndarray, most: int, seed: int) -> np.ndarray:
    """At most `most` patches of the image part, drawn at random, centred and whitened as the run's."""
    grid = PatchGrid.of(part.shape, run.grid.P)
    rows = np.arange(grid.N) if grid.N <= most else np.sort(np.random.default_rng(seed).choice(grid.N, most, False))
    Y, _ = center(patches_at(part, grid, rows, run.chunk_patches), run.config.center_patches)
    return Y if run.whitening is None else run.whitening.whiten(Y)


def smooth_estimate(check: StructureCheck, scaled: np.ndarray, order: int) -> tuple[np.ndarray, PixelMoments | None]:
    """The guard's estimate on the learning scale: the blurred image, and for order > 1 moment maps of it with
    no posterior spread (noise alone leaves nothing uncertain about structure: variance and third moment 0)."""
    smooth = gaussian_blur(scaled, min(check.smooth_sigma, max(scaled.shape)))
    if order == 1:
        return smooth, None
    zeros = np.zeros_like(smooth)
    third = np.zeros_like(smooth) if order > 2 else None
    skew = np.zeros_like(smooth) if order > 2 else None
    return smooth, PixelMoments(smooth.copy(), zeros, zeros.copy(), zeros.copy(), third, skew)


