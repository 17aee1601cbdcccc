// StringHash: a transparent hash for std::string keys, so that unordered containers keyed by
// std::string (with std::equal_to<>) look up std::string_view without making a std::string.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace statefold {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace statefold
