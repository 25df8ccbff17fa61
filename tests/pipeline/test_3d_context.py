"""3-D context (`DenoiseConfig.context` = d): patches of d neighbouring slices, D = d P², learned from the slabs
around the training slices, the centre slice's posterior moments written back; the slab noise ACF with lags along
z; context "auto" for volumes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import zeroshot
from zeroshot.cli.main import main
from zeroshot.config import DenoiseConfig
from zeroshot.noise.slab import SlabNoiseACF, estimate_slab_noise_acf, slab_noise_covariance
from zeroshot.noise.statistics import NoiseACF, estimate_noise_acf, noise_covariance
from zeroshot.patches.extract import patch_range
from zeroshot.patches.grid import PatchGrid
from zeroshot.patches.slab import centre_block, slab_patch_range, slab_patches_at
from zeroshot.pipeline.scaling import ImageScaling
from zeroshot.pipeline.slab import choose_context, shared_signal, slab_indices, slab_of, z_correlation
from zeroshot.pipeline.trained import TrainedModel, pixel_noise_sigma
from zeroshot.runtime.checkpoint import config_record
from zeroshot.runtime.memory import estimate_memory
from zeroshot.volume import training_slices

OPTIONS = {"n_latents": 16, "n_states": 8, "epochs": 4, "patch_size": 5, "threads": 1, "noise": "white"}
FAST = ["--latents", "16", "--states", "8", "--epochs", "3", "--patch-size", "5", "--threads", "1"]


def pattern(size: int = 48) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return 0.2 + 0.4 * ((x // 7) % 2) + 0.3 * ((y // 11) % 2) + 0.2 * (((x + y) // 9) % 2)


def copies(slices: int = 7, sigma: float = 0.3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy): one image in every slice, independent white noise in each."""
    clean = pattern()
    noisy = np.stack([clean] * slices) + sigma * np.random.default_rng(seed).standard_normal((slices, *clean.shape))
    return clean, noisy


def psnr(clean: np.ndarray, out: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((out - clean) ** 2)))


def z_correlated_noise(slices: int = 3, size: int = 256, seed: int = 0) -> np.ndarray:
    """Unit-variance Gaussian noise with correlation 0.5 at lag 1 along z and down the rows, 0 beyond and along
    the columns: C(Δz, Δr, Δc) = ρ_z(Δz) ρ_r(Δr) δ(Δc)."""
    e = np.random.default_rng(seed).standard_normal((slices + 1, size + 1, size))
    n = (e[:-1] + e[1:]) / np.sqrt(2)
    return (n[:, :-1] + n[:, 1:]) / np.sqrt(2)


# ------------------------------------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("context", "match"),
    [
        (2, r"context \(the slices a patch spans\) must be odd, 1 to 15"),
        (17, r"must be odd, 1 to 15"),
        (0, r"context must be an integer >= 1, got 0"),
        ("3", r"context must be an integer >= 1, got '3'"),
        (True, r"context must be an integer >= 1, got True"),
    ],
)
def test_bad_contexts_are_refused(context, match):
    with pytest.raises(ValueError, match=match):
        DenoiseConfig(context=context)


def test_the_structure_guard_is_refused_with_context():
    with pytest.raises(ValueError, match=r"structure_guard judges one 2-D image: it cannot run with context > 1"):
        DenoiseConfig(context=3, structure_guard=True)


def test_context_is_recorded_only_when_it_is_not_1():
    assert "context" not in config_record(DenoiseConfig())  # 2-D records (and older files) unchanged
    assert config_record(DenoiseConfig(context=3))["context"] == 3


def test_a_2d_image_with_context_is_refused():
    with pytest.raises(ValueError, match=r"context = 3 \(patches spanning 3 slices\) needs a volume, but a 2-D image"):
        zeroshot.denoise(pattern(), context=3, **OPTIONS)
    with pytest.raises(ValueError, match=r"context = 3 \(patches spanning 3 slices\) needs a volume"):
        zeroshot.train([pattern()], context=3, **OPTIONS)


def test_a_slab_of_the_wrong_depth_is_refused():
    _, noisy = copies(5)
    with pytest.raises(ValueError, match=r"context = 3: a slab must be \(3, rows, cols\).*got shape \(5, 48, 48\)"):
        zeroshot.denoise(noisy, context=3, **OPTIONS)


