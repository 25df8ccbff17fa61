"""A dataset of noisy images: one model trained on a few of them (few-shot) against a model per image and BM3D.

Section ``set``: for each dataset, n images (--n-images, default 20) of one kind with white Gaussian noise
clean + sigma * N(0, 1) of known sigma (--sigma, default 25, on the 0-255 scale; no clipping; image i gets the
seed --seed + i):

- ``standard``: non-overlapping --crop x --crop crops (default 128) of the standard images of
  ../shared/data/standard (house, peppers, cameraman 256x256; lena, barbara 512x512), n / 5 of each, at
  evenly spaced positions of each image's grid of crops (all four crops of a 256x256 image at n = 20).
- ``em``: crops of the two real EM images of ../shared/data/em (the SARS-CoV-2 cryo-ET slice, 928x960, and
  the 80S ribosome cryo-EM micrograph, 1024x1024). They are noisy themselves, so the reference ("clean")
  image is made first: the image binned --em-bin x --em-bin (default 4: the mean of 4x4 pixels, which
  divides white noise by 4) and scaled linearly so that its minimum and maximum are 0 and 255; the crops
  (--em-crop, default 64: a 4x4-binned image holds only 9 and 16 non-overlapping crops of 64x64, 5 of
  128x128) are taken from it, split between the two images as evenly as they allow, and the synthetic noise
  is added to them. The reference still holds what is left of the images' own noise (a quarter of it if it
  was white, more if it was correlated), so PSNR against it is a lower bound and the comparison between
  methods, not the absolute figure, is the measurement.
- ``virus``, ``ribosome``: the same from one of the two EM images alone: images of one kind, as a day at the
  microscope gives them (with --em-bin 4 the virus slice holds only 9 crops of 64x64: use --em-bin 2).
  ``standard`` and ``em`` mix kinds (five photographs; two specimens): a model learned from three of them
  meets content it never saw.

The images are ordered crop by crop across the source images (the first crop of each source, then the second,
...), so the first 3 come from three source images (house, peppers, cameraman; virus, ribosome, virus). Three
ways to denoise all of them, each timed in the same run:

- per-image: ``zeroshot.denoise(noisy, config=...)`` for each image (the package defaults of --model,
  with the --zeroshot overrides): a model learned from each image alone.
- few-shot: ``trained = zeroshot.train(first 3 noisy images, config=...)`` (the same configuration), then
  ``zeroshot.denoise(noisy, model=trained)`` for every image, the 3 training images included (inference
  at the trained parameters; with --set-finetune K, K epochs of EM on each image first). Its total wall time
  includes the training.
- bm3d: ``bm3d.bm3d(noisy, sigma_psd=sigma)`` given the true sigma (PyPI ``bm3d``, default profile, as in
  denoise_quality.py; a benchmark-only dependency).

Reported: per image the PSNR (zeroshot.metrics.psnr, data range 255, against the clean image or reference)
of each method and its wall time; per dataset the mean PSNR, total wall time and images per hour
(n / total seconds * 3600) of each method, and the issue's targets: few-shot mean PSNR within 0.1 dB of the
per-image models or better (few-shot - per-image >= -0.1 dB) and total wall time at least 5x less
(per-image / few-shot >= 5).

Section ``loo``: ES3C few-shot leave-one-out on the 5 standard images at sigma 25 and 50 (--sigmas), image k
with seed --seed + k (house keeps seed 0, the noisy image of denoise_quality.py). For each held-out image
(--images): ``trained = zeroshot.train(the other four noisy images, config=es3c defaults + --zeroshot)``, then
``zeroshot.denoise(held_out, model=trained)`` and ``zeroshot.denoise(held_out, model=trained, finetune=K)``
(--finetune, default 5 epochs of EM on the held-out image from the trained model; --finetune-patches N: on a
random subset of N of its patches, `max_train_patches`; --finetune-options KEY=VALUE: other options of that run,
e.g. n_states), beside BM3D with the true
sigma and, with --per-image, ``zeroshot.denoise(held_out, config=es3c ...)`` learned from the image alone.
--loo-crop N takes the central N x N of every image (for quick runs). Reported: the PSNR of each and the
training, inference and fine-tuning times, and the means per sigma.

Checks (both sections): every output is finite, has the input's shape and a higher PSNR than the noisy input;
the script exits non-zero otherwise. The targets are reported as met or not and do not fail the run.

    pip install bm3d scikit-image      # benchmark-only dependencies
    python bench/dataset.py [--sections set loo] [--datasets standard em] [--n-images 20] [--crop 128]
                            [--em-crop 64] [--em-bin 4] [--sigma 25] [--model bsc|es3c] [--set-finetune 0]
                            [--images house ...] [--sigmas 25 50] [--finetune 5] [--finetune-patches N]
                            [--finetune-options KEY=VALUE ...] [--per-image]
                            [--loo-crop N]
                            [--zeroshot epochs=3 ...] [--threads N] [--seed 0] [--markdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from common import SHARED_DATA, STANDARD_IMAGES, add_gaussian_noise, commit, load_standard, machine
from denoise_quality import _parse_value, check_peer_installed, model_config, print_table, run_bm3d
from zeroshot.config import DenoiseConfig
from zeroshot.metrics import psnr

SECTIONS = ("set", "loo")
DATASETS = ("standard", "em", "virus", "ribosome")
SET_METHODS = ("per-image", "few-shot", "bm3d")
EM_IMAGES = ("sarscov2_cryoet_TS_001.133.tif", "cryoem_80S_ribosome_EMPIAR-10028_065.png")
EM_LABELS = ("virus", "ribosome")
N_TRAINING = 3  # the "a model trained on 3 of them"
TARGET_PSNR_GAP = -0.1  # dB: few-shot - per-image, at least
TARGET_SPEEDUP = 5.0  # per-image / few-shot total wall time, at least
DATA_RANGE = 255.0


@dataclass(frozen=True)
class Sample:
    """One image of a dataset: name (source and crop position), clean (R, C) and noisy (R, C) on 0-255."""

    name: str
    clean: np.ndarray
    noisy: np.ndarray


# ---------------------------------------------------------------------------------------------- datasets
def crop_positions(shape: tuple[int, ...], crop: int) -> list[tuple[int, int]]:
    """Top-left corners of the non-overlapping crop x crop tiles of an image, row by row."""
    return [(r, c) for r in range(0, shape[0] - crop + 1, crop) for c in range(0, shape[1] - crop + 1, crop)]


def crops_per_source(capacities: list[int], n: int) -> list[int]:
    """How many of n crops each source gives: one at a time round the sources that have crops left."""
    counts = [0] * len(capacities)
    while sum(counts) < n:
        open_sources = [i for i, (k, cap) in enumerate(zip(counts, capacities)) if k < cap]
        if not open_sources:
            raise SystemExit(f"the source images hold only {sum(capacities)} non-overlapping crops, not {n}")
        for i in open_sources[: n - sum(counts)]:
            counts[i] += 1
    return counts


def interleaved_crops(sources: dict[str, np.ndarray], n: int, crop: int) -> list[tuple[str, np.ndarray]]:
    """n (name, crop) of the sources: from each, its share at evenly spaced positions of its tile grid; ordered
    crop by crop across the sources (the first of each source, then the second, ...)."""
    tiles = [crop_positions(image.shape, crop) for image in sources.values()]
    counts = crops_per_source([len(t) for t in tiles], n)
    chosen = [[t[int(i)] for i in np.round(np.linspace(0, len(t) - 1, k))] if k else [] for t, k in zip(tiles, counts)]
    ordered = []
    for rank in range(max(counts)):
        for (label, image), positions in zip(sources.items(), chosen):
            if rank < len(positions):
                r, c = positions[rank]
                ordered.append((f"{label}@{r},{c}", image[r : r + crop, c : c + crop]))
    return ordered


def binned_reference(image: np.ndarray, factor: int) -> np.ndarray:
    """The mean of each factor x factor block (edge rows and columns that do not fill a block dropped), scaled
    linearly to the range 0-255."""
    R, C = (s // factor * factor for s in image.shape)
    binned = image[:R, :C].reshape(R // factor, factor, C // factor, factor).mean(axis=(1, 3))
    low, high = binned.min(), binned.max()
    return (binned - low) * (DATA_RANGE / (high - low))


def em_references(factor: int) -> dict[str, np.ndarray]:
    from zeroshot.io import read_em

    references = {}
    for label, file in zip(EM_LABELS, EM_IMAGES):
        path = SHARED_DATA / "em" / file
        if not path.exists():
            raise SystemExit(f"benchmark data not found: {path} (the benchmarks read ../shared/data)")
        references[label] = binned_reference(read_em(path).data.astype(np.float64), factor)
    return references


def make_dataset(kind: str, args: argparse.Namespace) -> list[Sample]:
    if kind == "standard":
        sources, crop = {name: load_standard(name) for name in STANDARD_IMAGES}, args.crop
    else:
        references = em_references(args.em_bin)
        sources = references if kind == "em" else {kind: references[kind]}
        crop = args.em_crop
    crops = interleaved_crops(sources, args.n_images, crop)
    return [
        Sample(name, clean, add_gaussian_noise(clean, args.sigma, seed=args.seed + i))
        for i, (name, clean) in enumerate(crops)
    ]


# ----------------------------------------------------------------------------------------------- running
def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def scored(failures: list[str], what: str, clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray) -> float:
    """PSNR of `denoised`; a failure is recorded unless it is finite, of the right shape and above the noisy
    input's PSNR (nan when it cannot be scored)."""
    if denoised.shape != clean.shape or not np.all(np.isfinite(denoised)):
        failures.append(f"{what}: output not finite or wrong shape")
        return float("nan")
    value = psnr(clean, denoised, data_range=DATA_RANGE)
    noisy_psnr = psnr(clean, noisy, data_range=DATA_RANGE)
    if not value > noisy_psnr:
        failures.append(f"{what}: PSNR {value:.2f} <= noisy {noisy_psnr:.2f}")
    return value


