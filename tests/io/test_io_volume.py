"""Volumes read and written slab by slab (zeroshot.io.volume, zeroshot.io.volume_sink): the files' checks before
any work, header fields kept, staged output, resuming with a byte-identical result, bounded memory."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import tifffile

from zeroshot.io import PixelSize, VoxelSize, create_volume_output, open_volume
from zeroshot.io.volume_sink import partial_path, record_path, remove_partial

SHAPE = (9, 12, 10)


def volume(shape: tuple[int, int, int] = SHAPE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(3.0, 2.0, size=shape).astype(np.float32)


def section(z: int, shape: tuple[int, int] = SHAPE[1:]) -> np.ndarray:
    """A section that depends only on z (what a deterministic run writes)."""
    return np.random.default_rng(100 + z).normal(size=shape).astype(np.float32)


def write_mrc(path: Path, data: np.ndarray, voxel=(1.5, 1.75, 2.5), stack: bool = False) -> None:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        if stack:
            mrc.set_image_stack()
        else:
            mrc.set_volume()
        mrc.voxel_size = voxel
        mrc.header.origin = (10.0, 20.0, 30.0)
        mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = 1, 2, 3
        mrc.header.label[0] = b"tilt series aligned"
        mrc.header.label[1] = b"reconstructed"
        mrc.header.nlabl = 2


def copy(source_path: Path, target: Path, depth: int = 4, **options) -> None:
    with (
        open_volume(source_path) as source,
        create_volume_output(
            target, source.shape, np.float32, source.voxel_size, source.header, label="zeroshot test", **options
        ) as sink,
    ):
        for z0, slab in source.slabs(depth, np.float32):
            sink.write(z0, slab)
        sink.commit()


def refused(path: Path, *parts: str) -> str:
    with pytest.raises(ValueError) as error:
        open_volume(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    for part in parts:
        assert part in message, message
    return message


# ------------------------------------------------------------------------------------------- reading


def test_mrc_round_trip_keeps_header_fields(tmp_path):
    data = volume()
    write_mrc(tmp_path / "in.mrc", data)
    with open_volume(tmp_path / "in.mrc") as source:
        assert source.shape == SHAPE and source.dtype == np.float32 and source.format == "MRC"
        assert source.voxel_size == VoxelSize(1.5, 1.75, 2.5)
        assert source.pixel_size == PixelSize(y=0.175, x=0.15)
        assert source.header is not None and source.header.volume
        assert source.header.origin == (10.0, 20.0, 30.0) and source.header.start == (1, 2, 3)
        assert source.header.labels == ("tilt series aligned", "reconstructed")
    copy(tmp_path / "in.mrc", tmp_path / "out.mrc")
    assert mrcfile.validate(tmp_path / "out.mrc", print_file=io.StringIO())
    with mrcfile.open(tmp_path / "out.mrc") as mrc:
        np.testing.assert_array_equal(mrc.data, data)
        assert mrc.voxel_size.tolist() == pytest.approx((1.5, 1.75, 2.5))
        assert (mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z) == (10.0, 20.0, 30.0)
        assert (int(mrc.header.nxstart), int(mrc.header.nystart), int(mrc.header.nzstart)) == (1, 2, 3)
        assert int(mrc.header.ispg) == 1 and int(mrc.header.mz) == SHAPE[0]
        labels = [bytes(label).decode().strip() for label in mrc.header.label[: int(mrc.header.nlabl)]]
        assert labels == ["tilt series aligned", "reconstructed", "zeroshot test"]
        assert float(mrc.header.dmin) == data.min() and float(mrc.header.dmax) == data.max()
        assert float(mrc.header.dmean) == pytest.approx(float(data.mean(dtype=np.float64)), rel=1e-6)
        assert float(mrc.header.rms) == pytest.approx(float(data.std(dtype=np.float64)), rel=1e-6)


def test_an_image_stack_stays_a_stack(tmp_path):
    data = volume()
    write_mrc(tmp_path / "in.mrcs", data, voxel=(2.0, 2.0, 2.0), stack=True)
    copy(tmp_path / "in.mrcs", tmp_path / "out.mrcs")
    with mrcfile.open(tmp_path / "out.mrcs") as mrc:
        assert int(mrc.header.ispg) == 0 and int(mrc.header.mz) == 1
        assert mrc.voxel_size.tolist() == pytest.approx((2.0, 2.0, 2.0))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.float16, np.float32])
@pytest.mark.parametrize("order", ["<", ">"])
def test_mrc_modes_and_byte_orders(tmp_path, dtype, order):
    data = (np.arange(np.prod(SHAPE)) % 100).reshape(SHAPE).astype(np.dtype(dtype).newbyteorder(order))
    path = tmp_path / "in.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
    with open_volume(path) as source:
        assert source.dtype == np.dtype(dtype) and source.dtype.isnative
        slab = source.slab(2, 5)
        assert slab.dtype == np.dtype(dtype) and slab.flags.c_contiguous
        np.testing.assert_array_equal(slab, data[2:5])
        np.testing.assert_array_equal(source.slab(2, 5, np.float32), data[2:5].astype(np.float32))


def test_extended_header_is_skipped(tmp_path):
    data = volume()
    path = tmp_path / "fei.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.set_extended_header(np.arange(300, dtype=np.uint8).view("V1"))
    with open_volume(path) as source:
        np.testing.assert_array_equal(source.slab(0, SHAPE[0]), data)


def test_slabs_at_the_volume_ends(tmp_path):
    data = volume()
    write_mrc(tmp_path / "in.mrc", data)
    with open_volume(tmp_path / "in.mrc") as source:
        np.testing.assert_array_equal(source.slab(0, 1), data[:1])
        np.testing.assert_array_equal(source.slab(SHAPE[0] - 1, SHAPE[0]), data[-1:])
        np.testing.assert_array_equal(source.section(SHAPE[0] - 1), data[-1])
        pieces = list(source.slabs(4))
        assert [z0 for z0, _ in pieces] == [0, 4, 8] and pieces[-1][1].shape == (1, *SHAPE[1:])
        np.testing.assert_array_equal(np.concatenate([slab for _, slab in pieces]), data)
        for z0, z1 in [(-1, 2), (3, 3), (5, 2), (0, SHAPE[0] + 1)]:
            with pytest.raises(ValueError, match=r"not within the volume of shape \(9, 12, 10\)"):
                source.slab(z0, z1)
        assert len(source) == SHAPE[0] and source.ndim == 3
        np.testing.assert_array_equal(source[-1], data[-1])
        np.testing.assert_array_equal(source[2], data[2])
        np.testing.assert_array_equal(source[7:], data[7:])
        with pytest.raises(ValueError, match="not a slab"):
            source[::2]
        with pytest.raises(ValueError, match="not within the volume"):
            source[SHAPE[0]]
    with pytest.raises(ValueError, match="closed"):
        source.slab(0, 1)


def test_npy_volumes(tmp_path):
    data = volume()
    np.save(tmp_path / "c.npy", data)
    np.save(tmp_path / "f.npy", np.asfortranarray(data))
    np.save(tmp_path / "b.npy", data.astype(">f8"))
    np.save(tmp_path / "2d.npy", data[0])
    for name in ("c.npy", "f.npy", "b.npy"):
        with open_volume(tmp_path / name) as source:
            assert source.shape == SHAPE and source.voxel_size is None and source.header is None
            np.testing.assert_array_equal(source.slab(3, 7), data[3:7])
    with open_volume(tmp_path / "2d.npy") as source:
        assert source.shape == (1, *SHAPE[1:])
        np.testing.assert_array_equal(source.section(0), data[0])


def test_tiff_volumes(tmp_path):
    data = volume()
    metadata = {"axes": "ZYX", "unit": "nm", "spacing": 0.25}
    tifffile.imwrite(tmp_path / "ij.tif", data, imagej=True, metadata=metadata, resolution=(1 / 0.15, 1 / 0.15))
    tifffile.imwrite(tmp_path / "zlib.tif", data, compression="zlib")
    tifffile.imwrite(tmp_path / "big.tif", data.astype(">u2"), byteorder=">")
    with open_volume(tmp_path / "ij.tif") as source:
        assert source.voxel_size is not None
        assert (source.voxel_size.x, source.voxel_size.z) == (pytest.approx(1.5), pytest.approx(2.5))
        np.testing.assert_array_equal(source.slab(2, 9), data[2:])
    with open_volume(tmp_path / "zlib.tif") as source:
        np.testing.assert_array_equal(source.slab(0, 3), data[:3])
    with open_volume(tmp_path / "big.tif") as source:
        assert source.dtype == np.uint16 and source.dtype.isnative
        np.testing.assert_array_equal(source.slab(4, 6), data[4:6].astype(np.uint16))


# ---------------------------------------------------------------------------------- refused on open


def test_truncated_mrc_is_refused_before_any_work(tmp_path):
    write_mrc(tmp_path / "in.mrc", volume())
    raw = (tmp_path / "in.mrc").read_bytes()
    cut = tmp_path / "cut.mrc"
    cut.write_bytes(raw[:-100])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError) as error:
        copy(cut, out / "result.mrc")
    message = str(error.value)
    assert message.startswith(f"{cut}: truncated MRC file")
    assert f"{len(raw)} bytes" in message and f"{len(raw) - 100} bytes (100 missing)" in message
    assert "10 x 12 x 9 (nx, ny, nz) float32 (mode 2)" in message
    assert list(out.iterdir()) == []


def test_inconsistent_mrc_headers_are_refused(tmp_path):
    write_mrc(tmp_path / "in.mrc", volume())
    raw = bytearray((tmp_path / "in.mrc").read_bytes())
    path = tmp_path / "bad.mrc"

    def header(**fields: int) -> None:
        data = bytearray(raw)
        offsets = {"nx": 0, "ny": 4, "nz": 8, "mode": 12, "mapc": 64, "ispg": 88, "nsymbt": 92, "mz": 36}
        for name, value in fields.items():
            data[offsets[name] : offsets[name] + 4] = int(value).to_bytes(4, "little", signed=True)
        path.write_bytes(bytes(data))

    path.write_bytes(bytes(raw) + b"\0" * 8)
    refused(path, "inconsistent MRC file", f"the file has {len(raw) + 8} bytes (8 more)")
    header(nz=0)
    refused(path, "nx=10, ny=12, nz=0")
    header(nx=-3)
    refused(path, "nx=-3")
    header(nx=100000, ny=100000)
    refused(path, "truncated MRC file", "100000 x 100000 x 9")
    header(mode=7)
    refused(path, "unknown mode 7")
    header(mode=4)
    refused(path, "complex 32-bit floats (mode 4)")
    header(mode=101)
    refused(path, "packed 4-bit")
    header(nsymbt=10**6)
    refused(path, "extended header of 1000000 bytes")
    header(nsymbt=-4)
    refused(path, "extended header of -4 bytes")
    header(mapc=3)
    refused(path, "mapc, mapr, maps = (3, 2, 3)")
    header(ispg=401, mz=3)
    refused(path, "a stack of 3 volumes of 3 sections")
    path.write_bytes(bytes(raw[:500]))
    refused(path, "not an MRC file: 500 bytes")


def test_truncated_npy_and_tiff_are_refused(tmp_path):
    data = volume()
    np.save(tmp_path / "a.npy", data)
    raw = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "a.npy").write_bytes(raw[:-7])
    refused(tmp_path / "a.npy", "truncated .npy file", "shape (9, 12, 10) float32", "(7 missing)")
    (tmp_path / "b.npy").write_bytes(raw + b"\0")
    refused(tmp_path / "b.npy", "inconsistent .npy file", "(1 more)")
    np.save(tmp_path / "c.npy", data.astype(np.complex64))
    refused(tmp_path / "c.npy", "complex64 is not a real")
    np.save(tmp_path / "d.npy", np.zeros((2, 3, 4, 5), np.float32))
    refused(tmp_path / "d.npy", "shape (2, 3, 4, 5)")
    for name, options in (("plain.tif", {}), ("zlib.tif", {"compression": "zlib"})):
        tifffile.imwrite(tmp_path / name, data, **options)
        raw = (tmp_path / name).read_bytes()
        # keep the IFDs (written before each page's data by tifffile), cut the last page's data
        with tifffile.TiffFile(tmp_path / name) as tif:
            end = int(tif.pages[-1].dataoffsets[0]) + 3
        (tmp_path / name).write_bytes(raw[:end])
        refused(tmp_path / name, "truncated TIFF file")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((3, 8, 8, 3), np.uint8), photometric="rgb")
    refused(tmp_path / "rgb.tif", "colour")
    (tmp_path / "a.png").write_bytes(b"")
    refused(tmp_path / "a.png", ".mrc, .mrcs, .npy, .tif and .tiff")
    refused(tmp_path / "missing.mrc", "no such file")


def test_a_file_cut_after_it_was_opened(tmp_path):
    write_mrc(tmp_path / "in.mrc", volume())
    with open_volume(tmp_path / "in.mrc") as source:
        os.truncate(tmp_path / "in.mrc", 1024 + 4 * 120 * 5)
        np.testing.assert_array_equal(source.slab(0, 5), volume()[:5])
        with pytest.raises(ValueError, match="cut or replaced while being read"):
            source.slab(4, 7)


# ------------------------------------------------------------------------------------------- writing


def test_npy_and_tiff_outputs(tmp_path):
    data = volume()
    np.save(tmp_path / "in.npy", data)
    copy(tmp_path / "in.npy", tmp_path / "out.npy", depth=2)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), data)
    write_mrc(tmp_path / "in.mrc", data)
    copy(tmp_path / "in.mrc", tmp_path / "out.tif", depth=5)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        np.testing.assert_array_equal(tif.asarray(), data)
        assert tif.imagej_metadata["spacing"] == pytest.approx(0.25)
    with open_volume(tmp_path / "out.tif") as back:
        assert back.voxel_size is not None
        assert (back.voxel_size.x, back.voxel_size.y, back.voxel_size.z) == pytest.approx((1.5, 1.75, 2.5))
    with create_volume_output(tmp_path / "wide.tif", SHAPE, np.float64, VoxelSize(2.0, 2.0)) as sink:
        sink.write(0, data.astype(np.float64))
        sink.commit()
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "wide.tif"), data)


def test_written_in_any_order_with_integer_dtypes(tmp_path):
    data = volume() * 1000
    path = tmp_path / "out.mrc"
    with create_volume_output(path, SHAPE, np.int16) as sink:
        assert sink.missing() == [(0, 9)]
        sink.write(6, data[6:])
        sink.write(1, data[1])
        assert sink.missing() == [(0, 1), (2, 6)]
        assert sink.done_slices().tolist() == [False, True, False, False, False, False, True, True, True]
        sink.write(2, data[2:6])
        sink.write(0, data[0])
        sink.commit()
    with mrcfile.open(path) as mrc:
        assert mrc.data.dtype == np.int16 and int(mrc.header.ispg) == 1
        np.testing.assert_array_equal(mrc.data, np.rint(data).astype(np.int16))
        assert float(mrc.header.dmax) == float(np.rint(data).max())


def test_sink_checks_before_anything_is_written(tmp_path):
    def refuses(*args, match: str, **kwargs) -> None:
        with pytest.raises(ValueError, match=match):
            create_volume_output(*args, **kwargs)
        assert [p.name for p in tmp_path.iterdir()] == []

    refuses(tmp_path / "a.mrc", SHAPE, np.float64, match="MRC cannot store dtype float64")
    refuses(tmp_path / "a.png", SHAPE, np.uint8, match="PNG holds one 2-D image")
    refuses(tmp_path / "a.dm4", SHAPE, match="cannot write them")
    refuses(tmp_path / "no" / "a.mrc", SHAPE, match="does not exist")
    refuses(tmp_path / "a.mrc", (3, 0, 4), match=r"three positive lengths \(Z, Y, X\), got \(3, 0, 4\)")
    refuses(tmp_path / "a.mrc", (3, 4), match="three positive lengths")
    refuses(tmp_path / "a.mrc", (2.5, 4, 4), match="three positive lengths")
    refuses(tmp_path / "a.mrc", SHAPE, voxel_size=1.5, match="voxel_size must be")


def test_sink_refuses_wrong_sections(tmp_path):
    path = tmp_path / "out.mrc"
    with create_volume_output(path, SHAPE) as sink:
        with pytest.raises(ValueError, match=r"shape \(n, 12, 10\) or \(12, 10\), got \(2, 10, 12\)"):
            sink.write(0, np.zeros((2, 10, 12)))
        with pytest.raises(ValueError, match=r"3 section\(s\) from z = 7 are not within the volume"):
            sink.write(7, np.zeros((3, 12, 10)))
        bad = np.zeros((2, 12, 10))
        bad[1, 3, 3] = np.nan
        with pytest.raises(ValueError, match=r"sections 4..5: contains 1 NaN"):
            sink.write(4, bad)
        with pytest.raises(ValueError, match=r"does not fit in float32"):
            sink.write(4, np.full((12, 10), 1e300))
        with pytest.raises(ValueError, match=r"9 of 9 sections not written yet \(0..8\)"):
            sink.commit()
        sink.write(2, np.zeros((2, 12, 10)))
        with pytest.raises(ValueError, match=r"7 of 9 sections not written yet \(0..1, 4..8\)"):
            sink.finish()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="already committed, abandoned or closed"):
        sink.write(0, np.zeros((12, 10)))


def test_nan_allowed_leaves_statistics_undetermined(tmp_path):
    data = volume()
    data[4, 2, 2] = np.inf
    with create_volume_output(tmp_path / "out.mrc", SHAPE, finite_only=False) as sink:
        sink.write(0, data)
        assert sink.statistics() is None
        sink.commit()
    with mrcfile.open(tmp_path / "out.mrc", permissive=True) as mrc:
        assert (float(mrc.header.dmin), float(mrc.header.dmax), float(mrc.header.rms)) == (0.0, -1.0, -1.0)
        np.testing.assert_array_equal(mrc.data, data)


@pytest.mark.parametrize("resume", [None, "run-1"])
def test_abandon_and_errors_leave_nothing(tmp_path, resume):
    target = tmp_path / "out.mrc"
    target.write_bytes(b"an earlier result")
    with create_volume_output(target, SHAPE, resume=resume) as sink:
        sink.write(0, volume()[:3])
        sink.abandon()
    assert [p.name for p in tmp_path.iterdir()] == ["out.mrc"] and target.read_bytes() == b"an earlier result"
    with pytest.raises(RuntimeError), create_volume_output(target, SHAPE, resume=resume) as sink:
        sink.write(0, volume()[:3])
        raise RuntimeError("the work failed")
    kept = sorted(p.name for p in tmp_path.iterdir())
    # a resumable output stays staged for the next run to continue; another is removed
    assert kept == (["out.mrc"] if resume is None else [".out.mrc.zs-partial", ".out.mrc.zs-partial.json", "out.mrc"])
    assert target.read_bytes() == b"an earlier result"
    if resume is not None:
        assert remove_partial(target)
        assert [p.name for p in tmp_path.iterdir()] == ["out.mrc"]


# -------------------------------------------------------------------------------------------- resume


def uninterrupted(path: Path, shape: tuple[int, int, int] = SHAPE) -> bytes:
    with create_volume_output(path, shape, voxel_size=VoxelSize(2.0, 2.0, 3.0), label="zeroshot") as sink:
        for z in range(shape[0]):
            sink.write(z, section(z, shape[1:]))
        sink.commit()
    return path.read_bytes()


@pytest.mark.parametrize("suffix", [".mrc", ".npy", ".tif"])
def test_resume_gives_a_byte_identical_file(tmp_path, suffix):
    expected = uninterrupted(tmp_path / f"whole{suffix}")
    target = tmp_path / f"out{suffix}"
    options = {"voxel_size": VoxelSize(2.0, 2.0, 3.0), "label": "zeroshot", "resume": "key"}
    sink = create_volume_output(target, SHAPE, **options)
    sink.write(0, np.stack([section(z) for z in range(3)]))
    sink.write(6, section(6))
    sink.close()  # as if killed: the staged file and its record stay
    assert not target.exists() and partial_path(target).exists()
    with create_volume_output(target, SHAPE, **options) as again:
        assert np.flatnonzero(again.done_slices()).tolist() == [0, 1, 2, 6]
        assert again.missing() == [(3, 6), (7, 9)]
        for z0, z1 in again.missing():
            again.write(z0, np.stack([section(z) for z in range(z0, z1)]))
        again.commit()
    assert target.read_bytes() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"whole{suffix}", f"out{suffix}"])


CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from zeroshot.io import VoxelSize, create_volume_output
    shape = tuple(int(n) for n in sys.argv[2:5])
    sink = create_volume_output(sys.argv[1], shape, voxel_size=VoxelSize(2.0, 2.0, 3.0), label="zeroshot",
                                resume="key")
    for z in range(shape[0]):
        sink.write(z, np.random.default_rng(100 + z).normal(size=shape[1:]).astype(np.float32))
        if z == 4:
            print("ready", flush=True)
            time.sleep(60)
    """
)


