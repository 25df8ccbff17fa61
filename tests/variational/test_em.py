"""Truncated EM with BSC: F never decreases, parameters are recovered from data the model generated.

1. Exact EM at small H (S = 2^H, every state in every K_n): the F that `EMTrainer.fit` reports for an
   epoch equals the exact log-likelihood under the parameters *before* that epoch's M-step, computed
   here by brute force in numpy over all 2^H states; and F never decreases.
2. Truncated EM (S < 2^H) on the bars problem: F never decreases, and the true bars, pi and sigma are
   recovered.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroshot.config import EvoConfig
from zeroshot.denoise import thread_count
from zeroshot.models.bsc import BSC, BSCParams
from zeroshot.variational.em import EMTrainer
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates

# --------------------------------------------------------------------------------------------------
# Brute-force reference (the executable specification of the BSC likelihood)
# --------------------------------------------------------------------------------------------------


def all_states(H: int) -> np.ndarray:
    """(2^H, H) float64: every binary state, row i holds the bits of i."""
    return ((np.arange(2**H)[:, None] >> np.arange(H)[None, :]) & 1).astype(np.float64)


def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def exact_log_likelihoods(Y: np.ndarray, W: np.ndarray, pi: np.ndarray, sigma2: float) -> np.ndarray:
    """log sum_{s in {0,1}^H} Bernoulli(s; pi) N(y_n; W s, sigma2 I) per data point, by enumeration.
    Y (N, D) -> (N,)."""
    D, H = W.shape
    S = all_states(H)  # (2^H, H)
    log_prior = S @ np.log(pi) + (1.0 - S) @ np.log1p(-pi)  # (2^H,)
    residual = Y[:, None, :] - (S @ W.T)[None, :, :]  # (N, 2^H, D)
    log_lik = -0.5 * np.sum(residual**2, axis=-1) / sigma2 - 0.5 * D * np.log(2.0 * np.pi * sigma2)
    return logsumexp(log_lik + log_prior[None, :], axis=1)


def exact_log_likelihood(Y: np.ndarray, W: np.ndarray, pi: np.ndarray, sigma2: float) -> float:
    """log p(Y) = sum_n log p(y_n), by enumeration of all 2^H states."""
    return float(np.sum(exact_log_likelihoods(Y, W, pi, sigma2)))


def full_states(N: int, H: int, seed: int = 0) -> TruncatedStates:
    states = TruncatedStates.random(N, H, 2**H, 1.0 / max(H, 2), seed)
    bits = states.bits()
    # Precondition of the exact tests: every K_n holds all 2^H distinct states.
    codes = (bits.astype(np.int64) << np.arange(H)).sum(axis=-1)
    assert np.all(np.sort(codes, axis=1) == np.arange(2**H)[None, :])
    return states


def random_bsc(rng: np.random.Generator, D: int, H: int, shared_pi: bool) -> BSC:
    W = 2.0 * rng.standard_normal((D, H))
    pi = np.full(H, 0.3) if shared_pi else rng.uniform(0.1, 0.6, H)
    return BSC(BSCParams(W, pi, float(rng.uniform(0.5, 2.0))), shared_pi=shared_pi)


def bsc_data(rng: np.random.Generator, N: int, W: np.ndarray, pi: np.ndarray, sigma: float) -> np.ndarray:
    S = (rng.random((N, W.shape[1])) < pi).astype(np.float64)
    return S @ W.T + sigma * rng.standard_normal((N, W.shape[0]))


def run_epochs(model: BSC, Y: np.ndarray, states: TruncatedStates, epochs: int, evo: EvoConfig, seed: int = 0):
    """Epoch by epoch, keeping the parameters each epoch's F was computed under.
    Returns (final model, [F], [params before each epoch's M-step])."""
    trainer = EMTrainer(EvoEStep(evo, seed=seed))
    F, params = [], []
    for epoch in range(epochs):
        params.append(model.params)
        model, history = trainer.fit(model, Y, states, 1, first_epoch=epoch)
        assert len(history) == 1 and history[0].epoch == epoch
        F.append(history[0].free_energy)
    return model, F, params


def assert_non_decreasing(F, rtol: float) -> None:
    F = np.asarray(F)
    drops = F[:-1] - F[1:]
    allowed = rtol * np.abs(F[1:])
    assert np.all(drops <= allowed), (
        f"F decreased: largest drop {drops.max():.3e} at epoch {int(np.argmax(drops - allowed)) + 1} "
        f"(allowed {allowed[np.argmax(drops - allowed)]:.3e}); F = {F.tolist()}"
    )


# --------------------------------------------------------------------------------------------------
# The brute-force reference itself (so that agreement with it means something)
# --------------------------------------------------------------------------------------------------


def test_brute_force_reference_hand_case():
    # H = 1, D = 1, one data point: p(y) = (1 - pi) N(y; 0, s2) + pi N(y; w, s2).
    y, w, pi, s2 = 0.7, 1.5, 0.25, 0.8

    def gauss(m):
        return np.exp(-((y - m) ** 2) / (2 * s2)) / np.sqrt(2 * np.pi * s2)

    expected = np.log((1 - pi) * gauss(0.0) + pi * gauss(w))
    got = exact_log_likelihood(np.array([[y]]), np.array([[w]]), np.array([pi]), s2)
    assert got == pytest.approx(expected, rel=1e-14)


def test_brute_force_reference_is_a_density():
    # H = 2, D = 1: the likelihood integrates to one over y.
    W, pi, s2 = np.array([[1.0, -2.5]]), np.array([0.3, 0.6]), 0.5
    y = np.linspace(-12.0, 12.0, 24001)[:, None]
    density = np.exp(exact_log_likelihoods(y, W, pi, s2))
    integral = float(np.sum(density) * (y[1, 0] - y[0, 0]))  # the tails are below 1e-30
    assert integral == pytest.approx(1.0, abs=1e-9)


# --------------------------------------------------------------------------------------------------
# Exact EM (S = 2^H)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shared_pi", [False, True])
def test_exact_em_free_energy_is_the_log_likelihood_and_never_decreases(shared_pi):
    rng = np.random.default_rng(1)
    D, H, N = 6, 4, 300
    truth = random_bsc(rng, D, H, shared_pi=False)
    Y = bsc_data(rng, N, truth.params.W, truth.params.pi, np.sqrt(truth.sigma2))
    model = BSC.from_data(Y, H, seed=3, shared_pi=shared_pi)
    states = full_states(N, H)

    model, F, params = run_epochs(model, Y, states, 20, EvoConfig())

    exact = [exact_log_likelihood(Y, p.W, p.pi, p.sigma2) for p in params]
    np.testing.assert_allclose(F, exact, rtol=1e-10, atol=0)
    assert_non_decreasing(F, rtol=1e-9)
    # EM actually moved (otherwise monotonicity would be vacuous).
    assert F[-1] - F[0] > 1.0
    if shared_pi:
        assert np.all(model.params.pi == model.params.pi[0])
        assert all(np.all(p.pi == p.pi[0]) for p in params[1:])
    else:
        assert np.ptp(model.params.pi) > 1e-3


def test_exact_em_history_of_one_fit_call_matches_epoch_by_epoch():
    rng = np.random.default_rng(2)
    D, H, N = 5, 3, 120
    truth = random_bsc(rng, D, H, shared_pi=False)
    Y = bsc_data(rng, N, truth.params.W, truth.params.pi, 1.0)
    start = BSC.from_data(Y, H, seed=0)

    _, F_steps, params = run_epochs(start, Y, full_states(N, H), 8, EvoConfig())
    model, history = EMTrainer(EvoEStep(EvoConfig(), seed=0)).fit(start, Y, full_states(N, H), 8)

    assert [h.epoch for h in history] == list(range(8))
    np.testing.assert_allclose([h.free_energy for h in history], F_steps, rtol=1e-12)
    np.testing.assert_allclose([h.free_energy_per_patch for h in history], np.array(F_steps) / N, rtol=1e-12)
    # sigma in the log is the one after the M-step: that of the next epoch's parameters.
    np.testing.assert_allclose([h.sigma for h in history[:-1]], [np.sqrt(p.sigma2) for p in params[1:]], rtol=1e-12)
    assert history[-1].sigma == pytest.approx(np.sqrt(model.sigma2), rel=1e-12)
    # With all states in K_n there is nothing for the E-step to replace.
    assert all(h.n_replaced == 0 for h in history)


@settings(max_examples=25, deadline=None)
@given(
    D=st.integers(1, 6),
    H=st.integers(1, 4),
    extra=st.integers(0, 30),
    shared_pi=st.booleans(),
    evo=st.sampled_from([EvoConfig(), EvoConfig(mutation="randflip", n_children=1)]),
    seed=st.integers(0, 2**32 - 1),
)
def test_exact_em_property(D, H, extra, shared_pi, evo, seed):
    # Data from a BSC with sigma >= 0.5 and N > 2^H + H: the likelihood has no singular (sigma -> 0) optimum
    # within reach of 5 epochs. (With N = 1 EM drives sigma2 towards 0 and the fast form
    # ||y||^2 - 2 s^T W^T y + s^T W^T W s loses relative precision ~ eps ||y||^2 / sigma2.)
    rng = np.random.default_rng(seed)
    N = 2**H + H + 1 + extra
    truth = random_bsc(rng, D, H, shared_pi=False)
    Y = bsc_data(rng, N, truth.params.W, truth.params.pi, float(rng.uniform(0.5, 2.0)))
    model = random_bsc(rng, D, H, shared_pi)
    states = full_states(N, H, seed=seed % 1000)

    _, F, params = run_epochs(model, Y, states, 5, evo, seed=seed % 1000)

    exact = [exact_log_likelihood(Y, p.W, p.pi, p.sigma2) for p in params]
    np.testing.assert_allclose(F, exact, rtol=1e-10, atol=0)
    assert_non_decreasing(F, rtol=1e-9)


# --------------------------------------------------------------------------------------------------
# Bars (truncated, S < 2^H)
# --------------------------------------------------------------------------------------------------

GRID, AMPLITUDE, NOISE_SIGMA, N_BARS_DATA = 5, 10.0, 2.0, 2000
H_BARS = 2 * GRID
PI_BARS = 2.0 / H_BARS
S_BARS, EPOCHS_BARS = 20, 60
RESTARTS = range(8)  # EM restarts (seeds); the run of highest final F is kept


def bars_dictionary() -> np.ndarray:
    """W (GRID^2, 2 GRID): horizontal bars, then vertical bars, of height AMPLITUDE."""
    W = np.zeros((GRID, GRID, H_BARS))
    for i in range(GRID):
        W[i, :, i] = AMPLITUDE
        W[:, i, GRID + i] = AMPLITUDE
    return W.reshape(GRID * GRID, H_BARS)


def bars_data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return bsc_data(rng, N_BARS_DATA, bars_dictionary(), np.full(H_BARS, PI_BARS), NOISE_SIGMA)


def fit_bars(evo: EvoConfig, seed: int, Y: np.ndarray):
    model = BSC.from_data(Y, H_BARS, seed=seed)
    states = TruncatedStates.random(Y.shape[0], H_BARS, S_BARS, 1.0 / H_BARS, seed)
    # One thread: these small problems are fastest serial, and a busy machine does not slow them down.
    with thread_count(1):
        return EMTrainer(EvoEStep(evo, seed=seed)).fit(model, Y, states, EPOCHS_BARS)


def best_of_restarts(evo: EvoConfig):
    """EM from several initialisations (bars have local optima: about half the restarts merge two bars);
    model selection by the final free energy."""
    Y = bars_data()
    runs = [fit_bars(evo, seed, Y) for seed in RESTARTS]
    return Y, runs, max(runs, key=lambda run: run[1][-1].free_energy)


def bar_match(W: np.ndarray) -> np.ndarray:
    """For each true bar, the best correlation with any learned column (H,)."""
    truth = bars_dictionary()
    C = np.corrcoef(np.hstack([truth, W]).T)[:H_BARS, H_BARS:]
    return C.max(axis=1)


@pytest.fixture(scope="module")
def bars_default():
    return best_of_restarts(EvoConfig())


@pytest.fixture(scope="module")
def bars_randflip():
    return best_of_restarts(EvoConfig(mutation="randflip"))


def test_bars_truncated_free_energy_never_decreases(bars_default):
    _, runs, _ = bars_default
    for _, history in runs:
        assert_non_decreasing([h.free_energy for h in history], rtol=1e-12)


@pytest.mark.parametrize(
    "evo",
    [
        EvoConfig(mutation="randflip"),
        EvoConfig(selection="uniform"),
        EvoConfig(crossover=True, mutation="none"),
        EvoConfig(crossover=True, mutation="sparseflip", n_generations=2),
        EvoConfig(n_parents=2, n_children=1, n_generations=1),
    ],
    ids=["randflip", "uniform-sparseflip", "crossover", "crossover-sparseflip", "tiny"],
)
def test_bars_truncated_free_energy_never_decreases_for_each_evo_variant(evo):
    Y = bars_data()[:600]
    model = BSC.from_data(Y, H_BARS, seed=1)
    states = TruncatedStates.random(Y.shape[0], H_BARS, 8, 1.0 / H_BARS, 1)
    _, history = EMTrainer(EvoEStep(evo, seed=1)).fit(model, Y, states, 25)
    F = [h.free_energy for h in history]
    assert_non_decreasing(F, rtol=1e-12)
    assert F[-1] > F[0]


def test_em_does_not_depend_on_the_thread_count():
    Y = bars_data()[:500]
    histories = []
    for threads in (1, 2):
        model = BSC.from_data(Y, H_BARS, seed=0)
        states = TruncatedStates.random(Y.shape[0], H_BARS, S_BARS, 1.0 / H_BARS, 0)
        with thread_count(threads):
            model, history = EMTrainer(EvoEStep(EvoConfig(), seed=0)).fit(model, Y, states, 5)
        histories.append(([h.free_energy for h in history], [h.n_replaced for h in history], model.params.W))
    (F1, r1, W1), (F2, r2, W2) = histories
    assert r1 == r2
    np.testing.assert_allclose(F1, F2, rtol=1e-12)
    np.testing.assert_allclose(W1, W2, rtol=1e-10, atol=1e-10)


def test_bars_recovered_with_default_evo(bars_default):
    _, runs, (model, _) = bars_default
    match = bar_match(model.params.W)
    assert np.all(match > 0.95), f"bar correlations {np.round(match, 3)}"
    # Each true bar found by a different column.
    truth = bars_dictionary()
    C = np.corrcoef(np.hstack([truth, model.params.W]).T)[:H_BARS, H_BARS:]
    assert len(set(np.argmax(C, axis=1))) == H_BARS
    np.testing.assert_allclose(model.params.pi, PI_BARS, atol=0.05)
    # Model selection by F is meaningful: every restart that found all bars has a higher final F than
    # every restart stuck in a local optimum.
    found = [bool(np.all(bar_match(m.params.W) > 0.95)) for m, _ in runs]
    finals = np.array([h[-1].free_energy for _, h in runs])
    if not all(found):
        assert finals[found].min() > finals[~np.array(found)].max()


def test_bars_noise_sigma_recovered_with_default_evo(bars_default):
    _, _, (model, _) = bars_default
    assert np.all(bar_match(model.params.W) > 0.95)
    assert np.sqrt(model.sigma2) == pytest.approx(NOISE_SIGMA, rel=0.10)


def test_bars_recovered_with_randflip(bars_randflip):
    _, _, (model, history) = bars_randflip
    match = bar_match(model.params.W)
    assert np.all(match > 0.95), f"bar correlations {np.round(match, 3)}"
    assert np.sqrt(model.sigma2) == pytest.approx(NOISE_SIGMA, rel=0.10)
    assert history[-1].sigma == pytest.approx(np.sqrt(model.sigma2), rel=1e-12)
    np.testing.assert_allclose(model.params.pi, PI_BARS, atol=0.05)
    # Amplitude: the matched columns carry the bar (10 on the bar, ~0 elsewhere).
    truth = bars_dictionary()
    C = np.corrcoef(np.hstack([truth, model.params.W]).T)[:H_BARS, H_BARS:]
    W_matched = model.params.W[:, np.argmax(C, axis=1)]
    np.testing.assert_allclose(W_matched, truth, atol=1.5)


@pytest.mark.parametrize(
    "evo, steps, max_gap",
    [
        (EvoConfig(mutation="randflip"), 15, 0.01),
        # sparseflip aims its flips at the prior sparsity; at H = 10 it explores the neighbourhood
        # more slowly than randflip's distinct one-bit flips (measured gap: 0.09-0.17 nats after 40 steps).
        (EvoConfig(), 40, 0.25),
    ],
    ids=["randflip", "default-sparseflip"],
)
def test_bars_e_step_at_fixed_parameters_reaches_the_exact_log_likelihood(bars_randflip, evo, steps, max_gap):
    # With fixed (learned) parameters the E-step only swaps states for better ones, so F never decreases;
    # it stays below the exact log-likelihood (2^10 states are enumerable) and should reach it: the
    # posterior of a bars patch is concentrated on a few states.
    Y, _, (model, _) = bars_randflip
    Y = Y[:300]
    p = model.params
    exact = exact_log_likelihood(Y, p.W, p.pi, p.sigma2)
    states = TruncatedStates.random(Y.shape[0], H_BARS, S_BARS, 1.0 / H_BARS, 0)
    F = []
    estep = EvoEStep(evo, seed=0)
    for epoch in range(steps):
        estep.update(model, Y, states, epoch)
        F.append(model.free_energy(model.accumulate(Y, states, estep.workspace.products(model, Y))))
    assert_non_decreasing(F, rtol=1e-12)
    assert max(F) <= exact + 1e-9 * abs(exact)
    gap_per_patch = (exact - F[-1]) / Y.shape[0]
    assert gap_per_patch < max_gap, f"F is {gap_per_patch:.3g} nats per patch below log p(Y)"
