// Checks of packed state arrays passed in from Python.
#pragma once

#include <string>

#include "arrays.hpp"
#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/base/bounds.hpp"

namespace zs::py_bind {

// Throws std::invalid_argument unless 1 <= H <= limits::max_latents (before H sizes or divides anything).
inline void check_latents(long long H) {
    if (H < 1 || H > limits::max_latents)
        throw std::invalid_argument("H (latents) must lie in [1, " + std::to_string(limits::max_latents) + "], got " +
                                    std::to_string(H));
}

// K (N, S, n_words) with 1 <= S <= limits::max_states; bits at positions >= H must be zero, or kernels
// would index past W. Returns S.
inline int check_states(const py::array& K_arr, const std::uint64_t* K, py::ssize_t N, int H) {
    check_latents(H);
    check_shape(K_arr, "K", {N, -1, words_for(H)});
    const py::ssize_t S = K_arr.shape(1);
    if (S < 1 || S > limits::max_states)
        throw std::invalid_argument("K must hold at least one state per patch and at most " +
                                    std::to_string(limits::max_states) + ", got " + std::to_string(S));
    const int tail = H % 64;
    if (tail == 0) return static_cast<int>(S);
    const py::ssize_t n_words = words_for(H), rows = K_arr.size() / n_words;
    const std::uint64_t mask = ~((1ULL << tail) - 1ULL);
    for (py::ssize_t r = 0; r < rows; ++r)
        if (K[r * n_words + n_words - 1] & mask)
            throw std::invalid_argument("K holds a state with bits set beyond H = " + std::to_string(H));
    return static_cast<int>(S);
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
    const int S = check_states(K, K.data(), N, H);
    check_shape(lpj, "lpj", {N, S});
    return {K, lpj, S};
}

}  // namespace zs::py_bind
