// Pieces of the M-step shared by the models (sums over patches in, parameters out; bounds applied).
#pragma once

#include <vector>

namespace zs {

// W (D, H) solving W B = A on the latents whose activity exceeds 1e-12 of the largest (regularised
// Cholesky); latents that were never active carry no information and keep their column of W_old.
std::vector<double> solve_dictionary(const std::vector<double>& A, const std::vector<double>& B,
                                     const std::vector<double>& activity, const double* W_old, int D, int H);

// sigma2 = (sum ||y||^2 - 2 tr(W^T A) + tr(W^T W B)) / (N D), at least bounds::sigma2_min.
double noise_variance(const std::vector<double>& A, const std::vector<double>& B, const std::vector<double>& W,
                      double y2_sum, double n_patches, int D, int H);

// pi_h = s_sum_h / N (or their mean if shared), clamped to [pi_min, 1 - pi_min].
std::vector<double> prior_probabilities(const std::vector<double>& s_sum, double n_patches, bool shared);

}  // namespace zs
