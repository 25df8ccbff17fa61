"""The README's screenshot of the napari plugin: the zeroshot widget docked beside the SARS-CoV-2 sample crop
and the maps of a small run in napari's grid view, taken with napari's own screenshot function.

napari draws its canvas with OpenGL, which Qt's offscreen platform lacks: run it on a display, or headless under
Xvfb with Qt's xcb platform (Debian: xvfb, libgl1-mesa-dri and the libxcb-* libraries Qt's xcb plugin needs):

    xvfb-run -a -s "-screen 0 1920x1080x24" env QT_QPA_PLATFORM=xcb python bench/napari_screenshot.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

from zeroshot.napari._widget import DenoiseWidget

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "figures" / "napari" / "widget.png"
# A small run, quick on two cores, with the maps that show the plugin's point: denoised, variance and relief.
SETTINGS = {"latents": 128, "states": 30, "epochs": 30, "threads": 2}
MAPS = ("denoised", "variance", "relief")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    viewer = napari.Viewer(show=False)
    viewer.window.resize(1400, 900)
    viewer.open_sample("zeroshot", "sarscov2_crop")
    _dock, widget = viewer.window.add_plugin_dock_widget("zeroshot", "Denoise")
    assert isinstance(widget, DenoiseWidget)
    for name, value in SETTINGS.items():
        getattr(widget, name).value = value
    for name, box in widget.maps.items():
        box.value = name in MAPS
    start = time.perf_counter()
    widget.start()
    app = QApplication.instance()
    while widget.running:
        app.processEvents()
        time.sleep(0.05)
    print(f"denoised in {time.perf_counter() - start:.1f} s: {widget.status.value}")
    viewer.layers.selection.active = viewer.layers[0]
    viewer.grid.enabled = True
    viewer.grid.shape = (2, 2)
    viewer.reset_view()
    viewer.screenshot(canvas_only=False)  # paints the whole window once, the canvas included
    args.output.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.output), canvas_only=False)
    print(f"wrote {args.output}")
    viewer.close()


if __name__ == "__main__":
    main()
