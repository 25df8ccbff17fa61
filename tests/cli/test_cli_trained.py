"""The command line of trained models: `zeroshot train`, `--model-file`, `--finetune`, and the contract that a
model file is never overwritten and options that conflict with it are refused before any work."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from zeroshot.cli.main import main
from zeroshot.denoise import denoise
from zeroshot.pipeline.trained import TrainedModel
from zeroshot.train import train

FLAGS = ["--latents", "12", "--states", "10", "--patch-size", "5", "--threads", "1"]
OPTIONS = {"n_latents": 12, "n_states": 10, "patch_size": 5, "threads": 1, "epochs": 5}


def plaid(seed: int, shape=(32, 32)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    clean = 0.2 + 0.4 * ((x // 10) % 2) + 0.3 * ((y // 13) % 2)
    return (clean + 0.08 * rng.standard_normal(shape)).astype(np.float32)


@pytest.fixture
def files(tmp_path):
    """Three noisy .npy images and a model file learned from the first two by the command line."""
    paths = []
    for seed in range(3):
        paths.append(tmp_path / f"in{seed}.npy")
        np.save(paths[-1], plaid(seed))
    model = tmp_path / "model.npz"
    assert main(["train", str(paths[0]), str(paths[1]), "-o", str(model), "-q", "--epochs", "5", *FLAGS]) == 0
    return paths, model


def test_train_writes_the_model_of_the_python_api(files, tmp_path, capsys):
    (a, b, _), _ = files
    model = tmp_path / "again.npz"
    assert main(["train", str(a), str(b), "-o", str(model), "--epochs", "5", *FLAGS]) == 0
    captured = capsys.readouterr()
    assert f"{model}: bsc, 5x5 patches, 12 latents" in captured.out and "learned from 2 image(s)" in captured.out
    assert "epoch 5/5" in captured.err and "noise: " in captured.err and f"(decided on {a})" in captured.err
    # one sigma: the last epoch's is the model file's
    shown = re.findall(r"epoch 5/5, noise sigma ([\d.e+-]+) ", captured.err)[0]
    assert f"learned noise sigma {shown} " in captured.out
    loaded = TrainedModel.load(model)
    want = train([np.load(a), np.load(b)], **OPTIONS)
    np.testing.assert_array_equal(loaded.model.W, want.model.W)
    assert loaded.scaling == want.scaling and loaded.n_train == want.n_train == 2 * 28 * 28


def test_denoise_with_a_model_file_is_the_api_result_and_finetune_0_is_pure_inference(files, tmp_path, capsys):
    (_, _, c), model = files
    plain, zero, tuned = tmp_path / "plain.npy", tmp_path / "zero.npy", tmp_path / "tuned.npy"
    base = ["denoise", str(c), "--model-file", str(model), "--threads", "1", "--keep-dtype"]
    assert main([*base, "-o", str(plain)]) == 0
    err = capsys.readouterr().err
    assert f"model file {model}: bsc, 5x5 patches" in err and "inference only" in err
    assert main([*base, "-o", str(zero), "--finetune", "0", "-q"]) == 0
    assert main([*base, "-o", str(tuned), "--finetune", "2", "-q"]) == 0
    want = denoise(np.load(c), model=model, threads=1).denoised.astype(np.float32)
    np.testing.assert_array_equal(np.load(plain), want)
    np.testing.assert_array_equal(np.load(zero), np.load(plain))
    assert not np.array_equal(np.load(tuned), np.load(plain))
    sidecar = json.loads((tmp_path / "zero.npy.json").read_text())
    assert sidecar["model_file"]["checksum"] == TrainedModel.load(model).checksum
    assert sidecar["model_file"]["finetune"] == 0 and sidecar["settings"]["epochs"] == 0
    assert json.loads((tmp_path / "tuned.npy.json").read_text())["model_file"]["finetune"] == 2


def test_with_a_model_file_the_sigma_is_the_models_and_the_images_own_is_beside_it(files, tmp_path, capsys):
    (_, _, c), model = files
    target = tmp_path / "out.npy"
    assert main(["denoise", str(c), "-o", str(target), "--model-file", str(model), "--threads", "1"]) == 0
    captured = capsys.readouterr()
    sidecar = json.loads((tmp_path / "out.npy.json").read_text())["results"]
    mine, own = TrainedModel.load(model).noise_sigma, sidecar["image_noise_sigma"]
    assert sidecar["noise_sigma"] == mine and 0.07 < own < 0.09  # plaid() has noise 0.08
    assert (
        f": the model's noise sigma {mine:.4g} grey levels, the image's own estimate {own:.4g} grey levels"
        in captured.out
    )
    assert "learned noise sigma" not in captured.out and "warning" not in captured.err


def test_a_pmm_model_files_sigma_is_the_models_too(tmp_path, capsys):
    counts = np.random.default_rng(0).poisson(20 * plaid(0).clip(0.05)).astype(np.float32)
    np.save(tmp_path / "counts.npy", counts)
    model = tmp_path / "pmm.npz"
    train(counts, model="pmm", n_latents=8, n_states=4, epochs=2, patch_size=4, threads=1).save(model)
    argv = ["denoise", str(tmp_path / "counts.npy"), "-o", str(tmp_path / "out.npy"), "--model-file", str(model)]
    assert main([*argv, "-q", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert ": the model's noise sigma " in out and ", the image's own estimate not estimated;" in out


@pytest.mark.parametrize("factor", [0.01, 100.0])
def test_an_image_far_from_the_models_is_denoised_with_a_warning_naming_both_figures(files, tmp_path, capsys, factor):
    (_, _, c), model = files
    far = tmp_path / "far.npy"
    np.save(far, np.load(c) * factor)
    assert main(["denoise", str(far), "-o", str(tmp_path / "out.npy"), "--model-file", str(model), "-q"]) == 0
    err = capsys.readouterr().err
    mine = TrainedModel.load(model).noise_sigma
    own = json.loads((tmp_path / "out.npy.json").read_text())["results"]["image_noise_sigma"]
    assert err.startswith(f"zeroshot: warning: {far}: the image is far from the images the model was learned from: ")
    assert f"its noise sigma {own:.4g} against the model's {mine:.4g} and its value scale" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_enhance_with_a_model_file(files, tmp_path):
    (_, _, c), model = files
    target = tmp_path / "variance.npy"
    assert main(["enhance", str(c), "-o", str(target), "--model-file", str(model), "-q", "--threads", "1"]) == 0
    assert np.load(target).shape == (32, 32) and np.all(np.load(target) >= 0)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--patch-size", "8"], "learned with patch_size = 5, but patch_size = 8 was asked"),
        (["--latents", "20"], "learned with n_latents = 12, but n_latents = 20"),
        (["--noise", "correlated"], "learned with noise = 'white', but noise = 'correlated'"),
        (["--model", "es3c"], "learned with model = 'bsc', but model = 'es3c'"),
        (["--epochs", "3"], "epochs = 3 with --model-file"),
        (["--finetune", "-1"], "--finetune must be at least 0, got -1"),
        (["--checkpoint", "c.ckpt"], "--checkpoint with --model-file"),
    ],
)
def test_options_that_conflict_with_the_model_file_exit_2(files, tmp_path, capsys, flags, message):
    (_, _, c), model = files
    target = tmp_path / "out.npy"
    argv = ["denoise", str(c), "-o", str(target), "--model-file", str(model), "-q", *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("zeroshot denoise: error:") and "Traceback" not in err
    assert not target.exists()


def test_the_models_own_values_may_be_repeated(files, tmp_path):
    (_, _, c), model = files
    target = tmp_path / "out.npy"
    argv = ["denoise", str(c), "-o", str(target), "--model-file", str(model), "-q", "--noise", "white", *FLAGS]
    assert main(argv) == 0 and target.exists()


def test_finetune_without_a_model_file_exits_2(files, tmp_path, capsys):
    (_, _, c), _ = files
    assert main(["denoise", str(c), "-o", str(tmp_path / "o.npy"), "--finetune", "2"]) == 2
    assert "--finetune needs --model-file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing", "--model-file: no model file at"),
        ("empty", "is not a zeroshot model file (the file is empty)"),
        ("truncated", "is not a zeroshot model file (it is not a .npz archive)"),
        ("image", "is not a zeroshot model file (it is a single .npy array"),
    ],
)
def test_a_bad_model_file_exits_2_naming_it(files, tmp_path, capsys, damage, message):
    (_, _, c), model = files
    bad = tmp_path / "bad.npz"
    if damage == "empty":
        bad.write_bytes(b"")
    elif damage == "truncated":
        bad.write_bytes(model.read_bytes()[:200])
    elif damage == "image":
        bad = c
    target = tmp_path / "out.npy"
    assert main(["denoise", str(c), "-o", str(target), "--model-file", str(bad), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(bad) in err and "Traceback" not in err
    assert not target.exists()


def test_no_output_may_overwrite_the_model_file(files, tmp_path, capsys):
    (_, _, c), model = files
    renamed = tmp_path / "model.npy"  # a model file under an image's name: an output could land on it
    renamed.write_bytes(model.read_bytes())
    assert main(["denoise", str(c), "-o", str(renamed), "--model-file", str(renamed), "-q"]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert renamed.read_bytes() == model.read_bytes()


@pytest.mark.parametrize(
    "output, message",
    [
        ("in0.npy", "a model file is a NumPy .npz archive"),
        ("folder.npz/", "is a folder, not an output file"),
        ("in0.npy/model.npz", "cannot write the model file there: "),
        ("missing/c.ckpt", "cannot write the checkpoint there: it does not exist"),
        ("twice.npz", "would be written twice"),
    ],
)
def test_train_output_checks_exit_2_before_any_work(files, tmp_path, capsys, output, message):
    (a, _, _), _ = files
    (tmp_path / "folder.npz").mkdir()
    argv = ["train", str(a), "-o", str(tmp_path / output), "-q", *FLAGS]
    if output in ("twice.npz", "missing/c.ckpt"):
        argv += ["--checkpoint", str(tmp_path / output)]
    if output == "missing/c.ckpt":
        argv[3] = str(tmp_path / "other.npz")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("zeroshot train: error:"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_train_makes_a_missing_folder_of_the_model_file(files, tmp_path):
    (a, _, _), _ = files
    model = tmp_path / "new" / "models" / "m.npz"
    assert main(["train", str(a), "-o", str(model), "-q", "--epochs", "2", *FLAGS]) == 0
    assert TrainedModel.load(model).images == 1


def test_train_names_the_file_of_a_bad_image(files, tmp_path, capsys):
    (a, _, _), _ = files
    bad = tmp_path / "tiny.npy"
    np.save(bad, np.zeros((3, 40), dtype=np.float32))
    assert main(["train", str(a), str(bad), "-o", str(tmp_path / "m.npz"), "-q", *FLAGS]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: shape (3, 40) is smaller than the patch size 5" in err
    assert not (tmp_path / "m.npz").exists()


def test_train_names_an_image_far_beyond_the_first_ones_range(files, tmp_path, capsys):
    (a, _, _), _ = files
    big = tmp_path / "big.npy"
    np.save(big, 1e300 * plaid(5).astype(np.float64))
    assert main(["train", str(a), str(big), "-o", str(tmp_path / "m.npz"), "-q", *FLAGS]) == 2
    err = capsys.readouterr().err
    assert f"{big}: values up to 1" in err and "do not fit the value scaling of the first image" in err, err
    assert not (tmp_path / "m.npz").exists()


def test_train_checkpoints_are_kept_and_refused_for_other_images(files, tmp_path, capsys):
    (a, b, _), _ = files
    checkpoint, resumed = tmp_path / "run.ckpt", tmp_path / "resumed.npz"
    flags = ["-q", "--checkpoint", str(checkpoint), "--epochs", "3", *FLAGS]
    assert main(["train", str(a), str(b), "-o", str(tmp_path / "first.npz"), *flags]) == 0
    assert main(["train", str(a), "-o", str(resumed), *flags, "--resume"]) == 2
    assert "made for another input image" in capsys.readouterr().err
    assert main(["train", str(a), str(b), "-o", str(resumed), *flags, "--resume"]) == 0
    first = TrainedModel.load(tmp_path / "first.npz")
    np.testing.assert_array_equal(TrainedModel.load(resumed).model.W, first.model.W)
