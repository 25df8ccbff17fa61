"""A direct numpy evaluation of the Poisson mixture model: the executable specification of its kernels."""

import math

import numpy as np

_lgamma = np.vectorize(math.lgamma, otypes=[float])


def log_joints(Y, Lambda, pi):
    """log p(y_n, c) = log pi_c + sum_d (y_d log Lambda_cd - Lambda_cd - lgamma(y_d + 1)), (N, C), one
    component at a time."""
    N, C = Y.shape[0], Lambda.shape[0]
    out = np.empty((N, C))
    for c in range(C):
        out[:, c] = np.log(pi[c]) + np.sum(Y * np.log(Lambda[c]) - Lambda[c] - _lgamma(Y + 1.0), axis=1)
    return out


def top_s(lj, S):
    """K (N, S) of the S largest log-joints per row (ties to the lower index) and their values."""
    N, C = lj.shape
    K = np.empty((N, S), dtype=np.int32)
    for n in range(N):
        order = sorted(range(C), key=lambda c: (-lj[n, c], c))
        K[n] = order[:S]
    return K, np.take_along_axis(lj, K.astype(np.int64), axis=1)


def posterior(lpj):
    """q (N, S): the softmax of each row, and log sum exp of each row."""
    top = lpj.max(axis=1, keepdims=True)
    w = np.exp(lpj - top)
    z = w.sum(axis=1, keepdims=True)
    return w / z, (top + np.log(z))[:, 0]


def statistics(Y, K, lpj, C):
    """(sum_n q_n (C,), sum_n q_n y_n^T (C, D), F)."""
    q, lse = posterior(lpj)
    q_sum = np.zeros(C)
    qy = np.zeros((C, Y.shape[1]))
    for n in range(Y.shape[0]):
        for s in range(K.shape[1]):
            q_sum[K[n, s]] += q[n, s]
            qy[K[n, s]] += q[n, s] * Y[n]
    return q_sum, qy, float(lse.sum())


def m_step(q_sum, qy, old_Lambda, rate_floor=1e-6, min_pi=1e-12):
    N, D = q_sum.sum(), qy.shape[1]
    floor = max(rate_floor * qy.sum() / (N * D), 1e-12)
    Lambda = old_Lambda.copy()
    for c in range(len(q_sum)):
        if q_sum[c] > 0:
            Lambda[c] = qy[c] / q_sum[c]
    Lambda = np.maximum(Lambda, floor)
    pi = np.maximum(q_sum / N, min_pi)
    return Lambda, pi / pi.sum()


def moments(Lambda, K, lpj):
    """Posterior mean, variance and third central moment of the rates (N, D) each."""
    q, _ = posterior(lpj)
    rates = Lambda[K]  # (N, S, D)
    mean = np.einsum("ns,nsd->nd", q, rates)
    dev = rates - mean[:, None, :]
    return mean, np.einsum("ns,nsd->nd", q, dev**2), np.einsum("ns,nsd->nd", q, dev**3)


def log_likelihood(Y, Lambda, pi):
    """sum_n log p(y_n), by brute force over every component."""
    lj = log_joints(Y, Lambda, pi)
    top = lj.max(axis=1, keepdims=True)
    return float(np.sum(top[:, 0] + np.log(np.exp(lj - top).sum(axis=1))))
