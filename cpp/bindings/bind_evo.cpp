#include "arrays.hpp"
#include "evo_config.hpp"
#include "register.hpp"
#include "zeroshot/rng.hpp"

namespace zs::py_bind {

namespace {

py::array_t<std::int64_t> select_parents_py(const InArray<double>& lpj, int n_parents, const std::string& selection,
                                            std::uint64_t seed, std::uint64_t epoch, std::uint64_t first_index) {
    check_shape(lpj, "lpj", {-1, -1});
    const EvoConfig c = make_evo_config(n_parents, 1, 1, selection, "randflip", false, -1.0);
    if (n_parents < 1) throw std::invalid_argument("n_parents must be >= 1");
    const py::ssize_t N = lpj.shape(0), S = lpj.shape(1);
    py::array_t<std::int64_t> out({N, static_cast<py::ssize_t>(n_parents)});
    std::int64_t* o = out.mutable_data();
    std::fill(o, o + N * n_parents, -1);
    std::vector<std::int64_t> candidates(static_cast<std::size_t>(S));
    for (py::ssize_t s = 0; s < S; ++s) candidates[s] = s;
    std::vector<double> cdf;
    for (py::ssize_t n = 0; n < N; ++n) {
        CounterRng rng(seed, epoch, first_index + static_cast<std::uint64_t>(n), RngPurpose::select_test);
        select_parents(rng, lpj.data() + n * S, candidates.data(), static_cast<int>(S), n_parents, c.selection, cdf,
                       o + n * n_parents);
    }
    return out;
}

py::array_t<std::uint64_t> make_children_py(const InArray<std::uint64_t>& parents, int H, double expected_active,
                                            std::uint64_t seed, int n_parents, int n_children, int n_generations,
                                            const std::string& selection, const std::string& mutation, bool crossover,
                                            double bitflip_prob) {
    const EvoConfig c =
        make_evo_config(n_parents, n_children, n_generations, selection, mutation, crossover, bitflip_prob);
    check_shape(parents, "parents", {-1, words_for(H)});
    if (H % 64) {
        const std::uint64_t beyond = ~((1ULL << (H % 64)) - 1ULL);
        for (py::ssize_t i = 0; i < parents.shape(0); ++i)
            if (parents.data()[i * words_for(H) + words_for(H) - 1] & beyond)
                throw std::invalid_argument("parents hold a state with bits set beyond H = " + std::to_string(H));
    }
    c.validate(H, 1);
    const int P = static_cast<int>(parents.shape(0));
    if (P != c.n_parents) throw std::invalid_argument("parents must have n_parents rows");
    std::vector<const std::uint64_t*> ptrs(static_cast<std::size_t>(P));
    for (int i = 0; i < P; ++i) ptrs[i] = parents.data() + static_cast<std::size_t>(i) * words_for(H);
    py::array_t<std::uint64_t> out(
        {static_cast<py::ssize_t>(c.children_per_generation()), static_cast<py::ssize_t>(words_for(H))});
    CounterRng rng(seed, 0, 0, RngPurpose::select_test);
    FlipCache flips(H, c.bitflip_prob, expected_active);
    make_children(rng, c, H, flips, ptrs.data(), P, out.mutable_data());
    return out;
}

}  // namespace

void register_evo(py::module_& m) {
    m.def("select_parents", &select_parents_py, py::arg("lpj"), py::arg("n_parents"), py::arg("selection"),
          py::arg("seed"), py::arg("epoch") = 0, py::arg("first_index") = 0,
          "Parent indices (N, n_parents) chosen per row of lpj (N, S); -1 where fewer exist (uniform).");
    m.def("make_children", &make_children_py, py::arg("parents"), py::arg("H"), py::arg("expected_active"),
          py::arg("seed"), ZS_EVO_ARGS, "Children (n, n_words) of one EVO generation from the given parents.");
}

}  // namespace zs::py_bind
