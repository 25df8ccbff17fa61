"""The napari plugin's Qt-free parts (zeroshot.napari): the options -> zeroshot.denoise mapping, the reader and
writer with the pixel size, the samples, and the layers a run adds (names, scales, dtypes, frame order,
cancelling). None of these needs napari or Qt."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import zeroshot
from zeroshot.config import MODELS, DenoiseConfig
from zeroshot.data import sarscov2, simulated_virus
from zeroshot.io import PixelSize, read_em, write_em
from zeroshot.napari import _reader, _writer
from zeroshot.napari._layers import percentile_limits, pixel_size_of, scale_of, units_of
from zeroshot.napari._options import MAPS, WidgetOptions, denoise_kwargs, moments_for
from zeroshot.napari._reader import NO_LAYERS, get_reader, read, read_layers
from zeroshot.napari._run import (
    Cancelled,
    LayerImage,
    Progress,
    denoise_layer,
    frame_order,
    frames_to_run,
    layer_names,
)
from zeroshot.napari._sample import CROP_SIZE, sarscov2_crop, sarscov2_slice, simulated_virus_image
from zeroshot.napari._writer import stored_dtype, write, write_layer

TINY = WidgetOptions(latents=8, states=4, epochs=2, patch_size=4, threads=1, maps=("denoised",))
PIXEL = PixelSize(y=0.25, x=0.5)


@pytest.fixture
def notices(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The error notifications the reader and writer show (instead of napari's)."""
    shown: list[str] = []
    monkeypatch.setattr(_reader, "notify_error", shown.append)
    monkeypatch.setattr(_writer, "notify_error", shown.append)
    return shown


def small_image(size: int = 24, seed: int = 0) -> np.ndarray:
    return simulated_virus(size, seed=seed).noisy


def test_importing_zeroshot_and_its_plugin_logic_imports_neither_napari_nor_qt():
    code = (
        "import sys, zeroshot, zeroshot.napari\n"
        "from zeroshot.napari import _layers, _options, _reader, _run, _sample, _writer\n"
        "gui = ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide6', 'magicgui', 'superqt')\n"
        "loaded = [m for m in gui if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------- options


@pytest.mark.parametrize("model", MODELS)
def test_option_defaults_are_the_packages(model):
    options = WidgetOptions.defaults(model)
    config = denoise_kwargs(options)["config"]
    assert config == DenoiseConfig.for_model(model)


def test_options_map_to_denoise_keyword_arguments():
    options = WidgetOptions(
        model="es3c", noise="white", patch_size=5, latents=16, states=8, epochs=3, seed=7, threads=2,
        maps=("denoised", "relief"),
    )  # fmt: skip
    kwargs = denoise_kwargs(options)
    assert kwargs == {
        "config": DenoiseConfig.for_model(
            "es3c", noise="white", patch_size=5, n_latents=16, n_states=8, epochs=3, seed=7
        ),
        "threads": 2,
        "moments": 2,
    }


def test_zero_patch_size_and_threads_mean_automatic():
    kwargs = denoise_kwargs(replace(TINY, patch_size=0, threads=0))
    assert kwargs["config"].patch_size is None
    assert kwargs["threads"] is None


@pytest.mark.parametrize(
    ("maps", "moments"),
    [(("denoised",), 1), (("variance",), 2), (("denoised", "relief", "detail"), 2), (MAPS, 3), (("skewness",), 3)],
)
def test_the_maps_decide_the_moments(maps, moments):
    assert moments_for(maps) == moments


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"latents": 0}, "n_latents must be an integer >= 1"),
        ({"model": "pca"}, "model must be one of"),
        ({"noise": "pink"}, "noise must be one of"),
        ({"frames": "some"}, "frames must be one of"),
        ({"threads": -1}, "threads must be 0 (all) or a positive integer"),
        ({"maps": ()}, "choose at least one map"),
        ({"maps": ("blur",)}, "unknown map(s) 'blur'"),
        ({"states": 300, "latents": 8}, "exceeds the 2^H = 256 distinct states"),
        ({"model_file": "no/model.npz"}, "no model file at no/model.npz"),
    ],
)
def test_bad_options_are_clear_value_errors(change, message):
    with pytest.raises(ValueError) as caught:
        denoise_kwargs(replace(TINY, **change))
    assert message in str(caught.value)


