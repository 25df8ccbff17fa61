"""The Poisson mixture model: its kernels against tests/support/reference_pmm.py, exact EM, threads, recovery, and
the pipeline on Poisson counts."""

import json
import os
import signal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_pmm as ref
import zeroshot
from thread_comm import run_ranks
from zeroshot import _core
from zeroshot.cli.main import main
from zeroshot.config import DenoiseConfig
from zeroshot.models.pmm import PMM, PMMParams
from zeroshot.runtime.interrupt import TrainingInterrupted
from zeroshot.variational.components import ComponentStates
from zeroshot.variational.em import EMTrainer
from zeroshot.variational.topk import TopKEStep


def random_pmm(seed, C, D):
    rng = np.random.default_rng(seed)
    Lambda = rng.uniform(0.05, 8.0, size=(C, D))
    pi = rng.uniform(0.2, 1.0, size=C)
    return PMM(PMMParams(Lambda, pi / pi.sum()))


def sample(model, N, seed):
    rng = np.random.default_rng(seed)
    z = rng.choice(model.C, size=N, p=model.pi)
    return rng.poisson(model.Lambda[z]).astype(np.float64), z


def estep(model, Y, S, block_rows=4096):
    states = ComponentStates.empty(Y.shape[0], model.C, S)
    TopKEStep(block_rows).update(model, Y, states, 0)
    return states


SHAPES = {"seed": st.integers(0, 2**32 - 1), "N": st.integers(1, 12), "D": st.integers(1, 7), "C": st.integers(1, 6)}


@settings(max_examples=40, deadline=None)
@given(**SHAPES, data=st.data())
def test_kernels_match_the_reference(seed, N, D, C, data):
    S = data.draw(st.integers(1, C))
    model = random_pmm(seed, C, D)
    Y, _ = sample(model, N, seed + 1)
    Y[0, 0] += 0.5  # non-integer counts are allowed: lgamma(y + 1)
    lj = ref.log_joints(Y, model.Lambda, model.pi)
    np.testing.assert_allclose(model.log_joints(Y), lj, rtol=1e-12, atol=1e-10)

    states = estep(model, Y, S, block_rows=data.draw(st.integers(1, 5)))
    K, lpj = ref.top_s(lj, S)
    np.testing.assert_allclose(states.lpj, lpj, rtol=1e-12, atol=1e-10)
    # The same sets (the order of exact ties aside, which rounding may break either way).
    assert all(set(a) == set(b) for a, b in zip(states.K.tolist(), K.tolist()))
    np.testing.assert_allclose(model.log_pseudo_joint(Y, states), states.lpj, rtol=1e-12, atol=1e-10)

    stats = model.accumulate(Y, states)
    q_sum, qy, F = ref.statistics(Y, states.K, states.lpj, C)
    np.testing.assert_allclose(stats[:C], q_sum, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stats[C:-1].reshape(C, D), qy, rtol=1e-10, atol=1e-9)
    assert model.free_energy(stats) == pytest.approx(F, rel=1e-12, abs=1e-9)

    new = model.m_step(stats)
    Lambda, pi = ref.m_step(stats[:C], stats[C:-1].reshape(C, D), model.Lambda)
    np.testing.assert_allclose(new.Lambda, Lambda, rtol=1e-12)
    np.testing.assert_allclose(new.pi, pi, rtol=1e-12)

    for order in (1, 2, 3):
        m = model.posterior_moments(states, order=order)
        mean, var, third = ref.moments(model.Lambda, states.K, states.lpj)
        np.testing.assert_allclose(m.mean, mean, rtol=1e-10, atol=1e-12)
        assert (m.variance is None) == (order < 2) and (m.third is None) == (order < 3)
        if order >= 2:
            np.testing.assert_allclose(m.variance, var, rtol=1e-8, atol=1e-10)
        if order == 3:
            np.testing.assert_allclose(m.third, third, rtol=1e-8, atol=1e-10)


