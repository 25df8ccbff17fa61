// zeroshot._core: the module only calls one register function per area.
#include <pybind11/pybind11.h>

#include "register.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "zeroshot compiled core: truncated states, evolutionary E-step, model kernels";
    zs::py_bind::register_runtime(m);
    zs::py_bind::register_states(m);
    zs::py_bind::register_evo(m);
    zs::py_bind::register_bsc(m);
    zs::py_bind::register_sssc(m);
}
