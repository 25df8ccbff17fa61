#include "checks.hpp"

#include <algorithm>
#include <cmath>

#include "report.hpp"
#include "zeroshot/base/bitstate.hpp"

namespace zs::bench {

namespace {

constexpr double kDenseTolerance = 1e-12;  // of sum |a_i b_i|: reordered sums of D terms stay near D * 1e-16
constexpr double kLpjTolerance = 1e-9;     // of the cancelling terms' size (see direct_lpj.hpp)
constexpr double kLseTolerance = 1e-10;    // relative: the same values, summed in another order

double log_sum_exp(const double* v, int S) {
    const double top = *std::max_element(v, v + S);
    double z = 0.0;
    for (int s = 0; s < S; ++s) z += std::exp(v[s] - top);
    return top + std::log(z);
}

}  // namespace

std::vector<std::size_t> sample_patches(std::size_t N, int count) {
    const auto m = std::min<std::size_t>(N, static_cast<std::size_t>(count));
    std::vector<std::size_t> out(m);
    for (std::size_t i = 0; i < m; ++i) out[i] = i * N / m;
    return out;
}

Outcome check_dense(const Problem& p, const std::vector<double>& WtY, const std::vector<double>& WtW,
                    const std::vector<std::size_t>& patches) {
    const std::size_t D = p.D, H = p.H;
    double worst = 0.0;
    // got against sum_d a[d * a_step] * b[d * b_step], relative to the sum of the terms' magnitudes.
    auto compare = [&worst, D](double got, const double* a, std::size_t a_step, const double* b, std::size_t b_step) {
        double exact = 0.0, magnitude = 0.0;
        for (std::size_t d = 0; d < D; ++d) {
            exact += a[d * a_step] * b[d * b_step];
            magnitude += std::fabs(a[d * a_step] * b[d * b_step]);
        }
        const double err = std::fabs(got - exact) / (magnitude > 0.0 ? magnitude : 1.0);
        worst = std::isfinite(err) ? std::max(worst, err) : INFINITY;
    };
    for (std::size_t n : patches)
        for (std::size_t h = 0; h < H; ++h) compare(WtY[n * H + h], &p.Y[n * D], 1, &p.W[h], H);
    for (std::size_t g = 0; g < H; ++g)
        for (std::size_t h = 0; h < H; ++h) compare(WtW[g * H + h], &p.W[g], H, &p.W[h], H);
    return {worst <= kDenseTolerance, format("max relative error %.1e, tolerance %.0e", worst, kDenseTolerance)};
}

Outcome check_finite(const std::vector<double>& values) {
    const auto bad = std::count_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); });
    return {bad == 0, format("%zu values, %ld not finite", values.size(), static_cast<long>(bad))};
}

Outcome check_direct_lpj(const ModelKernels& kernels, const std::uint64_t* K, const double* lpj, int H, int S,
                         const std::vector<std::size_t>& patches) {
    const int n_words = words_for(H);
    std::vector<std::int32_t> active(static_cast<std::size_t>(H));
    double worst = 0.0;
    for (std::size_t n : patches) {
        for (int s = 0; s < S; ++s) {
            const std::size_t i = n * S + s;
            const int k = active_indices(K + i * n_words, n_words, active.data());
            double scale = 1.0;
            const double direct = kernels.direct_lpj(n, active.data(), k, scale);
            const double err = std::fabs(lpj[i] - direct) / scale;
            worst = std::isfinite(err) ? std::max(worst, err) : INFINITY;
        }
    }
    return {worst <= kLpjTolerance,
            format("%zu patches x %d states, max error %.1e of the cancelling terms, tolerance %.0e", patches.size(), S,
                   worst, kLpjTolerance)};
}

Outcome check_states(const std::uint64_t* K, int H, int S, const std::vector<std::size_t>& patches) {
    const int n_words = words_for(H);
    const std::uint64_t beyond = H % 64 ? ~((1ULL << (H % 64)) - 1ULL) : 0ULL;
    std::vector<std::vector<std::uint64_t>> states(static_cast<std::size_t>(S));
    std::size_t duplicates = 0, overflowing = 0;
    for (std::size_t n : patches) {
        for (int s = 0; s < S; ++s) {
            const std::uint64_t* state = K + (n * S + s) * n_words;
            states[s].assign(state, state + n_words);
            overflowing += (state[n_words - 1] & beyond) != 0;
        }
        std::sort(states.begin(), states.end());
        duplicates += static_cast<std::size_t>(S - (std::unique(states.begin(), states.end()) - states.begin()));
    }
    return {duplicates == 0 && overflowing == 0, format("%zu patches: %zu duplicate states, %zu with bits beyond H",
                                                        patches.size(), duplicates, overflowing)};
}

Outcome check_lse_not_lowered(const std::vector<double>& before, const std::vector<double>& after, int S) {
    const std::size_t N = before.size() / S;
    std::size_t lowered = 0, raised = 0;
    for (std::size_t n = 0; n < N; ++n) {
        const double old_lse = log_sum_exp(before.data() + n * S, S), new_lse = log_sum_exp(after.data() + n * S, S);
        if (!(new_lse >= old_lse - kLseTolerance * (1.0 + std::fabs(old_lse)))) ++lowered;
        raised += new_lse > old_lse;
    }
    return {lowered == 0, format("%zu patches, %zu raised, %zu lowered", N, raised, lowered)};
}

}  // namespace zs::bench
