// The benchmark's correctness checks: each returns whether it passed and a short measured detail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model_kernels.hpp"
#include "synthetic.hpp"

namespace zs::bench {

struct Outcome {
    bool ok = true;
    std::string detail;
};

// `count` patch indices spread evenly over [0, N).
std::vector<std::size_t> sample_patches(std::size_t N, int count);

// WtY (N, H) on the sampled patches and WtW (H, H) against plain dot products.
Outcome check_dense(const Problem& p, const std::vector<double>& WtY, const std::vector<double>& WtW,
                    const std::vector<std::size_t>& patches);

// Every value finite.
Outcome check_finite(const std::vector<double>& values);

// The kept lpj (N, S) of the sampled patches against a direct recomputation from y_n and W.
Outcome check_direct_lpj(const ModelKernels& kernels, const std::uint64_t* K, const double* lpj, int H, int S,
                         const std::vector<std::size_t>& patches);

// The sampled patches' states are distinct and have no bit set at positions >= H.
Outcome check_states(const std::uint64_t* K, int H, int S, const std::vector<std::size_t>& patches);

// log sum_s exp(lpj) of every patch after the E-step is at least the one before (K_n keeps the best S
// of a superset of itself, under fixed parameters).
Outcome check_lse_not_lowered(const std::vector<double>& before, const std::vector<double>& after, int S);

}  // namespace zs::bench
