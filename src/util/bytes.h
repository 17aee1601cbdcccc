// Short byte runs (keys, member names, ids, small values) loaded, compared, hashed and copied
// without a call: memcmp and memcpy are out-of-line calls that cost more than these runs.
// Shared by the JSON fast paths (src/decode) and the engine's key map and arenas.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace statefold {
namespace short_bytes {

// Unaligned loads of eight and four bytes.
inline uint64_t Load64(const char* p) {
  uint64_t chunk;
  std::memcpy(&chunk, p, 8);
  return chunk;
}
inline uint32_t Load32(const char* p) {
  uint32_t chunk;
  std::memcpy(&chunk, p, 4);
  return chunk;
}

// The n < 8 bytes at p as one word, without a call: different bytes, different words.
[[gnu::always_inline]] inline uint64_t LoadTail(const char* p, size_t n) {
  if (n >= 4) return Load32(p) | (uint64_t{Load32(p + n - 4)} << 32);
  if (n == 0) return 0;
  const auto byte = [p](size_t i) { return uint64_t{static_cast<unsigned char>(p[i])}; };
  return byte(0) | (byte(n / 2) << 8) | (byte(n - 1) << 16);
}

// One multiply-xorshift round of a hash over words (see KeyMap::Hash).
inline uint64_t Mix(uint64_t h) {
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 31);
}

// Byte equality of short runs without a call to memcmp: eight bytes at a time, the last
// eight overlapping, shorter runs in overlapping words.
[[gnu::always_inline]] inline bool SameBytes(const char* a, const char* b, size_t n) {
  if (n >= 8) {
    for (; n > 8; a += 8, b += 8, n -= 8) {
      if (Load64(a) != Load64(b)) return false;
    }
    return Load64(a + n - 8) == Load64(b + n - 8);
  }
  if (n >= 4) return Load32(a) == Load32(b) && Load32(a + n - 4) == Load32(b + n - 4);
  for (; n > 0; --n) {
    if (*a++ != *b++) return false;
  }
  return true;
}

// Copies n bytes without a call for n <= 64 (sixteen bytes at a time, the last sixteen
// overlapping; smaller runs in overlapping words): the engine's copies are small, and a call
// to memcpy costs more than the copy.
[[gnu::always_inline]] inline void Copy(char* to, const char* from, size_t n) {
  if (n > 64) {
    std::memcpy(to, from, n);
  } else if (n >= 16) {
    uint64_t a, b;
    for (size_t at = 0; at + 16 < n; at += 16) {
      std::memcpy(&a, from + at, 8);
      std::memcpy(&b, from + at + 8, 8);
      std::memcpy(to + at, &a, 8);
      std::memcpy(to + at + 8, &b, 8);
    }
    std::memcpy(&a, from + n - 16, 8);
    std::memcpy(&b, from + n - 8, 8);
    std::memcpy(to + n - 16, &a, 8);
    std::memcpy(to + n - 8, &b, 8);
  } else if (n >= 8) {
    const uint64_t a = Load64(from), b = Load64(from + n - 8);
    std::memcpy(to, &a, 8);
    std::memcpy(to + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, from, 4);
    std::memcpy(&b, from + n - 4, 4);
    std::memcpy(to, &a, 4);
    std::memcpy(to + n - 4, &b, 4);
  } else {
    for (size_t i = 0; i < n; ++i) to[i] = from[i];
  }
}

}  // namespace short_bytes

// Equality of short strings (keys, names) without a call to memcmp.
[[gnu::always_inline]] inline bool ShortBytesEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && short_bytes::SameBytes(a.data(), b.data(), a.size());
}

}  // namespace statefold
