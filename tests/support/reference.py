"""Plain numpy reference of the BSC model and its truncated E-/M-step (the executable specification).

Written from the published formulas (Drefs, Guiraud & Lücke, JMLR 2022: BSC), not from the compiled core: direct
formulas, dense (N, S, H) 0/1 state arrays, no fast forms, no packing. Everything here is O(N S H D) or O(2^H) and
meant for the small problems of the tests.

Shapes: Y (N, D), W (D, H), pi (H,), sigma2 > 0, states (N, S, H) of 0/1, lpj (N, S).
"""

from __future__ import annotations

import itertools

import numpy as np

# ----------------------------------------------------------------------------- model


def logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """log sum exp along `axis`, stable (the maximum is factored out)."""
    a = np.asarray(a, dtype=np.float64)
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(a - top), axis=axis))


def bsc_lpj(Y: np.ndarray, W: np.ndarray, pi: np.ndarray, sigma2: float, states: np.ndarray) -> np.ndarray:
    """lpj (N, S): -||y_n - W s||^2 / (2 sigma2) + sum_h s_h log(pi_h / (1 - pi_h)).

    Equals log p(s, y_n) + D/2 log(2 pi sigma2) - sum_h log(1 - pi_h).
    """
    s = np.asarray(states, dtype=np.float64)  # (N, S, H)
    recon = np.einsum("dh,nsh->nsd", W, s)  # (N, S, D)
    resid = Y[:, None, :] - recon
    sq = np.einsum("nsd,nsd->ns", resid, resid)
    prior = s @ np.log(pi / (1.0 - pi))
    return -sq / (2.0 * sigma2) + prior


def bsc_log_joint(Y: np.ndarray, W: np.ndarray, pi: np.ndarray, sigma2: float, states: np.ndarray) -> np.ndarray:
    """log p(s, y_n | Theta) (N, S), the full Gaussian and Bernoulli densities."""
    s = np.asarray(states, dtype=np.float64)
    D = Y.shape[1]
    recon = np.einsum("dh,nsh->nsd", W, s)
    resid = Y[:, None, :] - recon
    log_lik = -np.einsum("nsd,nsd->ns", resid, resid) / (2.0 * sigma2) - 0.5 * D * np.log(2.0 * np.pi * sigma2)
    log_prior = s @ np.log(pi) + (1.0 - s) @ np.log1p(-pi)
    return log_lik + log_prior


def lpj_offset(D: int, pi: np.ndarray, sigma2: float) -> float:
    """log p(s, y) - lpj(s): the part of the log-joint that does not depend on s."""
    return -0.5 * D * np.log(2.0 * np.pi * sigma2) + float(np.sum(np.log1p(-pi)))


def all_states(H: int) -> np.ndarray:
    """All 2^H binary states (2^H, H) uint8, in binary counting order with bit h of the integer = s_h."""
    ints = np.arange(2**H, dtype=np.int64)
    return ((ints[:, None] >> np.arange(H)) & 1).astype(np.uint8)


def exact_log_likelihood(Y: np.ndarray, W: np.ndarray, pi: np.ndarray, sigma2: float) -> float:
    """sum_n log p(y_n | Theta) by brute force over all 2^H states (small H only)."""
    H = W.shape[1]
    states = np.broadcast_to(all_states(H), (Y.shape[0], 2**H, H))
    return float(np.sum(logsumexp(bsc_log_joint(Y, W, pi, sigma2, states), axis=1)))


# ----------------------------------------------------------------------------- truncated E-step


def truncated_posterior(lpj: np.ndarray) -> np.ndarray:
    """q_n(s) = exp(lpj_ns) / sum_{s'} exp(lpj_ns') over the truncated set (N, S)."""
    lpj = np.asarray(lpj, dtype=np.float64)
    top = lpj.max(axis=1, keepdims=True)
    e = np.exp(lpj - top)
    return e / e.sum(axis=1, keepdims=True)


def bsc_accumulate(Y: np.ndarray, states: np.ndarray, lpj: np.ndarray):
    """Sufficient statistics (A (D, H), B (H, H), sum_n logsumexp(lpj_n), sum_n ||y_n||^2):
    A = sum_n y_n <s>_n^T, B = sum_n <s s^T>_n."""
    s = np.asarray(states, dtype=np.float64)
    q = truncated_posterior(lpj)
    mean_s = np.einsum("ns,nsh->nh", q, s)  # <s>_n
    A = Y.T @ mean_s
    B = np.einsum("ns,nsh,nsg->hg", q, s, s)
    return A, B, float(np.sum(logsumexp(lpj, axis=1))), float(np.sum(Y * Y))


def bsc_posterior_moments(W: np.ndarray, states: np.ndarray, lpj: np.ndarray):
    """Posterior mean m_n = W <s>_n (N, D), variance sum_s q(s) ((W s)_d - m_nd)^2 (N, D) and third
    central moment sum_s q(s) ((W s)_d - m_nd)^3 (N, D)."""
    s = np.asarray(states, dtype=np.float64)
    q = truncated_posterior(lpj)
    recon = np.einsum("dh,nsh->nsd", W, s)  # (N, S, D)
    mean = np.einsum("ns,nsd->nd", q, recon)
    dev = recon - mean[:, None, :]
    var = np.einsum("ns,nsd->nd", q, dev**2)
    third = np.einsum("ns,nsd->nd", q, dev**3)
    return mean, var, third


