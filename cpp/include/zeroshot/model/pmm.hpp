// The Poisson mixture model (Salwig, Drefs & Lücke 2024): each patch y (D,) of counts from one of C
// components, p(c) = pi_c, p(y | c) = prod_d Poisson(y_d; lambda_cd). Truncated EM keeps the S best
// components K_n of patch n (int32 indices, (N, S)) with their full log-joints lpj (N, S):
//   log p(y, c) = log pi_c + sum_d (y_d log lambda_cd - lambda_cd) - sum_d lgamma(y_d + 1).
// The y-dependent part of all components is one GEMM, G = Y (log Lambda)^T (N, C), made by the caller;
// these kernels select the best S per patch, sum the M-step statistics and give the posterior moments.
// The M-step itself (pi_c = sum_n q_n(c) / N, lambda_c = sum_n q_n(c) y_n / sum_n q_n(c)) is C x D work
// and lives in Python.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "zeroshot/base/parallel.hpp"
#include "zeroshot/loops/moments.hpp"

namespace zs {

// The top-S selection of every patch: G (N, C) = Y (log Lambda)^T, offset (C,) = log pi_c - sum_d lambda_cd,
// Y (N, D) for the sum_d lgamma(y_d + 1) term. Writes K (N, S) (component indices, best first; ties
// to the lower index) and lpj (N, S), the full log-joints. Returns the number of components in the new
// K_n that were not in the old K_n (K read before it is overwritten; pass a K of -1s for "no old set").
// Patches are independent: the result does not depend on the thread count.
std::int64_t pmm_select(const double* G, const double* offset, const double* Y, std::size_t N, int C, int D, int S,
                        std::int32_t* K, double* lpj, const StopPoll& stop = {});

// The M-step statistics: q_sum (C,), qy (C, D) row-major, lse = sum_n log sum_{s} exp(lpj_ns).
struct PmmStats {
    PmmStats(int C, int D)
        : q_sum(static_cast<std::size_t>(C), 0.0), qy(static_cast<std::size_t>(C) * static_cast<std::size_t>(D), 0.0) {}
    void add(const PmmStats& o);
    std::vector<double> q_sum, qy;
    double lse = 0.0;
};

// Sums over patches in blocks of kBlock, reduced in block order (independent of the thread count).
PmmStats pmm_accumulate(const double* Y, std::size_t N, int D, int C, const std::int32_t* K, const double* lpj, int S,
                        const StopPoll& stop = {});

// Posterior moments of the noise-free patch (the rate) per pixel: mean m = sum_c q(c) lambda_c,
// variance sum_c q(c) (lambda_c - m)^2, third central moment sum_c q(c) (lambda_c - m)^3.
// Lambda (C, D); out.variance and out.third may be null.
void pmm_posterior_moments(const double* Lambda, int C, int D, const std::int32_t* K, const double* lpj, std::size_t N,
                           int S, MomentArrays out, const StopPoll& stop = {});

}  // namespace zs
