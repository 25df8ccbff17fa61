"""Trained models: `zeroshot.train` on one or several images, `denoise(image, model=...)`, and model files (saved
and loaded bitwise, refused when from another release, for another patch size or noise model, or damaged)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import zeroshot
from noise_images import clean, correlated_noise
from thread_comm import run_ranks
from zeroshot.denoise import denoise
from zeroshot.pipeline import trained as trained_module
from zeroshot.pipeline.trained import FINETUNE_STATES, FIT_FACTOR, ModelMismatchWarning, TrainedModel
from zeroshot.train import train

TINY = {"patch_size": 5, "n_latents": 12, "n_states": 10, "epochs": 5, "threads": 1}
# Each noise model and model kind: the image kind it needs and its options.
KINDS = {
    "bsc": ("float", {"noise": "white"}),
    "es3c": ("float", {"model": "es3c", "noise": "white", "bsc_pretrain_epochs": 2}),
    "correlated": ("float", {"noise": "correlated"}),
    "poisson": ("counts", {"noise": "poisson"}),
    "pmm": ("counts", {"model": "pmm", "patch_size": 4, "n_states": 4, "merge": "mean"}),
}


def plaid(seed: int = 0, shape=(32, 32), shift: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    return 0.2 + 0.4 * (((x + shift) // 10) % 2) + 0.3 * ((y // 13) % 2) + 0.08 * rng.standard_normal(shape)


def counts(seed: int = 0, shape=(32, 32)) -> np.ndarray:
    return np.random.default_rng(seed + 100).poisson(20.0 * plaid(seed, shape).clip(0.05)).astype(np.float64)


def image_of(kind: str, seed: int = 0) -> np.ndarray:
    return counts(seed) if KINDS[kind][0] == "counts" else plaid(seed)


def options_of(kind: str) -> dict:
    return {**TINY, **KINDS[kind][1]}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{kind: (the trained model, the path of its file)} of one image each."""
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for kind in KINDS:
        model = train(image_of(kind), **options_of(kind))
        path = folder / f"{kind}.npz"
        model.save(path)
        out[kind] = (model, path)
    return out


def params_of(model) -> dict:
    return {name: np.asarray(value) for name, value in vars(model.params).items()}


# ---- learning


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_one_image_learns_the_parameters_of_denoise_bitwise(kind, models):
    """train([image]) prepares the image as denoise does: the same patches, the same Θ."""
    learned = denoise(image_of(kind), **options_of(kind)).model
    trained, _ = models[kind]
    for name, value in params_of(learned).items():
        np.testing.assert_array_equal(params_of(trained.model)[name], value, err_msg=name)
    assert trained.images == 1 and trained.n_train == (29 * 29 if kind == "pmm" else 28 * 28)


def test_several_images_share_one_set_of_training_patches():
    images = [plaid(1), plaid(2, (40, 36)), plaid(3, shift=5)]
    model = train(images, **TINY, noise="white")
    assert model.images == 3 and model.n_train == 28 * 28 + 36 * 32 + 28 * 28
    assert len(model.history) == TINY["epochs"]
    subset = train(images, **TINY, noise="white", max_train_patches=1000)
    assert subset.n_train == 1000
    stack = train(np.stack([plaid(1), plaid(3, shift=5)]), **TINY, noise="white")
    listed = train([plaid(1), plaid(3, shift=5)], **TINY, noise="white")
    np.testing.assert_array_equal(stack.model.W, listed.model.W)  # a stack is its frames


def test_the_first_image_decides_the_noise_model_and_the_scaling():
    """noise="auto" on a correlated first image and a white second one: correlated, with the first image's
    whitening and scaling (not pooled: the second image's values are ten times larger)."""
    first = clean((48, 48)) + correlated_noise((48, 48), 8.0, np.random.default_rng(3))
    second = 10.0 * plaid(2, (48, 48)) + 3.0
    model = train([first, second], **TINY)
    alone = train([first], **{**TINY, "epochs": 0})
    assert model.noise.kind == alone.noise.kind == "correlated"
    assert model.scaling == alone.scaling
    np.testing.assert_array_equal(model.whitening.L, alone.whitening.L)
    assert train([second, first], **TINY).noise.kind == "white"


