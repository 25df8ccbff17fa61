// Truncated state sets over all patches: their initialisation and the evaluation of their log-joints.
#pragma once

#include <algorithm>
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

// Merges the single-latent states into every K_n: K_n becomes the best S distinct states of K_n and the H
// states with one active latent, by log-joint under the model (ties: K_n's states first, then lower h; the
// kept states in no particular order), and lpj their log-joints. Random mutations find the one pattern that
// fits a patch best among H only by chance; here every E-step sees it, and the generations refine
// combinations of it. Deterministic. Returns the number of replaced states.
template <class Evaluator>
std::int64_t merge_single_latent_states(const Evaluator& model, std::uint64_t* K, double* lpj, std::size_t N, int S,
                                        const StopPoll& stop = {}) {
    const int H = model.n_latents();
    const int n_words = words_for(H);
    const auto words = static_cast<std::size_t>(n_words);
    const auto states = static_cast<std::size_t>(S);
    std::int64_t replaced = 0;
    ExceptionCollector errors;
    StopFlag stopping(stop);
#pragma omp parallel reduction(+ : replaced)
    {
        std::vector<std::int32_t> active(static_cast<std::size_t>(H));
        std::vector<double> value(states + static_cast<std::size_t>(H));
        std::vector<std::int64_t> order;
        std::vector<char> present(static_cast<std::size_t>(H));
        std::vector<std::uint64_t> old(states * words);
#pragma omp for schedule(dynamic, 256)
        for (std::int64_t n = 0; n < static_cast<std::int64_t>(N); ++n) {
            if (stopping.skip()) continue;
            errors.run([&] {
                const auto row = static_cast<std::size_t>(n);
                std::uint64_t* K_n = K + row * states * words;
                std::fill(present.begin(), present.end(), 0);
                order.clear();
                // Candidates 0..S-1: K_n's states; S + h: latent h alone, when K_n does not hold it and it beats
                // K_n's worst state (only those can enter).
                double worst = 0.0;
                for (std::size_t s = 0; s < states; ++s) {
                    const int k = active_indices(K_n + s * words, n_words, active.data());
                    if (k == 1) present[static_cast<std::size_t>(active[0])] = 1;
                    value[s] = model.lpj(row, active.data(), k);
                    lpj[row * states + s] = value[s];
                    worst = s == 0 ? value[s] : std::min(worst, value[s]);
                    order.push_back(static_cast<std::int64_t>(s));
                }
                for (std::int32_t h = 0; h < H; ++h) {
                    if (present[static_cast<std::size_t>(h)]) continue;
                    const double v = model.lpj(row, &h, 1);
                    if (!(v > worst)) continue;
                    value[states + static_cast<std::size_t>(h)] = v;
                    order.push_back(static_cast<std::int64_t>(S) + h);
                }
                if (order.size() == states) return;  // K_n stays as it is
                const double* v = value.data();
                auto better = [v](std::int64_t a, std::int64_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); };
                std::nth_element(order.begin(), order.begin() + (S - 1), order.end(), better);
                std::copy(K_n, K_n + states * words, old.begin());
                for (std::size_t s = 0; s < states; ++s) {
                    const std::int64_t c = order[s];
                    std::uint64_t* out = K_n + s * words;
                    if (c < S) {
                        std::copy(old.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(c) * words),
                                  old.begin() + static_cast<std::ptrdiff_t>((static_cast<std::size_t>(c) + 1) * words),
                                  out);
                    } else {
                        std::fill(out, out + words, 0ULL);
                        flip_bit(out, static_cast<int>(c - S));
                        ++replaced;
                    }
                    lpj[row * states + s] = v[c];
                }
            });
        }
    }
    errors.rethrow();
    stopping.throw_if_stopped();
    return replaced;
}

}  // namespace zs
