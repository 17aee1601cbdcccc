// KeyMap against std::unordered_map under random inserts, lookups and erases (erasing shifts
// later entries of a probe run back, which is where open addressing goes wrong).

#include "engine/key_map.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace statefold {
namespace {

TEST(KeyMapTest, MatchesAStandardMapUnderRandomOperations) {
  KeyMap<int> map;
  std::unordered_map<std::string, int> expected;
  std::mt19937 rng(7);
  for (int step = 0; step < 200000; ++step) {
    std::string key = "k" + std::to_string(rng() % 5000);
    int op = static_cast<int>(rng() % 3);
    auto* node = map.Find(key);
    ASSERT_EQ(node != nullptr, expected.count(key) == 1) << key;
    if (op == 0 && node == nullptr) {
      map.Insert(key)->value = step;
      expected[key] = step;
    } else if (op == 1 && node != nullptr) {
      map.Erase(node);
      expected.erase(key);
    } else if (node != nullptr) {
      ASSERT_EQ(node->value, expected[key]);
    }
    ASSERT_EQ(map.size(), expected.size());
  }
  size_t visited = 0;
  map.ForEach([&](KeyMap<int>::Node* node) {
    ++visited;
    EXPECT_EQ(node->value, expected.at(node->key));
  });
  EXPECT_EQ(visited, expected.size());
}

TEST(KeyMapTest, NodesStayPutWhileTheMapGrows) {
  KeyMap<int> map;
  auto* first = map.Insert("first");
  const std::string* key = &first->key;
  for (int i = 0; i < 10000; ++i) map.Insert("key" + std::to_string(i))->value = i;
  EXPECT_EQ(map.Find("first"), first);
  EXPECT_EQ(*key, "first");
}

// Keys of every length up to 40 that differ in one byte (wherever it is) are different keys:
// the inline hash and comparison read every byte, and nothing past the key.
TEST(KeyMapTest, KeysThatDifferInAnyByteAreDistinct) {
  KeyMap<int> map;
  std::vector<std::string> keys;
  for (size_t length = 0; length <= 40; ++length) {
    std::string base(length, 'a');
    keys.push_back(base);
    for (size_t at = 0; at < length; ++at) {
      for (char c : {'b', '\0', '\xff'}) {
        std::string key = base;
        key[at] = c;
        keys.push_back(key);
      }
    }
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(map.Find(keys[i]), nullptr) << i;
    map.Insert(keys[i])->value = static_cast<int>(i);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    auto* node = map.Find(keys[i]);
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(node->value, static_cast<int>(i));
  }
}

}  // namespace
}  // namespace statefold