def test_bad_volume_contexts_are_refused():
    _, noisy = copies(5)
    with pytest.raises(ValueError, match=r"context = 7 spans 7 slices, but the volume has 5: use a context of at most"):
        zeroshot.denoise_volume(noisy, context=7, **OPTIONS)
    with pytest.raises(ValueError, match=r"must be odd, 1 to 15"):
        zeroshot.denoise_volume(noisy, context=4, **OPTIONS)
    with pytest.raises(ValueError, match=r"context must be 'auto' or an odd number of slices"):
        zeroshot.denoise_volume(noisy, context="three", **OPTIONS)


# ---------------------------------------------------------------------------------------------------- the slabs


def test_slabs_are_mirrored_at_the_volume_ends_without_repeating_the_end_slice():
    assert slab_indices(0, 5, 3) == [1, 0, 1]
    assert slab_indices(4, 5, 3) == [3, 4, 3]
    assert slab_indices(2, 5, 3) == [1, 2, 3]
    assert slab_indices(0, 5, 5) == [2, 1, 0, 1, 2]
    assert slab_indices(1, 5, 5) == [1, 0, 1, 2, 3]
    assert slab_indices(0, 1, 1) == [0]
    volume = np.arange(5)[:, None, None] * np.ones((5, 2, 2))
    np.testing.assert_array_equal(slab_of(volume, 4, 3)[:, 0, 0], [3, 4, 3])
    np.testing.assert_array_equal(slab_of(list(volume), 0, 3)[:, 0, 0], [1, 0, 1])  # a list of frames too
    assert slab_of(volume, 2, 1).shape == (2, 2)


def test_training_slabs_lie_inside_the_volume():
    assert training_slices(16, 8, context=1) == [8, 1, 3, 5, 9, 11, 13, 15]
    assert training_slices(16, 8, context=3) == [8, 1, 3, 5, 7, 10, 12, 14]  # of slices 1..14, whose slabs are inside
    chosen = training_slices(16, 8, context=5)
    assert chosen[0] == 8 and min(chosen) >= 2 and max(chosen) <= 13
    assert training_slices(3, 8, context=3) == [1]


def test_slab_patches_are_the_slices_patches_side_by_side():
    slab = np.random.default_rng(0).standard_normal((3, 9, 11))
    grid = PatchGrid.of((9, 11), 4)
    Y = slab_patch_range(slab, grid, 5, 40)
    assert Y.shape == (35, 3 * 16)
    for k in range(3):
        np.testing.assert_array_equal(Y[:, 16 * k : 16 * (k + 1)], patch_range(slab[k], grid, 5, 40))
    np.testing.assert_array_equal(centre_block(Y, 3), patch_range(slab[1], grid, 5, 40))
    rows = np.array([0, 3, 17, 41, 47])
    np.testing.assert_array_equal(slab_patches_at(slab, grid, rows, 7), slab_patch_range(slab, grid, 0, grid.N)[rows])
    image = slab[0]
    assert slab_patch_range(image, grid, 5, 40).shape == (35, 16)  # an image: its own patches
    assert centre_block(Y, 1) is Y


# ---------------------------------------------------------------------------------------------- denoising


def test_identical_slices_with_independent_noise_are_denoised_better_with_context():
    clean, noisy = copies()
    flat = zeroshot.denoise_volume(noisy, context=1, **OPTIONS)
    deep = zeroshot.denoise_volume(noisy, context=3, moments=2, **OPTIONS)
    assert flat.denoised is not None and deep.denoised is not None and deep.variance is not None
    assert deep.denoised.shape == noisy.shape and deep.variance.shape == noisy.shape
    assert deep.context == 3 and flat.context == 1
    assert deep.model is not None and deep.model.model.W.shape == (3 * 25, 16)
    gain = psnr(clean, deep.denoised) - psnr(clean, flat.denoised)
    assert gain > 1.5, gain
    assert np.all(deep.variance >= 0) and np.all(np.isfinite(deep.variance))
    # Each slice is the model's inference on its slab (the end slices on their mirrored slabs).
    for z in (0, 3):
        alone = zeroshot.denoise(slab_of(noisy, z, 3), model=deep.model, moments=2, threads=1)
        np.testing.assert_array_equal(deep.denoised[z], alone.denoised)
        np.testing.assert_array_equal(deep.variance[z], alone.variance)


