"""`import zeroshot` makes idle threads sleep instead of spinning (OpenMP's and OpenBLAS's), unless the user chose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SETTINGS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}
SHOW = "import os, zeroshot; print(os.environ['OMP_WAIT_POLICY'], os.environ['OPENBLAS_THREAD_TIMEOUT'])"


def settings_after_import(**given: str) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS}
    env.update(given)
    run = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True)
    return run.stdout.split()


def test_idle_threads_sleep_by_default() -> None:
    assert settings_after_import() == list(SETTINGS.values())


@pytest.mark.parametrize("name", list(SETTINGS))
def test_a_users_setting_is_kept(name: str) -> None:
    shown = settings_after_import(**{name: "17"})
    assert shown[list(SETTINGS).index(name)] == "17"
