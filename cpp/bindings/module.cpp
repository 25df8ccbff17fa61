// zeroshot._core: the module only calls one register function per area.
#include <pybind11/pybind11.h>

#include "register.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "zeroshot compiled core: truncated states, evolutionary E-step, model kernels, filters";
    pybind11::module_ testing =
        m.def_submodule("testing", "Kernels exposed for the tests only (small problems, the GIL held)");
    zs::py_bind::register_runtime(m);
    zs::py_bind::register_states(m, testing);
    zs::py_bind::register_evo(m, testing);
    zs::py_bind::register_models(m, testing);
    zs::py_bind::register_pmm(m);
    zs::py_bind::register_filters(m);
}
