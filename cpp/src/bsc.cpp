#include "zeroshot/bsc.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "zeroshot/bitstate.hpp"
#include "zeroshot/bounds.hpp"
#include "zeroshot/moments.hpp"
#include "zeroshot/mstep.hpp"
#include "zeroshot/parallel.hpp"
#include "zeroshot/posterior.hpp"
#include "zeroshot/statistics.hpp"

namespace zs {

BscEvaluator::BscEvaluator(const double* WtY, const double* y2, const double* WtW, const double* pi, double sigma2,
                           int H)
    : WtY_(WtY),
      y2_(y2),
      WtW_(WtW),
      H_(H),
      inv_sigma2_(1.0 / sigma2),
      expected_active_(0.0),
      linear_term_(static_cast<std::size_t>(H)) {
    if (!(sigma2 > 0.0) || !std::isfinite(sigma2)) throw std::invalid_argument("sigma2 must be positive and finite");
    for (int h = 0; h < H; ++h) {
        if (!(pi[h] > 0.0 && pi[h] < 1.0)) throw std::invalid_argument("pi must lie in (0, 1)");
        linear_term_[h] =
            std::log(pi[h] / (1.0 - pi[h])) - 0.5 * WtW[static_cast<std::size_t>(h) * H + h] * inv_sigma2_;
        expected_active_ += pi[h];
    }
}

BscStats bsc_accumulate(const double* Y, std::size_t N, int D, int H, const std::uint64_t* K, const double* lpj,
                        int S) {
    PosteriorSums sums = posterior_sums(Y, N, D, H, K, lpj, S, [H] {
        return [H](std::size_t, const std::int32_t* active, int k, double w, LatentWeights& weights,
                   PosteriorSums& block) {
            for (int i = 0; i < k; ++i) {
                weights.add(active[i], w);  // <s>
                double* row = block.B.data() + static_cast<std::size_t>(active[i]) * H;
                for (int j = 0; j <= i; ++j) row[active[j]] += w;  // <s s^T>, lower triangle
            }
        };
    });
    for (int i = 0; i < H; ++i)
        for (int j = 0; j < i; ++j)
            sums.B[static_cast<std::size_t>(j) * H + i] = sums.B[static_cast<std::size_t>(i) * H + j];
    BscStats stats;
    stats.A = transposed(sums.At.data(), H, D);
    stats.B = std::move(sums.B);
    stats.lse = sums.lse;
    stats.y2 = sums.y2;
    return stats;
}

void bsc_posterior_moments(const double* W, int D, int H, const std::uint64_t* K, const double* lpj, std::size_t N,
                           int S, MomentArrays out) {
    const std::vector<double> Wt = transposed(W, D, H);  // (H, D): columns of W contiguous
    // Given s, x = W s exactly: the conditional mean is W s, there is no conditional variance.
    posterior_moments(K, lpj, N, S, D, H, /*has_conditional_variance=*/false, out, [&Wt, D] {
        return [&Wt, D](std::size_t, const std::int32_t* active, int k, double* mu, double*) {
            std::fill(mu, mu + D, 0.0);
            for (int i = 0; i < k; ++i) {
                const double* col = Wt.data() + static_cast<std::size_t>(active[i]) * D;
                for (int d = 0; d < D; ++d) mu[d] += col[d];
            }
        };
    });
}

BscParams bsc_m_step(const BscStats& stats, double n_patches, const double* W_old, int D, int H, bool shared_pi) {
    if (!(n_patches > 0)) throw std::invalid_argument("M-step needs at least one patch");
    std::vector<double> s_sum(static_cast<std::size_t>(H));  // <s_h s_h> = <s_h>: the diagonal of B
    for (int h = 0; h < H; ++h) s_sum[h] = stats.B[static_cast<std::size_t>(h) * H + h];
    BscParams p;
    p.W = solve_dictionary(stats.A, stats.B, s_sum, W_old, D, H);
    p.pi = prior_probabilities(s_sum, n_patches, shared_pi);
    p.sigma2 = noise_variance(stats.A, stats.B, p.W, stats.y2, n_patches, D, H);
    return p;
}

}  // namespace zs
