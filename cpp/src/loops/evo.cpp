#include "zeroshot/loops/evo.hpp"

#include <cmath>
#include <string>

#include "zeroshot/base/bounds.hpp"

namespace zs {

void EvoConfig::validate() const {
    auto fail = [](const std::string& what) { throw std::invalid_argument("EVO configuration: " + what); };
    if (n_parents < 1) fail("n_parents must be >= 1, got " + std::to_string(n_parents));
    if (n_generations < 0) fail("n_generations must be >= 0, got " + std::to_string(n_generations));
    if (!crossover && n_children < 1) fail("n_children must be >= 1, got " + std::to_string(n_children));
    if (!crossover && mutation == Mutation::none) fail("without crossover a mutation is needed");
    if (crossover && n_parents < 2) fail("crossover needs n_parents >= 2");
    if (!(bitflip_prob <= 1.0) || std::isnan(bitflip_prob)) fail("bitflip_prob must be <= 1");
    // 64-bit products of ints below 2^31: no overflow.
    const std::int64_t per_generation = children_per_generation();
    const std::string limit = std::to_string(limits::max_children);
    if (per_generation > limits::max_children)
        fail("children per generation (" +
             std::string(crossover ? "n_parents * (n_parents - 1)" : "n_parents * n_children") + " = " +
             std::to_string(per_generation) + ") must be <= " + limit);
    if (children_per_step() > limits::max_children)
        fail("children per E-step (children per generation * n_generations = " + std::to_string(per_generation) +
             " * " + std::to_string(n_generations) + ") must be <= " + limit);
}

void EvoConfig::validate(int H, int S) const {
    auto fail = [](const std::string& what) { throw std::invalid_argument("EVO configuration: " + what); };
    if (H < 1 || H > limits::max_latents)
        fail("H must lie in [1, " + std::to_string(limits::max_latents) + "], got " + std::to_string(H));
    if (S < 1 || S > limits::max_states)
        fail("S must lie in [1, " + std::to_string(limits::max_states) + "], got " + std::to_string(S));
    validate();
    if (mutation == Mutation::randflip && !crossover && n_children > H)
        fail("randflip makes distinct one-bit flips: n_children must be <= H = " + std::to_string(H));
}

int select_parents(CounterRng& rng, const double* lpj, const std::int64_t* candidates, int m, int n_parents,
                   Selection selection, std::vector<double>& cdf, std::int64_t* out) {
    if (m <= 0) return 0;
    if (selection == Selection::uniform) {
        // Floyd's algorithm: a uniformly random subset of size k without replacement.
        const int k = std::min(n_parents, m);
        int chosen = 0;
        for (int j = m - k; j < m; ++j) {
            const auto t = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(j) + 1));
            bool seen = false;
            for (int i = 0; i < chosen; ++i) seen = seen || out[i] == candidates[t];
            out[chosen++] = seen ? candidates[j] : candidates[t];
        }
        return k;
    }
    // Fitness-proportional, normalised within this data point's candidates only.
    double lowest = lpj[candidates[0]];
    for (int i = 1; i < m; ++i) lowest = std::min(lowest, lpj[candidates[i]]);
    cdf.resize(static_cast<std::size_t>(m));
    double total = 0.0;
    for (int i = 0; i < m; ++i) {
        total += lpj[candidates[i]] - lowest + 1.0;
        cdf[i] = total;
    }
    for (int p = 0; p < n_parents; ++p) {
        const double u = rng.uniform() * total;
        // Upper-bound semantics: the first candidate whose cumulative fitness exceeds u.
        auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
        const auto i = std::min<std::ptrdiff_t>(it - cdf.begin(), m - 1);
        out[p] = candidates[i];
    }
    return n_parents;
}

namespace {

// Flip probabilities of 0-bits (p0) and 1-bits (p1) for a parent with k active bits, chosen so that
// the expected number of flips is F = H * bitflip_prob and the expected number of active bits is pi_sum:
// (H - k) p0 = (F + pi_sum - k) / 2 and k p1 = (F - pi_sum + k) / 2. Each direction keeps at least
// min(F, 1) / 4 expected flips: without that floor a parent with k >= F + pi_sum could never gain a bit
// (and one with pi_sum - k >= F never lose one), so states denser than the prior were never explored.
void sparseflip_probabilities(int H, int k, double bitflip_prob, double pi_sum, double& p0, double& p1) {
    const double flips = H * (bitflip_prob < 0 ? 1.0 / H : bitflip_prob);
    const double floor = 0.25 * std::min(flips, 1.0);
    auto clamp01 = [](double p) { return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p); };
    p0 = k < H ? clamp01(std::max((flips + pi_sum - k) / 2.0, floor) / (H - k)) : 0.0;
    p1 = k > 0 ? clamp01(std::max((flips - pi_sum + k) / 2.0, floor) / k) : 0.0;
}

