"""`zeroshot denoise|enhance|demo` planning and writing (zeroshot.cli.jobs): every output checked against the
others and the inputs before any work, nothing left behind after an error, pairs of image and sidecar written
together. Each test reproduces a defect of the reliability review (D2, D3, D7, D9, D11, D13-D16, D19)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import zeroshot.io.atomic as atomic
from zeroshot.cli.main import main
from zeroshot.cli.report import write_report
from zeroshot.io import write_em
from zeroshot.runtime.available_memory import available_memory

TINY = ["--latents", "16", "--states", "4", "--epochs", "2", "--max-train-patches", "200", "--threads", "1"]


def noisy(size: int = 40, seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    clean = 0.2 + 0.4 * ((x // 10) % 2) + 0.3 * ((y // 13) % 2)
    return clean + 0.08 * np.random.default_rng(seed).standard_normal(clean.shape)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def refused(capsys, argv: list[str], *messages: str) -> str:
    """Runs the command line (not quiet: training would print epochs) and checks it stopped before any
    work with rc 2 and `messages` in its error."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"zeroshot {argv[0]}: error:"), err
    assert "Traceback" not in err and "epoch" not in err, err
    for message in messages:
        assert message in err, err
    return err


@pytest.fixture
def a_npy(tmp_path) -> Path:
    path = tmp_path / "a.npy"
    np.save(path, noisy().astype(np.float32))
    return path


# ---- D2: --checkpoint is no input, output, sidecar or report


@pytest.mark.parametrize("clash", ["input", "output", "sidecar", "hard link to the input", "report"])
def test_checkpoint_must_not_be_an_input_or_an_output(tmp_path, capsys, a_npy, clash):
    out = tmp_path / "b.npy"
    link = tmp_path / "link.npy"
    os.link(a_npy, link)
    checkpoint = {
        "input": a_npy,
        "output": out,
        "sidecar": tmp_path / "b.npy.json",
        "hard link to the input": link,
        "report": tmp_path / "r.png",
    }[clash]
    before = a_npy.read_bytes()
    extra = ["--report", str(tmp_path / "r.png")] if clash == "report" else []
    message = "the checkpoint would overwrite the input" if "input" in clash else "would be written twice"
    refused(capsys, ["denoise", str(a_npy), "-o", str(out), "--checkpoint", str(checkpoint), *extra, *TINY], message)
    assert a_npy.read_bytes() == before
    assert names(tmp_path) == ["a.npy", "link.npy"]


# ---- D3: --report PATH is no input, output or sidecar


@pytest.mark.parametrize("clash", ["input", "output", "sidecar"])
def test_report_must_not_be_an_input_or_an_output(tmp_path, capsys, clash):
    a = tmp_path / "a.png"
    write_em(a, noisy(), dtype=np.uint8)
    before = a.read_bytes()
    report = {"input": a, "output": tmp_path / "b.png", "sidecar": tmp_path / "b.png.json"}[clash]
    if clash == "sidecar":  # a report must be named *.png: give the output a name whose sidecar is one
        out, report = tmp_path / "b.npy", tmp_path / "b.npy.png"
        (tmp_path / "b.npy.png").touch()
        argv = ["denoise", str(a), "-o", str(out), "--report", str(out.with_name("b.npy.json")), *TINY]
        refused(capsys, argv, "the report is a PNG figure")
        return
    message = "the report would overwrite the input" if clash == "input" else "would be written twice"
    refused(capsys, ["denoise", str(a), "-o", str(tmp_path / "b.png"), "--report", str(report), *TINY], message)
    assert a.read_bytes() == before
    assert names(tmp_path) == ["a.png"]


# ---- D7: all outputs of a run checked against each other


def test_variance_of_one_input_is_not_the_output_of_another(tmp_path, capsys):
    for name in ("a.npy", "a_variance.npy"):
        np.save(tmp_path / name, noisy())
    argv = ["denoise", str(tmp_path / "a.npy"), str(tmp_path / "a_variance.npy"), "-o", f"{tmp_path}/out/"]
    refused(capsys, [*argv, "--also-variance", *TINY], "a_variance.npy: would be written twice", "the variance map")
    assert not (tmp_path / "out").exists()


