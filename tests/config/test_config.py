"""DenoiseConfig: the values a user may set, and the ones refused with a message naming them."""

from __future__ import annotations

import numpy as np
import pytest

import zeroshot
from zeroshot.config import MAX_SEED, DenoiseConfig


def test_numpy_integers_are_accepted_as_python_ints():
    # reliability.md D18: np.int64(16) was refused with "must be an integer >= 1, got np.int64(16)"
    config = DenoiseConfig(
        n_latents=np.int64(16),
        n_states=np.int32(4),
        seed=np.uint64(3),
        chunk_patches=np.int64(100),
        patch_size=np.int16(5),
        max_train_patches=np.int64(200),
        epochs=np.uint8(2),
    )
    assert (config.n_latents, config.n_states, config.seed, config.chunk_patches) == (16, 4, 3, 100)
    assert all(type(v) is int for v in (config.n_latents, config.seed, config.patch_size, config.epochs))


def test_denoise_takes_numpy_integers():
    image = np.random.default_rng(0).normal(100, 10, (24, 24))
    result = zeroshot.denoise(
        image,
        n_latents=np.int64(8),
        n_states=np.int32(4),
        epochs=np.int64(2),
        patch_size=np.int64(4),
        threads=np.int64(1),
        seed=np.uint64(3),
    )
    reference = zeroshot.denoise(image, n_latents=8, n_states=4, epochs=2, patch_size=4, threads=1, seed=3)
    np.testing.assert_array_equal(result.denoised, reference.denoised)


@pytest.mark.parametrize("value", [True, np.bool_(True), 16.0, "16", np.float64(16)])
def test_non_integers_are_refused(value):
    with pytest.raises(ValueError, match="n_latents must be an integer >= 1"):
        DenoiseConfig(n_latents=value)


@pytest.mark.parametrize("seed", [MAX_SEED + 1, 2**64 - 1, 2**64, 10**30])
def test_seeds_beyond_the_core_range_are_refused_when_set(seed):
    # reliability.md D10: 2**64 - 1 trained fully, then failed in inference with a pybind11 TypeError
    with pytest.raises(ValueError, match=r"seed must be at most 2\*\*63 - 1"):
        DenoiseConfig(seed=seed)


def test_the_largest_seed_runs():
    image = np.random.default_rng(1).normal(0, 1, (16, 16))
    result = zeroshot.denoise(image, n_latents=4, n_states=2, epochs=1, patch_size=4, threads=1, seed=MAX_SEED)
    assert np.all(np.isfinite(result.denoised))


def test_inference_epochs_are_bounded():
    """A model file's inference_epochs of 10^7 ran on silently (reliability_turn3.md R6); 1 and 10 give the same
    result (RESULTS.md), so 100 is a generous bound."""
    assert DenoiseConfig(inference_epochs=100).inference_epochs == 100
    with pytest.raises(ValueError, match=r"inference_epochs must be at most 100 .*, got 10000000"):
        DenoiseConfig(inference_epochs=10**7)


def test_max_train_patches_auto_depends_on_the_route():
    from zeroshot.config import AUTO_TRAIN_PATCHES, WIENER_TRAIN_PATCHES, training_patch_limit
    from zeroshot.noise import CorrelatedNoise, PoissonNoise, WhiteNoise

    auto = DenoiseConfig()
    correlated = CorrelatedNoise("auto", "correlated")
    assert auto.max_train_patches == "auto"
    assert training_patch_limit(auto, WhiteNoise("auto", "white")) == AUTO_TRAIN_PATCHES
    assert training_patch_limit(auto, PoissonNoise("auto", "poisson")) == AUTO_TRAIN_PATCHES
    assert training_patch_limit(auto, None) == AUTO_TRAIN_PATCHES  # not decided yet: the larger
    assert training_patch_limit(auto, correlated) == WIENER_TRAIN_PATCHES
    assert training_patch_limit(DenoiseConfig(second_pass="none"), correlated) == AUTO_TRAIN_PATCHES
    assert training_patch_limit(DenoiseConfig(max_train_patches=1000), correlated) == 1000
    assert training_patch_limit(DenoiseConfig(max_train_patches=None), correlated) is None
    with pytest.raises(ValueError, match="max_train_patches must be an integer >= 1, got 'all'"):
        DenoiseConfig(max_train_patches="all")