void sparseflip(CounterRng& rng, std::uint64_t* child, int H, const FlipProbabilities& f) {
    const int n_words = words_for(H);
    // Each bit is decided on the parent's value: 1-bits are cleared with p1 (collected in `clear`
    // first), 0-bits are set with p0, visited by geometric skipping so the cost is O(flips + |s|).
    constexpr int stack_words = 64;          // H <= 4096 needs no heap
    std::uint64_t stack_clear[stack_words];  // only the first n_words are used (and zeroed)
    std::vector<std::uint64_t> heap_clear;
    std::uint64_t* clear = stack_clear;
    if (n_words > stack_words) {
        heap_clear.assign(static_cast<std::size_t>(n_words), 0ULL);
        clear = heap_clear.data();
    } else {
        std::fill(clear, clear + n_words, 0ULL);
    }
    if (f.p1 > 0.0) {
        for (int w = 0; w < n_words; ++w) {
            for (std::uint64_t bits = child[w]; bits; bits &= bits - 1)
                if (rng.uniform() < f.p1) clear[w] |= 1ULL << __builtin_ctzll(bits);
        }
    }
    if (f.p0 > 0.0) {
        // The first skip is floor(log(u) / log(1 - p0)) >= H exactly when u <= (1 - p0)^H: most
        // children set no bit, and this comparison spares them the logarithm.
        const double u = 1.0 - rng.uniform();  // in (0, 1]
        const auto end = static_cast<std::uint64_t>(H);
        const std::uint64_t first = u <= f.no_set_bit ? end : rng.geometric_skip_from(u, f.p0, f.inv_log_q0);
        for (std::uint64_t h = first; h < end; h += 1 + rng.geometric_skip(f.p0, f.inv_log_q0)) {
            // Positions are visited in increasing order, so an unvisited bit still holds the parent's value.
            if (!get_bit(child, static_cast<int>(h))) flip_bit(child, static_cast<int>(h));
        }
    }
    for (int w = 0; w < n_words; ++w) child[w] &= ~clear[w];
}

}  // namespace

FlipProbabilities flip_probabilities(int H, int k, double bitflip_prob, double pi_sum) {
    FlipProbabilities f;
    sparseflip_probabilities(H, k, bitflip_prob, pi_sum, f.p0, f.p1);
    if (f.p0 >= 1.0) {
        f.no_set_bit = 0.0;
    } else if (f.p0 > 0.0) {
        f.inv_log_q0 = 1.0 / std::log1p(-f.p0);
        f.no_set_bit = std::exp(H * std::log1p(-f.p0));
    }
    return f;
}

int make_children(CounterRng& rng, const EvoConfig& config, int H, FlipCache& flips,
                  const std::uint64_t* const* parents, int n_parents, std::uint64_t* children) {
    const int n_words = words_for(H);
    int count = 0;
    auto next_child = [&]() { return children + static_cast<std::size_t>(count++) * n_words; };

    if (config.crossover) {
        for (int i = 0; i < n_parents; ++i) {
            for (int j = 0; j < n_parents; ++j) {
                if (i == j) continue;
                std::uint64_t* child = next_child();
                // Single-point crossover: bits [0, cut) from parent i, [cut, H) from parent j.
                const int cut = H > 1 ? 1 + static_cast<int>(rng.below(static_cast<std::uint64_t>(H - 1))) : H;
                for (int w = 0; w < n_words; ++w) {
                    const int lo = w * 64;
                    std::uint64_t from_i;
                    if (cut >= lo + 64)
                        from_i = ~0ULL;
                    else if (cut <= lo)
                        from_i = 0ULL;
                    else
                        from_i = (1ULL << (cut - lo)) - 1ULL;
                    child[w] = (parents[i][w] & from_i) | (parents[j][w] & ~from_i);
                }
                if (config.mutation == Mutation::randflip)
                    flip_bit(child, static_cast<int>(rng.below(static_cast<std::uint64_t>(H))));
                else if (config.mutation == Mutation::sparseflip)
                    sparseflip(rng, child, H, flips.get(popcount(child, n_words)));
            }
        }
        return count;
    }

    std::vector<int> bits;
    for (int i = 0; i < n_parents; ++i) {
        if (config.mutation == Mutation::randflip) {
            // Distinct bits for the children of one parent (Floyd's algorithm).
            const int k = config.n_children;
            bits.clear();
            for (int j = H - k; j < H; ++j) {
                const int t = static_cast<int>(rng.below(static_cast<std::uint64_t>(j) + 1));
                bits.push_back(std::find(bits.begin(), bits.end(), t) == bits.end() ? t : j);
            }
            for (int c = 0; c < k; ++c) {
                std::uint64_t* child = next_child();
                std::copy(parents[i], parents[i] + n_words, child);
                flip_bit(child, bits[c]);
            }
        } else {
            const FlipProbabilities& f = flips.get(popcount(parents[i], n_words));
            for (int c = 0; c < config.n_children; ++c) {
                std::uint64_t* child = next_child();
                std::copy(parents[i], parents[i] + n_words, child);
                sparseflip(rng, child, H, f);
            }
        }
    }
    return count;
}

}  // namespace zs