def test_replaced_counts_new_components():
    model = random_pmm(3, 6, 4)
    Y, _ = sample(model, 50, 4)
    states = ComponentStates.empty(50, 6, 3)
    estep_ = TopKEStep()
    assert estep_.update(model, Y, states, 0) == 150  # every component is new at first
    assert estep_.update(model, Y, states, 1) == 0  # the same parameters keep the same sets


def test_exact_em_equals_the_likelihood_and_never_decreases():
    truth = random_pmm(7, 4, 9)
    Y, _ = sample(truth, 400, 8)
    model = PMM.from_data(Y, 4, seed=1)
    states = ComponentStates.empty(Y.shape[0], 4, 4)  # S = C: the truncation keeps everything
    logs = []
    trainer = EMTrainer(TopKEStep(), callback=logs.append)
    for _ in range(20):
        before = model
        model, _ = trainer.fit(model, Y, states, 1, first_epoch=len(logs))
        # F of the epoch is the log-likelihood under the parameters the E-step used.
        assert logs[-1].free_energy == pytest.approx(ref.log_likelihood(Y, before.Lambda, before.pi), rel=1e-12)
    F = [log.free_energy for log in logs]
    assert all(b >= a - 1e-9 * abs(a) for a, b in zip(F, F[1:]))


def test_one_and_two_threads_are_bitwise_equal():
    truth = random_pmm(11, 30, 16)
    Y, _ = sample(truth, 5000, 12)
    model = PMM.from_data(Y, 30, seed=2)
    results = []
    for threads in (1, 2):
        _core.set_num_threads(threads)
        try:
            states = ComponentStates.empty(Y.shape[0], 30, 5)
            trained, history = EMTrainer(TopKEStep()).fit(model, Y, states, 3)
            m = trained.posterior_moments(states, order=3)
        finally:
            _core.set_num_threads(1)
        results.append((trained.Lambda, trained.pi, states.K, states.lpj, m.mean, m.variance, m.third, history))
    for a, b in zip(results[0][:7], results[1][:7]):
        assert np.array_equal(a, b)
    assert [h.free_energy for h in results[0][7]] == [h.free_energy for h in results[1][7]]


