#include "arrays.hpp"
#include "evo_config.hpp"
#include "moments_outputs.hpp"
#include "register.hpp"
#include "states_check.hpp"
#include "zeroshot/bsc.hpp"
#include "zeroshot/evo.hpp"
#include "zeroshot/states.hpp"

namespace zs::py_bind {

namespace {

struct BscInputs {
    InArray<double> WtY, y2, WtW, pi;
    double sigma2;
    int H;
    py::ssize_t N;
};

BscInputs bsc_inputs(const InArray<double>& WtY, const InArray<double>& y2, const InArray<double>& WtW,
                     const InArray<double>& pi, double sigma2) {
    check_shape(WtY, "WtY", {-1, -1});
    const py::ssize_t N = WtY.shape(0), H = WtY.shape(1);
    check_shape(y2, "y2", {N});
    check_shape(WtW, "WtW", {H, H});
    check_shape(pi, "pi", {H});
    check_finite(pi, "pi");
    check_finite(WtW, "WtW");
    check_finite(WtY, "WtY");
    check_finite(y2, "y2");
    return {WtY, y2, WtW, pi, sigma2, static_cast<int>(H), N};
}

py::array_t<double> bsc_lpj_py(const InArray<double>& WtY, const InArray<double>& y2, const InArray<double>& WtW,
                               const InArray<double>& pi, double sigma2, const InArray<std::uint64_t>& K) {
    const BscInputs in = bsc_inputs(WtY, y2, WtW, pi, sigma2);
    check_states(K, K.data(), in.N, in.H);
    const auto S = static_cast<int>(K.shape(1));
    py::array_t<double> lpj({in.N, static_cast<py::ssize_t>(S)});
    double* out = lpj.mutable_data();
    {
        py::gil_scoped_release release;
        BscEvaluator model(in.WtY.data(), in.y2.data(), in.WtW.data(), in.pi.data(), sigma2, in.H);
        evaluate_states(model, K.data(), out, static_cast<std::size_t>(in.N), S);
    }
    return lpj;
}

std::int64_t evo_step_bsc_py(const py::object& K_obj, const py::object& lpj_obj, const InArray<double>& WtY,
                             const InArray<double>& y2, const InArray<double>& WtW, const InArray<double>& pi,
                             double sigma2, std::uint64_t seed, std::uint64_t epoch, std::uint64_t first_index,
                             int n_parents, int n_children, int n_generations, const std::string& selection,
                             const std::string& mutation, bool crossover, double bitflip_prob) {
    const BscInputs in = bsc_inputs(WtY, y2, WtW, pi, sigma2);
    auto states = inplace_states(K_obj, lpj_obj, in.N, in.H);
    const int S = states.S;
    const EvoConfig c =
        make_evo_config(n_parents, n_children, n_generations, selection, mutation, crossover, bitflip_prob);
    c.validate(in.H, S);
    std::uint64_t* k = states.K.mutable_data();
    double* l = states.lpj.mutable_data();
    py::gil_scoped_release release;
    BscEvaluator model(in.WtY.data(), in.y2.data(), in.WtW.data(), in.pi.data(), sigma2, in.H);
    return evo_step(model, c, k, l, static_cast<std::size_t>(in.N), S, seed, epoch, first_index);
}

py::tuple bsc_accumulate_py(const InArray<double>& Y, const InArray<std::uint64_t>& K, const InArray<double>& lpj,
                            int H) {
    check_shape(Y, "Y", {-1, -1});
    const py::ssize_t N = Y.shape(0), D = Y.shape(1);
    check_states(K, K.data(), N, H);
    const auto S = static_cast<int>(K.shape(1));
    check_shape(lpj, "lpj", {N, S});
    BscStats st;
    {
        py::gil_scoped_release release;
        st = bsc_accumulate(Y.data(), static_cast<std::size_t>(N), static_cast<int>(D), H, K.data(), lpj.data(), S);
    }
    py::array_t<double> A({D, static_cast<py::ssize_t>(H)}),
        B({static_cast<py::ssize_t>(H), static_cast<py::ssize_t>(H)});
    std::copy(st.A.begin(), st.A.end(), A.mutable_data());
    std::copy(st.B.begin(), st.B.end(), B.mutable_data());
    return py::make_tuple(A, B, st.lse, st.y2);
}

py::tuple bsc_moments_py(const InArray<double>& W, const InArray<std::uint64_t>& K, const InArray<double>& lpj,
                         int order) {
    check_shape(W, "W", {-1, -1});
    const py::ssize_t D = W.shape(0), H = W.shape(1);
    check_shape(lpj, "lpj", {-1, -1});
    const py::ssize_t N = lpj.shape(0), S = lpj.shape(1);
    check_states(K, K.data(), N, static_cast<int>(H));
    check_shape(K, "K", {N, S, words_for(static_cast<int>(H))});
    check_log_joints(lpj, N, S);
    check_finite(W, "W");
    const MomentOutputs out(order, N, D);
    {
        py::gil_scoped_release release;
        bsc_posterior_moments(W.data(), static_cast<int>(D), static_cast<int>(H), K.data(), lpj.data(),
                              static_cast<std::size_t>(N), static_cast<int>(S), out.arrays());
    }
    return out.as_tuple();
}

py::tuple bsc_m_step_py(const InArray<double>& A, const InArray<double>& B, double y2_sum, double n_patches,
                        const InArray<double>& W_old, bool shared_pi) {
    check_shape(W_old, "W_old", {-1, -1});
    const py::ssize_t D = W_old.shape(0), H = W_old.shape(1);
    check_shape(A, "A", {D, H});
    check_shape(B, "B", {H, H});
    check_finite(A, "A");
    check_finite(B, "B");
    BscStats st;
    st.A.assign(A.data(), A.data() + A.size());
    st.B.assign(B.data(), B.data() + B.size());
    st.y2 = y2_sum;
    BscParams p;
    {
        py::gil_scoped_release release;
        p = bsc_m_step(st, n_patches, W_old.data(), static_cast<int>(D), static_cast<int>(H), shared_pi);
    }
    py::array_t<double> W({D, H}), pi(H);
    std::copy(p.W.begin(), p.W.end(), W.mutable_data());
    std::copy(p.pi.begin(), p.pi.end(), pi.mutable_data());
    return py::make_tuple(W, pi, p.sigma2);
}

}  // namespace

void register_bsc(py::module_& m) {
    m.def("bsc_log_pseudo_joint", &bsc_lpj_py, py::arg("WtY"), py::arg("y2"), py::arg("WtW"), py::arg("pi"),
          py::arg("sigma2"), py::arg("K"),
          "lpj (N, S) of the states K under BSC, from WtY = Y W (N, H), y2 = ||y_n||^2, WtW = W^T W.");
    m.def("evo_step_bsc", &evo_step_bsc_py, py::arg("K"), py::arg("lpj"), py::arg("WtY"), py::arg("y2"), py::arg("WtW"),
          py::arg("pi"), py::arg("sigma2"), py::arg("seed"), py::arg("epoch"), py::arg("first_index"), ZS_EVO_ARGS,
          "One evolutionary E-step on K (N, S, n_words) and lpj (N, S) in place; returns the replaced-state count.");
    m.def("bsc_accumulate", &bsc_accumulate_py, py::arg("Y"), py::arg("K"), py::arg("lpj"), py::arg("H"),
          "M-step sufficient statistics (A (D, H), B (H, H), sum of log-normalisers, sum ||y||^2).");
    m.def("bsc_posterior_moments", &bsc_moments_py, py::arg("W"), py::arg("K"), py::arg("lpj"), py::arg("order") = 1,
          "Posterior moments of the noise-free patches W s: (mean (N, D), variance (N, D) if order >= 2 else None, "
          "third central moment (N, D) if order == 3 else None).");
    m.def("bsc_m_step", &bsc_m_step_py, py::arg("A"), py::arg("B"), py::arg("y2_sum"), py::arg("n_patches"),
          py::arg("W_old"), py::arg("shared_pi") = false, "(W, pi, sigma2) maximising the truncated free energy.");
}

}  // namespace zs::py_bind
