"""Run by tests/runtime/test_mpi.py under mpiexec: `python mpi_memory.py OUT.json` denoises a small image with an
MPIComm for a few settings under tracemalloc; rank 0 writes each rank's traced peak and the bound of
zeroshot.runtime.memory for rank 0 (without the runtime reserve, which tracemalloc does not see)."""

from __future__ import annotations

import json
import sys
import tracemalloc

import numpy as np

from zeroshot.config import DenoiseConfig
from zeroshot.denoise import denoise
from zeroshot.runtime.memory import RUNTIME_RESERVE, estimate_memory
from zeroshot.runtime.mpi import MPIComm

CASES = [  # (shape, options, moments): inference, the merge and the moment maps at their peak
    ((96, 120), {}, 2),
    ((300, 300), {"max_train_patches": 1000, "chunk_patches": 2000}, 2),
    ((300, 300), {"max_train_patches": 1000, "chunk_patches": 2000}, 3),
    ((300, 300), {"max_train_patches": 1000, "chunk_patches": 2000, "merge": "median"}, 1),
]


def main() -> None:
    comm = MPIComm()
    results = []
    for shape, options, moments in CASES:
        image = np.random.default_rng(0).normal(100.0, 30.0, shape)
        config = DenoiseConfig(
            patch_size=5, n_latents=24, n_states=12, epochs=2, inference_epochs=1, structure_guard=False, **options
        )
        tracemalloc.start()
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        denoise(image, config=config, moments=moments, threads=1, comm=comm)
        peak = tracemalloc.get_traced_memory()[1] - start
        tracemalloc.stop()
        peaks = comm.gather(peak)
        bound = estimate_memory(shape, config, moments=moments, ranks=comm.size, threads=1).total - RUNTIME_RESERVE
        results.append({"case": repr((shape, options, moments)), "peaks": peaks, "bound": bound})
    if comm.rank == 0:
        with open(sys.argv[1], "w") as out:
            json.dump(results, out)


if __name__ == "__main__":
    main()
