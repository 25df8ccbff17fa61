// Truncated posterior weights over a state set, shared by the models.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace zs {

// Patches per block of a deterministic (thread-count independent) reduction.
constexpr std::size_t kBlock = 1024;

// q_s = exp(lpj_s) / sum_{s'} exp(lpj_s'); returns log sum_s exp(lpj_s).
inline double truncated_posterior(const double* lpj, int S, double* q) {
    double top = lpj[0];
    for (int s = 1; s < S; ++s) top = lpj[s] > top ? lpj[s] : top;
    if (!std::isfinite(top))
        throw std::invalid_argument("a row of lpj has no finite maximum (run an E-step before using the states)");
    double z = 0.0;
    for (int s = 0; s < S; ++s) {
        q[s] = std::exp(lpj[s] - top);
        z += q[s];
    }
    const double inv = 1.0 / z;
    for (int s = 0; s < S; ++s) q[s] *= inv;
    return top + std::log(z);
}

}  // namespace zs
