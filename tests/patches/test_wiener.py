"""The Wiener pass after the model (zeroshot.patches.wiener, zeroshot.pipeline.second_pass)."""

from __future__ import annotations

import numpy as np
import pytest

import zeroshot
from noise_images import clean, correlated_noise, true_acf
from zeroshot.noise import NoiseACF, noise_covariance
from zeroshot.patches.wiener import dct_basis, wiener_pass


def test_dct_basis_is_orthonormal():
    basis = dct_basis(8)
    np.testing.assert_allclose(basis @ basis.T, np.eye(64), atol=1e-12)
    np.testing.assert_allclose(basis[0], np.full(64, 1 / 8))


def test_wiener_with_the_clean_pilot_beats_the_pilot_free_estimates():
    """Given the clean image as pilot and the true noise covariance, the pass removes most of the noise; its
    result does not depend on the image's offset."""
    shape = (96, 112)
    truth = clean(shape)
    noisy = truth + correlated_noise(shape, 10.0, np.random.default_rng(0))
    cov = noise_covariance(NoiseACF(true_acf(shape, 10.0, 15), 0, 0), 16)
    out = wiener_pass(noisy, truth, cov)
    assert np.sqrt(np.mean((out - truth) ** 2)) < 0.3 * np.sqrt(np.mean((noisy - truth) ** 2))
    shifted = wiener_pass(noisy - 100.0, truth - 100.0, cov)
    np.testing.assert_allclose(shifted + 100.0, out, atol=1e-9)


def test_no_noise_gives_the_image_back_with_the_pilots_means_and_small_images_the_pilot():
    y = clean((40, 48))
    np.testing.assert_allclose(wiener_pass(y, y + 1.0, np.eye(256) * 1e-20), y + 1.0, atol=1e-6)
    small = np.arange(150.0).reshape(10, 15)
    np.testing.assert_array_equal(wiener_pass(small, small * 0.5, np.eye(256)), small * 0.5)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="one shape"):
        wiener_pass(np.zeros((32, 32)), np.zeros((32, 31)), np.eye(256))
    with pytest.raises(ValueError, match=r"must be \(256, 256\)"):
        wiener_pass(np.zeros((32, 32)), np.zeros((32, 32)), np.eye(64))


SMALL = {"n_latents": 8, "n_states": 4, "epochs": 3, "patch_size": 4, "seed": 0}


def test_denoise_runs_the_pass_for_correlated_noise_only():
    rng = np.random.default_rng(1)
    truth = clean((64, 64))
    noisy = truth + correlated_noise((64, 64), 10.0, rng)
    plain = zeroshot.denoise(noisy, threads=1, second_pass="none", **SMALL)
    sharpened = zeroshot.denoise(noisy, threads=1, **SMALL)
    assert sharpened.noise is not None and sharpened.noise.kind == "correlated"
    assert not np.array_equal(plain.denoised, sharpened.denoised)
    assert np.all(np.isfinite(sharpened.denoised))
    white = truth + 10.0 * rng.standard_normal((64, 64))
    a = zeroshot.denoise(white, threads=1, noise="white", **SMALL)
    b = zeroshot.denoise(white, threads=1, noise="white", second_pass="none", **SMALL)
    np.testing.assert_array_equal(a.denoised, b.denoised)
    with pytest.raises(ValueError, match=r"second_pass must be one of \('wiener', 'none'\)"):
        zeroshot.denoise(noisy, second_pass="bm3d")


def test_the_run_records_the_training_patches_it_chose():
    rng = np.random.default_rng(2)
    truth = clean((64, 64))
    correlated = zeroshot.denoise(truth + correlated_noise((64, 64), 10.0, rng), threads=1, **SMALL)
    white = zeroshot.denoise(truth + 10.0 * rng.standard_normal((64, 64)), threads=1, noise="white", **SMALL)
    assert correlated.config.max_train_patches == 32768
    assert white.config.max_train_patches == 262144
