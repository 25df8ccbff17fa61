#include "zeroshot/loops/states.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/base/bounds.hpp"
#include "zeroshot/base/parallel.hpp"
#include "zeroshot/base/rng.hpp"

namespace zs {

void check_state_count(int H, int S) {
    if (H < 1 || H > limits::max_latents)
        throw std::invalid_argument("H must lie in [1, " + std::to_string(limits::max_latents) + "], got " +
                                    std::to_string(H));
    if (S < 1 || S > limits::max_states)
        throw std::invalid_argument("S must lie in [1, " + std::to_string(limits::max_states) + "], got " +
                                    std::to_string(S));
    if (H < 62 && static_cast<long long>(S) > (1LL << H))
        throw std::invalid_argument("S = " + std::to_string(S) + " exceeds the 2^H = " + std::to_string(1LL << H) +
                                    " distinct states of H = " + std::to_string(H));
}

namespace {

void set_from_integer(std::uint64_t* s, std::uint64_t v) {
    s[0] = v;
}

void fill_patch(std::uint64_t* K_n, int H, int S, double p_on, CounterRng& rng, StatePool& pool) {
    const int n_words = words_for(H);
    std::vector<std::uint64_t> state(static_cast<std::size_t>(n_words), 0ULL);
    pool.reset(static_cast<std::size_t>(S));
    auto add = [&]() {
        if (pool.insert(state.data()) >= 0) {
            std::copy(state.begin(), state.end(), K_n + (pool.size() - 1) * n_words);
        }
    };
    add();  // the all-zero state
    const bool enumerate_all = H < 62 && static_cast<long long>(S) == (1LL << H);
    // Random draws; if they stall (S close to 2^H, or p_on tiny), fall back to a dense source.
    long long attempts = enumerate_all ? 0 : 50LL * S;
    const double p = std::min(1.0, std::max(p_on, 1e-12));
    while (static_cast<int>(pool.size()) < S && attempts-- > 0) {
        std::fill(state.begin(), state.end(), 0ULL);
        for (std::uint64_t h = rng.geometric_skip(p); h < static_cast<std::uint64_t>(H); h += 1 + rng.geometric_skip(p))
            flip_bit(state.data(), static_cast<int>(h));
        add();
    }
    if (H < 62) {
        for (std::uint64_t v = 1; static_cast<int>(pool.size()) < S; ++v) {
            set_from_integer(state.data(), v);
            add();
        }
    } else {
        while (static_cast<int>(pool.size()) < S) {
            for (auto& w : state) w = rng.next();
            if (H % 64) state.back() &= (1ULL << (H % 64)) - 1ULL;
            add();
        }
    }
}

}  // namespace

void init_states(std::uint64_t* K, std::size_t N, int H, int S, double p_on, std::uint64_t seed,
                 std::uint64_t first_index) {
    check_state_count(H, S);
    const int n_words = words_for(H);
    ExceptionCollector errors;
#pragma omp parallel
    {
        StatePool pool(n_words);
#pragma omp for schedule(static)
        for (std::int64_t n = 0; n < static_cast<std::int64_t>(N); ++n) {
            errors.run([&] {
                CounterRng rng(seed, 0, first_index + static_cast<std::uint64_t>(n), RngPurpose::init_states);
                fill_patch(K + static_cast<std::size_t>(n) * S * n_words, H, S, p_on, rng, pool);
            });
        }
    }
    errors.rethrow();
}

}  // namespace zs
