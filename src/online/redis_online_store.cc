// The Redis online store. See redis_online_store.h for the data model.
//
// A checkpoint's values go out as EVALSHA commands of up to kFieldsPerCommand values each,
// all appended to hiredis's output buffer first and sent in one go, then every reply is read:
// one round trip per checkpoint, not per value. The script compares (time_ms, offset) with
// the stored value server-side, so sending the same values twice (after a reconnect, or when
// a crashed run redoes its last epoch) changes nothing, and an older value never replaces a
// newer one.

#include "online/redis_online_store.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

namespace statefold {
namespace {

constexpr size_t kFieldsPerCommand = 1000;  // keeps Lua's unpack() far below its 8000 limit
constexpr timeval kConnectTimeout = {2, 0};
constexpr timeval kCommandTimeout = {5, 0};  // per socket read or write, not per checkpoint
constexpr int64_t kFirstBackoffMs = 50;
constexpr int64_t kMaxBackoffMs = 2000;

// KEYS: entity hashes. ARGV: for each key in order, a value count n, then n quadruples
// (feature, time_ms, offset, JSON). A value replaces the stored one only when its
// (time_ms, offset) is >= the stored (time_ms, offset). Lua numbers are doubles: both compare
// exactly below 2^53.
constexpr std::string_view kWriteScript = R"lua(
local a = 1
for k = 1, #KEYS do
  local key = KEYS[k]
  local n = tonumber(ARGV[a])
  local fields = {}
  for i = 1, n do fields[i] = ARGV[a + 1 + (i - 1) * 4] end
  local stored = redis.call('HMGET', key, unpack(fields))
  local set = {}
  for i = 1, n do
    local b = a + 1 + (i - 1) * 4
    local t, o = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local newer = true
    if stored[i] then
      local st, so = string.match(stored[i], '^(%-?%d+):(%d+):')
      if not st then
        return redis.error_reply('statefold: field ' .. fields[i] .. ' of ' .. key ..
                                 ' is not <time_ms>:<offset>:<json>')
      end
      st, so = tonumber(st), tonumber(so)
      newer = t > st or (t == st and o >= so)
    end
    if newer then
      set[#set + 1] = fields[i]
      set[#set + 1] = ARGV[b + 1] .. ':' .. ARGV[b + 2] .. ':' .. ARGV[b + 3]
    end
  end
  if #set > 0 then redis.call('HSET', key, unpack(set)) end
  a = a + 1 + n * 4
end
)lua";

// Error replies that a later attempt may not get: the server is starting, busy, failing over
// or full. Anything else (a wrong password, a key of another type) is the operator's to fix.
bool IsTransientReply(std::string_view error) {
  for (std::string_view code : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
                                "READONLY", "OOM", "NOSCRIPT"}) {
    if (error.starts_with(code) && (error.size() == code.size() || error[code.size()] == ' ')) {
      return true;
    }
  }
  return false;
}

bool ParseInt(std::string_view text, int64_t* value) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

// Decodes %XX escapes, for passwords with reserved characters.
bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    unsigned value;
    if (i + 2 >= in.size()) return false;
    auto [end, error] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
    if (error != std::errc() || end != in.data() + i + 3) return false;
    out->push_back(static_cast<char>(value));
    i += 2;
  }
  return true;
}

// Keeps SIGPIPE (raised by a write to a connection that Redis has closed) from ending the
// process, which is its default action: blocks it in this thread for the guard's scope and
// discards one raised meanwhile. hiredis then sees EPIPE, a connection error like any other.
// (Python ignores SIGPIPE already; a C++ host may not.)
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_mask_);
  }
  ~SigpipeGuard() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      timespec no_wait = {0, 0};
      sigtimedwait(&pipe_, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_mask_;
  bool was_pending_;
};

// An owned redisReply.
struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

class RedisOnlineStore : public OnlineStore {
 public:
  RedisOnlineStore(RedisAddress address, std::function<bool()> should_stop)
      : address_(std::move(address)), should_stop_(std::move(should_stop)) {
    where_ =
        address_.host.find(':') == std::string::npos ? address_.host : "[" + address_.host + "]";
    where_ += ":" + std::to_string(address_.port);
    if (address_.db != 0) where_ += "/" + std::to_string(address_.db);
  }
  ~RedisOnlineStore() override { Disconnect(); }

