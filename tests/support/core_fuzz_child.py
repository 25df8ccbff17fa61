"""The child of tests/core/test_core_fuzz.py: under a memory limit, hypothesis calls every binding of
zeroshot._core (and _core.testing) with arbitrary arguments; each call must return or raise ValueError or
TypeError (MemoryError for sizes only an allocation can refuse; the M-step's RuntimeErrors for degenerate
statistics). Before each call its description goes to stderr, so a crash names the call that made it.

python tests/support/core_fuzz_child.py SEED EXAMPLES MEMORY_BYTES
"""

from __future__ import annotations

import contextlib
import resource
import sys
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from zeroshot import _core

INTS = st.one_of(
    st.integers(-3, 8),
    st.sampled_from([64, 65, 70, 2**16, 2**16 + 1, 2**20 + 1, 2**31 - 1, 2**31, 2**40, 2**63 - 1, 2**63, 2**64 - 1]),
    st.sampled_from([2**64, 2**100, -(2**63), -(2**64)]),
)
WILD_SCALARS = st.one_of(
    INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([None, "1", b"x", 1.5, True, [1, 2], np.int64(3), np.uint64(2**64 - 1), np.float32(2.5)]),
)
DTYPES = [np.float64, np.float32, np.int64, np.uint64, np.uint8, np.bool_, np.complex128]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, 1e308, 5e-324, -1.0]


