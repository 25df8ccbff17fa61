"""The napari plugin inside napari: the manifest and napari's own reader, writer and sample paths (no Qt); the
widget with pytest-qt on a viewer model (Qt offscreen: no OpenGL needed), running a tiny denoise in its
worker thread, cancelling, and showing errors as notifications; and the widget docked in a real viewer, which
napari renders with OpenGL (skipped where it cannot, e.g. on Qt's offscreen platform).

Skips the whole module without the napari extra; the Qt tests also without pytest-qt or where a Qt
application cannot start."""

from __future__ import annotations

import numpy as np
import pytest

from napari_support import THIRD_PARTY_WARNINGS, gl_problem, import_napari, qt_problem, use_offscreen_without_display
from zeroshot.data import simulated_virus
from zeroshot.io import PixelSize, read_em, write_em

use_offscreen_without_display()
napari = import_napari()
pytestmark = [pytest.mark.filterwarnings(w) for w in THIRD_PARTY_WARNINGS]

from napari.components import ViewerModel  # noqa: E402

PIXEL = PixelSize(y=0.4, x=0.4)
TINY = {"latents": 8, "states": 4, "epochs": 2, "patch_size": 4, "threads": 1}
WAIT_MS = 120_000


def needs_qt() -> None:
    pytest.importorskip("pytestqt", reason="pytest-qt is not installed")
    problem = qt_problem()
    if problem is not None:
        pytest.skip(problem)


def needs_gl() -> None:
    needs_qt()
    problem = gl_problem()
    if problem is not None:
        pytest.skip(problem)


# ----------------------------------------------------------------------------- napari's plugin paths


def test_manifest_is_valid_and_found_by_npe2():
    import npe2

    manager = npe2.PluginManager.instance()
    manager.discover()
    manifest = manager.get_manifest("zeroshot")
    contributions = manifest.contributions
    assert [w.display_name for w in contributions.widgets] == ["Denoise"]
    assert {s.key for s in contributions.sample_data} == {"sarscov2_crop", "sarscov2", "simulated_virus"}
    for command in contributions.commands:  # every command imports
        assert callable(manager.commands.get(command.id))


def test_napari_opens_an_mrc_with_the_plugin_and_its_pixel_size(tmp_path):
    path = tmp_path / "cell.mrc"
    write_em(path, np.arange(64, dtype=np.float32).reshape(8, 8), pixel_size=PIXEL)
    viewer = ViewerModel()
    [layer] = viewer.open(str(path), plugin="zeroshot")
    assert layer.name == "cell"
    np.testing.assert_allclose(layer.scale, (0.4, 0.4))
    assert [str(u) for u in layer.units] == ["nanometer", "nanometer"]


def test_napari_saves_a_layer_with_the_plugin_and_its_scale(tmp_path):
    viewer = ViewerModel()
    layer = viewer.add_image(np.ones((3, 6, 5), np.float32), scale=(1.0, 0.4, 0.4), units=("pixel", "nm", "nm"))
    path = tmp_path / "saved.tif"
    written = napari.save_layers(str(path), [layer], plugin="zeroshot")
    assert written == [str(path)]
    image = read_em(path)
    assert image.data.shape == (3, 6, 5)
    assert image.pixel_size == pytest.approx(PIXEL)


def test_napari_opens_the_samples():
    viewer = ViewerModel()
    viewer.open_sample("zeroshot", "simulated_virus")
    viewer.open_sample("zeroshot", "sarscov2_crop")
    assert [layer.name for layer in viewer.layers] == [
        "simulated virus (truth)",
        "simulated virus (noisy)",
        "SARS-CoV-2 virions (crop)",
    ]


# ------------------------------------------------------------------------ the widget on a viewer model


@pytest.fixture
def notices(monkeypatch):
    from zeroshot.napari import _widget

    shown: dict[str, list[str]] = {"error": [], "info": []}
    monkeypatch.setattr(_widget, "notify_error", shown["error"].append)
    monkeypatch.setattr(_widget, "notify_info", shown["info"].append)
    return shown


