"""The memory bound of denoise (`zeroshot.runtime.memory`), the available memory
(`zeroshot.runtime.available_memory`) and the check before a run (`zeroshot.runtime.memory_check`): monotone,
an upper bound of the measured peak, refusing what cannot fit and lowering chunk_patches when that fits."""

from __future__ import annotations

import logging
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from thread_comm import run_ranks
from zeroshot.cli.main import main
from zeroshot.config import DenoiseConfig
from zeroshot.denoise import denoise
from zeroshot.runtime.available_memory import MemoryLimit, available_memory
from zeroshot.runtime.comm import SerialComm
from zeroshot.runtime.memory import RUNTIME_RESERVE, estimate_memory, format_bytes, parse_size
from zeroshot.runtime.memory_check import MIN_AUTO_CHUNK, _budget, fit_chunk_patches

# The bound is of a run that learns: on these noise images the structure guard would skip the training.
SMALL = DenoiseConfig(patch_size=5, n_latents=24, n_states=12, epochs=2, inference_epochs=1, structure_guard=False)
SHAPE = (512, 640)


def total(shape=SHAPE, moments=1, ranks=1, **options) -> int:
    return estimate_memory(shape, replace(SMALL, **options), moments=moments, ranks=ranks).total


# ---- the formula ----


@pytest.mark.parametrize(
    "knob, values",
    [
        ("patch_size", [3, 5, 8, 12]),
        ("n_latents", [16, 64, 65, 512]),
        ("n_states", [4, 16, 60, 120]),
        ("max_train_patches", [1000, 50000, 200000, None]),
        ("chunk_patches", [1000, 4096, 65536, 10**6]),
    ],
)
@pytest.mark.parametrize("model", ["bsc", "es3c"])
def test_the_bound_grows_with_each_setting(knob, values, model):
    totals = [total(model=model, **{knob: value}) for value in values]
    assert totals == sorted(totals) and totals[0] < totals[-1], totals


def test_the_bound_grows_with_the_image_and_the_moments():
    by_shape = [total(shape) for shape in [(64, 64), (64, 512), (512, 512), (4096, 4096)]]
    assert by_shape == sorted(by_shape) and by_shape[0] < by_shape[-1]
    by_moments = [estimate_memory(SHAPE, SMALL, moments=m) for m in (1, 2, 3)]
    assert by_moments[0].total <= by_moments[1].total <= by_moments[2].total
    inference = [estimate.phases["inference"] for estimate in by_moments]
    assert inference[0] < inference[1] < inference[2]


def test_ranks_share_the_training_memory():
    config = replace(SMALL, n_latents=512, n_states=60, max_train_patches=None)
    per_rank = [estimate_memory(SHAPE, config, ranks=r).phases["training"] for r in (1, 2, 4)]
    assert per_rank[0] > per_rank[1] > per_rank[2]
    assert per_rank[1] < 0.6 * per_rank[0]


def test_the_estimate_names_its_peak_and_terms():
    estimate = estimate_memory(SHAPE, replace(SMALL, n_latents=512, n_states=60, max_train_patches=None))
    assert estimate.phase == "training"
    assert estimate.total == estimate.phases["training"] + RUNTIME_RESERVE == sum(estimate.terms.values())
    words = -(-512 // 64)
    n = (SHAPE[0] - 4) * (SHAPE[1] - 4)
    assert estimate.terms["states"] == 8 * n * 60 * (words + 1)
    assert estimate.terms["training patches"] == 8 * n * 25
    assert "peak in training" in estimate.describe() and "states" in estimate.describe()


@pytest.mark.parametrize(
    "shape, options, message",
    [
        ((10,), {}, "image_shape must be"),
        ((0, 10), {}, "image_shape must be"),
        ((4, 40), {}, "smaller than the patch size"),
        (SHAPE, {"moments": 4}, "moments must be"),
        (SHAPE, {"ranks": 0}, "ranks must be"),
        (SHAPE, {"threads": 0}, "threads must be"),
    ],
)
def test_bad_arguments_of_the_estimate(shape, options, message):
    with pytest.raises(ValueError, match=message):
        estimate_memory(shape, SMALL, **options)


def test_unknown_patch_size_takes_the_largest_automatic_choice():
    auto = replace(SMALL, patch_size=None)
    assert estimate_memory(SHAPE, auto).total == estimate_memory(SHAPE, replace(SMALL, patch_size=8)).total
    es3c = replace(auto, model="es3c")
    assert estimate_memory(SHAPE, es3c).total == estimate_memory(SHAPE, replace(es3c, patch_size=10)).total


@pytest.mark.parametrize(
    "text, size", [("8G", 8 * 2**30), ("512M", 512 * 2**20), ("1.5GiB", 3 * 2**29), ("2000", 2000), ("4 kb", 4096)]
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "8X", "-1G", "0", "1e9"])
def test_parse_size_refuses_what_is_not_a_size(text):
    with pytest.raises(ValueError, match="memory size"):
        parse_size(text)


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 2**30) == "3 GiB"


