#include "direct_lpj.hpp"

#include <cmath>
#include <cstddef>
#include <stdexcept>

#include "zeroshot/base/linalg.hpp"

namespace zs::bench {

namespace {

double log_odds(const double* pi, const std::int32_t* active, int k) {
    double sum = 0.0;
    for (int i = 0; i < k; ++i) sum += std::log(pi[active[i]] / (1.0 - pi[active[i]]));
    return sum;
}

}  // namespace

double bsc_direct_lpj(const double* y, const double* W, int D, int H, const double* pi, double sigma2,
                      const std::int32_t* active, int k, double& scale) {
    double residual2 = 0.0, y2 = 0.0, signal2 = 0.0;
    for (int d = 0; d < D; ++d) {
        const double* w = W + static_cast<std::size_t>(d) * H;
        double ws = 0.0;
        for (int i = 0; i < k; ++i) ws += w[active[i]];
        residual2 += (y[d] - ws) * (y[d] - ws);
        y2 += y[d] * y[d];
        signal2 += ws * ws;
    }
    const double prior = log_odds(pi, active, k);
    scale = 1.0 + (y2 + signal2) / (2.0 * sigma2) + std::fabs(prior);
    return -0.5 * residual2 / sigma2 + prior;
}

double sssc_direct_lpj(const double* y, const double* W, int D, int H, const double* pi, const double* mu,
                       const double* psi, double sigma2, const std::int32_t* active, int k, std::vector<double>& C,
                       double& scale) {
    const auto Dz = static_cast<std::size_t>(D);
    C.assign(Dz * Dz + Dz, 0.0);
    double* r = C.data() + Dz * Dz;  // the residual y - W_a mu_a, then L^-1 of it
    double y2 = 0.0, signal2 = 0.0;
    for (std::size_t d = 0; d < Dz; ++d) {
        const double* wd = W + d * H;
        double mean = 0.0;
        for (int i = 0; i < k; ++i) mean += wd[active[i]] * mu[active[i]];
        r[d] = y[d] - mean;
        y2 += y[d] * y[d];
        signal2 += mean * mean;
        for (std::size_t e = 0; e <= d; ++e) {  // lower triangle of sigma2 I + W_a Psi_a W_a^T
            const double* we = W + e * H;
            double c = d == e ? sigma2 : 0.0;
            for (int i = 0; i < k; ++i) c += wd[active[i]] * psi[active[i]] * we[active[i]];
            C[d * Dz + e] = c;
            C[e * Dz + d] = c;
        }
    }
    if (!cholesky_factor(C.data(), D)) throw std::runtime_error("direct SSSC lpj: covariance not positive definite");
    double log_det = 0.0, mahalanobis = 0.0;
    for (std::size_t d = 0; d < Dz; ++d) {  // forward substitution L x = r, in place
        double s = r[d];
        for (std::size_t e = 0; e < d; ++e) s -= C[d * Dz + e] * r[e];
        r[d] = s / C[d * Dz + d];
        mahalanobis += r[d] * r[d];
        log_det += 2.0 * std::log(C[d * Dz + d]);
    }
    const double prior = log_odds(pi, active, k);
    const double lpj = prior - 0.5 * (mahalanobis + log_det - D * std::log(sigma2));
    scale = 1.0 + (y2 + signal2) / sigma2 + std::fabs(lpj);
    return lpj;
}

}  // namespace zs::bench