def seconds_text(seconds: float) -> str:
    return f"{seconds:.2f}" if seconds < 10 else f"{seconds:.0f}"


def describe_config(config: DenoiseConfig, threads: int | None) -> str:
    defaults = DenoiseConfig.for_model(config.model)
    changed = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(defaults, f.name)
    }
    return f"{config.model} package defaults{f' with {changed}' if changed else ''}, threads={threads}"


# ----------------------------------------------------------------------------------------- section set
def section_set(args: argparse.Namespace, failures: list[str]) -> None:
    config = model_config(args.model, args.zeroshot, "--zeroshot")
    print(f"\n## set: {args.n_images} images per dataset, few-shot model trained on the first {N_TRAINING}")
    print(
        f"zeroshot: {describe_config(config, args.threads)}; noise sigma {args.sigma:g}, seeds {args.seed}+i; "
        f"few-shot fine-tuning {args.set_finetune} epochs"
    )
    if args.n_images < 20:
        print(f"(fewer than the issue's 20 images: {args.n_images})")
    datasets = {kind: make_dataset(kind, args) for kind in args.datasets}  # fails before any work if one cannot
    for kind, samples in datasets.items():
        size = samples[0].clean.shape
        print(f"\n### {kind}: {len(samples)} crops of {size[0]}x{size[1]}")
        if kind != "standard":
            print(
                f"reference: each EM image binned {args.em_bin}x{args.em_bin} (mean) and scaled to 0-255; it keeps "
                "the residual of the image's own noise"
            )
        scores, seconds, noise_kinds, training_seconds = denoise_dataset(kind, samples, config, args, failures)
        print_set_tables(samples, scores, seconds, noise_kinds, args.markdown)
        print_set_summary(scores, seconds, training_seconds, len(samples), args.markdown)


