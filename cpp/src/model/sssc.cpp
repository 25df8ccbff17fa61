#include "zeroshot/model/sssc.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/base/bounds.hpp"
#include "zeroshot/base/linalg.hpp"
#include "zeroshot/loops/moments.hpp"
#include "zeroshot/loops/statistics.hpp"

namespace zs {

SsscParams::SsscParams(int D_, int H_) : D(D_), H(H_) {
    check_dictionary_size(D, H);
    W.assign(size(D) * size(H), 0.0);
    pi.assign(size(H), 0.0);
    mu.assign(size(H), 0.0);
    psi.assign(size(H), 0.0);
}

void SsscParams::validate() const {
    check_dictionary_size(D, H);
    check_dictionary_params(W, pi, sigma2);
    for (double m : mu)
        if (!std::isfinite(m)) throw std::invalid_argument("mu must be finite");
    for (double p : psi)
        if (!(p > 0.0) || !std::isfinite(p)) throw std::invalid_argument("psi must be positive and finite");
}

SsscStats::SsscStats(int D_, int H_) : D(D_), H(H_) {
    check_dictionary_size(D, H);
    A.assign(size(D) * size(H), 0.0);
    B.assign(size(H) * size(H), 0.0);
    x_sum.assign(size(H), 0.0);
    s_sum.assign(size(H), 0.0);
}

SsscEvaluator::SsscEvaluator(const SsscParams& params, const DenseProducts& products)
    : products_(products),
      mu_(params.mu.data()),
      psi_(params.psi.data()),
      H_(params.H),
      sigma2_(params.sigma2),
      expected_active_(0.0),
      log_odds_(static_cast<std::size_t>(params.H)),
      single_constant_(static_cast<std::size_t>(params.H)),
      single_g_mu_(static_cast<std::size_t>(params.H)),
      single_weight_(static_cast<std::size_t>(params.H)) {
    const auto H = static_cast<std::size_t>(H_);
    for (std::size_t h = 0; h < H; ++h) {
        const double p = params.pi[h];
        log_odds_[h] = std::log(p / (1.0 - p));
        expected_active_ += p;
        const double g = products.WtW[h * H + h];
        const double lambda_inv = g / sigma2_ + 1.0 / psi_[h];
        single_constant_[h] = log_odds_[h] - 0.5 * (std::log(lambda_inv * psi_[h]) + mu_[h] * mu_[h] * g / sigma2_);
        single_g_mu_[h] = g * mu_[h];
        single_weight_[h] = 0.5 / (sigma2_ * sigma2_ * lambda_inv);
    }
}

// lpj with k = 1: r2 = y2 - 2 mu wty + mu^2 g, b = wty - g mu, Lambda = 1 / lambda^-1, so
// lpj = -(log(lambda^-1 psi) + r2 / sigma2 - b^2 / (sigma2^2 lambda^-1)) / 2 + log_odds.
void SsscEvaluator::single_latent_lpj(std::size_t n, double* out) const {
    const double* wty = products_.wty_row(n);
    const double inv_s2 = 1.0 / sigma2_;
    const double base = -0.5 * products_.y2[n] * inv_s2;
    for (std::size_t h = 0; h < static_cast<std::size_t>(H_); ++h) {
        const double b = wty[h] - single_g_mu_[h];
        out[h] = base + mu_[h] * wty[h] * inv_s2 + single_constant_[h] + single_weight_[h] * b * b;
    }
}

double SsscEvaluator::factor_state(std::size_t n, const std::int32_t* a, int k, std::vector<double>& L,
                                   std::vector<double>& b) const {
    const double* wty = products_.wty_row(n);
    const double inv_s2 = 1.0 / sigma2_;
    L.resize(static_cast<std::size_t>(k) * k);
    b.resize(static_cast<std::size_t>(k));
    double r2 = products_.y2[n];
    for (int i = 0; i < k; ++i) {
        const int ai = a[i];
        const double* row = products_.WtW + static_cast<std::size_t>(ai) * static_cast<std::size_t>(H_);
        double wtw_mu = 0.0;  // ((W^T W)_aa mu_a)_i
        for (int j = 0; j < k; ++j) {
            const double g = row[a[j]];
            wtw_mu += g * mu_[a[j]];
            L[static_cast<std::size_t>(i) * k + j] = g * inv_s2;
        }
        L[static_cast<std::size_t>(i) * k + i] += 1.0 / psi_[ai];
        b[i] = wty[ai] - wtw_mu;
        r2 += -2.0 * mu_[ai] * wty[ai] + mu_[ai] * wtw_mu;
    }
    if (k > 0 && !cholesky_factor(L.data(), k)) {  // numerically singular: regularise instead of failing
        std::vector<double> system(static_cast<std::size_t>(k) * k);
        for (int i = 0; i < k; ++i)
            for (int j = 0; j < k; ++j)
                system[static_cast<std::size_t>(i) * k + j] =
                    products_.WtW[static_cast<std::size_t>(a[i]) * static_cast<std::size_t>(H_) +
                                  static_cast<std::size_t>(a[j])] *
                        inv_s2 +
                    (i == j ? 1.0 / psi_[a[i]] : 0.0);
        L = regularised_cholesky(system.data(), k);
    }
    return r2;
}

double SsscEvaluator::lpj(std::size_t n, const std::int32_t* a, int k) const {
    thread_local std::vector<double> L, b, x;  // per-thread scratch
    const double r2 = factor_state(n, a, k, L, b);
    const double inv_s2 = 1.0 / sigma2_;
    if (k == 0) return -0.5 * r2 * inv_s2;
    double prior = 0.0, log_det_psi = 0.0, log_det_lambda_inv = 0.0;
    for (int i = 0; i < k; ++i) {
        prior += log_odds_[a[i]];
        log_det_psi += std::log(psi_[a[i]]);
        log_det_lambda_inv += 2.0 * std::log(L[static_cast<std::size_t>(i) * k + i]);
    }
    // b^T Lambda b: solve L L^T x = b, then b^T x.
    x.assign(b.begin(), b.end());
    cholesky_solve(L.data(), k, x.data());
    double quad = 0.0;
    for (int i = 0; i < k; ++i) quad += b[i] * x[i];
    const double mahalanobis = r2 * inv_s2 - quad * inv_s2 * inv_s2;
    return -0.5 * (log_det_lambda_inv + log_det_psi + mahalanobis) + prior;
}

void SsscEvaluator::slab_mean_and_factor(std::size_t n, const std::int32_t* a, int k, double* kappa,
                                         std::vector<double>& L) const {
    thread_local std::vector<double> b;
    factor_state(n, a, k, L, b);
    // kappa = mu_a + Lambda b / sigma2
    cholesky_solve(L.data(), k, b.data());
    for (int i = 0; i < k; ++i) kappa[i] = mu_[a[i]] + b[i] / sigma2_;
}

void SsscEvaluator::slab_posterior(std::size_t n, const std::int32_t* a, int k, double* kappa, double* Lambda) const {
    thread_local std::vector<double> L, column;
    slab_mean_and_factor(n, a, k, kappa, L);
    // Lambda = (L L^T)^-1, column by column.
    for (int j = 0; j < k; ++j) {
        column.assign(static_cast<std::size_t>(k), 0.0);
        column[j] = 1.0;
        cholesky_solve(L.data(), k, column.data());
        for (int i = 0; i < k; ++i) Lambda[static_cast<std::size_t>(i) * k + j] = column[i];
    }
}

namespace {

// One state's conditional moments of the noise-free patch: mu = W_a kappa and, if c is not null,
// c_d = (W_a Lambda W_a^T)_dd = ||L^-1 w_d||^2 with w_d the d-th row of W_a. The forward substitution
// runs for all pixels at once, row i of V = L^-1 W_a^T at a time: O(D k^2 / 2), sums of squares.
class SsscStateMoments {
public:
    SsscStateMoments(const SsscEvaluator& model, const std::vector<double>& Wt, int D)
        : model_(model), Wt_(Wt), D_(D), kappa_(static_cast<std::size_t>(model.n_latents())) {}

