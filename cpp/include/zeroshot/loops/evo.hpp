// The evolutionary truncated E-step (EVO), shared by every model: a model supplies only an evaluator
//   double lpj(std::size_t n, const std::int32_t* active, int n_active) const;   // n = local patch index
//   int n_latents() const;
//   double expected_active() const;   // sum_h pi_h, the sparsity target of sparseflip
//   void prefetch(std::size_t n) const;  // a hint that patch n comes next
//   void single_latent_lpj(std::size_t n, double* out) const;  // out[h] = lpj of latent h alone, all H
//                                                               // (EvoConfig::single_latents_from)
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/base/parallel.hpp"
#include "zeroshot/base/rng.hpp"

namespace zs {

enum class Selection { uniform, fitness };
enum class Mutation { none, randflip, sparseflip };

struct EvoConfig {
    int n_parents = 5;
    int n_children = 4;  // per parent, without crossover
    int n_generations = 3;
    Selection selection = Selection::fitness;
    Mutation mutation = Mutation::sparseflip;
    bool crossover = false;      // with crossover: one child per ordered parent pair, then mutated
    double bitflip_prob = -1.0;  // sparseflip: expected flips are H * bitflip_prob; < 0 means 1/H
    // From this epoch on (< 0: never) the single-latent states that could be kept (among the best S of K_n and
    // all H of them) join the first generation's candidates: the one pattern that fits a patch best is always
    // found, not by chance.
    std::int64_t single_latents_from = -1;

    // In 64 bits: the int counts are validated only by validate().
    std::int64_t children_per_generation() const {
        const auto parents = static_cast<std::int64_t>(n_parents);
        return crossover ? parents * (parents - 1) : parents * static_cast<std::int64_t>(n_children);
    }
    // Children of one patch in one E-step.
    std::int64_t children_per_step() const { return children_per_generation() * n_generations; }

