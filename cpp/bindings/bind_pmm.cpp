// The Poisson mixture model's kernels. Not register_model<>: the PMM has no dictionary, no dense products
// and no packed binary states (its K_n are int32 component indices), so it binds three functions of its own.
#include <climits>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "arrays.hpp"
#include "interrupt.hpp"
#include "moments_outputs.hpp"
#include "register.hpp"
#include "zeroshot/base/bounds.hpp"
#include "zeroshot/model/pmm.hpp"

namespace zs::py_bind {

namespace {

InArray<double> counts(const py::handle& obj) {
    auto Y = as_array<double>(obj, "Y");
    check_shape(Y, "Y", {-1, -1});
    const double* v = Y.data();
    for (py::ssize_t i = 0; i < Y.size(); ++i)
        if (!std::isfinite(v[i]) || v[i] < 0.0)
            throw std::invalid_argument("Y must hold finite non-negative values (counts)");
    return Y;
}

// C components (1..limits::max_latents) of D pixels; C * D statistics per thread must stay reasonable.
void check_components_count(py::ssize_t C, py::ssize_t D) {
    if (C < 1 || C > limits::max_latents)
        throw std::invalid_argument("the number of components C must lie in [1, " +
                                    std::to_string(limits::max_latents) + "], got " + std::to_string(C));
    if (D > (py::ssize_t(1) << 28) / C) throw std::invalid_argument("C * D is too large (over 2**28)");
}

// K (N, S) int32 and lpj (N, S); returns S.
int check_component_states(const py::array& K, const InArray<double>& lpj, py::ssize_t N) {
    check_shape(K, "K", {N, -1});
    const auto S = K.shape(1);
    check_log_joints(lpj, N, S);
    if (S > limits::max_states) throw std::invalid_argument("K has too many states per patch");
    return static_cast<int>(S);
}

InArray<std::int32_t> component_indices(const py::handle& obj) {
    if (!py::isinstance<py::array>(obj) ||
        !py::reinterpret_borrow<py::array>(obj).dtype().is(py::dtype::of<std::int32_t>()))
        throw std::invalid_argument("K must be a numpy array of dtype int32 (component indices)");
    return InArray<std::int32_t>::ensure(obj);
}

std::int64_t select_py(const py::handle& G_obj, const py::handle& offset_obj, const py::handle& Y_obj,
                       const py::object& K_obj, const py::object& lpj_obj) {
    const auto G = as_array<double>(G_obj, "G");
    const auto offset = as_array<double>(offset_obj, "offset");
    const auto Y = counts(Y_obj);
    auto K = inplace_array<std::int32_t>(K_obj, "K");
    auto lpj = inplace_array<double>(lpj_obj, "lpj");
    check_shape(G, "G", {Y.shape(0), -1});
    const auto N = Y.shape(0), C = G.shape(1), D = Y.shape(1);
    check_shape(offset, "offset", {C});
    check_shape(K, "K", {N, -1});
    check_shape(lpj, "lpj", {N, K.shape(1)});
    const auto S = K.shape(1);
    check_components_count(C, D);
    if (S < 1 || S > C) throw std::invalid_argument("K must hold between 1 and C states per patch");
    check_finite(G, "G");
    check_finite(offset, "offset");
    return without_gil([&](const StopPoll& stop) {
        return pmm_select(G.data(), offset.data(), Y.data(), static_cast<std::size_t>(N), static_cast<int>(C),
                          static_cast<int>(D), static_cast<int>(S), K.mutable_data(), lpj.mutable_data(), stop);
    });
}

py::array_t<double> accumulate_py(const py::handle& Y_obj, const py::handle& K_obj, const py::handle& lpj_obj,
                                  const py::object& C_obj) {
    const auto Y = counts(Y_obj);
    const auto K = component_indices(K_obj);
    const auto lpj = as_array<double>(lpj_obj, "lpj");
    const int C = static_cast<int>(checked_int(C_obj, "C", 1, limits::max_latents));
    const auto N = Y.shape(0), D = Y.shape(1);
    check_components_count(C, D);
    const int S = check_component_states(K, lpj, N);
    PmmStats stats = without_gil([&](const StopPoll& stop) {
        return pmm_accumulate(Y.data(), static_cast<std::size_t>(N), static_cast<int>(D), C, K.data(), lpj.data(), S,
                              stop);
    });
    std::vector<double> flat;
    flat.reserve(stats.q_sum.size() + stats.qy.size() + 1);
    flat.insert(flat.end(), stats.q_sum.begin(), stats.q_sum.end());
    flat.insert(flat.end(), stats.qy.begin(), stats.qy.end());
    flat.push_back(stats.lse);
    const auto size = static_cast<py::ssize_t>(flat.size());
    return to_numpy(std::move(flat), {size});
}

py::tuple moments_py(const py::handle& Lambda_obj, const py::handle& K_obj, const py::handle& lpj_obj,
                     const py::object& order) {
    const auto Lambda = as_array<double>(Lambda_obj, "Lambda");
    check_shape(Lambda, "Lambda", {-1, -1});
    check_finite(Lambda, "Lambda");
    const auto K = component_indices(K_obj);
    const auto lpj = as_array<double>(lpj_obj, "lpj");
    check_shape(K, "K", {-1, -1});
    const auto N = K.shape(0), C = Lambda.shape(0), D = Lambda.shape(1);
    check_components_count(C, D);
    const int S = check_component_states(K, lpj, N);
    const MomentOutputs out(static_cast<int>(checked_int(order, "order", INT_MIN, INT_MAX)), N, D);
    without_gil([&](const StopPoll& stop) {
        pmm_posterior_moments(Lambda.data(), static_cast<int>(C), static_cast<int>(D), K.data(), lpj.data(),
                              static_cast<std::size_t>(N), S, out.arrays(), stop);
        return 0;
    });
    return out.as_tuple();
}

}  // namespace

void register_pmm(py::module_& m) {
    m.def("pmm_select", &select_py, py::arg("G"), py::arg("offset"), py::arg("Y"), py::arg("K"), py::arg("lpj"),
          "The best S components per patch from G (N, C) = Y (log Lambda)^T and offset (C,) = log pi - "
          "sum_d Lambda: K (N, S) int32 and lpj (N, S) (full log-joints, sum_d lgamma(y_d + 1) included) in "
          "place, best first; returns the number of components not in the old K_n.");
    m.def("pmm_accumulate", &accumulate_py, py::arg("Y"), py::arg("K"), py::arg("lpj"), py::arg("C"),
          "PMM M-step statistics as one flat vector, summable over data shards: sum_n q_n (C,), "
          "sum_n q_n y_n^T (C, D), then sum_n log sum_s exp(lpj_ns) (the free energy).");
    m.def("pmm_posterior_moments", &moments_py, py::arg("Lambda"), py::arg("K"), py::arg("lpj"), py::arg("order") = 1,
          "Posterior moments of the noise-free rates under the PMM: (mean (N, D), variance (N, D) if order >= 2 "
          "else None, third central moment (N, D) if order == 3 else None).");
}

}  // namespace zs::py_bind
