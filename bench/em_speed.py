"""Time of one EM epoch (BSC, or ES3C with --model es3c) against the unavoidable dense work, and thread scaling.

N = 62001 patches (a 256x256 image, 8x8 patches), H = 256, S = 60, 60 new states per patch per epoch
(5 parents x 4 children x 3 generations). The floor is two float64 GEMMs of (N x D) by (D x H) with numpy.
Targets: epoch time <= 5x the floor for BSC, <= 20x for ES3C.

    python bench/em_speed.py [--model bsc|es3c] [--warmup 5] [--repeats 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import zeroshot
from common import add_gaussian_noise, commit, load_standard, machine
from zeroshot.config import EvoConfig
from zeroshot.models import BSC, SSSC
from zeroshot.patches.extract import extract_patches
from zeroshot.variational.em import EMTrainer
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warmup", type=int, default=5, help="EM epochs before timing (realistic states)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--model",
        choices=("bsc", "es3c"),
        default="bsc",
        help="bsc (target <= 5x the floor) or es3c, the spike-and-slab model (target <= 20x)",
    )
    args = parser.parse_args()

    H, S, P = 256, 60, 8
    evo = EvoConfig(n_parents=5, n_children=4, n_generations=3)
    noisy = add_gaussian_noise(load_standard("house"), 25.0)
    image = (noisy - noisy.mean()) / noisy.std()
    Y = extract_patches(image, P)
    Y = Y - Y.mean(axis=1, keepdims=True)
    N, D = Y.shape
    print(f"machine: {machine()}; commit {commit()}")
    print(f"N={N} D={D} H={H} S={S}, {evo.children_per_epoch} new states per patch per epoch")

    model = (SSSC if args.model == "es3c" else BSC).from_data(Y, H, seed=0)
    target = 20 if args.model == "es3c" else 5
    states = TruncatedStates.random(N, H, S, 1.0 / H, seed=0)
    estep = EvoEStep(evo, seed=0)
    trainer = EMTrainer(estep)
    model, history = trainer.fit(model, Y, states, args.warmup)
    F = [h.free_energy for h in history]
    print(f"warm-up F per patch: {[round(f / N, 3) for f in F]}")

    W = model.params.W
    Q = np.ascontiguousarray(np.random.default_rng(1).random((N, H)))
    next_epoch = [args.warmup]

    def floor() -> None:
        Y @ W, Y.T @ Q

    def epoch() -> None:
        nonlocal model
        model, _ = trainer.fit(model, Y, states, 1, first_epoch=next_epoch[0])
        next_epoch[0] += 1

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    results = {}
    for threads in (1, 2):
        zeroshot.set_num_threads(threads)
        # Floor and epoch alternate, so both see the same load on this shared machine.
        pairs = [(timed(floor), timed(epoch)) for _ in range(args.repeats)]
        floors, epochs = zip(*pairs)
        results[threads] = (min(epochs), float(np.median([e / f for f, e in pairs])), min(floors))
        # Parts of an epoch at this thread count.
        t_e = timed(lambda threads=threads: estep.update(model, Y, states, 10_000 + threads))
        products = estep.workspace.products(model, Y)
        stats = model.accumulate(Y, states, products)
        t_acc = timed(lambda products=products: model.accumulate(Y, states, products))
        t_m = timed(lambda stats=stats: model.m_step(stats))
        print(
            f"threads={threads}: epoch {results[threads][0]:.3f} s  (E-step {t_e:.3f} s, statistics "
            f"{t_acc:.3f} s, M-step {t_m:.3f} s); mean active latents per state "
            f"{states.bits().sum(-1).mean():.2f}"
        )

    epoch_2, ratio_2, floor_2 = results[2]
    print(f"GEMM floor (Y W and Y^T Q, float64 numpy): {floor_2:.3f} s")
    print(
        f"{args.model}: epoch / floor = {ratio_2:.2f} at 2 threads (median of {args.repeats} alternating pairs; "
        f"target <= {target})"
    )
    print(
        f"thread scaling: 1 thread {results[1][0]:.3f} s, 2 threads {epoch_2:.3f} s, "
        f"speed-up {results[1][0] / epoch_2:.2f}x"
    )

    # Right result: F must not decrease much over epochs and parameters must be finite.
    final = model.free_energy(model.accumulate(Y, states))
    assert np.isfinite(final) and np.all(np.isfinite(model.params.W)), "non-finite result"
    assert final > F[0], f"F did not improve: {F[0]} -> {final}"
    print("check: F improved from warm-up start and parameters are finite: OK")


if __name__ == "__main__":
    main()
