// EpochLog: every message read since the last checkpoint (an "epoch"). It is what makes a
// failed resolver call cheap to undo: the engine rolls back only the failing key, by reloading
// its committed state and replaying its earlier messages from this log (docs/architecture.md,
// "Failure handling without snapshots"); and a pending feature value takes its feature time
// and offset from its message here. Values, keys and headers sit back to back in one arena,
// with a 48-byte EpochMessage each. Clear keeps the memory for the next epoch.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "decode/record_decoder.h"
#include "statefold/resolver.h"
#include "statefold/source.h"
#include "util/bytes.h"

namespace statefold {

// A message of the epoch. Its value, record key and headers follow each other in the log's
// arena, from `value_begin`.
struct EpochMessage {
  uint32_t source_index;
  int32_t partition;
  int64_t offset;
  int64_t timestamp_ms;
  uint64_t value_begin;
  uint32_t value_size;
  uint32_t key_size;
  uint32_t headers_size;
  int32_t value_slots : 31;  // the engine's index of its shape values while its batch runs, or -1
  uint32_t has_key : 1;      // the record has a key (a record key may be empty)

  uint64_t key_begin() const { return value_begin + value_size; }
  uint64_t headers_begin() const { return key_begin() + key_size; }
};
static_assert(sizeof(EpochMessage) == 48);

// An epoch message as routed to one resolver, with the key that resolver keys its state by:
// the record key, or a `keys=` field of the value that the log holds a copy of.
struct KeyRef {
  uint32_t epoch_index;
  uint32_t key_size;
  uint64_t key_begin;
};

// Bytes appended back to back, addressed by offset: std::string::append is an out-of-line
// call, and this is three appends per message. The buffer is allocated once at
// EpochLog::kBytesLimit (untouched memory costs nothing until written) and grows only past
// it, for a message larger than that.
class ByteArena {
 public:
  explicit ByteArena(uint64_t initial_capacity) : initial_capacity_(initial_capacity) {}

  const char* data() const { return data_.get(); }
  uint64_t size() const { return size_; }
  // Appends `bytes` and returns their offset. Growing moves the bytes: views taken before
  // an append are only valid while no append grew the arena.
  uint64_t Append(std::string_view bytes) {
    const uint64_t at = size_;
    if (bytes.size() > capacity_ - size_) Grow(bytes.size());
    short_bytes::Copy(data_.get() + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
    return at;
  }
  void Clear() { size_ = 0; }  // keeps the buffer

 private:
  void Grow(size_t more);

  std::unique_ptr<char[]> data_;
  uint64_t size_ = 0;
  uint64_t capacity_ = 0;
  uint64_t initial_capacity_;
};

class EpochLog {
 public:
  // The arena holds at most about this much before the epoch must be committed (Full).
  static constexpr uint64_t kBytesLimit = uint64_t{256} << 20;

  EpochLog() : bytes_(kBytesLimit) {}

  // Reserves room for `messages` (untouched until written), so that the log is not grown by
  // copying while an epoch runs.
  void Reserve(size_t messages) { messages_.reserve(messages); }

  // Appends a decoded record of source `source_index`, with its event time, and returns its
  // epoch index. REQUIRES: fewer than 2^32 messages per epoch.
  uint32_t Append(uint32_t source_index, const RawRecord& record, const DecodedRecord& decoded,
                  int64_t timestamp_ms) {
    EpochMessage& m = messages_.emplace_back();
    m.source_index = source_index;
    m.partition = record.partition;
    m.offset = record.offset;
    m.timestamp_ms = timestamp_ms;
    m.value_begin = bytes_.Append(decoded.value);
    m.value_size = static_cast<uint32_t>(decoded.value.size());
    m.has_key = decoded.has_key;
    bytes_.Append(decoded.key);
    m.key_size = static_cast<uint32_t>(decoded.key.size());
    if (!decoded.headers.empty()) bytes_.Append(decoded.headers);
    m.headers_size = static_cast<uint32_t>(decoded.headers.size());
    m.value_slots = -1;
    return static_cast<uint32_t>(messages_.size() - 1);
  }
  void SetValueSlots(uint32_t index, int32_t value_slots) {
    messages_[index].value_slots = value_slots;
  }

  // The key of message `index` as its record has it.
  KeyRef RecordKey(uint32_t index) const {
    const EpochMessage& m = messages_[index];
    return KeyRef{index, m.key_size, m.key_begin()};
  }
  // Stores `key` as the key of message `index` for a resolver that keys by a field.
  KeyRef AddKey(uint32_t index, std::string_view key) {
    return KeyRef{index, static_cast<uint32_t>(key.size()), bytes_.Append(key)};
  }

  const EpochMessage& operator[](uint32_t index) const { return messages_[index]; }
  uint32_t size() const { return static_cast<uint32_t>(messages_.size()); }
  bool Full() const { return bytes_.size() >= kBytesLimit; }

  // Views into the arena (see ByteArena::Append for how long they stay valid).
  std::string_view Key(const KeyRef& ref) const { return Bytes(ref.key_begin, ref.key_size); }
  std::string_view Value(const EpochMessage& m) const { return Bytes(m.value_begin, m.value_size); }
  std::string_view RecordKey(const EpochMessage& m) const {
    return Bytes(m.key_begin(), m.key_size);
  }
  std::string_view Headers(const EpochMessage& m) const {
    return Bytes(m.headers_begin(), m.headers_size);
  }

  // The message `ref` as its resolver sees it.
  Message MessageAt(const KeyRef& ref) const {
    const EpochMessage& m = messages_[ref.epoch_index];
    Message message;
    message.key = Key(ref);
    message.value = Value(m);
    message.timestamp_ms = m.timestamp_ms;
    message.offset = m.offset;
    message.partition = m.partition;
    message.headers = Headers(m);
    return message;
  }

  // Forgets every message (after a checkpoint), keeping the memory.
  void Clear() {
    messages_.clear();
    bytes_.Clear();
  }

 private:
  std::string_view Bytes(uint64_t begin, uint32_t size) const {
    return std::string_view(bytes_.data() + begin, size);
  }

  std::vector<EpochMessage> messages_;
  ByteArena bytes_;
};

}  // namespace statefold
