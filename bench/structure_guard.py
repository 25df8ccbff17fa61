"""The structure guard's verdicts (zeroshot.pipeline.structure_guard) on images with and without structure.

Prints, per image, the noise model and patch size the run chose, the held-out gain over noise alone (nats per
patch) with its standard error and z, and the verdict; checks that the structureless images (uniform noise:
openNCEM's temp.mrc, white Gaussian noise) get "no structure" and every image with structure (the House with
white and correlated noise, the SARS-CoV-2 slice, the 80S ribosome micrograph) gets "structure found".

    python bench/structure_guard.py      # needs ../shared/data (or ZEROSHOT_SHARED_DATA)
"""

from __future__ import annotations

import sys
import time

import numpy as np

import zeroshot
from common import SHARED_DATA, commit, load_standard
from noise_quality import correlated_noise
from zeroshot.config import DenoiseConfig
from zeroshot.io import read_em
from zeroshot.pipeline.env import RunEnv
from zeroshot.pipeline.run import prepare
from zeroshot.pipeline.structure_guard import check_structure
from zeroshot.runtime.threads import thread_count


def main() -> int:
    rng = np.random.default_rng(0)
    house = load_standard("house")
    ribosome = read_em(SHARED_DATA / "em" / "cryoem_80S_ribosome_EMPIAR-10028_065.png").data.astype(np.float64)
    cases = {  # name: (image, has structure)
        "temp.mrc frame 0 (uniform noise)": (
            read_em(SHARED_DATA / "formats" / "temp.mrc").data[0].astype(float),
            False,
        ),
        "white noise 256²": (100.0 + 25.0 * rng.standard_normal((256, 256)), False),
        "correlated noise 256² (1 px)": (100.0 + correlated_noise((256, 256), 25.0, 1)[0], False),
        "house + white σ 25": (house + 25.0 * rng.standard_normal(house.shape), True),
        "house + white σ 50": (house + 50.0 * rng.standard_normal(house.shape), True),
        "house + correlated σ 25": (house + correlated_noise(house.shape, 25.0, 2)[0], True),
        "SARS-CoV-2 slice": (zeroshot.data.sarscov2().data.astype(np.float64), True),
        "80S ribosome micrograph": (ribosome if ribosome.ndim == 2 else ribosome[..., 0], True),
    }
    print(f"commit {commit()}; 2 threads")
    print("| image | noise | P | gain (nats/patch) | z | verdict | s |\n|---|---|---:|---:|---:|---|---:|")
    wrong = []
    for name, (image, structure) in cases.items():
        start = time.perf_counter()
        run, scaled = prepare(image, DenoiseConfig(), RunEnv(threads=2), moments=1)
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
