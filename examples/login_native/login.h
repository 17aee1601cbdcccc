// The complete example of Chalk's stateful-streams reference (examples/login/defs.py) as a
// native C++ resolver: the number of distinct IP addresses each user logged in from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "statefold/flat_set.h"
#include "statefold/native.h"

namespace login {

struct LoginEvent {
  std::string_view user_id;  // views into the message: valid for the call, no copies
  std::string_view ip_address;
};
STATEFOLD_STRUCT(LoginEvent, user_id, ip_address)

struct User {
  statefold::Feature<std::string> id;
  statefold::Feature<int64_t> unique_ip_count;
};
STATEFOLD_STRUCT(User, id, unique_ip_count)

struct LoginState {
  // A sorted vector: a lookup searches one buffer, and takes a string_view without making a
  // string. Stored as a set, as Python's set[str] is.
  statefold::FlatSet<std::string> unique_ips;
};
STATEFOLD_STRUCT(LoginState, unique_ips)

inline User TrackUniqueIps(const LoginEvent& event, statefold::State<LoginState>& state) {
  state->unique_ips.insert(event.ip_address);  // makes a string only for a new address
  return {.id = event.user_id, .unique_ip_count = state->unique_ips.size()};
}

// The Python example's resolver is named after its function, and reads the source "...".
inline void Register(statefold::NativeRegistry& registry, std::string source = "...") {
  registry.AddStream("track_unique_ips", std::move(source), TrackUniqueIps);
}

}  // namespace login
