"""The evolutionary E-step (Guiraud, Drefs & Lücke, GECCO 2018): initial state
sets, parent selection frequencies, mutation and crossover operators, the EVO step on BSC against the
numpy reference, and independence of the results from the thread count and the patch partition.

Statistical tests run at fixed seeds (the counter-based generator makes them deterministic); a p-value
threshold of 1e-4 keeps them far from flaky while a wrong distribution fails by many orders of magnitude.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core_calls
import reference as ref
from zeroshot import _core
from zeroshot.config import EvoConfig
from zeroshot.models.bsc import BSC, BSCParams
from zeroshot.models.sssc import SSSC
from zeroshot.variational.em import EMTrainer
from zeroshot.variational.evo import EvoEStep
from zeroshot.variational.states import TruncatedStates

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
P_MIN = 1e-4


def unpack(K: np.ndarray, H: int) -> np.ndarray:
    return _core.unpack_states(K, H)


def assert_valid_packing(K: np.ndarray, H: int) -> None:
    """No bit at positions >= H is set (round trip through unpack/pack is the identity)."""
    np.testing.assert_array_equal(_core.pack_states(unpack(K, H)), K)


def n_distinct(rows: np.ndarray) -> int:
    return len(np.unique(rows, axis=0))


# ----------------------------------------------------------------------------- initial states


@SETTINGS
@given(
    st.integers(1, 6),
    st.one_of(st.integers(1, 8), st.integers(60, 70), st.integers(1, 70)),
    st.integers(1, 40),
    st.floats(0.0, 1.0),
    st.integers(0, 2**64 - 1),
)
def test_init_states_distinct_with_zero_state(N, H, S, p_on, seed):
    S = min(S, 2**H)
    K = _core.init_states(N, H, S, p_on, seed)
    assert K.shape == (N, S, _core.words_for(H)) and K.dtype == np.uint64
    assert_valid_packing(K, H)
    bits = unpack(K, H)
    assert np.all(bits[:, 0] == 0), "row 0 must be the all-zero state"
    for n in range(N):
        assert n_distinct(bits[n]) == S


@pytest.mark.parametrize("H", [1, 2, 5, 8])
def test_init_states_full_enumeration(H):
    K = _core.init_states(3, H, 2**H, 0.3, 7)
    expected = {tuple(r) for r in ref.all_states(H)}
    for n in range(3):
        assert {tuple(r) for r in unpack(K[n], H)} == expected


def test_init_states_keyed_by_global_index():
    """Row n depends on (seed, first_index + n) only: chunks and MPI ranks reproduce one big array."""
    full = _core.init_states(20, 70, 9, 0.1, 5)
    part = _core.init_states(7, 70, 9, 0.1, 5, first_index=13)
    np.testing.assert_array_equal(full[13:], part)
    other = _core.init_states(20, 70, 9, 0.1, 6)
    assert not np.array_equal(full, other)


def test_init_states_bernoulli_rate():
    """Beyond the all-zero state, states are Bernoulli(p_on) draws: the mean bit rate is near p_on
    (states are distinct, a small bias towards denser states is expected when collisions are common)."""
    H, S, p_on = 70, 20, 0.1
    bits = unpack(_core.init_states(300, H, S, p_on, 1), H)[:, 1:]
    assert abs(bits.mean() - p_on) < 0.01


@pytest.mark.parametrize("H, S", [(3, 9), (1, 3), (10, 1025)])
def test_init_states_too_many_states_raises(H, S):
    with pytest.raises(ValueError):
        _core.init_states(2, H, S, 0.5, 0)


@pytest.mark.parametrize("args", [(2, 5, 0, 0.5), (2, 0, 1, 0.5), (2, 5, 3, -0.1), (2, 5, 3, 1.5), (-1, 5, 3, 0.5)])
def test_init_states_bad_arguments_raise(args):
    with pytest.raises(ValueError):
        _core.init_states(*args, 0)


# ----------------------------------------------------------------------------- parent selection


def test_chi2_sf_approximation():
    """reference.chi2_sf (exact closed forms) and the Wilson-Hilferty approximation against tabulated
    quantiles."""
    # chi2(df) upper 1% and 0.01% points
    table = [
        (4, 13.277, 1e-2),
        (10, 23.209, 1e-2),
        (50, 76.154, 1e-2),
        (4, 23.5127, 1e-4),
        (69, 121.4404, 1e-4),
    ]
    for df, x, p in table:
        assert 0.7 * p < ref.chi2_sf_wilson_hilferty(x, df) < 1.4 * p
        assert 0.95 * p < ref.chi2_sf(x, df) < 1.05 * p
    assert ref.chi2_sf_wilson_hilferty(0.0, 5) == 1.0


def test_fitness_selection_frequencies_per_row():
    """p_i = (lpj_i - min_j lpj_j + 1) / sum, normalised within each row. Rows of very different scales
    are interleaved in one call: a normalisation over the batch would make the small-scale rows uniform."""
    patterns = [
        np.array([0.0, 1.0, 2.0, 3.0, 4.0]),  # p ~ 1:2:3:4:5
        np.array([-1000.0, -998.0, -997.0, -996.0, -990.0]),  # p ~ 1:3:4:5:11
        np.array([5e3, 5e3, 5e3 + 0.5, 5e3 + 7.0, 5e3 + 2.0]),  # p ~ 1:1:1.5:8:3
        np.array([-3.0, -3.0, -3.0, -3.0, -3.0]),  # uniform
        np.array([1e6, 1e6 + 40.0, 1e6 + 10.0, 1e6 + 20.0, 1e6 + 30.0]),  # 1:41:11:21:31
    ]
    reps, n_parents = 1500, 8
    lpj = np.tile(np.stack(patterns), (reps, 1))  # row n has pattern n % 5
    sel = core_calls.select_parents(lpj, n_parents, "fitness", seed=11)
    assert sel.shape == (lpj.shape[0], n_parents) and sel.dtype == np.int64
    assert sel.min() >= 0 and sel.max() < 5
    for k, pat in enumerate(patterns):
        fitness = pat - pat.min() + 1.0
        prob = fitness / fitness.sum()
        counts = np.bincount(sel[k :: len(patterns)].ravel(), minlength=5)
        p_value = ref.chi2_pvalue(counts, prob * counts.sum())
        assert p_value > P_MIN, (k, counts, prob * counts.sum())


def test_fitness_selection_single_candidate_and_extremes():
    """One state: always index 0. One dominant state (huge lpj gap): nearly always chosen."""
    sel = core_calls.select_parents(np.zeros((50, 1)), 3, "fitness", seed=1)
    np.testing.assert_array_equal(sel, 0)
    lpj = np.tile([0.0, 1e9, 0.0], (200, 1))
    sel = core_calls.select_parents(lpj, 4, "fitness", seed=2)
    assert np.mean(sel == 1) > 0.99


def test_fitness_selection_depends_on_row_index_stream():
    """Identical rows get different draws (each row has its own stream), reproducibly."""
    lpj = np.tile(np.arange(10.0), (40, 1))
    a = core_calls.select_parents(lpj, 6, "fitness", seed=3)
    b = core_calls.select_parents(lpj, 6, "fitness", seed=3)
    np.testing.assert_array_equal(a, b)
    assert n_distinct(a) > 30
    c = core_calls.select_parents(lpj[5:], 6, "fitness", seed=3, first_index=5)
    np.testing.assert_array_equal(a[5:], c)


@pytest.mark.parametrize("S, n_parents", [(5, 2), (7, 3), (6, 1)])
def test_uniform_selection_without_replacement(S, n_parents):
    """Each index with probability n_parents / S, no index twice in a row, every subset equally likely."""
    N = 6000
    rng = np.random.default_rng(S)
    lpj = rng.normal(size=(N, S)) * rng.uniform(1, 1e4, size=(N, 1))  # lpj must not matter
    sel = core_calls.select_parents(lpj, n_parents, "uniform", seed=4)
    assert sel.shape == (N, n_parents)
    assert sel.min() >= 0 and sel.max() < S
    assert all(len(set(row)) == n_parents for row in sel.tolist())
    counts = np.bincount(sel.ravel(), minlength=S)
    # Without replacement the index counts vary less than multinomial counts: the test is conservative.
    assert ref.chi2_pvalue(counts, np.full(S, N * n_parents / S)) > P_MIN
    subsets = np.bincount(ref.all_subsets_index(sel, S), minlength=math.comb(S, n_parents))
    assert ref.chi2_pvalue(subsets, np.full(len(subsets), N / len(subsets))) > P_MIN


def test_uniform_selection_more_parents_than_states():
    """n_parents > S: all S indices once, the rest -1."""
    sel = core_calls.select_parents(np.zeros((30, 4)), 6, "uniform", seed=5)
    for row in sel:
        assert sorted(row[:4]) == [0, 1, 2, 3]
        assert list(row[4:]) == [-1, -1]


def test_select_parents_bad_arguments():
    with pytest.raises(ValueError):
        core_calls.select_parents(np.zeros((3, 4)), 2, "roulette", seed=0)
    with pytest.raises(ValueError):
        core_calls.select_parents(np.zeros((3, 4)), 0, "uniform", seed=0)
    with pytest.raises(ValueError):
        core_calls.select_parents(np.zeros(4), 2, "uniform", seed=0)


# ----------------------------------------------------------------------------- mutation and crossover


def children_of(parents_bits: np.ndarray, seed: int, **config) -> np.ndarray:
    P, H = parents_bits.shape
    kw = {
        "n_parents": P,
        "n_children": 1,
        "n_generations": 1,
        "selection": "uniform",
        "mutation": "randflip",
        "crossover": False,
        "bitflip_prob": -1.0,
        "expected_active": 1.0,
    }
    kw.update(config)
    expected_active = kw.pop("expected_active")
    K = core_calls.make_children(_core.pack_states(parents_bits), H, expected_active, seed, **kw)
    assert_valid_packing(K, H)
    return unpack(K, H)


@SETTINGS
@given(st.integers(1, 70), st.integers(1, 5), st.integers(1, 70), st.integers(0, 2**63))
def test_randflip_one_distinct_bit_per_child(H, P, n_children, seed):
    n_children = min(n_children, H)
    parents = (np.random.default_rng(seed).random((P, H)) < 0.3).astype(np.uint8)
    kids = children_of(parents, seed, n_children=n_children)
    assert kids.shape == (P * n_children, H)
    for i in range(P):
        block = kids[i * n_children : (i + 1) * n_children]
        diff = block != parents[i]
        assert np.all(diff.sum(axis=1) == 1), "each child differs from its parent in exactly one bit"
        flipped = np.argmax(diff, axis=1)
        assert len(set(flipped.tolist())) == n_children, "distinct bits for one parent's children"


def test_randflip_bit_positions_uniform():
    """The flipped position is uniform over all H latents, across the word boundary (H = 70)."""
    H, P, n_children = 70, 3, 5
    parents = np.zeros((P, H), dtype=np.uint8)
    counts = np.zeros(H)
    for seed in range(700):
        kids = children_of(parents, seed, n_children=n_children)
        counts += kids.sum(axis=0)
    assert counts.sum() == 700 * P * n_children
    assert ref.chi2_pvalue(counts, np.full(H, counts.sum() / H)) > P_MIN


def test_randflip_n_children_equal_H_flips_every_bit():
    H = 67
    parent = (np.random.default_rng(0).random((1, H)) < 0.5).astype(np.uint8)
    kids = children_of(parent, 3, n_children=H)
    flipped = np.argmax(kids != parent, axis=1)
    assert sorted(flipped.tolist()) == list(range(H))


@pytest.mark.parametrize(
    "H, k, pi_sum, bitflip_prob",
    [
        (70, 10, 7.0, 0.05),  # 1-bits cleared with p1 = 0.325, 0-bits set with p0 = 0.5 / 120
        (70, 2, 2.5, -1.0),  # default 1 / H: p0 = 1.5 / 136, p1 = 0.125
        (12, 4, 3.0, 0.25),
        (130, 20, 20.0, 0.02),  # three words
    ],
)
def test_sparseflip_expected_flips_and_activity(H, k, pi_sum, bitflip_prob):
    """E[#flips] = H * bitflip_prob and E[#active] = pi_sum (no clamping in these cases), and each
    0-bit / 1-bit position flips at the same rate (chi-square over positions)."""
    rng = np.random.default_rng(H + k)
    P, n_children, n_seeds = 4, 5, 500
    parents = np.zeros((P, H), dtype=np.uint8)
    for i in range(P):
        parents[i, rng.choice(H, size=k, replace=False)] = 1
    p_rate = 1.0 / H if bitflip_prob < 0 else bitflip_prob
    flips_target = H * p_rate
    p0 = (flips_target + pi_sum - k) / (2 * (H - k))
    p1 = (flips_target - pi_sum + k) / (2 * k)
    assert 0 <= p0 <= 1 and 0 <= p1 <= 1
    n_flips, n_active = [], []
    flip_counts = np.zeros((P, H))
    for seed in range(n_seeds):
        kids = children_of(
            parents,
            seed,
            n_children=n_children,
            mutation="sparseflip",
            bitflip_prob=bitflip_prob,
            expected_active=pi_sum,
        )
        parent_of = np.repeat(parents, n_children, axis=0)
        diff = kids != parent_of
        n_flips.append(diff.sum(axis=1))
        n_active.append(kids.sum(axis=1))
        flip_counts += diff.reshape(P, n_children, H).sum(axis=1)
    n_flips = np.concatenate(n_flips)
    n_active = np.concatenate(n_active)
    M = n_flips.size
    var_flips = (H - k) * p0 * (1 - p0) + k * p1 * (1 - p1)
    var_active = var_flips  # active = k + (#set) - (#cleared): the same independent Bernoullis
    assert abs(n_flips.mean() - flips_target) < 5 * math.sqrt(var_flips / M) + 1e-12
    assert abs(n_active.mean() - pi_sum) < 5 * math.sqrt(var_active / M) + 1e-12
    # per position: 0-bits flip with p0, 1-bits with p1
    trials = n_seeds * n_children
    expected = np.where(parents == 1, p1, p0) * trials
    for i in range(P):
        for mask in (parents[i] == 0, parents[i] == 1):
            obs, exp = flip_counts[i][mask], expected[i][mask]
            if exp.sum() > 0 and mask.sum() > 1:
                # flips per position: test uniformity of the positions and the overall rate
                assert ref.chi2_pvalue(obs, exp * obs.sum() / exp.sum()) > P_MIN
                total_sd = math.sqrt(float(np.sum(exp * (1 - exp / trials))))
                assert abs(obs.sum() - exp.sum()) < 5 * total_sd + 1e-9


def test_sparseflip_clamps_probabilities():
    """Rates that would exceed [0, 1] are clamped: a full parent with bitflip_prob = 1 loses every bit;
    an empty parent with a huge target activity gains every bit."""
    H = 70
    full = np.ones((2, H), dtype=np.uint8)
    kids = children_of(full, 1, n_children=3, mutation="sparseflip", bitflip_prob=1.0, expected_active=0.0)
    np.testing.assert_array_equal(kids, 0)
    empty = np.zeros((2, H), dtype=np.uint8)
    kids = children_of(empty, 1, n_children=3, mutation="sparseflip", bitflip_prob=1.0, expected_active=float(H))
    np.testing.assert_array_equal(kids, 1)


@SETTINGS
@given(st.integers(2, 70), st.integers(2, 5), st.integers(0, 2**63))
def test_crossover_prefix_and_suffix(H, P, seed):
    """One child per ordered pair (i, j), i != j (i-major): bits [0, cut) from parent i, [cut, H) from
    parent j, for some cut in 1..H-1."""
    parents = (np.random.default_rng(seed).random((P, H)) < 0.5).astype(np.uint8)
    kids = children_of(parents, seed, crossover=True, mutation="none")
    assert kids.shape == (P * (P - 1), H)
    pairs = [(i, j) for i in range(P) for j in range(P) if i != j]
    for kid, (i, j) in zip(kids, pairs):
        ok = [
            np.array_equal(kid[:cut], parents[i, :cut]) and np.array_equal(kid[cut:], parents[j, cut:])
            for cut in range(1, H)
        ]
        assert any(ok), (i, j)


def test_crossover_cut_points_uniform():
    """With complementary parents the cut is visible: uniform over 1..H-1, across the word boundary."""
    H = 70
    parents = np.stack([np.ones(H, dtype=np.uint8), np.zeros(H, dtype=np.uint8)])
    cuts = []
    for seed in range(2000):
        kids = children_of(parents, seed, crossover=True, mutation="none")
        ones_first, zeros_first = kids  # pair (0, 1): ones prefix; pair (1, 0): zeros prefix
        cut = int(ones_first.sum())
        np.testing.assert_array_equal(ones_first, np.arange(H) < cut)
        cut2 = H - int(zeros_first.sum())
        np.testing.assert_array_equal(zeros_first, np.arange(H) >= cut2)
        cuts += [cut, cut2]
    counts = np.bincount(cuts, minlength=H)
    assert counts[0] == 0 and counts[H:].sum() == 0
    assert ref.chi2_pvalue(counts[1:H], np.full(H - 1, len(cuts) / (H - 1))) > P_MIN


def test_crossover_with_randflip_is_a_crossover_plus_one_flip():
    """Each child is within one bit of a crossover of its pair (a flip next to the cut can look like
    another cut, so distance 0 occurs, but rarely)."""
    H, P = 20, 3
    parents = (np.random.default_rng(1).random((P, H)) < 0.5).astype(np.uint8)
    pairs = [(i, j) for i in range(P) for j in range(P) if i != j]
    distances = []
    for seed in range(50):
        kids = children_of(parents, seed, crossover=True, mutation="randflip")
        for kid, (i, j) in zip(kids, pairs):
            dist = [np.sum(kid != np.concatenate([parents[i, :cut], parents[j, cut:]])) for cut in range(1, H)]
            distances.append(min(dist))
    assert max(distances) == 1
    assert np.mean(np.array(distances) == 1) > 0.7


# ----------------------------------------------------------------------------- EVO step on BSC


def bsc_setup(seed: int, N: int, D: int, H: int, S: int):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, H)) * 2.0
    pi = rng.uniform(0.02, 0.4, size=H)
    sigma2 = float(rng.uniform(0.1, 2.0))
    s_true = (rng.random((N, H)) < pi).astype(np.float64)
    Y = s_true @ W.T + np.sqrt(sigma2) * rng.normal(size=(N, D))
    bits = ref.distinct_states(rng, N, S, H, p_on=min(0.5, 2.0 / H))
    return Y, W, pi, sigma2, bits


def run_evo(Y, W, pi, sigma2, K, lpj, seed=0, epoch=0, first_index=0, rows=slice(None), **config):
    """One evo_step_bsc on K, lpj; `rows` selects patches after the products are formed (so a chunk
    sees bit-identical products to the full problem)."""
    kw = {
        "n_parents": 3,
        "n_children": 2,
        "n_generations": 2,
        "selection": "fitness",
        "mutation": "sparseflip",
        "crossover": False,
        "bitflip_prob": -1.0,
    }
    kw.update(config)
    WtY, y2 = (Y @ W)[rows], np.einsum("nd,nd->n", Y, Y)[rows]
    return core_calls.evo_step_bsc(
        K,
        lpj,
        np.ascontiguousarray(WtY),
        np.ascontiguousarray(y2),
        W.T @ W,
        pi,
        sigma2,
        seed=seed,
        epoch=epoch,
        first_index=first_index,
        **kw,
    )


def lpj_tol(Y, W, sigma2, bits):
    ws = bits.astype(np.float64) @ np.linalg.norm(W, axis=0)
    return 1e-11 * (1.0 + (np.einsum("nd,nd->n", Y, Y)[:, None] + ws**2) / sigma2)


def check_evo_invariants(Y, W, pi, sigma2, old_bits, new_bits, new_lpj, replaced):
    N, S, _H = old_bits.shape
    ref_new = ref.bsc_lpj(Y, W, pi, sigma2, new_bits)
    ref_old = ref.bsc_lpj(Y, W, pi, sigma2, old_bits)
    tol = max(lpj_tol(Y, W, sigma2, new_bits).max(), lpj_tol(Y, W, sigma2, old_bits).max())
    np.testing.assert_array_less(np.abs(new_lpj - ref_new), tol)  # returned lpj are the states' lpj
    n_new = 0
    for n in range(N):
        assert n_distinct(new_bits[n]) == S, f"duplicate state in K_{n}"
        old_set = {r.tobytes() for r in old_bits[n]}
        new_set = {r.tobytes() for r in new_bits[n]}
        n_new += len(new_set - old_set)
        kept_min = ref_new[n].min()
        for s in range(S):
            if old_bits[n, s].tobytes() not in new_set:  # dropped: no better than every kept state
                assert ref_old[n, s] <= kept_min + tol, (n, s)
        # F never decreases: the kept set is at least as good as the old one
        assert ref.logsumexp(ref_new[n]) >= ref.logsumexp(ref_old[n]) - tol
    assert replaced == n_new


CONFIGS = [
    {"selection": "fitness", "mutation": "sparseflip"},
    {"selection": "uniform", "mutation": "randflip", "n_children": 3},
    {"selection": "fitness", "mutation": "randflip", "crossover": True},
    {"selection": "uniform", "mutation": "none", "crossover": True, "n_parents": 4},
    {
        "selection": "fitness",
        "mutation": "sparseflip",
        "crossover": True,
        "bitflip_prob": 0.2,
        "n_generations": 3,
    },
    {"selection": "uniform", "mutation": "sparseflip", "n_generations": 0},
]


@SETTINGS
@given(
    st.one_of(st.integers(3, 8), st.integers(60, 70)),
    st.integers(1, 12),
    st.integers(1, 8),
    st.sampled_from(range(len(CONFIGS))),
    st.integers(0, 2**32 - 1),
)
def test_evo_step_invariants(H, S, N, config_index, seed):
    S = min(S, 2**H - 1)
    Y, W, pi, sigma2, bits = bsc_setup(seed, N, 6, H, S)
    K = TruncatedStates.from_bits(bits).K
    lpj = np.full((N, S), np.nan)  # stale values must be ignored: lpj of K_n is recomputed
    replaced = run_evo(Y, W, pi, sigma2, K, lpj, seed=seed, epoch=3, **CONFIGS[config_index])
    assert_valid_packing(K, H)
    check_evo_invariants(Y, W, pi, sigma2, bits, unpack(K, H), lpj, replaced)
    if CONFIGS[config_index].get("n_generations", 2) == 0:
        assert replaced == 0
        np.testing.assert_array_equal(unpack(K, H), bits)


@SETTINGS
@given(st.integers(1, 70), st.integers(1, 8), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_evo_step_keeps_top_S_of_one_bit_neighbourhood(H, S, N, seed):
    """Uniform selection of all S states and randflip with n_children = H evaluate exactly the one-bit
    neighbourhood of K_n: the new K_n must be the best S of K_n and all its neighbours."""
    S = min(S, 2**H - 1) if H > 1 else 1
    Y, W, pi, sigma2, bits = bsc_setup(seed, N, 5, H, S)
    K = TruncatedStates.from_bits(bits).K
    lpj = np.zeros((N, S))
    replaced = run_evo(
        Y,
        W,
        pi,
        sigma2,
        K,
        lpj,
        seed=seed,
        n_parents=S,
        n_children=H,
        n_generations=1,
        selection="uniform",
        mutation="randflip",
    )
    new_bits = unpack(K, H)
    check_evo_invariants(Y, W, pi, sigma2, bits, new_bits, lpj, replaced)
    for n in range(N):
        cand = ref.unique_rows(np.concatenate([bits[n], ref.one_bit_neighbours(bits[n])]))
        cand_lpj = ref.bsc_lpj(Y[n : n + 1], W, pi, sigma2, cand[None])[0]
        tol = lpj_tol(Y[n : n + 1], W, sigma2, cand[None]).max()
        order = np.argsort(-cand_lpj, kind="stable")
        best = np.sort(cand_lpj[order[:S]])
        got = np.sort(ref.bsc_lpj(Y[n : n + 1], W, pi, sigma2, new_bits[n][None])[0])
        np.testing.assert_allclose(got, best, rtol=0, atol=tol)
        cand_keys = {r.tobytes() for r in cand}
        assert all(r.tobytes() in cand_keys for r in new_bits[n])
        if len(cand) > S and cand_lpj[order[S - 1]] - cand_lpj[order[S]] > 10 * tol:
            assert {r.tobytes() for r in new_bits[n]} == {r.tobytes() for r in cand[order[:S]]}


@SETTINGS
@given(st.integers(1, 70), st.integers(1, 8), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_single_latent_states_join_the_step(H, S, N, seed):
    """Without generations, an E-step that offers the single-latent states makes K_n the best S of K_n and
    the H single-latent states."""
    S = min(S, 2**H - 1) if H > 1 else 1
    Y, W, pi, sigma2, bits = bsc_setup(seed, N, 5, H, S)
    K = TruncatedStates.from_bits(bits).K
    lpj = np.full((N, S), np.nan)  # stale values are ignored
    replaced = run_evo(Y, W, pi, sigma2, K, lpj, epoch=2, n_generations=0, single_latents_from=2)
    assert_valid_packing(K, H)
    new_bits = unpack(K, H)
    check_evo_invariants(Y, W, pi, sigma2, bits, new_bits, lpj, replaced)
    singles = np.eye(H, dtype=np.uint8)
    for n in range(N):
        cand = ref.unique_rows(np.concatenate([bits[n], singles]))
        cand_lpj = ref.bsc_lpj(Y[n : n + 1], W, pi, sigma2, cand[None])[0]
        tol = lpj_tol(Y[n : n + 1], W, sigma2, cand[None]).max()
        best = np.sort(cand_lpj)[::-1][:S]
        got = np.sort(ref.bsc_lpj(Y[n : n + 1], W, pi, sigma2, new_bits[n][None])[0])[::-1]
        np.testing.assert_allclose(got, best, rtol=0, atol=tol)


def test_single_latent_states_sssc():
    """SSSC's single-latent log-joints (a closed form) are its lpj: the kept states and lpj agree with the
    model's, and each patch keeps its best single-latent state."""
    N, H, S, D = 30, 9, 5, 6
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(N, D))
    model = SSSC.from_data(Y, H, seed=1)
    states = TruncatedStates.random(N, H, S, 0.2, seed=2)
    EvoEStep(EvoConfig(n_generations=0, single_latents_from=0), seed=0).update(model, Y, states, epoch=0)
    np.testing.assert_allclose(model.log_pseudo_joint(Y, states), states.lpj, rtol=1e-10, atol=1e-10)
    singles = TruncatedStates.from_bits(np.eye(H, dtype=np.uint8)[None].repeat(N, 0))
    best_single = np.argmax(model.log_pseudo_joint(Y, singles), axis=1)
    bits = states.bits()
    assert all(bits[n, :, best_single[n]].any() for n in range(N))


