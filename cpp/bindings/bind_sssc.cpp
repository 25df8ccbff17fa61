#include "arrays.hpp"
#include "evo_config.hpp"
#include "moments_outputs.hpp"
#include "register.hpp"
#include "states_check.hpp"
#include "zeroshot/bitstate.hpp"
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
    SsscEvaluator model(in.WtY.data(), in.y2.data(), in.WtW.data(), in.pi.data(), in.mu.data(), in.psi.data(), sigma2,
                        in.H);
    py::gil_scoped_release release;
    evaluate_states(model, K.data(), out, static_cast<std::size_t>(in.N), S);
    return lpj;
}

std::int64_t evo_step_sssc_py(const py::object& K_obj, const py::object& lpj_obj, const InArray<double>& WtY,
                              const InArray<double>& y2, const InArray<double>& WtW, const InArray<double>& pi,
                              const InArray<double>& mu, const InArray<double>& psi, double sigma2, std::uint64_t seed,
                              std::uint64_t epoch, std::uint64_t first_index, int n_parents, int n_children,
                              int n_generations, const std::string& selection, const std::string& mutation,
                              bool crossover, double bitflip_prob) {
    const SsscInputs in = sssc_inputs(WtY, y2, WtW, pi, mu, psi);
    auto states = inplace_states(K_obj, lpj_obj, in.N, in.H);
    const int S = states.S;
    const EvoConfig c =
        make_evo_config(n_parents, n_children, n_generations, selection, mutation, crossover, bitflip_prob);
    c.validate(in.H, S);
    SsscEvaluator model(in.WtY.data(), in.y2.data(), in.WtW.data(), in.pi.data(), in.mu.data(), in.psi.data(), sigma2,
                        in.H);
    std::uint64_t* k = states.K.mutable_data();
    double* l = states.lpj.mutable_data();
    py::gil_scoped_release release;
    return evo_step(model, c, k, l, static_cast<std::size_t>(in.N), S, seed, epoch, first_index);
}

py::tuple sssc_slab_posterior_py(const InArray<double>& WtY, const InArray<double>& y2, const InArray<double>& WtW,
                                 const InArray<double>& pi, const InArray<double>& mu, const InArray<double>& psi,
                                 double sigma2, const InArray<std::uint64_t>& K) {
    const SsscInputs in = sssc_inputs(WtY, y2, WtW, pi, mu, psi);
    check_states(K, K.data(), in.N, in.H);
    const auto S = static_cast<py::ssize_t>(K.shape(1));
    const py::ssize_t H = in.H;
    if (in.N * S * H * H > (py::ssize_t(1) << 27))
        throw std::invalid_argument("sssc_slab_posterior embeds (N, S, H, H): meant for small problems");
    py::array_t<double> kappa({in.N, S, H}), Lambda({in.N, S, H, H});
    std::fill(kappa.mutable_data(), kappa.mutable_data() + kappa.size(), 0.0);
    std::fill(Lambda.mutable_data(), Lambda.mutable_data() + Lambda.size(), 0.0);
    SsscEvaluator model(in.WtY.data(), in.y2.data(), in.WtW.data(), in.pi.data(), in.mu.data(), in.psi.data(), sigma2,
                        in.H);
    const int n_words = words_for(in.H);
    std::vector<std::int32_t> active(static_cast<std::size_t>(H));
    std::vector<double> kap(static_cast<std::size_t>(H)), lam;
    for (py::ssize_t n = 0; n < in.N; ++n)
        for (py::ssize_t s = 0; s < S; ++s) {
            const int k = active_indices(K.data() + (n * S + s) * n_words, n_words, active.data());
            lam.resize(static_cast<std::size_t>(k) * k);
            model.slab_posterior(static_cast<std::size_t>(n), active.data(), k, kap.data(), lam.data());
            double* kout = kappa.mutable_data() + (n * S + s) * H;
            double* lout = Lambda.mutable_data() + (n * S + s) * H * H;
            for (int i = 0; i < k; ++i) {
                kout[active[i]] = kap[i];
                for (int j = 0; j < k; ++j) lout[active[i] * H + active[j]] = lam[static_cast<std::size_t>(i) * k + j];
            }
        }
    return py::make_tuple(kappa, Lambda);
}

py::tuple sssc_accumulate_py(const InArray<double>& Y, const InArray<double>& WtY, const InArray<double>& y2,
                             const InArray<double>& WtW, const InArray<double>& pi, const InArray<double>& mu,
                             const InArray<double>& psi, double sigma2, const InArray<std::uint64_t>& K,
                             const InArray<double>& lpj) {
    const SsscInputs in = sssc_inputs(WtY, y2, WtW, pi, mu, psi);
    check_shape(Y, "Y", {in.N, -1});
    check_states(K, K.data(), in.N, in.H);
    const auto S = static_cast<int>(K.shape(1));
    check_shape(lpj, "lpj", {in.N, S});
    const auto D = static_cast<int>(Y.shape(1));
    SsscEvaluator model(in.WtY.data(), in.y2.data(), in.WtW.data(), in.pi.data(), in.mu.data(), in.psi.data(), sigma2,
                        in.H);
    SsscStats st;
    {
        py::gil_scoped_release release;
        st = sssc_accumulate(model, Y.data(), static_cast<std::size_t>(in.N), D, K.data(), lpj.data(), S);
    }
    const py::ssize_t H = in.H;
    py::array_t<double> A({static_cast<py::ssize_t>(D), H}), B({H, H}), xs(H), ss(H);
    std::copy(st.A.begin(), st.A.end(), A.mutable_data());
    std::copy(st.B.begin(), st.B.end(), B.mutable_data());
    std::copy(st.x_sum.begin(), st.x_sum.end(), xs.mutable_data());
    std::copy(st.s_sum.begin(), st.s_sum.end(), ss.mutable_data());
    return py::make_tuple(A, B, xs, ss, st.lse, st.y2);
}

