// Ctrl-C during a compiled call. Kernels run with the GIL released, so Python's signal handlers wait
// until the call returns; the StopPoll made here lets thread 0 of a kernel briefly take the GIL and run
// them, and the kernel stops early when one raised (KeyboardInterrupt), which the binding re-raises.
#pragma once

#include <pybind11/pybind11.h>

#include <utility>

#include "zeroshot/base/parallel.hpp"

namespace zs::py_bind {

namespace py = pybind11;

// Python runs signal handlers only in its main thread: from any other thread there is nothing to poll.
inline StopPoll python_stop_poll() {
    const py::module_ threading = py::module_::import("threading");
    if (!threading.attr("current_thread")().is(threading.attr("main_thread")())) return {};
    return [] {
        py::gil_scoped_acquire gil;
        return PyErr_CheckSignals() != 0;
    };
}

// kernel(stop) with the GIL released (call with the GIL held, after every conversion); re-raises the
// Python exception of a signal handler that stopped it.
template <class Kernel>
auto without_gil(Kernel&& kernel) {
    const StopPoll stop = python_stop_poll();
    try {
        py::gil_scoped_release release;
        return std::forward<Kernel>(kernel)(stop);
    } catch (const Interrupted&) {
        if (PyErr_Occurred()) throw py::error_already_set();
        throw;
    }
}

}  // namespace zs::py_bind
