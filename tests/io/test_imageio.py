from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from zeroshot.io import read_image, to_dtype_like, write_image

SHAPES = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12)


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_round_trip_full_range(tmp_path, suffix, dtype):
    top = np.iinfo(dtype).max
    # Every value of the type (uint16: 0..65535, including those above 32767 that a signed
    # 16-bit path would mangle), in a non-square image.
    values = np.arange(top + 1, dtype=np.int64)
    cols = 256
    image = np.resize(values, (-(-values.size // cols), cols)).astype(dtype)
    image[-1, -1] = top
    path = tmp_path / f"img{suffix}"
    write_image(path, image)
    back = read_image(path)
    assert back.dtype == dtype
    assert back.shape == image.shape
    np.testing.assert_array_equal(back, image)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@given(data=st.data())
@settings(max_examples=25, deadline=None)
def test_uint_round_trip_property(tmp_path_factory, suffix, data):
    dtype = data.draw(st.sampled_from([np.uint8, np.uint16]))
    image = data.draw(hnp.arrays(dtype, SHAPES))
    path = tmp_path_factory.mktemp("rt") / f"x{suffix}"
    write_image(path, image)
    back = read_image(path)
    assert back.dtype == image.dtype
    np.testing.assert_array_equal(back, image)


@given(image=hnp.arrays(np.float32, SHAPES, elements=st.floats(width=32, allow_nan=False, allow_infinity=False)))
@settings(max_examples=25, deadline=None)
def test_float32_tiff_round_trip(tmp_path_factory, image):
    path = tmp_path_factory.mktemp("rt") / "x.tif"
    write_image(path, image)
    back = read_image(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, image)


@given(
    image=hnp.arrays(
        st.sampled_from([np.float64, np.float32, np.int16, np.int64, np.uint8]),
        SHAPES,
        elements={"allow_nan": False, "allow_infinity": False},
    )
)
@settings(max_examples=25, deadline=None)
def test_npy_round_trip(tmp_path_factory, image):
    path = tmp_path_factory.mktemp("rt") / "x.npy"
    write_image(path, image)
    back = read_image(path)
    assert back.dtype == image.dtype
    np.testing.assert_array_equal(back, image)


def test_npy_big_endian_and_fortran_come_back_native(tmp_path):
    image = np.asfortranarray(np.arange(12.0).reshape(3, 4)).astype(">f8")
    path = tmp_path / "be.npy"
    np.save(path, image)
    back = read_image(path)
    assert back.dtype == np.float64
    assert back.dtype.isnative
    assert back.flags.c_contiguous
    np.testing.assert_array_equal(back, image)


def test_write_with_dtype_rounds_and_clips(tmp_path):
    image = np.array([[-3.0, 0.4, 0.6], [254.5, 255.4, 1e6]])
    path = tmp_path / "x.png"
    write_image(path, image, dtype=np.uint8)
    back = read_image(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, [[0, 0, 1], [254, 255, 255]])


def test_float64_to_float32_tiff_with_dtype(tmp_path):
    image = np.linspace(-2.0, 3.0, 20).reshape(4, 5)
    path = tmp_path / "x.tiff"
    write_image(path, image, dtype=np.float32)
    back = read_image(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, image.astype(np.float32))


def test_overwrite_replaces_existing_file(tmp_path):
    path = tmp_path / "x.png"
    write_image(path, np.zeros((3, 3), np.uint8))
    write_image(path, np.full((2, 5), 7, np.uint8))
    np.testing.assert_array_equal(read_image(path), np.full((2, 5), 7))
    assert _files(tmp_path) == ["x.png"]


def test_gray_rgb_png_is_read_as_one_channel(tmp_path):
    gray = np.arange(30, dtype=np.uint8).reshape(5, 6)
    path = tmp_path / "rgb.png"
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(path)
    back = read_image(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, gray)


def test_reads_file_written_by_pillow_as_16_bit_png(tmp_path):
    # A 16-bit grayscale PNG made by another writer than write_image.
    image = np.array([[0, 1, 32767], [32768, 40000, 65535]], dtype=np.uint16)
    path = tmp_path / "ext.png"
    Image.fromarray(image).save(path)
    back = read_image(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, image)


# ------------------------------------------------------------------------------------- bad reads


def _expect_read_error(path, *words):
    with pytest.raises(ValueError) as info:
        read_image(path)
    message = str(info.value)
    assert path.name in message
    for word in words:
        assert word in message


def test_text_file_with_png_suffix(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    _expect_read_error(path)


def test_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    rng = np.random.default_rng(0)
    write_image(path, rng.integers(0, 256, (64, 64), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect_read_error(path)


def test_missing_file(tmp_path):
    _expect_read_error(tmp_path / "absent.tif", "no such file")


def test_rgb_with_different_channels(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 200
    path = tmp_path / "colour.png"
    Image.fromarray(rgb).save(path)
    _expect_read_error(path, "channel")


def test_rgba_with_transparency(tmp_path):
    rgba = np.full((4, 4, 4), 100, np.uint8)
    rgba[0, 0, 3] = 0
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba).save(path)
    _expect_read_error(path, "transparency")


def test_multi_frame_tiff(tmp_path):
    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (1, 2)]
    path = tmp_path / "stack.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    _expect_read_error(path, "frames")


def test_3d_npy(tmp_path):
    path = tmp_path / "cube.npy"
    np.save(path, np.zeros((2, 3, 4)))
    _expect_read_error(path, "(2, 3, 4)")


def test_empty_npy(tmp_path):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 5)))
    _expect_read_error(path, "empty")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_npy(tmp_path, bad):
    image = np.ones((3, 3))
    image[1, 2] = bad
    path = tmp_path / "bad.npy"
    np.save(path, image)
    _expect_read_error(path, "NaN or infinite")


def test_non_finite_float_tiff(tmp_path):
    image = np.ones((3, 3), np.float32)
    image[0, 0] = np.nan
    path = tmp_path / "bad.tif"
    Image.fromarray(image).save(path)
    _expect_read_error(path, "NaN or infinite")


def test_complex_npy(tmp_path):
    path = tmp_path / "complex.npy"
    np.save(path, np.ones((3, 3), np.complex128))
    _expect_read_error(path, "complex128")


def test_pickled_npy_is_refused(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    _expect_read_error(path)


# ------------------------------------------------------------------------------------ bad writes


@pytest.mark.parametrize(
    ("name", "image", "dtype", "words"),
    [
        ("float.png", np.zeros((3, 3)), None, [".npy", ".tif"]),
        ("float32.png", np.zeros((3, 3), np.float32), None, ["float32"]),
        ("int16.png", np.zeros((3, 3), np.int16), None, ["int16"]),
        ("int64.tif", np.zeros((3, 3), np.int64), None, ["int64"]),  # TIFF: up to 32-bit integers
        ("x.png", np.zeros((3, 3)), np.float32, ["float32"]),
        ("x.jpg", np.zeros((3, 3), np.uint8), None, [".jpg"]),
        ("noext", np.zeros((3, 3), np.uint8), None, ["suffix"]),
        ("cube.npy", np.zeros((2, 3, 3)), None, ["(2, 3, 3)"]),
        ("empty.tif", np.zeros((0, 3), np.uint8), None, ["empty"]),
        ("nan.npy", np.array([[1.0, np.nan]]), None, ["NaN"]),
        ("nan.png", np.array([[1.0, np.nan]]), np.uint8, ["NaN"]),
        ("big.tif", np.array([[1e300]]), np.float32, ["float32"]),
        ("c.npy", np.ones((2, 2), np.complex64), None, ["complex64"]),
    ],
)
def test_failed_write_leaves_nothing(tmp_path, name, image, dtype, words):
    path = tmp_path / name
    with pytest.raises(ValueError) as info:
        write_image(path, image, dtype=dtype)
    message = str(info.value)
    assert name in message
    for word in words:
        assert word in message
    assert _files(tmp_path) == []


def test_failed_write_keeps_existing_file(tmp_path):
    path = tmp_path / "keep.png"
    write_image(path, np.full((2, 2), 9, np.uint8))
    with pytest.raises(ValueError):
        write_image(path, np.zeros((2, 2)))  # float to PNG without dtype
    np.testing.assert_array_equal(read_image(path), np.full((2, 2), 9))
    assert _files(tmp_path) == ["keep.png"]


def test_error_during_encoding_removes_temporary(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(PILImage.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / "x.png", np.zeros((2, 2), np.uint8))
    assert _files(tmp_path) == []


def test_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        write_image(tmp_path / "nope" / "x.npy", np.zeros((2, 2)))


# ---------------------------------------------------------------------------------- to_dtype_like


def test_to_dtype_like_rounds_and_clips():
    values = np.array([-1.0, -0.4, 0.49, 0.5, 1.5, 2.5, 254.6, 300.0])
    out = to_dtype_like(values, np.uint8)
    assert out.dtype == np.uint8
    # np.rint rounds half to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 2, 2, 255, 255])
    out16 = to_dtype_like(np.array([-5.0, 40000.2, 70000.0]), np.uint16)
    np.testing.assert_array_equal(out16, [0, 40000, 65535])
    assert out16.dtype == np.uint16


def test_to_dtype_like_signed_and_64_bit_limits():
    out = to_dtype_like(np.array([-1e30, -7.6, 7.6, 1e30]), np.int64)
    assert out.dtype == np.int64
    assert out[0] == np.iinfo(np.int64).min
    assert out[1] == -8 and out[2] == 8
    assert out[3] > 0  # clipped near the top, not wrapped around to negative
    np.testing.assert_array_equal(to_dtype_like(np.array([-200.0, 200.0]), np.int8), [-128, 127])


def test_to_dtype_like_integer_input_clips_exactly():
    out = to_dtype_like(np.array([-5, 70000, 123], np.int64), np.uint16)
    np.testing.assert_array_equal(out, [0, 65535, 123])
    assert out.dtype == np.uint16


def test_to_dtype_like_float_is_a_cast():
    values = np.array([0.1, -2.75, 1e10])
    out = to_dtype_like(values, np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, values.astype(np.float32))


@given(
    values=hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e6, 1e6)),
    dtype=st.sampled_from([np.uint8, np.uint16, np.int16, np.int32]),
)
def test_to_dtype_like_property(values, dtype):
    out = to_dtype_like(values, dtype)
    info = np.iinfo(dtype)
    assert out.dtype == dtype
    expected = np.clip(np.round(values), info.min, info.max)
    np.testing.assert_array_equal(out.astype(np.float64), expected)


def test_to_dtype_like_refuses_nan_for_integers_and_overflow_for_floats():
    with pytest.raises(ValueError, match="NaN"):
        to_dtype_like(np.array([1.0, np.nan]), np.uint8)
    with pytest.raises(ValueError, match="float16"):
        to_dtype_like(np.array([1e6]), np.float16)
    with pytest.raises(ValueError, match="complex"):
        to_dtype_like(np.array([1.0]), np.complex64)
