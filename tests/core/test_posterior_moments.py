"""Posterior moments of the noise-free patch (mean, variance, third central moment) for BSC and SSSC:
against numpy references that enumerate the states and build the full D x D conditional covariance,
against Monte-Carlo samples of the truncated posterior, for point masses, across thread counts, and
for bad inputs."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core_calls
import reference as ref
import reference_sssc as ref_sssc
from zeroshot import _core
from zeroshot.denoise import thread_count
from zeroshot.models import BSC, SSSC, BSCParams, PosteriorMoments, SSSCParams
from zeroshot.variational.states import TruncatedStates

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- problems


@dataclass
class Problem:
    """An SSSC problem; its W, pi and bits also serve as a BSC problem."""

    Y: np.ndarray  # (N, D)
    W: np.ndarray  # (D, H)
    pi: np.ndarray  # (H,)
    mu: np.ndarray  # (H,)
    psi: np.ndarray  # (H,)
    sigma2: float
    bits: np.ndarray  # (N, S, H) uint8, distinct states per row

    @property
    def K(self) -> np.ndarray:
        return _core.pack_states(self.bits)

    @property
    def N(self) -> int:
        return self.bits.shape[0]

    @property
    def S(self) -> int:
        return self.bits.shape[1]

    def kernel_args(self) -> dict:
        Y, W = self.Y, self.W
        return {
            "WtY": Y @ W,
            "y2": np.einsum("nd,nd->n", Y, Y),
            "WtW": W.T @ W,
            "pi": self.pi,
            "mu": self.mu,
            "psi": self.psi,
            "sigma2": self.sigma2,
        }

    def sssc(self, lpj: np.ndarray, order: int = 3, **over):
        args = {"W": self.W, "K": self.K, "lpj": lpj, "order": order, **self.kernel_args(), **over}
        return core_calls.sssc_posterior_moments(**args)

    def bsc(self, lpj: np.ndarray, order: int = 3):
        return core_calls.bsc_posterior_moments(self.W, self.K, lpj, order)

    def sssc_reference(self, lpj: np.ndarray):
        return ref_sssc.sssc_posterior_moments(self.Y, self.W, self.mu, self.psi, self.sigma2, self.bits, lpj)


def make_problem(seed: int, N: int, D: int, H: int, S: int, psi_range=(0.2, 2.0)) -> Problem:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, H)) * rng.uniform(0.3, 2.0)
    pi = rng.uniform(0.05, 0.6, size=H)
    mu = rng.normal(size=H)
    psi = rng.uniform(*psi_range, size=H)
    sigma2 = float(np.exp(rng.uniform(np.log(0.05), np.log(2.0))))
    Y = 2.0 * rng.normal(size=(N, D))
    bits = ref.distinct_states(rng, N, S, H, p_on=rng.uniform(0.03, 0.3))
    return Problem(Y, W, pi, mu, psi, sigma2, bits)


@st.composite
def problems(draw, max_N=4, max_D=8, max_S=8):
    H = draw(st.one_of(st.integers(1, 8), st.integers(60, 70)))  # 60..70: both words of the packing
    S = draw(st.integers(1, min(max_S, 2**H)))
    N, D = draw(st.integers(1, max_N)), draw(st.integers(1, max_D))
    return make_problem(draw(st.integers(0, 2**32 - 1)), N, D, H, S)


def random_lpj(rng: np.random.Generator, N: int, S: int, spread: float) -> np.ndarray:
    """Log-joints with rows of very different offsets and spreads (the posterior is normalised per row)."""
    return rng.uniform(-spread, 0.0, size=(N, S)) + rng.uniform(-1e4, 1e4, size=(N, 1))


def moment_scales(means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Per patch (N, 1): the size of x over all its states, |mean| + standard deviation; errors of the
    p-th moment are measured against its p-th power (the central moments may cancel to near 0)."""
    return np.max(np.abs(means) + np.sqrt(variances), axis=(1, 2))[:, None] + 1e-300


def assert_close_to(got, want, scale, rtol=1e-10):
    """(mean, variance, third) equal to rtol, relative to each value and to scale^p for moment p."""
    for name, g, w, p in zip(("mean", "variance", "third"), got, want, (1, 2, 3)):
        error = np.abs(g - w)
        allowed = rtol * (np.abs(w) + scale**p)
        assert np.all(error <= allowed), f"{name}: largest error/allowed {np.max(error / allowed):.3g}"


# ----------------------------------------------------------------------------- against references


