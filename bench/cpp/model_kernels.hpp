// One interface over the models' kernels, so the benchmark driver is written once. Calls are per phase
// (never per state), so the virtual dispatch costs nothing measurable.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "counting_evaluator.hpp"
#include "options.hpp"
#include "synthetic.hpp"
#include "zeroshot/loops/evo.hpp"
#include "zeroshot/loops/states.hpp"
#include "zeroshot/model/dictionary.hpp"

namespace zs::bench {

// The dense inputs every kernel takes, computed by the driver: WtY (N, H), WtW (H, H), y2 (N,).
struct DenseInputs {
    std::vector<double> WtY, WtW, y2;
};

class ModelKernels {
public:
    virtual ~ModelKernels() = default;

    // lpj (N, S) of the states K (N, S, n_words).
    virtual void evaluate(const std::uint64_t* K, double* lpj, int S) const = 0;
    // One EVO E-step on K and lpj in place; returns the number of replaced states.
    virtual std::int64_t e_step(const EvoConfig& evo, std::uint64_t* K, double* lpj, int S, std::uint64_t seed,
                                std::uint64_t epoch) const = 0;
    // The same E-step, returning the number of log-joints it evaluated (N S re-evaluations plus the
    // distinct children); slower (it counts), so never timed.
    virtual std::int64_t count_evaluations(const EvoConfig& evo, std::uint64_t* K, double* lpj, int S,
                                           std::uint64_t seed, std::uint64_t epoch) const = 0;
    // M-step statistics of (K, lpj), kept for m_step().
    virtual void accumulate(const std::uint64_t* K, const double* lpj, int S) = 0;
    // New parameters from the kept statistics, kept for parameters().
    virtual void m_step() = 0;

    // All statistics (incl. the scalar sums) and all new parameters, flattened, for checks and digests.
    virtual std::vector<double> statistics() const = 0;
    virtual std::vector<double> parameters() const = 0;
    // Whether the new parameters lie within the library's bounds (pi, sigma2, psi).
    virtual bool parameters_in_bounds() const = 0;
    // ||W_new - W|| / ||W|| of the M-step (W: the generating dictionary).
    virtual double dictionary_change() const = 0;
    virtual double new_sigma2() const = 0;

    // lpj of one state of patch n computed directly from y_n and W, without the kernels' fast form
    // (the check's reference); `scale` receives the size of the terms that cancel, for a tolerance.
    virtual double direct_lpj(std::size_t n, const std::int32_t* active, int k, double& scale) const = 0;
};

// ||a - b|| / ||b|| (Frobenius) of two arrays of the same size.
inline double relative_change(const std::vector<double>& a, const std::vector<double>& b) {
    double diff = 0.0, norm = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        norm += b[i] * b[i];
    }
    return std::sqrt(diff / norm);
}

// All fields of a model's statistics or parameters (their visit() list), flattened.
template <class Fields>
std::vector<double> flattened(const Fields& fields) {
    std::vector<double> all;
    const_cast<Fields&>(fields).visit(
        [&](const char*, const Shape& shape, double* data) { all.insert(all.end(), data, data + shape_size(shape)); });
    return all;
}

// What does not depend on the model (zeroshot/model/<model>.hpp): evaluating, the E-step, the counted
// E-step, the statistics, the M-step and its summary figures. Models add their bounds check and the
// direct log-joint of the checks.
template <class Model>
class EvaluatorKernels : public ModelKernels {
public:
    using Params = typename Model::Params;
    using Evaluator = typename Model::Evaluator;

    // The generating parameters; problem and dense must outlive the kernels.
    EvaluatorKernels(const Problem& p, const DenseInputs& dense, Params truth)
        : p_(p),
          truth_(std::move(truth)),
          products_{dense.WtY.data(), dense.y2.data(), dense.WtW.data(), p.N, p.H},
          model_(truth_, products_) {}

    void evaluate(const std::uint64_t* K, double* lpj, int S) const override {
        evaluate_states(model_, K, lpj, p_.N, S);
    }
    std::int64_t e_step(const EvoConfig& evo, std::uint64_t* K, double* lpj, int S, std::uint64_t seed,
                        std::uint64_t epoch) const override {
        return evo_step(model_, evo, K, lpj, p_.N, S, seed, epoch, 0);
    }
    std::int64_t count_evaluations(const EvoConfig& evo, std::uint64_t* K, double* lpj, int S, std::uint64_t seed,
                                   std::uint64_t epoch) const override {
        const CountingEvaluator<Evaluator> counting(model_);
        evo_step(counting, evo, K, lpj, p_.N, S, seed, epoch, 0);
        return counting.total();
    }
    void accumulate(const std::uint64_t* K, const double* lpj, int S) override {
        stats_ = Model::accumulate(truth_, products_, p_.Y.data(), K, lpj, S);
    }
    void m_step() override { params_ = Model::m_step(truth_, stats_, false); }
    std::vector<double> statistics() const override { return flattened(stats_); }
    std::vector<double> parameters() const override { return flattened(params_); }
    double dictionary_change() const override { return relative_change(params_.W, p_.W); }
    double new_sigma2() const override { return params_.sigma2; }

protected:
    const Problem& p_;
    Params truth_;
    DenseProducts products_;
    Evaluator model_;
    typename Model::Stats stats_;
    Params params_;
};

// The kernels under the problem's (generating) parameters; problem and dense must outlive them.
std::unique_ptr<ModelKernels> make_bsc_kernels(const Problem& problem, const DenseInputs& dense);
std::unique_ptr<ModelKernels> make_sssc_kernels(const Problem& problem, const DenseInputs& dense);

inline std::unique_ptr<ModelKernels> make_kernels(ModelKind kind, const Problem& problem, const DenseInputs& dense) {
    return kind == ModelKind::bsc ? make_bsc_kernels(problem, dense) : make_sssc_kernels(problem, dense);
}

}  // namespace zs::bench
