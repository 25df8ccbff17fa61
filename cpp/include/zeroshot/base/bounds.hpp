// Parameter bounds and size limits, in one place for every model and binding.
#pragma once

#include <cstdint>

namespace zs::bounds {

constexpr double pi_min = 1e-6;        // pi_h in [pi_min, 1 - pi_min]
constexpr double sigma2_min = 1e-10;   // sigma^2 >= sigma2_min (data are scaled to unit range)
constexpr double psi_min = 1e-10;      // slab variances (SSSC)
constexpr double ridge_start = 1e-10;  // relative ridge of a regularised solve, raised until it succeeds

inline double clamp_pi(double p) {
    return p < pi_min ? pi_min : (p > 1.0 - pi_min ? 1.0 - pi_min : p);
}

}  // namespace zs::bounds

namespace zs::limits {

// Sizes above these are refused before anything is allocated: they are far beyond any useful setting
// (defaults: H = 512, S = 60, 60 children) and keep every size and index product inside 64 bits.
constexpr int max_latents = 1 << 16;  // H
constexpr int max_states = 1 << 20;   // S per patch
// Children one patch may get in one E-step (children per generation x generations): the state pool of
// a thread holds that many states (16 MiB of hash table at this limit).
constexpr std::int64_t max_children = 1 << 20;
// OpenMP threads: a fixed cap rather than a multiple of the cores, so that a setting means the same on
// every machine; libgomp fails or crashes the process long before such counts would help.
constexpr int max_threads = 1024;

}  // namespace zs::limits
