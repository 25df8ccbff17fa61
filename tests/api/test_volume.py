"""Volumes as one job (`zeroshot.denoise_volume`, `zeroshot denoise` of a stack): one model learned from
slices spread over the volume and applied to every slice."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import zeroshot
from noise_images import clean, correlated_noise
from thread_comm import run_ranks
from zeroshot.cli.main import main
from zeroshot.denoise import model_noise_spectrum
from zeroshot.volume import SliceResult, training_slices

# context 1: these tests are of patches of one slice (the default "auto" takes 3 for these volumes, whose
# neighbouring slices share their structure; 3-D context: tests/pipeline/test_3d_context.py).
OPTIONS = {"n_latents": 16, "n_states": 8, "epochs": 3, "patch_size": 5, "threads": 1, "context": 1}
FAST = ["--latents", "16", "--states", "8", "--epochs", "3", "--patch-size", "5", "--threads", "1", "--context", "1"]


def volume(slices: int = 5, size: int = 32, sigma: float = 0.1, seed: int = 0) -> np.ndarray:
    """Rectangles that move from slice to slice, with white noise: (slices, size, size) float32."""
    y, x = np.mgrid[:size, :size]
    clean = np.stack([0.2 + 0.4 * (((x + z) // 8) % 2) + 0.3 * ((y // 11) % 2) for z in range(slices)])
    noisy = clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape)
    return noisy.astype(np.float32)


@pytest.mark.parametrize(
    ("n", "count", "expected"),
    [(1, 8, [0]), (5, 8, [2, 0, 1, 3, 4]), (300, 8, [150, 18, 56, 93, 131, 206, 243, 281]), (64, 4, [32, 8, 40, 56])],
)
def test_training_slices_are_spread_over_the_volume_the_middle_first(n, count, expected):
    chosen = training_slices(n, count)
    assert chosen == expected
    assert len(set(chosen)) == len(chosen) == min(n, count)


def test_one_model_denoises_every_slice():
    data = volume()
    result = zeroshot.denoise_volume(data, moments=2, **OPTIONS)
    assert result.denoised is not None and result.variance is not None and result.model is not None
    assert result.denoised.shape == data.shape and result.denoised.dtype == np.float32
    assert result.trained_on == (2, 0, 1, 3, 4)
    assert len(set(result.noise_sigma)) == 1 and result.noise_sigma[0] == pytest.approx(0.1, rel=0.5)
    # Each slice is the volume model's inference on it, as zeroshot.denoise(slice, model=...) gives it.
    alone = zeroshot.denoise(data[3], model=result.model, moments=2, threads=1)
    np.testing.assert_array_equal(result.denoised[3], alone.denoised.astype(np.float32))
    np.testing.assert_array_equal(result.variance[3], alone.variance.astype(np.float32))
    assert np.all(np.isfinite(result.denoised))


def test_a_volumes_own_model_filters_every_slice_with_the_middle_slices_noise():
    """Correlated noise: the Wiener pass of every slice takes the noise spectrum of the middle slice
    (`model_noise_spectrum`), and no slice is compared with the model learned from them (model_fit None)."""
    rng = np.random.default_rng(4)
    data = np.stack([clean((64, 64)) + correlated_noise((64, 64), 10.0, rng) for _ in range(5)])
    options = {**OPTIONS, "noise": "correlated"}
    result = zeroshot.denoise_volume(data, **options)
    assert result.model is not None and result.trained_on[0] == 2
    spectrum = model_noise_spectrum(data[2], result.model)
    assert spectrum is not None and spectrum.variance > 0
    alone = zeroshot.denoise(data[3], model=result.model, threads=1, wiener_noise=spectrum, compare_to_model=False)
    np.testing.assert_array_equal(result.denoised[3], alone.denoised.astype(data.dtype))
    assert alone.model_fit is None
    own = zeroshot.denoise(data[3], model=result.model, threads=1)
    assert own.model_fit is not None and not np.array_equal(own.denoised, alone.denoised)
    with pytest.raises(ValueError, match="wiener_noise must be a NoiseACF"):
        zeroshot.denoise(data[3], model=result.model, wiener_noise=np.eye(3))


def test_slices_go_to_on_slice_in_order_and_skipped_ones_are_not_denoised():
    data = volume()
    seen: list[tuple[int, SliceResult]] = []
    result = zeroshot.denoise_volume(data, on_slice=lambda z, r: seen.append((z, r)), skip=[1, 3], **OPTIONS)
    assert result.denoised is None and result.variance is None
    assert [z for z, _ in seen] == [0, 2, 4]
    full = zeroshot.denoise_volume(data, **OPTIONS)
    assert full.denoised is not None
    for z, piece in seen:  # a resumed volume's slices are those of an uninterrupted run
        np.testing.assert_array_equal(piece.denoised.astype(np.float32), full.denoised[z])


def test_per_slice_learns_a_model_for_each_slice():
    data = volume(slices=3)
    result = zeroshot.denoise_volume(data, per_slice=True, **OPTIONS)
    assert result.model is None and result.trained_on == ()
    assert result.denoised is not None
    alone = zeroshot.denoise(data[0], **OPTIONS)
    np.testing.assert_array_equal(result.denoised[0], alone.denoised.astype(np.float32))


def test_a_trained_model_is_applied_to_every_slice():
    data = volume(slices=3)
    model = zeroshot.train(data[:1], **OPTIONS)
    result = zeroshot.denoise_volume(data, model=model, threads=1)
    assert result.model is model and result.trained_on == ()
    assert result.noise_sigma == (model.noise_sigma,) * 3


def test_ranks_share_the_slices_and_give_the_same_volume_as_one_process():
    data = volume(slices=5)
    one = zeroshot.denoise_volume(data, **OPTIONS)
    ranks = run_ranks(2, lambda comm: zeroshot.denoise_volume(data, comm=comm, **OPTIONS))
    assert ranks[1].denoised is None  # rank 0 holds the volume
    assert one.denoised is not None and ranks[0].denoised is not None
    np.testing.assert_array_equal(ranks[0].denoised, one.denoised)
    assert ranks[0].noise_sigma == one.noise_sigma


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((4, 4)), r"3-D array \(slices, rows, cols\), got shape \(4, 4\)"),
        (np.zeros((2, 8, 8), dtype=np.complex64), "real numbers, got dtype complex64"),
    ],
)
def test_bad_volumes_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        zeroshot.denoise_volume(bad, **OPTIONS)


@pytest.mark.parametrize("streamed", [True, False])
def test_the_cli_denoises_a_stack_with_one_model(tmp_path, capsys, streamed):
    """.npy in and out streams (read and written a frame at a time); a report makes the run read it whole."""
    data = volume()
    source, target = tmp_path / "tomo.npy", tmp_path / "out.npy"
    np.save(source, data)
    extra = [] if streamed else ["--report", str(tmp_path / "r.png")]
    if not streamed:
        pytest.importorskip("matplotlib")
    argv = ["denoise", str(source), "-o", str(target), "--checkpoint", str(tmp_path / "ck.npz"), *FAST, *extra]
    assert main(argv) == 0
    err, out = capsys.readouterr()[::-1]
    assert "(decided on frame 3; one model for all 5 frames)" in err
    assert err.count("slices: ") == 5
    assert "(one model for the 5 frames)" in out
    record = json.loads((tmp_path / "out.npy.json").read_text())
    assert record["volume"]["one_model"] and record["volume"]["trained_on_frames"] == [3, 1, 2, 4, 5]
    assert record["volume"].get("streamed", False) == streamed
    assert (tmp_path / "ck.npz").exists() and not list(tmp_path.glob("ck_frame*"))
    api = zeroshot.denoise_volume(data, **OPTIONS)
    assert api.denoised is not None
    np.testing.assert_array_equal(np.load(target), api.denoised)


def _mrc_volume(path, data):
    import mrcfile

    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.set_volume()
        mrc.voxel_size = (8.0, 8.0, 16.0)
        mrc.header.origin = (10.0, 20.0, 30.0)
        mrc.update_header_from_data()
        mrc.header.label[0] = b"reconstructed by IMOD"
        mrc.header.nlabl = 1


def test_a_streamed_mrc_volume_keeps_its_header_and_equals_the_api(tmp_path):
    import mrcfile

    data = volume(slices=4)
    source, target = tmp_path / "tomo.mrc", tmp_path / "out.mrc"
    _mrc_volume(source, data)
    assert main(["denoise", str(source), "-o", str(target), "--also-variance", "-q", *FAST]) == 0
    api = zeroshot.denoise_volume(data, moments=2, **OPTIONS)
    assert api.denoised is not None and api.variance is not None
    for path, expected in ((target, api.denoised), (tmp_path / "out_variance.mrc", api.variance)):
        with mrcfile.open(path) as mrc:
            np.testing.assert_array_equal(mrc.data, expected)
            assert mrc.is_volume() and tuple(float(v) for v in mrc.voxel_size.item()) == (8.0, 8.0, 16.0)
            assert tuple(float(v) for v in mrc.header.origin.item()) == (10.0, 20.0, 30.0)
            labels = [bytes(label).decode().strip() for label in mrc.header.label[: mrc.header.nlabl]]
            assert labels[0] == "reconstructed by IMOD" and labels[1].startswith("zeroshot ")
            assert float(mrc.header.dmax) == pytest.approx(float(expected.max()))


def test_a_truncated_mrc_is_refused_before_any_work(tmp_path, capsys):
    source = tmp_path / "cut.mrc"
    _mrc_volume(source, volume(slices=4))
    with open(source, "r+b") as handle:
        handle.truncate(source.stat().st_size - 100)
    assert main(["denoise", str(source), "-o", str(tmp_path / "out.mrc"), *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"zeroshot denoise: error: {source}") and "truncated" in err and "100 missing" in err
    assert "epoch" not in err and sorted(p.name for p in tmp_path.iterdir()) == ["cut.mrc"]


def test_nan_in_a_volume_is_named_before_any_work(tmp_path, capsys):
    data = volume(slices=4)
    data[2, 5, 7] = np.nan
    source = tmp_path / "nan.npy"
    np.save(source, data)
    assert main(["denoise", str(source), "-o", str(tmp_path / "out.npy"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "contains NaN or Inf (first at frame 3, pixel (5, 7))" in err and "epoch" not in err


STOPPABLE = """
import os, signal, sys
import zeroshot.volume as volume
from zeroshot.cli.main import main
slices = 0
original = volume.denoise
def counted(*args, **kwargs):  # SIGTERM to itself once two frames are done (the third is under way)
    global slices
    slices += 1
    if slices == 3:
        os.kill(os.getpid(), signal.SIGTERM)
    return original(*args, **kwargs)
