#include "synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/base/rng.hpp"

namespace zs::bench {

namespace {

constexpr double kSlabMean = 1.0, kSlabVariance = 0.25;

// A counter-based stream per (seed, stream): the same numbers whatever the thread that draws them.
class DataRng {
public:
    DataRng(std::uint64_t seed, std::uint64_t stream)
        : key_(splitmix64(splitmix64(seed ^ 0x5EED0DA7A5EED0DAULL) ^ stream)) {}
    double uniform() {
        return static_cast<double>(splitmix64(key_ ^ (++counter_ * 0xD1B54A32D192ED03ULL)) >> 11) * 0x1.0p-53;
    }
    double normal() {                      // Box-Muller, one value per pair of uniforms
        const double u = 1.0 - uniform();  // in (0, 1]
        return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * uniform());
    }

private:
    std::uint64_t key_;
    std::uint64_t counter_ = 0;
};

}  // namespace

Problem make_problem(const Options& o) {
    Problem p;
    p.N = o.N;
    p.D = o.D;
    p.H = o.H;
    const auto D = static_cast<std::size_t>(o.D), H = static_cast<std::size_t>(o.H);
    p.W.resize(D * H);
    DataRng dictionary(o.seed, 0);
    for (auto& w : p.W) w = dictionary.normal();
    p.pi.assign(H, o.active / o.H);
    p.mu.assign(H, kSlabMean);
    p.psi.assign(H, kSlabVariance);
    p.sigma2 = o.noise * o.noise;

    const bool slabs = o.model == ModelKind::sssc;
    p.Y.resize(p.N * D);
    const auto n_words = static_cast<std::size_t>(words_for(o.H));
    p.codes.assign(p.N * n_words, 0ULL);
    long long active_total = 0;
#pragma omp parallel reduction(+ : active_total)
    {
        std::vector<std::size_t> active;
        std::vector<double> amplitude;
#pragma omp for schedule(static)
        for (std::int64_t nn = 0; nn < static_cast<std::int64_t>(p.N); ++nn) {
            const auto n = static_cast<std::size_t>(nn);
            DataRng rng(o.seed, n + 1);
            active.clear();
            amplitude.clear();
            for (std::size_t h = 0; h < H; ++h) {
                if (!(rng.uniform() < p.pi[h])) continue;
                active.push_back(h);
                amplitude.push_back(slabs ? p.mu[h] + std::sqrt(p.psi[h]) * rng.normal() : 1.0);
            }
            active_total += static_cast<long long>(active.size());
            for (std::size_t h : active) flip_bit(p.codes.data() + n * n_words, static_cast<int>(h));
            double* y = p.Y.data() + n * D;
            for (std::size_t d = 0; d < D; ++d) {
                const double* w = p.W.data() + d * H;
                double clean = 0.0;
                for (std::size_t i = 0; i < active.size(); ++i) clean += w[active[i]] * amplitude[i];
                y[d] = clean + o.noise * rng.normal();
            }
        }
    }
    p.mean_active = static_cast<double>(active_total) / static_cast<double>(p.N);
    return p;
}

void plant_codes(const Problem& p, std::uint64_t* K, int S) {
    if (S < 2) return;
    const int n_words = words_for(p.H);
#pragma omp parallel for schedule(static)
    for (std::int64_t nn = 0; nn < static_cast<std::int64_t>(p.N); ++nn) {
        const auto n = static_cast<std::size_t>(nn);
        const std::uint64_t* code = p.codes.data() + n * n_words;
        std::uint64_t* K_n = K + n * S * n_words;
        bool present = false;
        for (int s = 0; s < S && !present; ++s)
            present = equal_state(K_n + static_cast<std::size_t>(s) * n_words, code, n_words);
        if (!present) std::copy(code, code + n_words, K_n + static_cast<std::size_t>(S - 1) * n_words);
    }
}

}  // namespace zs::bench