def test_report_of_one_input_is_not_the_output_of_another(tmp_path, capsys):
    for name in ("a.png", "a_report.png"):
        write_em(tmp_path / name, noisy(), dtype=np.uint8)
    argv = ["denoise", str(tmp_path / "a.png"), str(tmp_path / "a_report.png"), "-o", f"{tmp_path}/out/"]
    refused(capsys, [*argv, "--report", *TINY], "a_report.png: would be written twice", "the report of")
    assert not (tmp_path / "out").exists()


def test_also_variance_and_report_beside_each_output(tmp_path, capsys):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, noisy())
    np.save(b, noisy(seed=1))
    out = tmp_path / "out"
    assert main(["denoise", str(a), str(b), "-o", f"{out}/", "--also-variance", "--report", "-q", *TINY]) == 0
    assert names(out) == [
        "a.npy",
        "a.npy.json",
        "a_report.png",
        "a_variance.npy",
        "a_variance.npy.json",
        "b.npy",
        "b.npy.json",
        "b_report.png",
        "b_variance.npy",
        "b_variance.npy.json",
    ]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "variance -> " in lines[0] and "report -> " in lines[0]


# ---- D19: nothing left behind after an error


def test_output_folder_is_made_only_when_every_check_passed(tmp_path, capsys, a_npy):
    b = tmp_path / "b.npy"
    np.save(b, noisy())
    refused(capsys, ["denoise", str(a_npy), str(b), "-o", f"{tmp_path}/out/", "--report", "r.png", *TINY])
    refused(capsys, ["denoise", str(a_npy), "-o", f"{tmp_path}/out/", "--checkpoint", f"{tmp_path}/no/c.ckpt"])
    assert names(tmp_path) == ["a.npy", "b.npy"]


@pytest.mark.parametrize("size", ["0", "-5", "8"])
def test_demo_with_a_bad_size_leaves_no_folder(tmp_path, capsys, size):
    refused(capsys, ["demo", "-o", str(tmp_path / "d"), "--size", size], "--size must be an integer >= 16")
    assert names(tmp_path) == []


def test_a_stale_temporary_file_of_a_killed_writer_is_removed(tmp_path):
    target = tmp_path / "ck.npz"
    dead = 2**22 + 12345  # above the default pid_max of 2^22: no such process
    stale = tmp_path / f".ck.npz.zs-{atomic._HOST}-{dead}-0123abcd.tmp"
    live = tmp_path / f".ck.npz.zs-{atomic._HOST}-{os.getpid()}-4567abcd.tmp"  # a running writer's
    other = tmp_path / ".other.npz.zs-00000000-1-89abcdef.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"half written")
    atomic.write_text_atomic(target, "done")
    assert names(tmp_path) == sorted([target.name, live.name, other.name])


# ---- D8 through the command line: a bomb is refused from its header