@SETTINGS
@given(problems(), st.floats(0.0, 30.0), st.integers(0, 2**32 - 1))
def test_sssc_moments_equal_the_full_covariance_reference(p, spread, seed):
    lpj = random_lpj(np.random.default_rng(seed), p.N, p.S, spread)
    mean, var, third = p.sssc(lpj)
    want = p.sssc_reference(lpj)
    means, covs = ref_sssc.conditional_patch_moments(p.Y, p.W, p.mu, p.psi, p.sigma2, p.bits)
    assert_close_to((mean, var, third), want, moment_scales(means, np.diagonal(covs, axis1=2, axis2=3)))
    assert np.all(var >= 0)


@SETTINGS
@given(problems(max_D=10, max_S=10), st.floats(0.0, 30.0), st.integers(0, 2**32 - 1))
def test_bsc_moments_equal_the_state_enumeration(p, spread, seed):
    lpj = random_lpj(np.random.default_rng(seed), p.N, p.S, spread)
    mean, var, third = p.bsc(lpj)
    recon = np.einsum("dh,nsh->nsd", p.W, p.bits.astype(float))
    assert_close_to(
        (mean, var, third), ref.bsc_posterior_moments(p.W, p.bits, lpj), moment_scales(recon, np.zeros_like(recon))
    )
    assert np.all(var >= 0)


@pytest.mark.parametrize("kind", ["bsc", "sssc"])
def test_lower_orders_are_the_same_numbers(kind):
    p = make_problem(1, N=6, D=7, H=9, S=8)
    lpj = random_lpj(np.random.default_rng(2), p.N, p.S, 4.0)
    moments = getattr(p, kind)
    mean1, var1, third1 = moments(lpj, order=1)
    mean2, var2, third2 = moments(lpj, order=2)
    mean3, var3, third3 = moments(lpj, order=3)
    assert var1 is None and third1 is None and third2 is None and third3 is not None
    np.testing.assert_array_equal(mean1, mean3)
    np.testing.assert_array_equal(mean2, mean3)
    np.testing.assert_array_equal(var2, var3)


def test_states_of_minus_infinite_lpj_have_no_weight():
    p = make_problem(3, N=3, D=5, H=6, S=5)
    lpj = random_lpj(np.random.default_rng(4), p.N, p.S, 3.0)
    lpj[0, [1, 3]] = -np.inf
    lpj[2, 0] = -np.inf
    assert_close_to(p.sssc(lpj), p.sssc_reference(lpj), 10.0, rtol=1e-9)
    assert_close_to(p.bsc(lpj), ref.bsc_posterior_moments(p.W, p.bits, lpj), 10.0, rtol=1e-9)


def test_sssc_with_vanishing_slab_variance_is_bsc():
    """mu = 1, psi -> 0: z = 1 on the active set, so SSSC's moments become BSC's."""
    p = make_problem(5, N=4, D=6, H=7, S=6)
    p.mu, p.psi = np.ones(7), np.full(7, 1e-12)
    lpj = random_lpj(np.random.default_rng(6), p.N, p.S, 3.0)
    for got, want in zip(p.sssc(lpj), p.bsc(lpj)):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7)


# ----------------------------------------------------------------------------- Monte Carlo


def sample_truncated_posterior(rng, p: Problem, lpj: np.ndarray, n: int, model: str) -> np.ndarray:
    """n samples (N, n, D) of the noise-free patch: s ~ q, then x = W s (BSC) or x = W_a z_a with
    z_a ~ N(kappa_s, Lambda_s) (SSSC, slab posterior by the reference's conditioning)."""
    q = ref.truncated_posterior(lpj)
    D = p.W.shape[0]
    out = np.empty((p.N, n, D))
    for i in range(p.N):
        counts = rng.multinomial(n, q[i])
        parts = []
        for s, count in enumerate(counts):
            state = p.bits[i, s]
            if model == "bsc":
                parts.append(np.broadcast_to(p.W @ state, (count, D)))
                continue
            a, kappa, Lambda = ref_sssc.slab_posterior(p.Y[i], p.W, p.mu, p.psi, p.sigma2, state)
            if a.size == 0:  # x = 0
                parts.append(np.zeros((count, D)))
                continue
            z = kappa + rng.standard_normal((count, a.size)) @ np.linalg.cholesky(Lambda).T
            parts.append(z @ p.W[:, a].T)
        out[i] = np.concatenate(parts)
    return out


def sample_moments_with_errors(x: np.ndarray):
    """Sample mean, variance and third central moment over axis 1 of x (N, n, D), each with its standard
    error from the influence function: x - m, (x - m)^2, (x - m)^3 - 3 var (x - m)."""
    n = x.shape[1]
    mean = x.mean(axis=1)
    dev = x - mean[:, None, :]
    var = np.mean(dev**2, axis=1)
    third = np.mean(dev**3, axis=1)
    influence = (dev, dev**2, dev**3 - 3.0 * var[:, None, :] * dev)
    errors = [f.std(axis=1) / np.sqrt(n) for f in influence]
    return (mean, var, third), errors