def test_resume_after_sigterm_mid_volume(tmp_path):
    expected = uninterrupted(tmp_path / "whole.mrc")
    target = tmp_path / "out.mrc"
    command = [sys.executable, "-c", CHILD, str(target), *map(str, SHAPE)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=30) == -signal.SIGTERM
        finally:
            if child.poll() is None:
                child.kill()
    assert not target.exists()
    record = json.loads(record_path(target).read_text())
    assert sorted(int(z) for z in record["slices"]) == [0, 1, 2, 3, 4]
    with create_volume_output(
        target, SHAPE, voxel_size=VoxelSize(2.0, 2.0, 3.0), label="zeroshot", resume="key"
    ) as sink:
        assert sink.missing() == [(5, 9)]
        for z in range(5, 9):
            sink.write(z, section(z))
        sink.commit()
    assert target.read_bytes() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mrc", "whole.mrc"]


def test_a_staged_output_of_another_run_is_refused(tmp_path):
    target = tmp_path / "out.mrc"
    sink = create_volume_output(target, SHAPE, resume="run-1")
    sink.write(0, section(0))
    sink.close()
    with pytest.raises(ValueError, match=r"begun by another run .* \(restart=True\)"):
        create_volume_output(target, SHAPE, resume="run-2")
    with pytest.raises(ValueError, match=r"begun for another volume"):
        create_volume_output(target, (9, 12, 11), resume="run-1")
    with pytest.raises(ValueError, match=r"begun for another volume"):
        create_volume_output(target, SHAPE, voxel_size=VoxelSize(1.0, 1.0), resume="run-1")
    record = record_path(target)
    record.write_text(record.read_text()[:20])
    with pytest.raises(ValueError, match=r"progress record cannot be read"):
        create_volume_output(target, SHAPE, resume="run-1")
    with create_volume_output(target, SHAPE, resume="run-2", restart=True) as fresh:
        assert fresh.missing() == [(0, 9)]
        fresh.write(3, section(3))
    with create_volume_output(target, SHAPE, resume="run-2") as again:
        assert again.missing() == [(0, 3), (4, 9)]
    with create_volume_output(target, SHAPE, resume="run-2", restart=True) as fresh:  # its own, too
        assert fresh.missing() == [(0, 9)]
        fresh.write(3, section(3))
    record.unlink()  # a staged file without a record holds nothing known to be written
    with create_volume_output(target, SHAPE, resume="run-2") as fresh:
        assert fresh.missing() == [(0, 9)]


