// The Redis online store against a real redis-server (Debian's /usr/bin/redis-server, started
// per test on a free 127.0.0.1 port with its own directory, killed by PID in TearDown).

#include "online/redis_online_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "inspect/state_inspector.h"
#include "source/file_source.h"
#include "statefold/engine.h"
#include "test_resolver.h"

namespace statefold {
namespace {

TEST(RedisUrlTest, ParsesEveryPart) {
  RedisAddress a;
  ASSERT_TRUE(ParseRedisUrl("redis://127.0.0.1:6380/3", &a).ok());
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 3);
  EXPECT_EQ(a.password, "");
  ASSERT_TRUE(ParseRedisUrl("redis://cache.internal", &a).ok());
  EXPECT_EQ(a.host, "cache.internal");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.db, 0);
  ASSERT_TRUE(ParseRedisUrl("redis://:p%40ss:w@h:1/", &a).ok());
  EXPECT_EQ(a.user, "");
  EXPECT_EQ(a.password, "p@ss:w");
  EXPECT_EQ(a.host, "h");
  EXPECT_EQ(a.port, 1);
  ASSERT_TRUE(ParseRedisUrl("redis://reader:secret@[::1]:7000/2", &a).ok());
  EXPECT_EQ(a.user, "reader");
  EXPECT_EQ(a.password, "secret");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 7000);
  EXPECT_EQ(a.db, 2);
}

TEST(RedisUrlTest, RejectsMalformedUrlsWithoutShowingThePassword) {
  for (const char* url : {"http://h", "redis://", "redis://h:0", "redis://h:65536", "redis://h:x",
                          "redis://h:", "redis://h/db", "redis://h?timeout=1", "redis://secret@h",
                          "redis://:a%4@h", "redis://[::1", "redis://[::1]x"}) {
    RedisAddress a;
    Status status = ParseRedisUrl(url, &a);
    EXPECT_TRUE(status.IsInvalidArgument()) << url;
    EXPECT_EQ(status.message().find("secret"), std::string::npos) << status.message();
  }
  std::unique_ptr<OnlineStore> store;
  EXPECT_TRUE(OpenOnlineStore({"memcached://h", nullptr}, nullptr, &store).IsInvalidArgument());
  EXPECT_TRUE(OpenOnlineStore({"embedded", nullptr}, nullptr, &store).IsInvalidArgument());
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

class RedisOnlineStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statefold-redis-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "redis");
    port_ = FreePort();
    ASSERT_NO_FATAL_FAILURE(StartRedis());
    url_ = "redis://127.0.0.1:" + std::to_string(port_) + "/0";
  }

  void TearDown() override {
    if (redis_pid_ > 0) KillRedis();
    std::filesystem::remove_all(dir_);
  }

  // Starts redis-server (again: same port and directory) and waits until it answers PING.
  void StartRedis() {
    std::string dir = (dir_ / "redis").string();
    std::string port = std::to_string(port_);
    std::string log = dir + "/redis.log";
    redis_pid_ = fork();
    ASSERT_GE(redis_pid_, 0);
    if (redis_pid_ == 0) {
      const char* argv[] = {"/usr/bin/redis-server",
                            "--port",
                            port.c_str(),
                            "--bind",
                            "127.0.0.1",
                            "--dir",
                            dir.c_str(),
                            "--appendonly",
                            "yes",
                            "--appendfsync",
                            "always",
                            "--save",
                            "",
                            "--daemonize",
                            "no",
                            "--logfile",
                            log.c_str(),
                            nullptr};
      execv(argv[0], const_cast<char* const*>(argv));
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status;
      if (waitpid(redis_pid_, &status, WNOHANG) == redis_pid_) {
        redis_pid_ = -1;
        FAIL() << "/usr/bin/redis-server exited at start-up (status " << status
               << "): " << ReadFile(log);
      }
      if (Command({"PING"}) == "PONG") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "redis-server did not answer PING within 20 s: " << ReadFile(log);
  }

  void KillRedis() {
    kill(redis_pid_, SIGKILL);
    waitpid(redis_pid_, nullptr, 0);
    redis_pid_ = -1;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Runs one command on a new connection: the reply as text ("ERR: ..." for errors, "" when
  // unreachable), arrays joined by '|'.
  std::string Command(std::vector<std::string> args) {
    redisContext* context = redisConnect("127.0.0.1", port_);
    if (context == nullptr || context->err != 0) {
      if (context != nullptr) redisFree(context);
      return "";
    }
    std::vector<const char*> argv;
    std::vector<size_t> sizes;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      sizes.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context, static_cast<int>(args.size()), argv.data(), sizes.data()));
    std::string text;
    if (reply != nullptr) {
      if (reply->type == REDIS_REPLY_ERROR) text = "ERR: ";
      if (reply->type == REDIS_REPLY_INTEGER) text = std::to_string(reply->integer);
      if (reply->str != nullptr) text.append(reply->str, reply->len);
      for (size_t i = 0; i < reply->elements; ++i) {
        if (i > 0) text += "|";
        text.append(reply->element[i]->str, reply->element[i]->len);
      }
      freeReplyObject(reply);
    }
    redisFree(context);
    return text;
  }

  std::unique_ptr<OnlineStore> Open(std::function<bool()> should_stop = nullptr) {
    std::unique_ptr<OnlineStore> store;
    Status status = OpenOnlineStore({url_, std::move(should_stop)}, nullptr, &store);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return store;
  }

  static FeatureValue Value(std::string_view entity, std::string_view feature,
                            std::string_view json, int64_t time_ms, int64_t offset) {
    FeatureValue w;
    w.ns = "user";
    w.entity_id = entity;
    w.feature = feature;
    w.value_json = json;
    w.time_ms = time_ms;
    w.offset = offset;
    return w;
  }

  // "feature=json@time_ms/offset" per feature, joined by ' '.
  static std::string Read(OnlineStore* store, std::string_view entity) {
    std::vector<StoredFeature> features;
    Status status = store->ReadEntity("user", entity, &features);
    if (!status.ok()) return status.ToString();
    std::string text;
    for (const StoredFeature& f : features) {
      if (!text.empty()) text += " ";
      text += f.feature + "=" + f.value_json + "@" + std::to_string(f.time_ms) + "/" +
              std::to_string(f.offset);
    }
    return text;
  }

  std::filesystem::path dir_;
  int port_ = 0;
  pid_t redis_pid_ = -1;
  std::string url_;
};