# ----------------------------------------------------------------------------- M-step


def bsc_m_step(A: np.ndarray, B: np.ndarray, y2_sum: float, N: float):
    """Unconstrained exact M-step: W = A B^-1, pi = diag(B) / N,
    sigma2 = (sum ||y||^2 - 2 tr(W^T A) + tr(W^T W B)) / (N D) with the new W.
    A singular B gives the minimum-norm least-squares W = A B^+ (the limit of a vanishing ridge)."""
    D = A.shape[0]
    W = np.linalg.lstsq(B.T, A.T, rcond=None)[0].T  # W B = A
    pi = np.diag(B) / N
    sigma2 = (y2_sum - 2.0 * np.sum(W * A) + np.trace(W.T @ W @ B)) / (N * D)
    return W, pi, float(sigma2)


def bsc_sigma2_direct(Y: np.ndarray, W: np.ndarray, states: np.ndarray, lpj: np.ndarray) -> float:
    """sigma2 = sum_n <||y_n - W s||^2>_n / (N D), the definition (for checking the trace form)."""
    s = np.asarray(states, dtype=np.float64)
    q = truncated_posterior(lpj)
    resid = Y[:, None, :] - np.einsum("dh,nsh->nsd", W, s)
    return float(np.sum(q * np.einsum("nsd,nsd->ns", resid, resid)) / Y.size)


# ----------------------------------------------------------------------------- EVO helpers


def one_bit_neighbours(states: np.ndarray) -> np.ndarray:
    """All H one-bit-flip neighbours of each of the (S, H) states: (S * H, H)."""
    S, H = states.shape
    flips = np.repeat(states[:, None, :], H, axis=1) ^ np.eye(H, dtype=states.dtype)[None]
    return flips.reshape(S * H, H)


def unique_rows(states: np.ndarray) -> np.ndarray:
    """The distinct rows of (M, H), in order of first appearance."""
    _, first = np.unique(states, axis=0, return_index=True)
    return states[np.sort(first)]


# ----------------------------------------------------------------------------- test data


def distinct_states(rng: np.random.Generator, N: int, S: int, H: int, p_on: float = 0.3) -> np.ndarray:
    """(N, S, H) uint8: S distinct states per data point (requires S <= 2^H)."""
    assert S <= 2**H
    out = np.empty((N, S, H), dtype=np.uint8)
    for n in range(N):
        if H <= 16:
            ints = rng.choice(2**H, size=S, replace=False)
            out[n] = (ints[:, None] >> np.arange(H)) & 1
        else:
            seen: set = set()
            rows = []
            while len(rows) < S:
                row = (rng.random(H) < p_on).astype(np.uint8)
                key = row.tobytes()
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
            out[n] = np.array(rows)
    return out


def chi2_sf_wilson_hilferty(x: float, df: int) -> float:
    """Upper tail P(X >= x) of chi-square(df) by the Wilson-Hilferty normal approximation
    (a few per cent of the p-value for df >= 3; used when scipy is not installed)."""
    import math

    if x <= 0:
        return 1.0
    z = ((x / df) ** (1.0 / 3.0) - (1.0 - 2.0 / (9.0 * df))) / math.sqrt(2.0 / (9.0 * df))
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def chi2_sf(x: float, df: int) -> float:
    """Upper tail P(X >= x) of a chi-square(df) variable, exact for integer df by the closed forms of
    the regularised incomplete gamma function (even df: a Poisson tail; odd df: erfc plus a series)."""
    import math

    if x <= 0:
        return 1.0
    half = x / 2.0
    if df % 2 == 0:
        term, total = math.exp(-half), 0.0
        for k in range(df // 2):
            total += term
            term *= half / (k + 1)
        return total
    total = math.erfc(math.sqrt(half))
    term = math.exp(-half) * math.sqrt(half) / math.gamma(1.5)
    for k in range((df - 1) // 2):
        total += term
        term *= half / (k + 1.5)
    return total


def chi2_pvalue(observed: np.ndarray, expected: np.ndarray) -> float:
    """Pearson chi-square goodness-of-fit p-value of counts against expected counts (same total)."""
    observed = np.asarray(observed, dtype=np.float64).ravel()
    expected = np.asarray(expected, dtype=np.float64).ravel()
    keep = expected > 0
    assert np.all(observed[~keep] == 0), "counts where the expected count is zero"
    stat = float(np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep]))
    return chi2_sf(stat, int(keep.sum()) - 1)


def all_subsets_index(rows: np.ndarray, S: int) -> np.ndarray:
    """Index of each row's (unordered) subset among itertools.combinations(range(S), k)."""
    k = rows.shape[1]
    lookup = {c: i for i, c in enumerate(itertools.combinations(range(S), k))}
    return np.array([lookup[tuple(sorted(int(v) for v in r))] for r in rows])
