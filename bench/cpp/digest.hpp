// 64-bit digests of arrays, to compare results bit for bit across thread counts without keeping copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "zeroshot/base/rng.hpp"

namespace zs::bench {

class Digest {
public:
    void add(const void* data, std::size_t bytes) {
        const auto* p = static_cast<const unsigned char*>(data);
        std::size_t i = 0;
        for (; i + 8 <= bytes; i += 8) {
            std::uint64_t word;
            std::memcpy(&word, p + i, 8);
            mix(word);
        }
        std::uint64_t tail = 0;
        std::memcpy(&tail, p + i, bytes - i);
        mix(tail ^ (static_cast<std::uint64_t>(bytes) << 56));  // the length too, so sizes differ
    }
    template <class T>
    void add(const std::vector<T>& v) {
        add(v.data(), v.size() * sizeof(T));
    }
    std::uint64_t value() const { return state_; }

private:
    void mix(std::uint64_t word) { state_ = splitmix64(state_ ^ word) + 0x9E3779B97F4A7C15ULL; }
    std::uint64_t state_ = 0x6A09E667F3BCC908ULL;
};

}  // namespace zs::bench