def test_changing_the_model_takes_its_sizes_and_keeps_the_rest():
    options = replace(TINY, noise="white", seed=3, maps=("variance",)).with_model("pmm")
    pmm = WidgetOptions.defaults("pmm")
    assert (options.latents, options.states, options.epochs, options.patch_size) == (
        pmm.latents,
        pmm.states,
        pmm.epochs,
        pmm.patch_size,
    )
    assert (options.noise, options.seed, options.maps) == ("white", 3, ("variance",))


# -------------------------------------------------------------------------------- scale and pixel size


def test_scale_from_pixel_size_and_back():
    assert scale_of(PIXEL, 2) == (0.25, 0.5)
    assert scale_of(PIXEL, 3) == (1.0, 0.25, 0.5)
    assert scale_of(None, 3) == (1.0, 1.0, 1.0)
    assert units_of(PIXEL, 3) == ("pixel", "nm", "nm")
    assert units_of(None, 2) is None
    assert pixel_size_of(scale_of(PIXEL, 3), units_of(PIXEL, 3)) == PIXEL


def test_pixel_size_of_a_layer_converts_its_units():
    assert pixel_size_of((2.0, 3.0), ("micrometer", "micrometer")) == PixelSize(y=2000.0, x=3000.0)
    assert pixel_size_of((5.0, 5.0), ("angstrom", "angstrom")) == PixelSize(y=0.5, x=0.5)
    assert pixel_size_of((1.0, 1.0)) is None  # napari's default: no pixel size
    assert pixel_size_of((1.0, 1.0), ("pixel", "pixel")) is None
    assert pixel_size_of((0.7, 0.7)) == PixelSize(y=0.7, x=0.7)  # a scale without units is read as nm
    assert pixel_size_of((1.0, 1.0), ("nm", "nm")) == PixelSize(y=1.0, x=1.0)
    assert pixel_size_of((0.0, 1.0), ("nm", "nm")) is None


def test_percentile_limits_of_a_flat_map_are_widened():
    assert percentile_limits(np.full((4, 4), 2.0)) == (2.0, 3.0)
    lo, hi = percentile_limits(np.arange(1000.0))
    assert 4 < lo < 5 and 994 < hi < 995


# -------------------------------------------------------------------------------------------- reader


@pytest.mark.parametrize("suffix", [".mrc", ".tif"])
def test_reader_gives_the_layer_with_the_pixel_size_as_scale(tmp_path, suffix):
    data = (np.arange(12 * 10).reshape(12, 10) % 50).astype(np.int16)
    path = tmp_path / f"grid{suffix}"
    write_em(path, data, pixel_size=PIXEL)
    reader = get_reader(str(path))
    assert reader is not None
    [(layer_data, meta, kind)] = reader(str(path))
    assert kind == "image"
    np.testing.assert_array_equal(layer_data, data)
    assert layer_data.dtype == np.int16
    assert meta["name"] == "grid"
    assert meta["scale"] == pytest.approx((0.25, 0.5))
    assert meta["units"] == ("nm", "nm")
    assert meta["metadata"]["zeroshot"]["pixel_size_nm"] == {"y": 0.25, "x": 0.5, "unit": "nm"}


