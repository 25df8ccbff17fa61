"""Learning one model from several images: every decision before any work, and this rank's training patches.

The images are taken to one domain by the transforms of the first image: its noise model (decided from it,
for noise="auto", with its estimated parameters: the Poisson gain and read noise, the noise ACF), its patch
size (chosen from it when not given), its value scaling and, for correlated noise, the whitening estimated
from it. The images come from one instrument, whose noise does not change from image to image, and Θ can only
be learned in one domain: an image scaled by its own statistics would give Θ another unit for each image.
One image alone is prepared exactly as `zeroshot.denoise` prepares it (its training patches and Θ come out
bitwise the same).

The training patches are drawn from the patches of all images, numbered image after image (each row-major),
as `max_train_patches` of them (or all) with the seed; each rank takes its contiguous block of them, as for
one image.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from zeroshot.config import DenoiseConfig, training_patch_limit
from zeroshot.noise.model import NoiseModel
from zeroshot.noise.whitening import PatchWhitening
from zeroshot.patches.grid import PatchGrid, draw_training_rows
from zeroshot.patches.slab import slab_patches_at
from zeroshot.pipeline.env import CheckpointPlan, RunEnv
from zeroshot.pipeline.run import check_counts, check_values, decided_domain, learned_patches
from zeroshot.pipeline.scaling import ImageScaling
from zeroshot.pipeline.slab import context_error
from zeroshot.runtime.checkpoint import image_hash
from zeroshot.runtime.comm import Comm, block_range
from zeroshot.runtime.memory_check import check_max_memory, fit_chunk_patches
from zeroshot.runtime.threads import check_threads


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """A prepared training on several images: config (patch size chosen), comm, threads, checkpoint plan,
    n_train (the training patches of all ranks), block (this rank's share of them), and the transforms of the
    first image that every image was taken through: noise (fitted to the patches: with the whitening of correlated
    noise), scaling. images: how many."""

    config: DenoiseConfig
    comm: Comm
    threads: int
    checkpoint: CheckpointPlan | None
    n_train: int
    block: tuple[int, int]
    noise: NoiseModel
    scaling: ImageScaling
    images: int

    @property
    def whitening(self) -> PatchWhitening | None:
        return self.noise.whitening


def as_image_list(images: np.ndarray | Sequence[np.ndarray], context: int = 1) -> list[np.ndarray]:
    """The images to learn from: a 2-D array is one image, a 3-D array (F, R, C) its F frames, a sequence
    its items (each 2-D). ValueError for none, or an item that is no 2-D array. With context d > 1 (3-D
    context), slabs of d slices instead (`as_slab_list`)."""
    if context > 1:
        return as_slab_list(images, context)
    if isinstance(images, np.ndarray):
        if images.ndim == 2:
            return [images]
        if images.ndim == 3:
            return list(images)
        raise ValueError(f"images must be a 2-D image, a 3-D stack (F, R, C) or a list of images, got {images.shape}")
    items = [np.asarray(image) for image in images]
    if not items:
        raise ValueError("no images to learn from")
    for index, image in enumerate(items):
        if image.ndim != 2:
            raise ValueError(f"image {index}: must be a 2-D grayscale array (rows, cols), got shape {image.shape}")
    return items


def as_slab_list(slabs: np.ndarray | Sequence[np.ndarray], context: int) -> list[np.ndarray]:
    """The slabs (context, R, C) to learn from with 3-D context: a 3-D array is one slab, a 4-D array (F, context,
    R, C) F of them, a sequence its items (each a slab; `zeroshot.denoise_volume` makes them). ValueError for
    none, or an item that is no slab (a 2-D image: `context_error`)."""
    if isinstance(slabs, np.ndarray):
        if slabs.ndim in (3, 4) and slabs.shape[-3] == context:
            return [slabs] if slabs.ndim == 3 else list(slabs)
        if slabs.ndim == 2:
            raise context_error(context)
        raise ValueError(
            f"context = {context}: learn from slabs ({context}, R, C), the slices around each training slice, or a "
            f"4-D array (F, {context}, R, C) of them; got shape {slabs.shape}"
        )
    items = [np.asarray(slab) for slab in slabs]
    if not items:
        raise ValueError("no slabs to learn from")
    for index, slab in enumerate(items):
        if slab.ndim == 2:
            raise context_error(context)
        if slab.ndim != 3 or slab.shape[0] != context:
            raise ValueError(f"slab {index}: must be ({context}, rows, cols) for context = {context}, got {slab.shape}")
    return items


def prepare_training(
    images: Sequence[np.ndarray], config: DenoiseConfig, env: RunEnv, names: Sequence[str] | None = None
) -> tuple[TrainingSet, np.ndarray]:
    """(the training set, this rank's training patches Y (n, D): centred if the configuration says so, whitened
    for correlated noise). Raises ValueError naming the first problem and the image (by `names`, default
    "image 0", "image 1", ...; one image alone is not named); a collective when env.comm has several ranks."""
    n_threads = check_threads(env.threads)
    memory_limit = check_max_memory(env.max_memory)
    labels = _labels(len(images), names)
    counts = config.family.counts
    noise, first, slab_acf, P = decided_domain(_checked(images[0], labels[0], config), config)
    config = replace(config, patch_size=P)
    shapes = [np.shape(image)[-2:] for image in images]
    for index, shape in enumerate(shapes):
        if min(shape) < P:
            raise ValueError(f"{labels[index]}shape {shape} is smaller than the patch size {P}")
    comm = env.comm
    plan = env.agreed_plan(_images_hash(images), config)
    largest = max(shapes, key=lambda shape: shape[0] * shape[1])
    # The memory of one image's run, the largest; the training set of several may be larger (see the README).
    chunk = fit_chunk_patches(
        largest, config, moments=1, threads=n_threads, checkpoint=plan is not None, comm=comm, max_memory=memory_limit
    )
    scaling = ImageScaling(1.0, 0.0, 1.0) if counts else ImageScaling.normalise(first)
    noise = noise.for_patches(first, scaling.scale, P, slab_acf)
    grids = [PatchGrid.of(shape, P) for shape in shapes]
    offsets = np.cumsum([0] + [grid.N for grid in grids])
    rows = draw_training_rows(int(offsets[-1]), training_patch_limit(config, noise), config.seed)
    if rows.size < comm.size:
        raise ValueError(f"{rows.size} training patches cannot be shared by {comm.size} ranks")
    block = block_range(rows.size, comm.rank, comm.size)
    local = rows[block[0] : block[1]]
    Y = np.empty((local.size, config.context * P * P))
    for index, grid in enumerate(grids):
        values = first if index == 0 else _checked(images[index], labels[index], config)
        if index > 0:
            values = _scaled(noise.forward(values), scaling, labels[index])
        lo, hi = np.searchsorted(local, offsets[index : index + 2])
        if hi > lo:
            Y[lo:hi] = slab_patches_at(values, grid, local[lo:hi] - offsets[index], chunk)
        del values
    Y, _ = learned_patches(Y, config.center_patches, noise.whitening)
    training = TrainingSet(config, comm, n_threads, plan, int(rows.size), block, noise, scaling, len(images))
    return training, Y


def _labels(count: int, names: Sequence[str] | None) -> list[str]:
    """The prefix of each image's error messages ("NAME: "; none for one image without a name)."""
    if names is not None:
        if len(names) != count:
            raise ValueError(f"{len(names)} names for {count} images")
        return [f"{name}: " for name in names]
    return [""] if count == 1 else [f"image {index}: " for index in range(count)]


def _checked(image: np.ndarray, label: str, config: DenoiseConfig) -> np.ndarray:
    """check_values's float64 copy of the image (or slab, with 3-D context; check_counts for a family of counts),
    its errors prefixed by `label`."""
    try:
        values = check_values(image, config)
        if config.family.counts:
            check_counts(values)
    except ValueError as error:
        raise ValueError(f"{label}{error}") from None
    return values


def _scaled(values: np.ndarray, scaling: ImageScaling, label: str) -> np.ndarray:
    """An image after the first, in the noise model's domain, mapped by the first image's scaling in place;
    its error prefixed by `label`."""
    try:
        return scaling.apply(values, of="the first image")
    except ValueError as error:
        raise ValueError(f"{label}{error}") from None


def _images_hash(images: Sequence[np.ndarray]) -> str:
    """SHA-256 of the images' hashes in order (`image_hash`: shape, dtype and values of each)."""
    digest = hashlib.sha256()
    for image in images:
        digest.update(image_hash(np.asarray(image)).encode())
    return digest.hexdigest()
