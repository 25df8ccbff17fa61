"""The command line: `zeroshot.cli.main` in-process, and the installed `zeroshot` console script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zeroshot
from zeroshot.cli.main import build_parser, main
from zeroshot.io import read_em, read_image, write_image

FAST = ["--latents", "16", "--states", "16", "--epochs", "5", "--patch-size", "5", "--threads", "1"]


def noisy_blocks(dtype, size: int = 40) -> np.ndarray:
    """A plaid of rectangles with Gaussian noise, in the value range of `dtype`."""
    y, x = np.mgrid[:size, :size]
    clean = 0.2 + 0.4 * ((x // 10) % 2) + 0.3 * ((y // 13) % 2)  # in [0.2, 0.9]
    noisy = clean + 0.08 * np.random.default_rng(0).standard_normal(clean.shape)
    if np.dtype(dtype).kind == "u":
        top = np.iinfo(dtype).max
        return np.clip(np.rint(noisy * top), 0, top).astype(dtype)
    return noisy.astype(dtype)


@pytest.mark.parametrize(
    "name, dtype, flags, written",
    [
        ("in8.png", np.uint8, [], np.uint8),
        ("in16.png", np.uint16, [], np.uint16),
        ("in.npy", np.float32, [], np.float32),
        ("in64.npy", np.float64, [], np.float32),  # float32 unless --keep-dtype
        ("keep64.npy", np.float64, ["--keep-dtype"], np.float64),
        ("in16.tif", np.uint16, [], np.float32),
        ("keep16.tif", np.uint16, ["--keep-dtype"], np.uint16),
    ],
)
def test_denoise_file_dtype_and_shape(tmp_path, capsys, name, dtype, flags, written):
    image = noisy_blocks(dtype)
    source, target = tmp_path / name, tmp_path / ("out_" + name)
    write_image(source, image)
    assert read_image(source).dtype == np.dtype(dtype)

    assert main(["denoise", str(source), "-o", str(target), "-q", *FAST, *flags]) == 0

    out = read_image(target)
    assert out.dtype == np.dtype(written)
    assert out.shape == image.shape
    # Denoised: closer to the plaid than the input was (smoothing works on the written file too).
    y, x = np.mgrid[: image.shape[0], : image.shape[1]]
    clean = 0.2 + 0.4 * ((x // 10) % 2) + 0.3 * ((y // 13) % 2)
    scale = float(np.iinfo(dtype).max) if np.dtype(dtype).kind == "u" else 1.0
    error_in = np.mean((image / scale - clean) ** 2)
    error_out = np.mean((out / scale - clean) ** 2)
    assert error_out < 0.5 * error_in
    captured = capsys.readouterr()
    assert str(target) in captured.out and "noise sigma" in captured.out
    assert captured.err == ""  # -q: no progress display


def test_progress_goes_to_stderr_not_stdout(tmp_path, capsys):
    source, target = tmp_path / "a.png", tmp_path / "b.png"
    write_image(source, noisy_blocks(np.uint8))
    assert main(["denoise", str(source), "-o", str(target), *FAST]) == 0
    captured = capsys.readouterr()
    assert "epoch 5/5" in captured.err
    assert "epoch" not in captured.out


def test_not_an_image_exits_2_naming_the_file(tmp_path, capsys):
    source, target = tmp_path / "notes.png", tmp_path / "out.png"
    source.write_text("this is not a PNG\n")
    assert main(["denoise", str(source), "-o", str(target), "-q", *FAST]) == 2
    captured = capsys.readouterr()
    assert str(source) in captured.err
    assert "Traceback" not in captured.err
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [source]  # no temporary files left behind either


def test_missing_input_exits_2(tmp_path, capsys):
    target = tmp_path / "out.png"
    assert main(["denoise", str(tmp_path / "absent.png"), "-o", str(target), "-q"]) == 2
    captured = capsys.readouterr()
    assert "absent.png" in captured.err and "no such file" in captured.err
    assert not target.exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--patch-size", "0"], "patch_size must be an integer >= 1, got 0"),
        (["--latents", "3", "--states", "9"], "n_states S = 9 exceeds the 2^H = 8"),
        (["--epochs", "-1"], "epochs must be an integer >= 0"),
        (["--patch-size", "50"], "smaller than the patch size 50"),
        (["--threads", "0"], "threads must be a positive integer"),
    ],
    ids=["patch-size-0", "S>2^H", "negative-epochs", "patch-too-big", "threads-0"],
)
def test_bad_options_exit_2_with_a_clear_message(tmp_path, capsys, flags, message):
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    write_image(source, noisy_blocks(np.uint8))
    assert main(["denoise", str(source), "-o", str(target), "-q", "--epochs", "1", *flags]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.startswith("zeroshot denoise: error:")
    assert "Traceback" not in captured.err
    assert not target.exists()


def test_unknown_model_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "denoise",
                str(tmp_path / "in.png"),
                "-o",
                str(tmp_path / "o.png"),
                "--model",
                "nonsense",
            ]
        )
    assert exit_info.value.code == 2
    assert "nonsense" in capsys.readouterr().err


def test_demo_writes_pngs_and_reports_psnr(tmp_path, capsys):
    out = tmp_path / "demo"
    assert (
        main(
            [
                "demo",
                "-o",
                str(out),
                "--size",
                "64",
                "--epochs",
                "3",
                "--latents",
                "16",
                "--states",
                "16",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    for name in ("noisy.png", "denoised.png", "comparison.png", "variance.png", "detail.png", "relief.png"):
        image = read_image(out / name)
        assert image.dtype == np.uint8
        assert image.ndim == 2 and image.shape[0] == 64
    assert read_image(out / "noisy.png").shape == (64, 64)
    assert read_image(out / "denoised.png").shape == (64, 64)
    assert read_image(out / "comparison.png").shape == (64, 3 * 64 + 2 * 4)
    captured = capsys.readouterr()
    text = captured.out
    assert "SIMULATED" in text
    # What auto decided, in plain words before the first epoch (the README says it prints its decision).
    assert captured.err.index("noise: ") < captured.err.index("epoch 1/3")
    line = next(line for line in text.splitlines() if line.startswith("PSNR"))
    numbers = [float(word) for word in line.replace("dB", " ").split() if word.replace(".", "", 1).isdigit()]
    assert len(numbers) == 2, line
    noisy_db, denoised_db = numbers
    assert denoised_db > noisy_db, line


def test_console_script_help():
    exe = shutil.which("zeroshot")
    assert exe is not None, "the `zeroshot` console script is not installed on PATH"
    run = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert "denoise" in run.stdout and "demo" in run.stdout


def test_the_real_demos_help_states_the_time_the_readme_states():
    demo = next(action for action in build_parser()._actions if action.dest == "command").choices["demo"]
    text = " ".join(demo.format_help().split()).replace("CPU- seconds", "CPU-seconds")  # wrapped at the hyphen
    found = re.search(r"about (\d+) seconds on 2 free cores, (\d+) CPU-seconds", text)
    assert found is not None, text
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    assert f"the demo takes about {found[1]} seconds on 2 free cores ({found[2]} CPU-seconds)" in readme


def test_version_option_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"zeroshot {zeroshot.__version__}"


def test_module_entry_point_without_command_exits_2():
    run = subprocess.run(
        [sys.executable, "-m", "zeroshot.cli"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "required" in run.stderr


def test_demo_progress_goes_to_stderr(tmp_path, capsys):
    assert (
        main(
            [
                "demo",
                "-o",
                str(tmp_path),
                "--size",
                "48",
                "--epochs",
                "2",
                "--latents",
                "8",
                "--states",
                "8",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "epoch 2/2" in captured.err
    assert "PSNR" in captured.out and "epoch" not in captured.out


def test_float_input_to_png_is_stretched_to_16_bits(tmp_path):
    source, target = tmp_path / "in.npy", tmp_path / "out.png"
    write_image(source, noisy_blocks(np.float32))
    assert main(["denoise", str(source), "-o", str(target), "-q", *FAST]) == 0
    out = read_image(target)
    assert out.dtype == np.uint16
    assert out.min() == 0 and out.max() == 65535
    mapping = json.loads((tmp_path / "out.png.json").read_text())["output"]["value_mapping"]
    # The recorded rule recovers the denoised values: min + stored / 65535 * (max - min).
    assert 0.1 < mapping["min"] < mapping["max"] < 1.0
    assert mapping["stored_max"] == 65535


def test_float_input_to_png_with_keep_dtype_exits_2(tmp_path, capsys):
    source, target = tmp_path / "in.npy", tmp_path / "out.png"
    write_image(source, noisy_blocks(np.float32))
    assert main(["denoise", str(source), "-o", str(target), "-q", "--keep-dtype", *FAST]) == 2
    captured = capsys.readouterr()
    assert "out.png" in captured.err and "float32" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


# ---- structure maps: enhance, --also-variance, --report ----


def _particle(tmp_path, name="particle.npy"):
    r, c = np.mgrid[:40, :40]
    image = 30.0 + 120.0 * (((r - 20) ** 2 + (c - 18) ** 2) < 100)
    image = image + 20.0 * np.random.default_rng(0).standard_normal(image.shape)
    path = tmp_path / name
    np.save(path, image.astype(np.float32))
    return path


TINY = ["--epochs", "3", "--latents", "12", "--states", "8", "--patch-size", "4", "-q", "--threads", "1"]


@pytest.mark.parametrize("kind", ["variance", "relief", "detail", "skewness"])
def test_enhance_writes_raw_floats_and_png_renderings(tmp_path, kind):
    source = _particle(tmp_path)
    assert main(["enhance", str(source), "-o", str(tmp_path / "map.npy"), "--kind", kind, *TINY]) == 0
    raw = np.load(tmp_path / "map.npy")
    assert raw.dtype == np.float32 and raw.shape == (40, 40) and np.all(np.isfinite(raw))
    if kind == "variance":
        assert raw.min() >= 0 and raw.max() > 0
    assert main(["enhance", str(source), "-o", str(tmp_path / "map.png"), "--kind", kind, *TINY]) == 0
    with Image.open(tmp_path / "map.png") as im:
        png = np.asarray(im)
    assert png.dtype == np.uint8 and png.shape == (40, 40) and png.max() > png.min()
    sidecar = json.loads((tmp_path / "map.png.json").read_text())
    assert sidecar["enhance"]["kind"] == kind


def test_enhance_relief_is_bit_identical_across_runs(tmp_path):
    source = _particle(tmp_path)
    for name in ("one.npy", "two.npy"):
        assert main(["enhance", str(source), "-o", str(tmp_path / name), "--kind", "relief", *TINY]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "one.npy"), np.load(tmp_path / "two.npy"))


def test_denoise_also_variance_and_report_from_one_run(tmp_path, capsys):
    source = _particle(tmp_path)
    out = tmp_path / "den.tif"
    code = main(
        ["denoise", str(source), "-o", str(out), "--also-variance", "--report", str(tmp_path / "report.png"), *TINY]
    )
    assert code == 0, capsys.readouterr().err
    variance = read_em(tmp_path / "den_variance.tif").data
    assert variance.dtype == np.float32 and variance.min() >= 0 and variance.max() > 0
    with Image.open(tmp_path / "report.png") as im:
        assert im.format == "PNG"
    # The variance does not change the denoised image.
    assert main(["denoise", str(source), "-o", str(tmp_path / "plain.tif"), *TINY]) == 0
    np.testing.assert_array_equal(read_em(out).data, read_em(tmp_path / "plain.tif").data)


def test_report_path_for_several_inputs_exits_2_before_training(tmp_path, capsys):
    a, b = _particle(tmp_path, "a.npy"), _particle(tmp_path, "b.npy")
    code = main(["denoise", str(a), str(b), "-o", str(tmp_path / "out") + "/", "--report", "r.png", *TINY])
    assert code == 2
    assert "one report file for 2 inputs" in capsys.readouterr().err
    assert not (tmp_path / "out" / "a.npy").exists()


def test_model_defaults_apply_unless_overridden():
    from zeroshot.cli.main import build_parser
    from zeroshot.cli.options import config_from_args
    from zeroshot.config import DenoiseConfig

    args = build_parser().parse_args(["denoise", "x.npy", "-o", "y.npy", "--model", "es3c"])
    assert config_from_args(args) == DenoiseConfig.for_model("es3c")
    args = build_parser().parse_args(
        ["denoise", "x.npy", "-o", "y.npy", "--model", "es3c", "--epochs", "7", "--max-train-patches", "0"]
    )
    assert config_from_args(args) == DenoiseConfig.for_model("es3c", epochs=7, max_train_patches=None)