def test_reader_of_a_stack_keeps_the_frame_axis_unscaled(tmp_path):
    data = np.random.default_rng(0).normal(size=(3, 8, 9)).astype(np.float32)
    path = tmp_path / "stack.mrcs"
    write_em(path, data, pixel_size=PIXEL)
    [(layer_data, meta, _)] = read_layers(path)
    assert layer_data.shape == (3, 8, 9)
    assert meta["scale"] == pytest.approx((1.0, 0.25, 0.5))
    assert meta["units"] == ("pixel", "nm", "nm")


def test_reader_without_a_pixel_size_leaves_napari_defaults(tmp_path):
    path = tmp_path / "plain.tif"
    write_em(path, np.zeros((5, 6), np.uint8))
    [(_, meta, _)] = read_layers(path)
    assert meta["scale"] == (1.0, 1.0)
    assert "units" not in meta


def test_reader_claims_the_em_formats_only(tmp_path):
    for name in ("a.mrc", "a.MRCS", "a.tiff", "a.dm3", "a.dm4", "a.ser", "a.emi", "a.emd"):
        assert get_reader(str(tmp_path / name)) is read
    for name in ("a.png", "a.npy", "a.txt", "a.zarr"):
        assert get_reader(str(tmp_path / name)) is None
    assert get_reader([str(tmp_path / "a.mrc"), str(tmp_path / "b.tif")]) is read
    assert get_reader([str(tmp_path / "a.mrc"), str(tmp_path / "b.png")]) is None


def test_reader_shows_a_bad_file_as_a_notification_and_adds_nothing(tmp_path, notices):
    broken = tmp_path / "broken.mrc"
    broken.write_bytes(b"not an MRC file at all")
    assert read(str(broken)) == NO_LAYERS
    assert len(notices) == 1 and str(broken) in notices[0]


def test_reader_of_several_files_reads_the_good_ones(tmp_path, notices):
    good = tmp_path / "good.mrc"
    write_em(good, np.ones((4, 4), np.float32), pixel_size=PIXEL)
    missing = tmp_path / "missing.mrc"
    layers = read([str(good), str(missing)])
    assert [meta["name"] for _, meta, _ in layers] == ["good"]
    assert notices == [f"{missing}: no such file"]


# -------------------------------------------------------------------------------------------- writer


@pytest.mark.parametrize("suffix", [".mrc", ".tif"])
def test_writer_round_trip_keeps_pixel_size_and_values(tmp_path, suffix):
    data = np.random.default_rng(1).normal(size=(3, 7, 6)).astype(np.float32)
    path = tmp_path / f"out{suffix}"
    meta = {"name": "maps", "scale": (1.0, 0.25, 0.5), "units": ("pixel", "nanometer", "nanometer")}
    assert write_layer(path, data, meta) == [str(path)]
    back = read_em(path)
    np.testing.assert_array_equal(back.data, data)
    assert back.pixel_size == pytest.approx(PIXEL)


def test_writer_and_reader_round_trip_a_layer(tmp_path):
    data = np.arange(30, dtype=np.uint16).reshape(5, 6)
    path = tmp_path / "layer.tif"
    write_layer(path, data, {"scale": (0.3, 0.3), "units": ("nm", "nm")})
    [(back, meta, _)] = read_layers(path)
    np.testing.assert_array_equal(back, data)
    assert meta["scale"] == pytest.approx((0.3, 0.3))


def test_writer_without_a_scale_writes_no_pixel_size(tmp_path):
    path = tmp_path / "plain.mrc"
    write_layer(path, np.zeros((4, 4), np.float32), {"scale": (1.0, 1.0)})
    assert read_em(path).pixel_size is None


