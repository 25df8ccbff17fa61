"""Denoising an image layer frame by frame and the result layers it adds (Qt-free: the widget runs
`denoise_layer` in a worker thread and adds `Outcome.layers` when it returns).

Cancelling: `cancelled` is asked after every epoch (through `zeroshot.denoise`'s per-epoch callback) and
between frames; when it says yes, `Cancelled` is raised, training stops after the current epoch, and no layer
is made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from zeroshot.config import DenoiseConfig, total_epochs
from zeroshot.denoise import DenoiseResult
from zeroshot.enhance import render_kind
from zeroshot.errors import errors_named
from zeroshot.napari._layers import LayerData, image_layer, percentile_limits
from zeroshot.napari._options import MAPS, WidgetOptions, denoise_kwargs
from zeroshot.pipeline.env import RunEnv
from zeroshot.pipeline.progress import RunProgress, Step
from zeroshot.pipeline.slab import context_error
from zeroshot.pipeline.trained import TrainedModel
from zeroshot.volume import RunHooks, SliceHooks, denoise_slices, training_slices

# How each map is shown: its colormap.
COLORMAPS = {"denoised": "gray", "variance": "magma", "relief": "gray", "detail": "gray", "skewness": "PiYG"}


class Cancelled(Exception):
    """The run was cancelled: training stopped after the current epoch, and nothing is added."""


@dataclass(frozen=True)
class LayerImage:
    """What a run needs of the input layer: data (R, C) or (F, R, C) (any array-like), its name, scale,
    translate and units (None: napari's default) per axis, the frame in view (stacks), and whether it is RGB or
    multiscale."""

    data: Any
    name: str
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    units: tuple[str, ...] | None = None
    current_frame: int = 0
    rgb: bool = False
    multiscale: bool = False

    def check(self) -> None:
        """A ValueError naming the layer for data zeroshot cannot denoise (RGB, multiscale, not 2-D or 3-D, not
        real)."""
        if self.multiscale:
            raise ValueError(
                f"layer {self.name!r} is multiscale (a pyramid); zeroshot denoises one image: add the scale to "
                "denoise as a layer of its own"
            )
        shape, dtype = tuple(np.shape(self.data)), np.dtype(getattr(self.data, "dtype", np.float64))
        if self.rgb:
            raise ValueError(f"layer {self.name!r} is an RGB(A) image of shape {shape}; zeroshot denoises one channel")
        if len(shape) not in (2, 3):
            raise ValueError(
                f"layer {self.name!r} has {len(shape)} dimensions (shape {shape}); zeroshot denoises a 2-D image "
                "(R, C) or a stack of frames (F, R, C)"
            )
        if dtype.kind not in "uifb":
            raise ValueError(f"layer {self.name!r} holds {dtype} data; zeroshot denoises real-valued images")

    @property
    def is_stack(self) -> bool:
        return len(np.shape(self.data)) == 3

    @property
    def n_frames(self) -> int:
        return int(np.shape(self.data)[0]) if self.is_stack else 1

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (0 for an image) as a NumPy array."""
        return np.asarray(self.data[index] if self.is_stack else self.data)


@dataclass(frozen=True)
class Progress:
    """Where a run is: frame `frame` (its index; 0 for an image), the `position`-th of the `n_frames` it
    denoises (from 0), `epoch` of its `epochs` epochs done, and sigma, the noise level it has learned so far on
    the input's scale (`DenoiseResult.noise_sigma` after this epoch)."""

    frame: int
    position: int
    n_frames: int
    epoch: int
    epochs: int
    sigma: float

    @property
    def done(self) -> int:
        """Epochs done over the whole run."""
        return self.position * self.epochs + self.epoch

    @property
    def total(self) -> int:
        return self.n_frames * self.epochs

    def describe(self) -> str:
        where = f"frame {self.frame} ({self.position + 1} of {self.n_frames}), " if self.n_frames > 1 else ""
        return f"{where}epoch {self.epoch}/{self.epochs}, σ = {self.sigma:.4g}"


@dataclass(frozen=True)
class FrameResult:
    """What a run keeps of one frame: the maps asked for as float32 (R, C) arrays by name, the learned σ, the
    noise model decided (its description and kind; None when the run had none; transformed: it learned in a
    transformed domain, where σ is) and the configuration used (with the patch size chosen)."""

    maps: dict[str, np.ndarray]
    noise_sigma: float
    noise: str | None
    config: DenoiseConfig
    noise_kind: str | None = None
    transformed: bool = False

    @classmethod
    def of(cls, result: DenoiseResult, maps: Sequence[str]) -> FrameResult:
        """The maps (in the order of MAPS) and the record of one `zeroshot.denoise` result; the rest of it (the
        model, the float64 moments) is dropped, so a long stack holds only its float32 layers."""
        return cls(
            maps={kind: map_values(result, kind).astype(np.float32) for kind in MAPS if kind in maps},
            noise_sigma=result.noise_sigma,
            noise=None if result.noise is None else result.noise.description,
            config=result.config,
            noise_kind=None if result.noise is None else result.noise.kind,
            transformed=result.noise is not None and result.noise.transforms,
        )


def map_values(result: DenoiseResult, kind: str) -> np.ndarray:
    """The raw values of map `kind` (MAPS) of a result: the denoised image, or a structure map of
    `zeroshot.enhance.render_kind`."""
    return result.denoised if kind == "denoised" else render_kind(result, kind)[0]


@dataclass(frozen=True)
class Outcome:
    """A finished run: what it keeps of each denoised frame, by frame index in the order they ran (the one in
    view first), and the layers to add."""

    frames: dict[int, FrameResult]
    layers: list[LayerData]

    def summary(self) -> str:
        """The learned σ (`DenoiseResult.noise_sigma`), the patch size and the kind of noise decided (its
        description, with the internal figures, is in the layers' metadata), of the first frame run (the one in
        view), with the range of σ over the frames of a stack."""
        index, first = next(iter(self.frames.items()))
        sigmas = [r.noise_sigma for r in self.frames.values()]
        text = f"learned noise σ = {first.noise_sigma:.4g}"
        if len(sigmas) > 1:
            text += f" (frame {index}; {min(sigmas):.4g} to {max(sigmas):.4g} over {len(sigmas)} frames)"
        if first.transformed:
            text += " (in the Anscombe-transformed domain)"
        text += f"; patch size {first.config.patch_size}"
        if first.noise_kind is not None:
            text += f"; noise {first.noise_kind}"
        return text


def frame_order(n_frames: int, current: int) -> list[int]:
    """The frames of a stack in the order they are denoised: the one in view first, then the others in order."""
    current = min(max(int(current), 0), n_frames - 1)
    return [current] + [k for k in range(n_frames) if k != current]


def frames_to_run(image: LayerImage, options: WidgetOptions) -> list[int]:
    """The frame indices a run denoises, in order ([0] for an image)."""
    if not image.is_stack:
        return [0]
    order = frame_order(image.n_frames, image.current_frame)
    return order[:1] if options.frames == "current" else order


class _EpochReports(RunProgress):
    """`report` told of each training epoch of one frame's run, with the σ the run ends with
    (`DenoiseResult.noise_sigma`), then `cancelled` asked."""

    def __init__(self, report: Callable[[int, float], None], cancelled: Callable[[], bool], epochs: int) -> None:
        self.report, self.cancelled, self.epochs = report, cancelled, epochs

    def step(self, step: Step) -> None:
        if step.stage != "training" or step.sigma is None:
            return
        self.report(step.done, step.sigma)
        if self.cancelled():
            raise Cancelled(f"cancelled after epoch {step.done} of {self.epochs}")


def denoise_layer(
    image: LayerImage,
    options: WidgetOptions,
    progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Denoises the frames of `image` the options ask for (the one in view first, which decides the noise model
    of them all) with `zeroshot.volume.denoise_slices`: one model for a stack learned first (options.one_model,
    from up to TRAIN_SLICES frames, the one in view first), a model per frame, or the model file's; reports
    `progress` after every epoch; returns the results and the layers of the maps asked for. Raises ValueError for
    bad input or options (before any training) and `Cancelled` when `cancelled()` says so."""
    image.check()
    inference = denoise_kwargs(options)
    threads, moments = inference.pop("threads"), inference.pop("moments")
    model: DenoiseConfig | TrainedModel = inference.pop("config") if "config" in inference else inference.pop("model")
    # A model file brings its configuration and trains no epochs (inference alone: no epoch reports).
    learning = isinstance(model, DenoiseConfig)
    config = model if isinstance(model, DenoiseConfig) else model.config
    if config.context > 1 and not image.is_stack:  # a model file of patches of several slices
        raise ValueError(f"layer {image.name!r}: {context_error(config.context, 'the model')}")
    order = frames_to_run(image, options)
    one_model = learning and options.one_model and len(order) > 1
    hooks = _LayerHooks(image, order, total_epochs(config) if learning else 0, progress, cancelled)
    runs = denoise_slices(
        image.data if image.is_stack else [image.data],
        order,
        model,
        learn_from=training_slices(image.n_frames, first=order[0]) if one_model else (),
        inference=inference,
        moments=moments,
        env=RunEnv(threads=threads),
        hooks=hooks,
    )
    frames: dict[int, FrameResult] = {}
    for position, (index, result) in enumerate(runs):
        with errors_named(hooks.where(index), image.frame(index)):
            frames[index] = FrameResult.of(result, options.maps)
        if runs.model is not None and progress is not None and image.is_stack:
            progress(Progress(index, position, len(order), hooks.epochs, hooks.epochs, result.noise_sigma))
    if cancelled():
        raise Cancelled("cancelled after the last epoch")
    return Outcome(frames, result_layers(image, frames))


class _LayerHooks(SliceHooks):
    """The widget's part of the frame loop: `progress` told of every epoch (of the stack's one model as those of
    one run), `cancelled` asked after every epoch and before every frame, errors naming the layer and frame."""

    def __init__(
        self,
        image: LayerImage,
        order: list[int],
        epochs: int,
        progress: Callable[[Progress], None] | None,
        cancelled: Callable[[], bool],
    ) -> None:
        self.image, self.order, self.epochs, self.progress, self.cancelled = image, order, epochs, progress, cancelled

    def name(self, z: int) -> str:
        return f"layer {self.image.name!r} frame {z}"

    def where(self, z: int) -> str:
        return self.name(z) if self.image.is_stack else f"layer {self.image.name!r}"

    def training(self, slices: Sequence[int]) -> RunHooks:
        return RunHooks(self._reports(slices[0], 0, 1), errors=errors_named("", self.image.frame(slices[0])))

    def starting(self, z: int, decided: str | None) -> RunHooks:
        if self.cancelled():
            raise Cancelled(f"cancelled before frame {z}")
        reports = self._reports(z, self.order.index(z), len(self.order))
        return RunHooks(reports, errors=errors_named(self.where(z), self.image.frame(z)))

    def _reports(self, z: int, position: int, n_frames: int) -> _EpochReports:
        def on_epoch(done: int, sigma: float) -> None:
            if self.progress is not None:
                self.progress(Progress(z, position, n_frames, done, self.epochs, sigma))

        return _EpochReports(on_epoch, self.cancelled, self.epochs)


def result_layers(image: LayerImage, frames: dict[int, FrameResult]) -> list[LayerData]:
    """The layers of the maps of a run (in the order of MAPS), named "<input> <map>", float32, with the input's
    scale, translate and units; a stack's frames in their own order (a run of one frame of a stack gives a
    one-frame stack placed at that frame). Contrast limits come from the frame in view (the first run). Their
    metadata hold the run's σ, noise model and configuration of every frame."""
    indices = sorted(frames)
    in_view, first = next(iter(frames.items()))
    translate = list(image.translate)
    if image.is_stack and len(indices) < image.n_frames:  # one frame: placed where it is in the stack
        translate[0] += indices[0] * image.scale[0]
    reference = image.frame(in_view)
    record = _record(frames)
    layers = []
    for kind, values in first.maps.items():
        data = np.stack([frames[k].maps[kind] for k in indices]) if image.is_stack else values
        layers.append(
            image_layer(
                data,
                f"{image.name} {kind}",
                image.scale,
                translate,
                units=image.units,
                colormap=COLORMAPS[kind],
                contrast_limits=_limits(kind, values, reference),
                metadata={"zeroshot": {"map": kind, "source": image.name, **record}},
            )
        )
    return layers


def _limits(kind: str, values: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Contrast limits from a map's values on the frame in view and that input frame (`reference`): the input's
    grey scale for the denoised and detail images (so they compare with it directly), [0, 1] for the relief,
    symmetric about 0 for the skewness, percentiles of the variance."""
    if kind in ("denoised", "detail"):
        return percentile_limits(reference)
    if kind == "relief":
        return 0.0, 1.0
    if kind == "skewness":
        high = percentile_limits(np.abs(values))[1]
        return -high, high
    return percentile_limits(values)


def _record(frames: dict[int, FrameResult]) -> dict[str, Any]:
    """The settings and results of a run, per frame by index, for the layers' metadata."""
    first = next(iter(frames.values()))
    return {
        "frames": sorted(frames),
        "noise_sigma": {k: r.noise_sigma for k, r in frames.items()},
        "noise": {k: r.noise for k, r in frames.items()},
        "config": asdict(first.config),
    }


def layer_names(name: str, maps: Sequence[str]) -> list[str]:
    """The names of the layers a run on layer `name` adds for these maps."""
    return [f"{name} {kind}" for kind in MAPS if kind in maps]