  Status Write(std::span<const FeatureValue> writes, CheckpointBatch*) override {
    if (writes.empty()) return Status::Ok();
    BuildCommands(writes);
    auto outage_started = std::chrono::steady_clock::now();
    bool reported = false;
    bool retried_at_once = false;
    int64_t backoff_ms = kFirstBackoffMs;
    for (;;) {
      bool transient = false;
      Status status = SendCommands(&transient);
      if (status.ok()) {
        if (reported) {
          double seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - outage_started)
                  .count();
          std::fprintf(stderr, "statefold: redis: %s is back after %.1f s\n", where_.c_str(),
                       seconds);
        }
        return Status::Ok();
      }
      if (!transient) return status.WithContext("Redis online store");
      // A connection the server closed while idle, or a flushed script cache: try again at
      // once before calling it an outage.
      if (!retried_at_once) {
        retried_at_once = true;
        continue;
      }
      if (!reported) {
        std::fprintf(stderr, "statefold: redis: %s (retrying)\n", status.message().c_str());
        outage_started = std::chrono::steady_clock::now();
        reported = true;
      }
      if (!SleepUnlessStopped(backoff_ms)) {
        return Status::Aborted("stopped while the Redis online store was unreachable (" +
                               status.message() +
                               "): the last checkpoint was not committed; the next run redoes "
                               "it");
      }
      backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
    }
  }

  Status ReadEntity(std::string_view ns, std::string_view entity_id,
                    std::vector<StoredFeature>* features) override {
    features->clear();
    std::string key = "statefold:";
    key.append(ns).push_back(':');
    key.append(entity_id);
    Reply reply;
    for (int attempt = 0;; ++attempt) {
      bool had_connection = context_ != nullptr;
      bool transient = false;
      Status status = Call({"HGETALL", key}, &reply, &transient);
      if (status.ok()) break;
      // Once more on a new connection if the old one had been closed meanwhile.
      if (!(transient && had_connection && attempt == 0)) {
        return status.WithContext("Redis online store");
      }
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) {
      return Status::Corruption("HGETALL " + key + " did not return field-value pairs");
    }
    for (size_t i = 0; i < reply->elements; i += 2) {
      StoredFeature f;
      f.feature.assign(reply->element[i]->str, reply->element[i]->len);
      std::string_view value(reply->element[i + 1]->str, reply->element[i + 1]->len);
      size_t time_end = value.find(':');
      size_t offset_end =
          time_end == std::string_view::npos ? time_end : value.find(':', time_end + 1);
      if (offset_end == std::string_view::npos ||
          !ParseInt(value.substr(0, time_end), &f.time_ms) ||
          !ParseInt(value.substr(time_end + 1, offset_end - time_end - 1), &f.offset)) {
        features->clear();
        return Status::Corruption("field " + f.feature + " of " + key +
                                  " is not <time_ms>:<offset>:<json>");
      }
      f.value_json.assign(value.substr(offset_end + 1));
      features->push_back(std::move(f));
    }
    std::sort(features->begin(), features->end(),
              [](const StoredFeature& a, const StoredFeature& b) { return a.feature < b.feature; });
    return Status::Ok();
  }

 private:
  // One argument of a pipelined command: `external` bytes (a view into the caller's writes),
  // or bytes at `begin` in arena_.
  struct Argument {
    const char* external;
    size_t begin;
    size_t size;
  };

  void AddOwned(std::string_view bytes) {
    arguments_.push_back(Argument{nullptr, arena_.size(), bytes.size()});
    arena_.append(bytes);
  }
  void AddOwned(int64_t number) {
    char buffer[24];
    AddOwned(std::string_view(buffer, std::to_chars(buffer, buffer + sizeof buffer, number).ptr));
  }
  void AddExternal(std::string_view bytes) {
    arguments_.push_back(Argument{bytes.data(), 0, bytes.size()});
  }

  // EVALSHA commands for `writes`: each holds up to kFieldsPerCommand values, with one key per
  // run of values of one entity (an entity with more values spans several commands).
  void BuildCommands(std::span<const FeatureValue> writes) {
    arena_.clear();
    arguments_.clear();
    commands_.clear();
    std::vector<std::pair<size_t, size_t>> groups;  // [begin, end) of one entity in `writes`
    for (size_t begin = 0; begin < writes.size();) {
      groups.clear();
      size_t end = begin;
      size_t limit = std::min(writes.size(), begin + kFieldsPerCommand);
      while (end < limit) {
        size_t group_end = end + 1;
        while (group_end < limit && writes[group_end].ns == writes[end].ns &&
               writes[group_end].entity_id == writes[end].entity_id) {
          ++group_end;
        }
        groups.emplace_back(end, group_end);
        end = group_end;
      }
      size_t first = arguments_.size();
      AddOwned("EVALSHA");
      AddOwned("");  // the script's SHA1, filled in when sending
      AddOwned(static_cast<int64_t>(groups.size()));
      for (const auto& [group_begin, group_end] : groups) {
        size_t key = arena_.size();
        arena_.append("statefold:").append(writes[group_begin].ns).push_back(':');
        arena_.append(writes[group_begin].entity_id);
        arguments_.push_back(Argument{nullptr, key, arena_.size() - key});
      }
      for (const auto& [group_begin, group_end] : groups) {
        AddOwned(static_cast<int64_t>(group_end - group_begin));
        for (size_t i = group_begin; i < group_end; ++i) {
          AddExternal(writes[i].feature);
          AddOwned(writes[i].time_ms);
          AddOwned(writes[i].offset);
          AddExternal(writes[i].value_json);
        }
      }
      commands_.emplace_back(first, arguments_.size() - first);
      begin = end;
    }
  }

  // Sends every command of BuildCommands in one pipeline and reads every reply. Sets
  // *transient when trying again may succeed.
  Status SendCommands(bool* transient) {
    SigpipeGuard sigpipe_guard;
    if (context_ == nullptr) STATEFOLD_RETURN_IF_ERROR(Connect(transient));
    if (!script_loaded_) STATEFOLD_RETURN_IF_ERROR(LoadScript(transient));
    argv_.resize(arguments_.size());
    argv_sizes_.resize(arguments_.size());
    for (size_t i = 0; i < arguments_.size(); ++i) {
      const Argument& a = arguments_[i];
      argv_[i] = a.external != nullptr ? a.external : arena_.data() + a.begin;
      argv_sizes_[i] = a.size;
    }
    for (const auto& [first, count] : commands_) {
      argv_[first + 1] = script_sha_.data();
      argv_sizes_[first + 1] = script_sha_.size();
      if (redisAppendCommandArgv(context_, static_cast<int>(count), argv_.data() + first,
                                 argv_sizes_.data() + first) != REDIS_OK) {
        return ConnectionError(transient);
      }
    }
    // Every reply is read, even after an error reply, so that the connection stays in step.
    Status first_error;
    for (size_t i = 0; i < commands_.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(context_, &raw) != REDIS_OK) return ConnectionError(transient);
      Reply reply(static_cast<redisReply*>(raw));
      if (reply->type != REDIS_REPLY_ERROR || !first_error.ok()) continue;
      std::string_view error(reply->str, reply->len);
      *transient = IsTransientReply(error);
      if (error.starts_with("NOSCRIPT")) script_loaded_ = false;  // e.g. SCRIPT FLUSH
      first_error = Status::IOError(where_ + ": " + std::string(error));
    }
    return first_error;
  }

  Status Connect(bool* transient) {
    context_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, kConnectTimeout);
    if (context_ == nullptr || context_->err != 0) return ConnectionError(transient);
    redisSetTimeout(context_, kCommandTimeout);
    redisEnableKeepAlive(context_);
    script_loaded_ = false;
    Reply reply;
    Status status;
    if (!address_.password.empty()) {
      status = address_.user.empty()
                   ? Call({"AUTH", address_.password}, &reply, transient)
                   : Call({"AUTH", address_.user, address_.password}, &reply, transient);
    }
    if (status.ok() && address_.db != 0) {
      status = Call({"SELECT", std::to_string(address_.db)}, &reply, transient);
    }
    if (!status.ok()) Disconnect();  // the next attempt starts with a new connection
    return status;
  }

  Status LoadScript(bool* transient) {
    Reply reply;
    STATEFOLD_RETURN_IF_ERROR(Call({"SCRIPT", "LOAD", kWriteScript}, &reply, transient));
    if (reply->type != REDIS_REPLY_STRING) {
      return Status::IOError(where_ + ": SCRIPT LOAD returned no SHA1");
    }
    script_sha_.assign(reply->str, reply->len);
    script_loaded_ = true;
    return Status::Ok();
  }

  // Runs one command (connecting first if needed). An error reply is an IOError.
  Status Call(std::initializer_list<std::string_view> args, Reply* reply, bool* transient) {
    SigpipeGuard sigpipe_guard;
    if (context_ == nullptr) STATEFOLD_RETURN_IF_ERROR(Connect(transient));
    std::vector<const char*> argv;
    std::vector<size_t> sizes;
    for (std::string_view arg : args) {
      argv.push_back(arg.data());
      sizes.push_back(arg.size());
    }
    reply->reset(static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), sizes.data())));
    if (*reply == nullptr) return ConnectionError(transient);
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      std::string_view error((*reply)->str, (*reply)->len);
      *transient = IsTransientReply(error);
      return Status::IOError(where_ + ": " + std::string(error));
    }
    return Status::Ok();
  }

  // The context's connection failed: drops it (hiredis cannot reuse it) and describes why.
  Status ConnectionError(bool* transient) {
    std::string reason = context_ == nullptr ? "cannot allocate a connection" : context_->errstr;
    if (reason.empty()) reason = "connection lost";
    Disconnect();
    *transient = true;
    return Status::IOError(where_ + ": " + reason);
  }

  void Disconnect() {
    if (context_ != nullptr) redisFree(context_);
    context_ = nullptr;
    script_loaded_ = false;
  }

  // Sleeps `ms`, polling should_stop every 50 ms. False when it asked to stop.
  bool SleepUnlessStopped(int64_t ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      if (should_stop_ && should_stop_()) return false;
      auto now = std::chrono::steady_clock::now();
      if (now >= until) return true;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          until - now, std::chrono::milliseconds(kFirstBackoffMs)));
    }
  }

  RedisAddress address_;
  std::function<bool()> should_stop_;
  std::string where_;  // host:port[/db], for messages (never the password)
  redisContext* context_ = nullptr;
  bool script_loaded_ = false;
  std::string script_sha_;

  // The commands of the current Write, reused across checkpoints.
  std::string arena_;
  std::vector<Argument> arguments_;
  std::vector<std::pair<size_t, size_t>> commands_;  // [first argument, count]
  std::vector<const char*> argv_;
  std::vector<size_t> argv_sizes_;
};

}  // namespace

