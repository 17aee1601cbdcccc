// Numbers as text, appended without a temporary string (std::to_chars): the integers and
// shortest round-trip doubles of the JSON and Prometheus writers.
#pragma once

#include <charconv>
#include <concepts>
#include <string>

namespace statefold {

// Appends `value` in decimal.
template <std::integral Integer>
void AppendInteger(Integer value, std::string* out) {
  char buffer[24];
  out->append(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

// Appends the shortest text that reads back as `value`: "2", "0.0125", "1e+06" (no ".0" is
// added; JSON feature values that must stay floats use AppendJsonDouble instead).
inline void AppendShortestDouble(double value, std::string* out) {
  char buffer[32];
  out->append(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

}  // namespace statefold