    void operator()(std::size_t n, const std::int32_t* active, int k, double* mu, double* c) {
        model_.slab_mean_and_factor(n, active, k, kappa_.data(), L_);
        const auto D = static_cast<std::size_t>(D_);
        std::fill(mu, mu + D, 0.0);
        for (int i = 0; i < k; ++i) {
            const double* col = column(active[i]);
            for (std::size_t d = 0; d < D; ++d) mu[d] += kappa_[i] * col[d];
        }
        if (!c) return;
        std::fill(c, c + D, 0.0);
        V_.resize(static_cast<std::size_t>(k) * D);
        for (int i = 0; i < k; ++i) {
            double* vi = V_.data() + i * D;
            const double* col = column(active[i]);
            std::copy(col, col + D, vi);
            const double* Li = L_.data() + static_cast<std::size_t>(i) * k;
            for (int j = 0; j < i; ++j) {
                const double* vj = V_.data() + j * D;
                for (std::size_t d = 0; d < D; ++d) vi[d] -= Li[j] * vj[d];
            }
            const double inv = 1.0 / Li[i];
            for (std::size_t d = 0; d < D; ++d) {
                vi[d] *= inv;
                c[d] += vi[d] * vi[d];
            }
        }
    }

private:
    const double* column(int h) const { return Wt_.data() + static_cast<std::size_t>(h) * D_; }

