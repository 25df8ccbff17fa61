"""What the napari tests need to know before they start: whether napari imports, whether a Qt application can
start (offscreen where there is no display) and whether napari's canvas can render (OpenGL). The Qt and
OpenGL checks run in a child process, since a Qt platform that cannot start ends the process."""

from __future__ import annotations

import functools
import importlib
import os
import subprocess
import sys
import warnings
from types import ModuleType

import pytest

# Deprecation warnings that napari's dependencies raise on import and use (pydantic v1 idioms in napari and
# npe2): not zeroshot's, and not errors for its tests.
THIRD_PARTY_WARNINGS = (
    "ignore:.*Deprecated in Pydantic V2.0:DeprecationWarning",
    "ignore:.*Pydantic V1 style:DeprecationWarning",
)


def use_offscreen_without_display() -> None:
    """Qt's offscreen platform where no display is set and no platform was chosen."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def import_napari() -> ModuleType:
    """napari with its components and layers imported, or a skip of the calling module when the napari extra is
    not installed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        napari = pytest.importorskip("napari", reason='napari is not installed: pip install ".[napari]"')
        importlib.import_module("napari.components")
        importlib.import_module("napari.layers")
    return napari


_QT_PROBE = "from qtpy.QtWidgets import QApplication; QApplication([])"

_GL_PROBE = """
import numpy as np, napari
viewer = napari.Viewer(show=False)
viewer.add_image(np.repeat([[0.0, 1.0]], 8, axis=0).repeat(8, axis=1))
viewer.screenshot(canvas_only=False)  # paints the window, the canvas included
shot = viewer.screenshot(canvas_only=True)
viewer.close()
if float(shot[..., :3].std()) == 0.0:
    raise SystemExit("napari's canvas rendered a blank image")
"""


def _probe(code: str) -> str | None:
    """None when `code` runs cleanly in a child process, else the last line of its error."""
    try:
        done = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120, env=os.environ
        )
    except subprocess.TimeoutExpired:
        return "timed out"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    telling = [line for line in lines if "could not" in line.lower() or "cannot" in line.lower()] or lines
    return f"exit code {done.returncode}: {telling[-1] if telling else 'no message'}"


@functools.cache
def qt_problem() -> str | None:
    """Why a Qt application cannot start here, or None."""
    problem = _probe(_QT_PROBE)
    platform = os.environ.get("QT_QPA_PLATFORM", "default")
    return None if problem is None else f"a Qt application cannot start (QT_QPA_PLATFORM={platform}): {problem}"


@functools.cache
def gl_problem() -> str | None:
    """Why napari's viewer cannot render its canvas here (it needs OpenGL: not on Qt's offscreen platform, and
    not without a display and an OpenGL driver), or None."""
    platform = os.environ.get("QT_QPA_PLATFORM", "default")
    if platform in ("offscreen", "minimal"):
        return f"napari's viewer cannot render on Qt's {platform} platform (QOpenGLWidget is not supported there)"
    problem = qt_problem() or _probe(_GL_PROBE)
    return (
        None
        if problem is None
        else f"napari's viewer cannot render here (it needs OpenGL; QT_QPA_PLATFORM={platform}): {problem}"
    )
