"""The denoising pipeline: scale, patch, learn, infer in chunks, merge, scale back."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace

import numpy as np

from zeroshot.config import MODELS, DenoiseConfig, integer_at_least, resolve_config
from zeroshot.models.base import PatchModel
from zeroshot.noise.model import NoiseModel
from zeroshot.noise.statistics import NoiseACF
from zeroshot.noise.whitening import PatchWhitening
from zeroshot.patches.moments import PixelMoments
from zeroshot.patches.slab import centre_slice
from zeroshot.pipeline.env import RunEnv
from zeroshot.pipeline.inference import chunk_count, infer
from zeroshot.pipeline.progress import RunProgress, Step, epoch_reports
from zeroshot.pipeline.run import Run, check_image, patches_as_learned, prepare
from zeroshot.pipeline.second_pass import noise_spectrum, second_pass, second_pass_applies
from zeroshot.pipeline.slab import context_error
from zeroshot.pipeline.structure_guard import StructureCheck, check_structure, smooth_estimate
from zeroshot.pipeline.trained import ModelFit, ModelMismatchWarning, TrainedModel, pixel_noise_sigma
from zeroshot.pipeline.training import train
from zeroshot.runtime.comm import Comm, SerialComm
from zeroshot.runtime.memory_check import MaxMemory
from zeroshot.runtime.threads import check_threads, thread_count
from zeroshot.variational.em import Callback, EpochLog
from zeroshot.variational.states import States

__all__ = [
    "Callback",
    "DenoiseResult",
    "EpochLog",
    "RunProgress",
    "Step",
    "check_image",
    "check_threads",
    "denoise",
    "later_frames_config",
    "thread_count",
]


@dataclass(frozen=True)
class DenoiseResult:
    """denoised (R, C) float64 on the input's value scale; noise_sigma: the learned noise level on that
    scale (for noise "poisson": in the transformed domain, where it is about 1 when the transform fits; with a
    trained model: the model's, after fine-tuning if any); model_fit: with a trained model, the image's own noise
    sigma and value scale beside the model's (`ModelFit`; None without a model, and for model pmm);
    free_energy: F per training epoch; moments: per-pixel posterior moments on the input's scale (mean,
    variance = within + between, third moment and skewness) if asked for; variance: moments.variance;
    noise: the noise model the run used (decided from the image for noise="auto", fitted to the patches);
    whitening: the patches' whitening for correlated noise (the noise model's; `dictionary` uses it); structure:
    the structure guard's verdict (None when it did not run; when it found no structure, `denoised` is the smooth
    estimate and `model` the guard's small model)."""

    denoised: np.ndarray
    noise_sigma: float
    free_energy: list[float]
    history: list[EpochLog]
    model: PatchModel
    config: DenoiseConfig
    moments: PixelMoments | None = None
    noise: NoiseModel | None = None
    structure: StructureCheck | None = None
    model_fit: ModelFit | None = None

    @property
    def whitening(self) -> PatchWhitening | None:
        return None if self.noise is None else self.noise.whitening

    @property
    def dictionary(self) -> np.ndarray:
        """The model's dictionary W (D, H) in the image's (scaled) pixels: for whitened patches (correlated
        noise) coloured back by the whitening (W ← L W), as the posterior moments are."""
        return self.model.W if self.whitening is None else self.whitening.L @ self.model.W

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
    model: str | os.PathLike[str] | TrainedModel | None = None,
    finetune: int = 0,
    compare_to_model: bool = True,
    wiener_noise: NoiseACF | None = None,
    progress: RunProgress | None = None,
    **options: object,
) -> DenoiseResult:
    """Denoise one 2-D image from itself alone, or with a trained model.

    image: (R, C) array of any real dtype; with context = d > 1 (3-D context, `zeroshot.pipeline.slab`), the
    slab (d, R, C) of a volume around the slice to denoise, which is its middle one (`zeroshot.denoise_volume`
    makes them; a 2-D image is then refused). Options are the fields of `DenoiseConfig` (model,
    patch_size, n_latents, n_states, epochs, max_train_patches, merge, seed, context, ...) and override
    `config` (default: `DenoiseConfig.for_model(model)`, the measured defaults of the model).
    `callback` gets an `EpochLog` after every training epoch; `progress` (a `RunProgress`) is told the noise
    model once decided, then every training epoch (with the noise level learned so far, as `noise_sigma` states
    it), inference chunk and the second pass (`zeroshot.pipeline.progress`). moments: 1 for the denoised image only,
    2 to add the per-pixel posterior variance (law of total variance over the covering patches), 3 to
    add the third central moment and the skewness. noise: "auto" (default) decides from the image between
    "white", "poisson" (counts: learned after the generalized Anscombe transform, brought back by its exact
    unbiased inverse) and "correlated" (the patches whitened by the noise covariance estimated from the image; see
    `zeroshot.noise.whitening`; the posterior mean is then sharpened by a Wiener pass unless second_pass="none",
    see `zeroshot.pipeline.second_pass`); see `zeroshot.noise.decide`.

    model: a model name ("bsc", "es3c", "pmm": the DenoiseConfig field), or a trained model (a `TrainedModel`
    of `zeroshot.train`, or the path of its file, a Path or any other string): then nothing is learned from
    scratch; the image is taken through the model's transforms (noise model, value scaling, whitening: those of
    its training images) and denoised by E-steps at the model's fixed parameters, after `finetune` epochs of EM
    on the image's own training patches starting from them (0: none). The options may then set the inference
    (merge, chunk_patches, inference_epochs, seed, n_states, evo, max_train_patches); one the model fixes
    (patch_size, n_latents, noise, ...) given with another value is refused (`TrainedModel.config_for`), and so
    are config, epochs and checkpoint. An image whose own noise sigma or value scale lies more than a factor 3
    from the model's training images' is denoised with a `ModelMismatchWarning` naming both figures
    (`DenoiseResult.model_fit` holds them). compare_to_model=False skips that comparison (`model_fit` is then
    None): for a model learned from the image's own volume, whose noise is the model's by construction (the image's
    own noise estimate takes 0.3 s of a 1024² slice's 2). wiener_noise: the noise spectrum of the Wiener pass,
    when it follows, instead of the image's own estimate (`model_noise_spectrum`: one for all slices of a volume).

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
    trained = trained_model(model, max_memory)
    if trained is None:
        if model is not None:
            options["model"] = model
        if integer_at_least("finetune", finetune, minimum=0) != 0:
            raise ValueError(f"finetune={finetune!r} needs a trained model (model=TrainedModel or a model file)")
        config = resolve_config(config, options)
    else:
        for name, given in (("config", config), ("checkpoint", checkpoint)):
            if given is not None:
                raise ValueError(
                    f"{name}= with a trained model: the model brings its configuration, and fine-tuning keeps no "
                    "checkpoints; give the inference options alone (merge, chunk_patches, ...)"
                )
        source = "the model" if isinstance(model, TrainedModel) else str(model)
        config = trained.config_for(options, finetune, source)
        if config.context > 1 and np.ndim(image) == 2:
            raise context_error(config.context, source)
    if wiener_noise is not None and not isinstance(wiener_noise, NoiseACF):
        raise ValueError(f"wiener_noise must be a NoiseACF (model_noise_spectrum), got {type(wiener_noise).__name__}")
    env = RunEnv(comm if comm is not None else SerialComm(), threads, max_memory, checkpoint, checkpoint_every, resume)
    run, scaled = prepare(image, config, env, moments=moments, trained=trained)
    fit = None if trained is None or not compare_to_model else trained.fit_of(centre_slice(scaled))
    problem = None if fit is None else fit.problem()
    if problem is not None and run.comm.rank == 0:
        warnings.warn(problem, ModelMismatchWarning, stacklevel=2)
    if progress is not None:
        progress.noise_decided(run.noise, estimated_sigma(run, centre_slice(scaled), fit))
    with thread_count(run.threads):
        # The guard judges the image before learning from it (not with a model file: that model was learned).
        structure = check_structure(run, scaled) if run.config.structure_guard and trained is None else None
        learned: PatchModel
        if structure is not None and not structure.found:
            learned, history = structure.model, structure.history
            denoised, pixel_moments = smooth_estimate(structure, scaled, run.moments)
        else:
            learned, states, history = _learn(
                run, scaled, epoch_reports(run.config, run.whitening, run.scaling, callback, progress), trained
            )
            kept = None if run.subset or run.strided else states
            del states  # a subset's states are not needed any more: free them before inference
            denoised, pixel_moments = _infer_and_filter(run, learned, scaled, kept, progress, wiener_noise)
            del kept
    return DenoiseResult(
        denoised=run.noise.inverse(run.scaling.to_input(denoised)),
        noise_sigma=noise_sigma(run, learned),
        free_energy=[h.free_energy for h in history],
        history=history,
        model=learned,
        config=run.config,
        moments=None
        if pixel_moments is None
        else run.noise.moments_to_input(run.scaling.moments_to_input(pixel_moments)),
        noise=run.noise,
        structure=structure,
        model_fit=fit,
    )


def later_frames_config(config: DenoiseConfig, first: DenoiseResult) -> DenoiseConfig:
    """The configuration of the later frames of a stack, denoised frame by frame after the first with `config`:
    noise="auto" is decided once, on the first frame, and its kind ("white", "poisson" or "correlated") is asked
    for every later frame (each estimates its parameters: the Poisson gain, the noise covariance), so that one
    stack is denoised in one domain and its sigmas compare (frame by frame, the decision on similar frames of
    borderline counts went both ways). Any other noise, and model pmm's own, is `config` unchanged."""
    if config.noise != "auto" or first.noise is None or not first.noise.askable:
        return config
    return replace(config, noise=first.noise.kind)


