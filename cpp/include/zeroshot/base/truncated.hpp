// The truncated posterior over a state set K_n: q_s proportional to exp(lpj_s) on K_n, 0 elsewhere.
#pragma once

#include <cmath>
#include <stdexcept>

namespace zs {

// Weights below exp(-30) ~ 1e-13 of the largest are set to 0 without calling exp: with S states the
// dropped mass is below S * 1e-13 of the total, far under the tolerance any use of q has, and the
// statistics skip those states (most of K_n late in training).
constexpr double kNegligibleLogWeight = -30.0;

// q_s = exp(lpj_s) / sum_{s'} exp(lpj_s'); returns log sum_s exp(lpj_s).
inline double truncated_posterior(const double* lpj, int S, double* q) {
    double top = lpj[0];
    for (int s = 1; s < S; ++s) top = lpj[s] > top ? lpj[s] : top;
    if (!std::isfinite(top))
        throw std::invalid_argument("a row of lpj has no finite maximum (run an E-step before using the states)");
    double z = 0.0;
    for (int s = 0; s < S; ++s) {
        const double log_ratio = lpj[s] - top;
        q[s] = log_ratio < kNegligibleLogWeight ? 0.0 : std::exp(log_ratio);
        z += q[s];
    }
    const double inv = 1.0 / z;
    for (int s = 0; s < S; ++s) q[s] *= inv;
    return top + std::log(z);
}

}  // namespace zs