def denoise_dataset(
    kind: str, samples: list[Sample], config: DenoiseConfig, args: argparse.Namespace, failures: list[str]
) -> tuple[dict[str, list[float]], dict[str, list[float]], list[str], float]:
    """(PSNR per method per image, seconds per method per image, the per-image runs' noise models, the few-shot
    training seconds) of the three methods on the samples, in that order: per-image, few-shot, bm3d."""
    import zeroshot

    scores: dict[str, list[float]] = {method: [] for method in SET_METHODS}
    seconds: dict[str, list[float]] = {method: [] for method in SET_METHODS}
    noise_kinds = []

    def record(method: str, sample: Sample, denoised: np.ndarray, t: float) -> None:
        value = scored(failures, f"{kind} {sample.name} {method}", sample.clean, sample.noisy, denoised)
        scores[method].append(value)
        seconds[method].append(t)
        print(f"  {kind} {sample.name} {method}: PSNR {value:.2f} dB, {t:.2f} s", file=sys.stderr, flush=True)

    for sample in samples:
        result, t = timed(zeroshot.denoise, sample.noisy, config=config, threads=args.threads)
        record("per-image", sample, result.denoised, t)
        noise_kinds.append(result.noise.kind if result.noise is not None else "-")
    trained, training_seconds = timed(
        zeroshot.train, [s.noisy for s in samples[:N_TRAINING]], config=config, threads=args.threads
    )
    print(f"few-shot model: {trained.describe()}; trained in {training_seconds:.1f} s")
    for sample in samples:
        result, t = timed(
            zeroshot.denoise, sample.noisy, model=trained, finetune=args.set_finetune, threads=args.threads
        )
        record("few-shot", sample, result.denoised, t)
    for sample in samples:
        denoised, t = timed(run_bm3d, sample.noisy, args.sigma)
        record("bm3d", sample, denoised, t)
    return scores, seconds, noise_kinds, training_seconds


