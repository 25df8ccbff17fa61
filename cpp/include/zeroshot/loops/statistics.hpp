// The M-step statistics loop shared by the models: truncated posteriors over K_n, sums over patches in
// fixed blocks reduced in block order (so the sums do not depend on the thread count).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/base/parallel.hpp"
#include "zeroshot/base/truncated.hpp"

namespace zs {

// Patches per block of a deterministic (thread-count independent) reduction.
constexpr std::size_t kBlock = 1024;

// Sums over patches: At = sum_n e_n y_n^T (H, D), with e_n the latent weights a model gives patch n
// (<s>_n for BSC, <x>_n for SSSC); e_sum = sum_n e_n; B, s_sum as the model fills them; lse and y2.
struct PosteriorSums {
    PosteriorSums(int D, int H)
        : At(static_cast<std::size_t>(H) * D, 0.0),
          B(static_cast<std::size_t>(H) * H, 0.0),
          e_sum(static_cast<std::size_t>(H), 0.0),
          s_sum(static_cast<std::size_t>(H), 0.0) {}
    void add(const PosteriorSums& o) {
        for (std::size_t i = 0; i < At.size(); ++i) At[i] += o.At[i];
        for (std::size_t i = 0; i < B.size(); ++i) B[i] += o.B[i];
        for (std::size_t i = 0; i < e_sum.size(); ++i) e_sum[i] += o.e_sum[i];
        for (std::size_t i = 0; i < s_sum.size(); ++i) s_sum[i] += o.s_sum[i];
        lse += o.lse;
        y2 += o.y2;
    }
    std::vector<double> At, B, e_sum, s_sum;
    double lse = 0.0, y2 = 0.0;
};

// The latent weights e_n of one patch, sparse: only latents active in some state are touched.
class LatentWeights {
public:
    explicit LatentWeights(int H) : e_(static_cast<std::size_t>(H), 0.0), seen_(static_cast<std::size_t>(H), 0) {}
    void add(int h, double v) {
        if (!seen_[h]) {
            seen_[h] = 1;
            touched_.push_back(h);
        }
        e_[h] += v;
    }
    // At += e y^T, e_sum += e; then clears e for the next patch.
    void flush(const double* y, int D, PosteriorSums& sums) {
        for (int h : touched_) {
            double* row = sums.At.data() + static_cast<std::size_t>(h) * D;
            const double e = e_[h];
            for (int d = 0; d < D; ++d) row[d] += e * y[d];
            sums.e_sum[h] += e;
            e_[h] = 0.0;
            seen_[h] = 0;
        }
        touched_.clear();
    }

private:
    std::vector<double> e_;
    std::vector<char> seen_;
    std::vector<int> touched_;
};

// For every patch n and every state of K_n with posterior weight w > 0, calls
// state(n, active, k, w, weights, sums) to add the state's contribution; make_state() gives each thread
// its own callable (and scratch). Returns the sums over all patches. When `stop` asks to stop, the
// remaining blocks are skipped and Interrupted is thrown.
template <class MakeState>
PosteriorSums posterior_sums(const double* Y, std::size_t N, int D, int H, const std::uint64_t* K, const double* lpj,
                             int S, MakeState make_state, const StopPoll& stop = {}) {
    const int n_words = words_for(H);
    const PosteriorSums zero(D, H);
    PosteriorSums total = zero;
    const auto n_blocks = static_cast<std::int64_t>((N + kBlock - 1) / kBlock);
    ExceptionCollector errors;
    StopFlag stopping(stop);
#pragma omp parallel
    {
        PosteriorSums block = zero;
        LatentWeights weights(H);
        std::vector<double> q(static_cast<std::size_t>(S));
        std::vector<std::int32_t> active(static_cast<std::size_t>(H));
        auto state = make_state();
#pragma omp for ordered schedule(static, 1)
        for (std::int64_t blk = 0; blk < n_blocks; ++blk) {
            const bool skip = stopping.skip();
            errors.run([&] {
                block = zero;
                if (skip) return;
                const std::size_t end = std::min(N, static_cast<std::size_t>(blk + 1) * kBlock);
                for (std::size_t n = static_cast<std::size_t>(blk) * kBlock; n < end; ++n) {
                    block.lse += truncated_posterior(lpj + n * S, S, q.data());
                    const double* y = Y + n * D;
                    double yy = 0.0;
                    for (int d = 0; d < D; ++d) yy += y[d] * y[d];
                    block.y2 += yy;
                    for (int s = 0; s < S; ++s) {
                        if (q[s] == 0.0) continue;
                        const int k = active_indices(K + (n * S + s) * n_words, n_words, active.data());
                        state(n, active.data(), k, q[s], weights, block);
                    }
                    weights.flush(y, D, block);
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

}  // namespace zs