@pytest.mark.parametrize(
    ("suffix", "data", "dtype"),
    [
        (".mrc", np.array([[0, 255]], np.uint8), np.int16),
        (".mrc", np.array([[0, 100]], np.uint8), np.int16),  # by the dtype, not the values present
        (".mrc", np.array([[-3, 100]], np.int64), np.int8),  # no stored dtype holds int64: the values decide
        (".mrc", np.array([[0.5, 1.5]], np.float64), np.float32),
        (".mrc", np.array([[0, 70000]], np.int64), np.float32),
        (".mrc", np.array([[True, False]]), np.int8),
        (".tif", np.array([[0, 255]], np.uint8), np.uint8),
        (".tif", np.array([[0, 70000]], np.int64), np.int32),
        (".tif", np.array([[0.5, 1.5]], np.float16), np.float32),
    ],
)
def test_writer_stores_a_dtype_the_format_holds(tmp_path, suffix, data, dtype):
    path = tmp_path / f"x{suffix}"
    assert stored_dtype(path, data) == dtype
    write_layer(path, np.tile(data, (2, 1)), {"scale": (1.0, 1.0)})
    back = read_em(path).data
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, np.tile(data, (2, 1)).astype(dtype))


@pytest.mark.parametrize(
    ("name", "data", "meta", "message"),
    [
        ("x.png", np.zeros((4, 4)), {}, "writes .mrc, .mrcs, .tif, .tiff files, not '.png'"),
        ("x.mrc", np.zeros((4, 4, 3)), {"name": "photo", "rgb": True}, "layer 'photo' is an RGB(A) image"),
        ("x.tif", np.zeros((2, 2, 4, 4)), {"name": "movie"}, "layer 'movie' has 4 dimensions (shape (2, 2, 4, 4))"),
        ("x.tif", np.zeros((4, 4), complex), {"name": "fft"}, "layer 'fft' holds complex128 data"),
        ("x.tif", np.zeros((4, 4)), {"multiscale": True, "name": "big"}, "layer 'big' is multiscale"),
        # reliability_turn3.md R9: 2147483653 was written as 2147483648.0; a 2-furlong pixel as 2 nm
        (
            "x.mrc",
            np.array([[2**31 + 5, 1]], np.uint32),
            {"name": "counts"},
            "layer 'counts' holds uint32 values up to 2147483653, beyond the 16777216 up to which float32, the "
            "widest dtype .mrc stores them as, keeps every integer; write a .tif",
        ),
        (
            "x.mrc",
            np.zeros((4, 4)),
            {"name": "field", "scale": (2.0, 2.0), "units": ("furlong", "furlong")},
            "layer 'field': unit 'furlong' is neither a length (nm, Å, µm, ...) nor pixels",
        ),
    ],
)
def test_writer_refuses_what_it_cannot_write_with_a_notification(tmp_path, notices, name, data, meta, message):
    path = tmp_path / name
    with pytest.raises(ValueError) as caught:
        write_layer(path, data, meta)
    assert message in str(caught.value)
    assert write(str(path), data, meta) == []
    assert len(notices) == 1 and message in notices[0]
    assert not path.exists()


@pytest.mark.parametrize("suffix", [".mrc", ".tif"])
def test_writer_writes_nan_and_inf_which_the_formats_store(tmp_path, suffix):
    """reliability_turn3.md R9: a layer with NaN (a mask, say) was refused."""
    import mrcfile
    import tifffile

    data = np.array([[np.nan, 1.0], [np.inf, -2.0]], np.float32)
    path = tmp_path / f"masked{suffix}"
    assert write_layer(path, data, {"scale": (1.0, 1.0)}) == [str(path)]
    if suffix == ".mrc":
        with mrcfile.open(path) as mrc:
            back = np.array(mrc.data)
    else:
        back = tifffile.imread(path)
    np.testing.assert_array_equal(back, data)


def test_writer_keeps_integers_a_wider_format_holds(tmp_path):
    path = tmp_path / "counts.tif"
    data = np.array([[2**31 + 5, 1]], np.uint32)
    write_layer(path, data, {})
    np.testing.assert_array_equal(read_em(path).data, data)


def test_writer_names_a_missing_folder(tmp_path, notices):
    path = tmp_path / "nowhere" / "x.mrc"
    assert write(str(path), np.zeros((4, 4), np.float32), {}) == []
    assert notices == [f"{path}: folder {path.parent} does not exist"]


