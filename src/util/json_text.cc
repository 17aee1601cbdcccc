// JSON text helpers (see include/statefold/json_text.h).

#include "statefold/json_text.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace statefold {

void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto needs_escape = [](unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; };
  size_t plain = 0;
  while (plain < text.size() && !needs_escape(static_cast<unsigned char>(text[plain]))) ++plain;
  char quoted[64];
  if (plain == text.size() && text.size() + 2 <= sizeof quoted) {  // most: one append
    quoted[0] = '"';
    std::memcpy(quoted + 1, text.data(), text.size());
    quoted[text.size() + 1] = '"';
    out->append(quoted, text.size() + 2);
    return;
  }
  out->push_back('"');
  out->append(text.substr(0, plain));
  for (unsigned char c : text.substr(plain)) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

bool AppendJsonDouble(double value, std::string* out) {
  if (!std::isfinite(value)) return false;
  char buffer[32];
  char* end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  out->append(buffer, static_cast<size_t>(end - buffer));
  if (std::string_view(buffer, end - buffer).find_first_of(".e") == std::string_view::npos) {
    out->append(".0");
  }
  return true;
}

std::string_view NonFiniteJsonString(double value) {
  if (std::isnan(value)) return "\"NaN\"";
  return value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
}

std::string NonFiniteFeatureReason(double value) {
  std::string_view name = NonFiniteJsonString(value);
  name = name.substr(1, name.size() - 2);
  return std::string(name) +
         " has no JSON form, so no feature can hold it: return a finite number, or no value "
         "for a missing one";
}

void AppendJsonBase64(std::string_view bytes, std::string* out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out->push_back('"');
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out->push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out->push_back('=');
  }
  out->push_back('"');
}

}  // namespace statefold