def monte_carlo_problem():
    """Slab posteriors of sizeable variance; lpj from Dirichlet weights, so that several states weigh."""
    p = make_problem(7, N=3, D=5, H=6, S=6, psi_range=(0.5, 2.0))
    p.sigma2 = 1.0
    return p, np.log(np.random.default_rng(8).dirichlet(np.ones(p.S), size=p.N))


@functools.cache
def monte_carlo(model: str):
    """(problem, lpj, sample moments, their standard errors) from 200 000 samples per patch (drawn once
    per model for the tests below)."""
    p, lpj = monte_carlo_problem()
    x = sample_truncated_posterior(np.random.default_rng(9), p, lpj, 200_000, model)
    return (p, lpj, *sample_moments_with_errors(x))


@pytest.mark.parametrize("model", ["bsc", "sssc"])
def test_moments_agree_with_monte_carlo_samples(model):
    p, lpj, sampled, errors = monte_carlo(model)
    core = p.bsc(lpj) if model == "bsc" else p.sssc(lpj)
    for name, got, want, se in zip(("mean", "variance", "third"), core, sampled, errors):
        assert np.all(np.abs(got - want) <= 5.0 * se), f"{name}: core {got}, samples {want} +- {se}"
    assert np.max(np.abs(sampled[2]) / errors[2]) > 10.0, "the third moment should be clearly non-zero"


def test_monte_carlo_tells_the_conditional_variance_terms_apart():
    """The SSSC samples reject the moments of the slab means alone (variance without c_s, third
    without 3 c_s (mu_s - m)): the terms the conditional covariance adds are seen by the test above."""
    p, lpj, sampled, errors = monte_carlo("sssc")
    means, _ = ref_sssc.conditional_patch_moments(p.Y, p.W, p.mu, p.psi, p.sigma2, p.bits)
    q = ref.truncated_posterior(lpj)
    dev = means - np.einsum("ns,nsd->nd", q, means)[:, None, :]
    variance_of_means = np.einsum("ns,nsd->nd", q, dev**2)
    third_of_means = np.einsum("ns,nsd->nd", q, dev**3)
    assert np.any(np.abs(variance_of_means - sampled[1]) > 5.0 * errors[1])
    assert np.any(np.abs(third_of_means - sampled[2]) > 5.0 * errors[2])


# ----------------------------------------------------------------------------- point masses


def point_mass_lpj(N: int, S: int, state: int) -> np.ndarray:
    lpj = np.full((N, S), -1e4)
    lpj[:, state] = 0.0
    return lpj


def test_bsc_point_mass_has_no_spread():
    p = make_problem(10, N=4, D=6, H=66, S=3)
    mean, var, third = p.bsc(point_mass_lpj(p.N, p.S, 1))
    np.testing.assert_allclose(mean, p.bits[:, 1].astype(float) @ p.W.T, rtol=1e-12, atol=1e-14)
    assert np.all(var == 0.0) and np.all(third == 0.0)


