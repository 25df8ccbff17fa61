"""Inference at fixed parameters: posterior moments of this rank's block of all patches in memory-bounded
chunks, merged into images over all ranks.

Each rank merges its patches into mergers of the band of image rows they cover; rank 0 absorbs the
bands in rank order (the order of the patches) and the merged images go to every rank.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Callable, Protocol, TypeVar

import numpy as np

from zeroshot.config import DenoiseConfig
from zeroshot.models.base import Model
from zeroshot.patches.grid import PatchMerger, extract_patches, patch_grid_shape
from zeroshot.patches.moment_merge import MomentMerger, PixelMoments
from zeroshot.runtime.comm import Comm, block_range
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates, initial_activation


def center(Y: np.ndarray, on: bool) -> tuple[np.ndarray, np.ndarray]:
    """(Y without the patches' means, the means (N, 1)); zeros as means when `on` is false. Y (N, D) is
    centred in place (callers pass freshly extracted patches): no second (N, D) array."""
    if not on:
        return Y, np.zeros((Y.shape[0], 1))
    dc = Y.mean(axis=1, keepdims=True)
    Y -= dc
    return Y, dc


def infer(
    model: Model,
    image: np.ndarray,
    config: DenoiseConfig,
    order: int,
    comm: Comm,
    trained: TruncatedStates | None = None,
) -> tuple[np.ndarray, PixelMoments | None]:
    """(merged posterior mean (R, C), per-pixel moments if order > 1) of the image, on every rank.

    Every rank takes its block of the patches (`block_range`). trained: when the model was learned on
    all patches, this rank's training states, which cover the same block (one more E-step each);
    otherwise every patch starts from random states and gets `inference_epochs` E-steps.
    """
    assert config.patch_size is not None
    P = config.patch_size
    grid_cols = patch_grid_shape(image.shape, P)[1]
    n_total = int(np.prod(patch_grid_shape(image.shape, P)))
    lo, hi = block_range(n_total, comm.rank, comm.size)
    row0 = lo // grid_cols  # the band of image rows this rank's patches cover
    band = (max(hi - 1, lo) // grid_cols + P - row0, image.shape[1])
    offset = row0 * grid_cols
    merger = PatchMerger(band, P, config.merge)
    pixel_moments = MomentMerger(band, P) if order > 1 else None
    estep = EvoEStep(config.evo, seed=config.seed)
    for start in range(lo, hi, config.chunk_patches):
        stop = min(start + config.chunk_patches, hi)
        Yc, dc = center(extract_patches(image, P, start, stop), config.center_patches)
        if trained is not None:
            chunk_states = trained.subset(slice(start - lo, stop - lo), first_index=start)
            rounds = 1
        else:
            chunk_states = TruncatedStates.random(
                stop - start,
                config.n_latents,
                config.n_states,
                initial_activation(config.n_latents),
                config.seed + 1,
                first_index=start,
            )
            rounds = max(1, config.inference_epochs)
        for r in range(rounds):
            estep.update(model, Yc, chunk_states, config.epochs + r)
        products = estep.workspace.products(model, Yc) if model.moments_need_products else None
        estep.workspace.clear()  # what the moments need, `products` holds
        patch_moments = model.posterior_moments(chunk_states, order=order, products=products)
        merger.add(start - offset, patch_moments.mean + dc)
        if pixel_moments is not None and patch_moments.variance is not None:
            pixel_moments.add(start - offset, patch_moments.mean + dc, patch_moments.variance, patch_moments.third)
        # Freed before the next chunk is made: otherwise two chunks' arrays would be alive at once.
        del Yc, dc, chunk_states, patch_moments, products

    whole = merge_over_ranks(merger, row0, comm, lambda: PatchMerger(image.shape, P, config.merge))
    maps: dict[str, np.ndarray] | None = None if whole is None else {"denoised": whole.result()}
    del merger, whole  # before the moment maps are made
    if pixel_moments is not None:
        whole_moments = merge_over_ranks(pixel_moments, row0, comm, lambda: MomentMerger(image.shape, P))
        if maps is not None and whole_moments is not None:
            result = whole_moments.result()
            maps.update(
                {f.name: getattr(result, f.name) for f in fields(result) if getattr(result, f.name) is not None}
            )
    maps = comm.bcast_arrays(maps)
    denoised = maps.pop("denoised")
    return denoised, PixelMoments(**maps) if maps else None


class BandMerger(Protocol):
    def band_state(self) -> dict[str, np.ndarray]: ...

    def absorb(self, state: dict[str, np.ndarray], row0: int) -> None: ...


M = TypeVar("M", bound=BandMerger)


def merge_over_ranks(band: M, row0: int, comm: Comm, make_whole: Callable[[], M]) -> M | None:
    """The merger of the whole image on rank 0 (None on the others), from every rank's merger of its
    band of rows starting at row0. One rank: its band is the whole image."""
    if comm.size == 1:
        return band
    if comm.rank != 0:
        comm.send_arrays({**band.band_state(), "row0": np.array(row0)}, 0)
        return None
    whole = make_whole()
    whole.absorb(band.band_state(), row0)
    for source in range(1, comm.size):
        state = comm.recv_arrays(source)
        whole.absorb(state, int(state.pop("row0")))
    return whole