def model_noise_spectrum(image: np.ndarray, trained: TrainedModel) -> NoiseACF | None:
    """The Wiener pass's noise spectrum of `image` (a slab: of its centre slice) taken through the trained model's
    transforms (None where no Wiener pass follows the model): estimated once on a volume's middle slice, it serves
    every slice of the volume the model was learned from (`zeroshot.volume`; 0.4 s of a 1024² slice's 2.7)."""
    run, scaled = prepare(image, trained.config_for({}), RunEnv(), moments=1, trained=trained)
    if not second_pass_applies(run, scaled.shape[-2:]):
        return None
    return noise_spectrum(centre_slice(scaled))


def trained_model(
    model: str | os.PathLike[str] | TrainedModel | None, max_memory: MaxMemory = None
) -> TrainedModel | None:
    """The trained model that `model` names (see `denoise`), loaded from its file (within max_memory); None
    for a model name."""
    if model is None or isinstance(model, TrainedModel):
        return model
    if isinstance(model, str) and model in MODELS:
        return None
    if isinstance(model, os.PathLike) or (isinstance(model, str) and os.path.lexists(model)):
        return TrainedModel.load(model, max_memory)
    raise ValueError(
        f"model must be one of {tuple(MODELS)}, a TrainedModel or the path of a model file, got {model!r}"
        + (" (no such file)" if isinstance(model, str) else "")
    )


