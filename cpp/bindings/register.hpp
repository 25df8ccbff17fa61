#pragma once

#include <pybind11/pybind11.h>

namespace zs::py_bind {
void register_runtime(pybind11::module_& m);
void register_states(pybind11::module_& m, pybind11::module_& testing);
void register_evo(pybind11::module_& m, pybind11::module_& testing);
void register_models(pybind11::module_& m, pybind11::module_& testing);
void register_pmm(pybind11::module_& m);
void register_filters(pybind11::module_& m);
}  // namespace zs::py_bind