def test_tiff_bomb_is_refused_before_decoding(tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    bomb = tmp_path / "bomb.tif"
    tifffile.imwrite(bomb, np.zeros((4000, 4000), np.uint16), compression="zlib", tile=(256, 256))
    assert bomb.stat().st_size < 200_000
    start = time.monotonic()
    err = refused(capsys, ["denoise", str(bomb), "-o", str(tmp_path / "o.tif"), "--max-memory", "8M", *TINY], str(bomb))
    assert "(4000, 4000)" in err and "before decoding" in err
    assert time.monotonic() - start < 5


# ---- D9: memory


def test_memory_error_is_a_message_not_a_traceback(tmp_path, capsys, a_npy, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 124. MiB")

    monkeypatch.setattr("zeroshot.volume.denoise", no_memory)
    refused(capsys, ["denoise", str(a_npy), "-o", str(tmp_path / "o.npy"), *TINY], "out of memory", "124. MiB")
    assert names(tmp_path) == ["a.npy"]


def test_demo_too_large_is_refused_before_allocating(tmp_path, capsys):
    start = time.monotonic()
    refused(capsys, ["demo", "-o", str(tmp_path / "d"), "--size", "100000"], "needs about", "--size 100000")
    assert time.monotonic() - start < 5
    assert names(tmp_path) == []


def test_available_memory_honours_the_address_space_limit(tmp_path):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal: 16000000 kB\nMemAvailable: 8000000 kB\n")
    (proc / "self" / "status").write_text("Name: python\nVmSize: 100000 kB\n")
    limit = available_memory(proc, tmp_path / "nocgroup", lambda: 350_000 * 1024)
    assert limit is not None and limit.bytes == 250_000 * 1024
    assert "RLIMIT_AS" in limit.source
    limit = available_memory(proc, tmp_path / "nocgroup", lambda: None)
    assert limit is not None and limit.bytes == 8_000_000 * 1024


# ---- D11: values that do not fit the output dtype


def test_values_too_large_for_float32_are_refused_before_training(tmp_path, capsys):
    big = tmp_path / "big.npy"
    np.save(big, noisy() * 1e300)
    for suffix in (".npy", ".mrc"):
        refused(
            capsys,
            ["denoise", str(big), "-o", str(tmp_path / f"o{suffix}"), "--patch-size", "5", *TINY],
            str(big),
            "do not fit in float32",
            "--keep-dtype",
        )
    assert (
        main(["denoise", str(big), "-o", str(tmp_path / "o.npy"), "--patch-size", "5", "--keep-dtype", "-q", *TINY])
        == 0
    )
    assert np.isfinite(np.load(tmp_path / "o.npy")).all()


def test_values_too_small_for_float32_are_refused_before_training(tmp_path, capsys):
    """reliability_turn3.md R8: values near 1e-300 were written to float32 as zeros, rc 0."""
    tiny = tmp_path / "tiny.npy"
    np.save(tiny, noisy() * 1e-300)
    for suffix in (".npy", ".mrc", ".tif"):
        refused(
            capsys,
            ["denoise", str(tiny), "-o", str(tmp_path / f"o{suffix}"), "--patch-size", "5", *TINY],
            str(tiny),
            "below the smallest normal float32",
            "--keep-dtype",
        )
    assert (
        main(["denoise", str(tiny), "-o", str(tmp_path / "o.npy"), "--patch-size", "5", "--keep-dtype", "-q", *TINY])
        == 0
    )
    out = np.load(tmp_path / "o.npy")
    assert out.dtype == np.float64 and np.all(np.isfinite(out)) and np.max(np.abs(out)) > 0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy overflow warnings of the pipeline
def test_values_near_the_float64_limit_denoise_with_keep_dtype(tmp_path, capsys):
    # reliability.md D11: auto P gave an OverflowError traceback; the noise estimate now works on any scale
    big = tmp_path / "big.npy"
    np.save(big, noisy() * 1e300)
    assert main(["denoise", str(big), "-o", str(tmp_path / "o.npy"), "--keep-dtype", "-q", *TINY]) == 0
    assert "Traceback" not in capsys.readouterr().err
    out = np.load(tmp_path / "o.npy")
    assert out.dtype == np.float64 and np.all(np.isfinite(out))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy overflow warnings of the pipeline
def test_enhance_of_an_overflowing_variance_names_the_file_and_the_cause(tmp_path, capsys):
    spike = tmp_path / "spike.npy"
    image = np.random.default_rng(0).standard_normal((40, 40))
    image[20, 20] = 1e300
    np.save(spike, image)
    assert main(["enhance", str(spike), "-o", str(tmp_path / "v.npy"), "--kind", "variance", "-q", *TINY]) == 2
    err = capsys.readouterr().err
    assert str(spike) in err and "overflow" in err and "Traceback" not in err
    assert names(tmp_path) == ["spike.npy"]


# ---- D13: the report file


def test_report_folder_is_checked_before_training(tmp_path, capsys, a_npy, monkeypatch):
    readonly = tmp_path / "ro"
    readonly.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        "zeroshot.cli.files.os.access", lambda path, mode: Path(path) != readonly and real_access(path, mode)
    )
    argv = ["denoise", str(a_npy), "-o", str(tmp_path / "o.npy"), "--report", str(readonly / "r.png"), *TINY]
    refused(capsys, argv, "cannot write the report there: no permission")
    assert names(tmp_path) == ["a.npy", "ro"]


def test_report_is_written_through_an_exclusive_temporary_file(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    os.symlink(victim, tmp_path / f".r.png.{os.getpid()}.tmp")  # the old predictable name
    rng = np.random.default_rng(0)
    image = rng.standard_normal((16, 16))
    write_report(
        tmp_path / "r.png",
        noisy=image,
        denoised=image,
        variance=np.ones_like(image),
        relief=np.zeros_like(image),
        free_energy=[1.0, 2.0],
        W=rng.standard_normal((16, 3)),
        patch_size=4,
    )
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "r.png").is_symlink()
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")


# ---- D14, D15: an image and its sidecar are one pair


def test_concurrent_writers_leave_a_consistent_pair(tmp_path, monkeypatch):
    from zeroshot.cli import sidecar
    from zeroshot.io.api import stage_em

    target = tmp_path / "out.npy"
    real_replace = os.replace

    def slow_replace(src, dst):  # widens the window between the two renames of a pair
        real_replace(src, dst)
        time.sleep(0.002)

    monkeypatch.setattr(atomic.os, "replace", slow_replace)
    errors: list[BaseException] = []

    def writer(value: int) -> None:
        try:
            for _ in range(15):
                image = np.full((4, 4), float(value))
                sidecar.write_pair(target, lambda image=image: stage_em(target, image), {"value": value})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(value,)) for value in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert json.loads((tmp_path / "out.npy.json").read_text())["value"] == np.load(target)[0, 0]
    assert names(tmp_path) == ["out.npy", "out.npy.json"]


