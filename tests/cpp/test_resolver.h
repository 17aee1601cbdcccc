// The resolver of the engine tests, written with the native API (statefold/native.h): it
// counts unique "ip" values per key, like the reference's example, with the state schema
// record{unique_ips: set[str]}. A message whose ip is "fail" mutates the state and then
// throws, and one whose ip is not a string does not decode, so tests can check rollback and
// dead letters.
#pragma once

#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "statefold/native.h"

namespace statefold::testing {

struct TestLogin {
  std::optional<std::string> user_id;
  std::string ip;
};
STATEFOLD_STRUCT(TestLogin, user_id, ip)

struct LoginState {
  std::set<std::string> unique_ips;
};
STATEFOLD_STRUCT(LoginState, unique_ips)

struct User {
  Feature<std::string> id;
  Feature<int64_t> unique_ip_count;
};
STATEFOLD_STRUCT(User, id, unique_ip_count)

class UniqueIpResolver {
 public:
  // Reads source "logins"; `keys` is a dotted message field to key the state by.
  explicit UniqueIpResolver(std::string name = "unique_ips", std::string keys = "") {
    auto& resolver = registry_.AddStream(
        std::move(name), "logins",
        [this](const TestLogin& login, State<LoginState>& state) -> std::optional<User> {
          ++calls;
          state->unique_ips.insert(login.ip);
          if (login.ip == "fail") throw std::runtime_error("failed on purpose");
          if (!login.user_id) return std::nullopt;
          return User{.id = *login.user_id, .unique_ip_count = state->unique_ips.size()};
        });
    if (!keys.empty()) resolver.Keys(keys);
  }

  Resolver* get() const { return registry_.resolvers().front(); }

  size_t calls = 0;

 private:
  NativeRegistry registry_;
};

}  // namespace statefold::testing
