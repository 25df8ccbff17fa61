"""The simulated tomogram (zeroshot.data.simulated_tomogram): shape and dtype, determinism, the noise's ACF and
PSD against what the module documents (and against the real slice's flat ice), the bilayer, the missing wedge,
speed. Reads only what the installed package ships."""

from __future__ import annotations

import time

import numpy as np
import pytest

import zeroshot
from zeroshot.data import SARSCOV2_BACKGROUND, SimulatedTomogram, sarscov2, simulated_tomogram
from zeroshot.data.tomogram import TOMOGRAM_NOISE_SIGMA, tomogram_noise_spectra

SMALL = (16, 96, 96)
# the documented noise ACF at lags 1, 2, 3 along z, y, x (module docstring)
DOCUMENTED = {0: (0.50, 0.05, 0.005), 1: (0.944, 0.795, 0.600), 2: (0.875, 0.570, 0.201)}


@pytest.fixture(scope="module")
def medium() -> SimulatedTomogram:
    return simulated_tomogram((32, 128, 128), seed=3)


def circular_acf(noise: np.ndarray, axis: int, lags: int = 3) -> np.ndarray:
    """The sample correlation of a periodic field at lags 1..lags along `axis` (mean removed)."""
    x = noise - noise.mean()
    return np.array([np.mean(x * np.roll(x, k, axis=axis)) for k in range(1, lags + 1)]) / np.mean(x * x)


def test_shape_dtype_and_fields():
    tomo = simulated_tomogram(SMALL)
    assert isinstance(tomo, SimulatedTomogram)
    assert zeroshot.data.simulated_tomogram is simulated_tomogram
    for volume in (tomo.clean, tomo.noisy):
        assert volume.shape == SMALL and volume.dtype == np.float64 and np.isfinite(volume).all()
    assert tomo.noise_sigma == TOMOGRAM_NOISE_SIGMA
    assert [s.shape for s in tomo.spectra] == [(16,), (96,), (96,)]
    assert tomo.noise_psd().shape == SMALL and tomo.slice_psd().shape == SMALL[1:]
    assert tomo.virions.ndim == 2 and tomo.virions.shape[1] == 4
    # EM contrast: empty ice is the lightest value, dense material darker; all positive
    assert 0.0 < tomo.clean.min() < 0.6 and tomo.clean.max() == pytest.approx(0.72)
    assert np.mean(np.abs(tomo.clean - 0.72) < 0.005) > 0.2  # a good part of it empty ice


def test_deterministic_for_a_seed():
    a, b, c = simulated_tomogram(SMALL, seed=5), simulated_tomogram(SMALL, seed=5), simulated_tomogram(SMALL, seed=6)
    assert np.array_equal(a.clean, b.clean) and np.array_equal(a.noisy, b.noisy)
    assert np.array_equal(a.virions, b.virions)
    assert not np.array_equal(a.noisy, c.noisy)


@pytest.mark.parametrize("bad", [(64, 64), (4, 64, 64), (16, 64, 64.0), (True, 64, 64), "64"])
def test_bad_shape_refused(bad):
    with pytest.raises(ValueError, match="shape"):
        simulated_tomogram(bad)


@pytest.mark.parametrize(("kwargs", "what"), [({"seed": -1}, "seed"), ({"noise_sigma": -0.1}, "noise_sigma"),
                                              ({"noise_sigma": float("inf")}, "noise_sigma")])  # fmt: skip
def test_bad_arguments_refused(kwargs, what):
    with pytest.raises(ValueError, match=what):
        simulated_tomogram(SMALL, **kwargs)


def test_noise_sigma_zero_gives_the_clean_volume():
    tomo = simulated_tomogram(SMALL, noise_sigma=0.0)
    assert np.array_equal(tomo.noisy, tomo.clean)


def test_exact_acf_is_the_documented_one():
    for shape in (SMALL, (64, 256, 256)):
        empty = np.zeros(shape)
        acf = SimulatedTomogram(empty, empty, 1.0, tomogram_noise_spectra(shape), np.zeros((0, 4))).noise_acf(3)
        assert np.allclose(acf[:, 0], 1.0)
        for axis, expected in DOCUMENTED.items():
            assert acf[axis, 1:] == pytest.approx(expected, abs=0.01), (shape, axis)


def test_measured_noise_acf_and_sigma(medium):
    noise = medium.noisy - medium.clean
    assert noise.std() == pytest.approx(TOMOGRAM_NOISE_SIGMA, rel=0.05)
    exact = medium.noise_acf(3)
    for axis, expected in DOCUMENTED.items():
        measured = circular_acf(noise, axis)
        assert measured == pytest.approx(exact[axis, 1:], abs=0.03), axis
        assert measured[0] == pytest.approx(expected[0], abs=0.03), axis


def test_in_plane_acf_matches_the_real_slice():
    # the real slice's flat ice after a plane fit; its x (along a row) and y (down a column) lags 1..3
    ice = sarscov2().data[SARSCOV2_BACKGROUND].astype(np.float64)
    rows, cols = np.indices(ice.shape)
    design = np.stack([np.ones(ice.size), rows.ravel(), cols.ravel()], axis=1)
    ice = ice - (design @ np.linalg.lstsq(design, ice.ravel(), rcond=None)[0]).reshape(ice.shape)

    def lagged(axis: int, k: int) -> float:
        a = ice[:-k] if axis == 0 else ice[:, :-k]
        b = ice[k:] if axis == 0 else ice[:, k:]
        return float(np.mean((a - ice.mean()) * (b - ice.mean())) / ice.var())

    exact = simulated_tomogram(SMALL).noise_acf(3)
    for k in (1, 2, 3):
        assert exact[1, k] == pytest.approx(lagged(0, k), abs=0.01)  # y: down a column
        assert exact[2, k] == pytest.approx(lagged(1, k), abs=0.01)  # x: along a row


