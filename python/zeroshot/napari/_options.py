"""The widget's choices and the one mapping from them to the arguments of `zeroshot.denoise` (Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from zeroshot.config import MODELS, NOISE_MODELS, DenoiseConfig
from zeroshot.enhance import KINDS
from zeroshot.pipeline.trained import TrainedModel

# The maps a run can add as layers: the denoised image and the structure maps of `zeroshot.enhance`.
MAPS = ("denoised", *KINDS)
# The posterior moments each map needs (`zeroshot.denoise(moments=...)`).
MAP_MOMENTS = {"denoised": 1, "variance": 2, "relief": 2, "detail": 2, "skewness": 3}
# Which frames of a stack to denoise: all (the one in view first) or the one in view alone.
FRAMES = ("all", "current")


@dataclass(frozen=True)
class WidgetOptions:
    """What the widget asks for. patch_size 0: chosen from the noise level; threads 0: the core's current
    number (all cores unless set otherwise); model_file: a model saved by `zeroshot train` to denoise with
    instead of learning one (it fixes the model, noise model, patch size and latents; seed and states still
    apply to its inference E-steps; epochs are not used); maps: the layers to add (MAPS); frames: FRAMES;
    one_model: all the frames of a stack denoised with one model learned from them (`zeroshot.volume`), not a
    model each."""

    model: str = "bsc"
    noise: str = "auto"
    patch_size: int = 0
    latents: int = 512
    states: int = 30
    epochs: int = 10
    seed: int = 0
    threads: int = 0
    model_file: str | None = None
    maps: tuple[str, ...] = ("denoised",)
    frames: str = "all"
    one_model: bool = True

    @classmethod
    def defaults(cls, model: str = "bsc") -> WidgetOptions:
        """The package's defaults of `model` (`DenoiseConfig.for_model`)."""
        config = DenoiseConfig.for_model(model)
        return cls(
            model=model,
            noise=config.noise,
            patch_size=config.patch_size or 0,
            latents=config.n_latents,
            states=config.n_states,
            epochs=config.epochs,
            seed=config.seed,
        )

    def with_model(self, model: str) -> WidgetOptions:
        """These options with `model` and its defaults of the model's size and training (the noise, seed,
        threads, maps and frames kept)."""
        fresh = WidgetOptions.defaults(model)
        return replace(
            self,
            model=model,
            patch_size=fresh.patch_size,
            latents=fresh.latents,
            states=fresh.states,
            epochs=fresh.epochs,
        )


def moments_for(maps: tuple[str, ...]) -> int:
    """The posterior moments the maps need; ValueError for none or an unknown map."""
    if not maps:
        raise ValueError(f"choose at least one map to add: {', '.join(MAPS)}")
    unknown = [m for m in maps if m not in MAP_MOMENTS]
    if unknown:
        raise ValueError(f"unknown map(s) {', '.join(map(repr, unknown))}; the maps are {', '.join(MAPS)}")
    return max(MAP_MOMENTS[m] for m in maps)


def denoise_kwargs(options: WidgetOptions) -> dict[str, Any]:
    """The keyword arguments of `zeroshot.denoise` for these options (config, threads, moments), checked: a
    ValueError says what is wrong in the words of `DenoiseConfig`."""
    if options.model not in MODELS:
        raise ValueError(f"model must be one of {tuple(MODELS)}, got {options.model!r}")
    if options.noise not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {NOISE_MODELS}, got {options.noise!r}")
    if options.frames not in FRAMES:
        raise ValueError(f"frames must be one of {FRAMES}, got {options.frames!r}")
    if isinstance(options.threads, bool) or not isinstance(options.threads, int) or options.threads < 0:
        raise ValueError(f"threads must be 0 (all) or a positive integer, got {options.threads!r}")
    if isinstance(options.patch_size, bool) or not isinstance(options.patch_size, int) or options.patch_size < 0:
        raise ValueError(
            f"patch size must be 0 (chosen from the noise) or a positive integer, got {options.patch_size!r}"
        )
    moments = moments_for(options.maps)
    if options.model_file:  # read once for every frame; a bad file is a ValueError naming it
        trained = TrainedModel.load(options.model_file)
        threads = options.threads or None
        return {
            "model": trained,
            "seed": options.seed,
            "n_states": options.states,
            "threads": threads,
            "moments": moments,
        }
    config = DenoiseConfig.for_model(
        options.model,
        noise=options.noise,
        patch_size=options.patch_size or None,
        n_latents=options.latents,
        n_states=options.states,
        epochs=options.epochs,
        seed=options.seed,
    )
    return {"config": config, "threads": options.threads or None, "moments": moments}