TEST_F(RedisOnlineStoreTest, WritesAndReadsEntities) {
  auto store = Open();
  std::vector<FeatureValue> writes = {Value("u1", "id", "\"u1\"", 5, 0),
                                      Value("u1", "unique_ip_count", "2", 5, 0),
                                      Value("u:2", "id", "\"u:2\"", -7, 9)};
  ASSERT_TRUE(store->Write(writes, nullptr).ok());
  EXPECT_EQ(Read(store.get(), "u1"), "id=\"u1\"@5/0 unique_ip_count=2@5/0");
  EXPECT_EQ(Read(store.get(), "u:2"), "id=\"u:2\"@-7/9");
  EXPECT_EQ(Read(store.get(), "nobody"), "");
  EXPECT_EQ(Command({"HGET", "statefold:user:u1", "unique_ip_count"}), "5:0:2");
}

TEST_F(RedisOnlineStoreTest, ManyValuesGoOutInSeveralPipelinedCommands) {
  // 3000 entities of two features, and one entity with 2500 features: several commands of
  // kFieldsPerCommand values, with entities split across them.
  std::vector<std::string> names;
  for (int i = 0; i < 3000; ++i) names.push_back("e" + std::to_string(i));
  std::vector<std::string> features;
  for (int i = 0; i < 2500; ++i) features.push_back("f" + std::to_string(10000 + i));
  std::vector<FeatureValue> writes;
  for (const std::string& f : features) writes.push_back(Value("big", f, "1", 1, 1));
  for (const std::string& n : names) {
    writes.push_back(Value(n, "a", "\"x\"", 3, 4));
    writes.push_back(Value(n, "b", "[1,2]", 3, 4));
  }
  std::sort(writes.begin(), writes.end(), [](const FeatureValue& a, const FeatureValue& b) {
    return std::tie(a.entity_id, a.feature) < std::tie(b.entity_id, b.feature);
  });
  auto store = Open();
  ASSERT_TRUE(store->Write(writes, nullptr).ok());
  EXPECT_EQ(Command({"DBSIZE"}), "3001");
  EXPECT_EQ(Command({"HLEN", "statefold:user:big"}), "2500");
  EXPECT_EQ(Read(store.get(), "e2999"), "a=\"x\"@3/4 b=[1,2]@3/4");
  std::string stats = Command({"INFO", "commandstats"});
  size_t calls = stats.find("cmdstat_evalsha:calls=");
  ASSERT_NE(calls, std::string::npos) << stats;
  EXPECT_EQ(std::stoi(stats.substr(calls + 22)), 9);  // 8500 values, 1000 per command
}

