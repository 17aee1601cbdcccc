// The Redis online store (hiredis). One hash per entity, key "statefold:<namespace>:<entity
// id>", field the feature name, value "<time_ms>:<offset>:<JSON text>". A Lua script applies
// each value only when its (time_ms, offset) is >= the stored one, so writes are idempotent
// and a replay never moves a value backwards. Write pipelines a checkpoint's values in
// chunks and, while Redis is unreachable, retries (reconnecting, resending everything) until
// Redis acknowledged them all or should_stop() turns true.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "online/online_store.h"
#include "statefold/status.h"

namespace statefold {

// Where a redis:// URL points.
struct RedisAddress {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;  // empty: AUTH with the password alone
  std::string password;
};

// Parses "redis://[[user]:password@]host[:port][/db]". InvalidArgument naming what is wrong.
Status ParseRedisUrl(std::string_view url, RedisAddress* address);

// Connects lazily: opening never fails on an unreachable server. `should_stop` may be empty.
std::unique_ptr<OnlineStore> NewRedisOnlineStore(RedisAddress address,
                                                 std::function<bool()> should_stop);

}  // namespace statefold
