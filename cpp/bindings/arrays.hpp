// Conversion and checks of Python values at the module boundary (std::invalid_argument -> ValueError).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "zeroshot/base/parallel.hpp"

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
    for (std::size_t i = 0; ok && i < expected.size(); ++i)
        ok = expected[i] < 0 || a.shape(static_cast<py::ssize_t>(i)) == expected[i];
    if (!ok) {
        std::string want = "(";
        for (std::size_t i = 0; i < expected.size(); ++i)
            want += (i ? ", " : "") + (expected[i] < 0 ? std::string("*") : std::to_string(expected[i]));
        want += expected.size() == 1 ? ",)" : ")";
        throw std::invalid_argument(std::string(name) + " has shape " + shape_string(a) + ", expected " + want);
    }
}

// A real array of any numeric dtype as a C-contiguous float64 (or T) array; ValueError naming `name`
// for anything else (complex values, strings, objects).
template <class T>
InArray<T> as_array(const py::handle& obj, const char* name) {
    auto a = InArray<T>::ensure(obj);
    if (!a) {
        PyErr_Clear();
        throw std::invalid_argument(std::string(name) + " must be a real numeric array convertible to " +
                                    std::string(py::str(py::dtype::of<T>())));
    }
    return a;
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

// A Python integer (or numpy integer) in [lo, hi]; ValueError naming `name` otherwise.
inline long long checked_int(const py::handle& obj, const char* name, long long lo, long long hi) {
    auto fail = [&] {
        return std::invalid_argument(std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                                     std::to_string(hi) + "], got " + std::string(py::repr(obj)));
    };
    if (PyBool_Check(obj.ptr())) throw fail();
    py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
    if (!index) {
        PyErr_Clear();
        throw fail();
    }
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        throw fail();
    }
    if (v < lo || v > hi) throw fail();
    return v;
}

// Seeds, epochs and global patch indices: any integer in [0, 2^64); ValueError otherwise.
inline std::uint64_t checked_uint64(const py::handle& obj, const char* name) {
    auto fail = [&] {
        return std::invalid_argument(std::string(name) + " must be an integer in [0, 2**64), got " +
                                     std::string(py::repr(obj)));
    };
    if (PyBool_Check(obj.ptr())) throw fail();
    py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
    if (!index) {
        PyErr_Clear();
        throw fail();
    }
    const unsigned long long v = PyLong_AsUnsignedLongLong(index.ptr());
    if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        throw fail();
    }
    return static_cast<std::uint64_t>(v);
}

// A float; ValueError naming `name` for anything that is not a real number.
inline double checked_double(const py::handle& obj, const char* name) {
    const double v = PyFloat_AsDouble(obj.ptr());
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        throw std::invalid_argument(std::string(name) + " must be a real number, got " + std::string(py::repr(obj)));
    }
    return v;
}

// A vector moved into a numpy array of the given shape (no copy): the array owns it.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& values, std::vector<py::ssize_t> shape) {
    auto* owner = new std::vector<T>(std::move(values));
    py::capsule release(owner, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>(std::move(shape), owner->data(), release);
}

}  // namespace zs::py_bind
