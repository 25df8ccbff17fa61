#include <limits>

#include "arrays.hpp"
#include "interrupt.hpp"
#include "register.hpp"
#include "states_check.hpp"
#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/loops/states.hpp"

namespace zs::py_bind {

namespace {

constexpr long long kMaxSize = std::numeric_limits<py::ssize_t>::max();

py::array_t<std::uint64_t> init_states_py(const py::object& N_obj, const py::object& H_obj, const py::object& S_obj,
                                          double p_on, const py::object& seed_obj, const py::object& first_obj) {
    const auto N = static_cast<py::ssize_t>(checked_int(N_obj, "N", 0, kMaxSize));
    const auto H = static_cast<int>(checked_int(H_obj, "H", 1, limits::max_latents));
    const auto S = static_cast<int>(checked_int(S_obj, "S", 1, limits::max_states));
    check_state_count(H, S);
    if (!(p_on >= 0.0 && p_on <= 1.0)) throw std::invalid_argument("p_on must lie in [0, 1]");
    const std::uint64_t seed = checked_uint64(seed_obj, "seed");
    const std::uint64_t first_index = checked_uint64(first_obj, "first_index");
    const py::ssize_t per_patch = static_cast<py::ssize_t>(S) * words_for(H);
    if (N > kMaxSize / 8 / per_patch)
        throw std::invalid_argument("N = " + std::to_string(N) + " patches of " + std::to_string(per_patch) +
                                    " words each exceed the addressable memory");
    py::array_t<std::uint64_t> K({N, static_cast<py::ssize_t>(S), static_cast<py::ssize_t>(words_for(H))});
    std::uint64_t* k = K.mutable_data();
    without_gil([&](const StopPoll&) {
        init_states(k, static_cast<std::size_t>(N), H, S, p_on, seed, first_index);
        return 0;
    });
    return K;
}

py::array_t<std::uint64_t> pack_states_py(const InArray<std::uint8_t>& bits) {
    if (bits.ndim() < 1) throw std::invalid_argument("states must have at least one dimension (..., H)");
    const py::ssize_t H = bits.shape(bits.ndim() - 1);
    check_latents(H);
    std::vector<py::ssize_t> shape(bits.shape(), bits.shape() + bits.ndim());
    shape.back() = words_for(static_cast<int>(H));
    py::array_t<std::uint64_t> K(shape);
    const std::uint8_t* b = bits.data();
    std::uint64_t* k = K.mutable_data();
    const py::ssize_t rows = bits.size() / H, n_words = shape.back();
    std::fill(k, k + rows * n_words, 0ULL);
    for (py::ssize_t r = 0; r < rows; ++r)
        for (py::ssize_t h = 0; h < H; ++h)
            if (b[r * H + h]) {
                if (b[r * H + h] != 1) throw std::invalid_argument("states must hold only 0 and 1");
                flip_bit(k + r * n_words, static_cast<int>(h));
            }
    return K;
}

py::array_t<std::uint8_t> unpack_states_py(const InArray<std::uint64_t>& K, const py::object& H_obj) {
    const auto H = static_cast<int>(checked_int(H_obj, "H", 1, limits::max_latents));
    if (K.ndim() < 1 || K.shape(K.ndim() - 1) != words_for(H))
        throw std::invalid_argument("packed states have shape " + shape_string(K) + ", last axis must be " +
                                    std::to_string(words_for(H)) + " words for H = " + std::to_string(H));
    std::vector<py::ssize_t> shape(K.shape(), K.shape() + K.ndim());
    shape.back() = H;
    py::array_t<std::uint8_t> bits(shape);
    const py::ssize_t n_words = words_for(H), rows = K.size() / n_words;
    const std::uint64_t* k = K.data();
    std::uint8_t* b = bits.mutable_data();
    for (py::ssize_t r = 0; r < rows; ++r)
        for (int h = 0; h < H; ++h) b[r * H + h] = get_bit(k + r * n_words, h) ? 1 : 0;
    return bits;
}

}  // namespace

void register_states(py::module_& m, py::module_&) {
    m.def("init_states", &init_states_py, py::arg("N"), py::arg("H"), py::arg("S"), py::arg("p_on"), py::arg("seed"),
          py::arg("first_index") = 0,
          "Initial truncated sets K (N, S, n_words) uint64: the all-zero state plus S-1 distinct Bernoulli(p_on) "
          "states.");
    m.def("pack_states", &pack_states_py, py::arg("bits"), "(..., H) uint8 0/1 -> (..., n_words) uint64.");
    m.def("unpack_states", &unpack_states_py, py::arg("K"), py::arg("H"), "(..., n_words) uint64 -> (..., H) uint8.");
    m.def(
        "words_for",
        [](const py::object& H) { return words_for(static_cast<int>(checked_int(H, "H", 1, limits::max_latents))); },
        py::arg("H"), "64-bit words per packed state.");
}

}  // namespace zs::py_bind
