#include "arrays.hpp"
#include "evo_config.hpp"
#include "register.hpp"
#include "states_check.hpp"
#include "zeroshot/evo.hpp"
#include "zeroshot/sssc.hpp"

namespace zs::py_bind {

namespace {

struct SsscInputs {
    InArray<double> WtY, y2, WtW, pi, mu, psi;
    int H;
    py::ssize_t N;
};

SsscInputs sssc_inputs(const InArray<double>& WtY, const InArray<double>& y2, const InArray<double>& WtW,
                       const InArray<double>& pi, const InArray<double>& mu, const InArray<double>& psi) {
    check_shape(WtY, "WtY", {-1, -1});
    const py::ssize_t N = WtY.shape(0), H = WtY.shape(1);
    check_shape(y2, "y2", {N});
    check_shape(WtW, "WtW", {H, H});
    check_shape(pi, "pi", {H});
    check_shape(mu, "mu", {H});
    check_shape(psi, "psi", {H});
    check_finite(WtY, "WtY");
    check_finite(y2, "y2");
    check_finite(WtW, "WtW");
    check_finite(pi, "pi");
    check_finite(mu, "mu");
    check_finite(psi, "psi");
    return {WtY, y2, WtW, pi, mu, psi, static_cast<int>(H), N};
}

py::array_t<double> sssc_lpj_py(const InArray<double>& WtY, const InArray<double>& y2, const InArray<double>& WtW,
                                const InArray<double>& pi, const InArray<double>& mu, const InArray<double>& psi,
                                double sigma2, const InArray<std::uint64_t>& K) {
    const SsscInputs in = sssc_inputs(WtY, y2, WtW, pi, mu, psi);
    check_states(K, K.data(), in.N, in.H);
    const auto S = static_cast<int>(K.shape(1));
    py::array_t<double> lpj({in.N, static_cast<py::ssize_t>(S)});
    double* out = lpj.mutable_data();
    SsscEvaluator model(in.WtY.data(), in.y2.data(), in.WtW.data(), in.pi.data(), in.mu.data(), in.psi.data(),
                        sigma2, in.H);
    py::gil_scoped_release release;
    evaluate_states(model, K.data(), out, static_cast<std::size_t>(in.N), S);
    return lpj;
}

std::int64_t evo_step_sssc_py(const py::object& K_obj, const py::object& lpj_obj, const InArray<double>& WtY,
                              const InArray<double>& y2, const InArray<double>& WtW, const InArray<double>& pi,
                              const InArray<double>& mu, const InArray<double>& psi, double sigma2,
                              std::uint64_t seed, std::uint64_t epoch, std::uint64_t first_index, int n_parents,
                              int n_children, int n_generations, const std::string& selection,
                              const std::string& mutation, bool crossover, double bitflip_prob) {
    const SsscInputs in = sssc_inputs(WtY, y2, WtW, pi, mu, psi);
    auto K = inplace_array<std::uint64_t>(K_obj, "K");
    auto lpj = inplace_array<double>(lpj_obj, "lpj");
    check_states(K, K.data(), in.N, in.H);
    const auto S = static_cast<int>(K.shape(1));
    check_shape(lpj, "lpj", {in.N, S});
    const EvoConfig c = make_evo_config(n_parents, n_children, n_generations, selection, mutation, crossover, bitflip_prob);
    c.validate(in.H, S);
    SsscEvaluator model(in.WtY.data(), in.y2.data(), in.WtW.data(), in.pi.data(), in.mu.data(), in.psi.data(),
                        sigma2, in.H);
    std::uint64_t* k = K.mutable_data();
    double* l = lpj.mutable_data();
    py::gil_scoped_release release;
    return evo_step(model, c, k, l, static_cast<std::size_t>(in.N), S, seed, epoch, first_index);
}

}  // namespace

void register_sssc(py::module_& m) {
    m.def("sssc_log_pseudo_joint", &sssc_lpj_py, py::arg("WtY"), py::arg("y2"), py::arg("WtW"), py::arg("pi"),
          py::arg("mu"), py::arg("psi"), py::arg("sigma2"), py::arg("K"),
          "lpj (N, S) of the states K under spike-and-slab sparse coding (Woodbury form, no D x D matrix).");
    m.def("evo_step_sssc", &evo_step_sssc_py, py::arg("K"), py::arg("lpj"), py::arg("WtY"), py::arg("y2"),
          py::arg("WtW"), py::arg("pi"), py::arg("mu"), py::arg("psi"), py::arg("sigma2"), py::arg("seed"),
          py::arg("epoch"), py::arg("first_index"), ZS_EVO_ARGS,
          "One evolutionary E-step under SSSC on K and lpj in place; returns the replaced-state count.");
}

}  // namespace zs::py_bind
