"""SSSC kernels against a numpy reference that builds the full D x D covariance."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core_calls
from reference_sssc import slab_posterior
from zeroshot import _core
from zeroshot.config import EvoConfig
from zeroshot.variational.states import TruncatedStates


def sssc_log_joint_reference(Y, W, pi, mu, psi, sigma2, bits):
    """log p(s, y_n) (N, S) from C_s = sigma2 I + W_a diag(psi_a) W_a^T and mean W_a mu_a."""
    N, D = Y.shape
    out = np.empty(bits.shape[:2])
    for n in range(N):
        for s, state in enumerate(bits[n]):
            a = np.flatnonzero(state)
            C = sigma2 * np.eye(D) + W[:, a] @ np.diag(psi[a]) @ W[:, a].T
            r = Y[n] - W[:, a] @ mu[a]
            _, logdet = np.linalg.slogdet(C)
            log_lik = -0.5 * (D * np.log(2 * np.pi) + logdet + r @ np.linalg.solve(C, r))
            log_prior = np.sum(state * np.log(pi) + (1 - state) * np.log1p(-pi))
            out[n, s] = log_lik + log_prior
    return out


def random_problem(seed, N, D, H, S):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, H))
    pi = rng.uniform(0.05, 0.6, size=H)
    mu = rng.normal(size=H)
    psi = rng.uniform(0.2, 2.0, size=H)
    sigma2 = float(rng.uniform(0.1, 1.5))
    Y = rng.normal(size=(N, D)) * 2
    all_states = np.array(list(itertools.product([0, 1], repeat=H)), dtype=np.uint8) if H <= 10 else None
    if all_states is not None and len(all_states) >= S:
        bits = np.stack([all_states[rng.choice(len(all_states), S, replace=False)] for _ in range(N)])
    else:
        bits = np.stack([np.unique((rng.random((4 * S, H)) < 0.3).astype(np.uint8), axis=0)[:S] for _ in range(N)])
    return Y, W, pi, mu, psi, sigma2, bits


def core_lpj(Y, W, pi, mu, psi, sigma2, K):
    return core_calls.sssc_log_pseudo_joint(Y @ W, np.einsum("nd,nd->n", Y, Y), W.T @ W, pi, mu, psi, sigma2, K)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 9), st.integers(1, 8), st.integers(1, 12))
def test_lpj_equals_full_covariance_reference(seed, N, D, H, S):
    S = min(S, 2**H)
    Y, W, pi, mu, psi, sigma2, bits = random_problem(seed, N, D, H, S)
    K = _core.pack_states(bits)
    lpj = core_lpj(Y, W, pi, mu, psi, sigma2, K)
    # lpj = log p(s, y) + D/2 log(2 pi sigma2) - sum_h log(1 - pi_h), the same constant as BSC.
    const = -0.5 * D * np.log(2 * np.pi * sigma2) + np.sum(np.log1p(-pi))
    reference = sssc_log_joint_reference(Y, W, pi, mu, psi, sigma2, bits)
    np.testing.assert_allclose(lpj + const, reference, rtol=1e-9, atol=1e-8)


def test_lpj_across_word_boundary():
    """H = 70: active latents in both 64-bit words."""
    Y, W, pi, mu, psi, sigma2, _ = random_problem(5, 3, 6, 70, 4)
    rng = np.random.default_rng(6)
    bits = np.zeros((3, 4, 70), dtype=np.uint8)
    for n in range(3):
        for s in range(1, 4):
            bits[n, s, rng.choice(70, size=s + 1, replace=False)] = 1
        bits[n, 3, [2, 65, 69]] = 1
    lpj = core_lpj(Y, W, pi, mu, psi, sigma2, _core.pack_states(bits))
    const = -0.5 * 6 * np.log(2 * np.pi * sigma2) + np.sum(np.log1p(-pi))
    np.testing.assert_allclose(lpj + const, sssc_log_joint_reference(Y, W, pi, mu, psi, sigma2, bits), rtol=1e-9)


def test_singular_slab_system_stays_finite():
    """Identical columns with tiny noise: Lambda^-1 is near singular, the result must stay finite."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(5, 1))
    W = np.hstack([w, w, w])
    bits = np.array([[[1, 1, 1], [1, 1, 0], [0, 0, 0]]], dtype=np.uint8)
    lpj = core_lpj(
        rng.normal(size=(1, 5)), W, np.full(3, 0.3), np.zeros(3), np.full(3, 1e8), 1e-10, _core.pack_states(bits)
    )
    assert np.all(np.isfinite(lpj))


def test_evo_step_keeps_distinct_states_with_true_lpj():
    Y, W, pi, mu, psi, sigma2, _ = random_problem(2, 40, 8, 12, 6)
    states = TruncatedStates.random(40, 12, 6, 1 / 12, seed=0)
    WtY, y2, WtW = Y @ W, np.einsum("nd,nd->n", Y, Y), W.T @ W
    for epoch in range(3):
        core_calls.evo_step_sssc(
            states.K,
            states.lpj,
            WtY,
            y2,
            WtW,
            pi,
            mu,
            psi,
            sigma2,
            seed=0,
            epoch=epoch,
            first_index=0,
            evo=EvoConfig().core,
        )
    bits = states.bits()
    for n in range(40):
        assert len({row.tobytes() for row in bits[n]}) == 6
    np.testing.assert_allclose(states.lpj, core_lpj(Y, W, pi, mu, psi, sigma2, states.K), rtol=1e-12)