def print_set_tables(
    samples: list[Sample],
    scores: dict[str, list[float]],
    seconds: dict[str, list[float]],
    noise_kinds: list[str],
    markdown: bool,
) -> None:
    methods = list(scores)
    header = ["image", "noisy PSNR", *[f"{m} PSNR" for m in methods], "few-shot − per-image"]
    header += [*[f"{m} s" for m in methods], "per-image noise"]
    rows = []
    for i, sample in enumerate(samples):
        row = [f"{i + 1}. {sample.name}", f"{psnr(sample.clean, sample.noisy, data_range=DATA_RANGE):.2f}"]
        row += [f"{scores[m][i]:.2f}" for m in methods]
        row += [f"{scores['few-shot'][i] - scores['per-image'][i]:+.2f}"]
        row += [seconds_text(seconds[m][i]) for m in methods]
        rows.append([*row, noise_kinds[i]])
    print()
    print_table(header, rows, markdown)


def print_set_summary(
    scores: dict[str, list[float]],
    seconds: dict[str, list[float]],
    training_seconds: float,
    n: int,
    markdown: bool,
) -> None:
    totals = {m: sum(s) for m, s in seconds.items()}
    totals["few-shot"] += training_seconds
    means = {m: float(np.mean(s)) for m, s in scores.items()}
    header = ["method", "mean PSNR", "total s", "images per hour"]
    rows = [[m, f"{means[m]:.2f}", seconds_text(totals[m]), f"{n / totals[m] * 3600:.0f}"] for m in scores]
    rows[1][0] = f"few-shot (training {seconds_text(training_seconds)} s included)"
    print()
    print_table(header, rows, markdown)
    gap = means["few-shot"] - means["per-image"]
    speedup = totals["per-image"] / totals["few-shot"]
    print(
        f"\nfew-shot − per-image mean PSNR: {gap:+.2f} dB (target ≥ {TARGET_PSNR_GAP:+.1f} dB): "
        f"{'met' if gap >= TARGET_PSNR_GAP else 'NOT met'}"
    )
    print(
        f"per-image / few-shot total wall time: {speedup:.1f}x (target ≥ {TARGET_SPEEDUP:g}x): "
        f"{'met' if speedup >= TARGET_SPEEDUP else 'NOT met'}"
    )