def test_sssc_point_mass_is_the_gaussian_of_one_state():
    """One state of all weight: mean W_a kappa, variance diag(W_a Lambda W_a^T), third moment 0."""
    p = make_problem(11, N=4, D=6, H=8, S=4)
    mean, var, third = p.sssc(point_mass_lpj(p.N, p.S, 2))
    means, covs = ref_sssc.conditional_patch_moments(p.Y, p.W, p.mu, p.psi, p.sigma2, p.bits)
    np.testing.assert_allclose(mean, means[:, 2], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(var, np.diagonal(covs[:, 2], axis1=1, axis2=2), rtol=1e-10, atol=1e-12)
    assert np.all(third == 0.0)


def test_sssc_nearly_singular_slab_system_gives_finite_non_negative_variances():
    """Identical columns, huge slab variance, tiny noise: Lambda^-1 is numerically singular and is
    regularised; the variances stay sums of squares."""
    rng = np.random.default_rng(12)
    w = rng.normal(size=(5, 1))
    W = np.hstack([w, w, w])
    bits = np.array([[[1, 1, 1], [1, 1, 0], [0, 0, 0]]], dtype=np.uint8)
    p = Problem(rng.normal(size=(1, 5)), W, np.full(3, 0.3), np.zeros(3), np.full(3, 1e8), 1e-10, bits)
    lpj = np.array([[-0.5, 0.0, -1.0]])
    mean, var, third = p.sssc(lpj)
    for a in (mean, var, third):
        assert np.all(np.isfinite(a))
    assert np.all(var >= 0)


# ----------------------------------------------------------------------------- threads


@pytest.mark.parametrize("kind", ["bsc", "sssc"])
def test_moments_bit_identical_for_one_and_two_threads(kind):
    p = make_problem(13, N=2100, D=9, H=12, S=6)
    lpj = random_lpj(np.random.default_rng(14), p.N, p.S, 5.0)
    results = []
    for threads in (1, 2):
        with thread_count(threads):
            results.append(getattr(p, kind)(lpj, order=3))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- Python layer


def test_models_return_posterior_moments():
    p = make_problem(15, N=5, D=6, H=7, S=5)
    lpj = random_lpj(np.random.default_rng(16), p.N, p.S, 3.0)
    states = TruncatedStates(p.K, lpj, 7)
    bsc = BSC(BSCParams(p.W, p.pi, p.sigma2))
    sssc = SSSC(SSSCParams(p.W, p.pi, p.mu, p.psi, p.sigma2))
    for model, want in [(bsc, p.bsc(lpj)), (sssc, p.sssc(lpj))]:
        only_mean = model.posterior_moments(states, products=model.dense_products(p.Y))
        assert isinstance(only_mean, PosteriorMoments)
        assert only_mean.variance is None and only_mean.third is None
        np.testing.assert_array_equal(only_mean.mean, want[0])
        full = model.posterior_moments(states, order=3, products=model.dense_products(p.Y))
        for got, w in zip((full.mean, full.variance, full.third), want):
            np.testing.assert_array_equal(got, w)
        with pytest.raises(ValueError, match="order"):
            model.posterior_moments(states, order=4, products=model.dense_products(p.Y))


def test_posterior_moments_checks_its_shapes():
    with pytest.raises(ValueError, match="variance"):
        PosteriorMoments(np.zeros((3, 4)), variance=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="mean"):
        PosteriorMoments(np.zeros(4))


# ----------------------------------------------------------------------------- bad inputs


@pytest.fixture
def small():
    p = make_problem(17, N=3, D=4, H=5, S=4)
    return p, random_lpj(np.random.default_rng(18), p.N, p.S, 2.0)


@pytest.mark.parametrize("order", [0, 4, -1])
def test_bad_order_is_a_value_error(small, order):
    p, lpj = small
    with pytest.raises(ValueError, match="order must be 1"):
        p.bsc(lpj, order=order)
    with pytest.raises(ValueError, match="order must be 1"):
        p.sssc(lpj, order=order)


def with_value(a: np.ndarray, index, value) -> np.ndarray:
    a = a.copy()
    a[index] = value
    return a


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda p, lpj: {"lpj": lpj[:, :-1]}, "has shape"),
        (lambda p, lpj: {"lpj": lpj[:-1]}, "has shape"),
        (lambda p, lpj: {"lpj": with_value(lpj, (1, 2), np.nan)}, "lpj contains NaN"),
        (lambda p, lpj: {"lpj": with_value(lpj, (0, 0), np.inf)}, "lpj contains NaN"),
        (lambda p, lpj: {"lpj": with_value(lpj, 1, -np.inf)}, "no finite maximum"),
        (lambda p, lpj: {"W": with_value(p.W, (0, 1), np.nan)}, "W contains NaN"),
        (lambda p, lpj: {"W": p.W[:, :-1]}, "W has shape|beyond H"),  # BSC takes H from W
        (lambda p, lpj: {"W": p.W[0]}, "W has shape"),
        (lambda p, lpj: {"K": p.K[:, :, :0]}, "K has shape"),
        (lambda p, lpj: {"K": p.K[:, :0], "lpj": lpj[:, :0]}, "at least one state"),
    ],
)
def test_bad_inputs_are_value_errors(small, bad, message):
    p, lpj = small
    over = bad(p, lpj)
    args = {"W": p.W, "K": p.K, "lpj": lpj, **over}
    with pytest.raises(ValueError, match=message):
        core_calls.bsc_posterior_moments(args["W"], args["K"], args["lpj"], 2)
    with pytest.raises(ValueError, match=message):
        p.sssc(order=2, **args)


def test_bad_sssc_only_inputs_are_value_errors(small):
    p, lpj = small
    with pytest.raises(ValueError, match="WtY contains NaN"):
        p.sssc(lpj, WtY=with_value(p.Y @ p.W, (0, 0), np.nan))
    with pytest.raises(ValueError, match="psi"):
        p.sssc(lpj, psi=with_value(p.psi, 0, 0.0))
    with pytest.raises(ValueError, match="WtW has shape"):
        p.sssc(lpj, WtW=np.eye(4))
