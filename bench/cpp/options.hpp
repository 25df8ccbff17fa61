// Command-line options of the kernel benchmark.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "zeroshot/loops/evo.hpp"

namespace zs::bench {

enum class ModelKind { bsc, sssc };

struct Options {
    ModelKind model = ModelKind::bsc;
    std::size_t N = 62001;  // patches (a 256 x 256 image, 8 x 8 patches)
    int D = 64, H = 256, S = 60;
    std::vector<int> threads;  // timed in this order; empty: omp_get_max_threads()
    int repeats = 5;
    int warmup = 3;  // E-steps before timing, so the states are realistic
    std::uint64_t seed = 0;
    double active = 3.0;     // mean active latents of a synthetic code (pi = active / H)
    double noise = 1.5;      // sigma of the synthetic data; W has N(0, 1) entries
    int check_patches = 32;  // patches whose lpj are recomputed directly
    EvoConfig evo;

    const char* model_name() const { return model == ModelKind::bsc ? "bsc" : "sssc"; }
};

// Parses argv; throws std::invalid_argument with a message on a bad or unknown option.
// Sets `help` (and leaves the rest at defaults) for --help.
Options parse_options(int argc, const char* const* argv, bool& help);

std::string usage();

}  // namespace zs::bench
