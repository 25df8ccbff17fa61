"""The Wiener pass after the model (zeroshot.patches.wiener, zeroshot.pipeline.second_pass)."""

from __future__ import annotations

import numpy as np
import pytest

import zeroshot
from noise_images import clean, correlated_noise, true_acf
from zeroshot import _core
from zeroshot.noise import NoiseACF, noise_covariance
from zeroshot.patches.wiener import dct_1d, dct_basis, patch_window, wiener_pass


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


def wiener_by_definition(noisy, pilot, noise_var, starts_r, starts_c, P):
    """The module docstring's formula, patch by patch with the full 2-D basis."""
    basis, window = dct_basis(P), patch_window(P)
    out, weight = np.zeros_like(noisy), np.zeros_like(noisy)
    for r in starts_r:
        for c in starts_c:
            y = basis @ noisy[r : r + P, c : c + P].ravel()
            p = basis @ pilot[r : r + P, c : c + P].ravel()
            shrink = p**2 / (p**2 + noise_var)
            shrink[0] = 0.0
            w = 1.0 / np.sum(shrink**2 * noise_var)
            estimate = basis.T @ (y * shrink) + p[0] * basis[0]
            out[r : r + P, c : c + P] += w * window * estimate.reshape(P, P)
            weight[r : r + P, c : c + P] += w * window
    return np.divide(out, weight, out=np.full_like(out, np.nan), where=weight > 0)


@pytest.mark.parametrize("P", [16, 5])
def test_the_core_filter_is_the_formula_at_any_thread_count(P):
    rng = np.random.default_rng(3)
    noisy = clean((41, 37)) + rng.standard_normal((41, 37))
    pilot = noisy + 0.3 * rng.standard_normal(noisy.shape)
    noise_var = rng.uniform(0.5, 2.0, P * P)
    rows, cols = np.array([0, 3, 7, 41 - P]), np.array([0, 4, 37 - P])
    expected = wiener_by_definition(noisy, pilot, noise_var, rows, cols, P)
    args = (noisy, pilot, dct_1d(P), noise_var, patch_window(P), rows, cols)
    before = _core.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            _core.set_num_threads(threads)
            results.append(_core.wiener_filter(*args))
    finally:
        _core.set_num_threads(before)
    covered = np.zeros(noisy.shape, bool)
    for r in rows:
        for c in cols:
            covered[r : r + P, c : c + P] = True
    np.testing.assert_allclose(results[0][covered], expected[covered], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(results[0][~covered], pilot[~covered])  # no patch: the pilot's value
    assert all(np.array_equal(results[0], other) for other in results[1:])


def test_the_core_filter_refuses_bad_input_by_name():
    P, image = 4, np.zeros((8, 8))
    good = {
        "noisy": image,
        "pilot": image,
        "dct": dct_1d(P),
        "noise_var": np.ones(P * P),
        "window": patch_window(P),
        "row_starts": np.array([0, 4]),
        "col_starts": np.array([0, 4]),
    }
    cases = [
        ({"pilot": np.zeros((8, 7))}, "pilot has shape"),
        ({"noisy": np.zeros(8)}, "noisy has shape"),
        ({"dct": np.eye(65)}, r"dct must be \(P, P\)"),
        ({"noise_var": np.zeros(P * P)}, "noise_var must be positive"),
        ({"noise_var": np.ones(3)}, "noise_var has shape"),
        ({"window": -np.ones((P, P))}, "window must be non-negative"),
        ({"noisy": np.full((8, 8), np.nan)}, "noisy contains NaN or Inf"),
        ({"noise_var": np.full(P * P, np.inf)}, "noise_var contains NaN or Inf"),
        ({"row_starts": np.array([5])}, r"row_starts must lie in \[0, 4\]"),
        ({"col_starts": np.array([], dtype=np.int64)}, "col_starts must hold at least one"),
        ({"noisy": np.zeros((3, 8)), "pilot": np.zeros((3, 8))}, "smaller than the patches"),
        ({"noisy": np.array([["a"] * 8] * 8)}, "noisy must be a real numeric array"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            _core.wiener_filter(**{**good, **change})


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