def test_single_latent_states_from_their_epoch():
    """Before single_latents_from an E-step is the evolutionary step alone; from it on, the single-latent
    states join; None and negative values."""
    N, H, S = 40, 12, 6
    Y, W, pi, sigma2, bits = bsc_setup(5, N, 7, H, S)
    model = BSC(BSCParams(W, pi, sigma2))

    def step(config: EvoConfig, epoch: int) -> np.ndarray:
        states = TruncatedStates.from_bits(bits)
        EvoEStep(config, seed=0).update(model, Y, states, epoch=epoch)
        return states.K

    plain = EvoConfig(n_generations=1, single_latents_from=None)
    merging = EvoConfig(n_generations=1, single_latents_from=4)
    np.testing.assert_array_equal(step(merging, 3), step(plain, 3))
    assert not np.array_equal(step(merging, 4), step(plain, 4))
    assert merging.core.single_latents_from == 4 and plain.core.single_latents_from is None
    with pytest.raises(ValueError, match="single_latents_from"):
        EvoConfig(single_latents_from=-1)
    with pytest.raises(ValueError, match="single_latents_from"):
        _core.EvoConfig(single_latents_from=-1)


@pytest.mark.parametrize("H, S", [(4, 14), (5, 29), (3, 7)])
def test_evo_step_near_complete_sets_find_global_top_S(H, S):
    """S = 2^H - small: every missing state is a one-bit neighbour, so the step must return the exact
    best S of all 2^H states."""
    N = 20
    Y, W, pi, sigma2, bits = bsc_setup(H, N, 6, H, S)
    K = TruncatedStates.from_bits(bits).K
    lpj = np.zeros((N, S))
    replaced = run_evo(
        Y,
        W,
        pi,
        sigma2,
        K,
        lpj,
        n_parents=S,
        n_children=H,
        n_generations=1,
        selection="uniform",
        mutation="randflip",
    )
    new_bits = unpack(K, H)
    check_evo_invariants(Y, W, pi, sigma2, bits, new_bits, lpj, replaced)
    every = ref.all_states(H)
    all_lpj = ref.bsc_lpj(Y, W, pi, sigma2, np.broadcast_to(every, (N, 2**H, H)))
    for n in range(N):
        top = np.argsort(-all_lpj[n], kind="stable")[:S]
        assert {r.tobytes() for r in new_bits[n]} == {r.tobytes() for r in every[top]}
    assert replaced > 0


