"""Tomogram benchmark (issue 19): zeroshot per slice, zeroshot on the volume as one job, BM3D per slice and BM4D,
all given the same SIMULATED tomogram with its clean truth, in one run.

Data: ``zeroshot.data.simulated_tomogram(--shape, --seed, --wedge)`` (default 64 × 256 × 256, seed 0, no wedge):
virions with a bilayer and spikes, a cell edge, Gaussian noise correlated along x, y and z with the ACF of the real
slice's flat ice in x and y (lag 1: 0.88 along x, 0.94 along y) and lag-1 0.5 along z; its exact PSD is known.

Methods (each in its own Python process, so that its peak memory is its own; ``--methods`` picks):

- zeroshot-slices: ``zeroshot.denoise(noisy[z], threads=--threads)`` on every z-slice, package defaults (noise
  "auto": it decides and estimates the noise itself; blind).
- zeroshot-volume: ``zeroshot.denoise_volume(noisy, <depth>=d, threads=--threads)`` for each d of ``--depths``
  (default 1 3 5) when the installed zeroshot has ``denoise_volume``; the depth parameter is found by name
  (context, the 3-D context of issue 19, or depth, d, patch_depth, slices). Until it exists, a STAND-IN,
  labelled "shared model (train on k slices + apply)": ``zeroshot.train([noisy[z] for k evenly spaced z],
  threads=...)`` (k = ``--train-slices``, default 4) then ``zeroshot.denoise(noisy[z], model=trained, threads=...)``
  on every slice: the volume as one job at d = 1 (one model for all slices, learned once). Its time includes the
  training.
- bm3d-psd: ``bm3d.bm3d(noisy[z], sigma_psd=slice_psd)`` on every z-slice (profile "np"), given the TRUE 2-D noise
  PSD of a slice (``SimulatedTomogram.slice_psd()``, bm3d's convention E|fft2(noise)|²). np.trapz is aliased to
  np.trapezoid first (bm3d 4.0.3 under numpy >= 2.4).
- bm4d-psd: ``bm4d.bm4d(noisy, sigma_psd=noise_psd)`` (profile "np"), given the TRUE 3-D PSD
  (``SimulatedTomogram.noise_psd()``, E|fftn(noise)|², the same convention).

bm3d and bm4d are benchmark-only dependencies (``pip install bm3d bm4d scikit-image``; their licence allows
non-commercial use only); OMP_NUM_THREADS is set to --threads in every method's process.

Measured per method: PSNR (10 log10(R² / MSE), R = the clean volume's max − min) on the whole volume and the mean
over z-slices of the per-slice PSNR (same R); SSIM (scikit-image's structural_similarity, data_range R, default
7-voxel window): 3-D on the whole volume and the mean of the 2-D SSIM over z-slices; wall seconds of the method
alone (after its process has started and loaded its input) and its CPU seconds (user + system of that process);
peak RSS of its process (VmHWM of /proc/self/status) and how far that peak rose above its RSS once the input was
loaded (VmRSS then).

Checks (exit 1 on failure): every output finite and of the volume's shape; every method's PSNR above the noisy
volume's; the noise's measured variance within 4 standard errors of the PSD's; zeroshot's checkout (editable
install) at the same commit after the run as before. The issue's targets are printed as MET / missed (a missed target
does not fail the run): the volume model ≥ zeroshot per slice and ≥ BM4D in PSNR, ≥ 5× faster than per slice;
the best d > 1 above d = 1 (only when ``denoise_volume`` exists).

Outputs: a table; JSON lines, one per method, in --out-json (default bench/results/volume_<commit>.jsonl); a panel
of orthogonal sections (xy, xz, yz through the centre of the virion nearest the volume's middle) of clean, noisy
and every output in --figure (default bench/figures/volume.png; the noisy input on its own 0.5/99.5 % stretch,
the clean volume and the outputs on one common stretch: clean's 0.5 % − σ to clean's max + σ).

    python bench/volume.py [--shape 64 256 256] [--seed 0] [--wedge] [--threads 2] [--depths 1 3 5]
                           [--train-slices 4] [--methods ...] [--out-json PATH] [--figure PATH] [--no-figure]
                           [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import commit, gray_png, machine, package_commit

BENCH = Path(__file__).resolve().parent
METHODS = ("zeroshot-volume", "bm3d-psd", "zeroshot-slices", "bm4d-psd")  # run in this order: the slowest last
DEPTH_NAMES = ("context", "depth", "d", "patch_depth", "slices")
VARIANCE_SPREADS = 4.0  # the noise's variance may differ from the PSD's by 4 standard errors
SPEED_TARGET = 5.0


# ------------------------------------------------------------------------------------------------ child side
def memory_mb(field: str) -> float:
    """/proc/self/status's VmHWM (peak RSS) or VmRSS (RSS now) in MB. Not ru_maxrss: on Linux that keeps the
    parent's RSS at fork across exec, so a child of a large parent would report the parent's size as its peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024.0  # kB
    raise SystemExit(f"/proc/self/status has no {field}: peak memory needs Linux")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def volume_call(noisy: np.ndarray, depth: int, threads: int) -> tuple[np.ndarray, dict[str, Any]]:
    """zeroshot.denoise_volume(noisy, <depth>=depth, threads=threads), its depth parameter found by name."""
    import zeroshot

    function = zeroshot.denoise_volume  # type: ignore[attr-defined]
    parameters = inspect.signature(function).parameters
    name = next((n for n in DEPTH_NAMES if n in parameters), None)
    if name is None:
        raise SystemExit(f"zeroshot.denoise_volume{inspect.signature(function)} has none of the depth parameters "
                         f"{DEPTH_NAMES}: update bench/volume.py's DEPTH_NAMES")  # fmt: skip
    options: dict[str, Any] = {name: depth}
    if "threads" in parameters:
        options["threads"] = threads
    result = function(noisy, **options)
    return np.asarray(getattr(result, "denoised", result), dtype=np.float64), {"depth": depth, "call": str(options)}


