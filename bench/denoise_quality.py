"""Denoising quality of zeroshot (BSC and ES3C) against BM3D and non-local means on the standard test images.

Images from ../shared/data/standard (house, peppers, cameraman 256x256; lena, barbara 512x512) on the
0-255 scale, additive white Gaussian noise clean + sigma * N(0, 1) for sigma in 15, 25, 50 (fixed seed,
no clipping: the noisy image leaves [0, 255]). Every method gets the same noisy array:

- bsc:  ``zeroshot.denoise.denoise(noisy, config)`` with the package's BSC defaults
        (``DenoiseConfig.for_model("bsc")``; blind: it learns sigma itself), plus the ``--bsc key=value ...``
        overrides of `DenoiseConfig` fields (``evo.<field>`` sets the nested EVO config),
        e.g. ``--bsc n_latents=256 n_states=60 epochs=60``.
- es3c: the same with the package's ES3C defaults (``DenoiseConfig.for_model("es3c")``) and the
        ``--es3c key=value ...`` overrides.
- bm3d: ``bm3d.bm3d(noisy, sigma_psd=sigma)`` (PyPI ``bm3d``, default profile 'np', both stages),
        given the true sigma on the 0-255 scale. A benchmark-only dependency, not one of zeroshot's: its
        licence (Tampere University) allows non-commercial use only.
- nlm:  ``skimage.restoration.denoise_nl_means(noisy, patch_size=5, patch_distance=6, h=0.8 * sigma,
        sigma=sigma, fast_mode=True, preserve_range=True)`` given the true sigma; h = 0.8 sigma is the
        starting point its documentation recommends with fast_mode and a known sigma.

Reported: PSNR and SSIM (zeroshot.metrics, data_range=255, against the clean image), wall time per
method, the mean PSNR per sigma per method, and zeroshot's noise estimates against the true sigma. BM3D
and NLM results are cached per (method, image, sigma) as .npz under --cache (default bench/out), keyed by
the noisy input and the peer's settings, so that rerunning zeroshot does not recompute them. Checks: every
output is finite and has a higher PSNR than the noisy input.

    pip install bm3d scikit-image      # benchmark-only dependencies
    python bench/denoise_quality.py [--images house ...] [--sigmas 15 25 50] [--methods bsc es3c bm3d nlm]
                                    [--bsc n_latents=256 ...] [--es3c epochs=40 ...] [--threads N]
                                    [--markdown] [--cache DIR]
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common import STANDARD_IMAGES, add_gaussian_noise, commit, load_standard, machine
from zeroshot.config import DenoiseConfig
from zeroshot.metrics import psnr, ssim

METHODS = ("bsc", "es3c", "bm3d", "nlm")
OURS = ("bsc", "es3c")
PEERS = ("bm3d", "nlm")
DATA_RANGE = 255.0
NLM_SETTINGS = {"patch_size": 5, "patch_distance": 6, "h_factor": 0.8, "fast_mode": True}


# ------------------------------------------------------------------------------------ zeroshot config
def _parse_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a plain string such as merge=median


def model_config(model: str, overrides: list[str], option: str | None = None) -> DenoiseConfig:
    """The package's defaults for `model` with `key=value` overrides; `evo.x=..` sets nested fields. option: the
    command-line option that gave them, for error messages (default --<model>)."""
    base = DenoiseConfig.for_model(model)
    flag = option or f"--{model}"
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    names = {f.name for f in dataclasses.fields(base)}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} expects key=value, got {item!r}")
        value = _parse_value(text)
        if "." in key:
            outer, inner = key.split(".", 1)
            sub = getattr(base, outer, None)
            if outer not in names or not dataclasses.is_dataclass(sub):
                raise SystemExit(f"{flag} {item!r}: {outer!r} is not a nested config of DenoiseConfig")
            if inner not in {f.name for f in dataclasses.fields(sub)}:
                raise SystemExit(f"{flag} {item!r}: {type(sub).__name__} has no field {inner!r}")
            nested.setdefault(outer, {})[inner] = value
        else:
            if key not in names:
                raise SystemExit(f"{flag} {item!r}: DenoiseConfig has no field {key!r} (fields: {sorted(names)})")
            top[key] = value
    try:
        for outer, values in nested.items():
            top[outer] = dataclasses.replace(top.get(outer, getattr(base, outer)), **values)
        return dataclasses.replace(base, **top)
    except (ValueError, TypeError) as error:
        raise SystemExit(f"{flag}: invalid configuration: {error}") from None


# ------------------------------------------------------------------------------------------ methods
def run_bm3d(noisy: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d

    return np.asarray(bm3d.bm3d(noisy, sigma_psd=sigma), dtype=np.float64)


def run_nlm(noisy: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    return np.asarray(
        denoise_nl_means(
            noisy,
            patch_size=NLM_SETTINGS["patch_size"],
            patch_distance=NLM_SETTINGS["patch_distance"],
            h=NLM_SETTINGS["h_factor"] * sigma,
            sigma=sigma,
            fast_mode=NLM_SETTINGS["fast_mode"],
            preserve_range=True,
        ),
        dtype=np.float64,
    )


def peer_settings(method: str) -> dict[str, Any]:
    """What a cached result depends on besides the noisy input."""
    from importlib.metadata import version

    if method == "bm3d":
        return {"package": "bm3d", "version": version("bm3d"), "profile": "np"}
    return {"package": "scikit-image", "version": version("scikit-image"), **NLM_SETTINGS}


def check_peer_installed(method: str) -> None:
    module = {"bm3d": "bm3d", "nlm": "skimage"}[method]
    try:
        __import__(module)
    except ImportError:
        package = {"bm3d": "bm3d", "nlm": "scikit-image"}[method]
        raise SystemExit(f"method {method} needs `pip install {package}` (benchmark-only dependency)") from None


def cached_peer(
    method: str, name: str, sigma: float, seed: int, noisy: np.ndarray, cache: Path
) -> tuple[np.ndarray, float, bool]:
    """(denoised, wall seconds, from cache) of a peer method, computed once per input and settings."""
    settings = peer_settings(method)
    key = json.dumps(
        {
            "sigma": sigma,
            "seed": seed,
            "noisy_sha1": hashlib.sha1(noisy.tobytes()).hexdigest(),
            **settings,
        },
        sort_keys=True,
    )
    path = cache / f"{method}_{name}_sigma{sigma:g}_seed{seed}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["key"]) == key and stored["denoised"].shape == noisy.shape:
                return stored["denoised"].astype(np.float64), float(stored["seconds"]), True
    run: Callable[[np.ndarray, float], np.ndarray] = run_bm3d if method == "bm3d" else run_nlm
    start = time.perf_counter()
    denoised = run(noisy, sigma)
    seconds = time.perf_counter() - start
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, denoised=denoised, seconds=seconds, key=np.array(key))
    tmp.replace(path)
    return denoised, seconds, False


# ------------------------------------------------------------------------------------------- output
def fmt_row(cells: list[str], widths: list[int], markdown: bool) -> str:
    if markdown:
        return "| " + " | ".join(cells) + " |"
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def print_table(header: list[str], rows: list[list[str]], markdown: bool) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(fmt_row(header, widths, markdown))
    if markdown:
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    else:
        print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt_row(row, widths, markdown))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", nargs="+", default=list(STANDARD_IMAGES), choices=STANDARD_IMAGES)
    parser.add_argument("--sigmas", nargs="+", type=float, default=[15.0, 25.0, 50.0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    for model in OURS:
        parser.add_argument(
            f"--{model}",
            nargs="*",
            default=[],
            metavar="KEY=VALUE",
            help=f"DenoiseConfig overrides of {model}, e.g. n_latents=256 n_states=60 evo.n_parents=8",
        )
    parser.add_argument("--threads", type=int, default=None, help="zeroshot threads (default: zeroshot's default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(__file__).resolve().parent / "out",
        help="folder of cached BM3D/NLM results (default bench/out)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    args = parser.parse_args()
    methods = [m for m in METHODS if m in args.methods]
    if any(s <= 0 for s in args.sigmas):
        raise SystemExit("--sigmas must be positive")
    for method in methods:
        if method in PEERS:
            check_peer_installed(method)
    configs = {m: model_config(m, getattr(args, m)) for m in OURS if m in methods}

    print(f"machine: {machine()}; commit {commit()}")
    for model, config in configs.items():
        defaults = DenoiseConfig.for_model(model)
        changed = {
            f.name: getattr(config, f.name)
            for f in dataclasses.fields(config)
            if getattr(config, f.name) != getattr(defaults, f.name)
        }
        print(f"{model}: {config}")
        print(f"  (package defaults{f' with {changed}' if changed else ''}; threads={args.threads})")
    print(f"noise: clean + sigma * N(0,1), seed {args.seed}, no clipping; metrics data_range=255\n")

    # results[(image, sigma)] = {"noisy": psnr, method: (psnr, ssim, seconds), "sigma_hat": ...}
    results: dict[tuple[str, float], dict[str, Any]] = {}
    failures: list[str] = []
    for name in args.images:
        clean = load_standard(name)
        for sigma in args.sigmas:
            noisy = add_gaussian_noise(clean, sigma, seed=args.seed)
            entry: dict[str, Any] = {
                "noisy": psnr(clean, noisy, data_range=DATA_RANGE),
                "shape": clean.shape,
            }
            for method in methods:
                note = ""
                if method in OURS:
                    from zeroshot.denoise import denoise

                    start = time.perf_counter()
                    result = denoise(noisy, config=configs[method], threads=args.threads)
                    seconds = time.perf_counter() - start
                    denoised = result.denoised
                    entry[f"{method} sigma_hat"] = result.noise_sigma
                    note = f", sigma estimate {result.noise_sigma:.2f}"
                else:
                    denoised, seconds, hit = cached_peer(method, name, sigma, args.seed, noisy, args.cache)
                    note = " (cached)" if hit else ""
                if denoised.shape != clean.shape or not np.all(np.isfinite(denoised)):
                    failures.append(f"{method} {name} sigma={sigma:g}: output not finite or wrong shape")
                    continue
                p = psnr(clean, denoised, data_range=DATA_RANGE)
                s = ssim(clean, denoised, data_range=DATA_RANGE)
                entry[method] = (p, s, seconds)
                if not p > entry["noisy"]:
                    failures.append(f"{method} {name} sigma={sigma:g}: PSNR {p:.2f} <= noisy {entry['noisy']:.2f}")
                print(
                    f"  {name} sigma={sigma:g} {method}: PSNR {p:.2f} dB, SSIM {s:.4f}, {seconds:.2f} s{note}",
                    file=sys.stderr,
                    flush=True,
                )
            results[(name, sigma)] = entry

    header = ["image", "σ", "noisy PSNR"]
    for method in methods:
        header += [f"{method} PSNR", f"{method} SSIM", f"{method} s"]
    ours = [m for m in methods if m in OURS]
    header += [f"{m} σ̂" for m in ours]
    rows = []
    for (name, sigma), entry in results.items():
        row = [f"{name} {entry['shape'][0]}²", f"{sigma:g}", f"{entry['noisy']:.2f}"]
        for method in methods:
            if method in entry:
                p, s, seconds = entry[method]
                row += [
                    f"{p:.2f}",
                    f"{s:.4f}",
                    f"{seconds:.2f}" if seconds < 10 else f"{seconds:.0f}",
                ]
            else:
                row += ["-", "-", "-"]
        for m in ours:
            key = f"{m} sigma_hat"
            row += [f"{entry[key]:.2f}" if key in entry else "-"]
        rows.append(row)
    print_table(header, rows, args.markdown)

    print()
    header = ["σ", "images"] + [f"{m} mean PSNR" for m in methods] + [f"{m} mean SSIM" for m in methods]
    rows = []
    for sigma in args.sigmas:
        entries = [e for (n, s), e in results.items() if s == sigma]
        row = [f"{sigma:g}", str(len(entries))]
        for index in (0, 1):
            for method in methods:
                values = [e[method][index] for e in entries if method in e]
                row.append(
                    "-"
                    if len(values) < len(entries)
                    else f"{np.mean(values):.2f}"
                    if index == 0
                    else f"{np.mean(values):.4f}"
                )
        rows.append(row)
    print_table(header, rows, args.markdown)

    for m in ours:
        key = f"{m} sigma_hat"
        errors = [(e[key] - s) / s for (n, s), e in results.items() if key in e]
        if errors:
            print(
                f"\n{m} noise estimate vs true sigma: mean relative error {100 * np.mean(errors):+.1f}%, "
                f"max |error| {100 * np.max(np.abs(errors)):.1f}%"
            )

    if failures:
        raise SystemExit("check FAILED:\n  " + "\n  ".join(failures))
    print("\ncheck: every output finite and above the noisy PSNR: OK")


if __name__ == "__main__":
    main()
