// A strict scalar JSON scanner for small inputs, the fast path in front of simdjson: a
// cursor over a string_view (no padding needed) that reads the simple shapes (strings
// without escapes of printable ASCII, plain integers, literals) and validates and skips any
// other value by RFC 8259. Every Read/Skip returns false when the text at the cursor is not
// exactly what it expects (the cursor is then unspecified): callers take false to mean "not
// handled" and let the full parser decide, so false never says that the JSON is invalid.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "util/bytes.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace statefold::small_json {

using short_bytes::Load64;
using short_bytes::SameBytes;

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The first byte in [p, end) that ends or escapes a string, or is a control character or
// >= 0x80; `end` when there is none.
inline const char* FindSpecial(const char* p, const char* end) {
#if defined(__SSE2__)
  // Sixteen bytes at a time while sixteen are left. Bytes >= 0x80 are negative as int8, so
  // one signed compare finds them and the control characters.
  for (; end - p >= 16; p += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i special = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
    if (const int mask = _mm_movemask_epi8(special)) {
      return p + std::countr_zero(static_cast<unsigned>(mask));
    }
  }
#endif
  static constexpr auto kSpecial = [] {
    std::array<bool, 256> special{};
    for (int c = 0; c < 256; ++c) special[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
    return special;
  }();
  while (p < end && !kSpecial[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

#if defined(__SSE2__)
// FindSpecial over whole sixteen-byte blocks. REQUIRES: 16 readable bytes after `end`.
inline const char* FindSpecialPadded(const char* p, const char* end) {
  for (; p < end; p += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i special = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
    if (const int mask = _mm_movemask_epi8(special)) {
      const char* at = p + std::countr_zero(static_cast<unsigned>(mask));
      return at < end ? at : end;
    }
  }
  return end;
}
#endif

// Eight bytes (loaded little-endian) that are all ASCII digits.
inline bool AllDigits(uint64_t chunk) {
  return ((chunk & 0xF0F0F0F0F0F0F0F0) |
          (((chunk + 0x0606060606060606) & 0xF0F0F0F0F0F0F0F0) >> 4)) == 0x3333333333333333;
}

// The value of eight ASCII digits (loaded little-endian), as simdjson computes it.
inline uint64_t EightDigits(uint64_t chunk) {
  chunk = ((chunk & 0x0F0F0F0F0F0F0F0F) * 2561) >> 8;
  chunk = ((chunk & 0x00FF00FF00FF00FF) * 6553601) >> 16;
  return ((chunk & 0x0000FFFF0000FFFF) * 42949672960001) >> 32;
}

// The first byte in [p, end) that is not a digit, eight at a time.
inline const char* SkipDigits(const char* p, const char* end) {
  if constexpr (std::endian::native == std::endian::little) {
    while (end - p >= 8) {
      // A byte is zero in `other` exactly when it is a digit: its high nibble is 3 and
      // adding 6 does not carry out of its low nibble. A carry out of a byte (>= 0xFA, not a
      // digit) only reaches the bytes after it.
      const uint64_t chunk = Load64(p);
      const uint64_t other =
          ((chunk & 0xF0F0F0F0F0F0F0F0) ^ 0x3030303030303030) |
          (((chunk + 0x0606060606060606) & 0xF0F0F0F0F0F0F0F0) ^ 0x3030303030303030);
      if (other != 0) return p + std::countr_zero(other) / 8;
      p += 8;
    }
  }
  while (p < end && IsDigit(*p)) ++p;
  return p;
}

// The end of the number -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? that starts at `p`, or
// nullptr when none does.
inline const char* ScanNumber(const char* p, const char* end) {
  if (p < end && *p == '-') ++p;
  if (p == end || !IsDigit(*p)) return nullptr;
  p = *p == '0' ? p + 1 : SkipDigits(p, end);
  if (p < end && *p == '.') {
    if (++p == end || !IsDigit(*p)) return nullptr;
    p = SkipDigits(p, end);
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (p == end || !IsDigit(*p)) return nullptr;
    p = SkipDigits(p, end);
  }
  return p;
}

// A whole JSON number token (as ScanNumber ends it) as an integer -?(0|[1-9][0-9]{0,17}):
// false for fractions, exponents and more than 18 digits.
inline bool ParseInteger(std::string_view token, int64_t* value) {
  const char* p = token.data();
  const char* const end = p + token.size();
  const bool negative = p < end && *p == '-';
  p += negative;
  const size_t digits = static_cast<size_t>(end - p);
  if (digits == 0 || digits > 18 || (*p == '0' && digits > 1)) return false;
  uint64_t magnitude = 0;
  if constexpr (std::endian::native == std::endian::little) {
    for (; end - p >= 8; p += 8) {
      const uint64_t chunk = Load64(p);
      if (!AllDigits(chunk)) return false;
      magnitude = magnitude * 100000000 + EightDigits(chunk);
    }
  }
  for (unsigned digit; p < end; ++p) {
    if ((digit = unsigned(*p - '0')) > 9) return false;
    magnitude = magnitude * 10 + digit;
  }
  *value = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

inline bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Whether `text` is one JSON value by the grammar of RFC 8259 alone, its arrays and objects
// nested at most `max_depth` deep: numbers of any magnitude (`1e400`) and `\u` escapes whether
// or not they pair (`"\ud800"`) are grammar; `NaN`, `-Infinity`, `01`, `"\q"` and control
// characters in strings are not. Bytes >= 0x80 in strings are taken as they are: REQUIRES
// `text` to be valid UTF-8. Not a fast path: the judge of texts that a converting parser
// refused for a number's range or a lone surrogate, which may hide other errors after them.
inline bool IsJsonGrammar(std::string_view text, int max_depth) {
  const char* p = text.data();
  const char* const end = p + text.size();
  std::string open;  // '{' or '[' per open container
  const auto space = [&] {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) ++p;
  };
  const auto string = [&] {  // at '"'
    for (++p; p < end; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') {
        ++p;
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (++p == end) return false;
      if (*p == 'u') {
        if (end - p < 5 || !IsHex(p[1]) || !IsHex(p[2]) || !IsHex(p[3]) || !IsHex(p[4])) {
          return false;
        }
        p += 4;
      } else if (std::string_view("\"\\/bfnrt").find(*p) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  };
  const auto key = [&] {  // after '{' or a member's ','
    space();
    if (p == end || *p != '"' || !string()) return false;
    space();
    return p < end && *p++ == ':';
  };
  const auto literal = [&](std::string_view word) {
    if (static_cast<size_t>(end - p) < word.size() || std::string_view(p, word.size()) != word) {
      return false;
    }
    p += word.size();
    return true;
  };
  for (;;) {
    space();  // at a value
    if (p == end) return false;
    const char c = *p;
    if (c == '{' || c == '[') {
      if (static_cast<int>(open.size()) == max_depth) return false;
      ++p;
      space();
      if (p < end && *p == (c == '{' ? '}' : ']')) {
        ++p;
      } else {
        open.push_back(c);
        if (c == '{' && !key()) return false;
        continue;
      }
    } else if (!(c == '"'   ? string()
                 : c == 't' ? literal("true")
                 : c == 'f' ? literal("false")
                 : c == 'n' ? literal("null")
                            : (p = ScanNumber(p, end)) != nullptr)) {
      return false;
    }
    // After a value: close containers until one goes on after a comma.
    for (;;) {
      space();
      if (open.empty()) return p == end;
      const bool object = open.back() == '{';
      if (p < end && *p == ',') {
        ++p;
        if (object && !key()) return false;
        break;
      }
      if (p == end || *p != (object ? '}' : ']')) return false;
      ++p;
      open.pop_back();
    }
  }
}

class Scanner {
 public:
  // Objects and arrays nest at most this deep in a skipped value.
  static constexpr int kMaxDepth = 32;

  explicit Scanner(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  const char* position() const { return p_; }

  // Skips whitespace and returns the next byte, or '\0' at the end.
  char Peek() {
    if (p_ != end_ && static_cast<unsigned char>(*p_) > 0x20) return *p_;  // no whitespace
    if (end_ - p_ >= 2 && *p_ == ' ' && static_cast<unsigned char>(p_[1]) > 0x20) {
      return *++p_;  // one space, as after a JSON encoder's ':' and ','
    }
    const char* p = p_;
    while (p < end_ && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) ++p;
    p_ = p;
    return p < end_ ? *p : '\0';
  }
  // Skips whitespace and `c`.
  bool Consume(char c) {
    if (Peek() != c || p_ == end_) return false;
    ++p_;
    return true;
  }
  // Whether only whitespace is left.
  bool AtEnd() {
    Peek();
    return p_ == end_;
  }

  // A string without escapes, control characters or bytes >= 0x80; *out views its content.
  bool ReadString(std::string_view* out) {
    if (!Consume('"')) return false;
    const char* end = FindSpecial(p_, end_);
    if (end == end_ || *end != '"') return false;
    *out = std::string_view(p_, static_cast<size_t>(end - p_));
    p_ = end + 1;
    return true;
  }

  // An integer -?(0|[1-9][0-9]{0,17}) (no fraction or exponent); *token views its text.
  bool ReadInteger(int64_t* value, std::string_view* token) {
    Peek();
    const char* end = ScanNumber(p_, end_);
    // A number, not followed by a digit (as after a leading zero: `01`), that is an integer.
    if (end == nullptr || (end < end_ && IsDigit(*end))) return false;
    const std::string_view text(p_, static_cast<size_t>(end - p_));
    if (!ParseInteger(text, value)) return false;
    *token = text;
    p_ = end;
    return true;
  }

  bool ReadBool(bool* out) {
    if (Peek() == 't' && Literal("true")) {
      *out = true;
      return true;
    }
    if (p_ < end_ && *p_ == 'f' && Literal("false")) {
      *out = false;
      return true;
    }
    return false;
  }

  bool ReadNull() { return Peek() == 'n' && Literal("null"); }

  // Validates and skips one value of any type. Iterative: the kinds of the open containers
  // are bits of `objects`.
  bool SkipValue() {
    uint32_t objects = 0;  // bit d: the container at depth d is an object
    int depth = 0;
    for (;;) {
      const char c = Peek();  // at a value
      if (c == '{' || c == '[') {
        if (depth == kMaxDepth) return false;
        ++p_;
        const bool object = c == '{';
        if (!Consume(object ? '}' : ']')) {
          objects = (objects & ~(uint32_t{1} << depth)) | (uint32_t{object} << depth);
          ++depth;
          if (object && !SkipKey()) return false;
          continue;
        }
      } else if (!(c == '"'   ? SkipString()
                   : c == 't' ? Literal("true")
                   : c == 'f' ? Literal("false")
                   : c == 'n' ? Literal("null")
                              : SkipNumber())) {
        return false;
      }
      // After a value: close containers until one goes on after a comma.
      for (;; --depth) {
        if (depth == 0) return true;
        const bool object = (objects >> (depth - 1)) & 1;
        const char next = Peek();
        if (next == ',') {
          ++p_;
          if (object && !SkipKey()) return false;
          break;
        }
        if (next != (object ? '}' : ']')) return false;
        ++p_;
      }
    }
  }

 private:
  bool SkipKey() { return Peek() == '"' && SkipString() && Consume(':'); }

  bool Literal(const char* word) {
    const size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
    p_ += n;
    return true;
  }

  // A string at the cursor, escapes allowed (and checked); REQUIRES: *p_ == '"'.
  bool SkipString() {
    for (++p_;; ++p_) {
      p_ = FindSpecial(p_, end_);
      if (p_ == end_) return false;
      if (*p_ == '"') {
        ++p_;
        return true;
      }
      if (*p_ != '\\' || ++p_ == end_) return false;
      switch (*p_) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          break;
        case 'u':
          if (end_ - p_ < 5 || !IsHex(p_[1]) || !IsHex(p_[2]) || !IsHex(p_[3]) || !IsHex(p_[4])) {
            return false;
          }
          p_ += 4;
          break;
        default:
          return false;
      }
    }
  }

  bool SkipNumber() {
    const char* end = ScanNumber(p_, end_);
    if (end == nullptr) return false;
    p_ = end;
    return true;
  }

  const char* p_;
  const char* end_;
};

}  // namespace statefold::small_json
