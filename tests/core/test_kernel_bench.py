"""The compiled kernel benchmark (bench/cpp): configured and built with CMake into a temporary folder,
with OpenMP and without, then run on tiny problems. Skipped only when cmake or a C++ compiler is missing."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
# A tiny problem: the run takes well under a second.
TINY = shlex.split("--N 600 --D 16 --H 24 --S 12 --repeats 2 --warmup 2 --check-patches 8")


class Bench(NamedTuple):
    exe: Path
    openmp: bool


def cxx_compiler() -> str | None:
    candidates = [os.environ.get("CXX", ""), "c++", "g++", "clang++"]
    return next((shutil.which(c) for c in candidates if c and shutil.which(c)), None)


@pytest.fixture(scope="module", params=["ON", "OFF"], ids=["openmp", "no-openmp"])
def bench(request, tmp_path_factory) -> Bench:
    cmake, cxx = shutil.which("cmake"), cxx_compiler()
    if cmake is None:
        pytest.skip("cmake is not on PATH")
    if cxx is None:
        pytest.skip("no C++ compiler found (CXX, c++, g++, clang++)")
    build = tmp_path_factory.mktemp("kernel_bench_build")
    configure = [
        cmake,
        "-S",
        str(REPO),
        "-B",
        str(build),
        "-DZEROSHOT_BUILD_BENCH=ON",
        f"-DZEROSHOT_OPENMP={request.param}",
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_CXX_COMPILER={cxx}",
    ]
    for command in (
        configure,
        [cmake, "--build", str(build), "--target", "zeroshot_kernel_bench", "--parallel", "2"],
    ):
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    exe = next(build.rglob("zeroshot_kernel_bench*"), None)
    assert exe is not None and exe.is_file(), "the build made no zeroshot_kernel_bench executable"
    return Bench(exe, request.param == "ON")


def run_bench(exe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *args], check=False, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("model", ["bsc", "sssc"])
def test_bench_runs_and_passes_its_checks(bench, model):
    done = run_bench(bench.exe, "--model", model, "--threads", "1,2", *TINY)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    openmp = "on" if bench.openmp else "off"
    assert re.search(rf"^build: compiler .+, flags \".*\", OpenMP {openmp}", out, re.MULTILINE)
    assert re.search(r"^dense products: (own cache-blocked loop|CBLAS)", out, re.MULTILINE)
    assert f"problem: model {model}, N=600 D=16 H=24 S=12" in out
    for threads in (1, 2):
        used = threads if bench.openmp else 1
        assert re.search(
            rf"^threads {threads} \(omp_get_max_threads {used}, team size {used}\)",
            out,
            re.MULTILINE,
        )
    for phase, rate in [
        ("W^T Y", "GFLOP/s"),
        ("W^T W", "GFLOP/s"),
        ("E-step", "M children/s"),
        ("accumulate", "M patch-states/s"),
        ("M-step", ""),
        ("epoch", ""),
    ]:
        line = rf"^  {re.escape(phase)} +[0-9.]+ s.*{re.escape(rate)}"
        assert len(re.findall(line, out, re.MULTILINE)) == 2, phase  # one per thread count
    checks = re.findall(r"^check: (.*): (OK|FAILED|skipped .*)$", out, re.MULTILINE)
    assert len(checks) == 8 and all(verdict != "FAILED" for _, verdict in checks), checks
    assert re.search(r"^result: PASS \(\d+ checks\)$", out, re.MULTILINE)


def test_bench_single_thread_count_still_checks_thread_independence(bench):
    done = run_bench(bench.exe, "--threads", "1", *TINY)
    assert done.returncode == 0, done.stdout + done.stderr
    identity = "check: identical states, lpj, statistics and parameters at "
    if bench.openmp:
        assert re.search(rf"^{identity}threads 1, 2 .*: OK$", done.stdout, re.MULTILINE)
    else:
        assert re.search(rf"^{identity}every thread count: skipped", done.stdout, re.MULTILINE)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "gauss"], "--model must be bsc or sssc"),
        (["--H", "3", "--S", "9", "--active", "1"], "exceeds the 2^H"),
        (["--unknown"], "unknown option --unknown"),
    ],
)
def test_bench_rejects_bad_options(bench, args, message):
    done = run_bench(bench.exe, *args)
    assert done.returncode == 2
    assert message in done.stderr
