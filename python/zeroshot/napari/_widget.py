"""The dock widget: denoise the chosen image layer in a worker thread and add the maps as layers.

The choices map to `zeroshot.denoise` through `_options.denoise_kwargs`, the run is `_run.denoise_layer`;
this module holds only the Qt side: the fields, the worker, progress, cancelling and notifications."""

from __future__ import annotations

import threading
from typing import Any

from magicgui.types import FileDialogMode
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
    Widget,
)
from napari.layers import Image
from napari.qt.threading import FunctionWorker, create_worker
from superqt.utils import ensure_main_thread

from zeroshot._core import MAX_THREADS
from zeroshot.config import MAX_SEED, MODELS, NOISE_MODELS
from zeroshot.errors import error_message
from zeroshot.napari._notify import notify_error, notify_info
from zeroshot.napari._options import FRAMES, MAPS, WidgetOptions, denoise_kwargs
from zeroshot.napari._run import Cancelled, LayerImage, Outcome, Progress, denoise_layer

DEFAULT_MAPS = ("denoised", "variance", "detail")  # the maps that outline structure (bench/real_em.py)
MODEL_FILE_TIP = (
    "Denoise with a model saved by `zeroshot train ... -o model.npz` (or `zeroshot.train(...).save(path)`) "
    "instead of learning one from the image: the model fixes the model kind, noise model, patch size and latents; "
    "seed and states apply to its inference. Empty: learn from the image"
)
# Qt's spin boxes hold 32-bit integers.
_QT_INT_MAX = 2**31 - 1


def layer_image(layer: Image, point: tuple[float, ...] | None = None) -> LayerImage:
    """What a run needs of an image layer; the frame in view of a stack from the viewer's dims `point`."""
    current = 0
    if layer.ndim == 3 and point is not None:
        try:
            current = round(float(layer.world_to_data(point)[0]))
        except (ValueError, IndexError, TypeError):
            current = 0
    return LayerImage(
        data=layer.data,
        name=layer.name,
        scale=tuple(float(s) for s in layer.scale),
        translate=tuple(float(t) for t in layer.translate),
        units=tuple(str(u) for u in layer.units),
        current_frame=current,
        rgb=bool(layer.rgb),
        multiscale=bool(layer.multiscale),
    )


