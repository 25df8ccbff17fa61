// Checks of packed state arrays passed in from Python.
#pragma once

#include "arrays.hpp"
#include "zeroshot/bitstate.hpp"

namespace zs::py_bind {

// K (N, S, n_words): bits at positions >= H must be zero, or kernels would index past W.
inline void check_states(const py::array& K_arr, const std::uint64_t* K, py::ssize_t N, int H) {
    check_shape(K_arr, "K", {N, -1, words_for(H)});
    const int tail = H % 64;
    if (tail == 0) return;
    const py::ssize_t n_words = words_for(H), rows = K_arr.size() / n_words;
    const std::uint64_t mask = ~((1ULL << tail) - 1ULL);
    for (py::ssize_t r = 0; r < rows; ++r)
        if (K[r * n_words + n_words - 1] & mask)
            throw std::invalid_argument("K holds a state with bits set beyond H = " + std::to_string(H));
}

}  // namespace zs::py_bind
