// Truncated posterior weights over a state set, shared by the models.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace zs {

// Patches per block of a deterministic (thread-count independent) reduction.
constexpr std::size_t kBlock = 256;

// q_s = exp(beta lpj_s) / sum_{s'} exp(beta lpj_s'); returns log sum_s exp(lpj_s) (at beta = 1).
// beta < 1 is a tempered posterior for annealing; beta = 1 the truncated posterior itself.
inline double truncated_posterior(const double* lpj, int S, double* q, double beta = 1.0) {
    double top = lpj[0];
    for (int s = 1; s < S; ++s) top = lpj[s] > top ? lpj[s] : top;
    if (!std::isfinite(top))
        throw std::invalid_argument("a row of lpj has no finite maximum (run an E-step before using the states)");
    double z = 0.0;
    for (int s = 0; s < S; ++s) {
        q[s] = std::exp(beta * (lpj[s] - top));
        z += q[s];
    }
    const double inv = 1.0 / z;
    for (int s = 0; s < S; ++s) q[s] *= inv;
    if (beta == 1.0) return top + std::log(z);
    double z1 = 0.0;
    for (int s = 0; s < S; ++s) z1 += std::exp(lpj[s] - top);
    return top + std::log(z1);
}

}  // namespace zs
