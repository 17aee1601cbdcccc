// FlatSet: a set kept as a sorted vector, for small sets in resolver state.
//
// Lookups binary-search one contiguous buffer instead of chasing a node per element, which is
// what a per-key state of a few dozen items wants: std::unordered_set costs a cache miss for
// its bucket array and one per node visited. Inserting and erasing move the elements after
// the position, so large sets that change often are better served by the standard sets.
// Iteration is in sorted order, so a FlatSet always encodes to the same bytes. The state codec
// stores it as a set (native_codec.h): the same schema as std::set and Python's set[T].
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace statefold {

// std::string_view::compare for the short strings of small sets, without a call to memcmp:
// eight bytes at a time, compared as big-endian integers. Returns -1, 0 or 1.
inline int CompareShortStrings(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  for (; i < n; ++i) {
    if (a[i] != b[i])
      return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]) ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

template <class T, class Compare = std::less<>>
class FlatSet {
 public:
  using value_type = T;
  using key_type = T;
  using size_type = size_t;
  using const_iterator = typename std::vector<T>::const_iterator;
  using iterator = const_iterator;  // elements are immutable: their order is the invariant

  FlatSet() = default;
  FlatSet(std::initializer_list<T> items) {
    for (const T& item : items) insert(item);
  }

  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  const T* data() const { return items_.data(); }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }
  void reserve(size_t n) { items_.reserve(n); }

  // K is T, or any type Compare orders against T (std::string_view for std::string).
  template <class K>
  const_iterator find(const K& key) const {
    auto it = LowerBound(key);
    return it != items_.end() && !compare_(key, *it) ? it : items_.end();
  }
  template <class K>
  bool contains(const K& key) const {
    return find(key) != items_.end();
  }
  template <class K>
  size_t count(const K& key) const {
    return contains(key) ? 1 : 0;
  }

  // Inserts T(key) unless an equal element is present; returns its position and whether it
  // was inserted.
  template <class K>
  std::pair<const_iterator, bool> insert(K&& key) {
    auto it = LowerBound(key);
    if (it != items_.end() && !compare_(key, *it)) return {it, false};
    return {items_.insert(it, T(std::forward<K>(key))), true};
  }
  template <class K>
  std::pair<const_iterator, bool> emplace(K&& key) {
    return insert(std::forward<K>(key));
  }

  template <class K>
  size_t erase(const K& key) {
    auto it = find(key);
    if (it == items_.end()) return 0;
    items_.erase(it);
    return 1;
  }
  const_iterator erase(const_iterator position) { return items_.erase(position); }

  bool operator==(const FlatSet& other) const { return items_ == other.items_; }

 private:
  template <class K>
  const_iterator LowerBound(const K& key) const {
    if constexpr (std::is_same_v<Compare, std::less<>> &&
                  std::is_convertible_v<const T&, std::string_view> &&
                  std::is_convertible_v<const K&, std::string_view>) {
      std::string_view k(key);
      return std::lower_bound(
          items_.begin(), items_.end(), k,
          [](const T& item, std::string_view k) { return CompareShortStrings(item, k) < 0; });
    } else {
      return std::lower_bound(items_.begin(), items_.end(), key,
                              [this](const T& item, const K& k) { return compare_(item, k); });
    }
  }

  std::vector<T> items_;
  [[no_unique_address]] Compare compare_;
};

}  // namespace statefold