@pytest.fixture
def qt(request):
    """pytest-qt's qtbot (and its QApplication), or a skip where Qt cannot start: asked for before the
    QApplication is made, which would end the process there."""
    needs_qt()
    return request.getfixturevalue("qtbot")


@pytest.fixture
def widget(qt):
    """The widget on a viewer model holding a small noisy image (0.4 nm pixels, translated)."""
    from zeroshot.napari._widget import DenoiseWidget

    viewer = ViewerModel()
    viewer.add_image(simulated_virus(32, seed=0).noisy, name="virus", scale=(0.4, 0.4), translate=(3.0, 2.0))
    made = DenoiseWidget(viewer)
    qt.addWidget(made.native)
    for name, value in TINY.items():
        getattr(made, name).value = value
    yield made
    made.cancel()
    qt.waitUntil(lambda: not made.running, timeout=WAIT_MS)


def finish(qt, widget) -> None:
    qt.waitUntil(lambda: not widget.running, timeout=WAIT_MS)


def test_widget_lists_the_image_layers_and_follows_the_selection(widget):
    viewer = widget.viewer
    assert widget.image.value is viewer.layers["virus"]
    viewer.add_points(np.zeros((1, 2)), name="points")
    other = viewer.add_image(np.zeros((8, 8)), name="other")
    assert [c for c in widget.image.choices if c is not None] == [viewer.layers["virus"], other]
    viewer.layers.selection.active = viewer.layers["virus"]
    assert widget.image.value is viewer.layers["virus"]
    viewer.layers.remove(other)
    assert other not in widget.image.choices


def test_widget_defaults_are_the_packages_and_follow_the_model(widget):
    from zeroshot.napari._options import WidgetOptions

    widget.model.value = "pmm"
    pmm = WidgetOptions.defaults("pmm")
    assert (widget.latents.value, widget.states.value, widget.epochs.value, widget.patch_size.value) == (
        pmm.latents,
        pmm.states,
        pmm.epochs,
        pmm.patch_size,
    )
    assert widget.chosen_options().model == "pmm"


def test_model_file_field_takes_a_saved_model(widget, tmp_path):
    assert widget.model_file.enabled
    assert "zeroshot train" in widget.model_file.tooltip
    assert widget.chosen_options().model_file is None  # empty: learn from the image
    widget.model_file.value = tmp_path / "model.npz"
    assert widget.chosen_options().model_file == str(tmp_path / "model.npz")


def test_widget_denoises_in_a_worker_and_adds_the_maps(qt, widget, notices):
    widget.maps["relief"].value = True
    assert widget.start() is not None
    assert not widget.run_button.enabled and widget.cancel_button.enabled
    finish(qt, widget)
    viewer = widget.viewer
    names = ["virus", "virus denoised", "virus variance", "virus relief", "virus detail"]  # detail is on by default
    assert [layer.name for layer in viewer.layers] == names
    for layer in list(viewer.layers)[1:]:
        assert layer.data.dtype == np.float32 and layer.data.shape == (32, 32)
        np.testing.assert_allclose(layer.scale, (0.4, 0.4))
        np.testing.assert_allclose(layer.translate, (3.0, 2.0))
    assert widget.progress.value == widget.progress.max == 2
    assert "learned noise σ =" in widget.status.value and "; noise " in widget.status.value
    assert notices["error"] == [] and len(notices["info"]) == 1
    assert widget.run_button.enabled and not widget.cancel_button.enabled


def test_cancelling_stops_the_run_and_adds_nothing(qt, widget, notices):
    widget.epochs.value = 100_000
    widget.start()
    qt.waitUntil(lambda: widget.progress.value >= 1, timeout=WAIT_MS)
    widget.cancel()
    finish(qt, widget)
    assert [layer.name for layer in widget.viewer.layers] == ["virus"]
    assert "no layer added" in widget.status.value
    assert widget.progress.value < 100_000
    assert notices["error"] == []


