#include "arrays.hpp"
#include "register.hpp"
#include "zeroshot/bitstate.hpp"
#include "zeroshot/states.hpp"

namespace zs::py_bind {

namespace {

py::array_t<std::uint64_t> init_states_py(py::ssize_t N, int H, int S, double p_on, std::uint64_t seed,
                                          std::uint64_t first_index) {
    if (N < 0) throw std::invalid_argument("N must be >= 0, got " + std::to_string(N));
    check_state_count(H, S);
    if (!(p_on >= 0.0 && p_on <= 1.0)) throw std::invalid_argument("p_on must lie in [0, 1]");
    py::array_t<std::uint64_t> K({N, static_cast<py::ssize_t>(S), static_cast<py::ssize_t>(words_for(H))});
    std::uint64_t* k = K.mutable_data();
    {
        py::gil_scoped_release release;
        init_states(k, static_cast<std::size_t>(N), H, S, p_on, seed, first_index);
    }
    return K;
}

py::array_t<std::uint64_t> pack_states_py(const InArray<std::uint8_t>& bits) {
    if (bits.ndim() < 1) throw std::invalid_argument("states must have at least one dimension (..., H)");
    const py::ssize_t H = bits.shape(bits.ndim() - 1);
    if (H < 1) throw std::invalid_argument("states must have H >= 1 latents");
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

py::array_t<std::uint8_t> unpack_states_py(const InArray<std::uint64_t>& K, int H) {
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

void register_states(py::module_& m) {
    m.def("init_states", &init_states_py, py::arg("N"), py::arg("H"), py::arg("S"), py::arg("p_on"), py::arg("seed"),
          py::arg("first_index") = 0,
          "Initial truncated sets K (N, S, n_words) uint64: the all-zero state plus S-1 distinct Bernoulli(p_on) "
          "states.");
    m.def("pack_states", &pack_states_py, py::arg("bits"), "(..., H) uint8 0/1 -> (..., n_words) uint64.");
    m.def("unpack_states", &unpack_states_py, py::arg("K"), py::arg("H"), "(..., n_words) uint64 -> (..., H) uint8.");
    m.def("words_for", &words_for, py::arg("H"), "64-bit words per packed state.");
}

}  // namespace zs::py_bind
