// EpochLog (see epoch_log.h).

#include "engine/epoch_log.h"

namespace statefold {

void ByteArena::Grow(size_t more) {
  capacity_ = std::max<uint64_t>({capacity_ * 2, size_ + more, initial_capacity_});
  std::unique_ptr<char[]> grown(new char[capacity_]);  // not initialized: not touched
  if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
  data_ = std::move(grown);
}

}  // namespace statefold
