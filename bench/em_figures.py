"""Real TEM files end to end through the command line: denoised image, variance map and report figure.

Runs, for every image file in ../shared/data/formats (DM3, DM4, SER, EMD, MRC; needs `pip install
.[em,report]`):

    zeroshot denoise FILE -o bench/out/em/NAME.tif --also-variance --report bench/figures/NAME.png ...
    zeroshot enhance FILE -o bench/out/em/NAME_relief.png --kind relief ...

and checks that each run exits 0, that the outputs keep the input's shape and pixel size, that the
variance is finite and non-negative, and that a file holding no image (08_carbon.dm3, an EELS spectrum)
is refused with exit code 2 and a message naming the file. Prints wall time per file. The report
figures are small PNGs meant to be committed (bench/figures/); the other outputs go to bench/out/.

    python bench/em_figures.py [--model es3c] [--epochs 30] [--max-train-patches 65536] [--threads N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import SHARED_DATA, commit, gray_png, machine

BENCH = Path(__file__).resolve().parent
IMAGES = [
    "16_STOimage_1.ser",
    "Camera_Ceta_Imaging_Micro.emd",
    "temp.mrc",
    "dmTest_float32_nonSquare_diffPixelSize.dm4",
    "dmTest_float32_nonSquare_diffPixelSize.dm3",
]
NOT_AN_IMAGE = "08_carbon.dm3"


def zeroshot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zeroshot.cli", *args], capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="es3c", choices=["bsc", "es3c"])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--max-train-patches", type=int, default=65536)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--figures", type=Path, default=BENCH / "figures")
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "em")
    args = parser.parse_args()
    from zeroshot.io import read_em

    source_dir = SHARED_DATA / "formats"
    if not source_dir.is_dir():
        raise SystemExit(f"benchmark data not found: {source_dir}")
    args.figures.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    training = [
        "--model",
        args.model,
        "--epochs",
        str(args.epochs),
        "--max-train-patches",
        str(args.max_train_patches),
        "-q",
    ]
    if args.threads:
        training += ["--threads", str(args.threads)]
    print(f"machine: {machine()}; commit {commit()}")
    print(f"settings: {' '.join(training)}\n")

    failures = []
    for name in IMAGES:
        source = source_dir / name
        image = read_em(source)
        stem = Path(name).stem + Path(name).suffix.replace(".", "_")
        denoised, figure = args.out / f"{stem}.tif", args.figures / f"{stem}.png"
        start = time.perf_counter()
        run = zeroshot(
            "denoise", str(source), "-o", str(denoised), "--also-variance", "--report", str(figure), *training
        )
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            failures.append(f"{name}: denoise exited {run.returncode}: {run.stderr.strip()}")
            continue
        gray_png(figure)
        out = read_em(denoised)
        variance = read_em(denoised.with_name(f"{stem}_variance.tif"))
        problems = []
        if out.data.shape != image.data.shape:
            problems.append(f"shape {out.data.shape} != input {image.data.shape}")
        if out.pixel_size != image.pixel_size and not (
            out.pixel_size
            and image.pixel_size
            and np.allclose([out.pixel_size.y, out.pixel_size.x], [image.pixel_size.y, image.pixel_size.x], rtol=1e-5)
        ):
            problems.append(f"pixel size {out.pixel_size} != input {image.pixel_size}")
        if not (np.all(np.isfinite(variance.data)) and variance.data.min() >= 0):
            problems.append("variance not finite and non-negative")
        relief = zeroshot(
            "enhance", str(source), "-o", str(args.out / f"{stem}_relief.tif"), "--kind", "relief", *training
        )
        if relief.returncode != 0:
            problems.append(f"enhance exited {relief.returncode}: {relief.stderr.strip()}")
        failures += [f"{name}: {p}" for p in problems]
        print(
            f"{name}: {image.data.shape} {image.dtype}, pixel size {image.pixel_size}; denoise + variance + "
            f"report {seconds:.1f} s; {run.stdout.strip().splitlines()[-1]}"
        )

    refused = zeroshot("denoise", str(source_dir / NOT_AN_IMAGE), "-o", str(args.out / "carbon.tif"), *training)
    print(f"\n{NOT_AN_IMAGE}: exit {refused.returncode}: {refused.stderr.strip()}")
    if refused.returncode != 2 or NOT_AN_IMAGE not in refused.stderr:
        failures.append(f"{NOT_AN_IMAGE}: expected exit 2 naming the file")
    if failures:
        raise SystemExit("check FAILED:\n  " + "\n  ".join(failures))
    print(
        f"\ncheck: every file processed, shapes and pixel sizes kept, variance finite and >= 0: OK\n"
        f"figures in {args.figures}"
    )


if __name__ == "__main__":
    main()