# ----------------------------------------------------------------------------------------- section loo
def central_crop(image: np.ndarray, size: int | None) -> np.ndarray:
    if size is None:
        return image
    r, c = ((s - min(size, s)) // 2 for s in image.shape)
    return image[r : r + size, c : c + size]


def section_loo(args: argparse.Namespace, failures: list[str]) -> None:
    config = model_config("es3c", args.zeroshot, "--zeroshot")
    print("\n## loo: ES3C few-shot leave-one-out on the standard images (trained on the other four)")
    print(f"zeroshot: {describe_config(config, args.threads)}; fine-tuning {args.finetune} epochs")
    clean = {name: central_crop(load_standard(name), args.loo_crop) for name in STANDARD_IMAGES}
    rows: list[list[str]] = []
    means: dict[float, dict[str, list[float]]] = {}
    for sigma in args.sigmas:
        noisy = {
            name: add_gaussian_noise(clean[name], sigma, seed=args.seed + k) for k, name in enumerate(STANDARD_IMAGES)
        }
        for held_out in args.images:
            values, seconds = leave_one_out(held_out, clean[held_out], noisy, sigma, config, args, failures)
            for method, value in values.items():
                means.setdefault(sigma, {}).setdefault(method, []).append(value)
            shape = clean[held_out].shape
            noisy_psnr = psnr(clean[held_out], noisy[held_out], data_range=DATA_RANGE)
            row = [f"{held_out} {shape[0]}x{shape[1]}", f"{sigma:g}", f"{noisy_psnr:.2f}"]
            rows.append(row + [f"{v:.2f}" for v in values.values()] + [seconds_text(t) for t in seconds.values()])
    methods = list(next(iter(means.values())))
    header = ["image", "σ", "noisy PSNR", *[f"{m} PSNR" for m in methods], "training s", *[f"{m} s" for m in methods]]
    print()
    print_table(header, rows, args.markdown)
    print()
    mean_rows = [
        [f"{sigma:g}", str(len(args.images)), *(f"{np.mean(by_method[m]):.2f}" for m in methods)]
        for sigma, by_method in means.items()
    ]
    print_table(["σ", "images", *[f"{m} mean PSNR" for m in methods]], mean_rows, args.markdown)


def leave_one_out(
    held_out: str,
    clean: np.ndarray,
    noisy: dict[str, np.ndarray],
    sigma: float,
    config: DenoiseConfig,
    args: argparse.Namespace,
    failures: list[str],
) -> tuple[dict[str, float], dict[str, float]]:
    """(PSNR per method, seconds per step) of the held-out image: the model trained on the other noisy images,
    applied without and with fine-tuning, per-image ES3C (with --per-image) and BM3D; the steps are the training
    and each method."""
    import zeroshot

    image = noisy[held_out]
    others = [noisy[name] for name in STANDARD_IMAGES if name != held_out]
    trained, training_seconds = timed(zeroshot.train, others, config=config, threads=args.threads)
    runs = {
        "few-shot": timed(zeroshot.denoise, image, model=trained, threads=args.threads),
        f"finetune {args.finetune}": timed(
            zeroshot.denoise,
            image,
            model=trained,
            finetune=args.finetune,
            threads=args.threads,
            **({} if args.finetune_patches is None else {"max_train_patches": args.finetune_patches}),
            **args.finetune_options,
        ),
    }
    if args.per_image:
        runs["per-image"] = timed(zeroshot.denoise, image, config=config, threads=args.threads)
    outputs = {method: (result.denoised, t) for method, (result, t) in runs.items()}
    outputs["bm3d"] = timed(run_bm3d, image, sigma)
    what = f"loo {held_out} sigma={sigma:g}"
    values = {method: scored(failures, f"{what} {method}", clean, image, out) for method, (out, _) in outputs.items()}
    print(f"  {what}: " + ", ".join(f"{m} {v:.2f} dB" for m, v in values.items()), file=sys.stderr, flush=True)
    return values, {"training": training_seconds, **{method: t for method, (_, t) in outputs.items()}}


# ------------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument(
        "--datasets", nargs="+", default=["standard", "virus", "ribosome"], choices=DATASETS, help="of section set"
    )
    parser.add_argument("--n-images", type=int, default=20, help="images per dataset (default 20)")
    parser.add_argument("--crop", type=int, default=128, help="crop side of the standard dataset (default 128)")
    parser.add_argument("--em-crop", type=int, default=64, help="crop side of the em dataset (default 64)")
    parser.add_argument("--em-bin", type=int, default=4, help="binning of the em reference (default 4)")
    parser.add_argument("--sigma", type=float, default=25.0, help="noise of section set (0-255 scale)")
    parser.add_argument("--model", default="bsc", choices=("bsc", "es3c"), help="zeroshot model of section set")
    parser.add_argument("--images", nargs="+", default=list(STANDARD_IMAGES), choices=STANDARD_IMAGES, help="held out")
    parser.add_argument("--sigmas", nargs="+", type=float, default=[25.0, 50.0], help="noise of section loo")
    parser.add_argument("--finetune", type=int, default=5, help="fine-tuning epochs of section loo (default 5)")
    parser.add_argument(
        "--finetune-patches", type=int, default=None, help="section loo: fine-tune on this many of the image's patches"
    )
    parser.add_argument(
        "--finetune-options",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="section loo: inference options of the fine-tuning run (n_states=10, inference_states=5, ...)",
    )
    parser.add_argument(
        "--set-finetune", type=int, default=0, help="section set: fine-tuning epochs of each few-shot image (default 0)"
    )
    parser.add_argument("--per-image", action="store_true", help="section loo: also ES3C on each image alone")
    parser.add_argument("--loo-crop", type=int, default=None, help="section loo: the central N x N of each image")
    parser.add_argument(
        "--zeroshot",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="DenoiseConfig overrides of every zeroshot run, e.g. epochs=3 n_latents=64 evo.n_parents=8",
    )
    parser.add_argument("--threads", type=int, default=None, help="zeroshot threads (default: zeroshot's default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise of the first image")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    args = parser.parse_args()
    if args.n_images <= N_TRAINING:
        raise SystemExit(f"--n-images must exceed the {N_TRAINING} training images")
    if args.sigma <= 0 or any(s <= 0 for s in args.sigmas):
        raise SystemExit("--sigma and --sigmas must be positive")
    if args.finetune < 1:
        raise SystemExit("--finetune must be at least 1 (the run without fine-tuning is always reported)")
    pairs = [item.partition("=") for item in args.finetune_options]
    if any(not sep or not key for key, sep, _ in pairs):
        raise SystemExit(f"--finetune-options expects key=value, got {args.finetune_options}")
    args.finetune_options = {key: _parse_value(text) for key, _, text in pairs}
    check_peer_installed("bm3d")

    print(f"machine: {machine()}; commit {commit()}")
    failures: list[str] = []
    if "set" in args.sections:
        section_set(args, failures)
    if "loo" in args.sections:
        section_loo(args, failures)
    if failures:
        raise SystemExit("check FAILED:\n  " + "\n  ".join(failures))
    print("\ncheck: every output finite and above the noisy PSNR: OK")


if __name__ == "__main__":
    main()
