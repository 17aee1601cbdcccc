// Event types of the event decoder's tests and its fuzz target (fuzz/event_decoder_fuzz.cc):
// every kind of field a STATEFOLD_STRUCT layout holds, flat and nested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "statefold/native.h"

namespace statefold::testing_events {

struct Login {
  std::string_view user_id;
  std::string ip_address;
  int64_t count = 0;
  int32_t small = 0;
  uint8_t tiny = 0;
  uint64_t unsigned_big = 0;
  bool admin = false;
  std::optional<int64_t> score;
  std::optional<std::string> note;
  std::optional<bool> flag;
  bool operator==(const Login&) const = default;
};
STATEFOLD_STRUCT(Login, user_id, ip_address, count, small, tiny, unsigned_big, admin, score, note,
                 flag)

struct WithDouble {
  std::string id;
  double ratio = 0;
  bool operator==(const WithDouble&) const = default;
};
STATEFOLD_STRUCT(WithDouble, id, ratio)

struct Item {
  std::string name;
  std::optional<float> weight;
  std::vector<int16_t> codes;
  bool operator==(const Item&) const = default;
};
STATEFOLD_STRUCT(Item, name, weight, codes)

struct Order {
  WithDouble customer;
  std::vector<Item> items;
  std::optional<std::vector<std::string>> tags;
  std::vector<std::vector<int64_t>> grid;
  std::optional<WithDouble> referrer;
  bool operator==(const Order&) const = default;
};
STATEFOLD_STRUCT(Order, customer, items, tags, grid, referrer)

}  // namespace statefold::testing_events
