// Binary sparse coding: y = W s + eps, s_h ~ Bernoulli(pi_h), eps ~ N(0, sigma2 I).
// Log-joints use the fast form ||y - Ws||^2 = ||y||^2 - 2 s^T (W^T y) + s^T (W^T W) s.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "zeroshot/moments.hpp"
#include "zeroshot/posterior.hpp"

namespace zs {

class BscEvaluator {
public:
    // WtY: (N, H) = Y W, y2: (N,) = ||y_n||^2, WtW: (H, H), pi: (H,). Pointers must outlive the evaluator.
    BscEvaluator(const double* WtY, const double* y2, const double* WtW, const double* pi, double sigma2, int H);

    // lpj = log p(s, y_n) + D/2 log(2 pi sigma2) - sum_h log(1 - pi_h)
    double lpj(std::size_t n, const std::int32_t* active, int k) const {
        const double* wty = WtY_ + n * static_cast<std::size_t>(H_);
        double linear = 0.0, quadratic = 0.0;
        for (int i = 0; i < k; ++i) {
            const int a = active[i];
            linear += wty[a] * inv_sigma2_ + linear_term_[a];
            const double* row = WtW_ + static_cast<std::size_t>(a) * H_;
            for (int j = 0; j < i; ++j) quadratic += row[active[j]];
        }
        return -0.5 * y2_[n] * inv_sigma2_ + linear - quadratic * inv_sigma2_;
    }
    int n_latents() const { return H_; }
    double expected_active() const { return expected_active_; }

    void prefetch(std::size_t n) const { prefetch_row(WtY_ + n * static_cast<std::size_t>(H_), H_); }

private:
    const double* WtY_;
    const double* y2_;
    const double* WtW_;
    int H_;
    double inv_sigma2_;
    double expected_active_;
    std::vector<double> linear_term_;  // log(pi/(1-pi)) - (W^T W)_hh / (2 sigma2)
};

// Sufficient statistics of the M-step, summed over patches: A = sum_n y_n <s>_n^T (D, H),
// B = sum_n <s s^T>_n (H, H), lse = sum_n log sum_{s in K_n} exp(lpj), y2 = sum_n ||y_n||^2.
// Patches are summed in fixed blocks in a fixed order, so the sums do not depend on the thread count.
struct BscStats {
    std::vector<double> A, B;
    double lse = 0.0;
    double y2 = 0.0;
};
BscStats bsc_accumulate(const double* Y, std::size_t N, int D, int H, const std::uint64_t* K, const double* lpj, int S);

// Posterior moments of the noise-free patch x = W s (N, D each), W (D, H): the mean W<s>_n and, where
// out's pointers are not null, the variance and the third central moment of (Ws)_d.
void bsc_posterior_moments(const double* W, int D, int H, const std::uint64_t* K, const double* lpj, std::size_t N,
                           int S, MomentArrays out);

struct BscParams {
    std::vector<double> W, pi;
    double sigma2 = 1.0;
};
// Exact M-step for the truncated posterior: W = A B^-1 (regularised; latents never active keep their
// old column), pi_h = B_hh / N (or their mean if shared_pi), sigma2 from the new W. Bounds applied.
BscParams bsc_m_step(const BscStats& stats, double n_patches, const double* W_old, int D, int H, bool shared_pi);

}  // namespace zs
