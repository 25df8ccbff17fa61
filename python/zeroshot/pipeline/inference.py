"""Inference at fixed parameters: posterior moments of this rank's block of all patches in memory-bounded
chunks, merged into images over all ranks.

Each rank merges its patches, once per chunk, into a merger of the band of image rows they cover; rank 0
absorbs the bands in rank order (the order of the patches) and the merged images go to every rank.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from zeroshot.config import EvoConfig
from zeroshot.models.base import PatchModel, PosteriorMoments
from zeroshot.patches.estimates import estimate_accumulator
from zeroshot.patches.grid import PatchGrid, pad_to
from zeroshot.patches.merge import Accumulator, Merger, merge_over_ranks
from zeroshot.patches.moments import MomentAccumulator, PixelMoments
from zeroshot.patches.slab import centre_block, slab_patch_range
from zeroshot.pipeline.run import Run, learned_patches
from zeroshot.runtime.comm import block_range
from zeroshot.variational.states import States


def pixel_accumulators(grid: PatchGrid, merge: str, order: int) -> list[Accumulator]:
    """The accumulators of the denoised image by `merge` and, for order > 1, of the moment maps. With
    moments, the moments' mean is the mean merge (the same sums around the same first estimate, bitwise),
    so that merge needs no accumulator of its own."""
    if order == 1:
        return [estimate_accumulator(grid, merge)]
    moments = MomentAccumulator(grid, third=order > 2)
    return [moments] if merge == "mean" else [estimate_accumulator(grid, merge), moments]


def inference_evo(evo: EvoConfig) -> EvoConfig:
    """The E-step of inference: the single-latent states join from its first round on, whatever the epoch
    (their late start is for learning, while the dictionary forms)."""
    return evo if evo.single_latents_from is None else replace(evo, single_latents_from=0)


# Called after each inference chunk with the number of this rank's chunks done.
ChunkDone = Callable[[int], None]


def chunk_count(run: Run) -> int:
    """How many inference chunks this rank's block of the patches is cut into."""
    lo, hi = block_range(run.inference_grid.N, run.comm.rank, run.comm.size)
    return -(-(hi - lo) // run.chunk_patches)


def infer(
    run: Run,
    model: PatchModel,
    image: np.ndarray,
    trained: States | None = None,
    chunk_done: ChunkDone | None = None,
) -> tuple[np.ndarray, PixelMoments | None]:
    """(merged posterior mean (R, C), per-pixel moments if order > 1) of the image, on every rank.

    Every rank takes its block of the patches of the run's inference grid (`block_range`; with a stride > 1, of the
    image padded to it, the result cropped back). trained: when the model was learned on all patches and inference
    takes them all, this rank's training states, which cover the same block (one more E-step each); otherwise every
    patch starts from `inference_states` fresh states and gets `inference_epochs` E-steps. A family whose E-step is
    exact for its truncation (the PMM's) takes one E-step from fresh states, whatever `trained` holds.
    chunk_done: told the number of chunks done after each (`chunk_count` in all).
    """
    config, grid, comm, order = run.config, run.inference_grid, run.comm, run.moments
    assert trained is None or not run.strided, "training states cover the patches of stride 1"
    image = pad_to(image, grid)
    family = config.family
    lo, hi = block_range(grid.N, comm.rank, comm.size)
    band = grid.band(lo, hi)  # the image rows this rank's patches cover
    merger = Merger(band.grid, pixel_accumulators(band.grid, config.merge, order))
    estep = family.e_step(inference_evo(config.evo), config.seed)
    kept = None if family.exact_e_step else trained  # an exact E-step needs no start
    rounds = 1 if kept is not None or family.exact_e_step else max(1, config.inference_epochs)
    # The moments of the noise-free patches in the image's own pixels: with whitened patches, the model's
    # dictionary coloured back (zeroshot.noise.whitening).
    pixel_model = model if run.whitening is None else run.whitening.colour(model)
    for done, (start, stop) in enumerate(grid.chunks(lo, hi, run.chunk_patches), start=1):
        Yc, dc = learned_patches(slab_patch_range(image, grid, start, stop), config.center_patches, run.whitening)
        if kept is not None:
            chunk_states = kept.subset(slice(start - lo, stop - lo), first_index=start)
        else:
            chunk_states = family.states.fresh(
                stop - start, config.n_latents, run.inference_states, config.seed + 1, start
            )
        for r in range(rounds):
            estep.update(model, Yc, chunk_states, config.epochs + r)
        products = estep.workspace.products(model, Yc) if model.moments_need_products else None
        estep.workspace.clear()  # what the moments need, `products` holds
        patch_moments = pixel_model.posterior_moments(chunk_states, order=order, products=products)
        # Patches of several slices (3-D context): the centre slice's block is written back.
        mean, variance, third = (centre_block(m, config.context) for m in _moment_arrays(patch_moments))
        assert mean is not None
        mean += dc  # the patches' own means back, in place: the kernel's fresh array (or the block's copy)
        merger.add(start - band.first_patch, mean, variance, third)
        del variance, third
        # Freed before the next chunk is made: otherwise two chunks' arrays would be alive at once.
        del Yc, dc, chunk_states, patch_moments, mean, products
        if chunk_done is not None:
            chunk_done(done)
    denoised, moments = _merged(run, merger, band.row0)
    if run.strided:  # the padded rows and columns off
        R, C = run.grid.shape
        denoised = np.ascontiguousarray(denoised[:R, :C])
        moments = None if moments is None else moments.cropped(R, C)
    return denoised, moments


def _moment_arrays(moments: PosteriorMoments) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    return moments.mean, moments.variance, moments.third


def _merged(run: Run, merger: Merger, row0: int) -> tuple[np.ndarray, PixelMoments | None]:
    """The merged images of every rank's merger, on every rank."""
    grid, comm, order = run.inference_grid, run.comm, run.moments
    whole = merge_over_ranks(merger, row0, grid, comm)
    maps = None if whole is None else whole.take_result()
    del whole
    maps = comm.bcast_arrays(maps)
    # Without a mean accumulator of its own the denoised image is the moments' mean, as a map of its own:
    # the caller rescales both in place.
    denoised = maps.pop("denoised") if "denoised" in maps else maps["mean"].copy()
    return denoised, PixelMoments.of(maps) if order > 1 else None
