#include "arrays.hpp"
#include "register.hpp"
#include "zeroshot/bounds.hpp"
#include "zeroshot/parallel.hpp"

namespace zs::py_bind {

void register_runtime(py::module_& m) {
    m.def("set_num_threads", &zs::set_num_threads, py::arg("n"), "Number of OpenMP threads of the kernels.");
    m.def("get_num_threads", &zs::get_num_threads);
    m.def("has_openmp", &zs::has_openmp, "Whether the core was built with OpenMP.");
    m.attr("PI_MIN") = bounds::pi_min;
    m.attr("SIGMA2_MIN") = bounds::sigma2_min;
    m.attr("PSI_MIN") = bounds::psi_min;
}

}  // namespace zs::py_bind
