#include "zeroshot/sssc.hpp"

#include <cmath>
#include <stdexcept>

#include "zeroshot/linalg.hpp"

namespace zs {

SsscEvaluator::SsscEvaluator(const double* WtY, const double* y2, const double* WtW, const double* pi,
                             const double* mu, const double* psi, double sigma2, int H)
    : WtY_(WtY), y2_(y2), WtW_(WtW), mu_(mu), psi_(psi), H_(H), sigma2_(sigma2), expected_active_(0.0),
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

double SsscEvaluator::lpj(std::size_t n, const std::int32_t* a, int k) const {
    const double* wty = WtY_ + n * static_cast<std::size_t>(H_);
    const double inv_s2 = 1.0 / sigma2_;
    // Per-thread scratch: Lambda^-1 (k x k, then its Cholesky factor) and b = W_a^T r.
    thread_local std::vector<double> L, b, x;
    L.resize(static_cast<std::size_t>(k) * k);
    b.resize(static_cast<std::size_t>(k));

    double r2 = y2_[n], prior = 0.0, log_det_psi = 0.0;
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
        prior += log_odds_[ai];
        log_det_psi += std::log(psi_[ai]);
    }
    if (k == 0) return -0.5 * r2 * inv_s2;

    std::vector<double> fallback;
    const double* factor = L.data();
    if (!cholesky_factor(L.data(), k)) {  // numerically singular: regularise instead of failing
        for (int i = 0; i < k; ++i)
            for (int j = 0; j < k; ++j)
                L[static_cast<std::size_t>(i) * k + j] =
                    WtW_[static_cast<std::size_t>(a[i]) * H_ + a[j]] * inv_s2 + (i == j ? 1.0 / psi_[a[i]] : 0.0);
        fallback = regularised_cholesky(L.data(), k);
        factor = fallback.data();
    }
    double log_det_lambda_inv = 0.0;
    for (int i = 0; i < k; ++i) log_det_lambda_inv += 2.0 * std::log(factor[static_cast<std::size_t>(i) * k + i]);
    // b^T Lambda b with Lambda = (Lambda^-1)^-1: solve L L^T x = b, then b^T x.
    x.assign(b.begin(), b.end());
    cholesky_solve(factor, k, x.data());
    double quad = 0.0;
    for (int i = 0; i < k; ++i) quad += b[i] * x[i];

    const double mahalanobis = r2 * inv_s2 - quad * inv_s2 * inv_s2;
    return -0.5 * (log_det_lambda_inv + log_det_psi + mahalanobis) + prior;
}

}  // namespace zs
