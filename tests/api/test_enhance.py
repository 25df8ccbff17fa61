"""Structure enhancement: `zeroshot.enhance` and `render_kind` on a small synthetic image."""

from __future__ import annotations

import numpy as np
import pytest

from zeroshot.denoise import denoise
from zeroshot.enhance import KINDS, DetailSettings, ReliefSettings, RenderSettings, enhance, render_kind

FAST = {"patch_size": 4, "n_latents": 12, "n_states": 12, "epochs": 6, "threads": 1}


@pytest.fixture(scope="module")
def noisy() -> np.ndarray:
    r, c = np.mgrid[:40, :40]
    disc = 120.0 * (((r - 20) ** 2 + (c - 18) ** 2) < 100)  # a bright particle on a dark background
    return 30.0 + disc + 20.0 * np.random.default_rng(3).standard_normal(disc.shape)


@pytest.fixture(scope="module")
def run(noisy):
    return denoise(noisy, moments=3, **FAST)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gives_finite_values_and_a_unit_display(run, noisy, kind):
    values, display = render_kind(run, kind)
    assert values.shape == display.shape == noisy.shape
    assert np.all(np.isfinite(values))
    assert display.min() >= 0.0 and display.max() <= 1.0 and display.max() > display.min()


def test_variance_kind_is_the_total_variance(run):
    values, _ = render_kind(run, "variance")
    np.testing.assert_array_equal(values, run.moments.variance)


def test_relief_is_bit_identical_across_runs(noisy):
    first = enhance(noisy, "relief", **FAST)
    second = enhance(noisy, "relief", **FAST)
    np.testing.assert_array_equal(first.values, second.values)
    assert first.values.min() >= 0.0 and first.values.max() <= 1.0


def test_relief_light_direction_matters(run):
    east = RenderSettings(relief=ReliefSettings(azimuth=90.0))
    west = RenderSettings(relief=ReliefSettings(azimuth=270.0))
    assert not np.array_equal(render_kind(run, "relief", east)[0], render_kind(run, "relief", west)[0])


def test_detail_keeps_the_value_scale(run):
    values, _ = render_kind(run, "detail")
    assert abs(values.mean() - run.denoised.mean()) < 0.05 * run.denoised.std()


def test_skewness_needs_third_moments(noisy):
    second_only = denoise(noisy, moments=2, **FAST)
    with pytest.raises(ValueError, match="third posterior moment"):
        render_kind(second_only, "skewness")
    with pytest.raises(ValueError, match="posterior variance"):
        render_kind(denoise(noisy, **FAST), "variance")


def test_unknown_kind(noisy, run):
    with pytest.raises(ValueError, match="kind must be one of"):
        enhance(noisy, "sharpness", **FAST)
    with pytest.raises(ValueError, match="kind must be one of"):
        render_kind(run, "sharpness")


@pytest.mark.parametrize(
    "make",
    [
        lambda: ReliefSettings(elevation=120.0),
        lambda: ReliefSettings(z_factor=0.0),
        lambda: ReliefSettings(smoothing=-1.0),
        lambda: DetailSettings(radius=-2.0),
    ],
)
def test_bad_render_settings_fail_at_once(make):
    with pytest.raises(ValueError):
        make()
