#include "zeroshot/model/dictionary.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "zeroshot/base/bounds.hpp"
#include "zeroshot/base/linalg.hpp"

namespace zs {

void check_dictionary_size(int D, int H) {
    if (D < 1) throw std::invalid_argument("D (pixels per patch) must be >= 1, got " + std::to_string(D));
    if (H < 1 || H > limits::max_latents)
        throw std::invalid_argument("H (latents) must lie in [1, " + std::to_string(limits::max_latents) + "], got " +
                                    std::to_string(H));
}

void check_dictionary_params(const std::vector<double>& W, const std::vector<double>& pi, double sigma2) {
    for (double w : W)
        if (!std::isfinite(w)) throw std::invalid_argument("W contains NaN or Inf");
    for (double p : pi)
        if (!(p > 0.0 && p < 1.0)) throw std::invalid_argument("pi must lie in (0, 1), got " + std::to_string(p));
    if (!(sigma2 > 0.0) || !std::isfinite(sigma2))
        throw std::invalid_argument("sigma2 must be positive and finite, got " + std::to_string(sigma2));
}

double free_energy_constant(int D, const std::vector<double>& pi, double sigma2) {
    constexpr double two_pi = 6.283185307179586;
    double log_prior_off = 0.0;
    for (double p : pi) log_prior_off += std::log1p(-p);
    return -0.5 * D * std::log(two_pi * sigma2) + log_prior_off;
}

std::vector<double> solve_dictionary(const std::vector<double>& A, const std::vector<double>& B,
                                     const std::vector<double>& activity, const std::vector<double>& W_old, int D,
                                     int H) {
    std::vector<double> W(W_old);
    const double largest = *std::max_element(activity.begin(), activity.end());
    std::vector<int> used;
    for (int h = 0; h < H; ++h)
        if (activity[h] > 1e-12 * std::max(largest, 1.0)) used.push_back(h);
    const int L = static_cast<int>(used.size());
    if (L == 0) return W;
    std::vector<double> BLL(static_cast<std::size_t>(L) * L);
    for (int i = 0; i < L; ++i)
        for (int j = 0; j < L; ++j)
            BLL[static_cast<std::size_t>(i) * L + j] = B[static_cast<std::size_t>(used[i]) * H + used[j]];
    const std::vector<double> factor = regularised_cholesky(BLL.data(), L);
    std::vector<double> rhs(static_cast<std::size_t>(L));
    for (int d = 0; d < D; ++d) {  // row d of W solves B_LL w = A_d,L
        for (int i = 0; i < L; ++i) rhs[i] = A[static_cast<std::size_t>(d) * H + used[i]];
        cholesky_solve(factor.data(), L, rhs.data());
        for (int i = 0; i < L; ++i) W[static_cast<std::size_t>(d) * H + used[i]] = rhs[i];
    }
    return W;
}

double noise_variance(const std::vector<double>& A, const std::vector<double>& B, const std::vector<double>& W,
                      double y2_sum, double n_patches, int D, int H) {
    double cross = 0.0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(D) * H; ++i) cross += W[i] * A[i];
    double quad = 0.0;
    for (int d = 0; d < D; ++d) {
        const double* w = W.data() + static_cast<std::size_t>(d) * H;
        for (int h = 0; h < H; ++h) {
            if (w[h] == 0.0) continue;
            const double* brow = B.data() + static_cast<std::size_t>(h) * H;
            double s = 0.0;
            for (int g = 0; g < H; ++g) s += brow[g] * w[g];
            quad += w[h] * s;
        }
    }
    const double sigma2 = (y2_sum - 2.0 * cross + quad) / (n_patches * D);
    if (!std::isfinite(sigma2)) throw std::runtime_error("M-step produced a non-finite sigma2");
    return std::max(sigma2, bounds::sigma2_min);
}

std::vector<double> prior_probabilities(const std::vector<double>& s_sum, double n_patches, bool shared) {
    const auto H = s_sum.size();
    std::vector<double> pi(H);
    double mean = 0.0;
    for (std::size_t h = 0; h < H; ++h) {
        pi[h] = s_sum[h] / n_patches;
        mean += pi[h] / static_cast<double>(H);
    }
    for (auto& p : pi) p = bounds::clamp_pi(shared ? mean : p);
    return pi;
}

}  // namespace zs
