// Truncated posterior weights over a state set, shared by the models.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace zs {

// Starts loading a patch's row of W^T y (n_latents doubles): states touch it at scattered latents, so
// without this each first touch of a cache line waits on memory. (An int loop over doubles: g++ 12
// drops the same loop written over byte offsets.)
inline void prefetch_row(const double* row, int n_latents) {
    for (int h = 0; h < n_latents; h += 8) __builtin_prefetch(row + h);  // one 64-byte line per step
}

// Patches per block of a deterministic (thread-count independent) reduction.
constexpr std::size_t kBlock = 1024;

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
