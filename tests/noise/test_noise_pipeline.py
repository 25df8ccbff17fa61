"""The noise models in `zeroshot.denoise` and in `zeroshot denoise --noise`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zeroshot
from noise_images import clean, correlated_noise
from zeroshot.cli.main import main
from zeroshot.config import DenoiseConfig

SMALL = {"n_latents": 16, "n_states": 6, "epochs": 6, "max_train_patches": 1500, "inference_epochs": 2}


def _rates(peak: float, shape: tuple[int, int] = (64, 72)) -> np.ndarray:
    image = clean(shape)
    return peak * (image - image.min() + 5.0) / (image.max() - image.min() + 5.0)


def test_poisson_route_beats_white_at_low_counts():
    rates = _rates(2.0)
    counts = np.random.default_rng(0).poisson(rates).astype(np.float32)
    white = zeroshot.denoise(counts, noise="white", threads=1, **SMALL)
    auto = zeroshot.denoise(counts, threads=1, moments=3, **SMALL)
    assert white.noise is not None and white.noise.kind == "white"
    assert auto.noise is not None and auto.noise.kind == "poisson" and auto.noise.asked == "auto"
    assert auto.config.noise == "auto"
    assert np.all(np.isfinite(auto.denoised)) and auto.denoised.min() >= 0
    assert np.mean((auto.denoised - rates) ** 2) < np.mean((white.denoised - rates) ** 2)
    # In the transformed domain the learned noise is about 1.
    assert 0.5 < auto.noise_sigma < 1.5
    m = auto.moments
    assert m is not None and m.third is not None and m.skewness is not None
    assert np.allclose(m.mean, auto.denoised)
    assert np.all(m.variance >= 0) and np.allclose(m.variance, m.within + m.between)
    assert np.all(np.isfinite(m.third)) and np.all(np.isfinite(m.skewness))


def test_variance_is_carried_back_by_the_delta_method():
    counts = np.random.default_rng(1).poisson(_rates(8.0)).astype(np.float64)
    result = zeroshot.denoise(counts, noise="poisson", threads=1, moments=2, **SMALL)
    assert result.noise is not None and result.noise.poisson is not None and result.moments is not None
    # posterior variance of a rate grows with the rate (shot noise), as the transform's slope does
    bright = result.denoised > np.percentile(result.denoised, 75)
    dark = result.denoised < np.percentile(result.denoised, 25)
    assert result.moments.variance[bright].mean() > result.moments.variance[dark].mean()


def test_auto_on_white_noise_is_the_white_pipeline_and_correlated_noise_is_whitened():
    """auto on white noise is bitwise noise='white'; on correlated noise auto whitens the patches by the
    estimated noise covariance, which removes more of that noise than the white model does."""
    rng = np.random.default_rng(2)
    white_image = clean((48, 48)) + 10.0 * rng.standard_normal((48, 48))
    a = zeroshot.denoise(white_image, threads=1, moments=2, **SMALL)
    b = zeroshot.denoise(white_image, noise="white", threads=1, moments=2, **SMALL)
    assert a.noise is not None and a.noise.kind == "white"
    assert np.array_equal(a.denoised, b.denoised) and a.variance is not None and b.variance is not None
    assert np.array_equal(a.variance, b.variance)
    truth = clean((64, 64))
    correlated_image = truth + correlated_noise((64, 64), 10.0, rng)
    c = zeroshot.denoise(correlated_image, threads=1, moments=2, **SMALL)
    d = zeroshot.denoise(correlated_image, noise="white", threads=1, **SMALL)
    assert c.noise is not None and c.noise.kind == "correlated"
    assert np.mean((c.denoised - truth) ** 2) < 0.8 * np.mean((d.denoised - truth) ** 2)
    assert c.variance is not None and np.all(np.isfinite(c.variance)) and np.all(c.variance >= 0)
    # The dictionary in the image's pixels: the learned (whitened) one coloured back; white runs as learned.
    assert c.whitening is not None and np.array_equal(c.dictionary, c.whitening.L @ c.model.W)
    assert a.whitening is None and a.dictionary is a.model.W


def test_bad_noise_names_the_choices():
    with pytest.raises(ValueError, match=r"noise must be one of \('auto', 'white', 'poisson', 'correlated'\)"):
        DenoiseConfig(noise="gaussian")
    with pytest.raises(ValueError, match="noise must be one of"):
        zeroshot.denoise(np.zeros((16, 16)), noise="shot")


def test_cli_poisson_counts_end_to_end(tmp_path, capsys):
    counts = np.random.default_rng(3).poisson(_rates(4.0)).astype(np.float32)
    source = tmp_path / "counts.npy"
    np.save(source, counts)
    tiny = ["--latents", "16", "--states", "4", "--epochs", "3", "--max-train-patches", "500", "--threads", "1"]
    assert main(["denoise", str(source), "-o", str(tmp_path / "p.npy"), "--noise", "poisson", "-q", *tiny]) == 0
    out = np.load(tmp_path / "p.npy")
    assert out.shape == counts.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
    record = json.loads((tmp_path / "p.npy.json").read_text())
    assert record["settings"]["noise"] == "poisson"
    assert record["results"]["noise"]["model"] == "poisson" and record["results"]["noise"]["asked"] == "poisson"
    assert "Anscombe-transformed domain" in capsys.readouterr().out
    # the default: auto decides, prints what it decided and records it
    assert main(["denoise", str(source), "-o", str(tmp_path / "a.npy"), *tiny]) == 0
    err = capsys.readouterr().err
    assert "noise: Poisson counts (gain " in err
    record = json.loads((tmp_path / "a.npy.json").read_text())
    assert record["settings"]["noise"] == "auto"
    assert record["results"]["noise"]["model"] == "poisson"
    assert record["results"]["noise"]["poisson"]["gain"] == pytest.approx(1.0, rel=0.35)
    assert np.array_equal(np.load(tmp_path / "a.npy"), out)


def test_cli_refuses_an_unknown_noise(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((16, 16), dtype=np.float32))
    with pytest.raises(SystemExit) as stop:
        main(["denoise", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"), "--noise", "gaussian"])
    assert stop.value.code == 2
    assert "--noise: invalid choice: 'gaussian'" in capsys.readouterr().err


def test_cli_poisson_on_data_that_is_not_counts_names_the_problem(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(4).standard_normal((64, 64)).astype(np.float32))
    code = main(["denoise", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"), "--noise", "poisson", "-q"])
    assert code == 2
    assert "noise='poisson': the image's noise variance does not grow with its mean" in capsys.readouterr().err
