// Arena's block handling (see util/arena.h).

#include "util/arena.h"

namespace statefold {

char* Arena::AllocateSlow(size_t bytes) {
  if (bytes > kBlockSize / 4) {
    // Its own block, so that the rest of the current block is not wasted.
    large_.emplace_back(new char[bytes]);
    large_bytes_ += bytes;
    return large_.back().get();
  }
  if (next_block_ == blocks_.size()) blocks_.emplace_back(new char[kBlockSize]);
  char* block = blocks_[next_block_++].get();
  next_ = block + bytes;
  remaining_ = kBlockSize - bytes;
  return block;
}

void Arena::Reset() {
  next_ = nullptr;
  remaining_ = 0;
  next_block_ = 0;
  large_.clear();
  large_bytes_ = 0;
}

size_t Arena::MemoryUsage() const { return blocks_.size() * kBlockSize + large_bytes_; }

}  // namespace statefold
