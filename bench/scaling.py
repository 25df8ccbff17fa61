"""How zeroshot scales: EM epoch time against the number of training patches N, against threads and
against MPI ranks, and a 4096 x 4096 16-bit micrograph denoised end to end by the CLI with its peak memory
against the bound of zeroshot.runtime.memory. Prints its figures, checks its results and exits 1 on a failed check.

Data: zeroshot.simulate's SIMULATED micrograph of virus particles with TEM noise (not real data).
EM parts: BSC, P = 5, H = 256, S = 60, 5 parents x 4 children x 3 generations (the default E-step), training
patches drawn at random from a 1024 x 1024 image, scaled and centred as zeroshot.denoise does; each N gets
fresh parameters and states, `--warmup` epochs, then the fastest of `--repeats` timed epochs.

    python bench/scaling.py                          # all parts (about 10-15 minutes on 2 cores)
    python bench/scaling.py --parts sizes threads    # some of them
    python bench/scaling.py --parts large --large-size 1024 --large-inference-epochs 1   # a quick try

Checks: epoch time a straight line a + b N within --fit-tolerance, at 1 thread and at --threads, and the time
per patch at most 1 + --linear-tolerance times the smallest N's (no faster than linear growth); the parameters after
the same epochs bitwise equal at 1 and 2 threads, and equal within 1e-10 (relative) at 1 and 2 ranks; the
large run's output finite and better than the noisy input (PSNR), and its peak RSS (/usr/bin/time -v, or
getrusage of the child) at most the bound: the interpreter (the RSS of the same CLI on a 64 x 64 image)
+ the input as read + estimate_memory.
Speed-ups are reported, not checked (they depend on what else the machine runs).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import zeroshot
from common import commit, machine, training_patches
from zeroshot.config import DenoiseConfig, EvoConfig
from zeroshot.metrics import psnr
from zeroshot.models import BSC
from zeroshot.runtime.memory import estimate_memory, format_bytes
from zeroshot.variational.em import EMTrainer
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates

HERE = Path(__file__).resolve().parent
PARTS = ("sizes", "threads", "ranks", "large")
RANK_RTOL = 1e-10
# The 16-bit input: expected counts = dose * clean + offset (the offset keeps readout noise above 0).
LARGE_DOSE, LARGE_OFFSET = 100.0, 1000.0


class Checks:
    """Named pass/fail results, printed as they come."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        print(f"check: {what}: {'OK' if ok else 'FAILED'}")
        if not ok:
            self.failed.append(what)


@dataclass(frozen=True)
class EpochRun:
    seconds: float  # the fastest timed epoch
    params: dict[str, np.ndarray]


def time_epochs(Y: np.ndarray, H: int, S: int, warmup: int, repeats: int, threads: int) -> EpochRun:
    """Fresh BSC parameters and states for Y, `warmup` EM epochs, then `repeats` epochs timed one by one."""
    zeroshot.set_num_threads(threads)
    model = BSC.from_data(Y, H, seed=0)
    states = TruncatedStates.random(Y.shape[0], H, S, 1.0 / H, seed=0)
    trainer = EMTrainer(EvoEStep(EvoConfig(), seed=0))
    model, _ = trainer.fit(model, Y, states, warmup)
    times = []
    for epoch in range(warmup, warmup + repeats):
        start = time.perf_counter()
        model, _ = trainer.fit(model, Y, states, 1, first_epoch=epoch)
        times.append(time.perf_counter() - start)
    return EpochRun(min(times), {"W": model.W, "pi": model.pi, "sigma2": np.array(model.sigma2)})


