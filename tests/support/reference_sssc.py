"""Plain numpy reference of the SSSC slab posterior and of the posterior moments of the noise-free patch.

Written from the published formulas (Sheikh, Shelton & Lücke, JMLR 2014: SSSC), not from the compiled core: Gaussian
conditioning with the full D x D covariance C_s = sigma2 I + W_a Psi_a W_a^T and the full D x D conditional
covariance of the patch W_a Lambda_s W_a^T. Meant for the small problems of the tests.

Shapes: Y (N, D), W (D, H), mu, psi (H,), sigma2 > 0, states (N, S, H) of 0/1, lpj (N, S).
"""

from __future__ import annotations

import numpy as np

from reference import truncated_posterior


def slab_posterior(y: np.ndarray, W: np.ndarray, mu: np.ndarray, psi: np.ndarray, sigma2: float, state: np.ndarray):
    """(a, kappa, Lambda) of z_a | s, y ~ N(kappa, Lambda), a the active latents of `state`, by Gaussian
    conditioning of (z_a, y) with the D x D covariance C_s."""
    a = np.flatnonzero(state)
    D = y.shape[0]
    Wa, Pa = W[:, a], np.diag(psi[a])
    C = sigma2 * np.eye(D) + Wa @ Pa @ Wa.T
    gain = Pa @ Wa.T @ np.linalg.inv(C)
    return a, mu[a] + gain @ (y - Wa @ mu[a]), Pa - gain @ Wa @ Pa


def conditional_patch_moments(Y, W, mu, psi, sigma2, states):
    """Mean W_a kappa_s (N, S, D) and full covariance W_a Lambda_s W_a^T (N, S, D, D) of the noise-free
    patch x = W_a z_a given each state."""
    N, S, _ = states.shape
    D = W.shape[0]
    means, covs = np.zeros((N, S, D)), np.zeros((N, S, D, D))
    for n in range(N):
        for s in range(S):
            a, kappa, Lambda = slab_posterior(Y[n], W, mu, psi, sigma2, states[n, s])
            means[n, s] = W[:, a] @ kappa
            covs[n, s] = W[:, a] @ Lambda @ W[:, a].T
    return means, covs


def sssc_posterior_moments(Y, W, mu, psi, sigma2, states, lpj):
    """Mean, variance and third central moment (each (N, D)) of x under the truncated posterior: a
    mixture over states of Gaussians N(W_a kappa_s, W_a Lambda_s W_a^T)."""
    q = truncated_posterior(lpj)
    means, covs = conditional_patch_moments(Y, W, mu, psi, sigma2, states)
    c = np.diagonal(covs, axis1=2, axis2=3)  # (N, S, D) conditional variances
    mean = np.einsum("ns,nsd->nd", q, means)
    dev = means - mean[:, None, :]
    variance = np.einsum("ns,nsd->nd", q, c + dev**2)
    third = np.einsum("ns,nsd->nd", q, dev**3 + 3.0 * c * dev)
    return mean, variance, third
