// What the dictionary models (y = W x + eps with binary or spike-and-slab x; BSC, SSSC) share: the sizes
// and fields of their parameters and statistics, the dense products their evaluators start from, the
// pieces of their exact M-steps, and the constant of their free energy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zs {

// The shape of a named field of a parameter set or of the statistics: {} a scalar, {n} a vector,
// {rows, cols} a row-major matrix. Models list their fields with visit(f), calling
// f(name, shape, pointer to the values) for each: the bindings convert every model the same way.
using Shape = std::vector<std::size_t>;

inline std::size_t shape_size(const Shape& shape) {
    std::size_t n = 1;
    for (std::size_t extent : shape) n *= extent;
    return n;
}

// Throws std::invalid_argument unless 1 <= D and 1 <= H <= limits::max_latents (before any allocation).
void check_dictionary_size(int D, int H);

// The dense products of patches Y (N, D) with the dictionary W (D, H), made once per E-step (a GEMM)
// and read by every kernel of the models: WtY = Y W (N, H), y2 = ||y_n||^2 (N,), WtW = W^T W (H, H).
// Views: the caller owns the arrays.
struct DenseProducts {
    const double* WtY = nullptr;
    const double* y2 = nullptr;
    const double* WtW = nullptr;
    std::size_t N = 0;
    int H = 0;

    const double* wty_row(std::size_t n) const { return WtY + n * static_cast<std::size_t>(H); }
    // Starts loading patch n's row of WtY: states touch it at scattered latents, so without this each
    // first touch of a cache line waits on memory. (An int loop over doubles: g++ 12 drops the same
    // loop written over byte offsets.)
    void prefetch(std::size_t n) const {
        const double* row = wty_row(n);
        for (int h = 0; h < H; h += 8) __builtin_prefetch(row + h);  // one 64-byte line per step
    }
};

// The part of log p(s, y_n) that the models' lpj leave out, the same for every patch and state:
// -D/2 log(2 pi sigma2) + sum_h log(1 - pi_h). F = sum_n log sum_{s in K_n} exp(lpj) + N * this.
double free_energy_constant(int D, const std::vector<double>& pi, double sigma2);

// W (D, H) solving W B = A on the latents whose activity exceeds 1e-12 of the largest (regularised
// Cholesky); latents that were never active carry no information and keep their column of W_old.
std::vector<double> solve_dictionary(const std::vector<double>& A, const std::vector<double>& B,
                                     const std::vector<double>& activity, const std::vector<double>& W_old, int D,
                                     int H);

// sigma2 = (sum ||y||^2 - 2 tr(W^T A) + tr(W^T W B)) / (N D), at least bounds::sigma2_min.
double noise_variance(const std::vector<double>& A, const std::vector<double>& B, const std::vector<double>& W,
                      double y2_sum, double n_patches, int D, int H);

// pi_h = s_sum_h / N (or their mean if shared), clamped to [pi_min, 1 - pi_min].
std::vector<double> prior_probabilities(const std::vector<double>& s_sum, double n_patches, bool shared);

// Throws std::invalid_argument unless W is finite, 0 < pi_h < 1 and sigma2 is positive and finite.
void check_dictionary_params(const std::vector<double>& W, const std::vector<double>& pi, double sigma2);

}  // namespace zs
