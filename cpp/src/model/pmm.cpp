#include "zeroshot/model/pmm.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "zeroshot/base/truncated.hpp"
#include "zeroshot/loops/statistics.hpp"

namespace zs {

namespace {

// Checks that K holds S distinct components in [0, C) per patch (throws std::invalid_argument).
void check_components(const std::int32_t* K, int S, int C) {
    for (int s = 0; s < S; ++s) {
        if (K[s] < 0 || K[s] >= C) throw std::invalid_argument("K holds a component index outside [0, C)");
        for (int t = 0; t < s; ++t)
            if (K[t] == K[s]) throw std::invalid_argument("K holds a component twice in one patch");
    }
}

}  // namespace

std::int64_t pmm_select(const double* G, const double* offset, const double* Y, std::size_t N, int C, int D, int S,
                        std::int32_t* K, double* lpj, const StopPoll& stop) {
    if (S < 1 || S > C) throw std::invalid_argument("S must lie in [1, C]");
    const auto c_count = static_cast<std::size_t>(C);
    const auto s_count = static_cast<std::size_t>(S);
    std::int64_t replaced = 0;
    ExceptionCollector errors;
    StopFlag stopping(stop);
#pragma omp parallel reduction(+ : replaced)
    {
        std::vector<std::int32_t> order(c_count);
        std::vector<char> old(c_count, 0);
        std::vector<double> score(c_count);
#pragma omp for schedule(static)
        for (std::int64_t nn = 0; nn < static_cast<std::int64_t>(N); ++nn) {
            if (stopping.skip()) continue;
            errors.run([&] {
                const auto n = static_cast<std::size_t>(nn);
                const double* g = G + n * c_count;
                const double* y = Y + n * static_cast<std::size_t>(D);
                double log_factorials = 0.0;
                for (int d = 0; d < D; ++d) log_factorials += std::lgamma(y[d] + 1.0);
                for (std::size_t c = 0; c < c_count; ++c) score[c] = g[c] + offset[c];
                std::iota(order.begin(), order.end(), 0);
                auto better = [&](std::int32_t a, std::int32_t b) {
                    const double sa = score[static_cast<std::size_t>(a)], sb = score[static_cast<std::size_t>(b)];
                    return sa > sb || (sa == sb && a < b);
                };
                std::partial_sort(order.begin(), order.begin() + S, order.end(), better);
                std::int32_t* k = K + n * s_count;
                double* l = lpj + n * s_count;
                for (std::size_t s = 0; s < s_count; ++s)
                    if (k[s] >= 0 && k[s] < C) old[static_cast<std::size_t>(k[s])] = 1;
                std::int64_t fresh = 0;
                for (std::size_t s = 0; s < s_count; ++s) {
                    const std::int32_t c = order[s];
                    fresh += old[static_cast<std::size_t>(c)] ? 0 : 1;
                    k[s] = c;
                    l[s] = score[static_cast<std::size_t>(c)] - log_factorials;
                }
                std::fill(old.begin(), old.end(), 0);
                replaced += fresh;
            });
        }
    }
    errors.rethrow();
    stopping.throw_if_stopped();
    return replaced;
}

void PmmStats::add(const PmmStats& o) {
    for (std::size_t i = 0; i < q_sum.size(); ++i) q_sum[i] += o.q_sum[i];
    for (std::size_t i = 0; i < qy.size(); ++i) qy[i] += o.qy[i];
    lse += o.lse;
}

PmmStats pmm_accumulate(const double* Y, std::size_t N, int D, int C, const std::int32_t* K, const double* lpj, int S,
                        const StopPoll& stop) {
    const PmmStats zero(C, D);
    PmmStats total = zero;
    const auto row = static_cast<std::size_t>(D);
    const auto s_count = static_cast<std::size_t>(S);
    const auto n_blocks = static_cast<std::int64_t>((N + kBlock - 1) / kBlock);
    ExceptionCollector errors;
    StopFlag stopping(stop);
#pragma omp parallel
    {
        PmmStats block = zero;
        std::vector<double> q(s_count);
#pragma omp for ordered schedule(static, 1)
        for (std::int64_t blk = 0; blk < n_blocks; ++blk) {
            const bool skip = stopping.skip();
            errors.run([&] {
                block = zero;
                if (skip) return;
                const std::size_t end = std::min(N, static_cast<std::size_t>(blk + 1) * kBlock);
                for (std::size_t n = static_cast<std::size_t>(blk) * kBlock; n < end; ++n) {
                    const std::int32_t* k = K + n * s_count;
                    check_components(k, S, C);
                    block.lse += truncated_posterior(lpj + n * s_count, S, q.data());
                    const double* y = Y + n * row;
                    for (std::size_t s = 0; s < s_count; ++s) {
                        if (q[s] == 0.0) continue;
                        const auto c = static_cast<std::size_t>(k[s]);
                        block.q_sum[c] += q[s];
                        double* target = block.qy.data() + c * row;
                        for (std::size_t d = 0; d < row; ++d) target[d] += q[s] * y[d];
                    }
                }
            });
#pragma omp ordered
            total.add(block);
        }
    }
    errors.rethrow();
    stopping.throw_if_stopped();
    return total;
}

void pmm_posterior_moments(const double* Lambda, int C, int D, const std::int32_t* K, const double* lpj, std::size_t N,
                           int S, MomentArrays out, const StopPoll& stop) {
    if (!out.mean) throw std::invalid_argument("posterior moments need an output for the mean");
    const auto row = static_cast<std::size_t>(D);
    const auto s_count = static_cast<std::size_t>(S);
    ExceptionCollector errors;
    StopFlag stopping(stop);
#pragma omp parallel
    {
        std::vector<double> q(s_count);
#pragma omp for schedule(static)
        for (std::int64_t nn = 0; nn < static_cast<std::int64_t>(N); ++nn) {
            if (stopping.skip()) continue;
            errors.run([&] {
                const auto n = static_cast<std::size_t>(nn);
                const std::int32_t* k = K + n * s_count;
                check_components(k, S, C);
                truncated_posterior(lpj + n * s_count, S, q.data());
                double* m = out.mean + n * row;
                std::fill(m, m + D, 0.0);
                for (std::size_t s = 0; s < s_count; ++s) {
                    if (q[s] == 0.0) continue;
                    const double* lam = Lambda + static_cast<std::size_t>(k[s]) * row;
                    for (std::size_t d = 0; d < row; ++d) m[d] += q[s] * lam[d];
                }
                double* v = out.variance ? out.variance + n * row : nullptr;
                double* t = out.third ? out.third + n * row : nullptr;
                if (v) std::fill(v, v + D, 0.0);
                if (t) std::fill(t, t + D, 0.0);
                if (!v && !t) return;
                for (std::size_t s = 0; s < s_count; ++s) {
                    if (q[s] == 0.0) continue;
                    const double* lam = Lambda + static_cast<std::size_t>(k[s]) * row;
                    for (std::size_t d = 0; d < row; ++d) {
                        const double dev = lam[d] - m[d];
                        const double dev2 = q[s] * dev * dev;
                        if (v) v[d] += dev2;
                        if (t) t[d] += dev2 * dev;
                    }
                }
            });
        }
    }
    errors.rethrow();
    stopping.throw_if_stopped();
}

}  // namespace zs