# ---- the bound against the measured peak ----


def measured_peak(image: np.ndarray, config: DenoiseConfig, moments: int) -> int:
    """The peak of the bytes traced during the run (numpy's arrays and Python's objects)."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        denoise(image, config=config, moments=moments, threads=2)
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "options, moments, shape",
    [
        ({"max_train_patches": 1000, "chunk_patches": 2000}, 2, (300, 300)),  # the maps are the peak
        ({"max_train_patches": 1000, "chunk_patches": 2000}, 3, (300, 300)),
        ({}, 1, (96, 120)),
        ({}, 3, (96, 120)),
        ({"max_train_patches": 2000, "chunk_patches": 1000}, 2, (96, 120)),
        ({"chunk_patches": 700}, 1, (96, 120)),
        ({"merge": "median"}, 2, (96, 120)),
        ({"model": "es3c", "max_train_patches": 3000}, 2, (96, 120)),
        ({"n_latents": 100, "n_states": 40}, 1, (96, 120)),
    ],
)
def test_the_bound_holds_the_measured_peak_within_a_factor_two(options, moments, shape):
    image = np.random.default_rng(0).normal(100.0, 30.0, shape)
    config = replace(SMALL, **options)
    peak = measured_peak(image, config, moments)
    bound = estimate_memory(image.shape, config, moments=moments, threads=2).total - RUNTIME_RESERVE
    assert peak <= bound <= 2 * peak, (format_bytes(peak), format_bytes(bound))


# ---- the available memory ----


def fake_system(root: Path, meminfo_kb=None, cgroup_line="0::/job", files=None) -> tuple:
    proc, cgroups = root / "proc", root / "cgroup"
    (proc / "self").mkdir(parents=True)
    if meminfo_kb is not None:
        (proc / "meminfo").write_text(f"MemTotal: 99999999 kB\nMemAvailable: {meminfo_kb} kB\n")
    (proc / "self" / "cgroup").write_text(cgroup_line + "\n")
    for name, text in (files or {}).items():
        path = cgroups / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    cgroups.mkdir(exist_ok=True)
    return proc, cgroups


def test_memavailable_alone(tmp_path):
    proc, cgroups = fake_system(tmp_path, meminfo_kb=1000)
    limit = available_memory(proc, cgroups)
    assert limit == MemoryLimit(1000 * 1024, f"MemAvailable in {proc / 'meminfo'}")


def test_cgroup_v2_room_counts_reclaimable_cache(tmp_path):
    files = {
        "job/memory.max": "1000000\n",
        "job/memory.current": "600000\n",
        "job/memory.stat": "anon 1\ninactive_file 100000\n",
    }
    proc, cgroups = fake_system(tmp_path, meminfo_kb=10**6, files=files)
    limit = available_memory(proc, cgroups)
    assert limit is not None and limit.bytes == 1000000 - (600000 - 100000)
    assert "cgroup v2" in limit.source


def test_cgroup_v2_parent_limit_and_no_limit(tmp_path):
    files = {"job/memory.max": "max\n", "job/memory.current": "5\n", "memory.max": "3000\n", "memory.current": "1000\n"}
    proc, cgroups = fake_system(tmp_path, meminfo_kb=10**6, files=files)
    limit = available_memory(proc, cgroups)
    assert limit is not None and limit.bytes == 2000


def test_cgroup_v1_limit(tmp_path):
    files = {
        "memory/a/b/memory.limit_in_bytes": "4096000\n",
        "memory/a/b/memory.usage_in_bytes": "96000\n",
        "memory/a/memory.limit_in_bytes": "9223372036854771712\n",
        "memory/a/memory.usage_in_bytes": "1\n",
    }
    proc, cgroups = fake_system(tmp_path, meminfo_kb=10**6, cgroup_line="5:cpu:/x\n4:memory:/a/b", files=files)
    limit = available_memory(proc, cgroups)
    assert limit is not None and limit.bytes == 4000000 and "cgroup v1" in limit.source


def test_container_view_of_its_own_cgroup(tmp_path):
    # The process's cgroup path is not mounted inside a container: the mounted root is its cgroup.
    files = {"memory.max": "5000\n", "memory.current": "1000\n"}
    proc, cgroups = fake_system(tmp_path, cgroup_line="0::/hidden/path", files=files)
    limit = available_memory(proc, cgroups)
    assert limit is not None and limit.bytes == 4000


def test_nothing_readable_is_none(tmp_path):
    assert available_memory(tmp_path / "no-proc", tmp_path / "no-cgroup") is None


def test_this_machine_reports_some_memory():
    limit = available_memory()
    if Path("/proc/meminfo").exists():
        assert limit is not None and limit.bytes > 0


def test_ranks_of_one_host_share_its_memory():
    limits = [("a", MemoryLimit(8000, "x")), ("a", MemoryLimit(9000, "x")), ("b", MemoryLimit(6000, "y"))]
    budget = _budget(limits)
    assert budget is not None and budget.bytes == 4000 and "shared by 2 ranks on a" in budget.source
    assert _budget([("a", None), ("b", MemoryLimit(1, "y"))]) is None


# ---- the check before a run ----

IMAGE = np.random.default_rng(1).normal(0.0, 1.0, (120, 120))


def test_a_tiny_limit_is_refused_naming_estimate_limit_and_settings():
    with pytest.raises(ValueError) as raised:
        denoise(IMAGE, config=SMALL, threads=1, max_memory="10M")
    message = str(raised.value)
    assert "needs about" in message and "10 MiB available (max_memory)" in message
    assert "max_train_patches" in message


def test_a_large_limit_passes_without_lowering_the_chunks(caplog):
    with caplog.at_level(logging.WARNING, logger="zeroshot"):
        result = denoise(IMAGE, config=SMALL, threads=1, max_memory=2**40)
    assert result.denoised.shape == IMAGE.shape
    assert not caplog.records


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "lots"])
def test_bad_max_memory(bad):
    with pytest.raises(ValueError, match=r"max_memory|memory size"):
        denoise(IMAGE, config=SMALL, threads=1, max_memory=bad)


def test_chunks_are_lowered_when_that_alone_fits(caplog):
    config = replace(SMALL, max_train_patches=500)
    n_patches = (IMAGE.shape[0] - 4) * (IMAGE.shape[1] - 4)
    assert n_patches > MIN_AUTO_CHUNK
    whole = estimate_memory(IMAGE.shape, config, moments=2).total
    smallest = estimate_memory(IMAGE.shape, replace(config, chunk_patches=MIN_AUTO_CHUNK), moments=2).total
    assert smallest < whole
    limit = (whole + smallest) // 2
    with caplog.at_level(logging.WARNING, logger="zeroshot"):
        lowered = denoise(IMAGE, config=config, threads=1, moments=2, max_memory=limit)
    note = " ".join(record.getMessage() for record in caplog.records)
    assert f"chunk_patches lowered from {config.chunk_patches} to" in note
    chunk = int(note.split(" to ")[1].split()[0])
    assert MIN_AUTO_CHUNK <= chunk < n_patches
    assert estimate_memory(IMAGE.shape, replace(config, chunk_patches=chunk), moments=2).total <= limit
    assert estimate_memory(IMAGE.shape, replace(config, chunk_patches=chunk + 1), moments=2).total > limit
    plain = denoise(IMAGE, config=config, threads=1, moments=2)
    np.testing.assert_allclose(lowered.denoised, plain.denoised, rtol=1e-12)
    np.testing.assert_allclose(lowered.variance, plain.variance, rtol=1e-10, atol=1e-14)
    assert lowered.config.chunk_patches == config.chunk_patches  # the configuration as asked for


def test_no_readable_limit_checks_nothing(monkeypatch):
    monkeypatch.setattr("zeroshot.runtime.memory_check.available_memory", lambda: None)
    chunk = fit_chunk_patches(SHAPE, SMALL, moments=1, threads=1, checkpoint=False, comm=SerialComm())
    assert chunk == SMALL.chunk_patches


def test_every_rank_gets_rank_0s_decision():
    config = replace(SMALL, max_train_patches=500)
    whole = estimate_memory(IMAGE.shape, config, ranks=2, moments=2).total
    smallest = estimate_memory(IMAGE.shape, replace(config, chunk_patches=MIN_AUTO_CHUNK), ranks=2, moments=2).total

    def work(comm):
        return fit_chunk_patches(
            IMAGE.shape, config, moments=2, threads=1, checkpoint=False, comm=comm, max_memory=(whole + smallest) // 2
        )

    chunks = run_ranks(2, work)
    assert chunks[0] == chunks[1] < config.chunk_patches
    with pytest.raises(ValueError, match="needs about"):
        run_ranks(
            2,
            lambda comm: fit_chunk_patches(
                IMAGE.shape, config, moments=2, threads=1, checkpoint=False, comm=comm, max_memory=2**20
            ),
        )


def test_cli_max_memory(tmp_path, capsys):
    source, target = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(source, IMAGE)
    flags = ["--patch-size", "5", "--latents", "24", "--states", "12", "--epochs", "1", "-q"]
    assert main(["denoise", str(source), "-o", str(target), *flags, "--max-memory", "4M"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zeroshot denoise: error: denoising an image of shape (120, 120) needs about")
    assert "4 MiB available (max_memory)" in err and not target.exists()
    assert main(["denoise", str(source), "-o", str(target), *flags, "--max-memory", "1G"]) == 0
    assert target.exists()
    with pytest.raises(SystemExit):
        main(["denoise", str(source), "-o", str(target), *flags, "--max-memory", "9X"])
    assert "memory size '9X'" in capsys.readouterr().err