def test_parameters_are_recovered():
    rng = np.random.default_rng(5)
    C, D = 3, 16
    Lambda = np.stack([np.full(D, 1.0), np.full(D, 5.0), np.where(np.arange(D) < D // 2, 0.5, 9.0)])
    truth = PMM(PMMParams(Lambda, np.array([0.5, 0.3, 0.2])))
    Y, _ = sample(truth, 6000, int(rng.integers(1000)))
    model = PMM.from_data(Y, C, seed=0)
    model, _ = EMTrainer(TopKEStep()).fit(model, Y, ComponentStates.empty(Y.shape[0], C, C), 30)
    order = np.argsort(model.Lambda.mean(axis=1))
    np.testing.assert_allclose(model.Lambda[order], Lambda[[0, 2, 1]], atol=0.25)
    np.testing.assert_allclose(model.pi[order], [0.5, 0.2, 0.3], atol=0.03)


def test_m_step_keeps_the_rates_of_a_component_without_mass():
    model = random_pmm(1, 3, 2)
    stats = np.zeros(3 + 6 + 1)
    stats[0], stats[3:5] = 2.0, [4.0, 6.0]  # two patches, all on component 0
    new = model.m_step(stats)
    np.testing.assert_allclose(new.Lambda[0], [2.0, 3.0])
    np.testing.assert_array_equal(new.Lambda[1:], model.Lambda[1:])
    assert np.all(new.pi > 0) and new.pi.sum() == pytest.approx(1.0)


def test_params_and_states_are_checked():
    with pytest.raises(ValueError, match="positive"):
        PMMParams(np.zeros((2, 3)), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="sum to 1"):
        PMMParams(np.ones((2, 3)), np.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="int32"):
        ComponentStates(np.zeros((2, 2), dtype=np.int64), np.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match="S = 4"):
        ComponentStates.empty(2, 3, 4)


def test_core_refuses_bad_arguments():
    Y = np.ones((4, 3))
    G, off = np.zeros((4, 5)), np.zeros(5)
    K, lpj = np.zeros((4, 2), dtype=np.int32), np.zeros((4, 2))
    with pytest.raises(ValueError, match="non-negative"):
        _core.pmm_select(G, off, -Y, K, lpj)
    with pytest.raises(ValueError, match="G has shape"):
        _core.pmm_select(np.zeros((3, 5)), off, Y, K, lpj)
    with pytest.raises(ValueError, match="int32"):
        _core.pmm_select(G, off, Y, K.astype(np.int64), lpj)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.pmm_select(G, off, Y, np.zeros((2, 4), dtype=np.int32).T, lpj)
    with pytest.raises(ValueError, match="between 1 and C"):
        _core.pmm_select(G, off, Y, np.zeros((4, 6), dtype=np.int32), np.zeros((4, 6)))
    with pytest.raises(ValueError, match="NaN"):
        _core.pmm_select(np.full((4, 5), np.nan), off, Y, K, lpj)
    K[:, 1] = 1
    with pytest.raises(ValueError, match="outside"):
        _core.pmm_accumulate(Y, K, lpj, 1)
    with pytest.raises(ValueError, match="twice"):
        _core.pmm_accumulate(Y, np.zeros((4, 2), dtype=np.int32), lpj, 3)
    with pytest.raises(ValueError, match="int32"):
        _core.pmm_accumulate(Y, K.astype(np.float64), lpj, 3)
    with pytest.raises(ValueError, match="lpj"):
        _core.pmm_accumulate(Y, K, np.zeros((4, 3)), 3)
    with pytest.raises(ValueError, match="order"):
        _core.pmm_posterior_moments(np.ones((3, 3)), K, lpj, 4)
    with pytest.raises(ValueError, match="Lambda"):
        _core.pmm_posterior_moments(np.ones(3), K, lpj)


def two_levels(peak=4.0, size=48, seed=0):
    """Poisson counts of a two-level image (rates peak / 4 and peak) and its rates."""
    rate = np.full((size, size), peak / 4)
    rate[:, size // 2 :] = peak
    rate[size // 4 : size // 2, size // 4 : size // 2] = peak
    return np.random.default_rng(seed).poisson(rate).astype(np.float32), rate


FAST_PMM = {"n_latents": 24, "n_states": 4, "epochs": 10}


def psnr(x, rate, peak=4.0):
    return 10 * np.log10(peak**2 / np.mean((x - rate) ** 2))


def test_denoise_poisson_counts_beats_the_input():
    noisy, rate = two_levels()
    result = zeroshot.denoise(noisy, model="pmm", moments=3, threads=1, **FAST_PMM)
    assert result.config.center_patches is False and result.config.patch_size == 6
    assert result.noise is not None and result.noise.kind == "poisson-native"
    assert psnr(result.denoised, rate) > psnr(noisy, rate) + 6
    assert result.moments is not None and np.all(result.moments.variance >= 0)
    F = result.free_energy
    assert len(F) == 10 and all(b >= a - 1e-9 * abs(a) for a, b in zip(F, F[1:]))
    assert result.noise_sigma == pytest.approx(np.sqrt(result.model.sigma2))


def test_denoise_with_a_subset_and_chunks_equals_itself_and_is_deterministic():
    noisy, _ = two_levels(size=32)
    a = zeroshot.denoise(noisy, model="pmm", max_train_patches=300, chunk_patches=100, threads=1, **FAST_PMM)
    b = zeroshot.denoise(noisy, model="pmm", max_train_patches=300, chunk_patches=1000, threads=2, **FAST_PMM)
    assert np.array_equal(a.denoised, b.denoised)


def test_negative_values_are_refused():
    noisy, _ = two_levels(size=16)
    noisy[3, 5] = -1.0
    with pytest.raises(ValueError, match=r"non-negative counts.*negative values.*\(3, 5\)"):
        zeroshot.denoise(noisy, model="pmm", **FAST_PMM)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"noise": "white"}, "Poisson noise model itself"),
        ({"center_patches": True}, "center_patches must be False"),
        ({"n_latents": 3, "n_states": 4}, "S must be at most C"),
    ],
)
def test_config_refuses_what_pmm_cannot_do(options, message):
    with pytest.raises(ValueError, match=message):
        DenoiseConfig.for_model("pmm", **options)


@pytest.mark.parametrize("stop_after", [0, 3])
def test_stopped_and_resumed_equals_uninterrupted(tmp_path, stop_after):
    noisy, _ = two_levels(size=24)
    path, options = tmp_path / "run.ckpt", {"model": "pmm", "threads": 1, "moments": 2, **FAST_PMM}
    whole = zeroshot.denoise(noisy, **options)

    def interrupt(log):
        if log.epoch == stop_after:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted) as stopped:
        zeroshot.denoise(noisy, checkpoint=path, checkpoint_every=4, callback=interrupt, **options)
    assert stopped.value.epoch == stop_after + 2
    resumed = zeroshot.denoise(noisy, checkpoint=path, resume=True, **options)
    np.testing.assert_array_equal(resumed.denoised, whole.denoised)
    np.testing.assert_array_equal(resumed.variance, whole.variance)
    np.testing.assert_array_equal(resumed.model.Lambda, whole.model.Lambda)
    assert resumed.free_energy == whole.free_energy
    assert [h.n_replaced for h in resumed.history] == [h.n_replaced for h in whole.history]


