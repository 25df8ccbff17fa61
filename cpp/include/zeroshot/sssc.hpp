// Spike-and-slab sparse coding: s_h ~ Bernoulli(pi_h), z ~ N(mu, diag(psi)), y = W (s * z) + eps,
// eps ~ N(0, sigma2 I). For the active set a of s, p(y | s) = N(y; W_a mu_a, C_s) with
// C_s = sigma2 I + W_a Psi_a W_a^T, evaluated without any D x D matrix through Woodbury and the
// determinant lemma from W^T y and W^T W: O(|a|^3) per state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "zeroshot/moments.hpp"
#include "zeroshot/posterior.hpp"

namespace zs {

class SsscEvaluator {
public:
    // WtY: (N, H), y2: (N,), WtW: (H, H), pi, mu, psi: (H,). Pointers must outlive the evaluator.
    SsscEvaluator(const double* WtY, const double* y2, const double* WtW, const double* pi, const double* mu,
                  const double* psi, double sigma2, int H);

    // lpj = log p(s, y_n) + D/2 log(2 pi sigma2) - sum_h log(1 - pi_h)  (the same constant as BSC).
    double lpj(std::size_t n, const std::int32_t* active, int k) const;

    // Slab posterior z_a | s, y_n ~ N(kappa, Lambda): kappa (k,), Lambda (k, k) row-major.
    void slab_posterior(std::size_t n, const std::int32_t* active, int k, double* kappa, double* Lambda) const;

    // The same posterior as kappa (k,) and the lower Cholesky factor L (k x k, row-major, zero above the
    // diagonal) of Lambda^-1 = L L^T, regularised where numerically singular as for lpj: quadratic forms
    // v^T Lambda v = ||L^-1 v||^2 then need no inverse and cannot come out negative.
    void slab_mean_and_factor(std::size_t n, const std::int32_t* active, int k, double* kappa,
                              std::vector<double>& L) const;

    int n_latents() const { return H_; }
    double expected_active() const { return expected_active_; }
    void prefetch(std::size_t n) const { prefetch_row(WtY_ + n * static_cast<std::size_t>(H_), H_); }

private:
    // Cholesky factor of Lambda^-1 = W_a^T W_a / sigma2 + Psi_a^-1 into L (k x k) and b = W_a^T r
    // into b; returns ||r||^2 (r = y - W_a mu_a).
    double factor_state(std::size_t n, const std::int32_t* active, int k, std::vector<double>& L,
                        std::vector<double>& b) const;

    const double* WtY_;
    const double* y2_;
    const double* WtW_;
    const double* mu_;
    const double* psi_;
    int H_;
    double sigma2_;
    double expected_active_;
    std::vector<double> log_odds_;  // log(pi / (1 - pi))
};

// M-step statistics of SSSC summed over patches (fixed blocks, fixed order): A = sum y <x>^T (D, H),
// B = sum <x x^T> (H, H), x_sum = sum <x> (H), s_sum = sum <s> (H), lse, y2 as for BSC.
struct SsscStats {
    std::vector<double> A, B, x_sum, s_sum;
    double lse = 0.0;
    double y2 = 0.0;
};
SsscStats sssc_accumulate(const SsscEvaluator& model, const double* Y, std::size_t N, int D, const std::uint64_t* K,
                          const double* lpj, int S);

// Posterior moments of the noise-free patch x = W_a z_a (N, D each), W (D, H): the mean W <x>_n and, where
// out's pointers are not null, the variance and the third central moment per pixel. Given s, x_d is
// Gaussian with mean (W_a kappa_s)_d and variance (W_a Lambda_s W_a^T)_dd, taken in O(D k^2) without
// any D x D matrix.
void sssc_posterior_moments(const SsscEvaluator& model, const double* W, int D, const std::uint64_t* K,
                            const double* lpj, std::size_t N, int S, MomentArrays out);

struct SsscParams {
    std::vector<double> W, pi, mu, psi;
    double sigma2 = 1.0;
};
// Exact M-step (diagonal Psi; z_h exists only when s_h = 1): W = A B^-1, sigma2 from the new W,
// pi = <s> / N, mu_h = sum <x_h> / sum <s_h>, Psi_h = sum <x_h^2> / sum <s_h> - mu_h^2 (>= psi_min).
// Latents never active keep W's column, mu and Psi.
SsscParams sssc_m_step(const SsscStats& stats, double n_patches, const double* W_old, const double* mu_old,
                       const double* psi_old, int D, int H, bool shared_pi);

}  // namespace zs
