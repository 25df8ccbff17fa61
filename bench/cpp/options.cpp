#include "options.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "zeroshot/loops/states.hpp"

namespace zs::bench {

namespace {

const char* const kNames[] = {"model",       "N",        "D",           "H",         "S",        "threads",
                              "repeats",     "warmup",   "seed",        "active",    "noise",    "check-patches",
                              "parents",     "children", "generations", "selection", "mutation", "crossover",
                              "bitflip-prob"};

[[noreturn]] void fail(const std::string& what) {
    throw std::invalid_argument(what);
}

long long parse_integer(const std::string& name, const std::string& text, long long lowest, long long highest) {
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE) fail("--" + name + " expects an integer, got '" + text + "'");
    if (v < lowest || v > highest)
        fail("--" + name + " must lie in [" + std::to_string(lowest) + ", " + std::to_string(highest) + "], got " +
             text);
    return v;
}

double parse_real(const std::string& name, const std::string& text) {
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
        fail("--" + name + " expects a finite number, got '" + text + "'");
    return v;
}

std::vector<int> parse_thread_list(const std::string& text) {
    std::vector<int> out;
    std::stringstream parts(text);
    std::string part;
    while (std::getline(parts, part, ',')) out.push_back(static_cast<int>(parse_integer("threads", part, 1, 4096)));
    if (out.empty()) fail("--threads expects a comma-separated list of thread counts, got '" + text + "'");
    return out;
}

}  // namespace

std::string usage() {
    return R"(zeroshot_kernel_bench: times the compiled E-step and M-step kernels on synthetic data.

usage: zeroshot_kernel_bench [options]
  --model bsc|sssc        model (default bsc)
  --N N --D D --H H --S S  patches, patch dimension, latents, states per patch (default 62001 64 256 60)
  --threads T[,T...]      thread counts to time, in order (default: omp_get_max_threads())
  --repeats R             timed repeats per thread count; medians are printed (default 5)
  --warmup W              E-steps before timing, so the states are realistic (default 3)
  --seed SEED             seed of the data, the states and the E-step (default 0)
  --active A              mean active latents of a synthetic code, pi = A / H (default 3)
  --noise SIGMA           noise standard deviation of the data; W has N(0, 1) entries (default 1.5)
  --check-patches M       patches whose lpj are recomputed directly from Y and W (default 32)
  --parents P --children C --generations G
                          EVO: parents, children per parent, generations (default 5 4 3)
  --selection fitness|uniform, --mutation sparseflip|randflip|none, --crossover, --bitflip-prob P
                          EVO parent selection and mutation (default fitness, sparseflip, no crossover, 1/H)
  --help                  this text
Exit status: 0 when every check passes, 1 when a check fails or a kernel throws, 2 on a bad option.
)";
}

Options parse_options(int argc, const char* const* argv, bool& help) {
    Options o;
    help = false;
    constexpr long long int_max = std::numeric_limits<int>::max();
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            help = true;
            return o;
        }
        if (arg.rfind("--", 0) != 0) fail("unexpected argument '" + arg + "'");
        std::string name = arg.substr(2), value;
        const auto eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (std::find(std::begin(kNames), std::end(kNames), name) == std::end(kNames)) fail("unknown option --" + name);
        if (eq == std::string::npos && name != "crossover") {
            if (i + 1 >= argc) fail("--" + name + " needs a value");
            value = argv[++i];
        }
        if (name == "model") {
            if (value == "bsc")
                o.model = ModelKind::bsc;
            else if (value == "sssc")
                o.model = ModelKind::sssc;
            else
                fail("--model must be bsc or sssc, got '" + value + "'");
        } else if (name == "N") {
            o.N = static_cast<std::size_t>(parse_integer(name, value, 1, std::numeric_limits<std::int64_t>::max()));
        } else if (name == "D") {
            o.D = static_cast<int>(parse_integer(name, value, 1, int_max));
        } else if (name == "H") {
            o.H = static_cast<int>(parse_integer(name, value, 1, int_max));
        } else if (name == "S") {
            o.S = static_cast<int>(parse_integer(name, value, 1, int_max));
        } else if (name == "threads") {
            o.threads = parse_thread_list(value);
        } else if (name == "repeats") {
            o.repeats = static_cast<int>(parse_integer(name, value, 1, int_max));
        } else if (name == "warmup") {
            o.warmup = static_cast<int>(parse_integer(name, value, 0, int_max));
        } else if (name == "seed") {
            o.seed =
                static_cast<std::uint64_t>(parse_integer(name, value, 0, std::numeric_limits<std::int64_t>::max()));
        } else if (name == "active") {
            o.active = parse_real(name, value);
        } else if (name == "noise") {
            o.noise = parse_real(name, value);
            if (!(o.noise > 0.0)) fail("--noise must be positive");
        } else if (name == "check-patches") {
            o.check_patches = static_cast<int>(parse_integer(name, value, 1, int_max));
        } else if (name == "parents") {
            o.evo.n_parents = static_cast<int>(parse_integer(name, value, 1, int_max));
        } else if (name == "children") {
            o.evo.n_children = static_cast<int>(parse_integer(name, value, 1, int_max));
        } else if (name == "generations") {
            o.evo.n_generations = static_cast<int>(parse_integer(name, value, 0, int_max));
        } else if (name == "selection") {
            if (value == "fitness")
                o.evo.selection = Selection::fitness;
            else if (value == "uniform")
                o.evo.selection = Selection::uniform;
            else
                fail("--selection must be fitness or uniform, got '" + value + "'");
        } else if (name == "mutation") {
            if (value == "sparseflip")
                o.evo.mutation = Mutation::sparseflip;
            else if (value == "randflip")
                o.evo.mutation = Mutation::randflip;
            else if (value == "none")
                o.evo.mutation = Mutation::none;
            else
                fail("--mutation must be sparseflip, randflip or none, got '" + value + "'");
        } else if (name == "crossover") {
            if (eq != std::string::npos) fail("--crossover takes no value");
            o.evo.crossover = true;
        } else if (name == "bitflip-prob") {
            o.evo.bitflip_prob = parse_real(name, value);
            if (!(o.evo.bitflip_prob > 0.0 && o.evo.bitflip_prob <= 1.0)) fail("--bitflip-prob must lie in (0, 1]");
        }
    }
    if (!(o.active > 0.0 && o.active < o.H)) fail("--active must lie in (0, H)");
    check_state_count(o.H, o.S);  // the library's own checks, as the Python layer gets them
    o.evo.validate(o.H, o.S);
    return o;
}

}  // namespace zs::bench