def part_sizes(args: argparse.Namespace, checks: Checks) -> None:
    thread_counts = sorted({1, args.threads})
    print(f"\n## EM epoch time against N (H={args.H}, S={args.S}, P={args.P}; threads {thread_counts})")
    print("| N | " + " | ".join(f"epoch, {t} thr. | per patch | / smallest N's" for t in thread_counts) + " |")
    print("|---:|" + "---:|---:|---:|" * len(thread_counts))
    seconds: dict[int, list[float]] = {t: [] for t in thread_counts}
    for N in args.sizes:
        Y = training_patches(args.image, args.P, N)
        cells = []
        for t in thread_counts:
            seconds[t].append(time_epochs(Y, args.H, args.S, args.warmup, args.repeats, t).seconds)
            per_patch = [s / n for s, n in zip(seconds[t], args.sizes)]
            cells.append(f"{seconds[t][-1]:.3f} s | {per_patch[-1] * 1e6:.2f} us | {per_patch[-1] / per_patch[0]:.2f}")
        print(f"| {N} | " + " | ".join(cells) + " |")
    N = np.array(args.sizes, dtype=float)
    for t in thread_counts:
        times = np.array(seconds[t])
        ratios = (times / N) / (times[0] / N[0])
        per_patch, fixed = np.polyfit(N, times, 1)
        residual = float(np.max(np.abs(times - (fixed + per_patch * N)) / times))
        print(
            f"{t} thread(s): epoch = {fixed * 1e3:.1f} ms + {per_patch * 1e6:.2f} us x N "
            f"(least squares; largest deviation {residual:.1%})"
        )
        checks.check(
            residual <= args.fit_tolerance and ratios.max() <= 1 + args.linear_tolerance,
            f"{t} thread(s): epoch time linear in N (a fixed part plus a part per patch within "
            f"{args.fit_tolerance:.0%}; time per patch at most {1 + args.linear_tolerance:.2f}x the "
            "smallest N's)",
        )


def part_threads(args: argparse.Namespace, checks: Checks) -> None:
    N = args.thread_patches
    print(f"\n## Threads (N={N}, H={args.H}, S={args.S}, P={args.P})")
    Y = training_patches(args.image, args.P, N)
    runs = {threads: time_epochs(Y, args.H, args.S, args.warmup, args.repeats, threads) for threads in (1, 2)}
    print("| threads | epoch | speed-up |")
    print("|---:|---:|---:|")
    for threads, run in runs.items():
        print(f"| {threads} | {run.seconds:.3f} s | {runs[1].seconds / run.seconds:.2f}x |")
    same = all(np.array_equal(runs[1].params[k], runs[2].params[k]) for k in runs[1].params)
    checks.check(same, "parameters after the same epochs bitwise equal at 1 and 2 threads")


def find_mpiexec() -> str | None:
    beside_python = Path(sys.executable).parent / "mpiexec"
    return str(beside_python) if beside_python.exists() else shutil.which("mpiexec")


