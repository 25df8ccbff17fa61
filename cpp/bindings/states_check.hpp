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

// The states an E-step updates in place: K (N, S, n_words) as check_states wants it and lpj (N, S).
struct InplaceStates {
    py::array_t<std::uint64_t> K;
    py::array_t<double> lpj;
    int S;
};
inline InplaceStates inplace_states(const py::object& K_obj, const py::object& lpj_obj, py::ssize_t N, int H) {
    auto K = inplace_array<std::uint64_t>(K_obj, "K");
    auto lpj = inplace_array<double>(lpj_obj, "lpj");
    check_states(K, K.data(), N, H);
    const auto S = static_cast<int>(K.shape(1));
    check_shape(lpj, "lpj", {N, S});
    return {K, lpj, S};
}

}  // namespace zs::py_bind
