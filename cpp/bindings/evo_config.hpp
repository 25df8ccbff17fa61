// Building an EvoConfig from the keyword arguments the Python layer passes.
#pragma once

#include <string>

#include "arrays.hpp"
#include "zeroshot/evo.hpp"

namespace zs::py_bind {

inline EvoConfig make_evo_config(int n_parents, int n_children, int n_generations, const std::string& selection,
                                 const std::string& mutation, bool crossover, double bitflip_prob) {
    EvoConfig c;
    c.n_parents = n_parents;
    c.n_children = n_children;
    c.n_generations = n_generations;
    if (selection == "uniform")
        c.selection = Selection::uniform;
    else if (selection == "fitness")
        c.selection = Selection::fitness;
    else
        throw std::invalid_argument("selection must be 'uniform' or 'fitness', got '" + selection + "'");
    if (mutation == "none")
        c.mutation = Mutation::none;
    else if (mutation == "randflip")
        c.mutation = Mutation::randflip;
    else if (mutation == "sparseflip")
        c.mutation = Mutation::sparseflip;
    else
        throw std::invalid_argument("mutation must be 'none', 'randflip' or 'sparseflip', got '" + mutation + "'");
    c.crossover = crossover;
    c.bitflip_prob = bitflip_prob;
    return c;
}

#define ZS_EVO_ARGS                                                                                                   \
    py::arg("n_parents"), py::arg("n_children"), py::arg("n_generations"), py::arg("selection"), py::arg("mutation"), \
        py::arg("crossover"), py::arg("bitflip_prob")

}  // namespace zs::py_bind