def test_closing_the_widget_cancels_its_run(qt, widget):
    widget.epochs.value = 100_000
    widget.start()
    qt.waitUntil(lambda: widget.progress.value >= 1, timeout=WAIT_MS)
    widget._closed()  # what the native widget's destroyed signal calls
    finish(qt, widget)
    assert [layer.name for layer in widget.viewer.layers] == ["virus"]


def test_bad_options_are_a_notification_and_start_nothing(widget, notices):
    for box in widget.maps.values():
        box.value = False
    assert widget.start() is None
    assert not widget.running
    assert notices["error"] == [
        "zeroshot: choose at least one map to add: denoised, variance, relief, detail, skewness"
    ]


def test_an_rgb_layer_is_a_notification_and_starts_nothing(widget, notices):
    widget.viewer.add_image(np.zeros((16, 16, 3), np.uint8), name="photo", rgb=True)
    widget.image.value = widget.viewer.layers["photo"]
    assert widget.start() is None
    assert notices["error"] == [
        "zeroshot: layer 'photo' is an RGB(A) image of shape (16, 16, 3); zeroshot denoises one channel"
    ]


def test_no_image_layer_is_a_notification(widget, notices):
    widget.viewer.layers.clear()
    assert widget.start() is None
    assert notices["error"] == ["zeroshot: choose an image layer to denoise (open an image or a sample first)"]


def test_an_error_in_the_worker_is_a_notification_with_the_cli_message(qt, widget, notices):
    widget.patch_size.value = 40  # larger than the 32 x 32 image: refused when the run starts
    widget.start()
    finish(qt, widget)
    assert notices["error"] == ["zeroshot: layer 'virus': image of shape (32, 32) is smaller than the patch size 40"]
    assert widget.status.value.startswith("error: ")
    assert [layer.name for layer in widget.viewer.layers] == ["virus"]


def test_a_stack_runs_the_frame_in_view(qt, widget):
    viewer = widget.viewer
    stack = np.stack([simulated_virus(24, seed=k).noisy for k in range(3)])
    viewer.add_image(stack, name="stack", scale=(2.0, 0.4, 0.4))
    widget.image.value = viewer.layers["stack"]
    viewer.dims.set_point(0, 4.0)  # world position 4 = frame 2
    widget.frames.value = "current"
    widget.start()
    finish(qt, widget)
    layer = viewer.layers["stack denoised"]
    assert layer.data.shape == (1, 24, 24)
    np.testing.assert_allclose(layer.translate, (4.0, 0.0, 0.0))
    assert layer.metadata["zeroshot"]["frames"] == [2]


# ---------------------------------------------------------------------- the widget in a real viewer


@pytest.fixture
def viewer(request):
    needs_gl()
    request.getfixturevalue("qt")  # pytest-qt's QApplication
    made = napari.Viewer(show=False)
    yield made
    made.close()


def test_widget_docks_in_the_viewer_and_adds_layers_it_renders(qt, viewer):
    viewer.open_sample("zeroshot", "sarscov2_crop")
    _dock, widget = viewer.window.add_plugin_dock_widget("zeroshot", "Denoise")
    assert widget.image.value is viewer.layers["SARS-CoV-2 virions (crop)"]
    for name, value in TINY.items():
        getattr(widget, name).value = value
    widget.start()
    qt.waitUntil(lambda: not widget.running, timeout=WAIT_MS)
    names = [layer.name for layer in viewer.layers]
    assert names[1:] == ["SARS-CoV-2 virions (crop) denoised", "SARS-CoV-2 virions (crop) variance"]
    window = viewer.screenshot(canvas_only=False)  # paints the window, the canvas included
    canvas = viewer.screenshot(canvas_only=True)
    assert window.shape[0] > canvas.shape[0] and window.shape[1] > canvas.shape[1]
    assert float(canvas[..., :3].std()) > 0