def test_evo_step_repeated_steps_converge_with_full_neighbourhood():
    """Repeating the one-bit-neighbourhood step never lowers sum_n logsumexp(lpj_n) and reaches a fixed
    point (replaced == 0)."""
    N, H, S = 10, 9, 6
    Y, W, pi, sigma2, bits = bsc_setup(21, N, 6, H, S)
    K = TruncatedStates.from_bits(bits).K
    lpj = np.zeros((N, S))
    previous = -np.inf
    for epoch in range(30):
        replaced = run_evo(
            Y,
            W,
            pi,
            sigma2,
            K,
            lpj,
            epoch=epoch,
            n_parents=S,
            n_children=H,
            n_generations=1,
            selection="uniform",
            mutation="randflip",
        )
        F = float(np.sum(ref.logsumexp(lpj, axis=1)))
        assert previous - 1e-9 <= F
        previous = F
        if replaced == 0:
            break
    assert replaced == 0


def test_evo_step_deterministic_and_keyed_by_global_index():
    """Same (seed, epoch, first_index) -> same result; a chunk with first_index reproduces its rows."""
    N, H, S = 60, 70, 8
    Y, W, pi, sigma2, bits = bsc_setup(5, N, 8, H, S)
    K0 = TruncatedStates.from_bits(bits).K
    results = []
    for _ in range(2):
        K, lpj = K0.copy(), np.zeros((N, S))
        results.append((run_evo(Y, W, pi, sigma2, K, lpj, seed=9, epoch=2), K, lpj))
    assert results[0][0] == results[1][0] and results[0][0] > 0
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])
    K, lpj = results[0][1], results[0][2]
    K_a, lpj_a = K0[:25].copy(), np.zeros((25, S))
    K_b, lpj_b = K0[25:].copy(), np.zeros((N - 25, S))
    r_a = run_evo(Y, W, pi, sigma2, K_a, lpj_a, seed=9, epoch=2, first_index=0, rows=slice(0, 25))
    r_b = run_evo(Y, W, pi, sigma2, K_b, lpj_b, seed=9, epoch=2, first_index=25, rows=slice(25, None))
    assert r_a + r_b == results[0][0]
    np.testing.assert_array_equal(np.concatenate([K_a, K_b]), K)
    np.testing.assert_array_equal(np.concatenate([lpj_a, lpj_b]), lpj)
    # another epoch draws other children
    K_e, lpj_e = K0.copy(), np.zeros((N, S))
    run_evo(Y, W, pi, sigma2, K_e, lpj_e, seed=9, epoch=3)
    assert not np.array_equal(K_e, K)