def test_the_centre_slice_is_written_back():
    a, b, c = pattern(), pattern()[::-1], pattern()[:, ::-1]
    rng = np.random.default_rng(3)
    noisy = np.stack([a, b, c]) + 0.05 * rng.standard_normal((3, *a.shape))
    model = zeroshot.train(noisy, context=3, **OPTIONS)  # one slab
    for slab, centre in ((noisy, b), (noisy[::-1], b), (noisy[[1, 0, 2]], a)):
        out = zeroshot.denoise(slab, model=model, threads=1).denoised
        errors = [float(np.mean((out - image) ** 2)) for image in (a, b, c)]
        assert float(np.mean((out - centre) ** 2)) == min(errors)
        assert float(np.mean((out - centre) ** 2)) < 0.3 * sorted(errors)[1]


def test_a_model_of_context_3_refuses_a_2d_image_and_another_context():
    _, noisy = copies(5)
    model = zeroshot.train([slab_of(noisy, 2, 3)], context=3, **OPTIONS)
    assert model.config.context == 3 and "patches of 3 slices" in model.describe()
    with pytest.raises(ValueError, match=r"the model was learned with context = 3 .* a 2-D image has no neighbouring"):
        zeroshot.denoise(noisy[0], model=model, threads=1)
    with pytest.raises(ValueError, match=r"the model was learned with context = 3 .* but context = 1 was asked"):
        zeroshot.denoise_volume(noisy, model=model, context=1, threads=1)
    with pytest.raises(ValueError, match=r"the model was learned with context = 3, but context = 1 was asked"):
        zeroshot.denoise(slab_of(noisy, 2, 3), model=model, context=1, threads=1)


def test_a_model_file_of_context_3_round_trips(tmp_path):
    from zeroshot.data import simulated_tomogram

    tomo = simulated_tomogram((8, 64, 64), seed=2)  # correlated noise: the whitening spans z
    options = {**OPTIONS, "noise": "correlated", "second_pass": "none"}
    result = zeroshot.denoise_volume(tomo.noisy, context=3, **options)
    model = result.model
    assert model is not None and model.whitening is not None
    assert model.whitening.L.shape == (75, 75)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = TrainedModel.load(path)
    assert loaded.checksum == model.checksum and loaded.config.context == 3
    np.testing.assert_array_equal(loaded.whitening.L, model.whitening.L)  # type: ignore[union-attr]
    again = zeroshot.denoise_volume(tomo.noisy, model=loaded, threads=1)
    assert again.context == 3 and again.denoised is not None and result.denoised is not None
    np.testing.assert_array_equal(again.denoised, result.denoised)
    assert z_correlation(model.whitening, 3)[0] == pytest.approx(0.5, abs=0.15)


def test_pixel_noise_sigma_counts_every_value_of_a_patch():
    config = DenoiseConfig(patch_size=5, context=3)
    assert pixel_noise_sigma(1.0, config, None, ImageScaling(1.0, 0.0, 1.0)) == pytest.approx(math.sqrt(75 / 74))


def test_the_memory_bound_grows_with_the_context():
    flat = estimate_memory((512, 512), DenoiseConfig(patch_size=8))
    deep = estimate_memory((512, 512), DenoiseConfig(patch_size=8, context=5))
    assert deep.total > flat.total
    assert "neighbouring slices" not in flat.terms
    assert deep.phases["training"] - flat.phases["training"] >= 8 * 4 * 512 * 512


# ------------------------------------------------------------------------------------------- the noise in z


