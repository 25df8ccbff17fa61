"""The SSSC model through the Python layer: EM, parameter recovery, thread independence, denoising."""

import itertools
from dataclasses import replace

import numpy as np
import pytest

from zeroshot.config import EvoConfig
from zeroshot.denoise import denoise, thread_count
from zeroshot.models import SSSC, SSSCParams
from zeroshot.variational.em import EMTrainer
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates

D_TRUE, H_TRUE = 9, 3


def sssc_data(rng, N, W, pi, mu, psi, sigma):
    s = rng.random((N, W.shape[1])) < pi
    z = mu + np.sqrt(psi) * rng.standard_normal((N, W.shape[1]))
    return (s * z) @ W.T + sigma * rng.standard_normal((N, W.shape[0]))


def true_params():
    W = np.zeros((D_TRUE, H_TRUE))
    W[0:3, 0] = 1.0  # three non-overlapping 3-pixel strokes
    W[3:6, 1] = 1.0
    W[6:9, 2] = 1.0
    return W, np.array([0.2, 0.3, 0.25]), np.array([3.0, 2.0, 4.0]), np.array([0.5, 0.3, 1.0]), 0.5


def test_parameters_of_a_known_sssc_are_recovered():
    W, pi, mu, psi, sigma = true_params()
    rng = np.random.default_rng(0)
    Y = sssc_data(rng, 4000, W, pi, mu, psi, sigma)
    all_bits = np.array(list(itertools.product([0, 1], repeat=H_TRUE)), dtype=np.uint8)
    states = TruncatedStates.from_bits(np.broadcast_to(all_bits, (Y.shape[0], 8, H_TRUE)).copy())
    model = SSSC.from_data(Y, H_TRUE, seed=1)
    with thread_count(1):
        model, history = EMTrainer(EvoEStep(EvoConfig(), seed=0)).fit(model, Y, states, 150)
    F = [h.free_energy for h in history]
    assert np.all(np.diff(F) >= -1e-9 * np.abs(F[:-1]))
    p = model.params
    # Match learned to true latents by the effective mean contribution W_h mu_h (sign and scale of W
    # against mu are not identifiable separately).
    learned = p.W * p.mu
    truth = W * mu
    C = np.corrcoef(np.hstack([truth, learned]).T)[:H_TRUE, H_TRUE:]
    match = np.argmax(np.abs(C), axis=1)
    assert sorted(match) == [0, 1, 2], f"latents not matched one to one: {C.round(3)}"
    assert np.all(np.abs(C[np.arange(H_TRUE), match]) > 0.98)
    np.testing.assert_allclose(learned[:, match], truth, atol=0.25)
    np.testing.assert_allclose(p.pi[match], pi, atol=0.03)
    # Slab variance relative to the squared mean is invariant to rescaling W against z.
    np.testing.assert_allclose(p.psi[match] / p.mu[match] ** 2, psi / mu**2, rtol=0.3)
    assert np.sqrt(p.sigma2) == pytest.approx(sigma, rel=0.05)


def test_em_does_not_depend_on_the_thread_count():
    W, pi, mu, psi, sigma = true_params()
    Y = sssc_data(np.random.default_rng(2), 2500, W, pi, mu, psi, sigma)
    results = []
    for threads in (1, 2):
        model = SSSC.from_data(Y, 5, seed=0)
        states = TruncatedStates.random(Y.shape[0], 5, 6, 0.2, seed=0)
        with thread_count(threads):
            model, history = EMTrainer(EvoEStep(EvoConfig(n_children=2), seed=0)).fit(model, Y, states, 3)
        results.append((model.params, states.K.copy(), [h.free_energy for h in history]))
    (p1, K1, F1), (p2, K2, F2) = results
    assert F1 == F2
    np.testing.assert_array_equal(K1, K2)
    for name in ("W", "pi", "mu", "psi"):
        np.testing.assert_array_equal(getattr(p1, name), getattr(p2, name))
    assert p1.sigma2 == p2.sigma2