volume.denoise = counted
sys.exit(main(sys.argv[1:]))
"""


def test_a_volume_stopped_by_sigterm_resumes_to_the_same_files(tmp_path):
    import subprocess
    import sys

    data = volume(slices=6)
    source = tmp_path / "tomo.mrc"
    _mrc_volume(source, data)
    check = tmp_path / "ck.npz"
    stopped, whole = tmp_path / "stopped.mrc", tmp_path / "whole.mrc"
    args = [str(source), "--checkpoint", str(check), "-q", *FAST]
    run = subprocess.run(
        [sys.executable, "-c", STOPPABLE, "denoise", "-o", str(stopped), *args], capture_output=True, text=True
    )
    assert run.returncode == 130, run.stderr
    assert "stopped after 3 of 6 slices; the finished ones are kept: continue with --resume" in run.stderr
    assert not stopped.exists()
    assert main(["denoise", "-o", str(stopped), *args, "--resume"]) == 0
    assert main(["denoise", "-o", str(whole), str(source), "-q", *FAST]) == 0
    assert stopped.read_bytes()[1024:] == whole.read_bytes()[1024:]  # the data; the header differs in its label
    assert not list(tmp_path.glob(".stopped*"))


def test_the_volume_demo_writes_volumes_and_sections(tmp_path, capsys):
    import mrcfile

    out = tmp_path / "demo"
    argv = ["demo", "--volume", "--size", "48", "--frames", "8", "-o", str(out), "-q", "--threads", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "a SIMULATED 8x48x48 tomogram" in printed
    noisy_db, denoised_db = (float(v) for v in re.findall(r"noisy ([\d.]+) dB -> denoised ([\d.]+) dB", printed)[0])
    assert denoised_db > noisy_db + 1  # at the defaults: 17.1 -> 18.5 dB at this small size
    for name in ("noisy", "denoised", "variance"):
        with mrcfile.open(out / f"{name}.mrc") as mrc:
            assert mrc.data.shape == (8, 48, 48) and mrc.data.dtype == np.float32
    figure = zeroshot.read_em(out / "sections.png").data
    assert figure.shape == (48 + 4 + 8, 4 * (48 + 4 + 8) + 3 * 8)


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--volume", "--real"], "the volume demo is simulated"), (["--frames", "4"], "--frames is the volume demo's")],
)
def test_volume_demo_options_are_checked(tmp_path, capsys, argv, message):
    assert main(["demo", *argv, "-o", str(tmp_path / "d"), "-q"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
