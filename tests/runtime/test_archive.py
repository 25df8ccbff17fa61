"""The archive reader that model files and checkpoints share (`zeroshot.runtime.archive`), at the zip level:
members too large for the memory allowed refused before they are inflated, members it does not know skipped
unread, and a zip or meta record that is no zeroshot file (deep nesting, encryption) refused naming the file."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest

from zeroshot.cli.main import main
from zeroshot.config import DenoiseConfig
from zeroshot.models import BSC, BSCParams
from zeroshot.pipeline.trained import TrainedModel
from zeroshot.runtime import available_memory
from zeroshot.runtime.available_memory import MemoryLimit
from zeroshot.runtime.checkpoint import Checkpoint, config_record, image_hash, load_checkpoint, save_checkpoint
from zeroshot.train import train
from zeroshot.variational.em import EpochLog

CONFIG = DenoiseConfig(patch_size=4, n_latents=8, n_states=2, epochs=2)
IMAGE = np.random.default_rng(0).standard_normal((24, 24))
MiB = 2**20


def _model_file(path):
    train(IMAGE, config=CONFIG, threads=1).save(path)


def _checkpoint(path):
    rng = np.random.default_rng(1)
    model = BSC(BSCParams(rng.standard_normal((16, 8)), np.full(8, 0.2), 0.7))
    K = np.array([[[1], [2]]] * 5, dtype=np.uint64)
    history = [EpochLog(0, -10.5, -2.1, 0.9, 12, 0.01)]
    lpj = rng.standard_normal((5, 2))
    save_checkpoint(path, Checkpoint(1, model, K, lpj, history, config_record(CONFIG), image_hash(IMAGE)))


# noun -> (write one, read it back)
KINDS = {
    "model file": (_model_file, TrainedModel.load),
    "checkpoint": (_checkpoint, lambda path: load_checkpoint(path, CONFIG, image_hash(IMAGE))),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request, tmp_path):
    """(noun, the path of a good file of that kind, its loader)."""
    write, load = KINDS[request.param]
    path = tmp_path / "file.npz"
    write(path)
    return request.param, path, load


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _write_members(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _peak_memory(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---- sizes (R4)


def test_a_member_it_does_not_know_is_skipped_unread(kind, tmp_path):
    """64 MiB of zeros deflated to 64 KiB in a member of another name: never inflated."""
    _, path, load = kind
    _write_members(path, {**_members(path), "extra.npy": _npy(np.zeros(64 * MiB, np.uint8))})
    assert path.stat().st_size < MiB
    assert _peak_memory(lambda: load(path)) < 8 * MiB


def test_members_beyond_the_memory_allowed_are_refused_before_inflating(kind, tmp_path, monkeypatch):
    noun, path, load = kind
    _write_members(path, {**_members(path), "W.npy": _npy(np.zeros((4 * MiB, 8)))})  # 256 MiB deflated to 256 KiB
    monkeypatch.setattr(available_memory, "available_memory", lambda: MemoryLimit(16 * MiB, "a test's limit"))
    with pytest.raises(ValueError) as error:
        assert _peak_memory(lambda: load(path)) < 8 * MiB
    text = str(error.value)
    assert str(path) in text and f"{noun} would take 256 MiB" in text and "16 MiB available (a test's limit)" in text
    assert "refused before inflating it" in text


def test_the_command_line_checks_a_model_file_against_max_memory(tmp_path, capsys):
    model, image, target = tmp_path / "model.npz", tmp_path / "in.npy", tmp_path / "out.npy"
    _model_file(model)
    np.save(image, IMAGE)
    _write_members(model, {**_members(model), "W.npy": _npy(np.zeros((4 * MiB, 8)))})
    assert main(["denoise", str(image), "-o", str(target), "--model-file", str(model), "--max-memory", "64M"]) == 2
    err = capsys.readouterr().err
    assert f"--model-file: {model}: the model file would take 256 MiB" in err and "(max_memory)" in err, err
    assert "Traceback" not in err and not target.exists()


# ---- no zeroshot file (R5)


def _nested_meta(path):
    members = _members(path)
    members["meta.npy"] = _npy(np.array("[" * 100_000 + "]" * 100_000))
    _write_members(path, members)


def _encrypted(path):
    """The first member flagged as encrypted, in its local header and in the central directory."""
    data = bytearray(path.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + flags_at
        data[at] |= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_nested_meta, _encrypted], ids=["meta nested 10^5 deep", "encrypted member"])
def test_a_zip_or_meta_record_that_is_no_zeroshot_file_is_refused_naming_it(kind, damage):
    noun, path, load = kind
    damage(path)
    with pytest.raises(ValueError) as error:
        load(path)
    assert f"{path} is not a zeroshot {noun}" in str(error.value)
