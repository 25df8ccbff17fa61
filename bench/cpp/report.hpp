// The benchmark's printed output: plain lines on stdout, one fact per line, and the checks' verdicts.
#pragma once

#include <string>

namespace zs::bench {

// printf into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "build: compiler ..., build type ..., flags "...", OpenMP on (...)|off".
std::string build_description();

class Report {
public:
    void line(const std::string& text) const;
    // "check: <what> (<detail>): OK" or "...: FAILED"; a failure makes the run fail.
    void check(const std::string& what, bool ok, const std::string& detail = "");
    // "check: <what>: skipped (<why>)".
    void skip(const std::string& what, const std::string& why) const;
    // Prints "result: PASS" or "result: FAIL (...)"; returns the exit status (0 or 1).
    int finish() const;

private:
    int checks_ = 0, failures_ = 0;
};

}  // namespace zs::bench