    const SsscEvaluator& model_;
    const std::vector<double>& Wt_;  // (H, D): columns of W contiguous
    int D_;
    std::vector<double> kappa_, L_, V_;
};

}  // namespace

void Sssc::posterior_moments(const SsscParams& params, const DenseProducts& products, const std::uint64_t* K,
                             const double* lpj, int S, MomentArrays out, const StopPoll& stop) {
    const int D = params.D, H = params.H;
    const SsscEvaluator model(params, products);
    const std::vector<double> Wt = transposed(params.W.data(), D, H);
    zs::posterior_moments(
        K, lpj, products.N, S, D, H, /*has_conditional_variance=*/true, out,
        [&model, &Wt, D] { return SsscStateMoments(model, Wt, D); }, stop);
}

SsscParams Sssc::m_step(const SsscParams& old, const SsscStats& st, bool shared_pi) {
    if (!(st.n_patches > 0)) throw std::invalid_argument("M-step needs at least one patch");
    const int D = old.D, H = old.H;
    const auto h_size = static_cast<std::size_t>(H);
    SsscParams p;
    p.D = D;
    p.H = H;
    p.W = solve_dictionary(st.A, st.B, st.s_sum, old.W, D, H);
    p.pi = prior_probabilities(st.s_sum, st.n_patches, shared_pi);
    p.sigma2 = noise_variance(st.A, st.B, p.W, st.y2, st.n_patches, D, H);
    p.mu = old.mu;
    p.psi = old.psi;
    const double largest = *std::max_element(st.s_sum.begin(), st.s_sum.end());
    for (std::size_t h = 0; h < h_size; ++h) {
        const double weight = st.s_sum[h];
        if (!(weight > 1e-12 * std::max(largest, 1.0))) continue;
        p.mu[h] = st.x_sum[h] / weight;
        const double second = st.B[h * h_size + h] / weight;
        p.psi[h] = std::max(second - p.mu[h] * p.mu[h], bounds::psi_min);
    }
    return p;
}

SsscStats Sssc::accumulate(const SsscParams& params, const DenseProducts& products, const double* Y,
                           const std::uint64_t* K, const double* lpj, int S, const StopPoll& stop) {
    const int D = params.D, H = params.H;
    const auto h_size = static_cast<std::size_t>(H);
    const SsscEvaluator model(params, products);
    PosteriorSums sums = posterior_sums(
        Y, products.N, D, H, K, lpj, S,
        [&model, h_size] {
            return [&model, h_size, kappa = std::vector<double>(h_size), Lambda = std::vector<double>()](
                       std::size_t n, const std::int32_t* active, int k, double w, LatentWeights& weights,
                       PosteriorSums& block) mutable {
                const auto k_size = static_cast<std::size_t>(k);
                Lambda.resize(k_size * k_size);
                model.slab_posterior(n, active, k, kappa.data(), Lambda.data());
                for (std::size_t i = 0; i < k_size; ++i) {
                    const auto ai = static_cast<std::size_t>(active[i]);
                    weights.add(active[i], w * kappa[i]);  // <x>
                    block.s_sum[ai] += w;                  // <s>
                    double* row = block.B.data() + ai * h_size;
                    for (std::size_t j = 0; j < k_size; ++j)  // <x x^T> = sum_s q(s) (Lambda_s + kappa_s kappa_s^T)
                        row[active[j]] += w * (Lambda[i * k_size + j] + kappa[i] * kappa[j]);
                }
            };
        },
        stop);
    SsscStats total;
    total.D = D;
    total.H = H;
    total.A = transposed(sums.At.data(), H, D);
    total.B = std::move(sums.B);
    total.x_sum = std::move(sums.e_sum);
    total.s_sum = std::move(sums.s_sum);
    total.y2 = sums.y2;
    total.n_patches = static_cast<double>(products.N);
    total.free_energy = sums.lse + static_cast<double>(products.N) * free_energy_constant(D, params.pi, params.sigma2);
    return total;
}

}  // namespace zs
