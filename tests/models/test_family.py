"""The model families (zeroshot.models.family): one table of the models, what each family promises, a family
registered by a test alone that runs end to end, and an unknown model that never trains as another."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import zeroshot
from zeroshot.cli.main import build_parser
from zeroshot.config import MODELS, DenoiseConfig
from zeroshot.models.bsc import BSC
from zeroshot.models.family import FAMILIES, ModelFamily, dictionary_family
from zeroshot.runtime.comm import SerialComm

SMALL = {"patch_size": 4, "n_latents": 8, "n_states": 4, "epochs": 3, "max_train_patches": 400, "threads": 1}


class RenamedBSC(BSC):
    """BSC under another name: a model of this test's own, with BSC's kernels."""

    name = "renamed-bsc"


@pytest.fixture
def renamed(monkeypatch: pytest.MonkeyPatch) -> ModelFamily:
    family = dictionary_family(RenamedBSC, "BSC under another name (registered by a test)")
    monkeypatch.setitem(FAMILIES, family.name, family)
    return family


def _image(seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[:36, :40]
    clean = 40.0 + 80.0 * ((x // 9) % 2) + 60.0 * ((y // 12) % 2)
    return clean + 20.0 * np.random.default_rng(seed).standard_normal(clean.shape)


def _counts() -> np.ndarray:
    x = np.arange(40)[None, :].repeat(36, axis=0)
    return np.random.default_rng(1).poisson(2.0 + 4.0 * ((x // 9) % 2)).astype(np.float64)


def test_the_table_is_the_one_list_of_the_models():
    assert tuple(MODELS) == tuple(FAMILIES) and {"bsc", "es3c", "pmm"} <= set(MODELS)
    choices = next(action.choices for action in build_parser()._actions if action.dest == "command")
    model_option = next(a for a in choices["denoise"]._actions if a.dest == "model")
    assert tuple(model_option.choices) == tuple(FAMILIES)
    for name, family in FAMILIES.items():
        assert family.name == name and family.description in model_option.help


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_keeps_its_promises(name: str):
    """Its defaults make a valid configuration; its start from the data gives a model of its name whose arrays
    are its parameter arrays, pass its checks and read back to the same model; its fresh states after one of its
    E-steps pass its check of stored states."""
    family = FAMILIES[name]
    config = DenoiseConfig.for_model(name, n_latents=6, n_states=3, patch_size=4)
    assert config.family is family
    Y = np.random.default_rng(2).poisson(3.0, (200, 16)).astype(np.float64)
    model = family.starting_family(config).initial(Y, config, SerialComm())
    model = family.adopt(model)
    assert model.name == name
    arrays = model.arrays()
    assert tuple(arrays) == family.parameter_arrays
    assert family.parameter_problem(arrays, config.n_latents, config.patch_size) is None
    back = family.from_arrays(arrays, config.shared_pi).arrays()
    for key, value in arrays.items():
        np.testing.assert_array_equal(back[key], value)
    states = family.states.fresh(Y.shape[0], config.n_latents, config.n_states, config.seed, 0)
    family.e_step(config.evo, config.seed).update(model, Y, states, 0)
    assert family.states.stored_problem(states.K, states.lpj, config.n_latents, config.n_states) is None
    assert family.states(states.K, states.lpj, config.n_latents, 5).first_index == 5


def test_an_unknown_model_is_refused_by_name():
    for make in (lambda: DenoiseConfig(model="nonexistent"), lambda: DenoiseConfig.for_model("nonexistent")):
        with pytest.raises(ValueError, match=r"model must be one of \('bsc', 'es3c', 'pmm'.*\), got 'nonexistent'"):
            make()
    with pytest.raises(ValueError, match="model must be one of"):
        zeroshot.denoise(_image(), model="nonexistent")


def test_a_model_whose_family_is_gone_never_trains_as_another(monkeypatch: pytest.MonkeyPatch, renamed: ModelFamily):
    config = DenoiseConfig(model="renamed-bsc", **{k: v for k, v in SMALL.items() if k != "threads"})
    monkeypatch.delitem(FAMILIES, "renamed-bsc")
    with pytest.raises(ValueError, match=r"model must be one of .*got 'renamed-bsc'"):
        config.family  # noqa: B018
    with pytest.raises(ValueError, match=r"model must be one of .*got 'renamed-bsc'"):
        zeroshot.denoise(_image(), config=config, threads=1)


def test_a_family_registered_by_a_test_denoises_end_to_end(renamed: ModelFamily, tmp_path: Path):
    """A family of the test's own runs through the whole pipeline (learning, checkpoints, inference, moments, a
    model file) and, having BSC's kernels, gives BSC's results bitwise."""
    assert "renamed-bsc" in MODELS
    image = _image()
    result = zeroshot.denoise(image, model="renamed-bsc", moments=2, checkpoint=tmp_path / "r.ckpt", **SMALL)
    reference = zeroshot.denoise(image, model="bsc", moments=2, **SMALL)
    assert isinstance(result.model, RenamedBSC) and result.config.model == "renamed-bsc"
    assert result.config == replace(reference.config, model="renamed-bsc")
    assert result.moments is not None and reference.moments is not None
    np.testing.assert_array_equal(result.denoised, reference.denoised)
    np.testing.assert_array_equal(result.moments.variance, reference.moments.variance)
    resumed = zeroshot.denoise(image, model="renamed-bsc", checkpoint=tmp_path / "r.ckpt", resume=True, **SMALL)
    np.testing.assert_array_equal(resumed.denoised, result.denoised)

    trained = zeroshot.train([image, _image(1)], model="renamed-bsc", **SMALL)
    trained.save(tmp_path / "r.npz")
    loaded = zeroshot.TrainedModel.load(tmp_path / "r.npz")
    assert isinstance(loaded.model, RenamedBSC) and loaded.describe().startswith("renamed-bsc, 4x4 patches, 8 latents")
    np.testing.assert_array_equal(
        zeroshot.denoise(image, model=loaded, threads=1).denoised,
        zeroshot.denoise(image, model=trained, threads=1).denoised,
    )


def test_the_counts_family_learns_counts_unscaled():
    """The PMM's family: counts on their own scale (no transform, no scaling), its exact E-step in inference."""
    family = FAMILIES["pmm"]
    assert family.counts and family.exact_e_step and family.latent_noun == "components"
    result = zeroshot.denoise(_counts(), model="pmm", patch_size=4, n_latents=6, n_states=3, epochs=2, threads=1)
    assert result.noise is not None and not result.noise.transforms
    with pytest.raises(ValueError, match="non-negative counts"):
        zeroshot.denoise(-_counts(), model="pmm", patch_size=4, n_latents=6, n_states=3, epochs=1, threads=1)
