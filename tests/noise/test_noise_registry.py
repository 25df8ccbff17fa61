"""The noise models (zeroshot.noise.kinds): one table of the kinds, each kind's class round-tripping through its
records, an unknown kind refused by name, and a kind registered by a test alone that runs end to end."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import zeroshot
import zeroshot.config
import zeroshot.noise.decide
import zeroshot.noise.kinds
from noise_images import clean, correlated_noise
from zeroshot.cli.main import build_parser
from zeroshot.config import DenoiseConfig
from zeroshot.noise import (
    NOISE_KINDS,
    NOISE_MODELS,
    NativeCounts,
    NoiseModel,
    PoissonNoise,
    WhiteNoise,
    decide_noise,
    noise_model_named,
)
from zeroshot.noise.kinds import noise_from_stored
from zeroshot.patches.moments import PixelMoments

SMALL = {"patch_size": 4, "n_latents": 8, "n_states": 4, "epochs": 3, "max_train_patches": 400, "threads": 1}


def _white(seed: int = 0) -> np.ndarray:
    return clean((64, 64)) + 10.0 * np.random.default_rng(seed).standard_normal((64, 64))


def _counts() -> np.ndarray:
    image = clean((64, 64))
    rates = 20.0 * (image - image.min() + 5.0) / (image.max() - image.min() + 5.0)
    return np.random.default_rng(1).poisson(rates).astype(np.float64)


def _correlated() -> np.ndarray:
    return clean((64, 64)) + correlated_noise((64, 64), 10.0, np.random.default_rng(2))


# The image each kind is estimated from as a run estimates it (a new kind: add its image here, or it is estimated
# from white noise).
IMAGES = {"poisson": _counts, "poisson-native": _counts, "correlated": _correlated}


def _example(kind: str) -> NoiseModel:
    """The noise model of `kind` as a run makes it: decided by noise="auto" where auto picks it, else asked for (by
    noise="auto", for a kind a model family brings); fitted to 5 x 5 patches of the image over its standard
    deviation."""
    image = IMAGES.get(kind, _white)()
    noise = decide_noise(image)
    if noise.kind != kind:
        model = noise_model_named(kind)
        noise = model.estimate(image, kind if model.askable else "auto")
    scale = float(np.std(image))
    return noise.for_patches(image / scale, scale, 5, None)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_the_table_is_the_one_list_of_the_noise_models():
    """Every kind is a concrete NoiseModel class under its own name; the noise option's values (the configuration,
    --noise) are "auto" and the kinds that can be asked for."""
    askable = tuple(kind for kind, model in NOISE_KINDS.items() if model.askable)
    assert NOISE_MODELS[0] == "auto" and NOISE_MODELS[1:] == askable
    assert {"white", "poisson", "correlated", "poisson-native"} <= set(NOISE_KINDS)
    assert zeroshot.config.NOISE_MODELS is NOISE_MODELS
    choices = next(action.choices for action in build_parser()._actions if action.dest == "command")
    assert tuple(next(a for a in choices["denoise"]._actions if a.dest == "noise").choices) == NOISE_MODELS
    for kind, model in NOISE_KINDS.items():
        assert issubclass(model, NoiseModel) and model.kind == kind and not inspect.isabstract(model)
        assert noise_model_named(kind) is model


def test_an_unknown_kind_is_refused_by_name():
    kinds = r"\('white', 'poisson', 'correlated', 'poisson-native'.*\)"
    with pytest.raises(ValueError, match=rf"noise model kind must be one of {kinds}, got 'pink'"):
        noise_model_named("pink")
    record, arrays = WhiteNoise("auto", "white").stored()
    with pytest.raises(ValueError, match=rf"noise model kind must be one of {kinds}, got 'pink'"):
        noise_from_stored({**record, "kind": "pink"}, arrays)
    with pytest.raises(
        ValueError, match=r"noise must be one of \('auto', 'white', 'poisson', 'correlated'.*\), got 'pink'"
    ):
        DenoiseConfig(noise="pink")
    with pytest.raises(ValueError, match="noise must be one of auto, white, poisson, correlated, got 'pink'"):
        decide_noise(_white(), "pink")


@pytest.mark.parametrize("kind", list(NOISE_KINDS))
def test_every_kind_round_trips_through_its_records(kind: str):
    """Its file record (JSON and arrays) reads back to a model of its class with the same fields, bitwise; its
    sidecar record is JSON and names its kind."""
    noise = _example(kind)
    assert type(noise) is NOISE_KINDS[kind]
    record, arrays = noise.stored()
    assert set(arrays) <= set(type(noise).stored_arrays)
    back = noise_from_stored(json.loads(json.dumps(record, allow_nan=False)), arrays)
    assert type(back) is type(noise)
    assert (back.asked, back.description, back.poisson) == (noise.asked, noise.description, noise.poisson)
    assert _same(back.q, noise.q) and _same(back.growth, noise.growth)
    again, again_arrays = back.stored()
    assert again == record and set(again_arrays) == set(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(again_arrays[name], array)
    assert (back.whitening is None) == (noise.whitening is None)
    sidecar = json.loads(json.dumps(noise.record(), allow_nan=False))
    assert sidecar["model"] == kind and sidecar["description"] == noise.description


def test_each_kind_answers_for_itself():
    """What the pipeline asks of the package's four kinds."""
    white, poisson, correlated, native = (
        _example(kind) for kind in ("white", "poisson", "correlated", "poisson-native")
    )
    assert [m.correlated for m in (white, poisson, correlated, native)] == [False, False, True, False]
    assert [m.wiener_pass for m in (white, poisson, correlated, native)] == [False, False, True, False]
    assert [m.transforms for m in (white, poisson, correlated, native)] == [False, True, False, False]
    assert [m.whitening is not None for m in (white, poisson, correlated, native)] == [False, False, True, False]
    assert poisson.known_sigma == 1.0 and correlated.known_sigma == correlated.acf.sigma  # type: ignore[union-attr]
    assert white.known_sigma is None and native.known_sigma is None
    assert native.agrees_with("poisson") and native.agrees_with("auto") and not native.agrees_with("white")
    assert white.agrees_with("white") and not white.agrees_with("correlated")
    assert isinstance(native, NativeCounts) and isinstance(poisson, PoissonNoise)
    assert native.plain_words(None) == "noise: Poisson counts, learned as they are by model pmm"


