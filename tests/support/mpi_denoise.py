"""Run by tests/runtime/test_mpi.py under mpiexec: `python mpi_denoise.py IMAGE.npy OUT_PREFIX OPTIONS_JSON...`
denoises the image once per OPTIONS_JSON with an MPIComm; rank 0 writes OUT_PREFIX<i>.npz with the
parameters, F and the maps. Every rank checks that it got rank 0's result."""

from __future__ import annotations

import json
import sys

import numpy as np

from zeroshot.denoise import denoise
from zeroshot.runtime.mpi import MPIComm


def main() -> None:
    image = np.load(sys.argv[1])
    comm = MPIComm()
    for index, options in enumerate(sys.argv[3:]):
        result = denoise(image, comm=comm, moments=2, **json.loads(options))
        arrays = {
            "denoised": result.denoised,
            "variance": result.variance,
            "free_energy": np.array(result.free_energy),
            **{name: np.asarray(value) for name, value in vars(result.model.params).items()},
        }
        root = comm.bcast_arrays(arrays if comm.rank == 0 else None)
        for name, value in arrays.items():
            if not np.array_equal(value, root[name]):
                raise SystemExit(f"rank {comm.rank}: {name} differs from rank 0's")
        if comm.rank == 0:
            np.savez(f"{sys.argv[2]}{index}.npz", **arrays)


if __name__ == "__main__":
    main()
