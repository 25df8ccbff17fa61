// Thread control, exception transport out of OpenMP regions, and early stops of long kernels.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>

namespace zs {

// Throws std::invalid_argument unless 1 <= n <= limits::max_threads.
void set_num_threads(int n);
int get_num_threads();
bool has_openmp();
// The calling thread's number in the current parallel region (0 outside one, and for its first thread).
int thread_index();

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

// Asked now and then by a long kernel whether to stop early (the Python bindings answer true after a
// Ctrl-C); an empty function never stops. Called by thread 0 of the kernel's parallel region only.
using StopPoll = std::function<bool()>;

// Thrown by a kernel after its StopPoll said stop: its outputs are then partly updated.
class Interrupted : public std::runtime_error {
public:
    Interrupted() : std::runtime_error("the computation was interrupted") {}
};

// The stop state of one kernel call. Every thread calls skip() once per unit of work (a patch or a block
// of patches); thread 0 asks the StopPoll when `interval` has passed since it last asked (a clock read
// per unit on one thread: tens of nanoseconds against microseconds of work), and after a stop every
// thread skips its remaining units.
class StopFlag {
public:
    explicit StopFlag(const StopPoll& poll, std::chrono::milliseconds interval = std::chrono::milliseconds(50))
        : poll_(poll), interval_(interval), last_(std::chrono::steady_clock::now()) {}

    bool skip() {
        if (stopped_.load(std::memory_order_relaxed)) return true;
        if (poll_ && thread_index() == 0) {
            const auto now = std::chrono::steady_clock::now();
            if (now - last_ >= interval_) {
                last_ = now;
                if (poll_()) {
                    stopped_.store(true, std::memory_order_relaxed);
                    return true;
                }
            }
        }
        return false;
    }
    // Called after the parallel region.
    void throw_if_stopped() const {
        if (stopped_.load()) throw Interrupted();
    }

private:
    const StopPoll& poll_;
    std::chrono::milliseconds interval_;
    std::chrono::steady_clock::time_point last_;  // touched by thread 0 only
    std::atomic<bool> stopped_{false};
};

}  // namespace zs
