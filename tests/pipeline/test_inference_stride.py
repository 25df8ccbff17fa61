"""Inference on a strided grid (`inference_stride`) and with fewer fresh states (`inference_states`): what "auto"
chooses, that a stride keeps the result close to every patch's, pads and crops to the image, works over ranks, and
is refused beyond the patch size."""

from __future__ import annotations

import numpy as np
import pytest

import zeroshot
from noise_images import clean, correlated_noise
from thread_comm import run_ranks
from zeroshot.config import DenoiseConfig
from zeroshot.metrics import psnr
from zeroshot.noise import decide_noise
from zeroshot.pipeline.env import RunEnv
from zeroshot.pipeline.run import prepare

FAST = {"n_latents": 16, "n_states": 12, "epochs": 3, "patch_size": 5}


def _run(image: np.ndarray, moments: int = 1, **options: object):
    config = DenoiseConfig(**{**FAST, **options})
    run, _ = prepare(image, config, RunEnv(threads=1, checkpoint_every=1), moments=moments)
    return run


def _correlated(shape=(61, 67)) -> np.ndarray:
    return clean(shape) + correlated_noise(shape, 12.0, np.random.default_rng(3))


def _white(shape=(61, 67)) -> np.ndarray:
    return clean(shape) + 12.0 * np.random.default_rng(4).standard_normal(shape)


def test_auto_strides_where_the_wiener_pass_follows_and_no_moment_maps_are_asked():
    image = _correlated()
    assert decide_noise(image, "auto").kind == "correlated"
    strided = _run(image, noise="correlated")
    assert strided.inference_grid.stride == 3 and strided.strided
    assert strided.inference_grid.shape == (62, 68)  # padded: 61 - 5 and 67 - 5 made multiples of 3
    assert _run(image, moments=2, noise="correlated").inference_grid.stride == 1  # √variance loses 3 dB at 3
    assert _run(image, noise="correlated", second_pass="none").inference_grid.stride == 1
    assert _run(_white(), noise="white").inference_grid.stride == 1
    assert _run(image, noise="correlated", patch_size=2).inference_grid.stride == 2  # at most P
    assert _run(_white(), noise="white", inference_stride=2).inference_grid.stride == 2


def test_auto_states_are_fewer_only_where_inference_starts_afresh():
    image = _white()
    assert _run(image, max_train_patches=None).inference_states == 12  # the training states go on
    assert _run(image, max_train_patches=500).inference_states == 10  # BSC's fresh_inference_states
    assert _run(image, max_train_patches=None, inference_stride=2).inference_states == 10
    assert _run(image, max_train_patches=500, n_states=6).inference_states == 6
    assert _run(image, max_train_patches=500, inference_states=4).inference_states == 4
    assert _run(image, model="es3c", max_train_patches=500).inference_states == 12  # unmeasured: unchanged


def test_a_stride_keeps_the_result_close_to_every_patch():
    """Where "auto" strides (correlated noise, the Wiener pass after), the result stays within 0.5 dB."""
    truth = clean((96, 112))
    noisy = truth + correlated_noise(truth.shape, 12.0, np.random.default_rng(3))
    options = {**FAST, "noise": "correlated", "seed": 1, "threads": 1}
    every = zeroshot.denoise(noisy, inference_stride=1, **options).denoised
    strided = zeroshot.denoise(noisy, **options).denoised  # auto: 3
    assert strided.shape == noisy.shape and np.isfinite(strided).all()
    assert not np.array_equal(strided, every)
    assert psnr(truth, strided, 255.0) > psnr(truth, every, 255.0) - 0.5
    assert psnr(truth, strided, 255.0) > psnr(truth, noisy, 255.0) + 5.0


def test_a_stride_with_moment_maps_crops_them_to_the_image():
    result = zeroshot.denoise(_white(), moments=3, noise="white", inference_stride=3, threads=1, **FAST)
    assert result.moments is not None and result.moments.third is not None
    for values in (result.denoised, result.moments.variance, result.moments.third):
        assert values.shape == (61, 67) and np.isfinite(values).all()


def test_two_ranks_give_one_ranks_strided_result():
    image = _correlated()
    options = {**FAST, "noise": "correlated", "inference_stride": 3, "seed": 2, "threads": 1}
    one = zeroshot.denoise(image, **options).denoised
    two = run_ranks(2, lambda comm: zeroshot.denoise(image, comm=comm, **options).denoised)
    # the ranks' sums of the training statistics: equal to rounding, as at stride 1
    np.testing.assert_allclose(two[0], one, rtol=1e-10)
    np.testing.assert_array_equal(two[1], two[0])


def test_a_stride_beyond_the_patch_size_is_refused():
    with pytest.raises(ValueError, match=r"inference_stride 6 is larger than the patch size P = 5"):
        zeroshot.denoise(_white(), inference_stride=6, **FAST)
    for bad in (0, -1, 2.5, "fast"):
        with pytest.raises(ValueError, match=r"inference_stride must be an integer >= 1"):
            DenoiseConfig(inference_stride=bad)
        with pytest.raises(ValueError, match=r"inference_states must be an integer >= 1"):
            DenoiseConfig(inference_states=bad)
