// Spike-and-slab sparse coding: s_h ~ Bernoulli(pi_h), z ~ N(mu, diag(psi)), y = W (s * z) + eps,
// eps ~ N(0, sigma2 I). For the active set a of s, p(y | s) = N(y; W_a mu_a, C_s) with
// C_s = sigma2 I + W_a Psi_a W_a^T, evaluated without any D x D matrix through Woodbury and the
// determinant lemma from W^T y and W^T W: O(|a|^3) per state.
// Everything of the model is here and in model/sssc.cpp: parameters, evaluator, statistics, moments, M-step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "zeroshot/base/parallel.hpp"
#include "zeroshot/loops/moments.hpp"
#include "zeroshot/model/dictionary.hpp"

namespace zs {

// Theta = (W (D, H), pi (H,), mu (H,), psi (H,), sigma2).
struct SsscParams {
    SsscParams() = default;
    SsscParams(int D, int H);  // zeros of these sizes (checked)
    int D = 0, H = 0;
    std::vector<double> W, pi, mu, psi;
    double sigma2 = 1.0;

    void validate() const;  // as BSC's, and finite mu, psi > 0 finite
    template <class F>
    void visit(F&& f) {
        f("W", Shape{size(D), size(H)}, W.data());
        f("pi", Shape{size(H)}, pi.data());
        f("mu", Shape{size(H)}, mu.data());
        f("psi", Shape{size(H)}, psi.data());
        f("sigma2", Shape{}, &sigma2);
    }

private:
    static std::size_t size(int n) { return static_cast<std::size_t>(n); }
};

// Sums over patches (fixed blocks, fixed order; summable over data shards): A = sum y <x>^T (D, H),
// B = sum <x x^T> (H, H), x_sum = sum <x> (H), s_sum = sum <s> (H), and y2, n_patches, free_energy as for BSC.
struct SsscStats {
    SsscStats() = default;
    SsscStats(int D, int H);
    int D = 0, H = 0;
    std::vector<double> A, B, x_sum, s_sum;
    double y2 = 0.0, n_patches = 0.0, free_energy = 0.0;

    template <class F>
    void visit(F&& f) {
        f("A", Shape{size(D), size(H)}, A.data());
        f("B", Shape{size(H), size(H)}, B.data());
        f("x_sum", Shape{size(H)}, x_sum.data());
        f("s_sum", Shape{size(H)}, s_sum.data());
        f("y2", Shape{}, &y2);
        f("n_patches", Shape{}, &n_patches);
        f("free_energy", Shape{}, &free_energy);
    }

private:
    static std::size_t size(int n) { return static_cast<std::size_t>(n); }
};

class SsscEvaluator {
public:
    // params (validated) and products must outlive the evaluator.
    SsscEvaluator(const SsscParams& params, const DenseProducts& products);

    // lpj = log p(s, y_n) - free_energy_constant(D, pi, sigma2)  (the same constant as BSC).
    double lpj(std::size_t n, const std::int32_t* active, int k) const;

    // Slab posterior z_a | s, y_n ~ N(kappa, Lambda): kappa (k,), Lambda (k, k) row-major.
    void slab_posterior(std::size_t n, const std::int32_t* active, int k, double* kappa, double* Lambda) const;

    // The same posterior as kappa (k,) and the lower Cholesky factor L (k x k, row-major, zero above the
    // diagonal) of Lambda^-1 = L L^T, regularised where numerically singular as for lpj: quadratic forms
    // v^T Lambda v = ||L^-1 v||^2 then need no inverse and cannot come out negative.
    void slab_mean_and_factor(std::size_t n, const std::int32_t* active, int k, double* kappa,
                              std::vector<double>& L) const;

    // out[h] = lpj of the state with latent h alone, for all H: lpj's k = 1 case in closed form.
    void single_latent_lpj(std::size_t n, double* out) const;

    int n_latents() const { return H_; }
    double expected_active() const { return expected_active_; }
    void prefetch(std::size_t n) const { products_.prefetch(n); }

private:
    // Cholesky factor of Lambda^-1 = W_a^T W_a / sigma2 + Psi_a^-1 into L (k x k) and b = W_a^T r
    // into b; returns ||r||^2 (r = y - W_a mu_a).
    double factor_state(std::size_t n, const std::int32_t* active, int k, std::vector<double>& L,
                        std::vector<double>& b) const;

    DenseProducts products_;
    const double* mu_;
    const double* psi_;
    int H_;
    double sigma2_;
    double expected_active_;
    std::vector<double> log_odds_;  // log(pi / (1 - pi))
    // Per latent h alone, with g = (W^T W)_hh and lambda^-1 = g / sigma2 + 1 / psi_h (single_latent_lpj):
    std::vector<double> single_constant_;  // log_odds - (log(lambda^-1 psi_h) + mu_h^2 g / sigma2) / 2
    std::vector<double> single_g_mu_;      // g mu_h
    std::vector<double> single_weight_;    // 1 / (2 sigma2^2 lambda^-1)
};

// The model's kernels as the generic drivers and the bindings use them (see CONTRIBUTING.md).
struct Sssc {
    using Params = SsscParams;
    using Stats = SsscStats;
    using Evaluator = SsscEvaluator;

    // Statistics of the patches Y (products.N, D) with states K (N, S, n_words) and their lpj (N, S).
    static Stats accumulate(const Params& params, const DenseProducts& products, const double* Y,
                            const std::uint64_t* K, const double* lpj, int S, const StopPoll& stop = {});

    // Posterior moments of the noise-free patch x = W_a z_a (N, D each): the mean W <x>_n and, where out's
    // pointers are not null, the variance and the third central moment per pixel. Given s, x_d is
    // Gaussian with mean (W_a kappa_s)_d and variance (W_a Lambda_s W_a^T)_dd, taken in O(D k^2) without
    // any D x D matrix. The slab posteriors read the products.
    static constexpr bool moments_need_products = true;
    static void posterior_moments(const Params& params, const DenseProducts& products, const std::uint64_t* K,
                                  const double* lpj, int S, MomentArrays out, const StopPoll& stop = {});

    // Exact M-step (diagonal Psi; z_h exists only when s_h = 1): W = A B^-1, sigma2 from the new W,
    // pi = <s> / N, mu_h = sum <x_h> / sum <s_h>, Psi_h = sum <x_h^2> / sum <s_h> - mu_h^2 (>= psi_min).
    // Latents never active keep W's column, mu and Psi.
    static Params m_step(const Params& old, const Stats& stats, bool shared_pi);
};

}  // namespace zs