def test_a_second_writer_of_the_same_output_is_refused(tmp_path):
    target = tmp_path / "out.mrc"
    with create_volume_output(target, SHAPE, resume="k") as sink:
        with pytest.raises(ValueError, match="another process is writing this output"):
            create_volume_output(target, SHAPE, resume="k")
        with pytest.raises(ValueError, match="another process is writing this output"):
            remove_partial(target)
        sink.write(0, section(0))


# -------------------------------------------------------------------------------------------- memory


def test_memory_stays_within_a_slab(tmp_path):
    shape = (64, 256, 256)  # 16 MiB of float32
    source_path, target = tmp_path / "in.mrc", tmp_path / "out.mrc"
    with create_volume_output(source_path, shape) as sink:
        for z in range(shape[0]):
            sink.write(z, np.full(shape[1:], z, np.float32))
        sink.commit()
    slab_bytes = 4 * shape[1] * shape[2] * 4  # 1 MiB
    tracemalloc.start()
    try:
        with open_volume(source_path) as source, create_volume_output(target, shape, resume="k") as sink:
            for z0, slab in source.slabs(4):
                sink.write(z0, slab * 2)
            sink.commit()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    volume_bytes = int(np.prod(shape)) * 4
    print(f"tracemalloc peak {peak} bytes")
    assert peak < 5 * slab_bytes < volume_bytes / 3, peak
    with open_volume(target) as back:
        assert back.section(63)[0, 0] == 126.0