def part_ranks(args: argparse.Namespace, checks: Checks, work: Path) -> None:
    N = args.thread_patches
    print(f"\n## MPI ranks (N={N}, H={args.H}, S={args.S}, P={args.P}, 1 thread per rank, mpiexec -n R)")
    mpiexec = find_mpiexec()
    if mpiexec is None:
        checks.check(False, "mpiexec found (pip install '.[mpi]')")
        return
    runs = {}
    for ranks in (1, 2):
        out = work / f"ranks{ranks}.npz"
        command = [
            mpiexec,
            "-n",
            str(ranks),
            sys.executable,
            str(HERE / "scaling_ranks.py"),
            str(out),
            "--N",
            str(N),
            "--H",
            str(args.H),
            "--S",
            str(args.S),
            "--P",
            str(args.P),
            "--image",
            str(args.image),
            "--warmup",
            str(args.warmup),
            "--repeats",
            str(args.repeats),
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
        if done.returncode != 0:
            print(done.stdout + done.stderr)
            checks.check(False, f"mpiexec -n {ranks} run")
            return
        runs[ranks] = dict(np.load(out))
    print("| ranks | epoch | speed-up |")
    print("|---:|---:|---:|")
    fastest = {ranks: float(run["epoch_seconds"].min()) for ranks, run in runs.items()}
    for ranks in runs:
        print(f"| {ranks} | {fastest[ranks]:.3f} s | {fastest[1] / fastest[ranks]:.2f}x |")
    worst = max(
        float(np.max(np.abs(runs[2][k] - runs[1][k])) / max(float(np.max(np.abs(runs[1][k]))), 1e-300))
        for k in ("W", "pi", "sigma2", "free_energy")
    )
    print(f"largest relative difference of W, pi, sigma2, F between 1 and 2 ranks: {worst:.2e}")
    checks.check(worst <= RANK_RTOL, f"2-rank parameters and F equal the 1-rank ones within {RANK_RTOL:g} relative")


# The large run's options: (flag of bench/scaling.py's namespace, DenoiseConfig field, CLI flag); None: the default.
LARGE_OPTIONS = (
    ("large_P", "patch_size", "--patch-size"),
    ("large_H", "n_latents", "--latents"),
    ("large_S", "n_states", "--states"),
    ("large_epochs", "epochs", "--epochs"),
    ("large_train_patches", "max_train_patches", "--max-train-patches"),
    ("large_inference_epochs", "inference_epochs", "--inference-epochs"),
)


def large_options(args: argparse.Namespace) -> dict[str, int]:
    """The DenoiseConfig fields the large run sets (the package defaults for the others)."""
    return {field: getattr(args, name) for name, field, _ in LARGE_OPTIONS if getattr(args, name) is not None}


def large_flags(args: argparse.Namespace) -> list[str]:
    return [
        text
        for name, _, flag in LARGE_OPTIONS
        if getattr(args, name) is not None
        for text in (flag, str(getattr(args, name)))
    ]


def write_large_input(path: Path, size: int) -> np.ndarray:
    """Writes the noisy 16-bit TIFF; returns the expected counts (the clean image on the same scale)."""
    import tifffile

    from zeroshot.simulate import add_tem_noise, simulated_micrograph

    clean = simulated_micrograph(size, seed=0)
    counts = add_tem_noise(clean, seed=1, dose=LARGE_DOSE) * LARGE_DOSE + LARGE_OFFSET
    tifffile.imwrite(path, np.clip(np.rint(counts), 0, 65535).astype(np.uint16))
    return clean * LARGE_DOSE + LARGE_OFFSET


def measured_run(command: Sequence[str]) -> tuple[subprocess.CompletedProcess, float, int, str]:
    """(the finished process, wall seconds, peak RSS in bytes, how it was measured)."""
    if Path("/usr/bin/time").exists():
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
        wall = time.perf_counter() - start
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        if rss is not None:
            return done, wall, int(rss.group(1)) * 1024, "/usr/bin/time -v"
    # ru_maxrss of the children is the largest child's: this run is the largest child of this script.
    start = time.perf_counter()
    done = subprocess.run(list(command), capture_output=True, text=True)
    wall = time.perf_counter() - start
    return done, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, "getrusage(RUSAGE_CHILDREN)"


def part_large(args: argparse.Namespace, checks: Checks, work: Path) -> None:
    size = args.large_size
    print(f"\n## {size}x{size} 16-bit image through the CLI ({args.threads} threads)")
    source, target = work / "large.tif", work / "large_denoised.tif"
    clean = write_large_input(source, size)
    command = [sys.executable, "-m", "zeroshot.cli", "denoise", str(source), "-o", str(target), "-q"]
    command += [*large_flags(args), "--threads", str(args.threads)]
    print("command: " + " ".join(["python", *command[1:]]).replace(str(work), "WORK"))
    # The interpreter with every module the CLI loads and its fixed costs: the CLI on a 64 x 64 image with a
    # tiny model, whose arrays are negligible.
    tiny = work / "tiny.tif"
    write_large_input(tiny, 64)
    _, _, baseline, _ = measured_run(
        [
            sys.executable,
            "-m",
            "zeroshot.cli",
            "denoise",
            str(tiny),
            "-o",
            str(work / "tiny_denoised.tif"),
            "-q",
            "--patch-size",
            "5",
            "--latents",
            "8",
            "--states",
            "4",
            "--epochs",
            "1",
            "--inference-epochs",
            "1",
            "--threads",
            str(args.threads),
        ]
    )
    done, wall, peak, how = measured_run(command)
    if done.returncode != 0:
        print(done.stdout + done.stderr)
        checks.check(False, "the CLI run finished")
        return
    # The bound of the configuration the run used: the patch size it chose is in the sidecar.
    used = json.loads(Path(f"{target}.json").read_text())["results"]
    config = DenoiseConfig.for_model("bsc", **{**large_options(args), "patch_size": used["patch_size"]})
    print(
        f"configuration: P {config.patch_size}, H {config.n_latents}, S {config.n_states}, {config.epochs} epochs, "
        f"at most {config.max_train_patches} training patches, {config.inference_epochs} inference E-steps"
    )
    estimate = estimate_memory((size, size), config, moments=1, ranks=1, threads=args.threads)
    input_bytes = size * size * 2
    bound = baseline + input_bytes + estimate.total
    print(f"wall time {wall:.0f} s; peak RSS {format_bytes(peak)} ({how})")
    print(
        f"bound {format_bytes(bound)} = interpreter (the CLI on a 64x64 image) {format_bytes(baseline)} + input "
        f"{format_bytes(input_bytes)} "
        f"+ estimate_memory {estimate.describe()}"
    )
    print("estimate per phase: " + ", ".join(f"{k} {format_bytes(v)}" for k, v in estimate.phases.items()))
    print(
        f"peak RSS / bound = {peak / bound:.2f}; (peak RSS - interpreter - input) / estimate = "
        f"{(peak - baseline - input_bytes) / estimate.total:.2f}"
    )
    import tifffile

    denoised = tifffile.imread(target).astype(np.float64)
    noisy = tifffile.imread(source).astype(np.float64)
    data_range = float(clean.max() - clean.min())
    before, after = psnr(clean, noisy, data_range=data_range), psnr(clean, denoised, data_range=data_range)
    print(f"PSNR against the expected counts: noisy {before:.2f} dB, denoised {after:.2f} dB")
    checks.check(
        denoised.shape == (size, size) and bool(np.isfinite(denoised).all()) and after > before + 3,
        "the denoised image is finite and at least 3 dB better than the input",
    )
    checks.check(peak <= bound, "peak RSS at most the bound")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--threads", type=int, default=2, help="threads of the N series and the large run")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[16384, 32768, 65536, 131072],
        help="training patches N of the epoch series",
    )
    parser.add_argument("--thread-patches", type=int, default=65536, help="N of the thread and rank comparisons")
    parser.add_argument("--H", type=int, default=256)
    parser.add_argument("--S", type=int, default=60)
    parser.add_argument("--P", type=int, default=5)
    parser.add_argument("--image", type=int, default=1024, help="side of the synthetic image the patches come from")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--linear-tolerance",
        type=float,
        default=0.25,
        help="largest excess of the time per patch over the smallest N's",
    )
    parser.add_argument(
        "--fit-tolerance",
        type=float,
        default=0.10,
        help="largest deviation of an epoch time from the least-squares line a + b N",
    )
    g = parser.add_argument_group("the large run (BSC at the package defaults unless these are given)")
    g.add_argument("--large-size", type=int, default=4096)
    g.add_argument("--large-P", type=int, default=None)
    g.add_argument("--large-H", type=int, default=None)
    g.add_argument("--large-S", type=int, default=None)
    g.add_argument("--large-epochs", type=int, default=None)
    g.add_argument("--large-train-patches", type=int, default=None)
    g.add_argument("--large-inference-epochs", type=int, default=None)
    g.add_argument("--keep", type=Path, help="write the large run's files into this folder and keep them")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"machine: {machine()}; commit {commit()}")
    print("command: python bench/scaling.py " + " ".join(sys.argv[1:]))
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="zeroshot-scaling-") as temporary:
        work = args.keep if args.keep is not None else Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        if "sizes" in args.parts:
            part_sizes(args, checks)
        if "threads" in args.parts:
            part_threads(args, checks)
        if "ranks" in args.parts:
            part_ranks(args, checks, work)
        if "large" in args.parts:
            part_large(args, checks, work)
    print(
        f"\n{len(checks.failed)} check(s) failed: {', '.join(checks.failed)}"
        if checks.failed
        else "\nall checks passed"
    )
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