def test_a_full_disk_while_writing_the_sidecar_leaves_neither_file(tmp_path, capsys, a_npy, monkeypatch):
    real_write_text = Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name.startswith(".o.npy.json."):
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    assert main(["denoise", str(a_npy), "-o", str(tmp_path / "o.npy"), "-q", *TINY]) == 2
    err = capsys.readouterr().err
    assert "o.npy.json" in err and "No space left on device" in err and "Traceback" not in err
    assert names(tmp_path) == ["a.npy"]  # no image without its sidecar, no temporary files


@pytest.mark.parametrize("free, message", [(0, "[Errno 28] {}: No space left on device"), (2**40, "{}: 4096")])
def test_a_short_write_says_whether_the_disk_is_full(tmp_path, monkeypatch, free, message):
    """reliability_turn3.md R14: NumPy's and tifffile's writes (C fwrite) report a full disk as "[Errno None]
    4096 requested and 2016 written"; the folder's free space tells what it was."""

    def short_write(tmp):
        tmp.write_bytes(b"x" * 2016)
        raise OSError("4096 requested and 2016 written")

    monkeypatch.setattr(atomic, "_free_bytes", lambda folder: free)
    target = tmp_path / "o.npy"
    with pytest.raises(OSError) as error:
        atomic.stage(target, short_write)
    assert message.format(f"cannot write {target}") in str(error.value)
    assert names(tmp_path) == []


def test_a_failure_after_training_leaves_no_output_of_the_job(tmp_path, capsys, a_npy, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("cannot render")

    monkeypatch.setattr("zeroshot.cli.jobs.render_kind", broken)
    argv = ["denoise", str(a_npy), "-o", str(tmp_path / "o.npy"), "--also-variance", "-q", *TINY]
    assert main(argv) == 2
    assert "cannot render" in capsys.readouterr().err
    assert names(tmp_path) == ["a.npy"]  # the denoised image is not written without its variance map


# ---- D16: rendering settings against the image size


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--kind", "detail", "--radius", "1e9"], "--radius 1e+09"),
        (["--kind", "relief", "--smoothing", "1e6"], "--smoothing 1e+06"),
    ],
)
def test_blur_wider_than_the_image_is_refused_before_training(tmp_path, capsys, a_npy, flags, message):
    start = time.monotonic()
    refused(capsys, ["enhance", str(a_npy), "-o", str(tmp_path / "m.npy"), *flags, *TINY], message, "at most 10")
    assert time.monotonic() - start < 5
    assert names(tmp_path) == ["a.npy"]
