"""A prepared run: everything `denoise` decides before any work, read by training and inference.

`prepare` checks the image and the options, chooses the patch size, agrees with the other ranks, plans the
checkpoints, fits the memory, scales the image and draws the training patches; after it, nothing is left
to decide and no user input is left unchecked."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from zeroshot.config import DenoiseConfig, inference_states, inference_stride, training_patch_limit
from zeroshot.noise.decide import decide_noise
from zeroshot.noise.model import NoiseModel
from zeroshot.noise.native import NativeCounts
from zeroshot.noise.slab import SlabNoiseACF
from zeroshot.noise.whitening import PatchWhitening
from zeroshot.patches.extract import center
from zeroshot.patches.grid import PatchGrid
from zeroshot.patches.slab import centre_slice, slab_patches_at
from zeroshot.patches.wiener import WIENER_PATCH
from zeroshot.pipeline.env import CheckpointPlan, RunEnv
from zeroshot.pipeline.scaling import ImageScaling, check_moments_fit
from zeroshot.pipeline.slab import check_slab, input_slab_acf, noise_averaging
from zeroshot.pipeline.trained import TrainedModel
from zeroshot.runtime.checkpoint import image_hash
from zeroshot.runtime.comm import Comm, block_range
from zeroshot.runtime.memory_check import check_max_memory, fit_chunk_patches
from zeroshot.runtime.threads import check_threads


@dataclass(frozen=True, eq=False)
class Run:
    """config: as asked for, with the patch size and max_train_patches chosen (checkpoints keep them); chunk_patches:
    the inference chunk, lowered if that alone fits the memory (chunks change no result); moments: the order of the
    moment maps (1: the denoised image alone); threads: OpenMP threads of the core; grid: the image's patches;
    training_rows: the sorted indices of the patches learned from (every rank's); block: this rank's share of them;
    scaling: the image's value scaling both ways; noise: the noise model, whose forward transform was applied before
    the scaling and whose inverse follows the scaling back, fitted to the patches (`NoiseModel.for_patches`);
    inference_grid: the patches inference takes (the grid itself, or for an inference stride > 1 the strided grid of
    the image padded to it); inference_states: the states per patch of inference from fresh states."""

    config: DenoiseConfig
    chunk_patches: int
    moments: int
    comm: Comm
    threads: int
    grid: PatchGrid
    training_rows: np.ndarray
    block: tuple[int, int]
    checkpoint: CheckpointPlan | None
    scaling: ImageScaling
    noise: NoiseModel
    inference_grid: PatchGrid
    inference_states: int

    @property
    def whitening(self) -> PatchWhitening | None:
        """The whitening of the patches (correlated noise), by the noise covariance estimated from the scaled image."""
        return self.noise.whitening

    @property
    def n_train(self) -> int:
        return int(self.training_rows.size)

    @property
    def subset(self) -> bool:
        """Learned from a subset of the patches (then inference starts every patch anew)."""
        return self.n_train < self.grid.N

    @property
    def strided(self) -> bool:
        """Inference takes every stride-th patch (then it starts every patch anew)."""
        return self.inference_grid.stride > 1

    @property
    def local_training_rows(self) -> np.ndarray:
        lo, hi = self.block
        return self.training_rows[lo:hi]


def prepare(
    image: np.ndarray, config: DenoiseConfig, env: RunEnv, *, moments: int, trained: TrainedModel | None = None
) -> tuple[Run, np.ndarray]:
    """(the run, the image scaled for learning: a float64 copy of `image`, first taken into the noise model's
    domain). trained: a trained model whose transforms (noise model, value scaling, whitening) the image is
    taken through instead of its own (config: `TrainedModel.config_for`). Raises ValueError naming the first
    problem; a collective when env.comm has several ranks."""
    if moments not in (1, 2, 3):
        raise ValueError(f"moments must be 1 (mean), 2 (+ variance) or 3 (+ third moment), got {moments!r}")
    n_threads = check_threads(env.threads)
    memory_limit = check_max_memory(env.max_memory)
    values = check_values(image, config)
    counts = config.family.counts  # the Poisson mixture model: counts on their own scale, no transform
    if counts:
        check_counts(values)
    # The noise model is the same on every rank: it depends on the image alone (or is the trained model's).
    noise, values, slab_acf, P = decided_domain(values, config, trained)
    train_limit = training_patch_limit(config, noise)
    config = replace(config, patch_size=P, max_train_patches=train_limit)
    comm = env.comm
    input_hash = image_hash(values) if comm.size > 1 or env.checkpoint is not None else ""
    plan = env.agreed_plan(input_hash, config, moments, *([] if trained is None else [trained.checksum]))
    chunk = fit_chunk_patches(
        values.shape[-2:],
        config,
        moments=moments,
        threads=n_threads,
        checkpoint=plan is not None,
        comm=comm,
        max_memory=memory_limit,
    )
    if counts:
        scaling = ImageScaling(1.0, 0.0, 1.0)  # the identity
        check_moments_fit(float(values.max()), moments)
    elif trained is not None:  # the training images' scaling, in which the model's parameters were learned
        check_moments_fit(float(np.max(np.abs(values))), moments)
        scaling = trained.scaling
        scaling.apply(values, of="the trained model")  # in place
    else:
        scaling = ImageScaling.normalise(values)  # in place: `values` is check_image's own copy
        scaling.check_moments_fit(moments)
    grid = PatchGrid.of(values.shape[-2:], P)
    rows = grid.training_rows(train_limit, config.seed)  # the same subset on every rank
    if rows.size < comm.size:
        raise ValueError(f"{rows.size} training patches cannot be shared by {comm.size} ranks")
    block = block_range(rows.size, comm.rank, comm.size)
    stride = inference_stride(config, wiener_follows(config, noise, values.shape[-2:]), moments)
    fresh = rows.size < grid.N or stride > 1 or (trained is not None and config.epochs == 0)
    if trained is None:  # a trained model's noise model was fitted to its training images' patches
        noise = noise.for_patches(values, scaling.scale, P, slab_acf)
    run = Run(
        config,
        chunk,
        moments,
        comm,
        n_threads,
        grid,
        rows,
        block,
        plan,
        scaling,
        noise,
        grid.strided(stride),
        inference_states(config, fresh),
    )
    return run, values


def decided_noise(values: np.ndarray, config: DenoiseConfig) -> NoiseModel:
    """The noise model of an image (a slab: of its centre slice) for the configuration: decided from it, or for a
    model family of counts (pmm), which is the Poisson noise model itself, its own."""
    if config.family.counts:
        return NativeCounts.estimate(values, config.noise)
    return decide_noise(centre_slice(values), config.noise)


def decided_domain(
    values: np.ndarray, config: DenoiseConfig, trained: TrainedModel | None = None
) -> tuple[NoiseModel, np.ndarray, SlabNoiseACF | None, int]:
    """What the first image (`check_values`'s copy) decides, or a trained model's transforms: (the noise model, the
    image in its domain (in place), the noise ACF of its slab where the patch size needs it, the patch size)."""
    noise = trained.noise if trained is not None else decided_noise(values, config)
    values = noise.forward(values)  # in place; the identity for white noise
    slab_acf = input_slab_acf(values, noise, trained is None and config.patch_size is None)
    averaging = noise_averaging(config.context, slab_acf, noise)
    return noise, values, slab_acf, patch_size_for(centre_slice(values), config, noise, averaging)


def wiener_follows(config: DenoiseConfig, noise: NoiseModel, shape: tuple[int, ...]) -> bool:
    """Whether the Wiener pass follows the model on an image of this shape (correlated noise, second_pass
    "wiener", at least two of its patches a side: its spectrum's windows hold its lags twice over)."""
    return config.second_pass == "wiener" and noise.wiener_pass and min(shape) >= 2 * WIENER_PATCH


def patch_size_for(values: np.ndarray, config: DenoiseConfig, noise: NoiseModel, averaging: float = 1.0) -> int:
    """The configuration's patch size, or the one the noise model chooses for the image (in its domain) by the
    family's rule (`NoiseModel.patch_size`). averaging: for patches of several slices, the share of the noise
    variance their slices leave (`zeroshot.pipeline.slab.noise_averaging`; 1 for an image)."""
    if config.patch_size is not None:
        return config.patch_size
    return noise.patch_size(values, config.family.patch_rule, averaging)


def learned_patches(
    Y: np.ndarray, center_patches: bool, whitening: PatchWhitening | None
) -> tuple[np.ndarray, np.ndarray]:
    """(the patches Y (N, D) as the models learn them, their means (N, 1)), in place: without their means when
    center_patches (the means to add back to the estimates), whitened for correlated noise."""
    Y, means = center(Y, center_patches)
    if whitening is not None:
        whitening.whiten(Y)
    return Y, means


def patches_as_learned(run: Run, scaled: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The patches (N, D) at `rows` of the run's grid of the scaled image, as the models learn them."""
    patches = slab_patches_at(scaled, run.grid, rows, run.chunk_patches)
    return learned_patches(patches, run.config.center_patches, run.whitening)[0]


def check_values(image: np.ndarray, config: DenoiseConfig) -> np.ndarray:
    """`check_image`'s copy of a 2-D image for config.context 1; for context d > 1, of a slab (d, R, C) of a
    volume (`zeroshot.pipeline.slab.check_slab`), and a 2-D image is refused."""
    if config.context == 1:
        return check_image(image, config.patch_size or 1)
    return check_slab(image, config.context, config.patch_size or 1)


def check_image(image: np.ndarray, patch_size: int) -> np.ndarray:
    """The image as a new finite 2-D float64 array (a copy, which the pipeline scales in place) at least
    patch_size on each side, or a ValueError."""
    array = np.asarray(image)
    if array.size == 0:
        raise ValueError(f"image is empty: shape {array.shape}")
    if array.ndim != 2:
        raise ValueError(
            f"image must be a 2-D grayscale array (rows, cols), got shape {array.shape}"
            + (" (a colour image? convert it to one channel)" if array.ndim == 3 and array.shape[-1] in (3, 4) else "")
        )
    if array.dtype.kind not in "uif":
        raise ValueError(f"image must have a real numeric dtype, got {array.dtype}")
    values = array.astype(np.float64, copy=True)
    if not np.all(np.isfinite(values)):
        bad = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"image contains NaN or Inf (first at pixel {tuple(int(i) for i in bad)})")
    if min(array.shape) < patch_size:
        raise ValueError(f"image of shape {array.shape} is smaller than the patch size {patch_size}")
    return values


def check_counts(values: np.ndarray) -> None:
    """A family of counts (pmm) learns Poisson counts: every value must be >= 0 (non-integer values are allowed; the
    likelihood takes lgamma(y + 1)). A ValueError names the first negative pixel."""
    if np.any(values < 0):
        bad = tuple(int(i) for i in np.argwhere(values < 0)[0])
        raise ValueError(
            f"model pmm needs non-negative counts, but the image has negative values (minimum {values.min():.4g}, "
            f"first at pixel {bad}); give it raw counts, or use model bsc or es3c"
        )
