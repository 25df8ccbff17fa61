#include "arrays.hpp"
#include "register.hpp"
#include "zeroshot/base/bounds.hpp"
#include "zeroshot/base/parallel.hpp"

namespace zs::py_bind {

void register_runtime(py::module_& m) {
    m.def(
        "set_num_threads",
        [](const py::object& n) {
            zs::set_num_threads(static_cast<int>(checked_int(n, "number of threads", 1, limits::max_threads)));
        },
        py::arg("n"), "Number of OpenMP threads of the kernels, in [1, MAX_THREADS].");
    m.def("get_num_threads", &zs::get_num_threads);
    m.def("has_openmp", &zs::has_openmp, "Whether the core was built with OpenMP.");
    m.attr("PI_MIN") = bounds::pi_min;
    m.attr("SIGMA2_MIN") = bounds::sigma2_min;
    m.attr("PSI_MIN") = bounds::psi_min;
    m.attr("MAX_THREADS") = limits::max_threads;
    m.attr("MAX_LATENTS") = limits::max_latents;
    m.attr("MAX_STATES") = limits::max_states;
    m.attr("MAX_EVO_CHILDREN") = limits::max_children;
}

}  // namespace zs::py_bind
