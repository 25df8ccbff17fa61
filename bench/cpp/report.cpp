#include "report.hpp"

#include <cstdarg>
#include <cstdio>
#include <vector>

#include "build_info.hpp"

namespace zs::bench {

std::string format(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    va_list copy;
    va_copy(copy, args);
    const int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    std::vector<char> buffer(static_cast<std::size_t>(n > 0 ? n : 0) + 1);
    std::vsnprintf(buffer.data(), buffer.size(), fmt, args);
    va_end(args);
    return std::string(buffer.data());
}

std::string build_description() {
#ifdef _OPENMP
    const std::string openmp = format("OpenMP on (_OPENMP %d)", _OPENMP);
#else
    const std::string openmp = "OpenMP off";
#endif
    return format("build: compiler %s, build type %s, flags \"%s\", %s", ZS_BENCH_COMPILER, ZS_BENCH_BUILD_TYPE,
                  ZS_BENCH_FLAGS, openmp.c_str());
}

void Report::line(const std::string& text) const {
    std::fputs(text.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

void Report::check(const std::string& what, bool ok, const std::string& detail) {
    ++checks_;
    failures_ += ok ? 0 : 1;
    line("check: " + what + (detail.empty() ? "" : " (" + detail + ")") + (ok ? ": OK" : ": FAILED"));
}

void Report::skip(const std::string& what, const std::string& why) const {
    line("check: " + what + ": skipped (" + why + ")");
}

int Report::finish() const {
    if (failures_ == 0) {
        line(format("result: PASS (%d checks)", checks_));
        return 0;
    }
    line(format("result: FAIL (%d of %d checks failed)", failures_, checks_));
    return 1;
}

}  // namespace zs::bench
