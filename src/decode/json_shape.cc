// Learning a JsonShape (see decode/json_shape.h).

#include "decode/json_shape.h"

#include <atomic>

namespace statefold::small_json {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::atomic<uint64_t> last_shape_id{0};

}  // namespace

bool JsonShape::Learn(std::string_view text) {
  literal_.clear();
  slots_.clear();
  members_.clear();
  tail_begin_ = tail_size_ = 0;
  is_object_ = false;
  id_ = ++last_shape_id;
  {
    Scanner check(text);  // the walk below relies on the text being strict JSON
    if (!check.SkipValue() || !check.AtEnd()) return false;
  }
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  int depth = 0;
  Member* member = nullptr;           // the top-level object's member whose value is being read
  Member* child = nullptr;            // the member of `member`'s object value being read
  const char* literal_start = begin;  // of the literal run being read
  const char* last_slot_end = begin;  // where Position{slots_.size() - 1, 0} is
  auto here = [&](const char* at) {
    return Position{static_cast<int32_t>(slots_.size()) - 1,
                    static_cast<uint32_t>(at - last_slot_end)};
  };
  // Records that the scalar value at the cursor (the next slot) is a member's value.
  auto set_slot_of_value = [&] {
    const int32_t slot = static_cast<int32_t>(slots_.size());
    if (depth == 1 && is_object_) member->slot = slot;
    if (depth == 2 && is_object_ && member->is_object) child->slot = slot;
  };
  auto add_slot = [&](Kind kind, const char* value_begin, const char* value_end) {
    if (slots_.size() == kMaxSlots) return false;
    slots_.push_back({kind, static_cast<uint32_t>(literal_.size()),
                      static_cast<uint32_t>(value_begin - literal_start)});
    literal_.append(literal_start, value_begin);
    literal_start = last_slot_end = value_end;
    return true;
  };
  const char* p = begin;
  while (p < end && IsSpace(*p)) ++p;
  is_object_ = p < end && *p == '{';
  while (p < end) {
    const char c = *p;
    if (c == '"') {
      const char* close = FindSpecial(p + 1, end);
      if (close == end || *close != '"') return false;  // escapes, controls or non-ASCII
      const char* after = close + 1;
      while (after < end && IsSpace(*after)) ++after;
      if (after < end && *after == ':') {  // a member name: literal bytes
        std::string_view name(p + 1, static_cast<size_t>(close - p - 1));
        if (depth == 1 && is_object_) {
          if (FindMember(name) != nullptr) return false;
          member = &members_.emplace_back();
          member->name = name;
        } else if (depth == 2 && is_object_ && member->is_object) {
          if (Find(member->members, name) != nullptr) member->repeats_names = true;
          child = &member->members.emplace_back();
          child->name = name;
        }
      } else {
        set_slot_of_value();
        if (!add_slot(Kind::kString, p + 1, close)) return false;
      }
      p = close + 1;
    } else if (c == '-' || IsDigit(c)) {
      const char* number_end = ScanNumber(p, end);
      set_slot_of_value();
      if (!add_slot(Kind::kNumber, p, number_end)) return false;
      p = number_end;
    } else if (c == 't' || c == 'f' || c == 'n') {
      const char* literal_end = p + (c == 'f' ? 5 : 4);
      set_slot_of_value();
      if (!add_slot(Kind::kLiteral, p, literal_end)) return false;
      p = literal_end;
    } else if (c == '{' || c == '[') {
      if (depth == 1 && is_object_) {
        member->begin = here(p);
        member->is_object = c == '{';
      }
      ++depth;
      ++p;
    } else if (c == '}' || c == ']') {
      --depth;
      ++p;
      if (depth == 1 && is_object_) {
        const char* after = p;
        while (after < end && IsSpace(*after)) ++after;
        member->end = here(after);
      }
    } else {
      ++p;  // whitespace, ':' or ','
    }
  }
  tail_begin_ = static_cast<uint32_t>(literal_.size());
  tail_size_ = static_cast<uint32_t>(end - literal_start);
  literal_.append(literal_start, end);
  literal_.append(16, '\0');  // for Match<true>
  return true;
}

const JsonShape::Member* JsonShape::Find(const std::vector<Member>& members,
                                         std::string_view name) {
  for (const Member& member : members) {
    if (member.name == name) return &member;
  }
  return nullptr;
}

}  // namespace statefold::small_json
