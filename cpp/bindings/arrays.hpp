// Conversion and checks of numpy arrays at the module boundary (std::invalid_argument -> ValueError).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "zeroshot/parallel.hpp"

namespace zs::py_bind {

namespace py = pybind11;

template <class T>
using InArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

inline std::string shape_string(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

// Checks the number of dimensions and, where expected[i] >= 0, the size of dimension i.
inline void check_shape(const py::array& a, const char* name, std::vector<py::ssize_t> expected) {
    bool ok = a.ndim() == static_cast<py::ssize_t>(expected.size());
    for (std::size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || a.shape(i) == expected[i];
    if (!ok) {
        std::string want = "(";
        for (std::size_t i = 0; i < expected.size(); ++i)
            want += (i ? ", " : "") + (expected[i] < 0 ? std::string("*") : std::to_string(expected[i]));
        want += expected.size() == 1 ? ",)" : ")";
        throw std::invalid_argument(std::string(name) + " has shape " + shape_string(a) + ", expected " + want);
    }
}

// Arrays updated in place must already have the right dtype, be C-contiguous and writeable:
// a converted copy would silently drop the update.
template <class T>
py::array_t<T> inplace_array(const py::object& obj, const char* name) {
    if (!py::isinstance<py::array_t<T>>(obj) || !py::array(obj).dtype().is(py::dtype::of<T>()))
        throw std::invalid_argument(std::string(name) + " must be a numpy array of dtype " +
                                    std::string(py::str(py::dtype::of<T>())) + " (updated in place)");
    auto a = py::reinterpret_borrow<py::array_t<T>>(obj);
    if (!(a.flags() & py::array::c_style)) throw std::invalid_argument(std::string(name) + " must be C-contiguous");
    if (!a.writeable()) throw std::invalid_argument(std::string(name) + " must be writeable");
    return a;
}

inline void check_finite(const InArray<double>& a, const char* name) {
    if (!all_finite(a.data(), static_cast<std::size_t>(a.size())))
        throw std::invalid_argument(std::string(name) + " contains NaN or Inf");
}

}  // namespace zs::py_bind