def test_several_ranks_learn_the_model_of_one_process():
    images = [plaid(1), plaid(2, (40, 36))]
    serial = train(images, **TINY, noise="white")
    ranks = run_ranks(2, lambda comm: train(images, **TINY, noise="white", comm=comm))
    for model in ranks:
        np.testing.assert_allclose(model.model.W, serial.model.W, rtol=1e-10, atol=0)
        assert model.n_train == serial.n_train


@pytest.mark.parametrize(
    "images, options, message",
    [
        ([], {}, "no images to learn from"),
        ([plaid(1), np.zeros((3, 40))], {}, r"image 1: shape \(3, 40\) is smaller than the patch size 5"),
        ([plaid(1), np.full((32, 32), np.nan)], {}, r"image 1: image contains NaN or Inf"),
        ([plaid(1), np.zeros((4, 4, 4))], {}, r"image 1: must be a 2-D grayscale array"),
        (np.zeros((2, 2, 2, 2)), {}, r"a 2-D image, a 3-D stack"),
        ([counts(1), -counts(2)], {"model": "pmm", "patch_size": 4}, r"image 1: model pmm needs non-negative counts"),
        ([plaid(1)], {"noise": "loud"}, r"noise must be one of"),
        (  # R7: the first image's scaling took them to 1e299, and training failed with "W contains NaN or Inf"
            [plaid(1), 1e300 * plaid(2)],
            {},
            r"image 1: values up to 1\.14e\+300 do not fit the value scaling of the first image \(learned on "
            r"values up to 1\.12\): on it they would reach 4\.49e\+300, beyond the 1\.34e\+143 that can be",
        ),
    ],
)
def test_bad_training_images_are_refused_naming_the_image(images, options, message):
    with pytest.raises(ValueError, match=message):
        train(images, **{**TINY, **options})


# ---- inference with a trained model


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_saved_and_loaded_model_denoises_bitwise_as_the_model_in_memory(kind, models):
    model, path = models[kind]
    loaded = TrainedModel.load(path)
    assert loaded.checksum == model.checksum
    new_image = image_of(kind, seed=7)
    in_memory = denoise(new_image, model=model, threads=1, moments=2)
    from_file = denoise(new_image, model=str(path), threads=1, moments=2)
    np.testing.assert_array_equal(from_file.denoised, in_memory.denoised)
    np.testing.assert_array_equal(from_file.variance, in_memory.variance)
    tuned = [denoise(new_image, model=m, threads=1, finetune=2) for m in (model, loaded)]
    np.testing.assert_array_equal(tuned[0].denoised, tuned[1].denoised)


def test_finetune_0_is_pure_inference_at_the_models_parameters(models):
    model, path = models["bsc"]
    image = plaid(8)
    plain = denoise(image, model=path, threads=1)
    zero = denoise(image, model=path, threads=1, finetune=0)
    np.testing.assert_array_equal(zero.denoised, plain.denoised)
    assert zero.history == [] and zero.config.epochs == 0
    for name, value in params_of(model.model).items():
        np.testing.assert_array_equal(params_of(zero.model)[name], value)  # Θ unchanged
    tuned = denoise(image, model=path, threads=1, finetune=3)
    assert len(tuned.history) == 3 and not np.array_equal(tuned.model.W, model.model.W)
    assert not np.array_equal(tuned.denoised, zero.denoised)


def test_a_new_image_is_mapped_with_the_training_scaling(models):
    """Θ is learned in the training images' scale: another image of other values is taken through the same
    scaling (not its own), so the noise level at finetune 0 is the model's, whatever the new image's values."""
    model, _ = models["bsc"]
    brighter = denoise(2.5 * plaid(9) + 2.0, model=model, threads=1)  # within FIT_FACTOR: no warning
    assert brighter.noise_sigma == model.noise_sigma
    np.testing.assert_allclose(brighter.denoised.mean(), 2.5 * plaid(9).mean() + 2.0, rtol=0.05)


@pytest.mark.parametrize("kind", ["bsc", "correlated", "poisson"])
def test_an_image_of_the_models_kind_fits_it(kind, models):
    model, _ = models[kind]
    fit = denoise(image_of(kind, seed=7), model=model, threads=1).model_fit  # no warning (warnings are errors)
    assert fit is not None and fit.noise_sigma is not None and fit.model_sigma == model.noise_sigma
    assert 1 / FIT_FACTOR < fit.noise_sigma / fit.model_sigma < FIT_FACTOR
    assert 1 / FIT_FACTOR < fit.scale / fit.model_scale < FIT_FACTOR and fit.transformed == (kind == "poisson")