TEST_F(RedisOnlineStoreTest, ConditionalWriteNeverMovesAValueBackwards) {
  auto store = Open();
  ASSERT_TRUE(
      store
          ->Write(std::vector{Value("u1", "a", "1", 100, 10), Value("u1", "b", "1", 100, 10),
                              Value("u1", "c", "1", 100, 10), Value("u1", "d", "1", 100, 10),
                              Value("u1", "e", "1", 100, 10)},
                  nullptr)
          .ok());
  // Older time (whatever the offset), same time and older offset: kept. Same (time, offset):
  // rewritten. Newer offset at the same time, newer time at an older offset: replaced.
  ASSERT_TRUE(
      store
          ->Write(std::vector{Value("u1", "a", "2", 99, 50), Value("u1", "b", "2", 100, 9),
                              Value("u1", "c", "2", 100, 10), Value("u1", "d", "2", 100, 11),
                              Value("u1", "e", "2", 101, 0)},
                  nullptr)
          .ok());
  EXPECT_EQ(Read(store.get(), "u1"), "a=1@100/10 b=1@100/10 c=2@100/10 d=2@100/11 e=2@101/0");
  // Exact below 2^53 (Lua numbers are doubles): 2^53 - 1 beats 2^53 - 2.
  ASSERT_TRUE(
      store->Write(std::vector{Value("u2", "a", "1", 9007199254740991, 9007199254740990)}, nullptr)
          .ok());
  ASSERT_TRUE(
      store->Write(std::vector{Value("u2", "a", "2", 9007199254740991, 9007199254740989)}, nullptr)
          .ok());
  EXPECT_EQ(Read(store.get(), "u2"), "a=1@9007199254740991/9007199254740990");
}

TEST_F(RedisOnlineStoreTest, ReloadsTheScriptAfterTheServerForgotIt) {
  auto store = Open();
  ASSERT_TRUE(store->Write(std::vector{Value("u1", "a", "1", 1, 1)}, nullptr).ok());
  EXPECT_EQ(Command({"SCRIPT", "FLUSH"}), "OK");  // EVALSHA now gets NOSCRIPT
  ASSERT_TRUE(store->Write(std::vector{Value("u1", "a", "2", 2, 2)}, nullptr).ok());
  EXPECT_EQ(Read(store.get(), "u1"), "a=2@2/2");
}

TEST_F(RedisOnlineStoreTest, WriteWaitsForARestartedServerAndLosesNothing) {
  auto store = Open();
  ASSERT_TRUE(store->Write(std::vector{Value("u1", "a", "1", 1, 1)}, nullptr).ok());
  KillRedis();
  std::atomic<bool> restarted = false;
  std::thread restarter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    StartRedis();
    restarted = true;
  });
  // Large enough (about 8 MB) that sending it on the dead connection takes several writes:
  // the second one fails with EPIPE, whose SIGPIPE must not end this process.
  std::vector<std::string> names;
  for (int i = 0; i < 100000; ++i) names.push_back("f" + std::to_string(100000 + i));
  std::string value = "\"" + std::string(58, 'x') + "\"";
  std::vector<FeatureValue> writes = {Value("u1", "b", "2", 2, 2)};
  for (const std::string& name : names) writes.push_back(Value("u2", name, value, 3, 3));
  Status status = store->Write(writes, nullptr);
  restarter.join();
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_TRUE(restarted);
  EXPECT_EQ(Read(store.get(), "u1"), "a=1@1/1 b=2@2/2");  // "a" survived the SIGKILL (AOF)
  EXPECT_EQ(Command({"HLEN", "statefold:user:u2"}), "100000");
}