    // Throws std::invalid_argument unless the configuration is usable (counts, their products at most
    // limits::max_children, bitflip_prob); the core's own check of every EVO setting (Python's
    // EvoConfig checks them first, for its messages).
    void validate() const;
    // The same, and usable for H latents and S states per patch.
    void validate(int H, int S) const;
};

// Chooses parents among `m` candidates with log-joints `lpj` (uniform: without replacement;
// fitness: with replacement, probability proportional to lpj - min(lpj) + 1, normalised per data point).
// Writes min(n_parents, m) (uniform) or n_parents (fitness) indices to `out`; returns how many.
int select_parents(CounterRng& rng, const double* lpj, const std::int64_t* candidates, int m, int n_parents,
                   Selection selection, std::vector<double>& cdf_buffer, std::int64_t* out);

// sparseflip's flip probabilities for a parent with k active bits (see evo.cpp).
struct FlipProbabilities {
    double p0 = 0.0, p1 = 0.0, inv_log_q0 = 0.0;
    double no_set_bit = 1.0;  // (1 - p0)^H: the first geometric skip reaches past H (no 0-bit is set)
};
FlipProbabilities flip_probabilities(int H, int k, double bitflip_prob, double pi_sum);

// The probabilities depend on the parent only through k: computed once per k and E-step (per thread).
class FlipCache {
public:
    FlipCache(int H, double bitflip_prob, double pi_sum)
        : H_(H),
          bitflip_prob_(bitflip_prob),
          pi_sum_(pi_sum),
          known_(static_cast<std::size_t>(H) + 1, 0),
          values_(static_cast<std::size_t>(H) + 1) {}
    const FlipProbabilities& get(int k) {
        if (!known_[k]) {
            values_[k] = flip_probabilities(H_, k, bitflip_prob_, pi_sum_);
            known_[k] = 1;
        }
        return values_[k];
    }

private:
    int H_;
    double bitflip_prob_, pi_sum_;
    std::vector<char> known_;
    std::vector<FlipProbabilities> values_;
};

// Children of one generation, written consecutively into `children` (n_words each); returns their number.
int make_children(CounterRng& rng, const EvoConfig& config, int H, FlipCache& flips,
                  const std::uint64_t* const* parents, int n_parents, std::uint64_t* children);

struct EvoWorkspace {
    explicit EvoWorkspace(int n_words) : pool(n_words) {}
    StatePool pool;
    std::vector<double> pool_lpj, single_lpj, threshold;
    std::vector<char> held;
    std::vector<std::uint64_t> single;
    std::vector<std::int32_t> active;
    std::vector<std::int64_t> candidates, next_candidates, selected, order;
    std::vector<const std::uint64_t*> parent_ptrs;
    std::vector<std::uint64_t> parent_copy, children;
    std::vector<double> cdf;
};

// One EVO E-step for patch n: re-evaluates K_n, adds the single-latent states that could be kept when
// `singles`, runs the generations, keeps the best S of K_n and all distinct new states (in selection order).
// Returns the number of replaced states.
template <class Evaluator>
int evo_patch(const Evaluator& model, const EvoConfig& config, std::size_t n, CounterRng& rng, std::uint64_t* K_n,
              double* lpj_n, int S, EvoWorkspace& ws, FlipCache& flips, bool singles) {
    const int H = model.n_latents();
    const int n_words = words_for(H);
    const auto per_gen = static_cast<std::size_t>(config.children_per_generation());  // validated: small
    ws.active.resize(static_cast<std::size_t>(H));
    ws.pool.reset(static_cast<std::size_t>(S) + per_gen * static_cast<std::size_t>(config.n_generations));
    ws.pool_lpj.clear();
    ws.candidates.clear();

    ws.held.assign(singles ? static_cast<std::size_t>(H) : 0, 0);  // the single-latent states K_n holds
    auto evaluate = [&](const std::uint64_t* state) {
        const int k = active_indices(state, n_words, ws.active.data());
        return model.lpj(n, ws.active.data(), k);
    };
    for (int s = 0; s < S; ++s) {
        const std::uint64_t* state = K_n + static_cast<std::size_t>(s) * n_words;
        if (ws.pool.insert(state) < 0) throw std::invalid_argument("a truncated state set holds the same state twice");
        ws.pool_lpj.push_back(evaluate(state));  // leaves the state's active latents in ws.active
        if (singles && popcount(state, n_words) == 1) ws.held[static_cast<std::size_t>(ws.active[0])] = 1;
        ws.candidates.push_back(s);
    }
    if (singles) {
        // Only singles among the best S of K_n and all singles can be kept: those join (at most S of them).
        ws.single_lpj.resize(static_cast<std::size_t>(H));
        model.single_latent_lpj(n, ws.single_lpj.data());
        // The S-th best of K_n's and the eligible singles' log-joints: a min-heap of the best S seen (most singles
        // fail its first comparison; an nth_element over all of them took a tenth of an inference E-step).
        ws.threshold.assign(ws.pool_lpj.begin(), ws.pool_lpj.end());
        const double worst = *std::min_element(ws.threshold.begin(), ws.threshold.end());
        std::make_heap(ws.threshold.begin(), ws.threshold.end(), std::greater<double>());
        for (int h = 0; h < H; ++h) {
            const double v = ws.single_lpj[static_cast<std::size_t>(h)];
            if (v > worst && !ws.held[static_cast<std::size_t>(h)] && v > ws.threshold.front()) {
                std::pop_heap(ws.threshold.begin(), ws.threshold.end(), std::greater<double>());
                ws.threshold.back() = v;
                std::push_heap(ws.threshold.begin(), ws.threshold.end(), std::greater<double>());
            }
        }
        const double kept = ws.threshold.front();  // the S-th best
        ws.single.assign(static_cast<std::size_t>(n_words), 0ULL);
        for (int h = 0; h < H; ++h) {
            const double v = ws.single_lpj[static_cast<std::size_t>(h)];
            if (!(v > worst && v >= kept) || ws.held[static_cast<std::size_t>(h)]) continue;
            flip_bit(ws.single.data(), h);
            const std::int64_t idx = ws.pool.insert(ws.single.data());
            flip_bit(ws.single.data(), h);
            if (idx < 0) continue;
            ws.pool_lpj.push_back(v);
            ws.candidates.push_back(idx);
        }
    }
    ws.selected.resize(static_cast<std::size_t>(std::max(config.n_parents, 1)));
    ws.children.resize(per_gen * static_cast<std::size_t>(n_words));
    for (int g = 0; g < config.n_generations && !ws.candidates.empty(); ++g) {
        const int n_sel =
            select_parents(rng, ws.pool_lpj.data(), ws.candidates.data(), static_cast<int>(ws.candidates.size()),
                           config.n_parents, config.selection, ws.cdf, ws.selected.data());
        // Parents are copied: inserting children may reallocate the pool's storage.
        ws.parent_copy.resize(static_cast<std::size_t>(n_sel) * n_words);
        ws.parent_ptrs.resize(static_cast<std::size_t>(n_sel));
        for (int i = 0; i < n_sel; ++i) {
            const std::uint64_t* p = ws.pool.state(ws.selected[i]);
            std::copy(p, p + n_words, ws.parent_copy.begin() + static_cast<std::ptrdiff_t>(i) * n_words);
            ws.parent_ptrs[i] = ws.parent_copy.data() + static_cast<std::size_t>(i) * n_words;
        }
        const int n_children = make_children(rng, config, H, flips, ws.parent_ptrs.data(), n_sel, ws.children.data());
        ws.next_candidates.clear();
        for (int c = 0; c < n_children; ++c) {
            const std::uint64_t* child = ws.children.data() + static_cast<std::size_t>(c) * n_words;
            const std::int64_t idx = ws.pool.insert(child);  // duplicates dropped before evaluation
            if (idx < 0) continue;
            ws.pool_lpj.push_back(evaluate(child));
            ws.next_candidates.push_back(idx);
        }
        ws.candidates.swap(ws.next_candidates);
    }

    // Keep the best S; ties broken by pool index so the result is deterministic. Only children that
    // beat the worst old state can enter, and in most patches there are none or a few.
    const auto m = static_cast<std::int64_t>(ws.pool.size());
    const double* l = ws.pool_lpj.data();
    auto better = [l](std::int64_t a, std::int64_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); };
    std::int64_t worst = 0;
    for (std::int64_t s = 1; s < S; ++s)
        if (better(worst, s)) worst = s;
    bool any_better = false;
    for (std::int64_t i = S; i < m && !any_better; ++i) any_better = better(i, worst);
    if (!any_better) {  // K_n stays as it is
        for (int s = 0; s < S; ++s) lpj_n[s] = l[s];
        return 0;
    }
    // The kept set: the best S of the old states and the children that beat the worst old one.
    ws.order.resize(static_cast<std::size_t>(S));
    for (int s = 0; s < S; ++s) ws.order[s] = s;
    for (std::int64_t i = S; i < m; ++i)
        if (better(i, worst)) ws.order.push_back(i);
    std::nth_element(ws.order.begin(), ws.order.begin() + (S - 1), ws.order.end(), better);
    ws.order.resize(static_cast<std::size_t>(S));
    int replaced = 0;
    for (int s = 0; s < S; ++s) {
        const std::int64_t idx = ws.order[s];
        if (idx >= S) ++replaced;
        const std::uint64_t* src = ws.pool.state(idx);
        std::copy(src, src + n_words, K_n + static_cast<std::size_t>(s) * n_words);
        lpj_n[s] = l[idx];
    }
    return replaced;
}

