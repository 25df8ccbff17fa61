#include "register.hpp"
#include "register_model.hpp"
#include "zeroshot/base/bitstate.hpp"
#include "zeroshot/model/bsc.hpp"
#include "zeroshot/model/sssc.hpp"

namespace zs::py_bind {

namespace {

// kappa (N, S, H) and Lambda (N, S, H, H) of every state, embedded (zeros off the active set).
py::tuple sssc_slab_posterior_py(const SsscParams& p, const BoundProducts& products, const InArray<std::uint64_t>& K) {
    if (products.H() != p.H) throw std::invalid_argument("the products' H differs from the parameters'");
    const int S_int = check_states(K, K.data(), products.N(), p.H);
    const py::ssize_t N = products.N(), S = S_int, H = p.H;
    if (N > 0 && S * H * H > (py::ssize_t(1) << 27) / N)
        throw std::invalid_argument("sssc_slab_posterior embeds (N, S, H, H): meant for small problems");
    py::array_t<double> kappa({N, S, H}), Lambda({N, S, H, H});
    std::fill(kappa.mutable_data(), kappa.mutable_data() + kappa.size(), 0.0);
    std::fill(Lambda.mutable_data(), Lambda.mutable_data() + Lambda.size(), 0.0);
    const SsscEvaluator model(p, products.view());
    const int n_words = words_for(p.H);
    std::vector<std::int32_t> active(static_cast<std::size_t>(H));
    std::vector<double> kap(static_cast<std::size_t>(H)), lam;
    for (py::ssize_t n = 0; n < N; ++n)
        for (py::ssize_t s = 0; s < S; ++s) {
            const int k = active_indices(K.data() + (n * S + s) * n_words, n_words, active.data());
            lam.resize(static_cast<std::size_t>(k) * static_cast<std::size_t>(k));
            model.slab_posterior(static_cast<std::size_t>(n), active.data(), k, kap.data(), lam.data());
            double* kout = kappa.mutable_data() + (n * S + s) * H;
            double* lout = Lambda.mutable_data() + (n * S + s) * H * H;
            for (int i = 0; i < k; ++i) {
                kout[active[i]] = kap[i];
                for (int j = 0; j < k; ++j) lout[active[i] * H + active[j]] = lam[i * k + j];
            }
        }
    return py::make_tuple(kappa, Lambda);
}

}  // namespace

void register_models(py::module_& m, py::module_& testing) {
    register_products(m);
    register_model<Bsc>(m, "bsc", "BscParams");
    register_model<Sssc>(m, "sssc", "SsscParams");

    testing.def("sssc_slab_posterior", &sssc_slab_posterior_py, py::arg("params"), py::arg("products"), py::arg("K"),
                "kappa (N, S, H) and Lambda (N, S, H, H) of every state, embedded (zeros off the active set); "
                "small problems.");
}

}  // namespace zs::py_bind
