// Initial truncated state sets.
#pragma once

#include <cstddef>
#include <cstdint>

namespace zs {

// K: (N, S, words_for(H)). Row 0 of each K_n is the all-zero state; the other S - 1 states are distinct
// Bernoulli(p_on) draws keyed by (seed, first_index + n). With S == 2^H every state is enumerated.
void init_states(std::uint64_t* K, std::size_t N, int H, int S, double p_on, std::uint64_t seed,
                 std::uint64_t first_index);

// Throws std::invalid_argument unless 1 <= S <= 2^H.
void check_state_count(int H, int S);

}  // namespace zs
