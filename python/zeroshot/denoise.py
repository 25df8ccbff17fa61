"""The denoising pipeline: scale, patch, learn, infer in chunks, merge, scale back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from zeroshot import _core
from zeroshot.config import DenoiseConfig
from zeroshot.models.base import Model
from zeroshot.noise import choose_patch_size
from zeroshot.patches.grid import extract_patches, patch_grid_shape
from zeroshot.patches.moment_merge import PixelMoments
from zeroshot.pipeline.inference import center, infer
from zeroshot.pipeline.training import CheckpointPlan, train
from zeroshot.runtime.checkpoint import config_record, image_hash
from zeroshot.runtime.comm import Comm, SerialComm, any_rank, block_range
from zeroshot.runtime.memory_check import MaxMemory, check_max_memory, fit_chunk_patches
from zeroshot.variational.em import Callback, EpochLog


@dataclass(frozen=True)
class DenoiseResult:
    """denoised (R, C) float64 on the input's value scale; noise_sigma: the learned noise level on that
    scale; free_energy: F per training epoch; moments: per-pixel posterior moments on the input's scale
    (mean, variance = within + between, third moment and skewness) if asked for; variance: moments.variance."""

    denoised: np.ndarray
    noise_sigma: float
    free_energy: list[float]
    history: list[EpochLog]
    model: Model
    config: DenoiseConfig
    moments: PixelMoments | None = None

    @property
    def variance(self) -> np.ndarray | None:
        return None if self.moments is None else self.moments.variance


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


def check_threads(threads: int | None) -> int:
    """The OpenMP threads a run will use: `threads`, or the current number when None."""
    if threads is None:
        return _core.get_num_threads()
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    if threads > _core.MAX_THREADS:
        raise ValueError(f"threads must be at most {_core.MAX_THREADS}, got {threads}")
    return threads


@contextmanager
def thread_count(threads: int | None) -> Iterator[None]:
    check_threads(threads)
    if threads is None:
        yield
        return
    previous = _core.get_num_threads()
    _core.set_num_threads(threads)
    try:
        yield
    finally:
        _core.set_num_threads(previous)


def _patch_rows(image: np.ndarray, P: int, rows: np.ndarray, chunk: int) -> np.ndarray:
    """Patches (len(rows), D) at the sorted global indices `rows`, extracted chunk by chunk."""
    out = np.empty((rows.size, P * P))
    n_total = int(np.prod(patch_grid_shape(image.shape, P)))
    done = 0
    for start in range(0, n_total, chunk):
        stop = min(start + chunk, n_total)
        hi = int(np.searchsorted(rows, stop))
        if hi > done:
            out[done:hi] = extract_patches(image, P, start, stop)[rows[done:hi] - start]
            done = hi
    return out


def _check_same_run(comm: Comm, fingerprint: str) -> None:
    """Every rank must denoise the same image with the same configuration (a collective)."""
    differs = comm.bcast(fingerprint) != fingerprint
    if any_rank(comm, differs):
        raise ValueError(
            f"the {comm.size} ranks were given different images or options; every rank must call "
            "denoise with the same image and options (for one image per process, leave comm out)"
        )


def _checkpoint_plan(
    checkpoint: str | os.PathLike[str] | None, every: int, resume: bool, input_hash: str, comm: Comm
) -> CheckpointPlan | None:
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"checkpoint_every must be a positive integer, got {every!r}")
    if checkpoint is None:
        if resume:
            raise ValueError("resume needs the checkpoint to resume from (checkpoint=PATH, --checkpoint PATH)")
        return None
    path = Path(checkpoint)
    problem = None  # rank 0 alone writes (and reads) the checkpoint; the other ranks learn of a problem
    if comm.rank == 0:
        if path.is_dir():
            problem = f"checkpoint {path} is a folder; name a file"
        elif not path.parent.is_dir():
            problem = f"checkpoint {path}: the folder {path.parent} does not exist"
        elif not os.access(path.parent, os.W_OK | os.X_OK):
            problem = f"checkpoint {path}: no permission to write in {path.parent}"
    problem = comm.bcast(problem)
    if problem is not None:
        raise ValueError(problem)
    return CheckpointPlan(path, every, resume, input_hash)


def denoise(
    image: np.ndarray,
    *,
    config: DenoiseConfig | None = None,
    threads: int | None = None,
    callback: Callback | None = None,
    moments: int = 1,
    comm: Comm | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 10,
    resume: bool = False,
    max_memory: MaxMemory = None,
    **options: object,
) -> DenoiseResult:
    """Denoise one 2-D image from itself alone.

    image: (R, C) array of any real dtype. Options are the fields of `DenoiseConfig` (model,
    patch_size, n_latents, n_states, epochs, max_train_patches, merge, seed, ...) and override
    `config` (default: `DenoiseConfig.for_model(model)`, the measured defaults of the model).
    `callback` gets an `EpochLog` after every training epoch. moments: 1 for the denoised image only,
    2 to add the per-pixel posterior variance (law of total variance over the covering patches), 3 to
    add the third central moment and the skewness.

    comm: None for one process, or a `zeroshot.runtime.mpi.MPIComm()` (every rank of it calls denoise with the
    same image and options; each works on its block of the patches; every rank gets the same result).
    checkpoint: a file to save the training state to every `checkpoint_every` epochs, at the end of
    training, and when SIGINT or SIGTERM arrives during training (training then stops after the
    current epoch and `TrainingInterrupted` is raised). resume: continue from that file (refused if it
    was made with another configuration or image); the result equals that of an uninterrupted run.

    Memory: before any work, an upper bound of the memory the run needs (`zeroshot.runtime.memory`) is checked
    against the memory available to each process (Linux: MemAvailable and cgroup limits, shared by the
    ranks of a host), or against max_memory (bytes, or a size such as '8G', per process) when given. If
    fewer patches per inference chunk make it fit, chunk_patches is lowered (a warning on the logger
    "zeroshot" says so; the result is the same); otherwise ValueError names the estimate, the limit and
    the settings to lower.
    """
    if moments not in (1, 2, 3):
        raise ValueError(f"moments must be 1 (mean), 2 (+ variance) or 3 (+ third moment), got {moments!r}")
    unknown = sorted(set(options) - {f.name for f in fields(DenoiseConfig)})
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; see zeroshot.DenoiseConfig for the fields")
    if config is None:  # a model named in the options brings its own measured defaults
        config = DenoiseConfig.for_model(str(options.get("model", "bsc")))
    config = replace(config, **options)  # type: ignore[arg-type]
    comm = comm if comm is not None else SerialComm()
    n_threads = check_threads(threads)
    memory_limit = check_max_memory(max_memory)
    values = check_image(image, config.patch_size or 1)
    P = config.patch_size if config.patch_size is not None else choose_patch_size(values, config.model)
    config = replace(config, patch_size=P)
    input_hash = image_hash(values) if comm.size > 1 or checkpoint is not None else ""
    if comm.size > 1:  # all that decides which collectives a rank takes part in
        run = [config_record(config), moments, str(checkpoint), checkpoint_every, resume]
        _check_same_run(comm, input_hash + json.dumps(run, sort_keys=True, default=repr))
    plan = _checkpoint_plan(checkpoint, checkpoint_every, resume, input_hash, comm)
    chunk = fit_chunk_patches(
        values.shape,
        config,
        moments=moments,
        threads=n_threads,
        checkpoint=plan is not None,
        comm=comm,
        max_memory=memory_limit,
    )
    # Chunks change no result; the checkpoints keep the configuration as asked for.
    run_config = replace(config, chunk_patches=chunk)
    # Scaled to zero mean and unit variance; the statistics are taken of values / max|value| so that
    # they cannot overflow (an image of values near 1e300 would otherwise give inf and NaN). In place:
    # `values` is check_image's own copy, and one image copy less counts for a large micrograph.
    peak = float(np.max(np.abs(values)))
    scaled = values
    if peak > 0:
        scaled /= peak
    offset_unit, scale_unit = float(scaled.mean()), float(scaled.std())
    scale_unit = scale_unit if scale_unit > 0 else 1.0
    scaled -= offset_unit
    scaled /= scale_unit
    del values
    peak = peak if peak > 0 else 1.0
    scale = scale_unit * peak

    grid = patch_grid_shape(scaled.shape, P)
    n_total = grid[0] * grid[1]
    rng = np.random.default_rng(config.seed)  # the same subset on every rank
    subset = config.max_train_patches is not None and config.max_train_patches < n_total
    rows = np.sort(rng.choice(n_total, size=config.max_train_patches, replace=False)) if subset else np.arange(n_total)
    n_train = rows.size
    if n_train < comm.size:
        raise ValueError(f"{n_train} training patches cannot be shared by {comm.size} ranks")
    lo, hi = block_range(n_train, comm.rank, comm.size)

    with thread_count(threads):
        Y, _ = center(_patch_rows(scaled, P, rows[lo:hi], chunk), config.center_patches)
        del rows
        model, states, history = train(config, Y, lo, n_train, comm, callback, plan)
        del Y
        trained = None if subset else states
        del states  # a subset's states are not needed any more: free them before inference
        denoised_scaled, pixel_moments = infer(model, scaled, run_config, moments, comm, trained=trained)
        del trained

    # Back to the input's scale in place (bitwise the same as new arrays, without their memory).
    denoised = denoised_scaled
    denoised *= scale_unit
    denoised += offset_unit
    denoised *= peak
    D = P * P
    # Centred patches keep D - 1 of the D noise dimensions: undo that shrinkage of the estimate.
    correction = D / (D - 1) if config.center_patches and D > 1 else 1.0
    noise_sigma = float(np.sqrt(model.sigma2 * correction) * scale)
    return DenoiseResult(
        denoised=denoised,
        noise_sigma=noise_sigma,
        free_energy=[h.free_energy for h in history],
        history=history,
        model=model,
        config=config,
        moments=None if pixel_moments is None else _to_input_scale(pixel_moments, scale, offset_unit * peak),
    )


def _to_input_scale(m: PixelMoments, scale: float, offset: float) -> PixelMoments:
    """Moments of x * scale + offset, in place (the maps are the pipeline's own). Products one factor at
    a time: scale**2 may overflow where V * scale does not, and 0 * inf would be NaN."""
    mean = m.mean  # a local name: `m.mean *= ...` would assign to the frozen dataclass
    mean *= scale
    mean += offset
    for power, maps in ((2, (m.variance, m.within, m.between)), (3, (m.third,))):
        for values in maps:
            if values is not None:
                for _ in range(power):
                    values *= scale
    return m
