// Spike-and-slab sparse coding: s_h ~ Bernoulli(pi_h), z ~ N(mu, diag(psi)), y = W (s * z) + eps,
// eps ~ N(0, sigma2 I). For the active set a of s, p(y | s) = N(y; W_a mu_a, C_s) with
// C_s = sigma2 I + W_a Psi_a W_a^T, evaluated without any D x D matrix through Woodbury and the
// determinant lemma from W^T y and W^T W: O(|a|^3) per state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zs {

class SsscEvaluator {
public:
    // WtY: (N, H), y2: (N,), WtW: (H, H), pi, mu, psi: (H,). Pointers must outlive the evaluator.
    SsscEvaluator(const double* WtY, const double* y2, const double* WtW, const double* pi, const double* mu,
                  const double* psi, double sigma2, int H);

    // lpj = log p(s, y_n) + D/2 log(2 pi sigma2) - sum_h log(1 - pi_h)  (the same constant as BSC).
    double lpj(std::size_t n, const std::int32_t* active, int k) const;

    int n_latents() const { return H_; }
    double expected_active() const { return expected_active_; }
    void prefetch(std::size_t n) const {
        const double* row = WtY_ + n * static_cast<std::size_t>(H_);
        for (int h = 0; h < H_; h += 8) __builtin_prefetch(row + h);
    }

private:
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

}  // namespace zs