# ----------------------------------------------------------------------------- thread independence


@pytest.fixture
def restore_threads():
    n = _core.get_num_threads()
    yield
    _core.set_num_threads(n)


def test_evo_step_bit_identical_across_thread_counts(restore_threads):
    N, H, S = 2100, 20, 8
    Y, W, pi, sigma2, bits = bsc_setup(6, N, 9, H, S)
    K0 = TruncatedStates.from_bits(bits).K
    out = []
    for threads in (1, 2):
        _core.set_num_threads(threads)
        K, lpj = K0.copy(), np.zeros((N, S))
        r = run_evo(Y, W, pi, sigma2, K, lpj, seed=1, epoch=1, n_generations=3)
        A, B, lse, _y2 = core_calls.bsc_accumulate(Y, K, lpj, H)
        mean, var, third = core_calls.bsc_posterior_moments(W, K, lpj, order=3)
        out.append((r, K, lpj, A, B, lse, mean, var, third))
    assert out[0][0] == out[1][0]
    for a, b in zip(out[0][1:], out[1][1:]):
        np.testing.assert_array_equal(a, b)


def test_em_bit_identical_across_thread_counts(restore_threads):
    """3 EM epochs (N > 1024: several reduction blocks) give bit-identical parameters, F and states."""
    rng = np.random.default_rng(7)
    N, D, H, S = 3000, 16, 12, 10
    W_true = rng.normal(size=(D, H))
    Y = (rng.random((N, H)) < 0.15) @ W_true.T + 0.3 * rng.normal(size=(N, D))
    results = []
    for threads in (1, 2):
        _core.set_num_threads(threads)
        model = BSC.from_data(Y, H, seed=3)
        states = TruncatedStates.random(N, H, S, p_on=1.0 / H, seed=4)
        trainer = EMTrainer(EvoEStep(EvoConfig(n_parents=4, n_children=3, n_generations=2), seed=5))
        model, history = trainer.fit(model, Y, states, epochs=3)
        results.append((model, history, states))
    (m1, h1, s1), (m2, h2, s2) = results
    np.testing.assert_array_equal(m1.params.W, m2.params.W)
    np.testing.assert_array_equal(m1.params.pi, m2.params.pi)
    assert m1.params.sigma2 == m2.params.sigma2
    assert [e.free_energy for e in h1] == [e.free_energy for e in h2]
    assert [e.n_replaced for e in h1] == [e.n_replaced for e in h2]
    np.testing.assert_array_equal(s1.K, s2.K)
    np.testing.assert_array_equal(s1.lpj, s2.lpj)
    # and the trainer did something
    assert h1[0].n_replaced > 0 and not np.array_equal(m1.params.W, BSC.from_data(Y, H, seed=3).params.W)


def test_bsc_e_step_through_python_layer():
    """EvoEStep on a BSC updates TruncatedStates in place and its lpj equal the reference lpj of the states."""
    N, H, S = 40, 10, 6
    Y, W, pi, sigma2, bits = bsc_setup(8, N, 7, H, S)
    model = BSC(BSCParams(W, pi, sigma2))
    states = TruncatedStates.from_bits(bits)
    replaced = EvoEStep(EvoConfig(), seed=0).update(model, Y, states, epoch=0)
    check_evo_invariants(Y, W, pi, sigma2, bits, states.bits(), states.lpj, replaced)
    np.testing.assert_allclose(model.log_pseudo_joint(Y, states), states.lpj, rtol=1e-12, atol=1e-12)
