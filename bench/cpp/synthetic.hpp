// Synthetic data of the benchmark: drawn from the model itself, so the E-step meets realistic states.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "options.hpp"

namespace zs::bench {

// Y (N, D) = W (s * z) + sigma eps with W (D, H) ~ N(0, 1) entries, s_h ~ Bernoulli(pi_h), z = 1 (BSC) or
// z_h ~ N(mu_h, psi_h) (SSSC), eps ~ N(0, I). The benchmark's model parameters are the generating ones.
struct Problem {
    std::size_t N = 0;
    int D = 0, H = 0;
    std::vector<double> Y, W, pi, mu, psi;
    std::vector<std::uint64_t> codes;  // (N, words_for(H)): the generating s_n, packed
    double sigma2 = 1.0;
    double mean_active = 0.0;  // of the generated codes
};

// A pure function of the options (the data stream of patch n is keyed by (seed, n), so the thread count
// does not change it).
Problem make_problem(const Options& options);

// Puts each patch's generating code into its state set K (N, S, n_words) in place of the last state,
// unless K_n holds it already or S == 1 (state 0, all zeros, stays). Random initial states alone need
// many E-steps to find a few active latents among H; a trained model's K_n holds states near the
// code, and so does K_n after a few E-steps from this start.
void plant_codes(const Problem& problem, std::uint64_t* K, int S);

}  // namespace zs::bench
