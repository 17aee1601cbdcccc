// Arena: memory handed out by bumping a pointer through reused blocks, for values that die
// together (the decoded events of one batch). Nothing is freed one by one: Reset drops
// everything at once and keeps the blocks for the next round, so a steady stream of batches
// allocates nothing (LevelDB's util/arena.h, with reuse).
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <vector>

namespace statefold {

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Returns `bytes` uninitialized bytes, aligned to 8, valid until Reset or destruction.
  char* Allocate(size_t bytes) {
    bytes = (bytes + 7) & ~size_t{7};
    if (bytes <= remaining_) {
      char* result = next_;
      next_ += bytes;
      remaining_ -= bytes;
      return result;
    }
    return AllocateSlow(bytes);
  }

  // Room for `n` objects of T, uninitialized. REQUIRES: T is trivially destructible (the
  // arena never runs destructors) and needs at most 8-byte alignment.
  template <class T>
  T* AllocateArray(size_t n) {
    static_assert(std::is_trivially_destructible_v<T> && alignof(T) <= 8);
    return reinterpret_cast<T*>(Allocate(n * sizeof(T)));
  }

  // Invalidates everything allocated so far; the blocks are kept for reuse.
  void Reset();

  // The bytes the arena holds from the system.
  size_t MemoryUsage() const;

  static constexpr size_t kBlockSize = 64 << 10;

 private:
  char* AllocateSlow(size_t bytes);

  char* next_ = nullptr;  // in the current block
  size_t remaining_ = 0;
  size_t next_block_ = 0;                        // the block after the current one
  std::vector<std::unique_ptr<char[]>> blocks_;  // of kBlockSize bytes, reused after Reset
  std::vector<std::unique_ptr<char[]>> large_;   // one per large allocation, freed by Reset
  size_t large_bytes_ = 0;
};

}  // namespace statefold
