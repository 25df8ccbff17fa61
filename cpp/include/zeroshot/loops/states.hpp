// Truncated state sets over all patches: their initialisation and the evaluation of their log-joints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/base/parallel.hpp"

namespace zs {

// K: (N, S, words_for(H)). Row 0 of each K_n is the all-zero state; the other S - 1 states are distinct
// Bernoulli(p_on) draws keyed by (seed, first_index + n). With S == 2^H every state is enumerated.
void init_states(std::uint64_t* K, std::size_t N, int H, int S, double p_on, std::uint64_t seed,
                 std::uint64_t first_index);

// Throws std::invalid_argument unless 1 <= H <= limits::max_latents and 1 <= S <= min(2^H, limits::max_states).
void check_state_count(int H, int S);

// Log-joints of all states: lpj[n, s] = model.lpj(n, K[n, s]) (see loops/evo.hpp for the evaluator).
template <class Evaluator>
void evaluate_states(const Evaluator& model, const std::uint64_t* K, double* lpj, std::size_t N, int S,
                     const StopPoll& stop = {}) {
    const int H = model.n_latents();
    const auto n_words = static_cast<std::size_t>(words_for(H));
    const auto states = static_cast<std::size_t>(S);
    ExceptionCollector errors;
    StopFlag stopping(stop);
#pragma omp parallel
    {
        std::vector<std::int32_t> active(static_cast<std::size_t>(H));
#pragma omp for schedule(static)
        for (std::int64_t n = 0; n < static_cast<std::int64_t>(N); ++n) {
            if (stopping.skip()) continue;
            errors.run([&] {
                for (std::size_t s = 0; s < states; ++s) {
                    const std::size_t i = static_cast<std::size_t>(n) * states + s;
                    const int k = active_indices(K + i * n_words, static_cast<int>(n_words), active.data());
                    lpj[i] = model.lpj(static_cast<std::size_t>(n), active.data(), k);
                }
            });
        }
    }
    errors.rethrow();
    stopping.throw_if_stopped();
}

}  // namespace zs