@dataclass(frozen=True, eq=False)
class DoubledWhite(NoiseModel):
    """White noise learned at twice its values: a noise model of this test's own. Doubling is exact, and so is the
    value scaling of doubled values, so its results are those of white noise bitwise."""

    kind: ClassVar[str] = "doubled-white"

    @classmethod
    def estimate(cls, image: np.ndarray, asked: str) -> DoubledWhite:
        return cls(asked, "white, learned doubled")

    def forward(self, values: np.ndarray) -> np.ndarray:
        values *= 2.0
        return values

    def inverse(self, denoised: np.ndarray) -> np.ndarray:
        return denoised / 2.0

    def moments_to_input(self, moments: PixelMoments) -> PixelMoments:
        third = None if moments.third is None else moments.third / 8.0
        quarter = {name: getattr(moments, name) / 4.0 for name in ("variance", "within", "between")}
        return replace(moments, mean=moments.mean / 2.0, third=third, **quarter)

    def plain_words(self, sigma: float | None) -> str:
        return "noise: white, learned doubled"


@pytest.fixture
def doubled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(NOISE_KINDS, DoubledWhite.kind, DoubledWhite)
    # NOISE_MODELS is derived from the table when it is imported: refreshed for a kind registered after that.
    options = (*NOISE_MODELS, DoubledWhite.kind)
    for module in (zeroshot.noise.kinds, zeroshot.noise.decide, zeroshot.config):
        monkeypatch.setattr(module, "NOISE_MODELS", options)
    yield


@pytest.mark.usefixtures("doubled")
def test_a_noise_model_registered_by_a_test_denoises_end_to_end(tmp_path: Path):
    """A kind of the test's own runs through the whole pipeline (its decision, learning, inference, moments, a model
    file and denoising with it) and gives white noise's results bitwise."""
    image = _white()
    result = zeroshot.denoise(image, noise="doubled-white", moments=3, **SMALL)
    reference = zeroshot.denoise(image, noise="white", moments=3, **SMALL)
    assert isinstance(result.noise, DoubledWhite) and result.noise.asked == "doubled-white"
    assert result.moments is not None and reference.moments is not None
    np.testing.assert_array_equal(result.denoised, reference.denoised)
    for name in ("variance", "third", "skewness"):
        np.testing.assert_array_equal(getattr(result.moments, name), getattr(reference.moments, name))

    trained = zeroshot.train([image, _white(1)], noise="doubled-white", **SMALL)
    trained.save(tmp_path / "doubled.npz")
    loaded = zeroshot.TrainedModel.load(tmp_path / "doubled.npz")
    assert isinstance(loaded.noise, DoubledWhite) and "noise doubled-white" in loaded.describe()
    np.testing.assert_array_equal(
        zeroshot.denoise(image, model=loaded, threads=1).denoised,
        zeroshot.denoise(image, model=trained, threads=1).denoised,
    )