@st.composite
def wild_arrays(draw: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Any dtype, a given or an arbitrary shape (sizes 0..6, 64, 65), NaN/Inf, non-contiguous layouts."""
    if shape is None:
        ndim = draw(st.integers(0, 4))
        shape = tuple(draw(st.sampled_from([0, 1, 2, 3, 5, 6, 64, 65])) for _ in range(ndim))
    if int(np.prod(shape)) > 5000:
        shape = tuple(min(s, 3) for s in shape)
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.normal(size=shape) * draw(st.sampled_from([1.0, 1e-3, 1e6]))
    if values.size and draw(st.booleans()):
        values.flat[draw(st.integers(0, values.size - 1))] = draw(st.sampled_from(SPECIAL))
    with np.errstate(all="ignore"):
        a = np.asarray(np.abs(values) if dtype in (np.uint64, np.uint8) else values).astype(dtype)
    layout = draw(st.sampled_from(["c", "fortran", "strided", "reversed", "readonly"]))
    if layout == "fortran":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        a = np.repeat(a, 2, axis=0)[::2]
    elif layout == "reversed" and a.ndim:
        a = a[::-1]
    elif layout == "readonly":
        a.flags.writeable = False
    return a


def maybe_wild(draw: Any, value: Any) -> Any:
    """The value itself most of the time, otherwise an arbitrary array or scalar in its place."""
    pick = draw(st.integers(0, 9))
    if pick == 0:
        return draw(wild_arrays())
    if pick == 1:
        return draw(WILD_SCALARS)
    if pick == 2 and isinstance(value, np.ndarray):
        return draw(wild_arrays(shape=value.shape))
    return value


@st.composite
def problems(draw: Any) -> dict[str, Any]:
    """Mostly consistent shapes (so that calls reach the kernels), values anywhere."""
    N = draw(st.sampled_from([0, 1, 2, 5]))
    D = draw(st.sampled_from([1, 2, 4]))
    H = draw(st.sampled_from([1, 2, 3, 8, 64, 65]))
    S = draw(st.integers(1, 4 if H > 1 else 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = rng.normal(size=(D, H))
    Y = rng.normal(size=(N, D))
    n_words = (H + 63) // 64
    K = _core.init_states(N, H, S, 0.3, 0) if draw(st.booleans()) else rng.integers(0, 4, (N, S, n_words), np.uint64)
    return {
        "N": N,
        "D": D,
        "H": H,
        "S": S,
        "W": W,
        "Y": Y,
        "pi": rng.uniform(0.01, 0.99, H),
        "mu": rng.normal(size=H),
        "psi": rng.uniform(0.1, 2, H),
        "sigma2": float(rng.uniform(0.1, 2)),
        "WtY": Y @ W,
        "y2": np.einsum("nd,nd->n", Y, Y),
        "WtW": W.T @ W,
        "K": K,
        "lpj": rng.normal(size=(N, S)) * 10,
    }


def describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array({value.dtype}, {value.shape}, C={value.flags.c_contiguous}, w={value.flags.writeable})"
    return repr(value)[:80]


def evo_configs(draw: Any) -> Any:
    if draw(st.integers(0, 3)) == 0:
        return draw(WILD_SCALARS)
    kw = {
        "n_parents": draw(st.one_of(st.integers(-1, 6), INTS)),
        "n_children": draw(st.one_of(st.integers(-1, 6), INTS)),
        "n_generations": draw(st.one_of(st.integers(-1, 4), INTS)),
        "selection": draw(st.sampled_from(["fitness", "uniform", "best"])),
        "mutation": draw(st.sampled_from(["sparseflip", "randflip", "none", "x"])),
        "crossover": draw(st.booleans()),
        "bitflip_prob": draw(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))),
        "single_latents_from": draw(st.one_of(st.none(), st.integers(-2, 4), INTS)),
    }
    return call("EvoConfig", _core.EvoConfig, **kw)


class Skip(Exception):
    """A constructor refused its arguments: the call that needed the object is not made."""


def call(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    sys.stderr.write(f"CALL {name}({', '.join(parts)})\n")
    sys.stderr.flush()
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError, MemoryError) as error:
        raise Skip from error
    except RuntimeError as error:
        if "m_step" in name and str(error).startswith("M-step"):
            raise Skip from error
        raise


def params_for(draw: Any, p: dict[str, Any], model: str) -> Any:
    if draw(st.integers(0, 7)) == 0:
        return draw(WILD_SCALARS)
    names = ["W", "pi", "sigma2"] if model == "bsc" else ["W", "pi", "mu", "psi", "sigma2"]
    kw = {n: maybe_wild(draw, p[n]) for n in names}
    if draw(st.integers(0, 9)) == 0:
        kw["extra"] = 1.0
    cls = _core.BscParams if model == "bsc" else _core.SsscParams
    return call(f"{model}.Params", cls, **kw)


def products_for(draw: Any, p: dict[str, Any]) -> Any:
    if draw(st.integers(0, 7)) == 0:
        return draw(WILD_SCALARS)
    return call("DenseProducts", _core.DenseProducts, *(maybe_wild(draw, p[n]) for n in ("WtY", "y2", "WtW")))


def one_call(draw: Any) -> None:
    p = draw(problems())
    w = lambda name: maybe_wild(draw, p[name])  # noqa: E731
    target = draw(
        st.sampled_from(
            [
                "threads",
                "words_for",
                "init_states",
                "pack_states",
                "unpack_states",
                "evo_config",
                "lpj",
                "evo_step",
                "accumulate",
                "moments",
                "m_step",
                "params_fields",
                "select_parents",
                "make_children",
                "slab_posterior",
                "pmm",
                "wiener_filter",
            ]
        )
    )
    model = draw(st.sampled_from(["bsc", "sssc"]))
    if target == "threads":
        n = draw(st.one_of(st.integers(-2, 4), st.sampled_from([1025, 2**31, 2**64, 1.5, "2", None])))
        call("set_num_threads", _core.set_num_threads, n)
        _core.set_num_threads(2)
        call("get_num_threads", _core.get_num_threads)
        call("has_openmp", _core.has_openmp)
    elif target == "words_for":
        call("words_for", _core.words_for, draw(WILD_SCALARS))
    elif target == "init_states":
        args = [draw(st.one_of(st.just(v), INTS)) for v in (p["N"], p["H"], p["S"])]
        p_on = draw(st.one_of(st.floats(0, 1), st.floats(allow_nan=True, allow_infinity=True)))
        call("init_states", _core.init_states, *args, p_on, draw(WILD_SCALARS), draw(st.one_of(st.just(0), INTS)))
    elif target == "pack_states":
        call("pack_states", _core.pack_states, draw(wild_arrays()))
    elif target == "unpack_states":
        call("unpack_states", _core.unpack_states, w("K"), draw(st.one_of(st.just(p["H"]), INTS)))
    elif target == "evo_config":
        evo_configs(draw)
    elif target == "params_fields":
        params = params_for(draw, p, model)
        if not isinstance(params, (_core.BscParams, _core.SsscParams)):
            return
        for field in ("W", "pi", "sigma2", "D", "H"):
            call(f"{model}.{field}", getattr, params, field)
        call(f"{model}.stats_layout", lambda: params.stats_layout())
    elif target == "select_parents":
        call(
            "select_parents",
            _core.testing.select_parents,
            w("lpj"),
            draw(st.one_of(st.integers(-1, 7), INTS)),
            draw(st.sampled_from(["fitness", "uniform", "x"])),
            draw(WILD_SCALARS),
            draw(st.one_of(st.just(0), INTS)),
            draw(st.one_of(st.just(0), INTS)),
        )
    elif target == "pmm":
        pmm_calls(draw, p)
    elif target == "wiener_filter":
        wiener_calls(draw)
    elif target == "make_children":
        evo = evo_configs(draw)
        n_parents = getattr(evo, "n_parents", 2)
        parents = np.zeros((max(0, min(n_parents, 8)), (p["H"] + 63) // 64), np.uint64)
        call(
            "make_children",
            _core.testing.make_children,
            maybe_wild(draw, parents),
            draw(st.one_of(st.just(p["H"]), INTS)),
            draw(st.floats(allow_nan=True, allow_infinity=True)),
            draw(WILD_SCALARS),
            evo,
        )
    else:
        params = params_for(draw, p, "sssc" if target == "slab_posterior" else model)
        products = products_for(draw, p)
        prefix = "sssc" if target == "slab_posterior" else model
        if target == "lpj":
            call(f"{prefix}_log_pseudo_joint", getattr(_core, f"{prefix}_log_pseudo_joint"), params, products, w("K"))
        elif target == "slab_posterior":
            call("sssc_slab_posterior", _core.testing.sssc_slab_posterior, params, products, w("K"))
        elif target == "evo_step":
            K, lpj = w("K"), w("lpj")
            if isinstance(K, np.ndarray) and K.flags.writeable:
                K = K.copy() if draw(st.booleans()) else K
            evo = evo_configs(draw)
            call("evo_step", _core.evo_step, params, products, K, lpj, evo, *(draw(WILD_SCALARS) for _ in range(3)))
        elif target == "accumulate":
            fn = getattr(_core, f"{prefix}_accumulate")
            call(f"{prefix}_accumulate", fn, params, products, w("Y"), w("K"), w("lpj"))
        elif target == "moments":
            fn = getattr(_core, f"{prefix}_posterior_moments")
            order = draw(st.one_of(st.integers(0, 4), WILD_SCALARS))
            call(f"{prefix}_posterior_moments", fn, params, products, w("K"), w("lpj"), order)
        elif target == "m_step":
            size = sum(int(np.prod(shape)) for _, shape in params.stats_layout()) if hasattr(params, "D") else 5
            stats = np.random.default_rng(draw(st.integers(0, 99))).uniform(0, 10, size)
            stats[-2] = draw(st.sampled_from([1.0, 0.0, -1.0, 100.0]))  # n_patches
            fn = getattr(_core, f"{prefix}_m_step")
            call(f"{prefix}_m_step", fn, params, maybe_wild(draw, stats), draw(WILD_SCALARS))


def pmm_calls(draw: Any, p: dict[str, Any]) -> None:
    """The PMM bindings: C = H components, counts |Y|, int32 component indices."""
    N, D, C, S = p["N"], p["D"], p["H"], min(p["S"], p["H"])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    Lambda = rng.uniform(0.1, 5, (C, D))
    Y = np.round(np.abs(p["Y"]) * 3)
    K = np.argsort(rng.random((N, C)), axis=1)[:, :S].astype(np.int32)
    pick = draw(st.sampled_from(["select", "accumulate", "moments"]))
    if pick == "select":
        K_out = maybe_wild(draw, np.full((N, S), -1, np.int32))
        lpj_out = maybe_wild(draw, np.zeros((N, S)))
        G, offset = maybe_wild(draw, Y @ np.log(Lambda).T), maybe_wild(draw, -Lambda.sum(axis=1))
        call("pmm_select", _core.pmm_select, G, offset, maybe_wild(draw, Y), K_out, lpj_out)
    elif pick == "accumulate":
        C_arg = draw(st.one_of(st.just(C), INTS, WILD_SCALARS))
        call("pmm_accumulate", _core.pmm_accumulate, maybe_wild(draw, Y), maybe_wild(draw, K), w_lpj(draw, p), C_arg)
    else:
        order = draw(st.one_of(st.integers(0, 4), WILD_SCALARS))
        args = (maybe_wild(draw, Lambda), maybe_wild(draw, K), w_lpj(draw, p), order)
        call("pmm_posterior_moments", _core.pmm_posterior_moments, *args)


def wiener_calls(draw: Any) -> None:
    """The Wiener pass's filter: P x P patches at given starts of an (R, C) image."""
    P = draw(st.sampled_from([1, 2, 4, 16]))
    R, C = draw(st.sampled_from([P, P + 3, 20])), draw(st.sampled_from([P, 21]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    image, pilot = rng.normal(size=(R, C)), rng.normal(size=(R, C))
    dct = np.linalg.qr(rng.normal(size=(P, P)))[0]
    noise_var, window = rng.uniform(0.1, 2, P * P), rng.uniform(0, 1, (P, P))
    rows, cols = np.arange(0, R - P + 1, 2), np.arange(0, C - P + 1, 3)
    args = (image, pilot, dct, noise_var, window, rows, cols)
    call("wiener_filter", _core.wiener_filter, *(maybe_wild(draw, a) for a in args))


def w_lpj(draw: Any, p: dict[str, Any]) -> Any:
    return maybe_wild(draw, p["lpj"][:, : min(p["S"], p["H"])])


def main() -> None:
    seed, examples, memory = (int(a) for a in sys.argv[1:4])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    _core.set_num_threads(2)

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=False
    )
    @given(st.data())
    def fuzz(data: Any) -> None:
        with contextlib.suppress(Skip):
            one_call(data.draw)

    fuzz()
    print("FUZZ-OK", flush=True)


if __name__ == "__main__":
    main()
