// Binary latent states packed into 64-bit words: bit h of a state lives in word h / 64.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zs {

// Words of a packed state of H latents (0 for H < 1; no overflow for any int).
inline int words_for(int H) {
    return H > 0 ? (H - 1) / 64 + 1 : 0;
}

inline bool get_bit(const std::uint64_t* s, int h) {
    return (s[h >> 6] >> (h & 63)) & 1ULL;
}
inline void flip_bit(std::uint64_t* s, int h) {
    s[h >> 6] ^= (1ULL << (h & 63));
}

// Writes the indices of the set bits in increasing order; returns their number.
inline int active_indices(const std::uint64_t* s, int n_words, std::int32_t* out) {
    int k = 0;
    for (int w = 0; w < n_words; ++w) {
        std::uint64_t bits = s[w];
        while (bits) {
            out[k++] = (w << 6) + __builtin_ctzll(bits);
            bits &= bits - 1;
        }
    }
    return k;
}

inline int popcount(const std::uint64_t* s, int n_words) {
    int k = 0;
    for (int w = 0; w < n_words; ++w) k += __builtin_popcountll(s[w]);
    return k;
}

inline bool equal_state(const std::uint64_t* a, const std::uint64_t* b, int n_words) {
    for (int w = 0; w < n_words; ++w)
        if (a[w] != b[w]) return false;
    return true;
}

// A polynomial over the words, then a full-avalanche finaliser: table slots use the low bits, and
// states often differ only in one high bit of one word.
inline std::uint64_t hash_state(const std::uint64_t* s, int n_words) {
    std::uint64_t h = 0x243F6A8885A308D3ULL;
    for (int w = 0; w < n_words; ++w) h = (h ^ s[w]) * 0x100000001B3ULL + 0x9E3779B97F4A7C15ULL;
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

// A growable list of distinct packed states with an open-addressing index for duplicate checks.
// One instance per thread, reset per patch, so allocations happen once.
class StatePool {
public:
    explicit StatePool(int n_words) : n_words_(n_words) {}

    void reset(std::size_t expected) {
        words_.clear();
        std::size_t cap = 16;
        while (cap < 2 * expected + 2) cap <<= 1;
        table_.assign(cap, -1);
        mask_ = cap - 1;
        size_ = 0;
    }

    // Adds the state unless present; returns its index, or -1 when it was already there.
    std::int64_t insert(const std::uint64_t* s) {
        if (2 * (size_ + 1) > table_.size()) grow();
        std::size_t slot = hash_state(s, n_words_) & mask_;
        while (table_[slot] >= 0) {
            if (equal_state(state(table_[slot]), s, n_words_)) return -1;
            slot = (slot + 1) & mask_;
        }
        table_[slot] = static_cast<std::int32_t>(size_);
        words_.insert(words_.end(), s, s + n_words_);
        return static_cast<std::int64_t>(size_++);
    }

    bool contains(const std::uint64_t* s) const {
        std::size_t slot = hash_state(s, n_words_) & mask_;
        while (table_[slot] >= 0) {
            if (equal_state(state(table_[slot]), s, n_words_)) return true;
            slot = (slot + 1) & mask_;
        }
        return false;
    }

    const std::uint64_t* state(std::int64_t i) const { return words_.data() + i * n_words_; }
    std::size_t size() const { return size_; }

private:
    void grow() {
        std::vector<std::int32_t> old_indices;
        for (auto idx : table_)
            if (idx >= 0) old_indices.push_back(idx);
        table_.assign(table_.size() * 2, -1);
        mask_ = table_.size() - 1;
        for (auto idx : old_indices) {
            std::size_t slot = hash_state(state(idx), n_words_) & mask_;
            while (table_[slot] >= 0) slot = (slot + 1) & mask_;
            table_[slot] = idx;
        }
    }

    int n_words_;
    std::vector<std::uint64_t> words_;
    std::vector<std::int32_t> table_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
};

}  // namespace zs
