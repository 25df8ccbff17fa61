"""The generalized Anscombe transform and its exact unbiased inverse (Mäkitalo & Foi 2011, 2013)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zeroshot.noise import (
    PoissonGaussian,
    exact_unbiased_inverse,
    expected_gat,
    gat,
    gat_inverse,
    gat_inverse_derivative,
    gat_inverse_variance,
)
from zeroshot.noise.anscombe import D0

RATES = [0.5, 1.0, 4.0, 16.0, 100.0]


def _poisson_expectation(lam: float, sigma: float = 0.0) -> float:
    """E[2 sqrt(p + 3/8 + σ²)] by a plain sum over the pmf (pure Poisson) — an independent reference."""
    k = np.arange(int(lam + 20 * math.sqrt(lam) + 40))
    log_pmf = k * math.log(lam) - lam - np.array([math.lgamma(i + 1) for i in k])
    return float(np.sum(np.exp(log_pmf) * 2 * np.sqrt(k + 0.375 + sigma**2)))


def test_forward_matches_the_formula_and_clips_at_zero():
    p = PoissonGaussian(gain=2.0, offset=5.0, read_noise=3.0)
    z = np.array([-100.0, 0.0, 5.0, 50.0])
    arg = 2.0 * z + 3 / 8 * 4.0 + 9.0 - 10.0
    expected = np.where(arg > 0, (2 / 2.0) * np.sqrt(np.maximum(arg, 0)), 0.0)
    assert np.allclose(gat(z, p), expected)
    assert gat(z, p)[0] == 0.0


@pytest.mark.parametrize("lam", RATES)
def test_expected_gat_equals_a_direct_sum(lam):
    assert expected_gat(np.array([lam]))[0] == pytest.approx(_poisson_expectation(lam), rel=1e-10)


@pytest.mark.parametrize("lam", [0.0, *RATES])
def test_closed_form_inverse_maps_the_exact_mean_back_to_the_rate(lam):
    """I(E[f(z) | λ]) ≈ λ: the closed form is within 0.02 counts of the exact unbiased inverse."""
    D = expected_gat(np.array([lam]))
    assert gat_inverse(D, PoissonGaussian())[0] == pytest.approx(lam, abs=0.02)
    assert exact_unbiased_inverse(D, PoissonGaussian())[0] == pytest.approx(lam, abs=1e-4)


@pytest.mark.parametrize("sigma", [0.5, 2.0])
@pytest.mark.parametrize("lam", RATES)
def test_poisson_gaussian_inverse_is_unbiased(lam, sigma):
    """With read noise, in normalised units (gain 1): the closed form I₀ − σ̃² within 0.05, the tabulated
    inverse within 1e-4, and gain and offset carried through."""
    D = expected_gat(np.array([lam]), sigma)
    assert gat_inverse(D, PoissonGaussian(1.0, 0.0, sigma))[0] == pytest.approx(lam, abs=0.05)
    assert exact_unbiased_inverse(D, PoissonGaussian(1.0, 0.0, sigma))[0] == pytest.approx(lam, abs=1e-4)
    scaled = PoissonGaussian(gain=3.0, offset=7.0, read_noise=3.0 * sigma)  # the same σ̃
    assert gat_inverse(D, scaled)[0] == pytest.approx(3.0 * gat_inverse(D, PoissonGaussian(1, 0, sigma))[0] + 7.0)


@pytest.mark.parametrize("lam", RATES)
def test_round_trip_on_constant_images_is_unbiased(lam):
    """The forward applied to Poisson samples of a constant image, the inverse to the mean of the transformed
    samples (what an ideal denoiser returns): the rate comes back within 3 standard errors (plus the closed
    form's 0.02); the algebraic inverse (D/2)² − 3/8 is off at low counts."""
    rng = np.random.default_rng(int(lam * 10))
    samples = rng.poisson(lam, size=(400, 500)).astype(np.float64)
    f = gat(samples, PoissonGaussian())
    D = float(f.mean())
    se = float(f.std() / math.sqrt(f.size))
    estimate = float(gat_inverse(np.array(D), PoissonGaussian()))
    slope = float(gat_inverse_derivative(np.array(D), PoissonGaussian()))
    assert abs(estimate - lam) < 3 * slope * se + 0.02
    if lam <= 1:
        assert abs((D / 2) ** 2 - 0.375 - lam) > 5 * slope * se


def test_poisson_gaussian_round_trip_with_gain_and_offset():
    p = PoissonGaussian(gain=2.5, offset=10.0, read_noise=4.0)
    rng = np.random.default_rng(5)
    for lam in (1.0, 8.0):
        z = p.gain * rng.poisson(lam, 200_000) + p.offset + p.read_noise * rng.standard_normal(200_000)
        D = float(gat(z, p).mean())
        assert float(exact_unbiased_inverse(np.array(D), p)) == pytest.approx(p.gain * lam + p.offset, abs=0.05)
        assert float(gat_inverse(np.array(D), p)) == pytest.approx(p.gain * lam + p.offset, abs=0.25)


def test_transform_stabilises_the_variance():
    rng = np.random.default_rng(1)
    for lam in (4.0, 16.0, 100.0):
        assert float(np.var(gat(rng.poisson(lam, 100_000), PoissonGaussian()))) == pytest.approx(1.0, abs=0.06)


def test_inverse_is_zero_below_d0_and_monotone():
    D = np.linspace(0.0, 30.0, 3001)
    values = gat_inverse(D, PoissonGaussian())
    assert np.all(values[D <= D0] == 0.0)
    assert np.all(np.diff(values) >= 0)
    assert np.all(gat_inverse_derivative(D, PoissonGaussian()) > 0)


def test_variance_by_the_delta_method():
    p = PoissonGaussian(gain=2.0)
    D, var = np.array([3.0, 10.0]), np.array([0.04, 0.01])
    h = 1e-6
    slope = (gat_inverse(D + h, p) - gat_inverse(D - h, p)) / (2 * h)
    assert np.allclose(gat_inverse_derivative(D, p), slope, rtol=1e-6)
    assert np.allclose(gat_inverse_variance(D, var, p), slope**2 * var, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gain": 0.0}, "gain must be > 0"),
        ({"read_noise": -1.0}, "read_noise must be >= 0"),
        ({"offset": math.nan}, "offset must be a finite number"),
    ],
)
def test_bad_parameters_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PoissonGaussian(**kwargs)


def test_expected_gat_refuses_negative_rates():
    with pytest.raises(ValueError, match="rates"):
        expected_gat(np.array([-1.0]))