# ------------------------------------------------------------------------------------------- samples


def test_sample_slice_is_the_bundled_image():
    [(data, meta, kind)] = sarscov2_slice()
    assert kind == "image" and data.shape == (928, 960) and data.dtype == np.uint8
    assert meta["name"] == "SARS-CoV-2 cryo-ET slice" and meta["scale"] == (1.0, 1.0)


def test_sample_crop_lies_where_it_is_in_the_slice():
    [(crop, meta, _)] = sarscov2_crop()
    assert crop.shape == (CROP_SIZE, CROP_SIZE) and crop.dtype == np.uint8
    row, col = (int(t) for t in meta["translate"])
    np.testing.assert_array_equal(sarscov2().data[row : row + CROP_SIZE, col : col + CROP_SIZE], crop)


def test_sample_simulated_virus_is_the_demos_image_with_its_truth_hidden():
    truth, noisy = simulated_virus_image()
    clean, expected = simulated_virus(256, seed=0)
    np.testing.assert_array_equal(noisy[0], expected)
    np.testing.assert_array_equal(truth[0], clean)
    assert truth[1]["visible"] is False and noisy[1]["name"] == "simulated virus (noisy)"


# ------------------------------------------------------------------------------------------ the runs


def test_frames_run_in_view_first_then_in_order():
    assert frame_order(5, 2) == [2, 0, 1, 3, 4]
    assert frame_order(3, 0) == [0, 1, 2]
    assert frame_order(3, 9) == [2, 0, 1]  # clipped into the stack
    stack = LayerImage(np.zeros((4, 8, 8)), "s", (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), current_frame=1)
    assert frames_to_run(stack, TINY) == [1, 0, 2, 3]
    assert frames_to_run(stack, replace(TINY, frames="current")) == [1]
    image = LayerImage(np.zeros((8, 8)), "i", (1.0, 1.0), (0.0, 0.0))
    assert frames_to_run(image, TINY) == [0]


def test_a_run_adds_float32_layers_named_after_the_input_with_its_geometry():
    image = LayerImage(small_image(), "virus", (0.25, 0.5), (10.0, -4.0), units=("nanometer", "nanometer"))
    seen: list[Progress] = []
    outcome = denoise_layer(image, replace(TINY, maps=MAPS), progress=seen.append)
    assert [meta["name"] for _, meta, _ in outcome.layers] == layer_names("virus", MAPS)
    assert layer_names("virus", MAPS) == [
        "virus denoised",
        "virus variance",
        "virus relief",
        "virus detail",
        "virus skewness",
    ]
    for data, meta, kind in outcome.layers:
        assert kind == "image"
        assert data.dtype == np.float32 and data.shape == (24, 24)
        assert np.isfinite(data).all()
        assert meta["scale"] == (0.25, 0.5) and meta["translate"] == (10.0, -4.0)
        assert meta["units"] == ("nanometer", "nanometer")
        assert meta["metadata"]["zeroshot"]["noise_sigma"] == {0: outcome.frames[0].noise_sigma}
        assert meta["metadata"]["zeroshot"]["frames"] == [0]
    assert list(outcome.frames[0].maps) == list(MAPS)
    assert [p.epoch for p in seen] == [1, 2] and {p.total for p in seen} == {2}
    assert "learned noise σ =" in outcome.summary() and "; noise " in outcome.summary()


def test_a_run_equals_zeroshot_denoise():
    import zeroshot

    frame = small_image()
    image = LayerImage(frame, "virus", (1.0, 1.0), (0.0, 0.0))
    outcome = denoise_layer(image, replace(TINY, maps=("denoised", "variance")))
    direct = zeroshot.denoise(frame, **denoise_kwargs(replace(TINY, maps=("denoised", "variance"))))
    [(denoised, _, _), (variance, _, _)] = outcome.layers
    np.testing.assert_array_equal(denoised, direct.denoised.astype(np.float32))
    assert direct.variance is not None
    np.testing.assert_array_equal(variance, direct.variance.astype(np.float32))
    assert outcome.frames[0].noise_sigma == direct.noise_sigma
    assert outcome.frames[0].config == direct.config