TEST_F(RedisOnlineStoreTest, ShouldStopDuringAnOutageAbortsTheWrite) {
  int polls = 0;
  auto store = Open([&polls] { return ++polls > 5; });
  KillRedis();
  auto started = std::chrono::steady_clock::now();
  Status status = store->Write(std::vector{Value("u1", "a", "1", 1, 1)}, nullptr);
  EXPECT_EQ(status.code(), Status::Code::kAborted) << status.ToString();
  EXPECT_NE(status.message().find("unreachable"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("Connection refused"), std::string::npos) << status.message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_GT(polls, 5);
}

TEST_F(RedisOnlineStoreTest, AStoredValueStatefoldDidNotWriteIsAnError) {
  EXPECT_EQ(Command({"HSET", "statefold:user:u1", "a", "not ours"}), "1");
  EXPECT_EQ(Command({"SET", "statefold:user:u2", "a string"}), "OK");
  auto store = Open([] { return true; });  // a retried error would end as Aborted instead
  Status status = store->Write(std::vector{Value("u1", "a", "1", 1, 1)}, nullptr);
  EXPECT_EQ(status.code(), Status::Code::kIOError) << status.ToString();
  EXPECT_NE(status.message().find("field a of statefold:user:u1"), std::string::npos)
      << status.message();
  status = store->Write(std::vector{Value("u2", "a", "1", 1, 1)}, nullptr);
  EXPECT_NE(status.message().find("WRONGTYPE"), std::string::npos) << status.ToString();
  std::vector<StoredFeature> features;
  EXPECT_EQ(store->ReadEntity("user", "u1", &features).code(), Status::Code::kCorruption);
}

TEST_F(RedisOnlineStoreTest, TheEngineWritesWhatTheEmbeddedStoreGets) {
  std::string input = (dir_ / "logins.jsonl").string();
  {
    std::ofstream out(input);
    for (int i = 0; i < 500; ++i) {
      std::string user = "u" + std::to_string(i % 37);
      out << R"({"key": ")" << user << R"(", "value": {"user_id": ")" << user << R"(", "ip": ")"
          << (i % 11) << R"("}, )"
          << R"("timestamp": )" << 1000 + i << "}\n";
    }
  }
  auto run = [&](const std::string& state_dir, const std::string& online_store) {
    EngineOptions options;
    options.state_dir = state_dir;
    options.online_store = online_store;
    options.batch_size = 16;
    options.checkpoint_every_messages = 100;
    testing::UniqueIpResolver resolver;
    std::unique_ptr<Engine> engine;
    ASSERT_TRUE(Engine::Open(options, &engine).ok());
    std::unique_ptr<Source> source;
    ASSERT_TRUE(OpenFileSource("logins", input, &source).ok());
    engine->AddSource(std::move(source));
    engine->AddResolver(resolver.get());
    RunStats stats;
    Status status = engine->Run(&stats);
    ASSERT_TRUE(status.ok()) << status.ToString();
    EXPECT_EQ(stats.messages, 500u);
  };
  run((dir_ / "embedded").string(), "");
  run((dir_ / "redis-run").string(), url_);
  std::unique_ptr<StateInspector> inspector;
  ASSERT_TRUE(StateInspector::Open((dir_ / "embedded").string(), false, &inspector).ok());
  auto redis = Open();
  for (int i = 0; i < 37; ++i) {
    std::string user = "u" + std::to_string(i);
    std::vector<StoredFeature> features;
    ASSERT_TRUE(inspector->Features("user", user, &features).ok());
    std::string expected;
    for (const StoredFeature& f : features) {
      if (!expected.empty()) expected += " ";
      expected += f.feature + "=" + f.value_json + "@" + std::to_string(f.time_ms) + "/" +
                  std::to_string(f.offset);
    }
    EXPECT_EQ(Read(redis.get(), user), expected);
  }
  EXPECT_EQ(Command({"DBSIZE"}), "37");
}

}  // namespace
}  // namespace statefold
