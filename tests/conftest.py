"""Shared test settings: hypothesis profiles and the option of the long core fuzzing run."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# "default": what every property test gets unless it sets its own examples; "ci" the same, derandomised.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
settings.load_profile(os.environ.get("ZEROSHOT_HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-long",
        action="store_true",
        default=False,
        help="fuzz zeroshot._core for minutes instead of seconds (also: ZEROSHOT_FUZZ_LONG=1)",
    )


@pytest.fixture
def fuzz_long(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--fuzz-long")) or os.environ.get("ZEROSHOT_FUZZ_LONG") == "1"