def shared_model(noisy: np.ndarray, k: int, threads: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The stand-in: one model trained on k evenly spaced slices, applied to every slice."""
    import zeroshot

    picks = sorted({min(int((i + 0.5) * noisy.shape[0] / k), noisy.shape[0] - 1) for i in range(k)})
    start = time.perf_counter()
    trained = zeroshot.train([noisy[z] for z in picks], threads=threads)
    train_s = time.perf_counter() - start
    out = np.stack([zeroshot.denoise(noisy[z], model=trained, threads=threads).denoised for z in range(len(noisy))])
    noise = type(trained.noise).__name__
    return out, {"depth": 1, "train_slices": picks, "train_s": train_s, "noise_model": noise}


def run_child(spec: dict[str, Any]) -> None:
    """One method in this process: loads its inputs, runs, saves the output and prints one RESULT line."""
    work = Path(spec["work"])
    noisy = np.load(work / "noisy.npy")
    method, threads = spec["method"], spec["threads"]
    psd = np.load(work / ("slice_psd.npy" if method == "bm3d-psd" else "noise_psd.npy")) if "psd" in method else None
    if method in ("bm3d-psd", "bm4d-psd") and not hasattr(np, "trapz"):
        np.trapz = np.trapezoid  # type: ignore[attr-defined]  # bm3d 4.0.3 / bm4d call np.trapz (numpy 2.4: gone)
    import zeroshot  # before the clock starts, as bm3d and bm4d below

    if method == "bm3d-psd":
        import bm3d
    if method == "bm4d-psd":
        import bm4d
    before, cpu0 = memory_mb("VmRSS"), cpu_seconds()
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    if method == "zeroshot-slices":
        out = np.stack([zeroshot.denoise(s, threads=threads).denoised for s in noisy])
    elif method == "zeroshot-volume":
        out, extra = volume_call(noisy, spec["depth"], threads)
    elif method == "zeroshot-shared":
        out, extra = shared_model(noisy, spec["train_slices"], threads)
    elif method == "bm3d-psd":
        out = np.stack([np.asarray(bm3d.bm3d(s, sigma_psd=psd), dtype=np.float64) for s in noisy])
    elif method == "bm4d-psd":
        out = np.asarray(bm4d.bm4d(noisy, sigma_psd=psd), dtype=np.float64)
    else:
        raise SystemExit(f"unknown method {method!r}")
    wall = time.perf_counter() - start
    np.save(work / f"{spec['label']}.npy", np.asarray(out, dtype=np.float64))
    peak = memory_mb("VmHWM")
    result = {"wall_s": wall, "cpu_s": cpu_seconds() - cpu0, "peak_rss_mb": peak, "rss_rise_mb": peak - before}
    print("RESULT " + json.dumps({**result, **extra}), flush=True)


# ----------------------------------------------------------------------------------------------- parent side
def psnr(clean: np.ndarray, out: np.ndarray, data_range: float) -> float:
    return float(10.0 * np.log10(data_range**2 / np.mean((out - clean) ** 2)))


def measures(clean: np.ndarray, out: np.ndarray, data_range: float) -> dict[str, float]:
    from skimage.metrics import structural_similarity

    return {
        "psnr": psnr(clean, out, data_range),
        "psnr_slices": float(np.mean([psnr(c, o, data_range) for c, o in zip(clean, out)])),
        "ssim": float(structural_similarity(clean, out, data_range=data_range)),
        "ssim_slices": float(np.mean([structural_similarity(c, o, data_range=data_range) for c, o in zip(clean, out)])),
    }


def plan(args: argparse.Namespace, has_volume: bool) -> list[dict[str, Any]]:
    """The method runs: (label, spec) in METHODS order."""
    runs: list[dict[str, Any]] = []
    for method in METHODS:
        if method not in args.methods:
            continue
        if method == "zeroshot-volume" and has_volume:
            runs += [{"method": method, "depth": d, "label": f"zeroshot-volume-d{d}"} for d in args.depths]
        elif method == "zeroshot-volume":
            k = args.train_slices
            runs.append({"method": "zeroshot-shared", "train_slices": k, "label": f"zeroshot-shared-k{k}"})
        else:
            runs.append({"method": method, "label": method})
    return runs


def describe(label: str) -> str:
    if label.startswith("zeroshot-shared-k"):
        return f"shared model (train on {label.rsplit('k', 1)[1]} slices + apply) [STAND-IN for the volume model, d=1]"
    if label.startswith("zeroshot-volume-d"):
        return f"zeroshot volume, d = {label.rsplit('d', 1)[1]}"
    return {"zeroshot-slices": "zeroshot per slice", "bm3d-psd": "BM3D per slice, true 2-D PSD",
            "bm4d-psd": "BM4D, true 3-D PSD", "noisy": "noisy input", "clean": "clean (truth)"}[label]  # fmt: skip


def run_method(spec: dict[str, Any], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    child = {**spec, "work": str(work), "threads": args.threads}
    print(f"  {spec['label']}: running ...", flush=True)
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(child)], capture_output=True, text=True,
                          env=env, cwd=BENCH)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(
            f"{spec['label']} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    print(f"  {spec['label']}: {result['wall_s']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    return result


def tile(volume: np.ndarray, centre: tuple[int, int, int], vmin: float, vmax: float, gap: int = 4) -> np.ndarray:
    """One method's orthogonal sections on [0, 1] (white gaps): xy left, xz right above yz."""
    cz, cy, cx = centre
    nz, ny, nx = volume.shape
    out = np.ones((max(ny, 2 * nz + gap), nx + gap + max(nx, ny)))
    scale = lambda a: np.clip((a - vmin) / (vmax - vmin), 0.0, 1.0)  # noqa: E731
    out[:ny, :nx] = scale(volume[cz])
    out[:nz, nx + gap : 2 * nx + gap] = scale(volume[:, cy, :])
    out[nz + gap : 2 * nz + gap, nx + gap : nx + gap + ny] = scale(volume[:, :, cx])
    return out


def write_figure(path: Path, shown: list[tuple[str, np.ndarray]], tomo: Any, centre: tuple[int, int, int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clean = tomo.clean
    lo, hi = float(np.percentile(clean, 0.5)) - tomo.noise_sigma, float(clean.max()) + tomo.noise_sigma
    tiles = []
    for label, volume in shown:
        vmin, vmax = (float(v) for v in np.percentile(volume, [0.5, 99.5])) if label == "noisy" else (lo, hi)
        tiles.append((label, tile(volume, centre, vmin, vmax)))
    cols = 2
    rows = -(-len(tiles) // cols)
    h, w = tiles[0][1].shape
    dpi = max(100.0, 1.25 * w / 4.2)  # every section at least at its own resolution
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 4.2, rows * 4.2 * h / w + 0.4), dpi=dpi, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (label, image) in zip(axes.ravel(), tiles):
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(describe(label), fontsize=6.5, loc="left")
    cz, cy, cx = centre
    fig.suptitle(f"SIMULATED tomogram {tuple(clean.shape)}: xy at z = {cz} (left), xz at y = {cy} (right, top), "
                 f"yz at x = {cx} (right, bottom)", fontsize=7)  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    gray_png(path)
    print(f"figure: {path} ({path.stat().st_size // 1000} KB)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", nargs=3, type=int, default=[64, 256, 256], metavar=("Z", "Y", "X"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wedge", action="store_true", help="the clean volume with a missing wedge (±60°)")
    parser.add_argument("--threads", type=int, default=2, help="threads of every method (zeroshot's threads=)")
    parser.add_argument("--depths", nargs="+", type=int, default=[1, 3, 5], help="denoise_volume's depths d")
    parser.add_argument("--train-slices", type=int, default=4, help="slices the stand-in trains on")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--out-json", type=Path, default=None, help="default bench/results/volume_<commit>.jsonl")
    parser.add_argument("--figure", type=Path, default=BENCH / "figures" / "volume.png")
    parser.add_argument("--no-figure", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep the input and every output (.npy) in this folder")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    needed = ["skimage"] + [name for name in ("bm3d", "bm4d") if f"{name}-psd" in args.methods]
    for name in needed:
        if importlib.util.find_spec(name) is None:
            raise SystemExit(f"{name} is not installed: pip install bm3d bm4d scikit-image (benchmark-only)")
    return args


def main() -> None:
    started = time.perf_counter()
    args = parse_args()
    if args.child is not None:
        run_child(json.loads(args.child))
        return
    import zeroshot
    from zeroshot.data import simulated_tomogram

    has_volume = hasattr(zeroshot, "denoise_volume")
    context: dict[str, Any] = {
        "bench_commit": commit(), "zeroshot_commit": package_commit(), "machine": machine(),
        "shape": list(args.shape), "seed": args.seed, "wedge": args.wedge, "threads": args.threads,
        "volume_api": "zeroshot.denoise_volume" if has_volume else "absent: stand-in (shared model)",
    }  # fmt: skip
    print(f"machine: {context['machine']}; bench commit {context['bench_commit']}; zeroshot {zeroshot.__version__} "
          f"from {Path(zeroshot.__file__).parent} at commit {context['zeroshot_commit']}")  # fmt: skip
    shape = (args.shape[0], args.shape[1], args.shape[2])
    tomo = simulated_tomogram(shape, seed=args.seed, wedge=args.wedge)
    clean, noisy = tomo.clean, tomo.noisy
    data_range = float(clean.max() - clean.min())
    acf = tomo.noise_acf(1)[:, 1]
    print(f"SIMULATED tomogram {shape} seed {args.seed}{' with a missing wedge' if args.wedge else ''}: "
          f"{len(tomo.virions)} virions, noise σ {tomo.noise_sigma}, lag-1 ACF z/y/x {acf[0]:.2f}/{acf[1]:.2f}/"
          f"{acf[2]:.2f}; clean range {data_range:.3f}")  # fmt: skip
    failures: list[str] = []
    psd = tomo.noise_psd()
    # the sample variance of correlated noise has relative std sqrt(2 Σ ρ² / N) = sqrt(2 mean(S²) / N), S = PSD / mean
    variance, psd_variance = float(np.var(noisy - clean)), float(psd.mean() / psd.size)
    spread = float(np.sqrt(2.0 * np.mean((psd / psd.mean()) ** 2) / psd.size))
    if abs(variance / psd_variance - 1.0) > VARIANCE_SPREADS * spread:
        failures.append(f"the noise's variance {variance:.3g} is not the PSD's {psd_variance:.3g} (± {spread:.1%})")
    if not has_volume:
        print("zeroshot.denoise_volume does not exist yet: the volume row is the STAND-IN 'shared model (train on "
              f"{args.train_slices} slices + apply)', d = 1 only")  # fmt: skip

    results: dict[str, dict[str, Any]] = {"noisy": {**measures(clean, noisy, data_range)}}
    outputs: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="zeroshot_volume_") as tmp:
        work = Path(tmp) if args.keep is None else args.keep
        work.mkdir(parents=True, exist_ok=True)
        np.save(work / "noisy.npy", noisy)
        np.save(work / "slice_psd.npy", tomo.slice_psd())
        np.save(work / "noise_psd.npy", psd)
        del psd
        for spec in plan(args, has_volume):
            run = run_method(spec, args, work)
            out = np.load(work / f"{spec['label']}.npy")
            if out.shape != clean.shape or not np.all(np.isfinite(out)):
                failures.append(f"{spec['label']}: output not finite or of shape {out.shape}, not {clean.shape}")
                continue
            outputs[spec["label"]] = out
            results[spec["label"]] = {**measures(clean, out, data_range), **run}

    header = ["method", "PSNR", "PSNR slices", "SSIM", "SSIM slices", "wall s", "wall s/slice", "CPU s",
              "peak RSS MB", "rise MB"]  # fmt: skip
    rows = []
    for label, r in results.items():
        timing = ["-"] * 5 if label == "noisy" else [f"{r['wall_s']:.1f}", f"{r['wall_s'] / shape[0]:.2f}",
                                                     f"{r['cpu_s']:.1f}", f"{r['peak_rss_mb']:.0f}",
                                                     f"{r['rss_rise_mb']:.0f}"]  # fmt: skip
        rows.append([describe(label), f"{r['psnr']:.2f}", f"{r['psnr_slices']:.2f}", f"{r['ssim']:.4f}",
                     f"{r['ssim_slices']:.4f}", *timing])  # fmt: skip
    print()
    print("| " + " | ".join(header) + " |")
    print("|---" + "|---:" * (len(header) - 1) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")

    for label, r in results.items():
        if label != "noisy" and not r["psnr"] > results["noisy"]["psnr"]:
            failures.append(
                f"{label}: PSNR {r['psnr']:.2f} not above the noisy volume's {results['noisy']['psnr']:.2f}"
            )
    targets(results)

    out_json = args.out_json or BENCH / "results" / f"volume_{context['bench_commit']}.jsonl"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    with out_json.open("w", encoding="utf-8") as f:
        for label, r in results.items():
            f.write(json.dumps({**context, "method": label, "description": describe(label), **r}, default=float) + "\n")
    print(f"JSON lines: {out_json}")

    if not args.no_figure:
        middle = np.array(shape, dtype=np.float64) / 2
        if len(tomo.virions):
            nearest = tomo.virions[np.argmin(np.linalg.norm(tomo.virions[:, :3] - middle, axis=1))]
            centre = tuple(int(min(max(round(v), 0), n - 1)) for v, n in zip(nearest[:3], shape))
        else:
            centre = tuple(int(n // 2) for n in shape)
        write_figure(args.figure, [("clean", clean), ("noisy", noisy), *outputs.items()], tomo, centre)
    print(f"whole run: {time.perf_counter() - started:.0f} s")
    if package_commit() != context["zeroshot_commit"]:
        failures.append(f"zeroshot's checkout changed during the run ({context['zeroshot_commit']} -> "
                        f"{package_commit()}): the code measured is not known")  # fmt: skip
    if failures:
        raise SystemExit("check FAILED:\n  " + "\n  ".join(failures))
    print("check: outputs finite and of the volume's shape, every PSNR above the noisy one, noise variance = PSD's: OK")


def targets(results: dict[str, dict[str, Any]]) -> None:
    """The issue's targets, printed MET / missed / not measured."""
    volume = [k for k in results if k.startswith(("zeroshot-volume-d", "zeroshot-shared-k"))]
    if not volume:
        print("targets: no volume run")
        return
    best = max(volume, key=lambda k: results[k]["psnr"])
    b = results[best]

    def mark(ok: bool) -> str:
        return "MET" if ok else "missed"

    print(f"\ntargets (volume model = {describe(best)}):")
    if "zeroshot-slices" in results:
        s = results["zeroshot-slices"]
        print(f"  PSNR ≥ zeroshot per slice: {mark(b['psnr'] >= s['psnr'])} ({b['psnr']:.2f} vs {s['psnr']:.2f} dB)")
        speed = s["wall_s"] / b["wall_s"]
        print(f"  ≥ {SPEED_TARGET:g}x faster than per slice: {mark(speed >= SPEED_TARGET)} ({speed:.1f}x)")
    if "bm4d-psd" in results:
        m = results["bm4d-psd"]
        print(f"  PSNR ≥ BM4D (true PSD): {mark(b['psnr'] >= m['psnr'])} ({b['psnr']:.2f} vs {m['psnr']:.2f} dB)")
    depths = {int(k.rsplit("d", 1)[1]): results[k]["psnr"] for k in volume if k.startswith("zeroshot-volume-d")}
    if 1 in depths and any(d > 1 for d in depths):
        d, p = max(((d, p) for d, p in depths.items() if d > 1), key=lambda t: t[1])
        print(f"  best d > 1 beats d = 1: {mark(p > depths[1])} (d = {d}: {p:.2f} vs {depths[1]:.2f} dB)")
    else:
        print("  best d > 1 beats d = 1: not measured (no zeroshot.denoise_volume with d = 1 and d > 1)")


if __name__ == "__main__":
    main()
