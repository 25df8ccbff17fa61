// The Wiener pass's filtering of P x P patches in the 2-D DCT (python/zeroshot/patches/wiener.py says what and
// why): each patch of the noisy image is shrunk coefficient by coefficient with the pilot's power as the signal's
// and added back with its weight; the result is the weighted mean over the patches covering each pixel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "zeroshot/base/parallel.hpp"

namespace zs {

struct WienerImages {
    const double* noisy;  // (rows, cols)
    const double* pilot;  // (rows, cols): the estimate whose DCT power is the clean signal's
    std::size_t rows;
    std::size_t cols;
};

struct WienerPatches {
    int P;                           // patch side
    const double* dct;               // (P, P): the orthonormal 1-D DCT-II, one basis vector a row
    const double* noise_var;         // (P * P,): the noise variance of each 2-D coefficient (u * P + v)
    const double* window;            // (P, P): the weight of a patch's pixels when added back
    const std::int64_t* row_starts;  // the patches' first rows, each in [0, rows - P], increasing
    std::size_t n_row_starts;
    const std::int64_t* col_starts;  // their first columns, each in [0, cols - P], increasing
    std::size_t n_col_starts;
};

// out (rows, cols): the filtered image; a pixel no patch covers keeps the pilot's value. Threads compute the
// patches of a band of patch rows, then one thread adds them back in patch order: the result does not depend on
// the number of threads.
void wiener_filter(const WienerImages& images, const WienerPatches& patches, double* out, const StopPoll& stop = {});

}  // namespace zs
