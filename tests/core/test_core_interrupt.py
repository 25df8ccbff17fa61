"""Ctrl-C during a long compiled call (reliability review defect D20): the kernels poll Python's signal
handlers from their first thread while the GIL is released, stop early, and the binding raises the
handler's KeyboardInterrupt. Without a signal nothing changes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from zeroshot import _core

LONG_E_STEP = textwrap.dedent(
    """
    import signal, sys, time
    import numpy as np
    from zeroshot import _core

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    _core.set_num_threads(2)
    N, D, H, S = 4000, 16, 32, 8
    rng = np.random.default_rng(0)
    Y, W = rng.normal(size=(N, D)), rng.normal(size=(D, H))
    params = _core.BscParams(W=W, pi=np.full(H, 0.1), sigma2=1.0)
    products = _core.DenseProducts(Y @ W, np.einsum("nd,nd->n", Y, Y), W.T @ W)
    K, lpj = _core.init_states(N, H, S, 1 / H, 0), np.zeros((N, S))
    evo = _core.EvoConfig(n_parents=100, n_children=100, n_generations=100)  # 10^6 children per patch
    print("running", flush=True)
    start = time.monotonic()
    try:
        _core.evo_step(params, products, K, lpj, evo, 0, 0, 0)  # many minutes when not interrupted
    except KeyboardInterrupt:
        print(f"KeyboardInterrupt after {time.monotonic() - start:.2f} s", flush=True)
        sys.exit(0)
    print("finished without an interruption", flush=True)
    sys.exit(1)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_sigint_stops_a_long_e_step_with_keyboard_interrupt():
    child = subprocess.Popen(
        [sys.executable, "-c", LONG_E_STEP], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "running"
        time.sleep(1.0)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=10)
        reacted = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, f"exit {child.returncode}: {out}\n{err}"
    assert "KeyboardInterrupt" in out
    assert reacted < 5.0


def _problem(seed: int = 3):
    rng = np.random.default_rng(seed)
    N, D, H, S = 600, 9, 20, 6
    Y, W = rng.normal(size=(N, D)), rng.normal(size=(D, H))
    params = _core.BscParams(W=W, pi=np.full(H, 0.1), sigma2=0.7)
    products = _core.DenseProducts(Y @ W, np.einsum("nd,nd->n", Y, Y), W.T @ W)
    return params, products, _core.init_states(N, H, S, 1 / H, seed), np.zeros((N, S))


def test_results_are_the_same_with_and_without_the_poll():
    """From the main thread the kernels poll for signals; from another thread they do not: same results."""
    params, products, K, lpj = _problem()
    evo = _core.EvoConfig(n_generations=4)
    K_main, lpj_main = K.copy(), lpj.copy()
    replaced_main = _core.evo_step(params, products, K_main, lpj_main, evo, 5, 1, 0)
    K_thread, lpj_thread, replaced = K.copy(), lpj.copy(), []
    worker = threading.Thread(
        target=lambda: replaced.append(_core.evo_step(params, products, K_thread, lpj_thread, evo, 5, 1, 0))
    )
    worker.start()
    worker.join()
    assert replaced == [replaced_main]
    np.testing.assert_array_equal(K_main, K_thread)
    np.testing.assert_array_equal(lpj_main, lpj_thread)