@pytest.mark.parametrize("bad", ["psi", "pi", "sigma2"])
def test_bad_parameters_are_value_errors(bad):
    Y, W, pi, mu, psi, sigma2, bits = random_problem(3, 2, 4, 3, 2)
    if bad == "psi":
        psi = psi.copy()
        psi[0] = 0.0
    elif bad == "pi":
        pi = pi.copy()
        pi[1] = 1.0
    else:
        sigma2 = -1.0
    with pytest.raises(ValueError):
        core_lpj(Y, W, pi, mu, psi, sigma2, _core.pack_states(bits))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 8), st.integers(1, 7), st.integers(1, 10))
def test_slab_posterior_equals_conditioning_reference(seed, N, D, H, S):
    S = min(S, 2**H)
    Y, W, pi, mu, psi, sigma2, bits = random_problem(seed, N, D, H, S)
    kappa, Lambda = core_calls.sssc_slab_posterior(
        Y @ W, np.einsum("nd,nd->n", Y, Y), W.T @ W, pi, mu, psi, sigma2, _core.pack_states(bits)
    )
    for n in range(N):
        for s in range(S):
            a, k_ref, L_ref = slab_posterior(Y[n], W, mu, psi, sigma2, bits[n, s])
            np.testing.assert_allclose(kappa[n, s, a], k_ref, rtol=1e-8, atol=1e-9)
            np.testing.assert_allclose(Lambda[n, s][np.ix_(a, a)], L_ref, rtol=1e-8, atol=1e-9)
            off = np.ones(H, bool)
            off[a] = False
            assert np.all(kappa[n, s, off] == 0) and np.all(Lambda[n, s][off] == 0)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 7), st.integers(1, 6), st.integers(1, 8))
def test_accumulate_equals_reference(seed, N, D, H, S):
    S = min(S, 2**H)
    Y, W, pi, mu, psi, sigma2, bits = random_problem(seed, N, D, H, S)
    K = _core.pack_states(bits)
    WtY, y2, WtW = Y @ W, np.einsum("nd,nd->n", Y, Y), W.T @ W
    lpj = core_calls.sssc_log_pseudo_joint(WtY, y2, WtW, pi, mu, psi, sigma2, K)
    A, B, xs, ss, lse, y2_sum = core_calls.sssc_accumulate(Y, WtY, y2, WtW, pi, mu, psi, sigma2, K, lpj)
    q = np.exp(lpj - lpj.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    A_r, B_r = np.zeros((D, H)), np.zeros((H, H))
    xs_r, ss_r = np.zeros(H), np.zeros(H)
    for n in range(N):
        x_mean = np.zeros(H)
        for s in range(S):
            a, k_ref, L_ref = slab_posterior(Y[n], W, mu, psi, sigma2, bits[n, s])
            x_mean[a] += q[n, s] * k_ref
            B_r[np.ix_(a, a)] += q[n, s] * (L_ref + np.outer(k_ref, k_ref))
            ss_r += q[n, s] * bits[n, s]
        A_r += np.outer(Y[n], x_mean)
        xs_r += x_mean
    lse_r = np.sum(np.log(np.sum(np.exp(lpj - lpj.max(1, keepdims=True)), 1)) + lpj.max(1))
    for got, want in [(A, A_r), (B, B_r), (xs, xs_r), (ss, ss_r)]:
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-9)
    assert lse == pytest.approx(lse_r, rel=1e-12)
    assert y2_sum == pytest.approx(float(np.sum(Y * Y)), rel=1e-12)


def sssc_em_epoch(Y, params, K):
    """One exact-E (all states in K) EM epoch through the core; returns (F under params, new params)."""
    W, pi, mu, psi, sigma2 = params
    WtY, y2, WtW = Y @ W, np.einsum("nd,nd->n", Y, Y), W.T @ W
    lpj = core_calls.sssc_log_pseudo_joint(WtY, y2, WtW, pi, mu, psi, sigma2, K)
    A, B, xs, ss, lse, y2_sum = core_calls.sssc_accumulate(Y, WtY, y2, WtW, pi, mu, psi, sigma2, K, lpj)
    N, D = Y.shape
    F = lse + N * (-0.5 * D * np.log(2 * np.pi * sigma2) + np.sum(np.log1p(-pi)))
    return F, core_calls.sssc_m_step(A, B, xs, ss, y2_sum, N, W, mu, psi)


def test_exact_em_free_energy_is_the_log_likelihood_and_never_decreases():
    rng = np.random.default_rng(11)
    N, D, H = 120, 6, 4
    W_true = rng.normal(size=(D, H))
    s = rng.random((N, H)) < 0.4
    z = rng.normal(1.0, 0.5, size=(N, H))
    Y = (s * z) @ W_true.T + 0.3 * rng.normal(size=(N, D))
    all_bits = np.array(list(itertools.product([0, 1], repeat=H)), dtype=np.uint8)
    K = _core.pack_states(np.broadcast_to(all_bits, (N, 2**H, H)).copy())
    params = (rng.normal(size=(D, H)), np.full(H, 0.3), np.zeros(H), np.ones(H), 1.0)
    F = []
    for _ in range(20):
        W, pi, mu, psi, sigma2 = params
        exact = np.logaddexp.reduce(
            sssc_log_joint_reference(Y, W, pi, mu, psi, sigma2, np.broadcast_to(all_bits, (N, 2**H, H))), axis=1
        ).sum()
        f, params = sssc_em_epoch(Y, params, K)
        assert f == pytest.approx(exact, rel=1e-10)
        F.append(f)
    assert np.all(np.diff(F) >= -1e-9 * np.abs(F[:-1]))
    assert F[-1] > F[0]
