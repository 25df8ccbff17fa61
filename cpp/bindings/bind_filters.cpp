// Image filters that follow the model: the Wiener pass's patch filtering.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "arrays.hpp"
#include "interrupt.hpp"
#include "register.hpp"
#include "zeroshot/filters/wiener.hpp"

namespace zs::py_bind {

namespace {

constexpr py::ssize_t max_patch = 64;

// Patch starts along one axis of `length` pixels: a non-empty 1-D integer array, each in [0, length - P].
InArray<std::int64_t> starts(const py::handle& obj, const char* name, py::ssize_t length, py::ssize_t P) {
    auto a = as_array<std::int64_t>(obj, name);
    check_shape(a, name, {-1});
    if (a.size() == 0) throw std::invalid_argument(std::string(name) + " must hold at least one patch start");
    for (py::ssize_t i = 0; i < a.size(); ++i)
        if (a.data()[i] < 0 || a.data()[i] > length - P)
            throw std::invalid_argument(std::string(name) + " must lie in [0, " + std::to_string(length - P) +
                                        "] (patches of " + std::to_string(P) + " inside the image), got " +
                                        std::to_string(a.data()[i]));
    return a;
}

py::array_t<double> wiener_filter_py(const py::handle& noisy_obj, const py::handle& pilot_obj,
                                     const py::handle& dct_obj, const py::handle& noise_var_obj,
                                     const py::handle& window_obj, const py::handle& rows_obj,
                                     const py::handle& cols_obj) {
    const auto noisy = as_array<double>(noisy_obj, "noisy");
    const auto pilot = as_array<double>(pilot_obj, "pilot");
    check_shape(noisy, "noisy", {-1, -1});
    check_shape(pilot, "pilot", {noisy.shape(0), noisy.shape(1)});
    const auto dct = as_array<double>(dct_obj, "dct");
    check_shape(dct, "dct", {-1, -1});
    const py::ssize_t P = dct.shape(0);
    if (P < 1 || P > max_patch || dct.shape(1) != P)
        throw std::invalid_argument("dct must be (P, P) with P in [1, " + std::to_string(max_patch) + "], got " +
                                    shape_string(dct));
    const auto R = noisy.shape(0), C = noisy.shape(1);
    if (R < P || C < P)
        throw std::invalid_argument("the image " + shape_string(noisy) + " is smaller than the patches of " +
                                    std::to_string(P));
    const auto noise_var = as_array<double>(noise_var_obj, "noise_var");
    check_shape(noise_var, "noise_var", {P * P});
    const auto window = as_array<double>(window_obj, "window");
    check_shape(window, "window", {P, P});
    check_finite(noisy, "noisy");
    check_finite(pilot, "pilot");
    check_finite(dct, "dct");
    check_finite(noise_var, "noise_var");
    check_finite(window, "window");
    for (py::ssize_t k = 0; k < P * P; ++k) {
        if (!(noise_var.data()[k] > 0.0)) throw std::invalid_argument("noise_var must be positive");
        if (window.data()[k] < 0.0) throw std::invalid_argument("window must be non-negative");
    }
    const auto rows = starts(rows_obj, "row_starts", R, P);
    const auto cols = starts(cols_obj, "col_starts", C, P);
    py::array_t<double> out({R, C});
    const WienerImages images{noisy.data(), pilot.data(), static_cast<std::size_t>(R), static_cast<std::size_t>(C)};
    WienerPatches patches{};
    patches.P = static_cast<int>(P);
    patches.dct = dct.data();
    patches.noise_var = noise_var.data();
    patches.window = window.data();
    patches.row_starts = rows.data();
    patches.n_row_starts = static_cast<std::size_t>(rows.size());
    patches.col_starts = cols.data();
    patches.n_col_starts = static_cast<std::size_t>(cols.size());
    double* result = out.mutable_data();
    without_gil([&](const StopPoll& stop) {
        wiener_filter(images, patches, result, stop);
        return 0;
    });
    return out;
}

}  // namespace

void register_filters(py::module_& m) {
    m.def("wiener_filter", &wiener_filter_py, py::arg("noisy"), py::arg("pilot"), py::arg("dct"), py::arg("noise_var"),
          py::arg("window"), py::arg("row_starts"), py::arg("col_starts"),
          "The Wiener pass (zeroshot.patches.wiener): every P x P patch at row_starts x col_starts of noisy (R, C) "
          "shrunk in the 2-D DCT (dct (P, P), the 1-D basis a row) with weights p^2 / (p^2 + noise_var) from "
          "the pilot's coefficients p, its mean the pilot's, and added back weighted by the window (P, P) over "
          "its remaining noise variance; returns the weighted mean (R, C).");
}

}  // namespace zs::py_bind
