"""The structure guard (opt-in: `structure_guard=True`, `--structure-guard`): does the image hold structure that a
patch model learns, beyond its noise?

Before the main training, a small BSC (GUARD_LATENTS atoms, GUARD_EPOCHS epochs) learns from patches outside a
staggered fifth of the image's tiles (`split_patches`); its free energy F_n (a lower bound of log p(y_n)) on
patches inside those held-out tiles, which no training patch overlaps, is compared with their log-likelihood under
noise alone, N(0, σ₀² I) with σ₀² the mean square of the training patches' values (the patches centred and
whitened as the run learns them, so that noise alone is white there). A model that found structure predicts
held-out patches better than noise alone (gain F_n − log N(y_n) > 0); one that learned the noise's particulars
predicts them worse.

The verdict "no structure" needs strong evidence: the mean gain more than GUARD_Z standard errors below 0. Then
training is skipped and the smooth estimate is returned (the image blurred by a Gaussian of SMOOTH_PATCHES patch
sides): the blotches a model paints from noise alone are worse than a flat estimate.

Measured (`python bench/structure_guard.py`, bench/RESULTS.md "Structure guard"): right on uniform noise
(openNCEM's temp.mrc, z −44), white Gaussian noise (z −39), the House with white (z +19, +23) and correlated
noise (z +15) and the SARS-CoV-2 slice (z +45); wrong on correlated noise: pure noise blurred by 1 px gains
+0.13 to +1.38 nats per patch by the draw, z +10 to +34 (the whitening estimated from the image leaves its noise
not quite white, and the model learns the rest), and the 80S ribosome micrograph, whose particles are faint
against its correlated noise at its patch size 8, loses (z −11). Hence off by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zeroshot.maps.blur import gaussian_blur
from zeroshot.models import BSC
from zeroshot.patches.grid import PatchGrid
from zeroshot.patches.moments import PixelMoments
from zeroshot.pipeline.run import Run, patches_as_learned
from zeroshot.variational.em import EMTrainer, EpochLog
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates, initial_activation

GUARD_LATENTS, GUARD_EPOCHS, GUARD_STATES, GUARD_INFERENCE_EPOCHS = 32, 10, 30, 5
HELD_OUT_EVERY = 5
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
    or None for a family of counts (pmm: no scaled, centred patches to judge) or an image too small to judge."""
    config = run.config
    if config.family.counts:
        return None
    train_rows, held_rows = split_patches(scaled.shape, run.grid.P, config.seed)
    if train_rows.size < MIN_TRAIN or held_rows.size < MIN_HELD_OUT:
        return None
    Yt, Yh = patches_as_learned(run, scaled, train_rows), patches_as_learned(run, scaled, held_rows)
    estep = EvoEStep(config.evo, seed=config.seed)
    model = BSC.from_data(Yt, GUARD_LATENTS, config.seed)
    activation = initial_activation(GUARD_LATENTS)
    states = TruncatedStates.random(Yt.shape[0], GUARD_LATENTS, GUARD_STATES, activation, config.seed)
    model, history = EMTrainer(estep).fit(model, Yt, states, GUARD_EPOCHS)
    held = TruncatedStates.random(Yh.shape[0], GUARD_LATENTS, GUARD_STATES, activation, config.seed + 1)
    for epoch in range(GUARD_EPOCHS, GUARD_EPOCHS + GUARD_INFERENCE_EPOCHS):
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
    return StructureCheck(float(gain.mean()), float(gain.std() / math.sqrt(gain.size)), run.grid.P, model, history)


def split_patches(shape: tuple[int, int], P: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, held-out) patch indices of the grid of P x P patches of an image of `shape`: the image is cut
    into tiles of max(3 P, 16) pixels, every HELD_OUT_EVERY-th of them (diagonally staggered, so that held-out
    tiles sample the whole image) is held out; held-out patches lie inside a held-out tile, training patches
    touch none. At most MAX_HELD_OUT and MAX_TRAIN of each, drawn at random."""
    grid = PatchGrid.of(shape, P)
    side = max(3 * P, 16)
    r, c = np.arange(shape[0]) // side, np.arange(shape[1]) // side
    tile_held = ((r[:, None] + 2 * c[None, :]) % HELD_OUT_EVERY == 0).astype(np.int64)
    inside = np.zeros((shape[0] + 1, shape[1] + 1), dtype=np.int64)  # held-out pixels per patch: a box sum
    inside[1:, 1:] = tile_held.cumsum(0).cumsum(1)
    gr, gc = grid.grid_shape
    count = inside[P : P + gr, P : P + gc] - inside[:gr, P : P + gc] - inside[P : P + gr, :gc] + inside[:gr, :gc]
    rng = np.random.default_rng(seed)

    def draw(mask: np.ndarray, most: int) -> np.ndarray:
        rows = np.flatnonzero(mask)
        return rows if rows.size <= most else np.sort(rng.choice(rows, most, replace=False))

    return draw(count == 0, MAX_TRAIN), draw(count == P * P, MAX_HELD_OUT)


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
