// FlatSet (statefold/flat_set.h): a set as a sorted vector, ordered as std::string orders
// strings, and stored with the schema and bytes of std::set.

#include "statefold/flat_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "statefold/native_codec.h"

namespace statefold {
namespace {

TEST(FlatSetTest, KeepsUniqueItemsInOrderAndLooksUpViews) {
  FlatSet<std::string> set{"b", "a"};
  EXPECT_TRUE(set.insert(std::string_view("c")).second);
  EXPECT_FALSE(set.insert("a").second);
  EXPECT_FALSE(set.emplace(std::string_view("b")).second);
  EXPECT_EQ(std::vector<std::string>(set.begin(), set.end()),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(set.contains(std::string_view("b")));
  EXPECT_FALSE(set.contains("d"));
  EXPECT_EQ(set.count("c"), 1u);
  EXPECT_EQ(set.erase("b"), 1u);
  EXPECT_EQ(set.erase("b"), 0u);
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(set.find("z"), set.end());
}

TEST(FlatSetTest, OrdersStringsAsStdStringDoes) {
  std::vector<std::string> items = {
      "",         "a",        "ab",        "b",    "10.0.0.1", "10.0.0.10",    "10.0.0.2",
      "abcdefgh", "abcdefgi", "abcdefghi", "\xff", "\x01\xff", "abcdefgh\xff", "abcdefgh\x01"};
  for (const std::string& a : items) {
    for (const std::string& b : items) {
      int expected = std::string_view(a).compare(b);
      int got = CompareShortStrings(a, b);
      EXPECT_EQ((expected > 0) - (expected < 0), got) << a << " vs " << b;
    }
  }
  FlatSet<std::string> set(std::initializer_list<std::string>{});
  for (const std::string& item : items) set.insert(item);
  std::vector<std::string> sorted = items;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::vector<std::string>(set.begin(), set.end()), sorted);
}

TEST(FlatSetTest, IsStoredAsASetWithTheBytesOfStdSet) {
  // Same schema and bytes as std::set (and so as Python's set[str]): states move between them.
  std::string flat_schema, set_schema;
  codec::AppendSchema<FlatSet<std::string>>(&flat_schema);
  codec::AppendSchema<std::set<std::string>>(&set_schema);
  EXPECT_EQ(flat_schema, set_schema);
  FlatSet<std::string> flat{"10.0.0.2", "10.0.0.1"};
  std::string flat_bytes, set_bytes;
  ByteWriter flat_writer(&flat_bytes), set_writer(&set_bytes);
  codec::Encode(flat, &flat_writer);
  codec::Encode(std::set<std::string>{"10.0.0.1", "10.0.0.2"}, &set_writer);
  EXPECT_EQ(flat_bytes, set_bytes);
  FlatSet<std::string> decoded;
  ByteReader reader(set_bytes);
  ASSERT_TRUE(codec::Decode(&reader, &decoded));
  EXPECT_TRUE(reader.AtEnd());
  EXPECT_EQ(decoded, flat);
}

}  // namespace
}  // namespace statefold