@pytest.mark.parametrize(("kind", "factor"), [("bsc", 0.01), ("bsc", 100.0), ("correlated", 0.01), ("poisson", 100.0)])
def test_an_image_far_from_the_models_is_denoised_with_a_warning_naming_both_figures(kind, factor, models):
    """R1: an image of another noise level or value scale was denoised at the model's parameters without a word,
    and its σ reported was the model's."""
    model, _ = models[kind]
    with pytest.warns(ModelMismatchWarning) as caught:
        result = denoise(factor * image_of(kind, seed=7), model=model, threads=1)
    fit = result.model_fit
    assert fit is not None and fit.noise_sigma is not None and result.noise_sigma == model.noise_sigma
    message = str(caught[0].message)
    assert message.startswith("the image is far from the images the model was learned from: its noise sigma ")
    assert f"its noise sigma {fit.noise_sigma:.4g} against the model's {model.noise_sigma:.4g}" in message
    assert f"its value scale (standard deviation) {fit.scale:.4g} against the {fit.model_scale:.4g}" in message


def test_a_pmm_model_is_not_compared_by_scale(models):
    model, _ = models["pmm"]
    assert denoise(100 * image_of("pmm", seed=7), model=model, threads=1).model_fit is None


def test_inference_options_may_be_set_and_the_models_own_values_repeated(models):
    _, path = models["bsc"]
    result = denoise(plaid(4), model=path, threads=1, merge="median", inference_epochs=2, patch_size=5, noise="auto")
    assert result.config.merge == "median" and result.config.inference_epochs == 2


@pytest.mark.parametrize(
    "options, message",
    [
        ({"patch_size": 8}, r"learned with patch_size = 5, but patch_size = 8 was asked"),
        ({"n_latents": 20}, r"learned with n_latents = 12, but n_latents = 20"),
        ({"noise": "correlated"}, r"learned with noise = 'white', but noise = 'correlated'"),
        ({"epochs": 10}, r"epochs = 10 with .*finetune"),
        ({"config": zeroshot.DenoiseConfig()}, r"config= with a trained model"),
        ({"checkpoint": "c.ckpt"}, r"checkpoint= with a trained model"),
        ({"finetune": -1}, r"finetune must be an integer >= 0"),
        ({"colour": 1}, r"unknown option\(s\) colour"),
    ],
)
def test_options_that_conflict_with_the_model_are_refused(models, options, message):
    _, path = models["bsc"]
    with pytest.raises(ValueError, match=message) as error:
        denoise(plaid(4), model=path, threads=1, **options)
    assert "Traceback" not in str(error.value)


def test_another_model_kind_is_refused(models):
    _, path = models["es3c"]
    with pytest.raises(ValueError, match=r"learned with model = 'es3c', but model = 'bsc'"):
        TrainedModel.load(path).config_for({"model": "bsc"})


def test_finetuning_keeps_fewer_states_unless_asked():
    """Fine-tuning epochs keep FINETUNE_STATES states per patch (ES3C: as good as its 30 at half the time), or
    n_states as given; inference alone keeps the model's."""
    model = train(image_of("es3c"), **{**options_of("es3c"), "n_states": FINETUNE_STATES + 6})
    assert model.config_for({}, finetune=3).n_states == FINETUNE_STATES
    assert model.config_for({"n_states": 12}, finetune=3).n_states == 12
    assert model.config_for({}).n_states == model.config.n_states
    tuned = denoise(plaid(4), model=model, threads=1, finetune=2)
    assert tuned.config.n_states == FINETUNE_STATES and np.all(np.isfinite(tuned.denoised))


def test_finetune_takes_numpy_integers(models):
    """reliability_turn3.md R13: finetune=np.int64(2) was refused ("must be an integer >= 0")."""
    _, path = models["bsc"]
    tuned = denoise(plaid(4), model=path, threads=1, finetune=np.int64(2))
    np.testing.assert_array_equal(tuned.denoised, denoise(plaid(4), model=path, threads=1, finetune=2).denoised)
    assert tuned.config.epochs == 2 and type(tuned.config.epochs) is int
    assert denoise(plaid(4), finetune=np.int32(0), **TINY).config.epochs == TINY["epochs"]