// EVO over all patches in parallel. K: (N, S, n_words), lpj: (N, S), both updated in place.
// Random streams are keyed by (seed, epoch, first_index + n). Returns the total number of replaced states.
// When `stop` asks to stop, the remaining patches are skipped and Interrupted is thrown.
template <class Evaluator>
std::int64_t evo_step(const Evaluator& model, const EvoConfig& config, std::uint64_t* K, double* lpj, std::size_t N,
                      int S, std::uint64_t seed, std::uint64_t epoch, std::uint64_t first_index,
                      const StopPoll& stop = {}) {
    config.validate(model.n_latents(), S);
    const int n_words = words_for(model.n_latents());
    const bool singles =
        config.single_latents_from >= 0 && epoch >= static_cast<std::uint64_t>(config.single_latents_from);
    std::int64_t replaced = 0;
    ExceptionCollector errors;
    StopFlag stopping(stop);
#pragma omp parallel reduction(+ : replaced)
    {
        EvoWorkspace ws(n_words);
        FlipCache flips(model.n_latents(), config.bitflip_prob, model.expected_active());
#pragma omp for schedule(dynamic, 64)
        for (std::int64_t n = 0; n < static_cast<std::int64_t>(N); ++n) {
            if (stopping.skip()) continue;
            errors.run([&] {
                if (n + 1 < static_cast<std::int64_t>(N)) model.prefetch(static_cast<std::size_t>(n + 1));
                CounterRng rng(seed, epoch, first_index + static_cast<std::uint64_t>(n), RngPurpose::evo);
                replaced += evo_patch(model, config, static_cast<std::size_t>(n), rng,
                                      K + static_cast<std::size_t>(n) * S * n_words,
                                      lpj + static_cast<std::size_t>(n) * S, S, ws, flips, singles);
            });
        }
    }
    errors.rethrow();
    stopping.throw_if_stopped();
    return replaced;
}

}  // namespace zs
