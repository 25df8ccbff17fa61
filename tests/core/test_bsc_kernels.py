"""The compiled BSC kernels against the numpy reference (tests/support/reference.py), their bounds and their
input checks.

Random problems: N, D, H up to ~70 (H crosses the 64-bit word boundary of the packed states), S distinct
states per data point built with TruncatedStates.from_bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core_calls
import reference as ref
from zeroshot import _core
from zeroshot.models.bsc import BSC, BSCParams
from zeroshot.variational.states import TruncatedStates

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- problems


@dataclass
class Problem:
    Y: np.ndarray  # (N, D)
    W: np.ndarray  # (D, H)
    pi: np.ndarray  # (H,)
    sigma2: float
    bits: np.ndarray  # (N, S, H) uint8, distinct states per row
    K: np.ndarray  # (N, S, n_words) uint64

    @property
    def N(self) -> int:
        return self.Y.shape[0]

    @property
    def D(self) -> int:
        return self.Y.shape[1]

    @property
    def H(self) -> int:
        return self.W.shape[1]

    @property
    def S(self) -> int:
        return self.bits.shape[1]

    def products(self):
        return self.Y @ self.W, np.einsum("nd,nd->n", self.Y, self.Y), self.W.T @ self.W

    def core_lpj(self) -> np.ndarray:
        WtY, y2, WtW = self.products()
        return core_calls.bsc_log_pseudo_joint(WtY, y2, WtW, self.pi, self.sigma2, self.K)

    def ref_lpj(self) -> np.ndarray:
        return ref.bsc_lpj(self.Y, self.W, self.pi, self.sigma2, self.bits)

    def lpj_atol(self) -> np.ndarray:
        """Rounding scale of lpj (N, S): the fast form cancels terms of size ||y||^2 and ||Ws||^2."""
        norms = np.linalg.norm(self.W, axis=0)
        ws = self.bits.astype(np.float64) @ norms  # bound on ||W s||
        y2 = np.einsum("nd,nd->n", self.Y, self.Y)
        logit = np.abs(np.log(self.pi / (1 - self.pi)))
        scale = (y2[:, None] + ws**2) / (2 * self.sigma2) + self.bits @ logit
        return 1e-12 * (scale + 1.0)


def make_problem(seed: int, N: int, D: int, H: int, S: int, noiseless: bool = False) -> Problem:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, H)) * rng.uniform(0.2, 3.0)
    pi = rng.uniform(1e-3, 1 - 1e-3, size=H)
    sigma2 = float(np.exp(rng.uniform(np.log(1e-2), np.log(10.0))))
    true_s = (rng.random((N, H)) < rng.uniform(0.05, 0.5)).astype(np.float64)
    Y = true_s @ W.T
    if not noiseless:
        Y = Y + np.sqrt(sigma2) * rng.normal(size=(N, D))
    bits = ref.distinct_states(rng, N, S, H, p_on=rng.uniform(0.05, 0.5))
    K = TruncatedStates.from_bits(bits).K
    return Problem(Y, W, pi, sigma2, bits, K)


@st.composite
def problems(draw, max_N=12, max_D=10, max_H=70, max_S=10):
    H = draw(st.one_of(st.integers(1, 8), st.integers(60, 70), st.integers(1, max_H)))
    S = draw(st.integers(1, min(max_S, 2**H)))
    N = draw(st.integers(1, max_N))
    D = draw(st.integers(1, max_D))
    seed = draw(st.integers(0, 2**32 - 1))
    return make_problem(seed, N, D, H, S)


def random_lpj(rng: np.random.Generator, N: int, S: int, spread: float) -> np.ndarray:
    """Log-joints with rows of very different offsets and spreads (the posterior must be normalised per row)."""
    return rng.uniform(-spread, 0.0, size=(N, S)) + rng.uniform(-1e4, 1e4, size=(N, 1))


# ----------------------------------------------------------------------------- log-pseudo-joint


@SETTINGS
@given(problems())
def test_log_pseudo_joint_matches_reference(p):
    lpj = p.core_lpj()
    assert lpj.shape == (p.N, p.S) and lpj.dtype == np.float64
    lpj_r = p.ref_lpj()
    np.testing.assert_array_less(np.abs(lpj - lpj_r), p.lpj_atol() + 1e-10 * np.abs(lpj_r))


def test_log_pseudo_joint_is_log_joint_up_to_constant():
    """lpj = log p(s, y) + D/2 log(2 pi sigma2) - sum_h log(1 - pi_h), with full densities."""
    p = make_problem(1, N=5, D=7, H=66, S=9)
    full = ref.bsc_log_joint(p.Y, p.W, p.pi, p.sigma2, p.bits)
    offset = ref.lpj_offset(p.D, p.pi, p.sigma2)
    np.testing.assert_allclose(p.core_lpj() + offset, full, rtol=1e-10)


def test_log_pseudo_joint_bit_beyond_word_boundary():
    """States whose only active latent is h = 63, 64, 69 (first and second word of the packing)."""
    H = 70
    bits = np.zeros((1, 4, H), dtype=np.uint8)
    bits[0, 1, 63] = 1
    bits[0, 2, 64] = 1
    bits[0, 3, [0, 63, 64, 69]] = 1
    rng = np.random.default_rng(2)
    W = rng.normal(size=(3, H))
    Y = rng.normal(size=(1, 3))
    p = Problem(Y, W, np.full(H, 0.1), 0.5, bits, TruncatedStates.from_bits(bits).K)
    np.testing.assert_allclose(p.core_lpj(), p.ref_lpj(), rtol=1e-12)


def test_log_pseudo_joint_accepts_noncontiguous_inputs():
    """Read-only inputs may be any layout (they are converted); the result must not change."""
    p = make_problem(3, N=9, D=5, H=12, S=6)
    WtY, y2, WtW = p.products()
    a = core_calls.bsc_log_pseudo_joint(WtY, y2, WtW, p.pi, p.sigma2, p.K)
    b = core_calls.bsc_log_pseudo_joint(
        np.asfortranarray(WtY),
        y2[::1].copy(),
        np.asfortranarray(WtW),
        np.repeat(p.pi, 2)[::2],
        p.sigma2,
        p.K,
    )
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("H", [1, 3, 5])
def test_free_energy_with_all_states_is_exact_log_likelihood(H):
    """S = 2^H: F = sum_n logsumexp(lpj_n) + N (-D/2 log(2 pi sigma2) + sum log(1 - pi)) = log p(Y)."""
    rng = np.random.default_rng(H)
    N, D = 11, 4
    W = rng.normal(size=(D, H))
    pi = rng.uniform(0.05, 0.9, size=H)
    sigma2 = 0.3
    Y = rng.normal(size=(N, D))
    bits = np.broadcast_to(ref.all_states(H), (N, 2**H, H))
    states = TruncatedStates.from_bits(bits)
    model = BSC(BSCParams(W, pi, sigma2))
    states.lpj[:] = model.log_pseudo_joint(Y, states)
    exact = ref.exact_log_likelihood(Y, W, pi, sigma2)
    F = model.free_energy(model.accumulate(Y, states))
    np.testing.assert_allclose(F, exact, rtol=1e-11)
    # and from the sufficient statistic directly
    _, _, lse, _ = core_calls.bsc_accumulate(Y, states.K, states.lpj, H)
    np.testing.assert_allclose(lse + N * ref.lpj_offset(D, pi, sigma2), exact, rtol=1e-11)


# ----------------------------------------------------------------------------- accumulate


@SETTINGS
@given(problems(max_N=70), st.floats(0.0, 50.0), st.integers(0, 2**32 - 1))
def test_accumulate_matches_reference(p, spread, seed):
    lpj = random_lpj(np.random.default_rng(seed), p.N, p.S, spread)
    A, B, lse, y2 = core_calls.bsc_accumulate(p.Y, p.K, lpj, p.H)
    A_r, B_r, lse_r, y2_r = ref.bsc_accumulate(p.Y, p.bits, lpj)
    assert A.shape == (p.D, p.H) and B.shape == (p.H, p.H)
    np.testing.assert_allclose(A, A_r, rtol=1e-10, atol=1e-12 * np.abs(p.Y).sum())
    np.testing.assert_allclose(B, B_r, rtol=1e-10, atol=1e-12 * p.N)
    np.testing.assert_array_equal(B, B.T)
    np.testing.assert_allclose(lse, lse_r, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(y2, y2_r, rtol=1e-12)


def test_accumulate_over_several_blocks():
    """N > 1024 (more than one reduction block), model lpj: statistics still equal the reference."""
    p = make_problem(4, N=2500, D=6, H=67, S=5)
    lpj = p.ref_lpj()
    A, B, lse, y2 = core_calls.bsc_accumulate(p.Y, p.K, lpj, p.H)
    A_r, B_r, lse_r, y2_r = ref.bsc_accumulate(p.Y, p.bits, lpj)
    np.testing.assert_allclose(A, A_r, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(B, B_r, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(lse, lse_r, rtol=1e-12)
    np.testing.assert_allclose(y2, y2_r, rtol=1e-12)


# ----------------------------------------------------------------------------- posterior moments


@SETTINGS
@given(problems(), st.floats(0.0, 30.0), st.integers(0, 2**32 - 1))
def test_posterior_moments_match_reference(p, spread, seed):
    lpj = random_lpj(np.random.default_rng(seed), p.N, p.S, spread)
    mean, var, third = core_calls.bsc_posterior_moments(p.W, p.K, lpj, order=3)
    mean_r, var_r, third_r = ref.bsc_posterior_moments(p.W, p.bits, lpj)
    scale = np.abs(p.W).sum()
    np.testing.assert_allclose(mean, mean_r, rtol=1e-10, atol=1e-13 * scale)
    np.testing.assert_allclose(var, var_r, rtol=1e-10, atol=1e-12 * scale**2)
    np.testing.assert_allclose(third, third_r, rtol=1e-10, atol=1e-12 * scale**3)
    assert np.all(var >= 0)
    mean_only, no_var, no_third = core_calls.bsc_posterior_moments(p.W, p.K, lpj)
    assert no_var is None and no_third is None
    np.testing.assert_array_equal(mean_only, mean)
    mean2, var2, no_third = core_calls.bsc_posterior_moments(p.W, p.K, lpj, order=2)
    assert no_third is None
    np.testing.assert_array_equal(mean2, mean)
    np.testing.assert_array_equal(var2, var)


def test_posterior_variance_is_zero_for_a_point_mass():
    """One state with all the mass: mean = W s, variance and third moment 0."""
    p = make_problem(5, N=4, D=6, H=65, S=3)
    lpj = np.full((p.N, p.S), -1e4)
    lpj[:, 1] = 0.0
    mean, var, third = core_calls.bsc_posterior_moments(p.W, p.K, lpj, order=3)
    np.testing.assert_allclose(mean, p.bits[:, 1].astype(float) @ p.W.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(var, 0.0, atol=1e-24)
    np.testing.assert_allclose(third, 0.0, atol=1e-24)


# ----------------------------------------------------------------------------- M-step


def m_step_inputs(seed: int, N: int, D: int, H: int, S: int):
    p = make_problem(seed, N, D, H, S)
    lpj = random_lpj(np.random.default_rng(seed + 1), N, S, 3.0)
    A, B, _lse, y2 = core_calls.bsc_accumulate(p.Y, p.K, lpj, p.H)
    return p, lpj, A, B, y2


def reference_m_step_with_unused(A, B, y2, N, W_old):
    """The reference M-step on the latents that are ever active; the others keep their W column."""
    used = np.diag(B) > 0
    W = W_old.copy()
    if used.any():
        W[:, used] = ref.bsc_m_step(A[:, used], B[np.ix_(used, used)], y2, N)[0]
    D = A.shape[0]
    sigma2 = (y2 - 2 * np.sum(W * A) + np.trace(W.T @ W @ B)) / (N * D)
    return W, np.diag(B) / N, sigma2, used


@SETTINGS
@given(
    st.integers(1, 70),
    st.integers(1, 8),
    st.integers(1, 70),
    st.integers(1, 8),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_m_step_matches_reference(N, D, H, S, seed, shared_pi):
    S = min(S, 2**H)
    p, lpj, A, B, y2 = m_step_inputs(seed, N, D, H, S)
    W_old = np.random.default_rng(seed + 2).normal(size=(D, H))
    W, pi, sigma2 = core_calls.bsc_m_step(A, B, y2, float(N), W_old, shared_pi)
    W_r, pi_r, sigma2_r, used = reference_m_step_with_unused(A, B, y2, N, W_old)

    assert np.all(np.isfinite(W))
    # Latents never active keep their old column exactly.
    np.testing.assert_array_equal(W[:, ~used], W_old[:, ~used])
    # W solves W B = A: backward error always small; forward error bounded by the condition number.
    B_u = B[np.ix_(used, used)]
    if used.any():
        resid = W[:, used] @ B_u - A[:, used]
        assert np.linalg.norm(resid) <= 1e-8 * (np.linalg.norm(W) * np.linalg.norm(B_u) + np.linalg.norm(A))
        cond = np.linalg.cond(B_u)
        if cond < 1e6:
            err = np.linalg.norm(W - W_r)
            assert err <= (1e-10 + 1e-9 * cond) * np.linalg.norm(W_r) + 1e-14

    # pi = diag(B) / N (or its mean), clamped.
    expected_pi = np.full(H, pi_r.mean()) if shared_pi else pi_r
    expected_pi = np.clip(expected_pi, _core.PI_MIN, 1 - _core.PI_MIN)
    np.testing.assert_allclose(pi, expected_pi, rtol=1e-13, atol=0)

    # sigma2 from the new W: the trace form with the kernel's W, and the direct definition.
    scale = y2 / (N * D) + np.abs(W).sum() ** 2
    sigma2_with_W = (y2 - 2 * np.sum(W * A) + np.trace(W.T @ W @ B)) / (N * D)
    direct = ref.bsc_sigma2_direct(p.Y, W, p.bits, lpj)
    assert sigma2 >= _core.SIGMA2_MIN
    np.testing.assert_allclose(sigma2, max(sigma2_with_W, _core.SIGMA2_MIN), rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(sigma2, max(direct, _core.SIGMA2_MIN), rtol=1e-9, atol=1e-12 * scale)
    if used.any() and np.linalg.cond(B_u) < 1e6:
        # sigma2 is stationary in W at the optimum: the reference W gives the same value.
        np.testing.assert_allclose(sigma2, max(sigma2_r, _core.SIGMA2_MIN), rtol=1e-8, atol=1e-10 * scale)


def test_m_step_well_conditioned_tight():
    """A well-conditioned B: W = A B^-1 to ~1e-10, pi and sigma2 to rounding."""
    _p, _lpj, A, B, y2 = m_step_inputs(7, N=400, D=9, H=10, S=6)
    assert np.linalg.cond(B) < 50
    W, pi, sigma2 = core_calls.bsc_m_step(A, B, y2, 400.0, np.zeros((9, 10)))
    W_r, pi_r, sigma2_r = ref.bsc_m_step(A, B, y2, 400.0)
    np.testing.assert_allclose(W, W_r, rtol=1e-8, atol=1e-9 * np.abs(W_r).max())
    np.testing.assert_allclose(pi, pi_r, rtol=1e-14)
    np.testing.assert_allclose(sigma2, sigma2_r, rtol=1e-10)


def test_m_step_noiseless_data_sigma2_at_lower_bound():
    """Y = W s exactly with the posterior on the true s: the M-step recovers W and sigma2 -> SIGMA2_MIN."""
    rng = np.random.default_rng(8)
    N, D, H, S = 300, 12, 70, 4
    W_true = rng.normal(size=(D, H))
    bits = ref.distinct_states(rng, N, S, H, p_on=0.2)
    Y = bits[:, 0].astype(np.float64) @ W_true.T
    lpj = np.full((N, S), -1e4)
    lpj[:, 0] = 0.0  # q is a point mass on the true state (exp(-1e4) == 0)
    K = TruncatedStates.from_bits(bits).K
    A, B, _, y2 = core_calls.bsc_accumulate(Y, K, lpj, H)
    assert np.linalg.cond(B) < 1e4
    W, _pi, sigma2 = core_calls.bsc_m_step(A, B, y2, float(N), np.zeros((D, H)))
    np.testing.assert_allclose(W, W_true, atol=1e-6)
    assert sigma2 >= _core.SIGMA2_MIN
    assert sigma2 <= 1e-8
    exact = (y2 - 2 * np.sum(W * A) + np.trace(W.T @ W @ B)) / (N * D)
    assert sigma2 == max(exact, _core.SIGMA2_MIN) or abs(sigma2 - exact) < 1e-9


def test_m_step_pi_clamped_and_unused_latent_keeps_column():
    """Latent 0 always active -> pi = 1 - PI_MIN; latent 1 never active -> pi = PI_MIN, W column kept."""
    rng = np.random.default_rng(9)
    N, D, H, S = 200, 5, 6, 4
    bits = ref.distinct_states(rng, N, S, H)
    bits[:, :, 0] = 1
    bits[:, :, 1] = 0
    bits = bits.copy()
    # rows with duplicate states after the overwrite are re-drawn on the free latents
    for n in range(N):
        while len(ref.unique_rows(bits[n])) < S:
            bits[n, :, 2:] = (rng.random((S, H - 2)) < 0.5).astype(np.uint8)
    Y = rng.normal(size=(N, D))
    lpj = random_lpj(rng, N, S, 2.0)
    K = TruncatedStates.from_bits(bits).K
    A, B, _, y2 = core_calls.bsc_accumulate(Y, K, lpj, H)
    W_old = rng.normal(size=(D, H))
    W, pi, sigma2 = core_calls.bsc_m_step(A, B, y2, float(N), W_old)
    assert pi[0] == 1 - _core.PI_MIN
    assert pi[1] == _core.PI_MIN
    assert np.all((pi >= _core.PI_MIN) & (pi <= 1 - _core.PI_MIN))
    np.testing.assert_array_equal(W[:, 1], W_old[:, 1])
    assert np.all(np.isfinite(W)) and np.isfinite(sigma2)
    # the used latents still solve the normal equations
    used = np.arange(H) != 1
    W_r = ref.bsc_m_step(A[:, used], B[np.ix_(used, used)], y2, N)[0]
    np.testing.assert_allclose(W[:, used], W_r, rtol=1e-7, atol=1e-9)
    # shared pi: the clamped mean
    _, pi_shared, _ = core_calls.bsc_m_step(A, B, y2, float(N), W_old, True)
    np.testing.assert_allclose(pi_shared, np.clip(np.diag(B).mean() / N, _core.PI_MIN, 1 - _core.PI_MIN))


def test_m_step_singular_B_is_finite():
    """Latents 0 and 1 always co-active: B is singular. W is finite, its two columns share the
    combined column, and the fit equals the reference with the two latents merged."""
    rng = np.random.default_rng(10)
    N, D, H, S = 150, 6, 7, 5
    bits = ref.distinct_states(rng, N, S, H - 1)
    bits = np.concatenate([bits[:, :, :1], bits], axis=2)  # latent 0 duplicates latent 1
    Y = rng.normal(size=(N, D))
    lpj = random_lpj(rng, N, S, 2.0)
    K = TruncatedStates.from_bits(bits).K
    A, B, _, y2 = core_calls.bsc_accumulate(Y, K, lpj, H)
    assert np.linalg.matrix_rank(B) == H - 1
    W, pi, sigma2 = core_calls.bsc_m_step(A, B, y2, float(N), np.zeros((D, H)))
    assert np.all(np.isfinite(W)) and np.isfinite(sigma2) and np.all(np.isfinite(pi))
    A_m, B_m, _, _ = ref.bsc_accumulate(Y, bits[:, :, 1:], lpj)
    W_m, _, sigma2_m = ref.bsc_m_step(A_m, B_m, y2, N)
    np.testing.assert_allclose(W[:, 0] + W[:, 1], W_m[:, 0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(W[:, 2:], W_m[:, 1:], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sigma2, sigma2_m, rtol=1e-7)


# ----------------------------------------------------------------------------- bad inputs


@pytest.fixture
def small():
    return make_problem(11, N=4, D=5, H=70, S=3)


def call_lpj(p, **over):
    WtY, y2, WtW = p.products()
    args = {"WtY": WtY, "y2": y2, "WtW": WtW, "pi": p.pi, "sigma2": p.sigma2, "K": p.K}
    args.update(over)
    return core_calls.bsc_log_pseudo_joint(**args)


def call_evo(p, **over):
    WtY, y2, WtW = p.products()
    args = {
        "K": p.K.copy(),
        "lpj": np.zeros((p.N, p.S)),
        "WtY": WtY,
        "y2": y2,
        "WtW": WtW,
        "pi": p.pi,
        "sigma2": p.sigma2,
        "seed": 0,
        "epoch": 0,
        "first_index": 0,
        "n_parents": 2,
        "n_children": 2,
        "n_generations": 1,
        "selection": "fitness",
        "mutation": "sparseflip",
        "crossover": False,
        "bitflip_prob": -1.0,
    }
    args.update(over)
    return core_calls.evo_step_bsc(**args)


def test_valid_calls_succeed(small):
    """The baseline of the bad-input tests: the unmodified arguments are accepted."""
    assert call_lpj(small).shape == (small.N, small.S)
    assert call_evo(small) >= 0


@pytest.mark.parametrize(
    "name, make",
    [
        ("WtY", lambda p: p.products()[0][:, :-1]),
        ("WtY", lambda p: p.products()[0][:-1]),
        ("WtY", lambda p: p.products()[0].ravel()),
        ("y2", lambda p: p.products()[1][:-1]),
        ("WtW", lambda p: p.products()[2][:-1]),
        ("pi", lambda p: p.pi[:-1]),
        ("K", lambda p: p.K[:-1].copy()),
        ("K", lambda p: np.concatenate([p.K, p.K[..., :1]], axis=2)),
        ("K", lambda p: p.K[..., :1].copy()),
    ],
)
def test_wrong_shapes_raise(small, name, make):
    with pytest.raises(ValueError):
        call_lpj(small, **{name: make(small)})
    with pytest.raises(ValueError):
        call_evo(small, **{name: make(small)})


@pytest.mark.parametrize("bad_pi", [0.0, 1.0, -0.1, 1.5, np.nan])
def test_pi_outside_open_unit_interval_raises(small, bad_pi):
    pi = small.pi.copy()
    pi[-1] = bad_pi
    with pytest.raises(ValueError):
        call_lpj(small, pi=pi)
    with pytest.raises(ValueError):
        call_evo(small, pi=pi)


@pytest.mark.parametrize("bad_sigma2", [0.0, -1.0, np.nan, np.inf])
def test_bad_sigma2_raises(small, bad_sigma2):
    with pytest.raises(ValueError):
        call_lpj(small, sigma2=bad_sigma2)
    with pytest.raises(ValueError):
        call_evo(small, sigma2=bad_sigma2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_WtW_raises(small, bad):
    WtW = small.products()[2]
    WtW[3, 5] = bad
    with pytest.raises(ValueError):
        call_lpj(small, WtW=WtW)
    with pytest.raises(ValueError):
        call_evo(small, WtW=WtW)


@pytest.mark.parametrize("H, word, bit", [(5, 0, 5), (5, 0, 63), (64 + 6, 1, 6), (64 + 6, 1, 63)])
def test_states_with_bits_beyond_H_raise(H, word, bit):
    p = make_problem(12, N=3, D=4, H=H, S=2)
    K = p.K.copy()
    K[1, 1, word] |= np.uint64(1) << np.uint64(bit)
    lpj = np.zeros((p.N, p.S))
    with pytest.raises(ValueError):
        call_lpj(p, K=K)
    with pytest.raises(ValueError):
        call_evo(p, K=K.copy())
    with pytest.raises(ValueError):
        core_calls.bsc_accumulate(p.Y, K, lpj, H)
    with pytest.raises(ValueError):
        core_calls.bsc_posterior_moments(p.W, K, lpj)


def test_in_place_arrays_must_be_exact_dtype_contiguous_writeable(small):
    p = small
    with pytest.raises(ValueError):  # K of another dtype: a converted copy would drop the update
        call_evo(p, K=p.K.astype(np.int64))
    with pytest.raises(ValueError):
        call_evo(p, K=p.K.astype(np.float64))
    with pytest.raises(ValueError):
        call_evo(p, lpj=np.zeros((p.N, p.S), dtype=np.float32))
    with pytest.raises(ValueError):
        call_evo(p, lpj=np.zeros((p.S, p.N)).T)  # Fortran order
    with pytest.raises(ValueError):
        call_evo(p, lpj=np.zeros((p.N, 2 * p.S))[:, ::2])  # strided view
    readonly = np.zeros((p.N, p.S))
    readonly.flags.writeable = False
    with pytest.raises(ValueError):
        call_evo(p, lpj=readonly)
    K_ro = p.K.copy()
    K_ro.flags.writeable = False
    with pytest.raises(ValueError):
        call_evo(p, K=K_ro)
    with pytest.raises(ValueError):
        call_evo(p, K=np.asfortranarray(p.K))
    with pytest.raises(ValueError):
        call_evo(p, K=p.K.tolist())


def test_duplicate_states_in_K_raise(small):
    K = small.K.copy()
    K[2, 1] = K[2, 0]
    with pytest.raises(ValueError):
        call_evo(small, K=K)


@pytest.mark.parametrize(
    "over",
    [
        {"selection": "best"},
        {"mutation": "flip"},
        {"n_parents": 0},
        {"n_children": 0},
        {"n_generations": -1},
        {"mutation": "none"},
        {"crossover": True, "n_parents": 1},
        {"mutation": "randflip", "n_children": 71},
        {"bitflip_prob": 1.5},
        {"bitflip_prob": np.nan},
    ],
)
def test_bad_evo_configuration_raises(small, over):
    with pytest.raises(ValueError):
        call_evo(small, **over)


def test_accumulate_moments_m_step_bad_inputs(small):
    p = small
    lpj = np.zeros((p.N, p.S))
    with pytest.raises(ValueError):
        core_calls.bsc_accumulate(p.Y[:-1], p.K, lpj, p.H)
    with pytest.raises(ValueError):
        core_calls.bsc_accumulate(p.Y, p.K, lpj[:, :-1], p.H)
    with pytest.raises(ValueError):
        core_calls.bsc_accumulate(p.Y, p.K, lpj, p.H - 10)  # n_words disagrees
    with pytest.raises(ValueError):
        core_calls.bsc_posterior_moments(p.W, p.K, lpj[:, :-1])
    with pytest.raises(ValueError):
        core_calls.bsc_posterior_moments(p.W[:, :-10], p.K, lpj)
    A, B, _, y2 = core_calls.bsc_accumulate(p.Y, p.K, lpj, p.H)
    W_old = np.zeros((p.D, p.H))
    with pytest.raises(ValueError):
        core_calls.bsc_m_step(A[:, :-1], B, y2, float(p.N), W_old)
    with pytest.raises(ValueError):
        core_calls.bsc_m_step(A, B[:-1], y2, float(p.N), W_old)
    with pytest.raises(ValueError):
        core_calls.bsc_m_step(A, B, y2, 0.0, W_old)
    B_nan = B.copy()
    B_nan[0, 0] = np.nan
    with pytest.raises(ValueError):
        core_calls.bsc_m_step(A, B_nan, y2, float(p.N), W_old)
