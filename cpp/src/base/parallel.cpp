#include "zeroshot/base/parallel.hpp"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "zeroshot/base/bounds.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace zs {

void set_num_threads(int n) {
    if (n < 1 || n > limits::max_threads)
        throw std::invalid_argument("number of threads must lie in [1, " + std::to_string(limits::max_threads) +
                                    "], got " + std::to_string(n));
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int get_num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int thread_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

bool all_finite(const double* values, std::size_t n) {
    // A NaN or Inf has all 11 exponent bits set. The test is on the bits, OR-ed without a branch, so that the
    // compiler vectorises it (std::isfinite and an early exit kept it scalar: 2.5 % of a tomogram slice's time).
    constexpr std::uint64_t exponent = 0x7FF0000000000000ULL;
    std::uint64_t special = 0;
#pragma omp parallel for reduction(| : special) schedule(static)
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(n); ++i) {
        std::uint64_t bits;
        std::memcpy(&bits, values + i, sizeof bits);
        special |= static_cast<std::uint64_t>((bits & exponent) == exponent);
    }
    return special == 0;
}

bool has_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

}  // namespace zs
