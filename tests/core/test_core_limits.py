"""Sizes, counts, thread numbers and seeds at the boundary of the compiled core (reliability review
defects D1, D4, D5, D10): each is refused with a ValueError naming it, before anything is allocated,
divided or run. Calls that used to crash the interpreter run in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import zeroshot
from zeroshot import _core
from zeroshot.config import MAX_SEED, DenoiseConfig, EvoConfig
from zeroshot.variational.evo import EvoEStep


def run_python(code: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter (a crash there is a signal exit, not a lost test session)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_value_error(code: str, match: str) -> None:
    done = run_python(
        f"""
        import numpy as np
        import zeroshot
        from zeroshot import _core
        try:
            {textwrap.dedent(code).strip()}
        except ValueError as error:
            print("ValueError:", error)
        else:
            print("no error")
        """
    )
    assert done.returncode == 0, f"exit {done.returncode} (a negative code is a signal)\n{done.stderr}"
    assert "ValueError:" in done.stdout and match in done.stdout, done.stdout + done.stderr


# ----------------------------------------------------------------------------- D1: EVO sizes


@pytest.mark.parametrize(
    "kw, what",
    [
        ({"n_parents": 65537, "n_children": 65537}, "children per generation"),
        ({"n_parents": 65537, "crossover": True, "mutation": "none"}, "n_parents * (n_parents - 1)"),
        ({"n_parents": 2, "n_children": 2**30}, "children per generation"),
        ({"n_parents": 1000, "n_children": 1000, "n_generations": 2}, "children per E-step"),
        ({"n_parents": 5, "n_children": 4, "n_generations": 2**31 - 1}, "children per E-step"),
    ],
)
def test_evo_sizes_above_the_limit_are_refused(kw, what):
    with pytest.raises(ValueError, match="must be <= 1048576") as python_error:
        EvoConfig(**kw)
    assert what in str(python_error.value)
    with pytest.raises(ValueError, match="must be <= 1048576"):
        _core.EvoConfig(**kw)


def test_evo_sizes_at_the_limit_are_accepted():
    config = EvoConfig(n_parents=1024, n_children=1024, n_generations=1)
    assert config.children_per_epoch == _core.MAX_EVO_CHILDREN == 2**20
    assert config.core.children_per_generation == 2**20


def test_d1_reproduction_is_a_value_error_not_a_segfault():
    assert_value_error(
        """
        zeroshot.denoise(np.random.rand(16, 16), n_latents=16, n_states=4, epochs=1, patch_size=4, threads=1,
                         evo=zeroshot.EvoConfig(n_parents=65537, n_children=65537))
        """,
        "children per generation",
    )


def test_make_children_sizes_refused_before_allocation():
    with pytest.raises(ValueError, match="children per generation"):
        _core.testing.make_children(
            np.zeros((2, 1), np.uint64), 8, 1.0, 0, _core.EvoConfig(n_parents=2, n_children=2**30)
        )


def test_core_evo_config_is_validated_once_and_reads_back():
    c = EvoConfig(n_parents=3, n_children=2, n_generations=4, selection="uniform", mutation="randflip")
    assert c.core is c.core  # made once per configuration
    core = c.core
    assert (core.n_parents, core.n_children, core.n_generations) == (3, 2, 4)
    assert (core.selection, core.mutation, core.crossover, core.bitflip_prob) == ("uniform", "randflip", False, None)
    with pytest.raises(ValueError, match="selection"):
        _core.EvoConfig(selection="roulette")
    with pytest.raises(ValueError, match="n_parents"):
        _core.EvoConfig(n_parents=2**40)


# ----------------------------------------------------------------------------- D4: zero and negative sizes


@pytest.mark.parametrize(
    "code, match",
    [
        ("_core.unpack_states(np.zeros((2, 0), np.uint64), 0)", "H must be an integer in [1, 65536]"),
        ("_core.unpack_states(np.zeros((3, 0), np.uint64), -5)", "H must be an integer"),
        ("_core.pack_states(np.zeros((3, 0), np.uint8))", "H (latents) must lie in [1, 65536], got 0"),
        ("_core.BscParams(W=np.zeros((5, 0)), pi=np.zeros(0), sigma2=1.0)", "H (latents) must lie in [1, 65536]"),
        ("_core.BscParams(W=np.zeros((0, 5)), pi=np.full(5, 0.5), sigma2=1.0)", "D must lie in [1, 2**31)"),
        (
            "_core.SsscParams(W=np.zeros((5, 0)), pi=np.zeros(0), mu=np.zeros(0), psi=np.zeros(0), sigma2=1.0)",
            "H (latents) must lie",
        ),
        ("_core.DenseProducts(np.zeros((3, 0)), np.zeros(3), np.zeros((0, 0)))", "H (latents) must lie"),
        ("_core.init_states(2, 0, 1, 0.5, 0)", "H must be an integer in [1, 65536]"),
        ("_core.init_states(-1, 4, 1, 0.5, 0)", "N must be an integer"),
        ("_core.init_states(2, 4, 0, 0.5, 0)", "S must be an integer"),
        ("_core.init_states(2**40, 64, 2**20, 0.5, 0)", "exceed the addressable memory"),
        ("_core.words_for(-64)", "H must be an integer"),
    ],
)
def test_d4_zero_and_negative_sizes_are_value_errors(code, match):
    assert_value_error(code, match)


def test_d4_states_without_states_or_latents():
    W = np.ones((4, 3))
    params = _core.BscParams(W=W, pi=np.full(3, 0.5), sigma2=1.0)
    products = _core.DenseProducts(np.zeros((2, 3)), np.zeros(2), W.T @ W)
    with pytest.raises(ValueError, match="at least one state"):
        _core.bsc_log_pseudo_joint(params, products, np.zeros((2, 0, 1), np.uint64))
    with pytest.raises(ValueError, match="K has shape"):
        _core.bsc_accumulate(params, products, np.zeros((2, 4)), np.zeros((2, 2, 0), np.uint64), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="stats"):
        _core.bsc_m_step(params, np.zeros(0))


# ----------------------------------------------------------------------------- D5: threads


@pytest.mark.parametrize("n", [1025, 10_000, 100_000, 2**31 - 1, 2**70])
def test_d5_thread_counts_above_the_cap_are_value_errors(n):
    before = _core.get_num_threads()
    with pytest.raises(ValueError, match=r"\[1, 1024\]"):
        _core.set_num_threads(n)
    assert _core.get_num_threads() == before
    with pytest.raises(ValueError, match="at most 1024"):
        zeroshot.denoise(np.random.default_rng(0).random((16, 16)), threads=n)


def test_d5_threads_at_the_cap_are_accepted():
    assert _core.MAX_THREADS == 1024
    before = _core.get_num_threads()
    try:
        _core.set_num_threads(_core.MAX_THREADS)
        assert _core.get_num_threads() == _core.MAX_THREADS or not _core.has_openmp()
    finally:
        _core.set_num_threads(before)


# ----------------------------------------------------------------------------- D10: seeds


@pytest.mark.parametrize("seed", [2**63, 2**64 - 1, 2**64, -1])
def test_d10_seeds_outside_the_range_are_refused_at_once(seed):
    with pytest.raises(ValueError, match="seed"):
        DenoiseConfig(seed=seed)
    with pytest.raises(ValueError, match="seed"):
        zeroshot.denoise(np.random.default_rng(0).random((16, 16)), seed=seed)
    with pytest.raises(ValueError, match="seed"):
        EvoEStep(EvoConfig(), seed=seed)


def test_d10_the_largest_seed_runs_through_inference():
    """seed + 1 (inference's state seed) still fits the core's uint64."""
    assert MAX_SEED == 2**63 - 1
    image = np.random.default_rng(1).random((12, 12))
    result = zeroshot.denoise(
        image, seed=MAX_SEED, n_latents=4, n_states=3, epochs=1, patch_size=3, max_train_patches=20, threads=1
    )
    assert np.all(np.isfinite(result.denoised))


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "1", True])
def test_d10_core_seeds_are_value_errors_not_type_errors(seed):
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
        _core.init_states(2, 4, 2, 0.5, seed)
    assert _core.init_states(2, 4, 2, 0.5, 2**64 - 1).shape == (2, 2, 1)
