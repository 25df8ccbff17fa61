"""`zeroshot denoise` with several files, stacks, output formats, sidecars (zeroshot.cli.files)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

import zeroshot
from zeroshot.cli.main import main
from zeroshot.config import DenoiseConfig
from zeroshot.io import EMImage, PixelSize, read_em, write_em

FAST = ["--latents", "16", "--states", "16", "--epochs", "5", "--patch-size", "5", "--threads", "1"]


def plaid(size: int = 32, noise: float = 0.08, seed: int = 0) -> np.ndarray:
    """Rectangles in [0.2, 0.9] with Gaussian noise of standard deviation `noise`, float64."""
    y, x = np.mgrid[:size, :size]
    clean = 0.2 + 0.4 * ((x // 10) % 2) + 0.3 * ((y // 13) % 2)
    return clean + noise * np.random.default_rng(seed).standard_normal(clean.shape)


def as_int16(image: np.ndarray) -> np.ndarray:
    return np.rint(image * 1000).astype(np.int16)


def names(folder) -> list:
    return sorted(p.name for p in folder.iterdir())


def test_two_inputs_into_a_folder(tmp_path, capsys):
    a, b = tmp_path / "a.mrc", tmp_path / "b.tif"
    write_em(a, as_int16(plaid(seed=1)), pixel_size=PixelSize(0.25, 0.25))
    write_em(b, plaid(seed=2).astype(np.float32), pixel_size=PixelSize(1.5, 2.0))
    out = tmp_path / "out"  # does not exist yet: the trailing / says it is a folder
    assert main(["denoise", str(a), str(b), "-o", f"{out}/", "-q", *FAST]) == 0

    assert names(out) == ["a.mrc", "a.mrc.json", "b.tif", "b.tif.json"]
    first, second = read_em(out / "a.mrc"), read_em(out / "b.tif")
    assert first.dtype == np.float32 and second.dtype == np.float32  # the default output dtype
    assert first.data.shape == second.data.shape == (32, 32)
    assert first.pixel_size is not None and second.pixel_size is not None
    assert first.pixel_size.x == pytest.approx(0.25, rel=1e-6)
    assert (second.pixel_size.y, second.pixel_size.x) == pytest.approx((1.5, 2.0), rel=1e-6)
    # int16 input on the 0..1000 scale: the float32 output is on the same scale.
    assert 150 < float(first.data.mean()) < 700
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert str(a) in lines[0] and str(out / "a.mrc") in lines[0] and "0.25 nm" in lines[0]
    assert str(b) in lines[1] and "noise sigma" in lines[1]


def test_format_option_names_outputs_by_input_stem(tmp_path):
    a, b = tmp_path / "a.mrc", tmp_path / "b.png"
    write_em(a, plaid(seed=1).astype(np.float32))
    write_em(b, plaid(seed=2), dtype=np.uint8)  # values 0..1 round to 0/1: a dull but valid image
    out = tmp_path / "results"
    out.mkdir()  # an existing folder needs no trailing /
    assert main(["denoise", str(a), str(b), "-o", str(out), "--format", "npy", "-q", *FAST]) == 0
    assert names(out) == ["a.npy", "a.npy.json", "b.npy", "b.npy.json"]
    assert np.load(out / "a.npy").dtype == np.float32


def test_suffix_follows_each_input_name_in_the_folder(tmp_path, capsys):
    a, b = tmp_path / "a.mrc", tmp_path / "b.npy"
    write_em(a, plaid(seed=1).astype(np.float32))
    np.save(b, plaid(seed=2))
    out = tmp_path / "out"
    argv = ["denoise", str(a), str(b), "-o", f"{out}/", "--suffix", "_denoised", "--also-variance", "-q", *FAST]
    assert main(argv) == 0
    assert names(out) == [
        "a_denoised.mrc",
        "a_denoised.mrc.json",
        "a_denoised_variance.mrc",
        "a_denoised_variance.mrc.json",
        "b_denoised.npy",
        "b_denoised.npy.json",
        "b_denoised_variance.npy",
        "b_denoised_variance.npy.json",
    ]
    assert str(out / "a_denoised.mrc") in capsys.readouterr().out


def test_a_suffixed_output_name_that_is_an_input_is_refused(tmp_path, capsys):
    # a.npy with --suffix _dn would be written over the input a_dn.npy of the same folder
    a, a_dn = tmp_path / "a.npy", tmp_path / "a_dn.npy"
    np.save(a, plaid(seed=1))
    np.save(a_dn, plaid(seed=2))
    assert main(["denoise", str(a), str(a_dn), "-o", str(tmp_path), "--suffix", "_dn", *FAST]) == 2
    err = capsys.readouterr().err
    assert f"{a_dn}: the output would overwrite the input {a_dn}" in err
    assert names(tmp_path) == ["a.npy", "a_dn.npy"]
    np.testing.assert_array_equal(np.load(a_dn), plaid(seed=2))


def test_a_missing_parent_folder_is_made_for_a_file_output_as_for_a_folder(tmp_path):
    source = tmp_path / "in.npy"
    np.save(source, plaid())
    target = tmp_path / "no" / "such" / "out.mrc"
    assert main(["denoise", str(source), "-o", str(target), "-q", *FAST]) == 0
    assert names(target.parent) == ["out.mrc", "out.mrc.json"]
    assert main(["denoise", str(source), "-o", f"{tmp_path}/new/folder/", "-q", *FAST]) == 0
    assert names(tmp_path / "new" / "folder") == ["in.npy", "in.npy.json"]


def test_keep_dtype_writes_the_input_dtype(tmp_path):
    source = tmp_path / "in.mrc"
    write_em(source, as_int16(plaid()))
    assert main(["denoise", str(source), "-o", f"{tmp_path}/out/", "--keep-dtype", "-q", *FAST]) == 0
    assert read_em(tmp_path / "out" / "in.mrc").dtype == np.int16


def test_sidecar_records_the_run(tmp_path, capsys):
    source, target = tmp_path / "in.tif", tmp_path / "den.tif"
    write_em(source, plaid().astype(np.float32), pixel_size=PixelSize(0.5, 0.75))
    assert main(["denoise", str(source), "-o", str(target), "-q", *FAST, "--seed", "3"]) == 0

    record = json.loads((tmp_path / "den.tif.json").read_text())
    assert record["zeroshot_version"] == zeroshot.__version__
    date = datetime.fromisoformat(record["date"])
    assert abs(datetime.now(timezone.utc) - date) < timedelta(minutes=5)
    assert record["command"] == "denoise"
    assert record["input"] == {
        "path": str(source.resolve()),
        "format": "TIFF",
        "shape": [32, 32],
        "dtype": "float32",
    }
    assert record["output"] == {
        "path": str(target.resolve()),
        "format": "TIFF",
        "shape": [32, 32],
        "dtype": "float32",
        "value_mapping": None,
    }
    assert record["pixel_size"]["unit"] == "nm"
    assert record["pixel_size"]["y"] == pytest.approx(0.5)
    assert record["pixel_size"]["x"] == pytest.approx(0.75)
    expected = asdict(DenoiseConfig(patch_size=5, n_latents=16, n_states=16, epochs=5, seed=3))
    assert record["settings"] == {**expected, "threads": 1, "mpi_ranks": 1}
    sigma = record["results"]["noise_sigma"]
    assert 0.04 < sigma < 0.16  # the added noise is 0.08
    assert f"{sigma:.4g}" in capsys.readouterr().out
    assert record["results"]["patch_size"] == 5


def test_stack_is_denoised_frame_by_frame_with_per_slice(tmp_path):
    noise = (0.03, 0.08, 0.15)
    stack = np.stack([plaid(noise=n, seed=i) for i, n in enumerate(noise)]).astype(np.float32)
    source, single = tmp_path / "stack.mrc", tmp_path / "frame1.npy"
    write_em(source, stack, pixel_size=PixelSize(0.3, 0.3))
    np.save(single, stack[1])
    out = tmp_path / "out"
    assert main(["denoise", str(source), str(single), "-o", f"{out}/", "--per-slice", "-q", *FAST]) == 0

    result = read_em(out / "stack.mrc")
    assert result.is_stack and result.data.shape == stack.shape
    assert result.pixel_size is not None and result.pixel_size.x == pytest.approx(0.3, rel=1e-6)
    sigmas = json.loads((out / "stack.mrc.json").read_text())["results"]["noise_sigma"]
    assert len(sigmas) == 3 and sigmas[0] < sigmas[1] < sigmas[2]
    # Each frame has its own model: frame 1 of the stack is exactly frame 1 denoised on its own.
    np.testing.assert_array_equal(result.data[1], np.load(out / "frame1.npy"))


def test_mrc_labels_and_header_fields_go_from_input_to_output(tmp_path):
    import mrcfile

    source, out = tmp_path / "tomo.mrc", tmp_path / "out"
    with mrcfile.new(source) as mrc:  # a small tomogram: a volume with its history and place
        mrc.set_data(np.stack([plaid(seed=k) for k in range(2)]).astype(np.float32))
        mrc.set_volume()
        mrc.voxel_size = (8.0, 8.0, 16.0)
        mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = (80.0, 160.0, 240.0)
        mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = (1, 2, 3)
        mrc.header.nlabl = 1
        mrc.header.label[0] = b"tilt series of grid 4, reconstructed by IMOD"
    tiff = tmp_path / "plain.tif"
    write_em(tiff, plaid().astype(np.float32))
    argv = ["denoise", str(source), str(tiff), "-o", f"{out}/", "--format", "mrc", "--also-variance", "-q", *FAST]
    assert main(argv) == 0

    version = zeroshot.__version__
    for name, command in (("tomo.mrc", "denoise"), ("tomo_variance.mrc", "enhance --kind variance")):
        with mrcfile.open(out / name) as mrc:
            h = mrc.header
            labels = [bytes(label).decode().rstrip() for label in h.label[: h.nlabl]]
            assert labels == [
                "tilt series of grid 4, reconstructed by IMOD",
                f"zeroshot {version} {command}; settings in {name}.json",
            ]
            assert (float(h.origin.x), float(h.origin.y), float(h.origin.z)) == (80.0, 160.0, 240.0)
            assert (int(h.nxstart), int(h.nystart), int(h.nzstart)) == (1, 2, 3)
            assert mrc.is_volume() and float(mrc.voxel_size.z) == 16.0
    with mrcfile.open(out / "plain.mrc") as mrc:  # an input without a header: zeroshot's label alone
        assert [bytes(label).decode().rstrip() for label in mrc.header.label[: mrc.header.nlabl]] == [
            f"zeroshot {version} denoise; settings in plain.mrc.json"
        ]


def test_auto_noise_of_a_stack_per_slice_is_decided_once_on_its_first_frame(tmp_path, capsys):
    # Frame 1 is Poisson counts, frame 2 integers with white noise: decided alone, frame 2 would be white, and
    # the line printed ("in the Anscombe-transformed domain") would be wrong for it.
    rng = np.random.default_rng(0)
    clean = 40 * plaid(size=48, noise=0.0)
    stack = np.stack([rng.poisson(clean), np.rint(20 + clean + 3 * rng.standard_normal(clean.shape))])
    source, target = tmp_path / "counts.npy", tmp_path / "out.npy"
    np.save(source, stack.astype(np.float32))
    assert main(["denoise", str(source), "-o", str(target), "--per-slice", *FAST]) == 0

    captured = capsys.readouterr()
    noise = json.loads((tmp_path / "out.npy.json").read_text())["results"]["noise"]
    assert [frame["model"] for frame in noise] == ["poisson", "poisson"]
    assert [frame["asked"] for frame in noise] == ["auto", "poisson"]
    assert captured.err.count("noise: ") == 1
    assert "noise: Poisson counts (gain " in captured.err and "(decided on frame 1, for all 2 frames)" in captured.err
    assert "per frame" in captured.out and " in the Anscombe-transformed domain" in captured.out


def test_a_later_frame_the_stacks_noise_model_does_not_fit_is_named(tmp_path, capsys):
    rng = np.random.default_rng(0)
    clean = 40 * plaid(size=48, noise=0.0)
    stack = np.stack([rng.poisson(clean), np.rint(clean - 60 + 3 * rng.standard_normal(clean.shape))])
    source = tmp_path / "counts.npy"
    np.save(source, stack.astype(np.float32))
    assert main(["denoise", str(source), "-o", str(tmp_path / "out.npy"), "--per-slice", "-q", *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"zeroshot denoise: error: {source} (frame 2): noise='poisson'"), err
    assert err.rstrip().endswith("(noise poisson was decided on frame 1 for the whole stack; --noise chooses it)")
    assert not (tmp_path / "out.npy").exists()


def test_singleton_axis_is_dropped(tmp_path):
    source, target = tmp_path / "one.npy", tmp_path / "one_out.npy"
    np.save(source, plaid()[None, :, :])
    assert main(["denoise", str(source), "-o", str(target), "-q", *FAST]) == 0
    assert np.load(target).shape == (32, 32)


# ------------------------------------------------------------------ errors before any training


def _garbage(path):
    path.write_bytes(b"\x00garbage, not an image\xff" * 40)


@pytest.mark.parametrize(
    "case, message",
    [
        ("second input corrupt", "bad.tif: not a readable TIFF file"),
        ("unknown input suffix", "x.jpg: unknown image suffix '.jpg'"),
        ("output folder under a file", "is not a folder"),
        ("file output into a folder under a file", "cannot write the output(s) there: "),
        ("suffix with a file output", "--suffix '_dn' names the outputs in a folder, but -o"),
        ("suffix with a folder in it", "--suffix 'x/y': it is added to file names"),
        ("same stem twice", "is the output of both"),
        ("output is the input", "would overwrite the input"),
        ("several inputs, file output", "need an output folder"),
        ("format conflicts with suffix", "does not match --format tif"),
        ("stack to png", "PNG holds one 2-D image"),
        ("colour npy", "(32, 32, 3) looks like a colour"),
        ("4-D npy", "(2, 2, 32, 32)"),
    ],
)
def test_problems_are_reported_before_training(tmp_path, capsys, case, message):
    good = tmp_path / "good.npy"
    np.save(good, plaid())
    out = f"{tmp_path}/out/"
    if case == "second input corrupt":
        bad = tmp_path / "bad.tif"
        _garbage(bad)
        argv = [str(good), str(bad), "-o", out]
    elif case == "unknown input suffix":
        (tmp_path / "x.jpg").write_bytes(b"")
        argv = [str(good), str(tmp_path / "x.jpg"), "-o", out]
    elif case == "output folder under a file":
        (tmp_path / "plain").write_text("a file")
        argv = [str(good), "-o", f"{tmp_path}/plain/out/"]
    elif case == "file output into a folder under a file":
        (tmp_path / "plain").write_text("a file")
        argv = [str(good), "-o", f"{tmp_path}/plain/sub/x.tif"]
    elif case == "suffix with a file output":
        argv = [str(good), "-o", f"{tmp_path}/x.tif", "--suffix", "_dn"]
    elif case == "suffix with a folder in it":
        argv = [str(good), "-o", out, "--suffix", "x/y"]
    elif case == "same stem twice":
        write_em(tmp_path / "good.tif", plaid().astype(np.float32))
        argv = [str(good), str(tmp_path / "good.tif"), "-o", out, "--format", "mrc"]
    elif case == "output is the input":
        argv = [str(good), "-o", str(good)]
    elif case == "several inputs, file output":
        np.save(tmp_path / "other.npy", plaid())
        argv = [str(good), str(tmp_path / "other.npy"), "-o", str(good)]
    elif case == "format conflicts with suffix":
        argv = [str(good), "-o", f"{tmp_path}/x.mrc", "--format", "tif"]
    elif case == "stack to png":
        np.save(tmp_path / "stack.npy", np.stack([plaid(), plaid(seed=1)]))
        argv = [str(tmp_path / "stack.npy"), "-o", out, "--format", "png"]
    elif case == "colour npy":
        np.save(tmp_path / "rgb.npy", np.stack([plaid()] * 3, axis=-1))
        argv = [str(good), str(tmp_path / "rgb.npy"), "-o", out]
    else:
        np.save(tmp_path / "cube.npy", np.zeros((2, 2, 32, 32)))
        argv = [str(good), str(tmp_path / "cube.npy"), "-o", out]
    before = names(tmp_path)

    assert main(["denoise", *argv, *FAST]) == 2  # not quiet: training would show epochs

    captured = capsys.readouterr()
    assert captured.err.startswith("zeroshot denoise: error:")
    assert message in captured.err
    assert "epoch" not in captured.err and "Traceback" not in captured.err
    assert captured.out == ""
    assert names(tmp_path) == before  # nothing written, no output folder made


def test_read_only_input_format_needs_format_option(tmp_path, monkeypatch, capsys):
    # A DigitalMicrograph input without rosettasciio: stand in for the reader.
    source = tmp_path / "scan.dm4"
    source.write_bytes(b"")

    def fake_read_em(path, **options):
        return EMImage(data=plaid(), pixel_size=None, path=path, format="DigitalMicrograph")

    monkeypatch.setattr("zeroshot.cli.jobs.read_em", fake_read_em)
    assert main(["denoise", str(source), "-o", f"{tmp_path}/out/", "-q", *FAST]) == 2
    assert "cannot write DigitalMicrograph files; write .mrc, .tif, .png, .npy (--format" in (capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
