// Log-joints computed directly from a patch y (D,) and W (D, H): the correctness check's reference for
// the kernels, which use W^T y and W^T W instead. Both return lpj with the kernels' constant
// (log p(s, y) + D/2 log(2 pi sigma2) - sum_h log(1 - pi_h)) and set `scale` to the size of the terms
// that cancel in the kernels' fast forms, against which a difference is judged.
#pragma once

#include <cstdint>
#include <vector>

namespace zs::bench {

// BSC: -||y - W s||^2 / (2 sigma2) + sum_{h in a} log(pi_h / (1 - pi_h)); O(D |a|).
double bsc_direct_lpj(const double* y, const double* W, int D, int H, const double* pi, double sigma2,
                      const std::int32_t* active, int k, double& scale);

// SSSC: sum_{h in a} log(pi_h / (1 - pi_h)) - (r^T C^-1 r + log|C| - D log sigma2) / 2 with the full
// D x D covariance C = sigma2 I + W_a Psi_a W_a^T and r = y - W_a mu_a (Cholesky, O(D^3)).
double sssc_direct_lpj(const double* y, const double* W, int D, int H, const double* pi, const double* mu,
                       const double* psi, double sigma2, const std::int32_t* active, int k,
                       std::vector<double>& scratch, double& scale);

}  // namespace zs::bench