def test_rewritten_sections_and_indices(tmp_path):
    target = tmp_path / "out.npy"
    sink = create_volume_output(target, SHAPE, resume="k")
    sink.write(np.int64(0), section(0) + 1)
    sink.write(0, section(0))  # the last write counts
    with pytest.raises(ValueError, match=r"from z = 2.0 are not within"):
        sink.write(2.0, section(2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"from z = True are not within"):
        sink.write(True, section(1))  # type: ignore[arg-type]
    sink.close()
    with create_volume_output(target, SHAPE, resume="k") as again:
        assert again.missing() == [(1, 9)]
        for z in range(1, 9):
            again.write(z, section(z))
        again.commit()
    np.testing.assert_array_equal(np.load(target), np.stack([section(z) for z in range(9)]))
    with open_volume(target) as source:
        np.testing.assert_array_equal(source.slab(np.int32(8), np.int64(9))[0], section(8))
        with pytest.raises(ValueError, match="not within the volume"):
            source.slab(1.0, 3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="slab depth must be a positive number"):
            next(source.slabs(0))


def test_leftovers_of_an_abandoned_run(tmp_path):
    target = tmp_path / "out.mrc"
    assert not remove_partial(target)
    sink = create_volume_output(target, SHAPE, resume="run-1")
    sink.write(0, section(0))
    sink.close()
    partial_path(target).unlink()  # killed while abandoning: the record is left alone
    with create_volume_output(target, SHAPE, resume="run-2") as fresh:  # nothing staged to keep: no refusal
        assert fresh.missing() == [(0, 9)]


def test_no_room_on_the_disk(tmp_path, monkeypatch):
    import zeroshot.io.volume_sink as volume_sink

    monkeypatch.setattr(volume_sink, "_free_bytes", lambda folder: 1000)
    for resume in (None, "k"):
        with pytest.raises(ValueError, match=r"out.mrc: needs 5.22 KiB \(5344 bytes\), but .* has 1000 B free"):
            create_volume_output(tmp_path / "out.mrc", SHAPE, resume=resume)
        assert list(tmp_path.iterdir()) == []
