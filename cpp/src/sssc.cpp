#include "zeroshot/sssc.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "zeroshot/bitstate.hpp"
#include "zeroshot/bounds.hpp"
#include "zeroshot/linalg.hpp"
#include "zeroshot/moments.hpp"
#include "zeroshot/mstep.hpp"
#include "zeroshot/parallel.hpp"
#include "zeroshot/posterior.hpp"
#include "zeroshot/statistics.hpp"

namespace zs {

SsscEvaluator::SsscEvaluator(const double* WtY, const double* y2, const double* WtW, const double* pi, const double* mu,
                             const double* psi, double sigma2, int H)
    : WtY_(WtY),
      y2_(y2),
      WtW_(WtW),
      mu_(mu),
      psi_(psi),
      H_(H),
      sigma2_(sigma2),
      expected_active_(0.0),
      log_odds_(static_cast<std::size_t>(H)) {
    if (!(sigma2 > 0.0) || !std::isfinite(sigma2)) throw std::invalid_argument("sigma2 must be positive and finite");
    for (int h = 0; h < H; ++h) {
        if (!(pi[h] > 0.0 && pi[h] < 1.0)) throw std::invalid_argument("pi must lie in (0, 1)");
        if (!(psi[h] > 0.0) || !std::isfinite(psi[h])) throw std::invalid_argument("psi must be positive and finite");
        if (!std::isfinite(mu[h])) throw std::invalid_argument("mu must be finite");
        log_odds_[h] = std::log(pi[h] / (1.0 - pi[h]));
        expected_active_ += pi[h];
    }
}

double SsscEvaluator::factor_state(std::size_t n, const std::int32_t* a, int k, std::vector<double>& L,
                                   std::vector<double>& b) const {
    const double* wty = WtY_ + n * static_cast<std::size_t>(H_);
    const double inv_s2 = 1.0 / sigma2_;
    L.resize(static_cast<std::size_t>(k) * k);
    b.resize(static_cast<std::size_t>(k));
    double r2 = y2_[n];
    for (int i = 0; i < k; ++i) {
        const int ai = a[i];
        const double* row = WtW_ + static_cast<std::size_t>(ai) * H_;
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
                    WtW_[static_cast<std::size_t>(a[i]) * H_ + a[j]] * inv_s2 + (i == j ? 1.0 / psi_[a[i]] : 0.0);
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

void sssc_posterior_moments(const SsscEvaluator& model, const double* W, int D, const std::uint64_t* K,
                            const double* lpj, std::size_t N, int S, MomentArrays out) {
    const int H = model.n_latents();
    const std::vector<double> Wt = transposed(W, D, H);
    posterior_moments(K, lpj, N, S, D, H, /*has_conditional_variance=*/true, out,
                      [&model, &Wt, D] { return SsscStateMoments(model, Wt, D); });
}

SsscParams sssc_m_step(const SsscStats& st, double n_patches, const double* W_old, const double* mu_old,
                       const double* psi_old, int D, int H, bool shared_pi) {
    if (!(n_patches > 0)) throw std::invalid_argument("M-step needs at least one patch");
    SsscParams p;
    p.W = solve_dictionary(st.A, st.B, st.s_sum, W_old, D, H);
    p.pi = prior_probabilities(st.s_sum, n_patches, shared_pi);
    p.sigma2 = noise_variance(st.A, st.B, p.W, st.y2, n_patches, D, H);
    p.mu.assign(mu_old, mu_old + H);
    p.psi.assign(psi_old, psi_old + H);
    const double largest = *std::max_element(st.s_sum.begin(), st.s_sum.end());
    for (int h = 0; h < H; ++h) {
        const double weight = st.s_sum[h];
        if (!(weight > 1e-12 * std::max(largest, 1.0))) continue;
        p.mu[h] = st.x_sum[h] / weight;
        const double second = st.B[static_cast<std::size_t>(h) * H + h] / weight;
        p.psi[h] = std::max(second - p.mu[h] * p.mu[h], bounds::psi_min);
    }
    return p;
}

SsscStats sssc_accumulate(const SsscEvaluator& model, const double* Y, std::size_t N, int D, const std::uint64_t* K,
                          const double* lpj, int S) {
    const int H = model.n_latents();
    PosteriorSums sums = posterior_sums(Y, N, D, H, K, lpj, S, [&model, H] {
        return [&model, H, kappa = std::vector<double>(static_cast<std::size_t>(H)), Lambda = std::vector<double>()](
                   std::size_t n, const std::int32_t* active, int k, double w, LatentWeights& weights,
                   PosteriorSums& block) mutable {
            Lambda.resize(static_cast<std::size_t>(k) * k);
            model.slab_posterior(n, active, k, kappa.data(), Lambda.data());
            for (int i = 0; i < k; ++i) {
                weights.add(active[i], w * kappa[i]);  // <x>
                block.s_sum[active[i]] += w;           // <s>
                double* row = block.B.data() + static_cast<std::size_t>(active[i]) * H;
                for (int j = 0; j < k; ++j)  // <x x^T> = sum_s q(s) (Lambda_s + kappa_s kappa_s^T)
                    row[active[j]] += w * (Lambda[static_cast<std::size_t>(i) * k + j] + kappa[i] * kappa[j]);
            }
        };
    });
    SsscStats total;
    total.A = transposed(sums.At.data(), H, D);
    total.B = std::move(sums.B);
    total.x_sum = std::move(sums.e_sum);
    total.s_sum = std::move(sums.s_sum);
    total.lse = sums.lse;
    total.y2 = sums.y2;
    return total;
}

}  // namespace zs
