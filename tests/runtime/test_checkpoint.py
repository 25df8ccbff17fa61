"""Checkpoints: atomic files, refusing a checkpoint of another run, and stopping by a signal then resuming
to bitwise the result of an uninterrupted run (API in-process, and the CLI in a real subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from thread_comm import run_ranks
from zeroshot.cli.main import main
from zeroshot.config import DenoiseConfig
from zeroshot.denoise import denoise
from zeroshot.models import BSC, SSSC, BSCParams, SSSCParams
from zeroshot.runtime import checkpoint as checkpoint_module
from zeroshot.runtime.checkpoint import Checkpoint, config_record, image_hash, load_checkpoint, save_checkpoint
from zeroshot.runtime.interrupt import TrainingInterrupted
from zeroshot.variational.em import EpochLog

TINY = {"patch_size": 4, "n_latents": 8, "n_states": 8, "epochs": 6, "threads": 1}


def noisy_image(seed: int = 0, shape=(26, 29)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    return 40.0 * ((x // 7) % 2) + 30.0 * ((y // 9) % 2) + 15.0 * rng.standard_normal(shape)


def small_checkpoint(config: DenoiseConfig, image: np.ndarray, model=None) -> Checkpoint:
    rng = np.random.default_rng(1)
    model = model or BSC(BSCParams(rng.standard_normal((16, 8)), np.full(8, 0.2), 0.7))
    K = np.stack([rng.permutation(2**8)[:8] for _ in range(5)]).astype(np.uint64)[..., None]  # distinct states
    history = [EpochLog(0, -10.5, -2.1, 0.9, 12, 0.01)]
    return Checkpoint(1, model, K, rng.standard_normal((5, 8)), history, config_record(config), image_hash(image))


# ---- the file ----


@pytest.mark.parametrize("model", ["bsc", "es3c"])
def test_round_trip(tmp_path, model):
    config, image = DenoiseConfig(model=model, **{k: v for k, v in TINY.items() if k != "threads"}), noisy_image()
    rng = np.random.default_rng(2)
    sssc = SSSC(
        SSSCParams(rng.standard_normal((16, 8)), np.full(8, 0.3), rng.standard_normal(8), rng.uniform(0.5, 2, 8), 0.4),
        shared_pi=True,
    )
    saved = small_checkpoint(config, image, sssc if model == "es3c" else None)
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, saved)
    loaded = load_checkpoint(path, config, image_hash(image))
    assert type(loaded.model) is type(saved.model) and loaded.model.shared_pi == saved.model.shared_pi
    for name, value in vars(saved.model.params).items():
        np.testing.assert_array_equal(getattr(loaded.model.params, name), value)
    np.testing.assert_array_equal(loaded.K, saved.K)
    np.testing.assert_array_equal(loaded.lpj, saved.lpj)
    assert loaded.history == saved.history and loaded.epoch == 1
    assert sorted(os.listdir(tmp_path)) == ["run.ckpt"]  # the name as given (no .npz added), no temporary files


def test_a_failed_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    config, image = DenoiseConfig(), noisy_image()
    path = tmp_path / "run.ckpt"

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, small_checkpoint(config, image))
    assert os.listdir(tmp_path) == []  # nothing half-written
    monkeypatch.undo()

    save_checkpoint(path, small_checkpoint(config, image))
    before = path.read_bytes()
    monkeypatch.setattr(checkpoint_module.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, small_checkpoint(config, image))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.ckpt"]


def test_a_checkpoint_of_another_configuration_is_refused_naming_the_fields(tmp_path):
    config, image = DenoiseConfig(epochs=5), noisy_image()
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, small_checkpoint(config, image))
    other = DenoiseConfig(epochs=7, evo=DenoiseConfig().evo.__class__(n_parents=6))
    with pytest.raises(
        ValueError,
        match=r"another configuration \(epochs: 5 in the checkpoint, 7 now; "
        r"evo.n_parents: 5 in the checkpoint, 6 now\)",
    ):
        load_checkpoint(path, other, image_hash(image))


def test_a_checkpoint_of_another_image_is_refused(tmp_path):
    config, image = DenoiseConfig(), noisy_image()
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, small_checkpoint(config, image))
    changed = image.copy()
    changed[3, 4] += 1e-9
    with pytest.raises(ValueError, match="made for another input image"):
        load_checkpoint(path, config, image_hash(changed))


def test_missing_or_foreign_files_are_refused(tmp_path):
    config, image = DenoiseConfig(), noisy_image()
    with pytest.raises(ValueError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "absent.ckpt", config, image_hash(image))
    foreign = tmp_path / "notes.ckpt"
    foreign.write_text("not an archive")
    with pytest.raises(ValueError, match="is not a zeroshot checkpoint"):
        load_checkpoint(foreign, config, image_hash(image))
    other_npz = tmp_path / "other.npz"
    np.savez(other_npz, meta=np.array(json.dumps({"format": "something else"})))
    with pytest.raises(ValueError, match="is not a zeroshot checkpoint"):
        load_checkpoint(other_npz, config, image_hash(image))


# ---- denoise(checkpoint=..., resume=...) ----


def interrupt_at(epoch: int, sig: int = signal.SIGINT):
    """A callback sending `sig` to this process after `epoch`: training stops after the next epoch."""

    def callback(log: EpochLog) -> None:
        if log.epoch == epoch:
            os.kill(os.getpid(), sig)

    return callback


def assert_identical(a, b):
    np.testing.assert_array_equal(a.denoised, b.denoised)
    np.testing.assert_array_equal(a.model.W, b.model.W)
    assert a.free_energy == b.free_energy
    assert [h.n_replaced for h in a.history] == [h.n_replaced for h in b.history]


@pytest.mark.parametrize(
    "options, stop_after",
    [
        ({"model": "bsc"}, 1),
        ({"model": "es3c", "bsc_pretrain_epochs": 3}, 0),  # stopped in the BSC pre-training
        ({"model": "es3c", "bsc_pretrain_epochs": 3}, 2),  # stopped at the switch to es3c
        ({"model": "bsc", "max_train_patches": 200, "chunk_patches": 150}, 3),
    ],
    ids=["bsc", "es3c-in-pretraining", "es3c-at-switch", "bsc-subset"],
)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopped_and_resumed_equals_uninterrupted(tmp_path, options, stop_after, sig):
    image, path = noisy_image(), tmp_path / "run.ckpt"
    options = {**TINY, **options}
    whole = denoise(image, moments=2, **options)
    with pytest.raises(TrainingInterrupted) as stopped:
        denoise(image, checkpoint=path, checkpoint_every=4, callback=interrupt_at(stop_after, sig), **options)
    assert stopped.value.epoch == stop_after + 2 and stopped.value.checkpoint == path
    assert f"checkpoint saved to {path}" in str(stopped.value)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    resumed = denoise(image, moments=2, checkpoint=path, checkpoint_every=4, resume=True, **options)
    assert_identical(resumed, whole)
    np.testing.assert_array_equal(resumed.variance, whole.variance)


def test_checkpoints_every_k_epochs_and_at_the_end(tmp_path, monkeypatch):
    saved = []
    original = checkpoint_module.save_checkpoint

    def recording(path, checkpoint):
        saved.append(checkpoint.epoch)
        original(path, checkpoint)

    monkeypatch.setattr("zeroshot.pipeline.training.save_checkpoint", recording)
    image, path = noisy_image(), tmp_path / "run.ckpt"
    first = denoise(image, checkpoint=path, checkpoint_every=4, **{**TINY, "epochs": 9})
    assert saved == [4, 8, 9]
    # A finished checkpoint resumes straight into inference: the same result.
    again = denoise(image, checkpoint=path, resume=True, **{**TINY, "epochs": 9})
    assert saved == [4, 8, 9]
    assert_identical(again, first)


def test_resume_on_other_ranks_than_the_checkpoint_was_made_on(tmp_path):
    image, path = noisy_image(), tmp_path / "run.ckpt"
    options = {**TINY, "model": "es3c"}
    whole = denoise(image, **options)
    with pytest.raises(TrainingInterrupted):
        denoise(image, checkpoint=path, callback=interrupt_at(1), **options)
    results = run_ranks(2, lambda comm: denoise(image, comm=comm, checkpoint=path, resume=True, **options))
    for result in results:
        np.testing.assert_allclose(result.model.W, whole.model.W, rtol=1e-10)
        np.testing.assert_allclose(result.denoised, whole.denoised, rtol=0, atol=1e-10 * np.abs(whole.denoised).max())


def test_resume_refuses_another_configuration_or_image(tmp_path):
    image, path = noisy_image(), tmp_path / "run.ckpt"
    denoise(image, checkpoint=path, **TINY)
    with pytest.raises(ValueError, match="epochs: 6 in the checkpoint, 7 now"):
        denoise(image, checkpoint=path, resume=True, **{**TINY, "epochs": 7})
    with pytest.raises(ValueError, match="another input image"):
        denoise(noisy_image(seed=1), checkpoint=path, resume=True, **TINY)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"resume": True}, "resume needs the checkpoint"),
        ({"checkpoint": "run.ckpt", "checkpoint_every": 0}, "checkpoint_every must be a positive integer"),
        ({"checkpoint": "no/such/folder/run.ckpt"}, "the folder no/such/folder does not exist"),
        ({"checkpoint": ".", "resume": True}, "is a folder"),
    ],
)
def test_bad_checkpoint_options(options, message):
    with pytest.raises(ValueError, match=message):
        denoise(noisy_image(), **TINY, **options)


# ---- the CLI in a real process, stopped by a signal ----

CLI_FLAGS = [
    "--latents",
    "16",
    "--states",
    "16",
    "--epochs",
    "40",
    "--patch-size",
    "5",
    "--threads",
    "1",
    "--keep-dtype",
    "-q",
]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_stopped_by_a_signal_resumes_to_the_uninterrupted_output(tmp_path, sig):
    source, ckpt = tmp_path / "in.npy", tmp_path / "run.ckpt"
    np.save(source, noisy_image(shape=(36, 40)))
    stopped_out, full_out = tmp_path / "out.npy", tmp_path / "full.npy"
    command = [
        "denoise",
        str(source),
        "-o",
        str(stopped_out),
        *CLI_FLAGS,
        "--checkpoint",
        str(ckpt),
        "--checkpoint-every",
        "1",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "zeroshot.cli", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not ckpt.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no checkpoint appeared; the run said {process.communicate()}")
        time.sleep(0.002)
    process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert f"checkpoint saved to {ckpt}" in err and "--resume" in err
    assert "Traceback" not in err and out == ""
    assert not stopped_out.exists()
    with np.load(ckpt) as archive:
        assert 1 <= json.loads(str(archive["meta"]))["epoch"] < 40  # stopped during training

    assert main([*command, "--resume"]) == 0
    assert main(["denoise", str(source), "-o", str(full_out), *CLI_FLAGS]) == 0
    np.testing.assert_array_equal(np.load(stopped_out), np.load(full_out))


def test_cli_checkpoint_options_are_checked(tmp_path, capsys):
    source = tmp_path / "in.npy"
    np.save(source, noisy_image())
    assert main(["denoise", str(source), str(source), "-o", str(tmp_path / "out/"), "--checkpoint", "c"]) == 2
    assert "one checkpoint file for 2 inputs" in capsys.readouterr().err
    assert main(["denoise", str(source), "-o", str(tmp_path / "o.npy"), "--resume"]) == 2
    assert "--resume needs --checkpoint" in capsys.readouterr().err
    assert (
        main(["denoise", str(source), "-o", str(tmp_path / "o.npy"), "--checkpoint", "c", "--checkpoint-every", "0"])
        == 2
    )
    assert "--checkpoint-every must be at least 1" in capsys.readouterr().err


# ---- damaged or unexpected checkpoints: a message naming the file and the problem (D12)


def _rewrite(path, change_meta=None, change_arrays=None):
    """The checkpoint at `path` written again with its meta record and arrays changed."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays.pop("meta")))
    if change_meta:
        change_meta(meta)
    if change_arrays:
        change_arrays(arrays)
    with open(path, "wb") as fh:
        np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)


