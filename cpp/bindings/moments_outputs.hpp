// Arguments and outputs of the <model>_posterior_moments bindings: the order, the log-joints, and the
// (mean, variance or None, third or None) arrays.
#pragma once

#include <cmath>
#include <string>

#include "arrays.hpp"
#include "zeroshot/loops/moments.hpp"

namespace zs::py_bind {

// lpj (N, S) with S >= 1: -inf marks a state of no weight, NaN and +inf are errors.
inline void check_log_joints(const InArray<double>& lpj, py::ssize_t N, py::ssize_t S) {
    check_shape(lpj, "lpj", {N, S});
    if (S < 1) throw std::invalid_argument("K must hold at least one state per patch");
    const double* v = lpj.data();
    for (py::ssize_t i = 0; i < lpj.size(); ++i)
        if (std::isnan(v[i]) || (std::isinf(v[i]) && v[i] > 0))
            throw std::invalid_argument("lpj contains NaN or +Inf (only -inf, a state of no weight, is allowed)");
}

// The output arrays of a moments call of the given order (1: mean; 2: + variance; 3: + third central
// moment), each (N, D), with the pointers the kernel fills.
class MomentOutputs {
public:
    MomentOutputs(int order, py::ssize_t N, py::ssize_t D) : order_(checked(order)), mean_({N, D}) {
        arrays_.mean = mean_.mutable_data();
        if (order_ >= 2) arrays_.variance = allocate(variance_, N, D);
        if (order_ >= 3) arrays_.third = allocate(third_, N, D);
    }
    MomentArrays arrays() const { return arrays_; }
    py::tuple as_tuple() const { return py::make_tuple(mean_, variance_, third_); }

private:
    static int checked(int order) {
        if (order < 1 || order > 3)
            throw std::invalid_argument(
                "order must be 1 (mean), 2 (mean, variance) or 3 (mean, variance, third "
                "central moment), got " +
                std::to_string(order));
        return order;
    }
    static double* allocate(py::object& slot, py::ssize_t N, py::ssize_t D) {
        py::array_t<double> a({N, D});
        double* data = a.mutable_data();
        slot = std::move(a);
        return data;
    }

    int order_;
    py::array_t<double> mean_;
    py::object variance_ = py::none(), third_ = py::none();
    MomentArrays arrays_;
};

}  // namespace zs::py_bind
