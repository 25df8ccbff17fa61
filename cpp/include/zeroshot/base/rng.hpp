// Counter-based random numbers: every stream is a pure function of (seed, epoch, global patch index),
// so results do not depend on how patches are split over threads or MPI ranks.
#pragma once

#include <cmath>
#include <cstdint>

namespace zs {

inline std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

// Purposes keep the streams of different jobs (initialisation, E-step) apart for the same patch.
enum class RngPurpose : std::uint64_t { init_states = 1, evo = 2, select_test = 3 };

class CounterRng {
public:
    CounterRng(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index, RngPurpose purpose)
        : key_(splitmix64(splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ index) ^
                          static_cast<std::uint64_t>(purpose))) {}

    std::uint64_t next() { return splitmix64(key_ ^ (++counter_ * 0xD1B54A32D192ED03ULL)); }

    // Uniform in [0, 1).
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift with rejection, unbiased).
    std::uint64_t below(std::uint64_t n) {
        for (;;) {
            const unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
            const auto low = static_cast<std::uint64_t>(m);
            if (low >= n || low >= (0 - n) % n) return static_cast<std::uint64_t>(m >> 64);
        }
    }

    // Number of failures before the next success of a Bernoulli(p) sequence, 0 < p <= 1;
    // inv_log_q = 1 / log(1 - p) (pass it precomputed: the logarithm dominates otherwise).
    std::uint64_t geometric_skip(double p, double inv_log_q) {
        return geometric_skip_from(1.0 - uniform(), p, inv_log_q);
    }

    // The same from a given uniform u in (0, 1].
    static std::uint64_t geometric_skip_from(double u, double p, double inv_log_q) {
        if (p >= 1.0) return 0;
        const double k = std::floor(std::log(u) * inv_log_q);
        return k > 1e18 ? std::uint64_t(1e18) : static_cast<std::uint64_t>(k);
    }
    std::uint64_t geometric_skip(double p) { return geometric_skip(p, 1.0 / std::log1p(-p)); }

    std::uint64_t position() const { return counter_; }

private:
    std::uint64_t key_;
    std::uint64_t counter_ = 0;
};

}  // namespace zs
