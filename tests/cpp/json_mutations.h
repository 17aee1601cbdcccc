// Deterministic byte mutations of JSON texts, for differential tests of the fast paths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace statefold {

// `count` mutants of `seeds`: each has 1 to 3 bytes inserted, deleted or replaced, the new
// bytes drawn mostly from JSON's own alphabet. The same arguments give the same mutants.
inline std::vector<std::string> JsonMutations(const std::vector<std::string>& seeds, size_t count,
                                              uint32_t seed) {
  static const std::string kAlphabet =
      "{}[]\":,\\ \t\n\r0123456789-+.eEtrufalsn\x01\x1f\x7f\x80\xc3\xff'xu/";
  std::mt19937 random(seed);
  auto pick = [&random](size_t n) { return static_cast<size_t>(random() % n); };
  std::vector<std::string> mutants;
  for (size_t i = 0; i < count; ++i) {
    std::string text = seeds[i % seeds.size()];
    for (size_t edits = 1 + pick(3); edits > 0; --edits) {
      char byte = kAlphabet[pick(kAlphabet.size())];
      size_t at = pick(text.size() + 1);
      switch (pick(3)) {
        case 0:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), byte);
          break;
        case 1:
          if (at < text.size()) text.erase(at, 1);
          break;
        default:
          if (at < text.size()) text[at] = byte;
      }
    }
    mutants.push_back(std::move(text));
  }
  return mutants;
}

// `count` variants of `seeds` (strict JSON without escapes) with the same layout and 1 to 3
// scalar values (not member names) swapped for tokens of every kind, good and bad: texts
// that a shape learned from the seed matches, or nearly does. Deterministic.
inline std::vector<std::string> JsonValueVariants(const std::vector<std::string>& seeds,
                                                  size_t count, uint32_t seed) {
  static const std::vector<std::string> kTokens = {"\"\"",
                                                   "\"u1\"",
                                                   "\"u2476\"",
                                                   "\"10.0.0.1\"",
                                                   "\"2026-01-01T00:00:00Z\"",
                                                   "\"2026-01-01T00:00:00.5+02:00\"",
                                                   "\"yesterday\"",
                                                   "\"a\\\"b\"",
                                                   "\"\\u00e9\"",
                                                   "\"caf\xc3\xa9\"",
                                                   "\"a\x01\"",
                                                   "\"0123456789abcdefghijklmnopqrstuvwxyz\"",
                                                   "0",
                                                   "-0",
                                                   "7",
                                                   "-12",
                                                   "01",
                                                   "1.5",
                                                   "1e5",
                                                   "-",
                                                   "1.",
                                                   "2147483648",
                                                   "-2147483649",
                                                   "256",
                                                   "999999999999999999",
                                                   "9223372036854775808",
                                                   "99999999999999999999",
                                                   "1767225600000",
                                                   "true",
                                                   "false",
                                                   "null",
                                                   "nul",
                                                   "tru",
                                                   "{}",
                                                   "[]",
                                                   "{\"a\": 1}",
                                                   "[1, \"x\"]"};
  // Where the seed's scalar values are: [begin, end) of each token.
  auto values_of = [](const std::string& text) {
    std::vector<std::pair<size_t, size_t>> values;
    for (size_t i = 0; i < text.size();) {
      const char c = text[i];
      if (c == '"') {
        size_t close = text.find('"', i + 1);
        size_t after = text.find_first_not_of(" \t\r\n", close + 1);
        if (after == std::string::npos || text[after] != ':') values.emplace_back(i, close + 1);
        i = close + 1;
      } else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
        size_t end = text.find_first_of(",}] \t\r\n", i);
        if (end == std::string::npos) end = text.size();
        values.emplace_back(i, end);
        i = end;
      } else {
        ++i;
      }
    }
    return values;
  };
  std::mt19937 random(seed);
  auto pick = [&random](size_t n) { return static_cast<size_t>(random() % n); };
  std::vector<std::string> variants;
  for (size_t i = 0; i < count; ++i) {
    const std::string& base = seeds[i % seeds.size()];
    std::vector<std::pair<size_t, size_t>> values = values_of(base);
    if (values.empty()) {
      variants.push_back(base);
      continue;
    }
    std::vector<std::string> replaced(values.size());
    for (size_t k = 0; k < values.size(); ++k) {
      replaced[k] = base.substr(values[k].first, values[k].second - values[k].first);
    }
    for (size_t edits = 1 + pick(3); edits > 0; --edits) {
      replaced[pick(values.size())] = kTokens[pick(kTokens.size())];
    }
    std::string text;
    size_t at = 0;
    for (size_t k = 0; k < values.size(); ++k) {
      text += base.substr(at, values[k].first - at) + replaced[k];
      at = values[k].second;
    }
    variants.push_back(text + base.substr(at));
  }
  return variants;
}

}  // namespace statefold