def test_denoise_with_es3c_improves_psnr():
    rng = np.random.default_rng(5)
    r, c = np.mgrid[:48, :48]
    clean = 100.0 * ((r // 12 + c // 16) % 2) + 50.0 * (r > 30)
    noisy = clean + 25.0 * rng.standard_normal(clean.shape)
    result = denoise(noisy, model="es3c", patch_size=5, n_latents=16, n_states=16, epochs=10, threads=1)

    def psnr(x):
        return 10 * np.log10(255.0**2 / np.mean((x - clean) ** 2))

    assert np.all(np.isfinite(result.denoised))
    assert psnr(result.denoised) > psnr(noisy) + 6
    assert result.noise_sigma == pytest.approx(25.0, rel=0.25)


def test_denoise_with_es3c_gives_a_variance_map():
    rng = np.random.default_rng(7)
    r, c = np.mgrid[:32, :32]
    clean = 80.0 * ((r // 8 + c // 8) % 2)
    noisy = clean + 20.0 * rng.standard_normal(clean.shape)
    options = {"model": "es3c", "patch_size": 4, "n_latents": 8, "n_states": 8, "epochs": 3, "threads": 1}
    result = denoise(noisy, moments=2, **options)
    assert result.variance is not None and result.variance.shape == noisy.shape
    assert np.all(np.isfinite(result.variance)) and np.all(result.variance >= 0)
    assert np.max(result.variance) > 0
    # The variance is an extra output: the denoised image does not change.
    np.testing.assert_array_equal(result.denoised, denoise(noisy, **options).denoised)


def test_bad_sssc_parameters_are_value_errors():
    W, pi, mu, psi, sigma = true_params()
    with pytest.raises(ValueError, match="psi"):
        SSSCParams(W, pi, mu, np.array([0.5, 0.0, 1.0]), sigma**2)
    with pytest.raises(ValueError, match="mu"):
        SSSCParams(W, pi, np.array([1.0, np.nan, 1.0]), psi, sigma**2)


def test_es3c_after_bsc_pretraining():
    """bsc_pretrain_epochs BSC epochs, then SSSC from the BSC: one history, epochs numbered on."""
    rng = np.random.default_rng(6)
    r, c = np.mgrid[:40, :40]
    clean = 80.0 * ((r // 10 + c // 10) % 2)
    noisy = clean + 20.0 * rng.standard_normal(clean.shape)
    result = denoise(
        noisy, model="es3c", patch_size=4, n_latents=12, n_states=12, epochs=4, bsc_pretrain_epochs=3, threads=1
    )
    assert [h.epoch for h in result.history] == list(range(7))
    assert isinstance(result.model, SSSC)
    assert np.mean((result.denoised - clean) ** 2) < 0.25 * np.mean((noisy - clean) ** 2)


def test_es3c_named_in_the_options_brings_its_own_defaults():
    from zeroshot.config import DenoiseConfig
    from zeroshot.models.family import FAMILIES
    from zeroshot.noise import bsc_patch_size, choose_patch_size, es3c_patch_size

    rng = np.random.default_rng(8)
    r, c = np.mgrid[:40, :40]
    noisy = 100.0 * ((r // 10 + c // 10) % 2) + 60.0 * rng.standard_normal((40, 40))
    result = denoise(noisy, model="es3c", n_latents=6, n_states=6, epochs=1, threads=1)
    expected = DenoiseConfig.for_model("es3c", n_latents=6, n_states=6, epochs=1)
    assert result.config == replace(
        expected, patch_size=choose_patch_size(noisy, es3c_patch_size), max_train_patches=262144
    )
    assert (
        result.config.patch_size
        == choose_patch_size(noisy, es3c_patch_size)
        != choose_patch_size(noisy, bsc_patch_size)
    )
    for model, family in FAMILIES.items():
        config = DenoiseConfig.for_model(model)
        assert config.model == model and all(getattr(config, k) == v for k, v in family.defaults.items())
