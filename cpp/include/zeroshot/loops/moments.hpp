// Posterior moments of the noise-free patch per pixel, the loop shared by the models. Given a state s
// of K_n, each pixel of the patch is Gaussian with conditional mean mu_s and conditional variance c_s
// (BSC: c_s = 0, a point), so with the truncated posterior weights q_s:
//   mean                  m = sum_s q_s mu_s
//   variance                = sum_s q_s (c_s + (mu_s - m)^2)
//   third central moment    = sum_s q_s ((mu_s - m)^3 + 3 c_s (mu_s - m))   (no third cumulant of its own)
// Both central moments are taken about m in a second pass over the states (no cancellation of raw moments).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/base/parallel.hpp"
#include "zeroshot/base/truncated.hpp"

namespace zs {

// Outputs, each (N, D) row-major. mean is required; variance and third may be null (not wanted).
struct MomentArrays {
    double* mean = nullptr;
    double* variance = nullptr;
    double* third = nullptr;
};

// For every patch n and every state of K_n with q_s > 0, calls state(n, active, k, mu, c) once to write
// the state's conditional mean mu (D,) and, where c is not null, its conditional variance c (D,);
// c is null unless the model has a conditional variance (has_conditional_variance) and a central moment
// is wanted. The per-state results are kept for the second pass. make_state() gives each thread its own
// callable (and scratch). Patches are independent, so the results do not depend on the thread count.
// When `stop` asks to stop, the remaining patches are skipped and Interrupted is thrown.
template <class MakeState>
void posterior_moments(const std::uint64_t* K, const double* lpj, std::size_t N, int S, int D, int H,
                       bool has_conditional_variance, MomentArrays out, MakeState make_state,
                       const StopPoll& stop = {}) {
    if (!out.mean) throw std::invalid_argument("posterior moments need an output for the mean");
    const int n_words = words_for(H);
    const bool central = out.variance || out.third;
    const bool with_c = has_conditional_variance && central;
    const auto row = static_cast<std::size_t>(D);
    ExceptionCollector errors;
    StopFlag stopping(stop);
#pragma omp parallel
    {
        std::vector<double> q(static_cast<std::size_t>(S)), weight(static_cast<std::size_t>(S));
        std::vector<double> mu(static_cast<std::size_t>(S) * row), c(with_c ? static_cast<std::size_t>(S) * row : 0);
        std::vector<std::int32_t> active(static_cast<std::size_t>(H));
        auto state = make_state();
#pragma omp for schedule(static)
        for (std::int64_t nn = 0; nn < static_cast<std::int64_t>(N); ++nn) {
            if (stopping.skip()) continue;
            errors.run([&] {
                const auto n = static_cast<std::size_t>(nn);
                truncated_posterior(lpj + n * S, S, q.data());
                double* m = out.mean + n * row;
                std::fill(m, m + D, 0.0);
                int used = 0;  // states with q_s > 0, their mu and c in rows 0..used-1
                for (int s = 0; s < S; ++s) {
                    if (q[s] == 0.0) continue;
                    const int k = active_indices(K + (n * S + s) * n_words, n_words, active.data());
                    double* mu_s = mu.data() + used * row;
                    state(n, active.data(), k, mu_s, with_c ? c.data() + used * row : nullptr);
                    for (int d = 0; d < D; ++d) m[d] += q[s] * mu_s[d];
                    weight[used++] = q[s];
                }
                if (!central) return;
                double* v = out.variance ? out.variance + n * row : nullptr;
                double* t = out.third ? out.third + n * row : nullptr;
                if (v) std::fill(v, v + D, 0.0);
                if (t) std::fill(t, t + D, 0.0);
                for (int u = 0; u < used; ++u) {
                    const double w = weight[u];
                    const double* mu_s = mu.data() + u * row;
                    const double* c_s = with_c ? c.data() + u * row : nullptr;
                    if (v) {
                        for (int d = 0; d < D; ++d) {
                            const double dev = mu_s[d] - m[d];
                            v[d] += w * ((c_s ? c_s[d] : 0.0) + dev * dev);
                        }
                    }
                    if (t) {
                        for (int d = 0; d < D; ++d) {
                            const double dev = mu_s[d] - m[d];
                            t[d] += w * dev * (dev * dev + 3.0 * (c_s ? c_s[d] : 0.0));
                        }
                    }
                }
            });
        }
    }
    errors.rethrow();
    stopping.throw_if_stopped();
}

}  // namespace zs