def _with_huge_member(path):
    """K's member header claims (10^6, 10^6, 1) uint64 (7.3 TiB); the member holds a few bytes."""
    import io
    import zipfile

    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            if name == "K":
                header = {"descr": "<u8", "fortran_order": False, "shape": (10**6, 10**6, 1)}
                np.lib.format.write_array_header_1_0(buffer, header)
                buffer.write(b"\0" * 64)
            else:
                np.lib.format.write_array(buffer, value, allow_pickle=False)
            archive.writestr(name + ".npy", buffer.getvalue())


def _set(key, value):
    return lambda meta: meta.__setitem__(key, value)


def _drop(key):
    return lambda meta: meta.pop(key)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("empty", "is not a zeroshot checkpoint (the file is empty)"),
        ("npy", "is not a zeroshot checkpoint (it is a single .npy array"),
        ("text", "is not a zeroshot checkpoint (it is not a .npz archive)"),
        ("no config", "damaged checkpoint (its meta record has no 'config')"),
        ("no input_hash", "damaged checkpoint (its meta record has no 'input_hash')"),
        ("epoch '3'", "damaged checkpoint ('epoch' in its meta record must be an integer, got '3')"),
        ("epoch 10^6", "damaged checkpoint (epoch 1000000 with 1 epochs in the history)"),
        ("shared_pi 'yes'", "damaged checkpoint ('shared_pi' in its meta record must be true or false, got 'yes')"),
        ("W with D + 3 rows", "damaged checkpoint (W has shape (19, 8), expected (16, 8)"),
        ("K bits beyond H", "damaged checkpoint (states with bits set beyond H = 8)"),
        ("K with a state twice", "damaged checkpoint (patch 2 holds the same state twice)"),
        ("huge member", "damaged checkpoint (member K declares an array of shape (1000000, 1000000, 1) uint64"),
        ("W complex", "damaged checkpoint (W has dtype complex128, not real numbers)"),
        ("sigma2 5e-324", "damaged checkpoint (sigma2 4.94e-324 is below 1e-10"),
        ("W x 1e160", "damaged checkpoint (W's values (up to"),
    ],
)
def test_damaged_checkpoints_are_refused_naming_the_file(tmp_path, damage, message):
    config, image = DenoiseConfig(**{k: v for k, v in TINY.items() if k != "threads"}), noisy_image()
    path = tmp_path / "try.ckpt"
    save_checkpoint(path, small_checkpoint(config, image))
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "npy":
        path.unlink()
        with open(path, "wb") as fh:
            np.save(fh, image)
    elif damage == "text":
        path.write_text("text\n")
    elif damage == "no config":
        _rewrite(path, _drop("config"))
    elif damage == "no input_hash":
        _rewrite(path, _drop("input_hash"))
    elif damage == "epoch '3'":
        _rewrite(path, _set("epoch", "3"))
    elif damage == "epoch 10^6":
        _rewrite(path, _set("epoch", 10**6))
    elif damage == "shared_pi 'yes'":
        _rewrite(path, _set("shared_pi", "yes"))
    elif damage == "W with D + 3 rows":
        _rewrite(path, change_arrays=lambda a: a.__setitem__("W", np.zeros((19, 8))))
    elif damage == "K bits beyond H":
        _rewrite(path, change_arrays=lambda a: a.__setitem__("K", a["K"] | np.uint64(1 << 9)))
    elif damage == "K with a state twice":

        def repeat_a_state(arrays):
            K = arrays["K"].copy()
            K[2, 5] = K[2, 1]
            arrays["K"] = K

        _rewrite(path, change_arrays=repeat_a_state)
    elif damage == "W complex":
        _rewrite(path, change_arrays=lambda a: a.__setitem__("W", a["W"] + 1j))
    elif damage == "sigma2 5e-324":
        _rewrite(path, change_arrays=lambda a: a.__setitem__("sigma2", np.array(5e-324)))
    elif damage == "W x 1e160":
        _rewrite(path, change_arrays=lambda a: a.__setitem__("W", a["W"] * 1e160))
    else:
        _with_huge_member(path)
    with pytest.raises(ValueError) as error:
        load_checkpoint(path, config, image_hash(image))
    text = str(error.value)
    assert str(path) in text and message in text, text
    assert "allow_pickle" not in text and "unsafely" not in text


def test_cli_resume_from_an_empty_checkpoint_names_it(tmp_path, capsys):
    source, checkpoint = tmp_path / "in.npy", tmp_path / "try.ckpt"
    np.save(source, noisy_image())
    checkpoint.write_bytes(b"")
    argv = ["denoise", str(source), "-o", str(tmp_path / "out.npy"), *CLI_FLAGS, "--checkpoint", str(checkpoint)]
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"{checkpoint} is not a zeroshot checkpoint (the file is empty)" in err and "Traceback" not in err
    assert not (tmp_path / "out.npy").exists()
