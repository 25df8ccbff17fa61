#include "zeroshot/base/linalg.hpp"

#include <cmath>
#include <stdexcept>

#include "zeroshot/base/bounds.hpp"

namespace zs {

bool cholesky_factor(double* a, int n) {
    for (int j = 0; j < n; ++j) {
        double d = a[j * n + j];
        for (int k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
        if (!(d > 0.0) || !std::isfinite(d)) return false;
        const double ljj = std::sqrt(d);
        a[j * n + j] = ljj;
        for (int i = j + 1; i < n; ++i) {
            double s = a[i * n + j];
            for (int k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = s / ljj;
        }
        for (int i = 0; i < j; ++i) a[i * n + j] = 0.0;
    }
    return true;
}

void cholesky_solve(const double* L, int n, double* b) {
    for (int i = 0; i < n; ++i) {
        double s = b[i];
        for (int k = 0; k < i; ++k) s -= L[i * n + k] * b[k];
        b[i] = s / L[i * n + i];
    }
    for (int i = n - 1; i >= 0; --i) {
        double s = b[i];
        for (int k = i + 1; k < n; ++k) s -= L[k * n + i] * b[k];
        b[i] = s / L[i * n + i];
    }
}

std::vector<double> regularised_cholesky(const double* a, int n) {
    double mean_diag = 0.0;
    for (int i = 0; i < n * n; ++i)
        if (!std::isfinite(a[i])) throw std::runtime_error("M-step system has non-finite entries");
    for (int i = 0; i < n; ++i) mean_diag += a[i * n + i];
    mean_diag = n > 0 ? std::fabs(mean_diag) / n : 0.0;
    if (!(mean_diag > 0.0)) mean_diag = 1.0;
    std::vector<double> factor(a, a + static_cast<std::size_t>(n) * n);
    if (cholesky_factor(factor.data(), n)) return factor;  // exact when well posed
    for (double ridge = bounds::ridge_start; ridge < 1e6; ridge *= 100.0) {
        for (int i = 0; i < n * n; ++i) factor[i] = a[i];
        for (int i = 0; i < n; ++i) factor[i * n + i] += ridge * mean_diag;
        if (cholesky_factor(factor.data(), n)) return factor;
    }
    throw std::runtime_error("M-step system could not be regularised");
}

std::vector<double> transposed(const double* a, int rows, int cols) {
    std::vector<double> t(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols));
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
            t[static_cast<std::size_t>(c) * static_cast<std::size_t>(rows) + static_cast<std::size_t>(r)] =
                a[static_cast<std::size_t>(r) * static_cast<std::size_t>(cols) + static_cast<std::size_t>(c)];
    return t;
}

}  // namespace zs
