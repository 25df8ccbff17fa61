"""Hypothesis fuzzing of every binding of zeroshot._core and _core.testing (reliability review, section K):
arbitrary shapes, dtypes, NaN/Inf, non-contiguous and read-only arrays, huge or negative sizes, counts,
seeds and thread numbers. Batches of calls run in subprocesses under a 3 GiB address-space limit
(tests/support/core_fuzz_child.py); every call must return or raise ValueError/TypeError (MemoryError where
only an allocation can refuse a size), never crash (a signal exit) or hang (a timeout).

The default run takes about half a minute; `pytest --fuzz-long` (or ZEROSHOT_FUZZ_LONG=1) runs for minutes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).parents[1] / "support" / "core_fuzz_child.py"
MEMORY = 3 * 2**30


def run_batch(seed: int, examples: int, timeout: float) -> None:
    try:
        done = subprocess.run(
            [sys.executable, str(CHILD), str(seed), str(examples), str(MEMORY)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        stderr = expired.stderr.decode() if isinstance(expired.stderr, bytes) else expired.stderr or ""
        calls = [line for line in stderr.splitlines() if line.startswith("CALL ")]
        pytest.fail(f"batch {seed} hung (> {timeout} s); last call: {calls[-1] if calls else 'none'}")
    calls = [line for line in done.stderr.splitlines() if line.startswith("CALL ")]
    last = calls[-1] if calls else "none"
    if done.returncode < 0:
        pytest.fail(f"batch {seed} crashed with signal {-done.returncode} in {last}")
    others = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("CALL "))
    assert done.returncode == 0 and "FUZZ-OK" in done.stdout, f"batch {seed} failed (last {last}):\n{others[-4000:]}"
    assert len(calls) >= examples  # at least one call per example


@pytest.mark.parametrize("batch", range(3))
def test_core_bindings_survive_arbitrary_arguments(batch, fuzz_long):
    batches, examples = (40, 600) if fuzz_long else (1, 120)
    for seed in range(batch * batches, (batch + 1) * batches):
        run_batch(seed, examples, timeout=600 if fuzz_long else 120)
