// Small dense linear algebra for the M-step (H x H systems); no BLAS needed at these sizes.
#pragma once

#include <cstddef>
#include <vector>

namespace zs {

// In-place lower Cholesky factor of the n x n row-major matrix a; returns false if not positive definite.
bool cholesky_factor(double* a, int n);

// Solves (L L^T) x = b in place for a factor from cholesky_factor.
void cholesky_solve(const double* L, int n, double* b);

// Factors the symmetric matrix a itself if it is positive definite, else a + ridge * mean(diag a) * I,
// raising the ridge by 100x until the factorisation succeeds; returns the factor. Throws
// std::runtime_error if a is not finite.
std::vector<double> regularised_cholesky(const double* a, int n);

// Row-major (rows, cols) -> (cols, rows).
std::vector<double> transposed(const double* a, int rows, int cols);

}  // namespace zs
