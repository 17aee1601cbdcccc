// The short-run byte helpers (src/util/bytes.h): equality, tails and copies of every length
// around the word sizes they switch at, against the plain byte-by-byte answer.

#include "util/bytes.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace statefold {
namespace {

TEST(BytesTest, RunsThatDifferInAnyByteAreUnequal) {
  for (size_t n = 0; n <= 40; ++n) {
    const std::string base(n, 'a');
    EXPECT_TRUE(short_bytes::SameBytes(base.data(), std::string(base).data(), n)) << n;
    EXPECT_TRUE(ShortBytesEqual(base, std::string(base))) << n;
    for (size_t at = 0; at < n; ++at) {
      for (char c : {'b', '\0', '\xff'}) {
        std::string other = base;
        other[at] = c;
        EXPECT_FALSE(short_bytes::SameBytes(base.data(), other.data(), n)) << n << " at " << at;
      }
    }
  }
  EXPECT_FALSE(ShortBytesEqual("abcdefghij", "abcdefghi"));
}

TEST(BytesTest, TailsOfDifferentRunsOfOneLengthAreDifferentWords) {
  // ("a" and "aa" may give one word: KeyMap::Hash mixes the length in.)
  for (size_t n = 0; n < 8; ++n) {
    const std::string base(n, 'a');
    std::set<uint64_t> words = {short_bytes::LoadTail(base.data(), n)};
    for (size_t at = 0; at < n; ++at) {
      for (char c : {'b', '\0', '\xff'}) {
        std::string other = base;
        other[at] = c;
        EXPECT_TRUE(words.insert(short_bytes::LoadTail(other.data(), n)).second)
            << n << " at " << at;
      }
    }
  }
}

TEST(BytesTest, ShortCopiesCopyExactlyTheirBytes) {
  std::string from(200, '\0');
  for (size_t i = 0; i < from.size(); ++i) from[i] = static_cast<char>('a' + i % 26);
  for (size_t n = 0; n <= 130; ++n) {
    for (size_t offset : {0, 1, 7}) {
      std::string to(200, '#');
      short_bytes::Copy(to.data() + offset, from.data() + 3, n);
      EXPECT_EQ(to.substr(0, offset), std::string(offset, '#')) << n;
      EXPECT_EQ(to.substr(offset, n), from.substr(3, n)) << n;
      EXPECT_EQ(to.substr(offset + n), std::string(200 - offset - n, '#')) << n;
    }
  }
}

}  // namespace
}  // namespace statefold
