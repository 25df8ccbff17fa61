// Wraps a model's evaluator to count the log-joints the EVO E-step asks for (one counter per thread,
// each on its own cache line), so the benchmark can report evaluated children per second.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace zs::bench {

template <class Evaluator>
class CountingEvaluator {
public:
    explicit CountingEvaluator(const Evaluator& inner) : inner_(inner), counts_(max_threads()) {}

    double lpj(std::size_t n, const std::int32_t* active, int k) const {
        ++counts_[thread_index()].value;
        return inner_.lpj(n, active, k);
    }
    int n_latents() const { return inner_.n_latents(); }
    double expected_active() const { return inner_.expected_active(); }
    void prefetch(std::size_t n) const { inner_.prefetch(n); }
    // Not counted: the single-latent states are offered only from EvoConfig::single_latents_from on, which
    // the benchmark leaves off.
    void single_latent_lpj(std::size_t n, double* out) const { inner_.single_latent_lpj(n, out); }

    std::int64_t total() const {
        std::int64_t sum = 0;
        for (const auto& c : counts_) sum += c.value;
        return sum;
    }

private:
    struct alignas(64) Counter {
        std::int64_t value = 0;
    };
    static std::size_t max_threads() {
#ifdef _OPENMP
        return static_cast<std::size_t>(omp_get_max_threads());
#else
        return 1;
#endif
    }
    static std::size_t thread_index() {
#ifdef _OPENMP
        return static_cast<std::size_t>(omp_get_thread_num());
#else
        return 0;
#endif
    }

    const Evaluator& inner_;
    mutable std::vector<Counter> counts_;
};

}  // namespace zs::bench
