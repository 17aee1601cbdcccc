// A strict scalar JSON scanner for small inputs, the fast path in front of simdjson: a
// cursor over a string_view (no padding needed) that reads the simple shapes (strings
// without escapes of printable ASCII, plain integers, literals) and validates and skips any
// other value by RFC 8259. Every Read/Skip returns false when the text at the cursor is not
// exactly what it expects (the cursor is then unspecified): callers take false to mean "not
// handled" and let the full parser decide, so false never says that the JSON is invalid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace statefold::small_json {

class Scanner {
 public:
  // Objects and arrays nest at most this deep in a skipped value.
  static constexpr int kMaxDepth = 32;

  explicit Scanner(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  const char* position() const { return p_; }

  // Skips whitespace and returns the next byte, or '\0' at the end.
  char Peek() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\t' || *p_ == '\r')) ++p_;
    return p_ < end_ ? *p_ : '\0';
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
    const char* begin = p_;
    for (; p_ < end_; ++p_) {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        *out = std::string_view(begin, static_cast<size_t>(p_++ - begin));
        return true;
      }
      if (c < 0x20 || c >= 0x80 || c == '\\') return false;
    }
    return false;
  }

  // An integer -?(0|[1-9][0-9]{0,17}) (no fraction or exponent); *token views its text.
  bool ReadInteger(int64_t* value, std::string_view* token) {
    Peek();
    const char* begin = p_;
    const bool negative = p_ < end_ && *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return false;
    uint64_t magnitude = 0;
    if (*p_ == '0') {
      ++p_;
    } else {
      const char* digits = p_;
      while (p_ < end_ && IsDigit(*p_)) magnitude = magnitude * 10 + uint64_t(*p_++ - '0');
      if (p_ - digits > 18) return false;
    }
    if (p_ < end_ && (IsDigit(*p_) || *p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    *value = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
    *token = std::string_view(begin, static_cast<size_t>(p_ - begin));
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

  // Validates and skips one value of any type.
  bool SkipValue() { return SkipValue(0); }

 private:
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
  static bool IsHex(char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  bool Literal(const char* word) {
    const size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
    p_ += n;
    return true;
  }

  bool SkipValue(int depth) {
    switch (Peek()) {
      case '{':
        if (depth == kMaxDepth) return false;
        ++p_;
        if (Consume('}')) return true;
        do {
          if (Peek() != '"' || !SkipString() || !Consume(':') || !SkipValue(depth + 1)) {
            return false;
          }
        } while (Consume(','));
        return Consume('}');
      case '[':
        if (depth == kMaxDepth) return false;
        ++p_;
        if (Consume(']')) return true;
        do {
          if (!SkipValue(depth + 1)) return false;
        } while (Consume(','));
        return Consume(']');
      case '"':
        return SkipString();
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return SkipNumber();
    }
  }

  // A string at the cursor, escapes allowed (and checked); REQUIRES: *p_ == '"'.
  bool SkipString() {
    for (++p_; p_ < end_; ++p_) {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20 || c >= 0x80) return false;
      if (c == '\\') {
        if (++p_ == end_) return false;
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
    return false;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool SkipNumber() {
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      if (++p_ == end_ || !IsDigit(*p_)) return false;
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return false;
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    return true;
  }

  const char* p_;
  const char* end_;
};

}  // namespace statefold::small_json
