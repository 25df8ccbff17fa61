// The dense products the kernels start from (computed by numpy in the Python layer):
// WtY = Y W (N, H) and WtW = W^T W (H, H). CBLAS when built with ZEROSHOT_BENCH_BLAS and a BLAS was
// found, else a cache-blocked loop with OpenMP over row blocks; every entry is summed in the same order
// whatever the thread count, so the loop's results do not depend on it.
#pragma once

#include <cstddef>

namespace zs::bench {

// Which implementation the two products below use (for the report).
const char* dense_backend();

// C (m, n) = A (m, k) B (k, n), all row-major.
void matmul(const double* A, const double* B, double* C, std::size_t m, int k, int n);

// WtW (H, H) = W^T W for W (D, H).
void gram(const double* W, int D, int H, double* WtW);

// y2[n] = ||y_n||^2 for Y (N, D).
void squared_norms(const double* Y, std::size_t N, int D, double* y2);

}  // namespace zs::bench
