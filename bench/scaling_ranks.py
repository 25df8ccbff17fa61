"""Run by bench/scaling.py under `mpiexec -n R`: EM epochs on the training patches of bench/scaling.py's
synthetic micrograph, each rank on its block, one OpenMP thread per rank. Rank 0 writes OUT.npz with the
learned parameters, F per epoch and the wall time of each timed epoch.

    mpiexec -n 2 python bench/scaling_ranks.py OUT.npz --N 65536 --H 256 --S 60 --P 5 --warmup 2 --repeats 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import zeroshot
from common import training_patches
from zeroshot.config import EvoConfig
from zeroshot.models import BSC
from zeroshot.runtime.comm import block_range
from zeroshot.runtime.mpi import MPIComm
from zeroshot.variational.em import EMTrainer
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--N", type=int, required=True, help="training patches over all ranks")
    parser.add_argument("--H", type=int, required=True)
    parser.add_argument("--S", type=int, required=True)
    parser.add_argument("--P", type=int, required=True)
    parser.add_argument("--image", type=int, required=True, help="side of the synthetic micrograph")
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    args = parser.parse_args()

    comm = MPIComm()
    zeroshot.set_num_threads(1)
    Y = training_patches(args.image, args.P, args.N)  # every rank makes the same patches
    lo, hi = block_range(args.N, comm.rank, comm.size)
    Y = np.ascontiguousarray(Y[lo:hi])
    model = BSC.from_data(Y, args.H, seed=0, comm=comm)
    states = TruncatedStates.random(Y.shape[0], args.H, args.S, 1.0 / args.H, seed=0, first_index=lo)
    trainer = EMTrainer(EvoEStep(EvoConfig(), seed=0), comm=comm)
    model, history = trainer.fit(model, Y, states, args.warmup)
    times = []
    for epoch in range(args.warmup, args.warmup + args.repeats):
        start = time.perf_counter()
        model, logs = trainer.fit(model, Y, states, 1, first_epoch=epoch)
        times.append(time.perf_counter() - start)
        history += logs
    slowest = comm.gather(times)  # an epoch ends when the slowest rank is done: take each epoch's maximum
    if comm.rank == 0:
        assert slowest is not None
        np.savez(
            args.out,
            W=model.W,
            pi=model.pi,
            sigma2=np.array(model.sigma2),
            free_energy=np.array([log.free_energy for log in history]),
            epoch_seconds=np.max(np.array(slowest), axis=0),
            ranks=np.array(comm.size),
        )


if __name__ == "__main__":
    main()