def test_the_slab_noise_acf_finds_the_correlation_along_z():
    y, x = np.mgrid[:256, :256]
    structure = 0.01 * x + 3.0 * np.exp(-((x - 128) ** 2 + (y - 100) ** 2) / (2 * 25.0**2))
    for seed in range(2):
        slab = 3.0 * (z_correlated_noise(seed=seed) + structure) + 10.0
        acf = estimate_slab_noise_acf(slab)
        L = acf.max_lag
        assert acf.cov.shape == (3, 2 * L + 1, 2 * L + 1)
        assert math.sqrt(acf.variance) == pytest.approx(3.0, rel=0.05)
        rho = acf.cov / acf.variance
        exact = np.zeros_like(rho)  # ρ_z(Δz) ρ_r(Δr) δ(Δc)
        for dz, rz in ((0, 1.0), (1, 0.5)):
            for dr, rr in ((0, 1.0), (1, 0.5), (-1, 0.5)):
                exact[dz, L + dr, L] = rz * rr
        near = (slice(None), slice(L - 3, L + 4), slice(L - 3, L + 4))
        np.testing.assert_allclose(rho[near], exact[near], atol=0.04)


def test_one_slice_gives_the_2d_estimate():
    slab = z_correlated_noise(slices=1, size=128)
    np.testing.assert_allclose(estimate_slab_noise_acf(slab).cov[0], estimate_noise_acf(slab[0]).cov, atol=1e-12)


def test_the_slab_covariance_holds_the_2d_one_at_every_slice():
    cov = np.zeros((3, 7, 7))  # separable, positive definite: ρ_z (1, 0.3, 0.05) times ρ_r (1, 0.4) down the rows
    for dz, rz in enumerate((1.0, 0.3, 0.05)):
        cov[dz, 3, 3], cov[dz, 4, 3], cov[dz, 2, 3] = rz, 0.4 * rz, 0.4 * rz
    acf = SlabNoiseACF(cov, 32, 10)
    sigma = slab_noise_covariance(acf, 4, 3)
    assert sigma.shape == (48, 48)
    np.testing.assert_allclose(sigma, sigma.T)
    assert np.linalg.eigvalsh(sigma).min() > 0
    plane = noise_covariance(NoiseACF(cov[0], 32, 10), 4)
    for k in range(3):
        np.testing.assert_allclose(sigma[16 * k : 16 * (k + 1), 16 * k : 16 * (k + 1)], plane, atol=1e-12)
    assert sigma[0, 16] == 0.3 and sigma[0, 32] == 0.05 and sigma[5, 16 + 5] == 0.3  # pixel 0 to 0 one slice on
    assert sigma[0, 16 + 4] == pytest.approx(0.12) and sigma[16 + 4, 0] == pytest.approx(0.12)  # lag (1, 1, 0)
    assert sigma[0, 16 + 1] == 0.0  # no lag (1, 0, 1) in the ACF


# ------------------------------------------------------------------------------------------------- auto


def test_auto_takes_3_where_neighbouring_slices_share_their_signal():
    _, noisy = copies()
    assert shared_signal(noisy[2:5]) == pytest.approx(1.0, abs=0.1)
    assert choose_context(noisy, training_slices(7)).context == 3
    rng = np.random.default_rng(0)
    fields = np.stack([np.kron(rng.standard_normal((6, 6)), np.ones((8, 8))) for _ in range(5)])  # unrelated
    chosen = choose_context(fields + 0.05 * rng.standard_normal(fields.shape), training_slices(5))
    assert chosen.context == 1 and "of their signal (< 0.3)" in chosen.reason
    assert choose_context(noisy[:2], [0, 1]).context == 1  # too few slices
    result = zeroshot.denoise_volume(noisy, **OPTIONS)
    assert result.context == 3 and "neighbouring slices share" in result.context_choice
    assert result.model is not None and result.model.config.context == 3
    per_slice = zeroshot.denoise_volume(noisy[:3], per_slice=True, **OPTIONS)  # each slice learned as an image
    assert per_slice.context == 1 and "a model per slice" in per_slice.context_choice


# -------------------------------------------------------------------------------------------------- the CLI


def test_the_cli_denoises_a_stack_with_context(tmp_path, capsys):
    _, noisy = copies(5)
    source, target = tmp_path / "tomo.npy", tmp_path / "out.npy"
    np.save(source, noisy.astype(np.float32))
    assert main(["denoise", str(source), "-o", str(target), "--context", "3", "--noise", "white", *FAST]) == 0
    record = json.loads((tmp_path / "out.npy.json").read_text())
    assert record["settings"]["context"] == 3
    assert record["volume"]["context"] == 3 and record["volume"]["trained_on_frames"] == [3, 2, 4]
    api = zeroshot.denoise_volume(noisy.astype(np.float32), context=3, **{**OPTIONS, "epochs": 3})
    assert api.denoised is not None
    np.testing.assert_array_equal(np.load(target), api.denoised)
    # without --context, a stack whose frames share their structure gets 3 ("auto"), said on stderr
    assert main(["denoise", str(source), "-o", str(tmp_path / "auto.npy"), "--noise", "white", *FAST]) == 0
    assert "context 3: neighbouring slices share" in capsys.readouterr().err
    assert json.loads((tmp_path / "auto.npy.json").read_text())["settings"]["context"] == 3


