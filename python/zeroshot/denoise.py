"""The denoising pipeline: scale, patch, learn, infer in chunks, merge, scale back."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

import numpy as np

from zeroshot.config import DenoiseConfig
from zeroshot.models.base import Model
from zeroshot.models.pmm import PMM
from zeroshot.noise.model import NoiseModel
from zeroshot.patches.extract import center, patches_at
from zeroshot.patches.moments import PixelMoments
from zeroshot.pipeline.inference import infer
from zeroshot.pipeline.run import Run, check_image, prepare
from zeroshot.pipeline.structure_guard import StructureCheck, check_structure, smooth_estimate
from zeroshot.pipeline.training import train
from zeroshot.runtime.comm import Comm, SerialComm
from zeroshot.runtime.memory_check import MaxMemory
from zeroshot.runtime.threads import check_threads, thread_count
from zeroshot.variational.em import Callback, EpochLog

__all__ = ["Callback", "DenoiseResult", "EpochLog", "check_image", "check_threads", "denoise", "thread_count"]


@dataclass(frozen=True)
class DenoiseResult:
    """denoised (R, C) float64 on the input's value scale; noise_sigma: the learned noise level on that
    scale (for noise "poisson": in the transformed domain, where it is about 1 when the transform fits);
    free_energy: F per training epoch; moments: per-pixel posterior moments on the input's scale (mean,
    variance = within + between, third moment and skewness) if asked for; variance: moments.variance;
    noise: the noise model the run used (decided from the image for noise="auto"); structure: the structure
    guard's verdict (None when it did not run; when it found no structure, `denoised` is the smooth estimate and
    `model` the guard's small model)."""

    denoised: np.ndarray
    noise_sigma: float
    free_energy: list[float]
    history: list[EpochLog]
    model: Model | PMM
    config: DenoiseConfig
    moments: PixelMoments | None = None
    noise: NoiseModel | None = None
    structure: StructureCheck | None = None

    @property
    def variance(self) -> np.ndarray | None:
        return None if self.moments is None else self.moments.variance


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
    add the third central moment and the skewness. noise: "auto" (default) decides from the image between
    "white", "poisson" (counts: learned after the generalized Anscombe transform, brought back by its exact
    unbiased inverse) and "correlated" (the patches whitened by the noise covariance estimated from the image; see
    `zeroshot.noise.whitening`); see
    `zeroshot.noise.model`.

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
    unknown = sorted(set(options) - {f.name for f in fields(DenoiseConfig)})
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; see zeroshot.DenoiseConfig for the fields")
    if config is None:  # a model named in the options brings its own measured defaults
        config = DenoiseConfig.for_model(str(options.get("model", "bsc")))
    config = replace(config, **options)  # type: ignore[arg-type]
    run, scaled = prepare(
        image,
        config,
        comm=comm if comm is not None else SerialComm(),
        threads=threads,
        moments=moments,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        max_memory=max_memory,
    )
    with thread_count(run.threads):
        structure = check_structure(run, scaled) if run.config.structure_guard else None
        model: Model | PMM
        if structure is not None and not structure.found:
            model, history = structure.model, structure.history
            denoised, pixel_moments = smooth_estimate(structure, scaled, run.moments)
        else:
            model, states, history = train(run, training_patches(run, scaled), callback)
            trained = None if run.subset else states
            del states  # a subset's states are not needed any more: free them before inference
            denoised, pixel_moments = infer(run, model, scaled, trained)
            del trained
    return DenoiseResult(
        denoised=run.noise.inverse(run.scaling.to_input(denoised)),
        noise_sigma=noise_sigma(run, model),
        free_energy=[h.free_energy for h in history],
        history=history,
        model=model,
        config=run.config,
        moments=None
        if pixel_moments is None
        else run.noise.moments_to_input(run.scaling.moments_to_input(pixel_moments)),
        noise=run.noise,
        structure=structure,
    )


def training_patches(run: Run, scaled: np.ndarray) -> np.ndarray:
    """This rank's training patches (N, D), centred if the configuration says so, and whitened for correlated
    noise."""
    Y, _ = center(patches_at(scaled, run.grid, run.local_training_rows, run.chunk_patches), run.config.center_patches)
    return Y if run.whitening is None else run.whitening.whiten(Y)


def noise_sigma(run: Run, model: Model | PMM) -> float:
    """The learned noise level (of one pixel) on the input's scale. Centred patches keep D - 1 of the D noise
    dimensions: that shrinkage of the estimate is undone. With whitened patches σ² is in units of the noise
    covariance, whose pixel variance takes it back."""
    D = run.grid.D
    correction = D / (D - 1) if run.config.center_patches and D > 1 else 1.0
    unit = 1.0 if run.whitening is None else run.whitening.pixel_variance
    return float(np.sqrt(model.sigma2 * correction * unit) * run.scaling.scale)
