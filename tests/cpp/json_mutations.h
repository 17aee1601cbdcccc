// Deterministic byte mutations of JSON texts, for differential tests of the fast paths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
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

}  // namespace statefold