Status ParseRedisUrl(std::string_view url, RedisAddress* address) {
  *address = RedisAddress();
  auto invalid = [](const std::string& what) {
    return Status::InvalidArgument("redis URL: " + what +
                                   " (expected redis://[[user]:password@]host[:port][/db])");
  };
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return invalid("it does not start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return invalid("query parameters are not supported");
  }
  size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view user_info = rest.substr(0, at);
    size_t colon = user_info.find(':');
    if (colon == std::string_view::npos) return invalid("the part before @ needs a :password");
    if (!PercentDecode(user_info.substr(0, colon), &address->user) ||
        !PercentDecode(user_info.substr(colon + 1), &address->password)) {
      return invalid("bad %-escape before @");
    }
    rest = rest.substr(at + 1);
  }
  size_t slash = rest.find('/');
  std::string_view host_port = rest.substr(0, slash);
  if (slash != std::string_view::npos && slash + 1 < rest.size()) {
    int64_t db;
    if (!ParseInt(rest.substr(slash + 1), &db) || db < 0 || db > INT32_MAX) {
      return invalid("the database '" + std::string(rest.substr(slash + 1)) + "' is not a number");
    }
    address->db = static_cast<int>(db);
  }
  std::string_view port;
  if (host_port.starts_with('[')) {  // [IPv6 address]
    size_t close = host_port.find(']');
    if (close == std::string_view::npos) return invalid("unclosed [");
    address->host.assign(host_port.substr(1, close - 1));
    std::string_view after = host_port.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return invalid("junk after ]");
    if (!after.empty()) port = after.substr(1);
  } else {
    size_t colon = host_port.rfind(':');
    address->host.assign(host_port.substr(0, colon));
    if (colon != std::string_view::npos) port = host_port.substr(colon + 1);
  }
  if (address->host.empty()) return invalid("no host");
  if (!port.empty() || host_port.ends_with(':')) {
    int64_t number;
    if (!ParseInt(port, &number) || number < 1 || number > 65535) {
      return invalid("the port '" + std::string(port) + "' is not a number from 1 to 65535");
    }
    address->port = static_cast<int>(number);
  }
  return Status::Ok();
}

std::unique_ptr<OnlineStore> NewRedisOnlineStore(RedisAddress address,
                                                 std::function<bool()> should_stop) {
  return std::make_unique<RedisOnlineStore>(std::move(address), std::move(should_stop));
}

}  // namespace statefold