def test_a_run_with_a_model_file_equals_zeroshot_denoise_with_that_model(tmp_path):
    import zeroshot

    frame = small_image()
    path = tmp_path / "model.npz"
    zeroshot.train(frame, n_latents=8, n_states=4, epochs=2, patch_size=4, threads=1).save(path)
    options = replace(TINY, model_file=str(path), latents=512, epochs=99)  # the model fixes these; not used
    kwargs = denoise_kwargs(options)
    assert "config" not in kwargs and kwargs["model"].config.n_latents == 8
    outcome = denoise_layer(LayerImage(frame, "virus", (1.0, 1.0), (0.0, 0.0)), options)
    direct = zeroshot.denoise(frame, model=path, seed=TINY.seed, n_states=TINY.states, threads=1)
    [(denoised, _, _)] = outcome.layers
    np.testing.assert_array_equal(denoised, direct.denoised.astype(np.float32))


def test_a_stack_runs_frame_by_frame_in_view_first_and_keeps_frame_order():
    frames = np.stack([small_image(seed=k) for k in range(3)])
    image = LayerImage(frames, "stack", (2.0, 0.5, 0.5), (0.0, 1.0, 1.0), current_frame=2)
    seen: list[Progress] = []
    options = replace(TINY, maps=("denoised", "variance"), one_model=False)
    outcome = denoise_layer(image, options, progress=seen.append)
    assert list(outcome.frames) == [2, 0, 1]
    assert [(p.frame, p.position, p.epoch) for p in seen] == [
        (k, i, e) for i, k in enumerate([2, 0, 1]) for e in (1, 2)
    ]
    assert [p.done for p in seen] == [1, 2, 3, 4, 5, 6] and seen[-1].total == 6
    for data, meta, _ in outcome.layers:
        assert data.shape == (3, 24, 24) and data.dtype == np.float32
        assert meta["scale"] == (2.0, 0.5, 0.5) and meta["translate"] == (0.0, 1.0, 1.0)
    denoised = outcome.layers[0][0]
    for k in range(3):  # each frame its own run, in its own place
        single = denoise_layer(LayerImage(frames[k], "f", (1.0, 1.0), (0.0, 0.0)), TINY)
        np.testing.assert_array_equal(denoised[k], single.layers[0][0])


