// One registration for every model (see CONTRIBUTING.md): register_model<Model>(m, "bsc", "BscParams")
// binds the model's parameter set as a class validated once at construction, and the functions
//   <name>_log_pseudo_joint(params, products, K) -> lpj (N, S)
//   evo_step(params, products, K, lpj, evo, seed, epoch, first_index) -> replaced  (one overload per model)
//   <name>_accumulate(params, products, Y, K, lpj) -> statistics, one flat vector (params.stats_layout())
//   <name>_posterior_moments(params, products, K, lpj, order=1) -> (mean, variance | None, third | None)
//   <name>_m_step(params, stats, shared_pi=False) -> params
// from the kernels' Model::{Params, Stats, Evaluator, accumulate, posterior_moments, m_step}. Parameters
// and statistics are converted through their visit() lists of named fields.
#pragma once

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "interrupt.hpp"
#include "moments_outputs.hpp"
#include "states_check.hpp"
#include "zeroshot/loops/evo.hpp"
#include "zeroshot/loops/states.hpp"
#include "zeroshot/model/dictionary.hpp"

namespace zs::py_bind {

// The dense products of patches with a dictionary as Python hands them in, checked once: WtY (N, H),
// y2 (N,), WtW (H, H), all finite. Keeps the arrays alive for the views it gives the kernels.
class BoundProducts {
public:
    BoundProducts(const py::handle& WtY, const py::handle& y2, const py::handle& WtW)
        : WtY_(as_array<double>(WtY, "WtY")), y2_(as_array<double>(y2, "y2")), WtW_(as_array<double>(WtW, "WtW")) {
        check_shape(WtY_, "WtY", {-1, -1});
        const py::ssize_t N = WtY_.shape(0), H = WtY_.shape(1);
        check_latents(H);
        check_shape(y2_, "y2", {N});
        check_shape(WtW_, "WtW", {H, H});
        check_finite(WtY_, "WtY");
        check_finite(y2_, "y2");
        check_finite(WtW_, "WtW");
    }
    DenseProducts view() const {
        return {WtY_.data(), y2_.data(), WtW_.data(), static_cast<std::size_t>(WtY_.shape(0)),
                static_cast<int>(WtY_.shape(1))};
    }
    py::ssize_t N() const { return WtY_.shape(0); }
    int H() const { return static_cast<int>(WtY_.shape(1)); }
    const InArray<double>& WtY() const { return WtY_; }
    const InArray<double>& y2() const { return y2_; }
    const InArray<double>& WtW() const { return WtW_; }

private:
    InArray<double> WtY_, y2_, WtW_;
};

inline void register_products(py::module_& m) {
    py::class_<BoundProducts>(m, "DenseProducts",
                              "Dense products of patches Y (N, D) with a dictionary W (D, H), checked once: "
                              "WtY = Y W (N, H), y2 = ||y_n||^2 (N,), WtW = W^T W (H, H).")
        .def(py::init<const py::handle&, const py::handle&, const py::handle&>(), py::arg("WtY"), py::arg("y2"),
             py::arg("WtW"))
        .def_property_readonly("N", &BoundProducts::N)
        .def_property_readonly("H", &BoundProducts::H)
        .def_property_readonly("WtY", &BoundProducts::WtY)
        .def_property_readonly("y2", &BoundProducts::y2)
        .def_property_readonly("WtW", &BoundProducts::WtW);
}

// [(name, shape), ...] of a parameter set or statistics, in their order in the flat form.
template <class Fields>
py::list layout_of(Fields& fields) {
    py::list layout;
    fields.visit([&](const char* name, const Shape& shape, double*) {
        py::tuple extents(shape.size());
        for (std::size_t i = 0; i < shape.size(); ++i) extents[i] = py::int_(shape[i]);
        layout.append(py::make_tuple(name, extents));
    });
    return layout;
}

// All fields in one flat vector (moved into numpy).
template <class Fields>
py::array_t<double> to_flat(Fields& fields) {
    std::vector<double> flat;
    fields.visit([&](const char*, const Shape& shape, double* data) {
        flat.insert(flat.end(), data, data + shape_size(shape));
    });
    const auto n = static_cast<py::ssize_t>(flat.size());
    return to_numpy(std::move(flat), {n});
}

// Fields (sized already) filled from their flat form, which must be finite.
template <class Fields>
void from_flat(Fields& fields, const InArray<double>& flat, const char* what) {
    std::size_t total = 0;
    fields.visit([&](const char*, const Shape& shape, double*) { total += shape_size(shape); });
    if (flat.ndim() != 1 || static_cast<std::size_t>(flat.size()) != total)
        throw std::invalid_argument(std::string(what) + " has shape " + shape_string(flat) + ", expected (" +
                                    std::to_string(total) + ",) (see stats_layout())");
    const double* p = flat.data();
    fields.visit([&](const char* name, const Shape& shape, double* data) {
        const std::size_t n = shape_size(shape);
        for (std::size_t i = 0; i < n; ++i)
            if (!std::isfinite(p[i]))
                throw std::invalid_argument(std::string(what) + " field " + name + " contains NaN or Inf");
        std::copy(p, p + n, data);
        p += n;
    });
}

// A parameter set from keyword arguments named as its fields (W first: it gives D and H), each
// checked for its shape and finiteness, then the model's own validate().
template <class Params>
Params params_from_kwargs(const py::kwargs& kwargs) {
    if (!kwargs.contains("W")) throw std::invalid_argument("the parameters need W (D, H)");
    const InArray<double> W = as_array<double>(kwargs["W"], "W");
    check_shape(W, "W", {-1, -1});
    if (W.shape(0) < 1 || W.shape(0) > INT_MAX)
        throw std::invalid_argument("W has shape " + shape_string(W) + ": D must lie in [1, 2**31)");
    check_latents(W.shape(1));
    Params params(static_cast<int>(W.shape(0)), static_cast<int>(W.shape(1)));
    std::size_t used = 0;
    params.visit([&](const char* name, const Shape& shape, double* data) {
        if (!kwargs.contains(name)) throw std::invalid_argument(std::string("the parameters need ") + name);
        ++used;
        const py::handle value = kwargs[name];
        if (shape.empty()) {
            *data = checked_double(value, name);
            return;
        }
        const InArray<double> a = as_array<double>(value, name);
        bool fits = a.ndim() == static_cast<py::ssize_t>(shape.size());
        for (std::size_t i = 0; fits && i < shape.size(); ++i)
            fits = a.shape(static_cast<py::ssize_t>(i)) == static_cast<py::ssize_t>(shape[i]);
        if (!fits) {
            std::string want = "(";
            for (std::size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
            throw std::invalid_argument(std::string(name) + " has shape " + shape_string(a) + ", expected " + want +
                                        (shape.size() == 1 ? ",)" : ")") + " for W has shape " + shape_string(W));
        }
        std::copy(a.data(), a.data() + a.size(), data);
    });
    if (used != kwargs.size()) {
        std::string known;
        params.visit(
            [&](const char* name, const Shape&, double*) { known += (known.empty() ? "" : ", ") + std::string(name); });
        throw std::invalid_argument("unknown parameters given; the parameters are " + known);
    }
    params.validate();
    return params;
}

// The value of one field: a read-only array viewing the parameter set (kept alive by it), or a float.
template <class Params>
py::object field_value(const py::object& self, const std::string& wanted) {
    Params& params = self.cast<Params&>();
    py::object result;
    params.visit([&](const char* name, const Shape& shape, double* data) {
        if (wanted != name) return;
        if (shape.empty()) {
            result = py::float_(*data);
            return;
        }
        py::array_t<double> view(std::vector<py::ssize_t>(shape.begin(), shape.end()), data, self);
        view.attr("setflags")(py::arg("write") = false);
        result = view;
    });
    return result;
}

template <class Model>
void register_model(py::module_& m, const std::string& name, const char* params_class) {
    using Params = typename Model::Params;
    using Stats = typename Model::Stats;
    using Evaluator = typename Model::Evaluator;

    py::class_<Params> params(m, params_class,
                              ("The parameters of the " + name +
                               " model, checked once at construction "
                               "(keyword arguments named as the fields).")
                                  .c_str());
    params.def(py::init(&params_from_kwargs<Params>));
    Params probe(1, 1);
    probe.visit([&](const char* field, const Shape&, double*) {
        const std::string key = field;
        params.def_property_readonly(field, [key](const py::object& self) { return field_value<Params>(self, key); });
    });
    params.def_property_readonly("D", [](const Params& p) { return p.D; })
        .def_property_readonly("H", [](const Params& p) { return p.H; })
        .def(
            "stats_layout",
            [](const Params& p) {
                Stats stats(p.D, p.H);
                return layout_of(stats);
            },
            "[(name, shape), ...] of the statistics' flat vector that <model>_accumulate returns.");

    // The products must come from this dictionary's H; N from the products.
    auto products_for = [](const Params& p, const BoundProducts& products) {
        if (products.H() != p.H)
            throw std::invalid_argument("the products have H = " + std::to_string(products.H()) +
                                        ", the parameters H = " + std::to_string(p.H));
        return products.view();
    };

    m.def((name + "_log_pseudo_joint").c_str(),
          [products_for](const Params& p, const BoundProducts& products, const InArray<std::uint64_t>& K) {
              const DenseProducts d = products_for(p, products);
              const int S = check_states(K, K.data(), products.N(), p.H);
              py::array_t<double> lpj({products.N(), static_cast<py::ssize_t>(S)});
              double* out = lpj.mutable_data();
              without_gil([&](const StopPoll& stop) {
                  evaluate_states(Evaluator(p, d), K.data(), out, d.N, S, stop);
                  return 0;
              });
              return lpj;
          },
          py::arg("params"), py::arg("products"), py::arg("K"),
          ("lpj (N, S) of the states K (N, S, n_words) under the " + name + " model.").c_str());

    m.def(
        "evo_step",
        [products_for](const Params& p, const BoundProducts& products, const py::object& K_obj,
                       const py::object& lpj_obj, const EvoConfig& evo, const py::object& seed, const py::object& epoch,
                       const py::object& first_index) {
            const DenseProducts d = products_for(p, products);
            auto states = inplace_states(K_obj, lpj_obj, products.N(), p.H);
            evo.validate(p.H, states.S);
            const std::uint64_t seed_ = checked_uint64(seed, "seed"), epoch_ = checked_uint64(epoch, "epoch"),
                                first_ = checked_uint64(first_index, "first_index");
            std::uint64_t* k = states.K.mutable_data();
            double* l = states.lpj.mutable_data();
            return without_gil([&](const StopPoll& stop) {
                return evo_step(Evaluator(p, d), evo, k, l, d.N, states.S, seed_, epoch_, first_, stop);
            });
        },
        py::arg("params"), py::arg("products"), py::arg("K"), py::arg("lpj"), py::arg("evo"), py::arg("seed"),
        py::arg("epoch"), py::arg("first_index"),
        "One evolutionary E-step on K (N, S, n_words) and lpj (N, S) in place; returns the replaced-state count.");

    m.def((name + "_accumulate").c_str(),
          [products_for](const Params& p, const BoundProducts& products, const InArray<double>& Y,
                         const InArray<std::uint64_t>& K, const InArray<double>& lpj) {
              const DenseProducts d = products_for(p, products);
              check_shape(Y, "Y", {products.N(), p.D});
              const int S = check_states(K, K.data(), products.N(), p.H);
              check_log_joints(lpj, products.N(), S);
              Stats stats = without_gil([&](const StopPoll& stop) {
                  return Model::accumulate(p, d, Y.data(), K.data(), lpj.data(), S, stop);
              });
              return to_flat(stats);
          },
          py::arg("params"), py::arg("products"), py::arg("Y"), py::arg("K"), py::arg("lpj"),
          ("M-step statistics of the " + name +
           " model as one flat vector, summable over data shards (fields: params.stats_layout()).")
              .c_str());

    m.def((name + "_posterior_moments").c_str(),
          [products_for](const Params& p, const py::object& products_obj, const InArray<std::uint64_t>& K,
                         const InArray<double>& lpj, const py::object& order) {
              DenseProducts d;
              if (products_obj.is_none()) {
                  if (Model::moments_need_products)
                      throw std::invalid_argument("the posterior moments of this model need the dense products");
                  check_shape(lpj, "lpj", {-1, -1});
                  d.N = static_cast<std::size_t>(lpj.shape(0));
                  d.H = p.H;
              } else {
                  if (!py::isinstance<BoundProducts>(products_obj))
                      throw py::type_error("products must be a DenseProducts or None");
                  d = products_for(p, products_obj.cast<const BoundProducts&>());
              }
              const auto N = static_cast<py::ssize_t>(d.N);
              const int S = check_states(K, K.data(), N, p.H);
              check_log_joints(lpj, N, S);
              const MomentOutputs out(static_cast<int>(checked_int(order, "order", INT_MIN, INT_MAX)), N, p.D);
              without_gil([&](const StopPoll& stop) {
                  Model::posterior_moments(p, d, K.data(), lpj.data(), S, out.arrays(), stop);
                  return 0;
              });
              return out.as_tuple();
          },
          py::arg("params"), py::arg("products"), py::arg("K"), py::arg("lpj"), py::arg("order") = 1,
          ("Posterior moments of the noise-free patches under the " + name +
           " model: (mean (N, D), variance (N, D) if order >= 2 else None, third central moment (N, D) if "
           "order == 3 else None). products may be None where the model's moments do not read them (BSC).")
              .c_str());

    m.def((name + "_m_step").c_str(),
          [](const Params& old, const InArray<double>& flat, bool shared_pi) {
              Stats stats(old.D, old.H);
              from_flat(stats, flat, "stats");
              py::gil_scoped_release release;
              return Model::m_step(old, stats, shared_pi);
          },
          py::arg("params"), py::arg("stats"), py::arg("shared_pi") = false,
          ("The " + name + " parameters maximising the truncated free energy for the summed statistics.").c_str());
}

}  // namespace zs::py_bind
