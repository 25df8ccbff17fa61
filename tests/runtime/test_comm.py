"""Data parallelism over ranks in one process: the splitting of the patches, the rank-parallel pipeline
with thread ranks (`thread_comm.ThreadComm`) against one process, and where ranks run (placement)."""

from __future__ import annotations

import numpy as np
import pytest

from thread_comm import run_ranks
from zeroshot.cli.placement import Placement, cpu_list, describe
from zeroshot.denoise import denoise
from zeroshot.models.dictionary import data_moments
from zeroshot.runtime.comm import SerialComm, any_rank, block_range

RTOL = 1e-10


@pytest.mark.parametrize("n", [0, 1, 5, 7, 100])
@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_blocks_cover_the_items_in_rank_order(n, size):
    blocks = [block_range(n, rank, size) for rank in range(size)]
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))  # contiguous, in rank order
    lengths = [hi - lo for lo, hi in blocks]
    assert max(lengths) - min(lengths) <= 1


@pytest.mark.parametrize("rank, size, n", [(2, 2, 10), (-1, 2, 10), (0, 0, 10), (0, 2, -1)])
def test_bad_blocks_are_refused(rank, size, n):
    with pytest.raises(ValueError):
        block_range(n, rank, size)


def test_serial_comm():
    comm = SerialComm()
    buffer = np.arange(3.0)
    assert comm.allreduce(buffer) is buffer
    assert comm.bcast("x") == "x" and comm.gather(5) == [5]
    assert any_rank(comm, True) and not any_rank(comm, False)
    with pytest.raises(RuntimeError, match="no rank 1"):
        comm.send_arrays({}, 1)


def test_data_moments_of_shards_equal_those_of_all_data():
    Y = np.random.default_rng(0).standard_normal((101, 9)) * 3.0 + 2.0
    mean, std = data_moments(Y, SerialComm())
    np.testing.assert_array_equal(mean, Y.mean(axis=0))  # bitwise as numpy for one rank
    assert std == Y.std()
    shards = run_ranks(3, lambda comm: data_moments(Y[slice(*block_range(101, comm.rank, 3))], comm))
    for shard_mean, shard_std in shards:
        np.testing.assert_allclose(shard_mean, mean, rtol=1e-13)
        assert shard_std == pytest.approx(std, rel=1e-13)


def image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:30, :33]
    return 50.0 * np.sin(x / 4.0) * np.cos(y / 6.0) + 20.0 * rng.standard_normal((30, 33))


TINY = {"patch_size": 4, "n_latents": 8, "n_states": 8, "epochs": 5, "threads": 1}
RUNS = {
    "bsc": {"model": "bsc"},
    "es3c-pretrained": {"model": "es3c", "bsc_pretrain_epochs": 2},
    "subset-median": {
        "model": "bsc",
        "max_train_patches": 301,
        "chunk_patches": 97,
        "inference_epochs": 2,
        "merge": "median",
    },
    "gaussian-chunks": {"model": "es3c", "chunk_patches": 100, "merge": "gaussian"},
}


def assert_same_run(parallel, serial):
    for name in ("W", "pi", "sigma2"):
        np.testing.assert_allclose(getattr(parallel.model, name), getattr(serial.model, name), rtol=RTOL, atol=0)
    if serial.config.model == "es3c":
        for name in ("mu", "psi"):
            np.testing.assert_allclose(
                getattr(parallel.model.params, name), getattr(serial.model.params, name), rtol=RTOL
            )
    np.testing.assert_allclose(parallel.free_energy, serial.free_energy, rtol=RTOL)
    scale = np.abs(serial.denoised).max()
    np.testing.assert_allclose(parallel.denoised, serial.denoised, rtol=0, atol=RTOL * scale)
    if serial.moments is not None:
        for name in ("variance", "within", "between", "third", "skewness"):
            want = getattr(serial.moments, name)
            np.testing.assert_allclose(
                getattr(parallel.moments, name), want, rtol=0, atol=RTOL * max(np.abs(want).max(), 1.0)
            )


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("run", sorted(RUNS))
def test_ranks_give_the_result_of_one_process(run, size):
    options = {**TINY, **RUNS[run]}
    moments = 3 if "median" in run or "gaussian" in run else 1
    serial = denoise(image(), moments=moments, **options)
    results = run_ranks(size, lambda comm: denoise(image(), moments=moments, comm=comm, **options))
    for result in results:  # every rank returns the whole result
        assert_same_run(result, serial)
    np.testing.assert_array_equal(results[1].denoised, results[0].denoised)


@pytest.mark.parametrize("differs", ["image", "options", "moments", "checkpoint"])
def test_ranks_with_different_images_or_options_are_refused(tmp_path, differs):
    def work(comm):
        mine = {
            "image": {"image": image(seed=comm.rank)},
            "options": {"seed": comm.rank},
            "moments": {"moments": 1 + comm.rank},
            "checkpoint": {"checkpoint": tmp_path / f"rank{comm.rank}.ckpt"},
        }[differs]
        return denoise(**{"image": image(), **TINY, **mine}, comm=comm)

    with pytest.raises(ValueError, match="different images or options"):
        run_ranks(2, work)


def test_more_ranks_than_training_patches_is_refused():
    with pytest.raises(ValueError, match="3 training patches cannot be shared by 4 ranks"):
        run_ranks(4, lambda comm: denoise(image(), comm=comm, max_train_patches=3, **TINY))


# ---- where the ranks run ----


def test_cpu_list():
    assert cpu_list(frozenset({0, 1, 2, 5, 7, 8})) == "0-2,5,7-8"
    assert cpu_list(frozenset({3})) == "3"


def test_placement_lines_and_warnings():
    fine = [Placement(0, "a", 2, frozenset({0, 1})), Placement(1, "a", 2, frozenset({2, 3}))]
    lines, warnings = describe(fine)
    assert lines[0] == "2 MPI ranks, 2 OpenMP thread(s) per rank"
    assert "rank 1 on a: CPUs 2-3" in lines[2]
    assert warnings == []

    pinned = [Placement(0, "a", 4, frozenset({0})), Placement(1, "b", 4, frozenset({0, 1, 2, 3}))]
    _, warnings = describe(pinned)
    assert len(warnings) == 1 and "rank 0 on a runs 4 threads but is pinned to 1 CPU(s)" in warnings[0]

    shared = [Placement(0, "a", 2, frozenset({0, 1})), Placement(1, "a", 2, frozenset({0, 1}))]
    _, warnings = describe(shared)
    assert warnings == ["a: 2 ranks run 4 threads on 2 CPU(s) (0-1): give --threads 1 per rank"]
