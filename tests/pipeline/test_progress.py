"""The run's progress: the pipeline's reports (noise decided before training, epochs with the σ the run ends
with, inference chunks and the Wiener pass), the command line's display of them (time elapsed and left, internal
figures only with -v, nothing with -q), and one σ everywhere: the progress line, the final line, the sidecar,
`DenoiseResult.noise_sigma` and the napari widget."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from zeroshot import denoise
from zeroshot.cli.main import main
from zeroshot.cli.progress import RunDisplay, duration_text, sigma_text
from zeroshot.napari._options import WidgetOptions
from zeroshot.napari._run import LayerImage, denoise_layer
from zeroshot.noise.model import NoiseModel
from zeroshot.pipeline.progress import RunProgress, Step
from zeroshot.variational.em import EpochLog

SMALL = {"n_latents": 16, "n_states": 4, "epochs": 2, "threads": 1}
SMALL_ARGS = ["--latents", "16", "--states", "4", "--epochs", "2", "--threads", "1"]


def white_image() -> np.ndarray:
    rng = np.random.default_rng(1)
    ramp = np.add.outer(np.linspace(0, 40, 64), np.linspace(0, 20, 64))
    return 100 + ramp + 8 * rng.standard_normal((64, 64))


def correlated_image() -> np.ndarray:
    """Noise averaged over 3 x 3 pixels: lag-1 correlation about 2/3."""
    rng = np.random.default_rng(2)
    white = rng.standard_normal((98, 98))
    boxed = sum(white[r : r + 96, c : c + 96] for r in range(3) for c in range(3)) / 3
    return 100 + np.add.outer(np.linspace(0, 30, 96), np.zeros(96)) + 5 * boxed


def poisson_image() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.poisson(np.add.outer(np.linspace(2, 30, 64), np.linspace(0, 10, 64))).astype(np.float64)


IMAGES = {"white": white_image, "correlated": correlated_image, "poisson": poisson_image}


class Recorder(RunProgress):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def noise_decided(self, noise: NoiseModel, sigma: float | None) -> None:
        self.events.append(("noise", (noise, sigma)))

    def step(self, step: Step) -> None:
        self.events.append(("step", step))


@pytest.mark.parametrize("kind", IMAGES)
def test_the_pipeline_reports_the_noise_first_then_epochs_then_inference(kind):
    recorder = Recorder()
    result = denoise(IMAGES[kind](), progress=recorder, **SMALL)
    assert result.noise is not None and result.noise.kind == kind
    (what, (noise, sigma)), *steps = recorder.events
    assert what == "noise" and noise is result.noise
    assert (sigma is None) == (kind == "poisson")
    training = [s for _, s in steps if isinstance(s, Step) and s.stage == "training"]
    inference = [s for _, s in steps if isinstance(s, Step) and s.stage == "inference"]
    assert [s.done for s in training] == [1, 2] and all(s.total == 2 for s in training)
    assert steps[: len(training)] == [("step", s) for s in training]  # training before inference
    assert training[-1].sigma == pytest.approx(result.noise_sigma, rel=1e-12)
    assert [s.done for s in inference] == list(range(1, inference[-1].total + 1))
    assert (inference[-1].unit == "Wiener pass") == (kind == "correlated")


def test_inference_reports_every_chunk():
    recorder = Recorder()
    denoise(white_image(), progress=recorder, chunk_patches=500, **SMALL)
    chunks = [s for _, s in recorder.events if isinstance(s, Step) and s.stage == "inference"]
    assert len(chunks) > 1
    assert all(s.unit == "chunk" for s in chunks) and chunks[-1].done == chunks[-1].total


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_display_shows_time_elapsed_and_left_and_internal_figures_only_when_verbose():
    log = EpochLog(0, -10.0, -1.25, 0.5, 42, 1.0)
    for verbose in (False, True):
        stream, clock = io.StringIO(), Clock()
        display = RunDisplay(stream, verbose=verbose, clock=clock)
        clock.now = 10.0
        display.step(Step("training", 1, 4, "epoch", sigma=3.14159, epoch=log))
        clock.now = 20.0
        display.step(Step("inference", 1, 3, "chunk"))
        lines = stream.getvalue().splitlines()
        assert "training: epoch 1/4, noise sigma 3.142 grey levels, " in lines[0]
        assert lines[0].endswith(", 10 s elapsed, about 30 s left")
        assert "inference: chunk 1/3, 10 s elapsed, about 20 s left" in lines[1]
        assert ("F/N -1.2500, replaced 42" in lines[0]) == verbose


def test_words_of_the_display():
    assert duration_text(7.4) == "7 s" and duration_text(125) == "2 min 05 s" and duration_text(3720) == "1 h 02 min"
    assert sigma_text(1.0123, transformed=True) == "1.012 in the Anscombe-transformed domain"
    assert sigma_text([None]) == "not estimated"


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("white", "noise: white, estimated sigma "),
        ("correlated", "noise: correlated between neighbouring pixels (lag-1 "),
        ("poisson", "noise: Poisson counts (gain "),
    ],
)
def test_the_noise_decision_is_said_in_plain_words_before_the_first_epoch(kind, words, tmp_path, capsys):
    source = tmp_path / "in.npy"
    np.save(source, IMAGES[kind]())
    assert main(["denoise", str(source), "-o", str(tmp_path / "out.npy"), *SMALL_ARGS]) == 0
    err = capsys.readouterr().err
    assert err.index(words) < err.index("epoch 1/2") < err.index("inference: ")
    assert "ratio q" not in err and "F/N" not in err and "replaced" not in err
    assert main(["denoise", str(source), "-o", str(tmp_path / "v.npy"), *SMALL_ARGS, "-v"]) == 0
    err = capsys.readouterr().err
    assert "noise model (auto): " in err and "F/N" in err
    assert main(["denoise", str(source), "-o", str(tmp_path / "q.npy"), *SMALL_ARGS, "-q"]) == 0
    assert capsys.readouterr().err == ""


def _printed_sigmas(text: str) -> list[str]:
    return re.findall(r"noise sigma (\S+) (?:grey levels|in the Anscombe)", text)


@pytest.mark.parametrize("kind", IMAGES)
def test_one_sigma_in_progress_final_line_sidecar_result_and_napari(kind, tmp_path: Path, capsys):
    image = IMAGES[kind]()
    source, target = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(source, image)
    assert main(["denoise", str(source), "-o", str(target), *SMALL_ARGS]) == 0
    captured = capsys.readouterr()
    progress = _printed_sigmas(captured.err)
    final = _printed_sigmas(captured.out)
    assert len(progress) == 2 and len(final) == 1, captured
    sidecar = json.loads((tmp_path / "out.npy.json").read_text())["results"]["noise_sigma"]
    result = denoise(image, **SMALL).noise_sigma
    printed = f"{result:.4g}"
    assert progress[-1] == final[0] == f"{sidecar:.4g}" == printed
    assert ("Anscombe" in captured.out) == (kind == "poisson")
    seen = []
    options = WidgetOptions(latents=16, states=4, epochs=2, threads=1)
    outcome = denoise_layer(LayerImage(image, "x", (1.0, 1.0), (0.0, 0.0)), options, progress=seen.append)
    assert f"σ = {printed}" in seen[-1].describe() and f"learned noise σ = {printed}" in outcome.summary()