py::tuple sssc_m_step_py(const InArray<double>& A, const InArray<double>& B, const InArray<double>& x_sum,
                         const InArray<double>& s_sum, double y2_sum, double n_patches, const InArray<double>& W_old,
                         const InArray<double>& mu_old, const InArray<double>& psi_old, bool shared_pi) {
    check_shape(W_old, "W_old", {-1, -1});
    const py::ssize_t D = W_old.shape(0), H = W_old.shape(1);
    check_shape(A, "A", {D, H});
    check_shape(B, "B", {H, H});
    for (const auto& [arr, name] :
         {std::pair{&x_sum, "x_sum"}, {&s_sum, "s_sum"}, {&mu_old, "mu_old"}, {&psi_old, "psi_old"}})
        check_shape(*arr, name, {H});
    check_finite(A, "A");
    check_finite(B, "B");
    SsscStats st;
    st.A.assign(A.data(), A.data() + A.size());
    st.B.assign(B.data(), B.data() + B.size());
    st.x_sum.assign(x_sum.data(), x_sum.data() + H);
    st.s_sum.assign(s_sum.data(), s_sum.data() + H);
    st.y2 = y2_sum;
    SsscParams p;
    {
        py::gil_scoped_release release;
        p = sssc_m_step(st, n_patches, W_old.data(), mu_old.data(), psi_old.data(), static_cast<int>(D),
                        static_cast<int>(H), shared_pi);
    }
    py::array_t<double> W({D, H}), pi(H), mu(H), psi(H);
    std::copy(p.W.begin(), p.W.end(), W.mutable_data());
    std::copy(p.pi.begin(), p.pi.end(), pi.mutable_data());
    std::copy(p.mu.begin(), p.mu.end(), mu.mutable_data());
    std::copy(p.psi.begin(), p.psi.end(), psi.mutable_data());
    return py::make_tuple(W, pi, mu, psi, p.sigma2);
}

py::tuple sssc_moments_py(const InArray<double>& W, const InArray<double>& WtY, const InArray<double>& y2,
                          const InArray<double>& WtW, const InArray<double>& pi, const InArray<double>& mu,
                          const InArray<double>& psi, double sigma2, const InArray<std::uint64_t>& K,
                          const InArray<double>& lpj, int order) {
    const SsscInputs in = sssc_inputs(WtY, y2, WtW, pi, mu, psi);
    check_shape(W, "W", {-1, in.H});
    check_finite(W, "W");
    check_states(K, K.data(), in.N, in.H);
    const auto S = static_cast<int>(K.shape(1));
    check_log_joints(lpj, in.N, S);
    const auto D = static_cast<int>(W.shape(0));
    SsscEvaluator model(in.WtY.data(), in.y2.data(), in.WtW.data(), in.pi.data(), in.mu.data(), in.psi.data(), sigma2,
                        in.H);
    const MomentOutputs out(order, in.N, D);
    {
        py::gil_scoped_release release;
        sssc_posterior_moments(model, W.data(), D, K.data(), lpj.data(), static_cast<std::size_t>(in.N), S,
                               out.arrays());
    }
    return out.as_tuple();
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
    m.def(
        "sssc_slab_posterior", &sssc_slab_posterior_py, py::arg("WtY"), py::arg("y2"), py::arg("WtW"), py::arg("pi"),
        py::arg("mu"), py::arg("psi"), py::arg("sigma2"), py::arg("K"),
        "kappa (N, S, H) and Lambda (N, S, H, H) of every state, embedded (zeros off the active set); small problems.");
    m.def("sssc_posterior_moments", &sssc_moments_py, py::arg("W"), py::arg("WtY"), py::arg("y2"), py::arg("WtW"),
          py::arg("pi"), py::arg("mu"), py::arg("psi"), py::arg("sigma2"), py::arg("K"), py::arg("lpj"),
          py::arg("order") = 1,
          "Posterior moments of the noise-free patches W (s * z): (mean W <x>_n (N, D), variance (N, D) if "
          "order >= 2 else None, third central moment (N, D) if order == 3 else None).");
    m.def("sssc_m_step", &sssc_m_step_py, py::arg("A"), py::arg("B"), py::arg("x_sum"), py::arg("s_sum"),
          py::arg("y2_sum"), py::arg("n_patches"), py::arg("W_old"), py::arg("mu_old"), py::arg("psi_old"),
          py::arg("shared_pi") = false, "(W, pi, mu, psi, sigma2) maximising the truncated free energy.");
    m.def("sssc_accumulate", &sssc_accumulate_py, py::arg("Y"), py::arg("WtY"), py::arg("y2"), py::arg("WtW"),
          py::arg("pi"), py::arg("mu"), py::arg("psi"), py::arg("sigma2"), py::arg("K"), py::arg("lpj"),
          "M-step statistics (A (D, H), B (H, H), sum <x> (H,), sum <s> (H,), sum log-normalisers, sum ||y||^2).");
}

}  // namespace zs::py_bind
