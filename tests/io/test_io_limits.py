"""Readers check what a file declares before decoding it (zeroshot.io.limits, D8 of the reliability review):
decompression and header bombs are refused at once, naming the file and the declared size."""

from __future__ import annotations

import time

import mrcfile
import numpy as np
import pytest
import tifffile
from PIL import Image

from zeroshot.io import read_em


def limit():
    from zeroshot.io.limits import byte_limit

    return byte_limit(1 << 20, "a test limit of 1 MiB")


def refused_fast(path, *messages: str) -> None:
    start = time.monotonic()
    with pytest.raises(ValueError) as error:
        read_em(path, check=limit())
    assert time.monotonic() - start < 2
    assert str(error.value).startswith(f"{path}: declares an array of shape")
    for message in messages:
        assert message in str(error.value)


def test_tiff_zlib_bomb(tmp_path):
    bomb = tmp_path / "bomb.tif"
    tifffile.imwrite(bomb, np.zeros((4000, 4000), np.uint16), compression="zlib", tile=(256, 256))
    assert bomb.stat().st_size < 200_000
    refused_fast(bomb, "(4000, 4000) uint16", "30.5 MiB", "1 MiB")


def test_emd_gzip_bomb(tmp_path):
    h5py = pytest.importorskip("h5py")
    pytest.importorskip("rsciio")
    bomb = tmp_path / "bomb.emd"
    with h5py.File(bomb, "w") as f:
        f.attrs["version_major"], f.attrs["version_minor"] = 0, 2
        group = f.create_group("data/image")
        group.attrs["emd_group_type"] = 1
        group.create_dataset("data", shape=(4000, 4000), dtype=np.float32, compression="gzip", chunks=(500, 500))
    assert bomb.stat().st_size < 100_000
    refused_fast(bomb, "(4000, 4000) float32")


def test_npy_header_claiming_a_huge_array(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})
        fh.write(b"\0" * 64)
    refused_fast(path, "(100000, 100000) float64")


def test_mrc_data_block_larger_than_the_limit(tmp_path):
    path = tmp_path / "big.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((600, 600), np.float32))
    refused_fast(path, "(1, 600, 600) float32")


def test_mrc_extended_header_longer_than_the_file(tmp_path):
    path = tmp_path / "ext.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((48, 48), np.float32))
    raw = bytearray(path.read_bytes())
    raw[92:96] = np.int32(2**31 - 1).tobytes()  # nsymbt, header word 24
    path.write_bytes(bytes(raw))
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"extended header of 2147483647 bytes, but the file has \d+ bytes"):
        read_em(path)
    assert time.monotonic() - start < 2


def test_png_larger_than_the_limit(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((1200, 1200), np.uint8)).save(path)
    refused_fast(path, "(1200, 1200, 1) uint8")


def test_files_within_the_limit_are_read(tmp_path):
    path = tmp_path / "small.tif"
    tifffile.imwrite(path, np.ones((64, 64), np.uint16), compression="zlib")
    assert read_em(path, check=limit()).data.shape == (64, 64)
    assert read_em(path).data.shape == (64, 64)  # the default: the memory available
    assert read_em(path, check=None).data.shape == (64, 64)
