// Parameter bounds, in one place for every model.
#pragma once

namespace zs::bounds {

constexpr double pi_min = 1e-6;        // pi_h in [pi_min, 1 - pi_min]
constexpr double sigma2_min = 1e-10;   // sigma^2 >= sigma2_min (data are scaled to unit range)
constexpr double psi_min = 1e-10;      // slab variances (SSSC)
constexpr double ridge_start = 1e-10;  // relative ridge of a regularised solve, raised until it succeeds

inline double clamp_pi(double p) {
    return p < pi_min ? pi_min : (p > 1.0 - pi_min ? 1.0 - pi_min : p);
}

}  // namespace zs::bounds
