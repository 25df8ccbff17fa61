#include "zeroshot/model/bsc.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/base/linalg.hpp"
#include "zeroshot/loops/moments.hpp"
#include "zeroshot/loops/statistics.hpp"

namespace zs {

BscParams::BscParams(int D_, int H_) : D(D_), H(H_) {
    check_dictionary_size(D, H);
    W.assign(size(D) * size(H), 0.0);
    pi.assign(size(H), 0.0);
}

void BscParams::validate() const {
    check_dictionary_size(D, H);
    check_dictionary_params(W, pi, sigma2);
}

BscStats::BscStats(int D_, int H_) : D(D_), H(H_) {
    check_dictionary_size(D, H);
    A.assign(size(D) * size(H), 0.0);
    B.assign(size(H) * size(H), 0.0);
}

BscEvaluator::BscEvaluator(const BscParams& params, const DenseProducts& products)
    : products_(products),
      H_(params.H),
      inv_sigma2_(1.0 / params.sigma2),
      expected_active_(0.0),
      linear_term_(static_cast<std::size_t>(params.H)) {
    const auto H = static_cast<std::size_t>(H_);
    for (std::size_t h = 0; h < H; ++h) {
        const double p = params.pi[h];
        linear_term_[h] = std::log(p / (1.0 - p)) - 0.5 * products.WtW[h * H + h] * inv_sigma2_;
        expected_active_ += p;
    }
}

BscStats Bsc::accumulate(const BscParams& params, const DenseProducts& products, const double* Y,
                         const std::uint64_t* K, const double* lpj, int S, const StopPoll& stop) {
    const int D = params.D, H = params.H;
    const auto h_size = static_cast<std::size_t>(H);
    PosteriorSums sums = posterior_sums(
        Y, products.N, D, H, K, lpj, S,
        [h_size] {
            return [h_size](std::size_t, const std::int32_t* active, int k, double w, LatentWeights& weights,
                            PosteriorSums& block) {
                for (int i = 0; i < k; ++i) {
                    weights.add(active[i], w);  // <s>
                    double* row = block.B.data() + static_cast<std::size_t>(active[i]) * h_size;
                    for (int j = 0; j <= i; ++j) row[active[j]] += w;  // <s s^T>, lower triangle
                }
            };
        },
        stop);
    for (std::size_t i = 0; i < h_size; ++i)
        for (std::size_t j = 0; j < i; ++j) sums.B[j * h_size + i] = sums.B[i * h_size + j];
    BscStats stats;
    stats.D = D;
    stats.H = H;
    stats.A = transposed(sums.At.data(), H, D);
    stats.B = std::move(sums.B);
    stats.y2 = sums.y2;
    stats.n_patches = static_cast<double>(products.N);
    stats.free_energy = sums.lse + static_cast<double>(products.N) * free_energy_constant(D, params.pi, params.sigma2);
    return stats;
}

void Bsc::posterior_moments(const BscParams& params, const DenseProducts& products, const std::uint64_t* K,
                            const double* lpj, int S, MomentArrays out, const StopPoll& stop) {
    const int D = params.D, H = params.H;
    const std::vector<double> Wt = transposed(params.W.data(), D, H);  // (H, D): columns of W contiguous
    const auto row = static_cast<std::size_t>(D);
    // Given s, x = W s exactly: the conditional mean is W s, there is no conditional variance.
    zs::posterior_moments(
        K, lpj, products.N, S, D, H, /*has_conditional_variance=*/false, out,
        [&Wt, row] {
            return [&Wt, row](std::size_t, const std::int32_t* active, int k, double* mu, double*) {
                std::fill(mu, mu + row, 0.0);
                for (int i = 0; i < k; ++i) {
                    const double* col = Wt.data() + static_cast<std::size_t>(active[i]) * row;
                    for (std::size_t d = 0; d < row; ++d) mu[d] += col[d];
                }
            };
        },
        stop);
}

BscParams Bsc::m_step(const BscParams& old, const BscStats& stats, bool shared_pi) {
    if (!(stats.n_patches > 0)) throw std::invalid_argument("M-step needs at least one patch");
    const int D = old.D, H = old.H;
    const auto h_size = static_cast<std::size_t>(H);
    std::vector<double> s_sum(h_size);  // <s_h s_h> = <s_h>: the diagonal of B
    for (std::size_t h = 0; h < h_size; ++h) s_sum[h] = stats.B[h * h_size + h];
    BscParams p;
    p.D = D;
    p.H = H;
    p.W = solve_dictionary(stats.A, stats.B, s_sum, old.W, D, H);
    p.pi = prior_probabilities(s_sum, stats.n_patches, shared_pi);
    p.sigma2 = noise_variance(stats.A, stats.B, p.W, stats.y2, stats.n_patches, D, H);
    return p;
}

}  // namespace zs