def test_psds_are_the_noise_spectrum(medium):
    psd = medium.noise_psd()
    n = psd.size
    # lag 0 of the autocovariance is σ², lag 1 along each axis σ² times the ACF there
    autocov = np.fft.ifftn(psd).real / n
    sigma2 = TOMOGRAM_NOISE_SIGMA**2
    assert autocov[0, 0, 0] == pytest.approx(sigma2)
    acf = medium.noise_acf(1)
    assert autocov[1, 0, 0] / sigma2 == pytest.approx(acf[0, 1])
    assert autocov[0, 1, 0] / sigma2 == pytest.approx(acf[1, 1])
    assert autocov[0, 0, 1] / sigma2 == pytest.approx(acf[2, 1])
    # a slice's PSD is the 3-D one summed over kz (÷ Z²): E|fft2(noise[z])|²
    z = psd.shape[0]
    assert np.allclose(medium.slice_psd(), psd.sum(axis=0) / z**2)
    # the measured periodogram of the noise agrees with it on average over bands of frequencies
    noise = medium.noisy - medium.clean
    periodogram = np.abs(np.fft.fftn(noise)) ** 2
    fx = np.abs(np.fft.fftfreq(psd.shape[2]))[None, None, :]
    for lo, hi in ((0.0, 0.02), (0.02, 0.05), (0.05, 0.1), (0.1, 0.2)):
        band = np.broadcast_to((fx >= lo) & (fx < hi), psd.shape)
        assert periodogram[band].mean() == pytest.approx(psd[band].mean(), rel=0.1), (lo, hi)


def test_virion_bilayer_is_two_dark_leaflets_four_voxels_apart():
    tomo = simulated_tomogram((64, 160, 160), seed=0)
    whole = [v for v in tomo.virions if all(v[3] + 8 < c < n - v[3] - 8 for c, n in zip(v[:3], tomo.clean.shape))]
    assert whole, "no virion lies whole inside the volume"
    ice = 0.72
    found = checked = 0
    for cz, cy, cx, radius in whole:
        centre = np.rint([cz, cy, cx]).astype(int)
        for axis in range(3):
            for sign in (-1, 1):
                index = [np.full(2 * 8 + 1, c) for c in centre]
                steps = np.arange(int(radius) - 8, int(radius) + 9)
                index[axis] = centre[axis] + sign * steps
                profile = tomo.clean[tuple(index)]
                checked += 1
                minima = [i for i in range(1, len(profile) - 1) if profile[i] < min(profile[i - 1], profile[i + 1])]
                dark = [i for i in minima if profile[i] < ice - 0.12]
                pairs = [(a, b) for a in dark for b in dark if 3 <= b - a <= 5]
                if any(profile[a:b].max() > max(profile[a], profile[b]) + 0.05 for a, b in pairs):
                    found += 1
    assert found >= 0.75 * checked, f"a two-leaflet membrane on {found} of {checked} radial profiles"


def test_the_cell_edge_is_there():
    tomo = simulated_tomogram((16, 256, 256), seed=0)
    # a large curved membrane: long runs of dark voxels far from every virion
    far = np.ones(tomo.clean.shape, bool)
    z, y, x = np.indices(tomo.clean.shape)
    for cz, cy, cx, r in tomo.virions:
        far &= (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 > (r + 16) ** 2
    assert np.count_nonzero(far & (tomo.clean < 0.58)) > 2000


def test_missing_wedge():
    plain, wedged = simulated_tomogram(SMALL, seed=1), simulated_tomogram(SMALL, seed=1, wedge=True)
    assert np.allclose(plain.noisy - plain.clean, wedged.noisy - wedged.clean)  # the same noise
    assert not np.allclose(plain.clean, wedged.clean)
    spectrum = np.abs(np.fft.fftn(wedged.clean)) ** 2
    kz, kx = np.fft.fftfreq(SMALL[0])[:, None, None], np.fft.fftfreq(SMALL[2])[None, None, :]
    angle = np.degrees(np.arctan2(np.abs(kz), np.abs(kx)))
    missing = np.broadcast_to(angle > 70.0, spectrum.shape)
    assert spectrum[missing].sum() < 1e-6 * spectrum.sum()
    kept = np.broadcast_to(angle < 50.0, spectrum.shape)
    original = np.abs(np.fft.fftn(plain.clean)) ** 2
    assert np.allclose(spectrum[kept], original[kept], rtol=1e-6, atol=1e-9 * original.sum())


def test_default_size_is_quick():
    start = time.perf_counter()
    tomo = simulated_tomogram()
    elapsed = time.perf_counter() - start
    assert tomo.clean.shape == (64, 256, 256)
    assert elapsed < 20.0  # about 1 s on the 2-core development machine; loose for slow CI runners
    assert len(tomo.virions) >= 3
