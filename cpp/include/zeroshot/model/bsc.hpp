// Binary sparse coding: y = W s + eps, s_h ~ Bernoulli(pi_h), eps ~ N(0, sigma2 I).
// Log-joints use the fast form ||y - Ws||^2 = ||y||^2 - 2 s^T (W^T y) + s^T (W^T W) s.
// Everything of the model is here and in model/bsc.cpp: parameters, evaluator, statistics, moments, M-step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "zeroshot/base/parallel.hpp"
#include "zeroshot/loops/moments.hpp"
#include "zeroshot/model/dictionary.hpp"

namespace zs {

// Theta = (W (D, H), pi (H,), sigma2).
struct BscParams {
    BscParams() = default;
    BscParams(int D, int H);  // zeros of these sizes (checked)
    int D = 0, H = 0;
    std::vector<double> W, pi;
    double sigma2 = 1.0;

    void validate() const;  // finite W, 0 < pi < 1, sigma2 > 0
    template <class F>
    void visit(F&& f) {
        f("W", Shape{size(D), size(H)}, W.data());
        f("pi", Shape{size(H)}, pi.data());
        f("sigma2", Shape{}, &sigma2);
    }

private:
    static std::size_t size(int n) { return static_cast<std::size_t>(n); }
};

// Sums over patches (summable over data shards): A = sum_n y_n <s>_n^T (D, H), B = sum_n <s s^T>_n (H, H),
// y2 = sum_n ||y_n||^2, n_patches, and the free energy F = sum_n log sum_{s in K_n} p(s, y_n) under the
// parameters of the E-step. Patches are summed in fixed blocks in a fixed order, so the sums do not
// depend on the thread count.
struct BscStats {
    BscStats() = default;
    BscStats(int D, int H);
    int D = 0, H = 0;
    std::vector<double> A, B;
    double y2 = 0.0, n_patches = 0.0, free_energy = 0.0;

    template <class F>
    void visit(F&& f) {
        f("A", Shape{size(D), size(H)}, A.data());
        f("B", Shape{size(H), size(H)}, B.data());
        f("y2", Shape{}, &y2);
        f("n_patches", Shape{}, &n_patches);
        f("free_energy", Shape{}, &free_energy);
    }

private:
    static std::size_t size(int n) { return static_cast<std::size_t>(n); }
};

class BscEvaluator {
public:
    // params (validated) and products must outlive the evaluator.
    BscEvaluator(const BscParams& params, const DenseProducts& products);

    // lpj = log p(s, y_n) - free_energy_constant(D, pi, sigma2)
    double lpj(std::size_t n, const std::int32_t* active, int k) const {
        const double* wty = products_.wty_row(n);
        double linear = 0.0, quadratic = 0.0;
        for (int i = 0; i < k; ++i) {
            const int a = active[i];
            linear += wty[a] * inv_sigma2_ + linear_term_[static_cast<std::size_t>(a)];
            const double* row = products_.WtW + static_cast<std::size_t>(a) * static_cast<std::size_t>(H_);
            for (int j = 0; j < i; ++j) quadratic += row[active[j]];
        }
        return -0.5 * products_.y2[n] * inv_sigma2_ + linear - quadratic * inv_sigma2_;
    }
    // out[h] = lpj of the state with latent h alone, for all H (what lpj gives, without its loops).
    void single_latent_lpj(std::size_t n, double* out) const {
        const double* wty = products_.wty_row(n);
        const double base = -0.5 * products_.y2[n] * inv_sigma2_;
        for (int h = 0; h < H_; ++h) out[h] = base + (wty[h] * inv_sigma2_ + linear_term_[static_cast<std::size_t>(h)]);
    }
    int n_latents() const { return H_; }
    double expected_active() const { return expected_active_; }
    void prefetch(std::size_t n) const { products_.prefetch(n); }

private:
    DenseProducts products_;
    int H_;
    double inv_sigma2_;
    double expected_active_;
    std::vector<double> linear_term_;  // log(pi/(1-pi)) - (W^T W)_hh / (2 sigma2)
};

// The model's kernels as the generic drivers and the bindings use them (see CONTRIBUTING.md).
struct Bsc {
    using Params = BscParams;
    using Stats = BscStats;
    using Evaluator = BscEvaluator;

    // Statistics of the patches Y (products.N, D) with states K (N, S, n_words) and their lpj (N, S).
    static Stats accumulate(const Params& params, const DenseProducts& products, const double* Y,
                            const std::uint64_t* K, const double* lpj, int S, const StopPoll& stop = {});

    // Posterior moments of the noise-free patch x = W s (N, D each): the mean W<s>_n and, where out's
    // pointers are not null, the variance and the third central moment of (Ws)_d. Given s, x is exact:
    // the moments depend on the patches only through lpj and read nothing of `products` but N.
    static constexpr bool moments_need_products = false;
    static void posterior_moments(const Params& params, const DenseProducts& products, const std::uint64_t* K,
                                  const double* lpj, int S, MomentArrays out, const StopPoll& stop = {});

    // Exact M-step for the truncated posterior: W = A B^-1 (regularised; latents never active keep their
    // old column), pi_h = B_hh / N (or their mean if shared_pi), sigma2 from the new W. Bounds applied.
    static Params m_step(const Params& old, const Stats& stats, bool shared_pi);
};

}  // namespace zs
