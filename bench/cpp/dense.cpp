#include "dense.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "build_info.hpp"

#ifdef ZEROSHOT_BENCH_CBLAS
#include <cblas.h>
#endif

namespace zs::bench {

#ifndef ZEROSHOT_BENCH_CBLAS
namespace {

// Blocks: a row block's C (64 x 256 doubles) and a B panel (128 x 256) stay in L2; the micro-kernel
// updates four rows of C per pass over a row of B, so each loaded B value is used four times.
constexpr std::size_t kRowBlock = 64;
constexpr int kColBlock = 256, kDepthBlock = 128;

// C[r, 0:width] += sum_{p in [p0, p1)} A[r, p] B[p, 0:width] for the `rows` (1 or 4) rows starting at A, C.
template <int rows>
void update_rows(const double* __restrict A, std::size_t lda, const double* __restrict B, std::size_t ldb,
                 double* __restrict C, std::size_t ldc, int p0, int p1, int width) {
    double* __restrict c0 = C;
    double* __restrict c1 = C + (rows > 1 ? ldc : 0);
    double* __restrict c2 = C + (rows > 1 ? 2 * ldc : 0);
    double* __restrict c3 = C + (rows > 1 ? 3 * ldc : 0);
    for (int p = p0; p < p1; ++p) {
        const double* __restrict b = B + static_cast<std::size_t>(p) * ldb;
        const double a0 = A[p];
        if (rows == 1) {
            for (int j = 0; j < width; ++j) c0[j] += a0 * b[j];
            continue;
        }
        const double a1 = A[lda + p], a2 = A[2 * lda + p], a3 = A[3 * lda + p];
        for (int j = 0; j < width; ++j) {
            const double bj = b[j];
            c0[j] += a0 * bj;
            c1[j] += a1 * bj;
            c2[j] += a2 * bj;
            c3[j] += a3 * bj;
        }
    }
}

void blocked_matmul(const double* A, const double* B, double* C, std::size_t m, int k, int n) {
    const auto row_blocks = static_cast<std::int64_t>((m + kRowBlock - 1) / kRowBlock);
#pragma omp parallel for schedule(static)
    for (std::int64_t rb = 0; rb < row_blocks; ++rb) {
        const std::size_t i0 = static_cast<std::size_t>(rb) * kRowBlock, i1 = std::min(m, i0 + kRowBlock);
        for (int j0 = 0; j0 < n; j0 += kColBlock) {
            const int width = std::min(n - j0, kColBlock);
            for (std::size_t i = i0; i < i1; ++i) std::fill(C + i * n + j0, C + i * n + j0 + width, 0.0);
            for (int p0 = 0; p0 < k; p0 += kDepthBlock) {
                const int p1 = std::min(k, p0 + kDepthBlock);
                std::size_t i = i0;
                for (; i + 4 <= i1; i += 4) update_rows<4>(A + i * k, k, B + j0, n, C + i * n + j0, n, p0, p1, width);
                for (; i < i1; ++i) update_rows<1>(A + i * k, k, B + j0, n, C + i * n + j0, n, p0, p1, width);
            }
        }
    }
}

}  // namespace
#endif

const char* dense_backend() {
    return ZS_BENCH_GEMM;
}

void matmul(const double* A, const double* B, double* C, std::size_t m, int k, int n) {
#ifdef ZEROSHOT_BENCH_CBLAS
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), n, k, 1.0, A, k, B, n, 0.0, C, n);
#else
    blocked_matmul(A, B, C, m, k, n);
#endif
}

void gram(const double* W, int D, int H, double* WtW) {
#ifdef ZEROSHOT_BENCH_CBLAS
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, H, D, 1.0, W, H, W, H, 0.0, WtW, H);
#else
    std::vector<double> Wt(static_cast<std::size_t>(D) * H);  // (H, D): rows of W^T contiguous
    for (int d = 0; d < D; ++d)
        for (int h = 0; h < H; ++h) Wt[static_cast<std::size_t>(h) * D + d] = W[static_cast<std::size_t>(d) * H + h];
    blocked_matmul(Wt.data(), W, WtW, static_cast<std::size_t>(H), D, H);
#endif
}

void squared_norms(const double* Y, std::size_t N, int D, double* y2) {
#pragma omp parallel for schedule(static)
    for (std::int64_t n = 0; n < static_cast<std::int64_t>(N); ++n) {
        const double* y = Y + static_cast<std::size_t>(n) * D;
        double s = 0.0;
        for (int d = 0; d < D; ++d) s += y[d] * y[d];
        y2[n] = s;
    }
}

}  // namespace zs::bench