def test_finetune_without_a_model_is_refused():
    with pytest.raises(ValueError, match="finetune=2 needs a trained model"):
        denoise(plaid(4), finetune=2, **TINY)
    with pytest.raises(ValueError, match=r"model must be one of .*'no-such.npz' \(no such file\)"):
        denoise(plaid(4), model="no-such.npz")


def test_an_image_smaller_than_the_models_patches_is_refused(models):
    _, path = models["bsc"]
    with pytest.raises(ValueError, match="smaller than the patch size 5"):
        denoise(np.zeros((4, 30)), model=path)


def test_an_image_beyond_what_the_models_scaling_can_compute_with_is_refused(models):
    """Values 1e300 on the scale of a model learned on values up to 1 would overflow in the log-joints (R6, R7:
    "y2 contains NaN or Inf")."""
    model, _ = models["bsc"]
    with pytest.raises(ValueError, match=r"values up to .*e\+300 do not fit the value scaling of the trained model"):
        denoise(1e300 * plaid(4), model=model, threads=1)


# ---- the file


def test_the_file_holds_no_pickles_and_its_parts(models):
    _, path = models["correlated"]
    with np.load(path, allow_pickle=False) as archive:
        names = set(archive.files)
        meta = json.loads(str(archive["meta"]))
    assert {"meta", "checksum", "W", "pi", "sigma2", "noise_acf", "whitening_L"} <= names
    assert meta["format"] == "zeroshot-model" and meta["zeroshot_version"] == zeroshot.__version__
    assert meta["noise"]["kind"] == "correlated" and set(meta["scaling"]) == {"peak", "offset_unit", "scale_unit"}
    assert meta["config"]["patch_size"] == 5