def test_the_cli_refuses_context_for_an_image_and_a_short_stack(tmp_path, capsys):
    image, stack = tmp_path / "image.npy", tmp_path / "stack.npy"
    np.save(image, pattern().astype(np.float32))
    np.save(stack, copies(3)[1].astype(np.float32))
    assert main(["denoise", str(image), "-o", str(tmp_path / "a.npy"), "--context", "3", *FAST]) != 0
    assert "needs a volume, but a 2-D image has no neighbouring slices" in capsys.readouterr().err
    assert main(["denoise", str(stack), "-o", str(tmp_path / "b.npy"), "--context", "5", *FAST]) != 0
    assert "context = 5 spans 5 slices, but the stack has 3 frames; give --context 3 or less" in capsys.readouterr().err
    assert main(["denoise", str(stack), "-o", str(tmp_path / "c.npy"), "--context", "2", *FAST]) != 0
    assert "must be odd" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ the patch size


def test_the_noise_left_in_the_mean_of_the_slices():
    from zeroshot.noise import CorrelatedNoise, WhiteNoise
    from zeroshot.pipeline.slab import noise_averaging

    white = WhiteNoise("white", "white")
    correlated = CorrelatedNoise("correlated", "correlated")
    cov = np.zeros((3, 3, 3))
    cov[:, 1, 1] = (2.0, 1.0, 0.1)  # ρ_z = 1, 0.5, 0.05
    acf = SlabNoiseACF(cov, 32, 10)
    assert noise_averaging(1, acf, correlated) == 1.0
    assert noise_averaging(3, None, white) == pytest.approx(1 / 3)
    assert noise_averaging(5, None, white) == pytest.approx(1 / 5)
    assert noise_averaging(3, acf, correlated) == pytest.approx((1 + 2 * (2 / 3 * 0.5 + 1 / 3 * 0.05)) / 3)
    assert noise_averaging(3, None, correlated) == 1.0  # unknown: the 2-D rule


def test_patches_of_several_slices_take_the_patch_size_of_the_noise_left():
    from zeroshot.noise.patch_size import choose_patch_size, relative_noise

    rng = np.random.default_rng(0)
    image = pattern(96) + 0.25 * rng.standard_normal((96, 96))
    r = relative_noise(image)
    assert 0.9 < r < 1.2
    assert choose_patch_size(image) >= 8  # the high-noise rule: round(3 + 6 r)
    assert choose_patch_size(image, averaging=1 / 3) == 5  # r / sqrt(3) < 0.7


def test_ranks_share_the_slices_of_a_volume_with_context():
    from thread_comm import run_ranks

    _, noisy = copies(5)
    one = zeroshot.denoise_volume(noisy, context=3, **OPTIONS)
    ranks = run_ranks(2, lambda comm: zeroshot.denoise_volume(noisy, context=3, comm=comm, **OPTIONS))
    assert one.denoised is not None and ranks[0].denoised is not None and ranks[1].denoised is None
    np.testing.assert_array_equal(ranks[0].denoised, one.denoised)


def test_the_cli_reads_a_stack_whole_with_context_too(tmp_path):
    _, noisy = copies(5)
    source = tmp_path / "tomo.npy"
    np.save(source, noisy.astype(np.float32))
    target = tmp_path / "variance.npy"  # enhance reads the stack whole (the streamed path is denoise's)
    assert main(["enhance", str(source), "-o", str(target), "--kind", "variance", "--context", "3", *FAST]) == 0
    record = json.loads((tmp_path / "variance.npy.json").read_text())
    assert record["settings"]["context"] == 3 and record["volume"]["context"] == 3
    assert np.load(target).shape == noisy.shape and np.all(np.load(target) >= 0)