def test_the_frame_in_view_decides_the_noise_model_of_the_stack():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:48, :48]
    clean = 40 * (0.2 + 0.4 * ((x // 10) % 2) + 0.3 * ((y // 13) % 2))
    counts, white = rng.poisson(clean), np.rint(20 + clean + 3 * rng.standard_normal(clean.shape))
    image = LayerImage(np.stack([white, counts]).astype(np.float32), "stack", (1.0,) * 3, (0.0,) * 3, current_frame=1)
    for options in (TINY, replace(TINY, one_model=False)):
        outcome = denoise_layer(image, options)
        assert list(outcome.frames) == [1, 0]
        assert all(str(frame.noise).startswith("poisson: ") for frame in outcome.frames.values())


def test_a_stack_is_denoised_with_one_model_by_default():
    frames = np.stack([small_image(seed=k) for k in range(3)]).astype(np.float32)
    image = LayerImage(frames, "stack", (1.0,) * 3, (0.0,) * 3, current_frame=1)
    seen: list[Progress] = []
    outcome = denoise_layer(image, TINY, progress=seen.append)
    assert list(outcome.frames) == [1, 0, 2]
    assert [(p.position, p.n_frames, p.epoch) for p in seen] == [(0, 1, 1), (0, 1, 2), (0, 3, 2), (1, 3, 2), (2, 3, 2)]
    assert len({frame.noise_sigma for frame in outcome.frames.values()}) == 1
    config = denoise_kwargs(TINY)["config"]
    volume = zeroshot.denoise_volume(frames, config=config, threads=1)  # the API's volume: the same
    assert volume.denoised is not None
    np.testing.assert_array_equal(outcome.layers[0][0], volume.denoised)


def test_the_frame_in_view_alone_is_placed_at_its_frame():
    frames = np.stack([small_image(seed=k) for k in range(3)])
    image = LayerImage(frames, "stack", (2.0, 1.0, 1.0), (5.0, 0.0, 0.0), current_frame=1)
    outcome = denoise_layer(image, replace(TINY, frames="current"))
    [(data, meta, _)] = outcome.layers
    assert list(outcome.frames) == [1]
    assert data.shape == (1, 24, 24)
    assert meta["translate"] == (7.0, 0.0, 0.0)


def test_cancelling_stops_after_the_current_epoch_and_makes_no_layer():
    seen: list[Progress] = []
    with pytest.raises(Cancelled, match="after epoch 1 of 50"):
        denoise_layer(
            LayerImage(small_image(), "virus", (1.0, 1.0), (0.0, 0.0)),
            replace(TINY, epochs=50),
            progress=seen.append,
            cancelled=lambda: bool(seen),
        )
    assert [p.epoch for p in seen] == [1]


def test_cancelling_a_stack_between_frames_makes_no_layer():
    frames = np.stack([small_image(seed=k) for k in range(3)])
    seen: list[Progress] = []
    with pytest.raises(Cancelled):
        denoise_layer(
            LayerImage(frames, "stack", (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
            replace(TINY, one_model=False),
            progress=seen.append,
            cancelled=lambda: len(seen) >= 2,  # asked after the last epoch of the first frame
        )
    assert {p.frame for p in seen} == {0}


def test_a_multiscale_layer_is_a_clear_value_error():
    image = LayerImage([np.zeros((8, 8)), np.zeros((4, 4))], "pyramid", (1.0, 1.0), (0.0, 0.0), multiscale=True)
    with pytest.raises(ValueError, match="layer 'pyramid' is multiscale"):
        denoise_layer(image, TINY)


@pytest.mark.parametrize(
    ("data", "rgb", "message"),
    [
        (np.zeros((2, 2, 8, 8)), False, "layer 'bad' has 4 dimensions (shape (2, 2, 8, 8))"),
        (np.zeros((8, 8, 3)), True, "layer 'bad' is an RGB(A) image of shape (8, 8, 3)"),
        (np.zeros((8, 8), complex), False, "layer 'bad' holds complex128 data"),
        (np.zeros((3, 3)), False, "layer 'bad': image of shape (3, 3) is smaller than the patch size 4"),
        (np.full((8, 8), np.nan), False, "layer 'bad': image contains NaN or Inf (first at pixel (0, 0))"),
        (np.zeros((2, 3, 3)), False, "layer 'bad' frame 0: image of shape (3, 3) is smaller than the patch size 4"),
    ],
)
def test_bad_layers_are_clear_value_errors(data, rgb, message):
    image = LayerImage(data, "bad", (1.0,) * data.ndim, (0.0,) * data.ndim, rgb=rgb)
    with pytest.raises(ValueError) as caught:
        denoise_layer(image, TINY)
    assert message in str(caught.value)


def test_manifest_lists_the_reader_and_writer_suffixes():
    text = (Path(_reader.__file__).parent / "napari.yaml").read_text(encoding="utf-8")
    assert all(f'"*{suffix}"' in text for suffix in _reader.READ_SUFFIXES)
    assert all(f'"{suffix}"' in text for suffix in _writer.WRITE_SUFFIXES)
