// KeyMap: string key -> V, for the engine's per-message lookups (the live-state cache and the
// pending features). Open addressing with linear probing over a power-of-two array of (hash,
// node) buckets: a lookup is one probe into the bucket array and one load of the matching node,
// with no division and no chain. Nodes never move, so pointers to keys and values stay valid
// until the node is erased.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "statefold/internal/prefetch.h"
#include "util/bytes.h"

namespace statefold {

template <class V>
class KeyMap {
 public:
  struct Node {
    std::string key;
    V value;
  };

  KeyMap() : buckets_(16) {}
  ~KeyMap() { Clear(); }
  KeyMap(const KeyMap&) = delete;
  KeyMap& operator=(const KeyMap&) = delete;
  KeyMap(KeyMap&& other) noexcept : buckets_(16) {
    buckets_.swap(other.buckets_);
    std::swap(size_, other.size_);
  }

  size_t size() const { return size_; }

  // Inline (keys are short): eight bytes at a time through a multiply-xorshift, then
  // MurmurHash3's finalizer, so that the low bits the bucket index takes are well mixed.
  static uint64_t Hash(std::string_view key) {
    using short_bytes::Load64, short_bytes::LoadTail, short_bytes::Mix;
    const char* p = key.data();
    size_t n = key.size();
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (; n >= 8; p += 8, n -= 8) h = Mix(h ^ Load64(p));
    if (n > 0) h = Mix(h ^ LoadTail(p, n));
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 33);
  }

  // Batched lookups overlap their cache misses: hash every key and Prefetch its bucket first,
  // then PrefetchNode (the bucket is in cache by then), then Find.
  void Prefetch(uint64_t hash) const { PrefetchLine(&buckets_[hash & Mask()]); }
  void PrefetchNode(uint64_t hash) const {
    const Bucket& bucket = buckets_[hash & Mask()];
    if (bucket.node != nullptr) {  // a node may straddle two cache lines
      PrefetchLine(bucket.node);
      PrefetchLine(reinterpret_cast<const char*>(bucket.node) + sizeof(Node) - 1);
    }
  }

  // The node of `key`, or nullptr.
  Node* Find(std::string_view key) const { return Find(key, Hash(key)); }
  Node* Find(std::string_view key, uint64_t hash) const {
    for (size_t i = hash & Mask();; i = (i + 1) & Mask()) {
      const Bucket& bucket = buckets_[i];
      if (bucket.node == nullptr) return nullptr;
      if (bucket.hash == hash && ShortBytesEqual(bucket.node->key, key)) return bucket.node;
    }
  }

  // Adds `key` (REQUIRES: absent; `hash` is Hash(key)) with a value-initialized V.
  Node* Insert(std::string_view key) { return Insert(key, Hash(key)); }
  Node* Insert(std::string_view key, uint64_t hash) {
    if ((size_ + 1) * 2 > buckets_.size()) Grow();
    Node* node = new Node{std::string(key), V{}};
    Place(hash, node);
    ++size_;
    return node;
  }

  // Removes and deletes `node` (REQUIRES: in the map).
  void Erase(Node* node) {
    size_t i = Hash(node->key) & Mask();
    while (buckets_[i].node != node) i = (i + 1) & Mask();
    delete node;
    --size_;
    // Backward-shift deletion: move later entries of the probe run into the hole.
    for (size_t j = (i + 1) & Mask();; j = (j + 1) & Mask()) {
      if (buckets_[j].node == nullptr) break;
      size_t home = buckets_[j].hash & Mask();
      // Entry j may fill hole i when its home bucket is not in (i, j] (cyclically).
      bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (!stays) {
        buckets_[i] = buckets_[j];
        i = j;
      }
    }
    buckets_[i] = Bucket();
  }

  // Calls visit(node) for every node; erasing during the walk is not allowed.
  template <class Visit>
  void ForEach(Visit&& visit) const {
    for (const Bucket& bucket : buckets_) {
      if (bucket.node != nullptr) visit(bucket.node);
    }
  }

  void Clear() {
    for (Bucket& bucket : buckets_) {
      delete bucket.node;
      bucket = Bucket();
    }
    size_ = 0;
  }

 private:
  struct Bucket {
    uint64_t hash = 0;
    Node* node = nullptr;
  };

  size_t Mask() const { return buckets_.size() - 1; }

  void Place(uint64_t hash, Node* node) {
    size_t i = hash & Mask();
    while (buckets_[i].node != nullptr) i = (i + 1) & Mask();
    buckets_[i] = Bucket{hash, node};
  }

  void Grow() {
    std::vector<Bucket> old(buckets_.size() * 2);
    old.swap(buckets_);
    for (const Bucket& bucket : old) {
      if (bucket.node != nullptr) Place(bucket.hash, bucket.node);
    }
  }

  std::vector<Bucket> buckets_;
  size_t size_ = 0;
};

}  // namespace statefold