class DenoiseWidget(Container[Widget]):
    """zeroshot's widget: the image layer, the model and its training, the maps to add; Denoise runs in a
    worker thread with a progress bar, Cancel stops it after the current epoch and adds nothing."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        defaults = WidgetOptions.defaults()
        self.image = ComboBox(label="image", choices=self._image_layers, nullable=True)
        self.model = ComboBox(label="model", choices=tuple(MODELS), value=defaults.model)
        self.noise = ComboBox(label="noise model", choices=NOISE_MODELS, value=defaults.noise)
        self.patch_size = SpinBox(label="patch size (0: auto)", min=0, max=64, value=defaults.patch_size)
        self.patch_size.tooltip = "patches are P x P pixels; 0: chosen from the image's noise level"
        self.latents = SpinBox(label="latents", min=1, max=_QT_INT_MAX, value=defaults.latents)
        self.states = SpinBox(label="states", min=1, max=_QT_INT_MAX, value=defaults.states)
        self.epochs = SpinBox(label="epochs", min=0, max=_QT_INT_MAX, value=defaults.epochs)
        self.seed = SpinBox(label="seed", min=0, max=min(MAX_SEED, _QT_INT_MAX), value=defaults.seed)
        self.threads = SpinBox(label="threads (0: all)", min=0, max=MAX_THREADS, value=defaults.threads)
        self.threads.tooltip = (
            "OpenMP threads of the core; 0: as many as the core uses now (all cores unless set otherwise)"
        )
        self.model_file = FileEdit(label="model file", mode=FileDialogMode.EXISTING_FILE, filter="*.npz")
        self.model_file.tooltip = MODEL_FILE_TIP
        self.maps = {name: CheckBox(text=name, value=name in DEFAULT_MAPS) for name in MAPS}
        self.frames = ComboBox(label="stack frames", choices=FRAMES, value=defaults.frames)
        self.frames.tooltip = "a stack: every frame (the one in view first) or only the one in view"
        self.one_model = CheckBox(text="one model for all frames", value=defaults.one_model)
        self.one_model.tooltip = (
            "a stack or tomogram: learn one model from up to 8 frames spread over it and apply it to every frame "
            "(several times faster); unticked, each frame learns its own"
        )
        self.run_button = PushButton(text="Denoise")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self.status = Label(label="result", value="")
        self.status.native.setWordWrap(True)
        self.extend(
            [
                self.image,
                self.model,
                self.noise,
                self.patch_size,
                self.latents,
                self.states,
                self.epochs,
                self.seed,
                self.threads,
                self.model_file,
                Container(widgets=list(self.maps.values()), layout="horizontal", label="maps", labels=False),
                self.frames,
                self.one_model,
                Container(widgets=[self.run_button, self.cancel_button], layout="horizontal", label=""),
                self.progress,
                self.status,
            ]
        )
        self.worker: FunctionWorker | None = None
        self._cancel = threading.Event()
        self._report = ensure_main_thread(self._show_progress)
        self.native.destroyed.connect(self._closed)
        self.model.changed.connect(self._model_changed)
        self.run_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)
        events = self.viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(self._layers_changed)
        self.viewer.layers.selection.events.active.connect(self._selection_changed)
        self._layers_changed()
        self._selection_changed()

    # ---------------------------------------------------------------------------------------- choices

    def _image_layers(self, _widget: Any = None) -> list[tuple[str, Image]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def _layers_changed(self, _event: Any = None) -> None:
        self.image.reset_choices()

    def _selection_changed(self, _event: Any = None) -> None:
        active = self.viewer.layers.selection.active
        if isinstance(active, Image) and active in self.image.choices:
            self.image.value = active

    def _model_changed(self, model: str) -> None:
        fresh = self.chosen_options().with_model(model)
        self.patch_size.value, self.latents.value = fresh.patch_size, fresh.latents
        self.states.value, self.epochs.value = fresh.states, fresh.epochs

    def chosen_options(self) -> WidgetOptions:
        """The options as the fields show them."""
        return WidgetOptions(
            model=self.model.value,
            noise=self.noise.value,
            patch_size=int(self.patch_size.value),
            latents=int(self.latents.value),
            states=int(self.states.value),
            epochs=int(self.epochs.value),
            seed=int(self.seed.value),
            threads=int(self.threads.value),
            model_file=_chosen_file(self.model_file.value),
            maps=tuple(name for name, box in self.maps.items() if box.value),
            frames=self.frames.value,
            one_model=bool(self.one_model.value),
        )

    # ------------------------------------------------------------------------------------------- a run

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, _value: Any = None) -> FunctionWorker | None:
        """Starts a run on the chosen layer (its options checked first: a problem is a notification and no
        run); returns the worker, or None."""
        if self.running:
            return None
        layer = self.image.value
        if layer is None:
            notify_error("zeroshot: choose an image layer to denoise (open an image or a sample first)")
            return None
        image = layer_image(layer, tuple(self.viewer.dims.point))
        options = self.chosen_options()
        try:
            image.check()
            denoise_kwargs(options)
        except ValueError as error:
            notify_error(f"zeroshot: {error}")
            return None
        self._cancel.clear()
        self.progress.max, self.progress.value = 1, 0
        self.status.value = f"denoising {image.name!r} ..."
        self.worker = create_worker(
            denoise_layer,
            image,
            options,
            progress=self._report,
            cancelled=self._cancel.is_set,
            _start_thread=False,
            _ignore_errors=True,
        )
        self.worker.returned.connect(self._finished)
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._idle)
        self._set_running(True)
        self.worker.start()
        return self.worker

    def cancel(self, _value: Any = None) -> None:
        """Asks the run to stop after the current epoch; it then adds nothing."""
        if self.running:
            self._cancel.set()
            self.status.value = "cancelling after the current epoch ..."

    def _closed(self, *_: object) -> None:
        """The widget went away (closed, or the viewer with it): a run stops after the current epoch."""
        self._cancel.set()

    def _set_running(self, running: bool) -> None:
        self.run_button.enabled = not running
        self.cancel_button.enabled = running

    def _show_progress(self, progress: Progress) -> None:
        self.progress.max = max(progress.total, 1)
        self.progress.value = progress.done
        if not self._cancel.is_set():
            self.status.value = progress.describe()

    def _finished(self, outcome: Outcome) -> None:
        for data, meta, _kind in outcome.layers:
            self.viewer.add_image(data, **meta)
        self.progress.value = self.progress.max
        self.status.value = outcome.summary()
        notify_info(f"zeroshot: {outcome.summary()}")

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, Cancelled):
            self.status.value = f"{error}; no layer added"
            return
        message = error_message(error)
        if message is None:  # a bug, not bad input: napari shows it with its traceback
            self.status.value = f"failed: {type(error).__name__}: {error}"
            raise error
        self.status.value = f"error: {message}"
        notify_error(f"zeroshot: {message}")

    def _idle(self) -> None:
        self.worker = None
        self._set_running(False)


def _chosen_file(value: Any) -> str | None:
    """The model file the field holds, or None when it is empty (magicgui shows an empty path as ".")."""
    text = str(value) if value is not None else ""
    return None if text in ("", ".") else text
