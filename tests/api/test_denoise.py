"""The denoising pipeline `zeroshot.denoise.denoise` on small synthetic images."""

from __future__ import annotations

import numpy as np
import pytest

from zeroshot.config import DenoiseConfig
from zeroshot.denoise import DenoiseResult, denoise, later_frames_config
from zeroshot.metrics import psnr

SIZE, NOISE_SIGMA = 48, 25.0
FAST = {"patch_size": 5, "n_latents": 16, "n_states": 16, "epochs": 10, "threads": 1}


def blocks(size: int = SIZE) -> np.ndarray:
    """Piecewise-constant rectangles on the 0-255 scale: a plaid of 12-px columns and 16-px rows
    (four grey levels 40, 100, 120, 180; every patch is a sum of one horizontal and one vertical edge)."""
    y, x = np.mgrid[:size, :size]
    return 40.0 + 80.0 * ((x // 12) % 2) + 60.0 * ((y // 16) % 2)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return blocks()


@pytest.fixture(scope="module")
def noisy(clean) -> np.ndarray:
    return clean + NOISE_SIGMA * np.random.default_rng(0).standard_normal(clean.shape)


@pytest.fixture(scope="module")
def result(noisy) -> DenoiseResult:
    return denoise(noisy, **FAST)


def check_output(result: DenoiseResult, image: np.ndarray) -> None:
    assert isinstance(result.denoised, np.ndarray)
    assert result.denoised.shape == image.shape
    assert result.denoised.dtype == np.float64
    assert np.all(np.isfinite(result.denoised))
    assert np.isfinite(result.noise_sigma) and result.noise_sigma >= 0


def test_denoise_improves_psnr_and_estimates_sigma(clean, noisy, result):
    check_output(result, noisy)
    before = psnr(clean, noisy, data_range=255.0)
    after = psnr(clean, result.denoised, data_range=255.0)
    assert after > before + 6.0, f"PSNR {before:.2f} dB -> {after:.2f} dB"
    assert result.noise_sigma == pytest.approx(NOISE_SIGMA, rel=0.25)
    # The history: one entry per epoch, F per epoch, never decreasing by more than rounding.
    assert len(result.history) == FAST["epochs"] == len(result.free_energy)
    F = np.array(result.free_energy)
    assert np.all(np.isfinite(F))
    assert np.all(np.diff(F) >= -1e-12 * np.abs(F[1:]))
    assert F[-1] > F[0]


def test_denoise_does_not_modify_its_input(noisy):
    copy = noisy.copy()
    denoise(noisy, **{**FAST, "epochs": 2})
    np.testing.assert_array_equal(noisy, copy)


def test_denoise_keeps_the_value_scale(clean):
    # Same image shifted and scaled: the estimate shifts and scales with it (pixel scaling is undone).
    noisy = clean + NOISE_SIGMA * np.random.default_rng(3).standard_normal(clean.shape)
    a = denoise(noisy, **FAST)
    b = denoise(1000.0 + 0.01 * noisy, **FAST)
    np.testing.assert_allclose(b.denoised, 1000.0 + 0.01 * a.denoised, rtol=0, atol=1e-6)
    assert b.noise_sigma == pytest.approx(0.01 * a.noise_sigma, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.int32])
def test_denoise_accepts_integer_and_float_dtypes(clean, dtype):
    noisy = np.clip(clean + 10.0 * np.random.default_rng(1).standard_normal(clean.shape), 0, 255)
    image = np.rint(noisy).astype(dtype)
    out = denoise(image, **{**FAST, "epochs": 3})
    check_output(out, image)
    assert abs(out.denoised.mean() - image.astype(np.float64).mean()) < 2.0


@pytest.mark.parametrize("value", [0.0, 7.5, -3.0e4])
def test_constant_image_returns_itself(value):
    image = np.full((20, 23), value)
    out = denoise(image, patch_size=5, n_latents=8, n_states=8, epochs=3)
    check_output(out, image)
    np.testing.assert_allclose(out.denoised, image, rtol=0, atol=1e-9 * max(1.0, abs(value)))
    assert out.noise_sigma < 1e-3 * max(1.0, abs(value))


def test_subset_training_with_chunked_inference(clean, noisy, result):
    n_patches = (SIZE - FAST["patch_size"] + 1) ** 2  # 1936
    out = denoise(noisy, **FAST, max_train_patches=500, chunk_patches=500)
    assert n_patches > 500
    check_output(out, noisy)
    before = psnr(clean, noisy, data_range=255.0)
    after = psnr(clean, out.denoised, data_range=255.0)
    assert after > before + 6.0, f"PSNR {before:.2f} dB -> {after:.2f} dB"
    # Within 1.5 dB of training on all patches.
    assert after > psnr(clean, result.denoised, data_range=255.0) - 1.5
    assert out.noise_sigma == pytest.approx(NOISE_SIGMA, rel=0.25)


def test_chunking_alone_does_not_change_the_result(noisy):
    # Training on all patches, inference in chunks: the same numbers as one chunk (random streams are keyed
    # by the global patch index, and the chunks only bound memory).
    whole = denoise(noisy, **FAST)
    chunked = denoise(noisy, **FAST, chunk_patches=333)
    np.testing.assert_allclose(chunked.denoised, whole.denoised, rtol=0, atol=1e-9)
    assert chunked.noise_sigma == pytest.approx(whole.noise_sigma, rel=1e-12)


@pytest.mark.parametrize("subset", [None, 500], ids=["all-patches", "subset"])
def test_deterministic_for_a_seed(noisy, subset):
    options = dict(FAST, max_train_patches=subset, chunk_patches=500, seed=7)
    a = denoise(noisy, **options)
    b = denoise(noisy, **options)
    np.testing.assert_array_equal(a.denoised, b.denoised)
    assert a.noise_sigma == b.noise_sigma
    assert a.free_energy == b.free_energy
    # ... and the seed matters.
    c = denoise(noisy, **{**options, "seed": 8})
    assert not np.array_equal(a.denoised, c.denoised)


def test_result_does_not_depend_on_the_thread_count(noisy):
    one = denoise(noisy, **{**FAST, "threads": 1})
    two = denoise(noisy, **{**FAST, "threads": 2})
    default = denoise(noisy, **{**FAST, "threads": None})
    np.testing.assert_array_equal(one.denoised, two.denoised)
    np.testing.assert_array_equal(one.denoised, default.denoised)


@pytest.mark.parametrize("merge", ["median", "gaussian"])
def test_other_merge_methods_denoise_too(clean, noisy, merge):
    out = denoise(noisy, **FAST, merge=merge)
    check_output(out, noisy)
    assert psnr(clean, out.denoised, data_range=255.0) > psnr(clean, noisy, data_range=255.0) + 6.0


def test_variance_map(noisy):
    out = denoise(noisy, **FAST, moments=2)
    assert out.variance is not None and out.moments is not None
    assert out.variance.shape == noisy.shape
    assert np.all(np.isfinite(out.variance))
    assert np.all(out.variance >= 0)
    np.testing.assert_allclose(out.variance, out.moments.within + out.moments.between, rtol=1e-12)
    assert out.moments.third is None and out.moments.skewness is None
    # The mixture mean of the covering patches is the mean-merged denoised image.
    np.testing.assert_allclose(out.moments.mean, out.denoised, rtol=1e-10, atol=1e-8)
    plain = denoise(noisy, **FAST)
    assert plain.variance is None and plain.moments is None
    np.testing.assert_array_equal(plain.denoised, out.denoised)


def test_third_moment_and_skewness(noisy):
    out = denoise(noisy, **FAST, moments=3)
    assert out.moments is not None and out.moments.skewness is not None and out.moments.third is not None
    assert np.all(np.isfinite(out.moments.skewness)) and np.all(np.isfinite(out.moments.third))
    assert np.any(out.moments.skewness != 0)


def test_variance_ignores_an_added_constant(noisy):
    # Patches are centred and the image standardised: an offset is absorbed before the model sees it.
    base = denoise(noisy, **FAST, moments=2)
    shifted = denoise(noisy + 1000.0, **FAST, moments=2)
    np.testing.assert_allclose(shifted.variance, base.variance, rtol=1e-6, atol=1e-6 * base.variance.max())
    np.testing.assert_allclose(shifted.denoised - 1000.0, base.denoised, atol=1e-6)


def test_variance_scales_with_the_square_of_the_values(noisy):
    base = denoise(noisy, **FAST, moments=3)
    scaled = denoise(noisy * 3.0, **FAST, moments=3)
    np.testing.assert_allclose(scaled.variance, 9.0 * base.variance, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(scaled.moments.skewness, base.moments.skewness, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [0, 4, 2.5])
def test_bad_moments_order(noisy, bad):
    with pytest.raises(ValueError, match="moments must be"):
        denoise(noisy, **FAST, moments=bad)


# ---- bad inputs: ValueError with a message that says what is wrong ----

GOOD = np.random.default_rng(5).standard_normal((16, 16))


def nan_image() -> np.ndarray:
    image = GOOD.copy()
    image[3, 4] = np.nan
    return image


def inf_image() -> np.ndarray:
    image = GOOD.copy()
    image[0, 7] = -np.inf
    return image


@pytest.mark.parametrize(
    "image, options, message",
    [
        (nan_image(), {}, r"NaN or Inf.*\(3, 4\)"),
        (inf_image(), {}, r"NaN or Inf.*\(0, 7\)"),
        (np.zeros((4, 40)), {"patch_size": 5}, r"smaller than the patch size 5"),
        (np.zeros((40, 7)), {"patch_size": 8}, r"smaller than the patch size 8"),
        (np.zeros((0, 0)), {}, r"empty"),
        (np.zeros((0, 16)), {}, r"empty"),
        (np.zeros((16, 16, 3)), {}, r"2-D.*\(16, 16, 3\).*colour"),
        (np.zeros(64), {}, r"2-D"),
        (np.zeros((16, 16), dtype=complex), {}, r"real numeric dtype"),
        (np.zeros((16, 16), dtype=object), {}, r"real numeric dtype"),
        (GOOD, {"patch_size": 0}, r"patch_size must be an integer >= 1, got 0"),
        (GOOD, {"n_latents": 3, "n_states": 9}, r"n_states S = 9 exceeds the 2\^H = 8"),
        (GOOD, {"model": "nonsense"}, r"model must be one of .*'nonsense'"),
        (GOOD, {"epochs": -1}, r"epochs must be an integer >= 0, got -1"),
        (GOOD, {"merge": "max"}, r"merge must be one of"),
        (GOOD, {"max_train_patches": 0}, r"max_train_patches"),
        (GOOD, {"chunk_patches": 0}, r"chunk_patches"),
        (GOOD, {"seed": -2}, r"seed"),
        (GOOD, {"threads": 0}, r"threads must be a positive integer"),
    ],
    ids=[
        "nan",
        "inf",
        "too-short",
        "too-narrow",
        "empty",
        "empty-rows",
        "rgb",
        "1-d",
        "complex",
        "object",
        "patch-size-0",
        "S>2^H",
        "unknown-model",
        "negative-epochs",
        "unknown-merge",
        "no-train-patches",
        "chunk-0",
        "negative-seed",
        "threads-0",
    ],
)
def test_bad_input_raises_value_error(image, options, message):
    with pytest.raises(ValueError, match=message):
        denoise(
            image,
            **{
                "patch_size": 4,
                "n_latents": 4,
                "n_states": 4,
                "epochs": 1,
                "threads": 1,
                **options,
            },
        )


def test_unknown_option_is_rejected():
    with pytest.raises(ValueError, match="no_such_option"):
        denoise(GOOD, no_such_option=1)


@pytest.mark.parametrize("magnitude", [1e-300, 1e300])
def test_extreme_value_scales_give_finite_results(clean, magnitude):
    # Pixel statistics must not overflow or underflow: float64 images near the ends of the range.
    noisy = clean + NOISE_SIGMA * np.random.default_rng(4).standard_normal(clean.shape)
    reference = denoise(noisy, **{**FAST, "epochs": 3})
    out = denoise(noisy * magnitude, **{**FAST, "epochs": 3})
    check_output(out, noisy)
    np.testing.assert_allclose(out.denoised / magnitude, reference.denoised, rtol=1e-6, atol=1e-6)
    assert out.noise_sigma / magnitude == pytest.approx(reference.noise_sigma, rel=1e-6)


def test_the_later_frames_of_a_stack_ask_for_the_noise_kind_the_first_frame_decided():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:48, :48]
    counts = rng.poisson(40 * (0.2 + 0.4 * ((x // 10) % 2) + 0.3 * ((y // 13) % 2))).astype(np.float64)
    first = denoise(counts, n_latents=8, n_states=4, epochs=1, patch_size=4, threads=1)
    assert first.noise is not None and (first.noise.kind, first.noise.asked) == ("poisson", "auto")
    auto = DenoiseConfig(noise="auto")
    assert later_frames_config(auto, first).noise == "poisson"
    assert later_frames_config(DenoiseConfig(noise="white"), first).noise == "white"  # asked for: kept
    pmm = denoise(counts, model="pmm", n_latents=4, n_states=2, epochs=1, patch_size=4, threads=1)
    assert later_frames_config(DenoiseConfig.for_model("pmm"), pmm).noise == "auto"  # pmm models counts itself