def _rewrite(path, change_meta=None, change_arrays=None, checksum=False):
    """The model file at `path` written again with its meta record and arrays changed, and with `checksum` a
    checksum of the new contents (so that the content checks, not the checksum, must catch the change)."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays.pop("meta")))
    if change_meta:
        change_meta(meta)
    if change_arrays:
        change_arrays(arrays)
    text = json.dumps(meta, sort_keys=True)
    if checksum:
        contents = {name: value for name, value in arrays.items() if name != "checksum"}
        arrays["checksum"] = np.array(trained_module._digest(text, contents))
    with open(path, "wb") as fh:
        np.savez(fh, meta=np.array(text), **arrays)


def _flip_a_byte_of_W(path):
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    data = bytearray(members["W.npy"])
    data[-3] ^= 0x10
    members["W.npy"] = bytes(data)
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in members.items():
            archive.writestr(name, value)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing", "no model file at"),
        ("empty", "is not a zeroshot model file (the file is empty)"),
        ("truncated", "is not a zeroshot model file (it is not a .npz archive)"),
        ("text", "is not a zeroshot model file (it is not a .npz archive)"),
        ("npy", "is not a zeroshot model file (it is a single .npy array"),
        ("W flipped", "damaged model file (its checksum does not match its contents"),
        ("no checksum", "damaged model file (no checksum)"),
        ("pickle", "damaged model file (member pi holds Python objects, not numbers)"),
        ("W shape", "damaged model file (W has shape (19, 12), expected (25, 12)"),
        ("other format", "is not a zeroshot model file"),
        ("format version 2", "model file format version 2 (this zeroshot reads 1)"),
        ("no config", "damaged model file (its meta record has no 'config')"),
        ("noise kind", "damaged model file (noise model kind must be one of"),
    ],
)
def test_damaged_model_files_are_refused_naming_the_file(models, tmp_path, damage, message):
    _, original = models["bsc"]
    path = tmp_path / "model.npz"
    path.write_bytes(original.read_bytes())
    if damage == "missing":
        path.unlink()
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(original.read_bytes()[: len(original.read_bytes()) // 2])
    elif damage == "text":
        path.write_text("a model\n")
    elif damage == "npy":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros(3))
    elif damage == "W flipped":
        _flip_a_byte_of_W(path)
    elif damage == "no checksum":
        _rewrite(path, change_arrays=lambda a: a.pop("checksum"))
    elif damage == "pickle":
        _rewrite(path, change_arrays=lambda a: a.__setitem__("pi", np.array([{"a": 1}], dtype=object)))
    elif damage == "W shape":
        _rewrite(path, change_arrays=lambda a: a.__setitem__("W", np.zeros((19, 12))))
    elif damage == "other format":
        _rewrite(path, lambda meta: meta.__setitem__("format", "something-else"))
    elif damage == "format version 2":
        _rewrite(path, lambda meta: meta.__setitem__("format_version", 2))
    elif damage == "no config":
        _rewrite(path, lambda meta: meta.pop("config"))
    elif damage == "noise kind":
        _rewrite(path, lambda meta: meta["noise"].__setitem__("kind", "pink"))
    with pytest.raises(ValueError) as error:
        denoise(plaid(4), model=path, threads=1)
    text = str(error.value)
    assert str(path) in text and message in text, text
    assert "allow_pickle" not in text and "unsafely" not in text


def _scaled(name, factor):
    return lambda arrays: arrays.__setitem__(name, arrays[name] * factor)


@pytest.mark.parametrize(
    "kind, change_meta, change_arrays, message",
    [
        ("bsc", None, _scaled("W", 1e160), "e+160) are too large for sigma2"),
        ("bsc", None, lambda a: a.__setitem__("sigma2", np.array(5e-324)), "sigma2 4.94e-324 is below 1e-10"),
        ("correlated", None, _scaled("noise_acf", np.nan), "the noise ACF holds NaN or Inf"),
        ("bsc", lambda m: m["scaling"].__setitem__("offset_unit", 1e300), None, "offset_unit 1e+300 is outside"),
        ("bsc", lambda m: m["scaling"].__setitem__("scale_unit", 2.0), None, "scale_unit 2.0 is outside (0, 1]"),
        ("bsc", lambda m: m["config"].__setitem__("inference_epochs", 10**7), None, "inference_epochs must be at most"),
    ],
    ids=["W x 1e160", "sigma2 5e-324", "NaN noise ACF", "offset_unit 1e300", "scale_unit 2", "inference_epochs 1e7"],
)
def test_values_out_of_range_are_refused_naming_the_file(models, tmp_path, kind, change_meta, change_arrays, message):
    """Values no training gives (R6): refused on loading, before the checksum, rather than failing in the core
    with a message that names neither the file nor the cause, or giving zeros."""
    path = tmp_path / "model.npz"
    path.write_bytes(models[kind][1].read_bytes())
    _rewrite(path, change_meta, change_arrays, checksum=True)
    with pytest.raises(ValueError) as error:
        TrainedModel.load(path)
    text = str(error.value)
    assert text.startswith(f"{path}: damaged model file (") and message in text, text


def test_a_checkpoint_is_no_model_file(tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    denoise(plaid(1), **TINY, checkpoint=checkpoint)
    with pytest.raises(ValueError, match=r"is not a zeroshot model file .*it is a training checkpoint"):
        TrainedModel.load(checkpoint)


def test_a_model_file_of_another_release_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "old.npz"
    monkeypatch.setattr(trained_module, "package_version", lambda: "0.0.7")
    train(plaid(1), **TINY).save(path)  # written by "zeroshot 0.0.7", checksum and all
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"a model file of zeroshot 0.0.7, but this is zeroshot .*major.minor 0.0"):
        TrainedModel.load(path)


def test_another_patch_release_reads_it(tmp_path, monkeypatch):
    this = zeroshot.__version__.split(".")
    path = tmp_path / "patch.npz"
    monkeypatch.setattr(trained_module, "package_version", lambda: ".".join([*this[:2], "99"]))
    train(plaid(1), **TINY).save(path)
    monkeypatch.undo()
    assert TrainedModel.load(path).version.endswith(".99")


def test_a_failed_save_leaves_the_old_file(models, tmp_path, monkeypatch):
    model, original = models["bsc"]
    path = tmp_path / "model.npz"
    path.write_bytes(original.read_bytes())

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == original.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_train_chooses_the_patch_size_denoise_chooses():
    """Without a patch size, training on an image picks the one denoise picks for it, by the same noise-aware rule
    (correlated noise: from its ACF's sigma; the white estimate would see too little noise and pick 5)."""
    image = clean((96, 112)) + correlated_noise((96, 112), 10.0, np.random.default_rng(7))
    options = {k: v for k, v in TINY.items() if k != "patch_size"} | {"epochs": 1}
    learned = train(image, **options)
    result = denoise(image, **options)
    assert learned.noise.kind == "correlated" and result.noise is not None and result.noise.kind == "correlated"
    assert learned.config.patch_size == result.config.patch_size == 6
