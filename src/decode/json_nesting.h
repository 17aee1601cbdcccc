// The nesting limit of message values: how deep arrays and objects may nest in a value before
// the record is a dead letter. One rule, checked when a record is decoded, so that every
// resolver of a source, Python or native, makes the same decision on the same bytes (the
// parsers behind them differ: pydantic refuses more than about 200 levels, simdjson's On-Demand
// skips any depth).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace statefold {

// The deepest a message value may nest: `{"a": [1]}` nests 2 levels.
inline constexpr int kMaxValueNesting = 128;

// The byte offset in `json` of the bracket that opens level `max_depth + 1` of arrays and
// objects, or std::string_view::npos when none does. Brackets inside strings do not count;
// `json` need not be valid JSON (the parsers judge that).
inline size_t FindNestingBeyond(std::string_view json, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped byte cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return i;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return std::string_view::npos;
}

// The dead-letter reason of a value that nests deeper than kMaxValueNesting, whose level
// kMaxValueNesting + 1 opens at byte `offset` of the value.
inline std::string NestingReason(size_t offset) {
  return "message value nests deeper than " + std::to_string(kMaxValueNesting) +
         " levels of arrays and objects (level " + std::to_string(kMaxValueNesting + 1) +
         " opens at byte " + std::to_string(offset) + " of the value)";
}

}  // namespace statefold
