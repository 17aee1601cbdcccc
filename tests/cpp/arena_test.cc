// Arena (src/util/arena.h): aligned allocations that stay put until Reset, and blocks reused
// after it.

#include "util/arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace statefold {
namespace {

TEST(ArenaTest, AllocationsAreAlignedDisjointAndKeepTheirBytes) {
  Arena arena;
  std::vector<std::pair<char*, size_t>> allocations;
  for (size_t i = 0; i < 5000; ++i) {
    const size_t size = i % 7 == 0 ? Arena::kBlockSize / 3 : i % 61;  // some large ones
    char* p = arena.Allocate(size);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u) << i;
    std::memset(p, static_cast<int>(i % 251), size);
    allocations.emplace_back(p, size);
  }
  for (size_t i = 0; i < allocations.size(); ++i) {
    const auto [p, size] = allocations[i];
    for (size_t k = 0; k < size; ++k) {
      ASSERT_EQ(static_cast<unsigned char>(p[k]), i % 251) << i << " byte " << k;
    }
  }
}

TEST(ArenaTest, ResetReusesTheBlocksAndFreesLargeAllocations) {
  Arena arena;
  for (int i = 0; i < 1000; ++i) arena.Allocate(200);
  const size_t blocks = arena.MemoryUsage();
  EXPECT_GE(blocks, 200000u);
  arena.Allocate(Arena::kBlockSize);  // large: its own allocation
  EXPECT_EQ(arena.MemoryUsage(), blocks + Arena::kBlockSize);
  for (int round = 0; round < 3; ++round) {
    arena.Reset();
    EXPECT_EQ(arena.MemoryUsage(), blocks);
    for (int i = 0; i < 1000; ++i) arena.Allocate(200);
    EXPECT_EQ(arena.MemoryUsage(), blocks);  // the same blocks again
  }
  auto* values = arena.AllocateArray<int64_t>(3);
  values[0] = 1, values[2] = 3;
  EXPECT_EQ(values[0] + values[2], 4);
}

}  // namespace
}  // namespace statefold