def estimated_sigma(run: Run, scaled: np.ndarray, fit: ModelFit | None) -> float | None:
    """The noise level of one pixel estimated from the image before training, on the input's scale: the one the
    noise model knows (the ACF's of correlated noise), with a model file the image's own (`ModelFit`), else the
    noise model's estimate; None for noise without one sigma on the input's scale (Poisson counts) and an image too
    small to estimate it."""
    if not run.noise.sigma_on_input_scale:
        return None
    if fit is not None:
        return fit.noise_sigma
    known = run.noise.known_sigma
    if known is not None:
        return float(known)
    try:
        unit = run.noise.sigma_of(scaled)
    except ValueError:
        return None
    return float(unit) * run.scaling.scale


def _infer_and_filter(
    run: Run,
    model: PatchModel,
    scaled: np.ndarray,
    trained: States | None,
    progress: RunProgress | None,
    wiener_noise: NoiseACF | None = None,
) -> tuple[np.ndarray, PixelMoments | None]:
    """Inference and the second pass (scaled units, with the noise spectrum `wiener_noise` if given), `progress`
    told of each chunk and of the pass."""
    filters = second_pass_applies(run, scaled.shape[-2:])
    total = chunk_count(run) + int(filters)

    def chunk_done(done: int) -> None:
        if progress is not None:
            progress.step(Step("inference", done, total, "chunk"))

    denoised, pixel_moments = infer(run, model, scaled, trained, chunk_done)
    denoised = second_pass(run, centre_slice(scaled), denoised, wiener_noise)
    if filters and progress is not None:
        progress.step(Step("inference", total, total, "Wiener pass"))
    return denoised, pixel_moments


def _learn(
    run: Run, scaled: np.ndarray, callback: Callback | None, trained: TrainedModel | None
) -> tuple[PatchModel, States | None, list[EpochLog]]:
    """(the model, this rank's training states, the history): learned from scratch; or a trained model as it
    is (no epochs: pure inference), or fine-tuned by the run's epochs starting from it."""
    if trained is not None and run.config.epochs == 0:
        return trained.model, None, []
    start = None if trained is None else trained.model
    return train(run, training_patches(run, scaled), callback, start=start)


def training_patches(run: Run, scaled: np.ndarray) -> np.ndarray:
    """This rank's training patches (N, D), centred if the configuration says so, and whitened for correlated
    noise."""
    return patches_as_learned(run, scaled, run.local_training_rows)


def noise_sigma(run: Run, model: PatchModel) -> float:
    """The learned noise level (of one pixel) on the input's scale (see `pixel_noise_sigma`)."""
    return pixel_noise_sigma(model.sigma2, run.config, run.whitening, run.scaling)
