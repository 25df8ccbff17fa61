// Thread control and exception transport out of OpenMP regions.
#pragma once

#include <cstddef>
#include <exception>
#include <mutex>

namespace zs {

void set_num_threads(int n);
int get_num_threads();
bool has_openmp();

// Whether every value is finite (checked in parallel: inputs like W^T Y are large).
bool all_finite(const double* values, std::size_t n);

// Collects the first exception thrown inside a parallel loop so it can be rethrown after the loop
// (an exception escaping an OpenMP region terminates the process).
class ExceptionCollector {
public:
    template <class F>
    void run(F&& f) noexcept {
        try {
            f();
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!first_) first_ = std::current_exception();
        }
    }
    void rethrow() const {
        if (first_) std::rethrow_exception(first_);
    }

private:
    std::exception_ptr first_;
    std::mutex mutex_;
};

}  // namespace zs
