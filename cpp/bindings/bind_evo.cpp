#include <climits>
#include <string>

#include "arrays.hpp"
#include "register.hpp"
#include "states_check.hpp"
#include "zeroshot/base/bounds.hpp"
#include "zeroshot/base/rng.hpp"
#include "zeroshot/loops/evo.hpp"

namespace zs::py_bind {

namespace {

Selection parse_selection(const std::string& selection) {
    if (selection == "uniform") return Selection::uniform;
    if (selection == "fitness") return Selection::fitness;
    throw std::invalid_argument("selection must be 'uniform' or 'fitness', got '" + selection + "'");
}

Mutation parse_mutation(const std::string& mutation) {
    if (mutation == "none") return Mutation::none;
    if (mutation == "randflip") return Mutation::randflip;
    if (mutation == "sparseflip") return Mutation::sparseflip;
    throw std::invalid_argument("mutation must be 'none', 'randflip' or 'sparseflip', got '" + mutation + "'");
}

const char* selection_name(Selection s) {
    return s == Selection::uniform ? "uniform" : "fitness";
}

const char* mutation_name(Mutation m) {
    return m == Mutation::none ? "none" : (m == Mutation::randflip ? "randflip" : "sparseflip");
}

EvoConfig make_evo_config(const py::object& n_parents, const py::object& n_children, const py::object& n_generations,
                          const std::string& selection, const std::string& mutation, bool crossover,
                          const py::object& bitflip_prob, const py::object& single_latents_from) {
    EvoConfig c;
    c.n_parents = static_cast<int>(checked_int(n_parents, "n_parents", INT_MIN, INT_MAX));
    c.n_children = static_cast<int>(checked_int(n_children, "n_children", INT_MIN, INT_MAX));
    c.n_generations = static_cast<int>(checked_int(n_generations, "n_generations", INT_MIN, INT_MAX));
    c.selection = parse_selection(selection);
    c.mutation = parse_mutation(mutation);
    c.crossover = crossover;
    c.bitflip_prob = bitflip_prob.is_none() ? -1.0 : checked_double(bitflip_prob, "bitflip_prob");
    c.single_latents_from =
        single_latents_from.is_none() ? -1 : checked_int(single_latents_from, "single_latents_from", 0, LLONG_MAX);
    c.validate();
    return c;
}

py::array_t<std::int64_t> select_parents_py(const InArray<double>& lpj, const py::object& n_parents_obj,
                                            const std::string& selection, const py::object& seed_obj,
                                            const py::object& epoch_obj, const py::object& first_obj) {
    check_shape(lpj, "lpj", {-1, -1});
    const auto n_parents = static_cast<int>(checked_int(n_parents_obj, "n_parents", 1, 1 << 16));
    const Selection sel = parse_selection(selection);
    const std::uint64_t seed = checked_uint64(seed_obj, "seed"), epoch = checked_uint64(epoch_obj, "epoch"),
                        first_index = checked_uint64(first_obj, "first_index");
    const py::ssize_t N = lpj.shape(0), S = lpj.shape(1);
    if (S > INT_MAX) throw std::invalid_argument("lpj has too many states per row");
    if (N > (py::ssize_t(1) << 27) / n_parents)
        throw std::invalid_argument("select_parents returns (N, n_parents): meant for small problems");
    py::array_t<std::int64_t> out({N, static_cast<py::ssize_t>(n_parents)});
    std::int64_t* o = out.mutable_data();
    std::fill(o, o + N * n_parents, -1);
    std::vector<std::int64_t> candidates(static_cast<std::size_t>(S));
    for (py::ssize_t s = 0; s < S; ++s) candidates[static_cast<std::size_t>(s)] = s;
    std::vector<double> cdf;
    for (py::ssize_t n = 0; n < N; ++n) {
        CounterRng rng(seed, epoch, first_index + static_cast<std::uint64_t>(n), RngPurpose::select_test);
        select_parents(rng, lpj.data() + n * S, candidates.data(), static_cast<int>(S), n_parents, sel, cdf,
                       o + n * n_parents);
    }
    return out;
}

py::array_t<std::uint64_t> make_children_py(const InArray<std::uint64_t>& parents, const py::object& H_obj,
                                            double expected_active, const py::object& seed_obj, const EvoConfig& evo) {
    const auto H = static_cast<int>(checked_int(H_obj, "H", 1, limits::max_latents));
    const std::uint64_t seed = checked_uint64(seed_obj, "seed");
    const int n_words = words_for(H);
    check_shape(parents, "parents", {evo.n_parents, n_words});
    if (H % 64) {
        const std::uint64_t beyond = ~((1ULL << (H % 64)) - 1ULL);
        for (py::ssize_t i = 0; i < parents.shape(0); ++i)
            if (parents.data()[i * n_words + n_words - 1] & beyond)
                throw std::invalid_argument("parents hold a state with bits set beyond H = " + std::to_string(H));
    }
    evo.validate(H, 1);
    const std::int64_t per_generation = evo.children_per_generation();
    if (per_generation > (std::int64_t(1) << 27) / n_words)
        throw std::invalid_argument("make_children returns (children, n_words): meant for small problems");
    std::vector<const std::uint64_t*> ptrs(static_cast<std::size_t>(evo.n_parents));
    for (std::size_t i = 0; i < ptrs.size(); ++i) ptrs[i] = parents.data() + i * static_cast<std::size_t>(n_words);
    py::array_t<std::uint64_t> out({static_cast<py::ssize_t>(per_generation), static_cast<py::ssize_t>(n_words)});
    CounterRng rng(seed, 0, 0, RngPurpose::select_test);
    FlipCache flips(H, evo.bitflip_prob, expected_active);
    make_children(rng, evo, H, flips, ptrs.data(), evo.n_parents, out.mutable_data());
    return out;
}

}  // namespace

void register_evo(py::module_& m, py::module_& testing) {
    py::class_<EvoConfig>(m, "EvoConfig",
                          "The evolutionary E-step's settings, validated at construction (EvoConfig::validate).")
        .def(py::init(&make_evo_config), py::kw_only(), py::arg("n_parents") = 5, py::arg("n_children") = 4,
             py::arg("n_generations") = 3, py::arg("selection") = "fitness", py::arg("mutation") = "sparseflip",
             py::arg("crossover") = false, py::arg("bitflip_prob") = py::none(),
             py::arg("single_latents_from") = py::none())
        .def_readonly("n_parents", &EvoConfig::n_parents)
        .def_readonly("n_children", &EvoConfig::n_children)
        .def_readonly("n_generations", &EvoConfig::n_generations)
        .def_property_readonly("selection", [](const EvoConfig& c) { return selection_name(c.selection); })
        .def_property_readonly("mutation", [](const EvoConfig& c) { return mutation_name(c.mutation); })
        .def_readonly("crossover", &EvoConfig::crossover)
        .def_property_readonly(
            "bitflip_prob",
            [](const EvoConfig& c) -> py::object { return c.bitflip_prob < 0 ? py::none() : py::cast(c.bitflip_prob); })
        .def_property_readonly("single_latents_from",
                               [](const EvoConfig& c) -> py::object {
                                   return c.single_latents_from < 0 ? py::none() : py::cast(c.single_latents_from);
                               })
        .def_property_readonly("children_per_generation", &EvoConfig::children_per_generation)
        .def("__repr__", [](const EvoConfig& c) {
            return "EvoConfig(n_parents=" + std::to_string(c.n_parents) +
                   ", n_children=" + std::to_string(c.n_children) +
                   ", n_generations=" + std::to_string(c.n_generations) + ", selection='" +
                   selection_name(c.selection) + "', mutation='" + mutation_name(c.mutation) +
                   "', crossover=" + (c.crossover ? "True" : "False") + ", single_latents_from=" +
                   (c.single_latents_from < 0 ? std::string("None") : std::to_string(c.single_latents_from)) + ")";
        });

    testing.def("select_parents", &select_parents_py, py::arg("lpj"), py::arg("n_parents"), py::arg("selection"),
                py::arg("seed"), py::arg("epoch") = 0, py::arg("first_index") = 0,
                "Parent indices (N, n_parents) chosen per row of lpj (N, S); -1 where fewer exist (uniform).");
    testing.def("make_children", &make_children_py, py::arg("parents"), py::arg("H"), py::arg("expected_active"),
                py::arg("seed"), py::arg("evo"),
                "Children (n, n_words) of one EVO generation from the evo.n_parents given parents.");
}

}  // namespace zs::py_bind
