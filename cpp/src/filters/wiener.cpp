#include "zeroshot/filters/wiener.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace zs {

namespace {

constexpr double tiny = 1e-300;
// Patch rows filtered before they are added back: bounds the buffer (a band of 1024-px rows of 16 x 16 patches:
// 16 x 256 patches of 2 KiB, 8 MiB).
constexpr std::size_t band_rows = 16;

// out (N x N) = A (N x N) B (N x N), B's rows `stride` apart: each row of out accumulated from the rows of B.
inline void times_any(const double* A, const double* B, std::size_t stride, double* out, std::size_t N) {
    for (std::size_t i = 0; i < N; ++i) {
        double* row = out + i * N;
        std::fill(row, row + N, 0.0);
        for (std::size_t k = 0; k < N; ++k) {
            const double a = A[i * N + k];
            for (std::size_t j = 0; j < N; ++j) row[j] += a * B[k * stride + j];
        }
    }
}

#if defined(__GNUC__) || defined(__clang__)
// `times_any` for N = 16, in vectors of 2 doubles (GCC/Clang vector extensions: the SSE2 registers every x86-64 CPU
// has): a row of out stays in 8 registers while the 16 rows of B are added into it (2.5x faster than the loops
// above, which the compiler vectorised poorly).
#define ZS_WIENER_VECTORS 1
using Vec2 = double __attribute__((vector_size(16)));

inline void times16(const double* A, const double* B, std::size_t stride, double* out) {
    for (std::size_t i = 0; i < 16; ++i) {
        Vec2 row[8] = {};
#pragma GCC unroll 4
        for (std::size_t k = 0; k < 16; ++k) {
            const double a = A[i * 16 + k];
            const double* b = B + k * stride;
            for (std::size_t j = 0; j < 8; ++j) {
                Vec2 v;
                std::memcpy(&v, b + 2 * j, sizeof v);
                row[j] += a * v;
            }
        }
        std::memcpy(out + i * 16, row, sizeof row);
    }
}
#endif

// out = A B as `times_any`, by `times16` where n (N when compiled for it, else 0) is 16.
template <std::size_t n>
inline void times(const double* A, const double* B, std::size_t stride, double* out, std::size_t N) {
#ifdef ZS_WIENER_VECTORS
    if constexpr (n == 16) {
        times16(A, B, stride, out);
        return;
    }
#endif
    times_any(A, B, stride, out, N);
}

// The patch at (r, c) filtered, weighted and windowed into est (P * P); returns its weight. work: 3 * P * P; Dt:
// the DCT transposed. n: P when compiled for it (0: any P).
template <std::size_t n>
double filter_patch(const WienerImages& images, const WienerPatches& p, const double* Dt, std::size_t r, std::size_t c,
                    double* work, double* est) {
    const auto P = static_cast<std::size_t>(p.P);
    double* tmp = work;
    double* noisy = work + P * P;
    double* pilot = work + 2 * P * P;
    const std::size_t at = r * images.cols + c;
    // coefficients D X Dᵀ of the noisy and the pilot patch X
    times<n>(p.dct, images.noisy + at, images.cols, tmp, P);
    times<n>(tmp, Dt, P, noisy, P);
    times<n>(p.dct, images.pilot + at, images.cols, tmp, P);
    times<n>(tmp, Dt, P, pilot, P);
    double remaining = 0.0;  // the noise variance left in the filtered patch
    for (std::size_t k = 1; k < P * P; ++k) {
        const double power = pilot[k] * pilot[k];
        const double shrink = power / (power + p.noise_var[k]);
        remaining += shrink * shrink * p.noise_var[k];
        noisy[k] *= shrink;
    }
    noisy[0] = pilot[0];  // the patch's mean is the pilot's, whatever the image's offset
    // back to pixels: Dᵀ coef D
    times<n>(Dt, noisy, P, tmp, P);
    times<n>(tmp, p.dct, P, est, P);
    const double weight = 1.0 / std::max(remaining, tiny);
    for (std::size_t i = 0; i < P * P; ++i) est[i] *= weight * p.window[i];
    return weight;
}

inline void add_scaled(double* __restrict out, const double* __restrict x, double a, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] += a * x[i];
}

// Adds the band's filtered patches into sum and weight, in patch order.
void add_back(const WienerImages& images, const WienerPatches& p, std::size_t first, std::size_t n_band,
              const std::vector<double>& band, const std::vector<double>& band_weight, std::vector<double>& sum,
              std::vector<double>& weight) {
    const auto P = static_cast<std::size_t>(p.P);
    const std::size_t n_cols = p.n_col_starts;
    for (std::size_t k = 0; k < n_band * n_cols; ++k) {
        const auto r = static_cast<std::size_t>(p.row_starts[first + k / n_cols]);
        const auto c = static_cast<std::size_t>(p.col_starts[k % n_cols]);
        const double* est = band.data() + k * P * P;
        for (std::size_t x = 0; x < P; ++x) {
            const std::size_t at = (r + x) * images.cols + c;
            add_scaled(sum.data() + at, est + x * P, 1.0, P);
            add_scaled(weight.data() + at, p.window + x * P, band_weight[k], P);
        }
    }
}

}  // namespace

void wiener_filter(const WienerImages& images, const WienerPatches& patches, double* out, const StopPoll& stop) {
    const auto P = static_cast<std::size_t>(patches.P);
    const std::size_t area = P * P, pixels = images.rows * images.cols, n_cols = patches.n_col_starts;
    std::vector<double> Dt(area);
    for (std::size_t u = 0; u < P; ++u)
        for (std::size_t x = 0; x < P; ++x) Dt[x * P + u] = patches.dct[u * P + x];
    std::vector<double> sum(pixels, 0.0), weight(pixels, 0.0);
    std::vector<double> band(band_rows * n_cols * area), band_weight(band_rows * n_cols);
    StopFlag stopping(stop);
    for (std::size_t first = 0; first < patches.n_row_starts; first += band_rows) {
        const std::size_t n_band = std::min(band_rows, patches.n_row_starts - first);
        const auto n_patches = static_cast<std::int64_t>(n_band * n_cols);
        ExceptionCollector errors;
#pragma omp parallel
        {
            std::vector<double> work(3 * area);
#pragma omp for schedule(static)
            for (std::int64_t i = 0; i < n_patches; ++i) {
                if (stopping.skip()) continue;
                errors.run([&] {
                    const auto k = static_cast<std::size_t>(i);
                    const auto r = static_cast<std::size_t>(patches.row_starts[first + k / n_cols]);
                    const auto c = static_cast<std::size_t>(patches.col_starts[k % n_cols]);
                    double* est = band.data() + k * area;
                    band_weight[k] = P == 16 ? filter_patch<16>(images, patches, Dt.data(), r, c, work.data(), est)
                                             : filter_patch<0>(images, patches, Dt.data(), r, c, work.data(), est);
                });
            }
        }
        errors.rethrow();
        stopping.throw_if_stopped();
        add_back(images, patches, first, n_band, band, band_weight, sum, weight);
    }
    for (std::size_t i = 0; i < pixels; ++i) out[i] = weight[i] > 0.0 ? sum[i] / weight[i] : images.pilot[i];
}

}  // namespace zs