def test_a_pmm_checkpoint_is_checked(tmp_path):
    noisy, _ = two_levels(size=16)
    path, options = tmp_path / "run.ckpt", {"model": "pmm", "threads": 1, **FAST_PMM}
    zeroshot.denoise(noisy, checkpoint=path, **options)
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["K"][0, 1] = arrays["K"][0, 0]
    np.savez(path.with_suffix(".npz"), **arrays)
    path.with_suffix(".npz").rename(path)
    with pytest.raises(ValueError, match="same component twice"):
        zeroshot.denoise(noisy, checkpoint=path, resume=True, **options)
    with pytest.raises(ValueError, match="another configuration"):
        zeroshot.denoise(noisy, checkpoint=path, resume=True, **{**options, "n_latents": 25})


def test_cli_denoises_a_npy_of_counts(tmp_path, capsys):
    noisy, rate = two_levels()
    src, out = tmp_path / "counts.npy", tmp_path / "out.npy"
    np.save(src, noisy)
    flags = ["--latents", "24", "--states", "4", "--epochs", "10", "--threads", "1"]
    assert main(["denoise", str(src), "-o", str(out), "--model", "pmm", *flags]) == 0
    denoised = np.load(out)
    assert denoised.shape == noisy.shape and psnr(denoised, rate) > psnr(noisy, rate) + 6
    record = json.loads((tmp_path / "out.npy.json").read_text())
    assert "pmm" in json.dumps(record)


@pytest.mark.parametrize("size", [2, 3])
def test_ranks_give_the_result_of_one_process(size):
    noisy, _ = two_levels(size=32)
    options = {"model": "pmm", "threads": 1, "moments": 2, **FAST_PMM}
    serial = zeroshot.denoise(noisy, **options)
    results = run_ranks(size, lambda comm: zeroshot.denoise(noisy, comm=comm, **options))
    for result in results:
        np.testing.assert_allclose(result.model.Lambda, serial.model.Lambda, rtol=1e-10)
        np.testing.assert_allclose(result.free_energy, serial.free_energy, rtol=1e-10)
        np.testing.assert_allclose(result.denoised, serial.denoised, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(result.variance, serial.variance, rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(results[1].denoised, results[0].denoised)


def test_memory_estimate_counts_the_log_joints_in_blocks():
    from zeroshot.runtime.memory import estimate_memory

    config = DenoiseConfig.for_model("pmm")
    estimate = estimate_memory((1024, 1024), config)
    assert estimate.phases["training"] < estimate_memory((1024, 1024), DenoiseConfig(n_latents=1000)).phases["training"]
    assert estimate.total < 2**31
