// The native benchmark: the login example as a native resolver on the engine (file source,
// durable RocksDB state), against the in-process ceiling: a bare loop that reads the same
// file, parses each record and updates an in-memory hash map, with no engine at all.
//
//   native_bench --input logins.jsonl --state-dir DIR [--only engine|bare]
//
// Prints one line per measurement: name, messages, seconds, messages/s.

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "../examples/login_native/login.h"
#include "statefold/engine.h"
#include "statefold/source.h"
#include "util/string_hash.h"  // the bare loop's map; not part of the installed API

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

void Report(const char* name, uint64_t messages, double seconds) {
  std::printf("%s %llu %.3f %.0f\n", name, static_cast<unsigned long long>(messages), seconds,
              messages / seconds);
  std::fflush(stdout);
}

// Reads the file in 1 MiB blocks, parses each line's key and value fields with simdjson
// On-Demand and keeps each key's set of IP addresses in a hash map.
int BareLoop(const std::string& path) {
  auto started = std::chrono::steady_clock::now();
  std::unordered_map<std::string, login::LoginState, statefold::StringHash, std::equal_to<>> states;
  simdjson::ondemand::parser parser;
  std::ifstream in(path, std::ios::binary);
  std::string buffer(1 << 20, '\0');
  size_t filled = 0;
  uint64_t messages = 0, outputs = 0;
  for (;;) {
    in.read(buffer.data() + filled, static_cast<std::streamsize>(buffer.size() - filled - 64));
    size_t got = static_cast<size_t>(in.gcount());
    filled += got;
    size_t begin = 0;
    for (;;) {
      const char* newline =
          static_cast<const char*>(std::memchr(buffer.data() + begin, '\n', filled - begin));
      if (newline == nullptr) break;
      size_t end = static_cast<size_t>(newline - buffer.data());
      simdjson::ondemand::document doc;
      std::string_view key, ip;
      if (!parser.iterate(buffer.data() + begin, end - begin, buffer.size() - begin).get(doc)) {
        simdjson::ondemand::object record;
        if (!doc.get_object().get(record) && !record["key"].get_string().get(key)) {
          std::string key_copy(key);  // the next string read reuses simdjson's buffer
          simdjson::ondemand::object value;
          if (!record["value"].get_object().get(value) &&
              !value["ip_address"].get_string().get(ip)) {
            auto it = states.find(std::string_view(key_copy));
            if (it == states.end()) it = states.emplace(key_copy, login::LoginState()).first;
            auto& ips = it->second.unique_ips;
            ips.insert(ip);  // as login::TrackUniqueIps does
            outputs += !ips.empty();
          }
        }
      }
      ++messages;
      begin = end + 1;
    }
    std::memmove(buffer.data(), buffer.data() + begin, filled - begin);
    filled -= begin;
    if (got == 0) break;
  }
  Report("bare_loop", messages, Seconds(started));
  return outputs == messages ? 0 : 1;
}

int Engine(const std::string& path, const std::string& state_dir) {
  std::filesystem::remove_all(state_dir);
  statefold::NativeRegistry registry;
  login::Register(registry, "logins");
  statefold::EngineOptions options;
  options.state_dir = state_dir;
  // Overrides for profiling runs (valgrind is slow enough to trip the time trigger).
  if (const char* every = std::getenv("CHECKPOINT_EVERY")) {
    options.checkpoint_every_messages = std::stoull(every);
  }
  if (const char* ms = std::getenv("CHECKPOINT_MS")) options.checkpoint_every_ms = std::stoll(ms);
  if (const char* batch = std::getenv("BATCH_SIZE")) options.batch_size = std::stoull(batch);
  std::unique_ptr<statefold::Engine> engine;
  std::unique_ptr<statefold::Source> source;
  statefold::Status status = statefold::Engine::Open(options, &engine);
  if (status.ok()) status = statefold::OpenFileSource("logins", path, &source);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  engine->AddSource(std::move(source));
  for (statefold::Resolver* resolver : registry.resolvers()) engine->AddResolver(resolver);
  statefold::RunStats stats;
  status = engine->Run(&stats);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  Report("native_engine", stats.messages, stats.seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string input, state_dir = "native-bench-state", only;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--input") input = argv[i + 1];
    if (flag == "--state-dir") state_dir = argv[i + 1];
    if (flag == "--only") only = argv[i + 1];
  }
  if (input.empty()) {
    std::fprintf(stderr,
                 "usage: native_bench --input FILE [--state-dir DIR] [--only engine|bare]\n");
    return 2;
  }
  int rc = 0;
  if (only.empty() || only == "bare") rc |= BareLoop(input);
  if (only.empty() || only == "engine") rc |= Engine(input, state_dir);
  return rc;
}
