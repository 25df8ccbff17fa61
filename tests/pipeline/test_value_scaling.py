"""The image's value scaling (`zeroshot.pipeline.scaling`): there and back, and images whose moment maps
cannot be represented are refused before any work (reliability.md D11)."""

from __future__ import annotations

import numpy as np
import pytest

import zeroshot
from zeroshot.pipeline.scaling import ImageScaling

TINY = {"patch_size": 4, "n_latents": 8, "n_states": 4, "epochs": 2, "threads": 1}


def test_there_and_back_is_the_identity_up_to_rounding():
    image = np.random.default_rng(0).normal(1e4, 50.0, (20, 30))
    scaled = image.copy()
    scaling = ImageScaling.normalise(scaled)
    assert abs(scaled.mean()) < 1e-9 and scaled.std() == pytest.approx(1.0)
    np.testing.assert_allclose(scaling.to_input(scaled), image, rtol=1e-12)


def test_a_constant_image_keeps_a_unit_scale():
    scaled = np.zeros((8, 8))
    scaling = ImageScaling.normalise(scaled)
    assert (scaling.peak, scaling.scale_unit) == (1.0, 1.0)


@pytest.mark.parametrize("moments", [2, 3])
def test_moment_maps_that_would_overflow_are_refused_before_training(moments):
    image = np.random.default_rng(1).normal(0.0, 1.0, (24, 24))
    image[5, 7] = 1e300  # reliability.md D11: the maps came back with inf, silently
    calls = []
    with pytest.raises(ValueError, match=r"largest magnitude 1e\+300 is too large for posterior moments"):
        zeroshot.denoise(image, moments=moments, callback=calls.append, **TINY)
    assert calls == []  # refused before the first epoch


def test_huge_values_still_denoise_and_small_maps_stay_finite():
    image = np.random.default_rng(2).normal(0.0, 1.0, (24, 24))
    assert np.all(np.isfinite(zeroshot.denoise(image * 1e300, **TINY).denoised))
    result = zeroshot.denoise(image * 1e90, moments=3, **TINY)
    assert result.moments is not None and result.moments.third is not None
    assert all(np.all(np.isfinite(m)) for m in (result.denoised, result.moments.variance, result.moments.third))


@pytest.mark.parametrize("image", [np.random.default_rng(1).normal(1e4, 50.0, (20, 30)), np.zeros((8, 8))])
def test_apply_maps_the_image_of_the_scaling_bitwise_as_normalise(image):
    """A trained model maps new images by its training scaling: `apply` repeats normalise's operations."""
    normalised, applied = image.copy(), image.copy()
    scaling = ImageScaling.normalise(normalised)
    np.testing.assert_array_equal(scaling.apply(applied, of="the test image"), normalised)
    other = 3.0 * image + 7.0
    np.testing.assert_array_equal(
        scaling.apply(other.copy(), of="the test image"),
        (other / scaling.peak - scaling.offset_unit) / scaling.scale_unit,
    )


def test_apply_refuses_values_beyond_what_its_scale_can_compute_with():
    """Values 1e300 on the scale of an image of values near 1 (reliability_turn3.md R6, R7): refused before any
    change, rather than failing in the core with "W contains NaN or Inf"."""
    scaling = ImageScaling.normalise(np.random.default_rng(3).normal(1.0, 0.1, (16, 16)))
    other = np.full((8, 8), 1e300)
    with pytest.raises(ValueError, match=r"values up to 1e\+300 do not fit the value scaling of the first image"):
        scaling.apply(other, of="the first image")
    assert np.all(other == 1e300)
    assert np.all(np.isfinite(scaling.apply(np.full((8, 8), 1e100), of="the first image")))
