"""The structure guard's verdicts (zeroshot.pipeline.structure_guard) on images with and without structure.

Prints, per image, the noise model and patch size the run chose, the held-out gain over noise alone (nats per
patch) with its standard error and z, and the verdict; checks that the structureless images (uniform noise:
openNCEM's temp.mrc, white Gaussian noise) get "no structure" and every image with structure (the House with
white and correlated noise, the SARS-CoV-2 slice, the 80S ribosome micrograph) gets "structure found".

    python bench/structure_guard.py      # needs ../shared/data (or ZEROSHOT_SHARED_DATA)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import zeroshot
from zeroshot.config import DenoiseConfig
from zeroshot.io import read_em
from zeroshot.pipeline.run import prepare
from zeroshot.pipeline.structure_guard import check_structure
from zeroshot.runtime.comm import SerialComm
from zeroshot.runtime.threads import thread_count

DATA = Path(os.environ.get("ZEROSHOT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def correlated(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """White noise circularly convolved with a Gaussian of 1 px, scaled to a per-pixel sigma."""
    r = np.minimum(np.arange(shape[0]), shape[0] - np.arange(shape[0]))[:, None]
    c = np.minimum(np.arange(shape[1]), shape[1] - np.arange(shape[1]))[None, :]
    k = np.exp(-(r**2 + c**2) / 2.0)
    noise = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal(shape)) * np.fft.fft2(k)))
    return noise * sigma / np.sqrt(np.sum(k**2))


def main() -> int:
    rng = np.random.default_rng(0)
    house = read_em(DATA / "standard" / "house.png").data.astype(np.float64)
    ribosome = read_em(DATA / "em" / "cryoem_80S_ribosome_EMPIAR-10028_065.png").data.astype(np.float64)
    cases = {  # name: (image, has structure)
        "temp.mrc frame 0 (uniform noise)": (read_em(DATA / "formats" / "temp.mrc").data[0].astype(float), False),
        "white noise 256²": (100.0 + 25.0 * rng.standard_normal((256, 256)), False),
        "correlated noise 256² (1 px)": (100.0 + correlated((256, 256), 25.0, rng), False),
        "house + white σ 25": (house + 25.0 * rng.standard_normal(house.shape), True),
        "house + white σ 50": (house + 50.0 * rng.standard_normal(house.shape), True),
        "house + correlated σ 25": (house + correlated(house.shape, 25.0, rng), True),
        "SARS-CoV-2 slice": (zeroshot.data.sarscov2().data.astype(np.float64), True),
        "80S ribosome micrograph": (ribosome if ribosome.ndim == 2 else ribosome[..., 0], True),
    }
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}; 2 threads")
    print("| image | noise | P | gain (nats/patch) | z | verdict | s |\n|---|---|---:|---:|---:|---|---:|")
    wrong = []
    for name, (image, structure) in cases.items():
        start = time.perf_counter()
        run, scaled = prepare(
            image, DenoiseConfig(), comm=SerialComm(), threads=2, moments=1, checkpoint=None,
            checkpoint_every=10, resume=False, max_memory=None,
        )  # fmt: skip
        with thread_count(2):
            check = check_structure(run, scaled)
        assert check is not None, name
        seconds = time.perf_counter() - start
        verdict = "structure found" if check.found else "no structure"
        z = check.gain / check.standard_error
        print(
            f"| {name} | {run.noise.kind} | {run.grid.P} | {check.gain:+.4f} ± {check.standard_error:.4f} "
            f"| {z:+.1f} | {verdict} | {seconds:.1f} |",
            flush=True,
        )
        if check.found != structure:
            wrong.append(name)
    print("wrong verdicts: " + (", ".join(wrong) if wrong else "none"))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
