#pragma once

#include <pybind11/pybind11.h>

namespace zs::py_bind {
void register_runtime(pybind11::module_& m);
void register_states(pybind11::module_& m);
void register_evo(pybind11::module_& m);
void register_bsc(pybind11::module_& m);
void register_sssc(pybind11::module_& m);
}  // namespace zs::py_bind
