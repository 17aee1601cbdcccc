// Engine semantics with a native resolver on a real RocksDB state directory.

#include "statefold/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <new>
#include <random>
#include <set>

#include "engine_fixture.h"
#include "source/file_source.h"
#include "test_resolver.h"

namespace statefold {
namespace {

using EngineTest = EngineFixture;

TEST_F(EngineTest, StatePerKeyAndFeaturesAreCommitted) {
  Append(
      {Login("u1", "a"), Login("u2", "a"), Login("u1", "b"), Login("u1", "a"), Login("u2", "c")});
  testing::UniqueIpResolver resolver;
  RunStats stats = RunOnce(resolver.get());
  EXPECT_EQ(stats.messages, 5u);
  EXPECT_EQ(stats.keys, 2u);
  EXPECT_EQ(stats.outputs, 5u);
  EXPECT_EQ(StateJson("unique_ips", "u1"), R"({"unique_ips":["a","b"]})");
  EXPECT_EQ(StateJson("unique_ips", "u2"), R"({"unique_ips":["a","c"]})");
  EXPECT_EQ(Feature("u1", "unique_ip_count"), "2");
  EXPECT_EQ(Feature("u1", "id"), "\"u1\"");
}

TEST_F(EngineTest, SecondRunContinuesWhereTheFirstStopped) {
  Append({Login("u1", "a"), Login("u1", "b")});
  testing::UniqueIpResolver first;
  EXPECT_EQ(RunOnce(first.get()).messages, 2u);
  Append({Login("u1", "c"), Login("u2", "a")});
  testing::UniqueIpResolver second;
  RunStats stats = RunOnce(second.get());
  EXPECT_EQ(stats.messages, 2u);
  EXPECT_EQ(second.calls, 2u);
  EXPECT_EQ(StateJson("unique_ips", "u1"), R"({"unique_ips":["a","b","c"]})");
  testing::UniqueIpResolver third;
  EXPECT_EQ(RunOnce(third.get()).messages, 0u);
}

TEST_F(EngineTest, AShorterInputThanAlreadyReadIsAnError) {
  Append({Login("u1", "a"), Login("u1", "b")});
  testing::UniqueIpResolver first;
  RunOnce(first.get());
  std::filesystem::resize_file(input_, 10);
  testing::UniqueIpResolver resolver;  // outlives the engine
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Open(options_, &engine).ok());
  std::unique_ptr<Source> source;
  ASSERT_TRUE(OpenFileSource("logins", input_, &source).ok());
  engine->AddSource(std::move(source));
  engine->AddResolver(resolver.get());
  RunStats stats;
  Status status = engine->Run(&stats);
  EXPECT_TRUE(status.IsInvalidArgument()) << status.ToString();
  EXPECT_NE(status.message().find("another --state-dir"), std::string::npos);
}

TEST(EngineOptionsTest, EveryOptionOutOfRangeIsRefusedBeforeTheDirectoryIsTouched) {
  EXPECT_TRUE(ValidateEngineOptions(EngineOptions()).ok());
  struct Case {
    void (*set)(EngineOptions*);
    const char* message;
  };
  const Case cases[] = {
      {[](EngineOptions* o) { o->batch_size = 0; },
       "batch_size must be an integer from 1 to 1048576, got 0"},
      {[](EngineOptions* o) { o->batch_size = kMaxBatchSize + 1; },
       "batch_size must be an integer from 1 to 1048576, got 1048577"},
      {[](EngineOptions* o) { o->checkpoint_every_messages = 0; },
       "checkpoint_every_messages must be an integer from 1 to 9223372036854775807, got 0"},
      {[](EngineOptions* o) { o->checkpoint_every_messages = SIZE_MAX; },
       "checkpoint_every_messages must be an integer from 1 to 9223372036854775807, got "
       "18446744073709551615"},
      {[](EngineOptions* o) { o->checkpoint_every_ms = -1; },
       "checkpoint_every_ms must be an integer from 0 to 9223372036854775807, got -1"},
      {[](EngineOptions* o) { o->max_message_bytes = 0; },
       "max_message_bytes must be an integer from 1 to 9223372036854775807, got 0"},
  };
  for (const Case& c : cases) {
    EngineOptions options;
    options.state_dir =
        (std::filesystem::temp_directory_path() / "statefold-never-created").string();
    c.set(&options);
    std::unique_ptr<Engine> engine;
    Status status = Engine::Open(options, &engine);
    EXPECT_TRUE(status.IsInvalidArgument()) << status.ToString();
    EXPECT_EQ(status.message(), c.message);
    EXPECT_FALSE(std::filesystem::exists(options.state_dir));
  }
}

TEST_F(EngineTest, FailingResolverLeavesNoTraceInState) {
  // u1's "fail" inserts into the set and then fails: the insert must be rolled back, while
  // u1's earlier and later messages of the same batch and epoch still apply.
  Append({Login("u1", "a"), Login("u2", "x"), Login("u1", "fail"), Login("u1", "b"),
          Login("u2", "y")});
  testing::UniqueIpResolver resolver;
  RunStats stats = RunOnce(resolver.get());
  EXPECT_EQ(stats.dead_letters, 1u);
  EXPECT_EQ(StateJson("unique_ips", "u1"), R"({"unique_ips":["a","b"]})");
  EXPECT_EQ(StateJson("unique_ips", "u2"), R"({"unique_ips":["x","y"]})");
  EXPECT_EQ(Feature("u1", "unique_ip_count"), "2");
  std::vector<std::string> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find(R"("offset":2)"), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find("threw std::runtime_error: failed on purpose"), std::string::npos)
      << dead[0];
  EXPECT_NE(dead[0].find(R"("resolver":"unique_ips")"), std::string::npos);
}

TEST_F(EngineTest, FailureOfACommittedKeyRollsBackToTheCommittedState) {
  Append({Login("u1", "a")});
  testing::UniqueIpResolver first;
  RunOnce(first.get());
  Append({Login("u1", "b"), Login("u1", "fail"), Login("u1", "c")});
  testing::UniqueIpResolver second;
  RunOnce(second.get());
  EXPECT_EQ(StateJson("unique_ips", "u1"), R"({"unique_ips":["a","b","c"]})");
}

TEST_F(EngineTest, RepeatedFailuresOfAKeyReplayEachOfItsMessagesAtMostOncePerEpoch) {
  // One key, every tenth of its messages failing: each failure replays only the key's
  // messages since its previous failure (from the state as of then), so the resolver runs
  // each message at most twice (its call and one replay); replaying from the committed state
  // at every failure took 7,780 calls here. The result is that of the good messages alone.
  constexpr int kMessages = 400;
  std::vector<std::string> lines;
  std::set<std::string> good;
  for (int i = 0; i < kMessages; ++i) {
    const std::string ip = i % 10 == 9 ? "fail" : "ip" + std::to_string(i);
    lines.push_back(Login("hot", ip));
    if (ip != "fail") good.insert(ip);
  }
  Append(lines);
  testing::UniqueIpResolver resolver;
  RunStats stats = RunOnce(resolver.get());
  EXPECT_EQ(stats.dead_letters, 40u);
  EXPECT_LE(resolver.calls, 2u * kMessages);
  std::string expected = R"({"unique_ips":[)";
  for (const std::string& ip : good)
    expected += (expected.back() == '[' ? "\"" : ",\"") + ip + "\"";
  EXPECT_EQ(StateJson("unique_ips", "hot"), expected + "]}");
  EXPECT_EQ(Feature("hot", "unique_ip_count"), "360");
  EXPECT_EQ(DeadLetters().size(), 40u);
}

TEST_F(EngineTest, BadRecordsAreDeadLetteredAndProcessingGoesOn) {
  Append({"{not json", Login("u1", "a"), R"({"key": "u1"})", R"({"key": "u1", "value": {"ip": 5}})",
          R"({"value": {"ip": "z"}})", "\xff\xfe", Login("u1", "b")});
  testing::UniqueIpResolver resolver;
  RunStats stats = RunOnce(resolver.get());
  EXPECT_EQ(stats.messages, 7u);
  EXPECT_EQ(stats.dead_letters, 5u);
  EXPECT_EQ(StateJson("unique_ips", "u1"), R"({"unique_ips":["a","b"]})");
  std::vector<std::string> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 5u);
  auto reason_at = [&dead](int offset) -> std::string {
    for (const std::string& record : dead) {
      if (record.find("\"offset\":" + std::to_string(offset) + ",") != std::string::npos)
        return record;
    }
    return "<no dead letter at offset " + std::to_string(offset) + ">";
  };
  EXPECT_NE(reason_at(0).find("not valid JSON"), std::string::npos) << reason_at(0);
  EXPECT_NE(reason_at(2).find("no \\\"value\\\""), std::string::npos) << reason_at(2);
  EXPECT_NE(reason_at(3).find("field ip: expected a string, got a number"), std::string::npos)
      << reason_at(3);
  EXPECT_NE(reason_at(4).find("has no key"), std::string::npos) << reason_at(4);
  EXPECT_NE(reason_at(5).find("UTF-8"), std::string::npos) << reason_at(5);
}

TEST_F(EngineTest, HalfWrittenLastLineWaitsForTheNextRun) {
  std::string second = Login("u1", "b");
  {
    std::ofstream out(input_);
    out << Login("u1", "a") << "\n" << second.substr(0, 20);
  }
  testing::UniqueIpResolver first;
  RunStats stats = RunOnce(first.get());
  EXPECT_EQ(stats.messages, 1u);
  EXPECT_EQ(stats.dead_letters, 0u);
  {
    std::ofstream out(input_, std::ios::app);
    out << second.substr(20) << "\n" << Login("u1", "c");  // the last line has no newline
  }
  testing::UniqueIpResolver rest;
  stats = RunOnce(rest.get());
  EXPECT_EQ(stats.messages, 2u);
  EXPECT_EQ(stats.dead_letters, 0u);
  EXPECT_EQ(StateJson("unique_ips", "u1"), R"({"unique_ips":["a","b","c"]})");
}

// docs/semantics.md, Offsets: a run over a file that grew gives every record the offset a run
// over the final file gives it, also when the file's last line got its newline later.
TEST_F(EngineTest, OffsetsAfterALastLineCompletedLaterEqualOneRunOverTheFinalFile) {
  {
    std::ofstream out(input_);
    out << Login("u1", "a") << "\n" << Login("u1", "b");  // decodes: processed, no newline
  }
  testing::UniqueIpResolver first;
  RunOnce(first.get());
  Append({"", "{not json", Login("u1", "c")});  // completes the line, then more lines
  testing::UniqueIpResolver second;
  RunOnce(second.get());
  const std::vector<std::string> grown = DeadLetters();
  const std::string grown_state = StateJson("unique_ips", "u1");

  std::filesystem::remove_all(options_.state_dir);
  testing::UniqueIpResolver whole;
  RunOnce(whole.get());
  EXPECT_EQ(DeadLetters(), grown);
  ASSERT_EQ(grown.size(), 1u);
  EXPECT_NE(grown[0].find("\"offset\":2,"), std::string::npos) << grown[0];
  EXPECT_EQ(StateJson("unique_ips", "u1"), grown_state);
  EXPECT_EQ(grown_state, R"({"unique_ips":["a","b","c"]})");
}

// A source whose Poll fails to allocate, as reading a huge line under a memory limit did.
class FailingAllocationSource : public Source {
 public:
  const std::string& name() const override { return name_; }
  Status Seek(const std::vector<SourcePosition>&) override { return Status::Ok(); }
  Status Poll(size_t, std::vector<RawRecord>*) override { throw std::bad_alloc(); }
  bool AtEnd() const override { return false; }
  std::vector<SourcePosition> Positions() const override { return {}; }

 private:
  std::string name_ = "other";
};

TEST_F(EngineTest, AFailedAllocationEndsTheRunWithAnErrorAndTheEngineTearsDownSafely) {
  Append({Login("u1", "a"), Login("u2", "b")});
  testing::UniqueIpResolver resolver;  // outlives the engine, as AddResolver requires
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Open(options_, &engine).ok());
  std::unique_ptr<Source> source;
  ASSERT_TRUE(OpenFileSource("logins", input_, &source).ok());
  engine->AddSource(std::move(source));  // polled first: u1 and u2 get live states
  engine->AddSource(std::make_unique<FailingAllocationSource>());
  engine->AddResolver(resolver.get());
  RunStats stats;
  Status status = engine->Run(&stats);
  EXPECT_EQ(status.code(), Status::Code::kAborted) << status.ToString();
  EXPECT_NE(status.message().find("out of memory"), std::string::npos) << status.message();
  EXPECT_EQ(stats.messages, 2u);
  engine.reset();  // releases the two live states through the resolver
  EXPECT_EQ(StateJson("unique_ips", "u1").find("{"), std::string::npos);  // nothing committed
}

TEST_F(EngineTest, KeysFromAMessageField) {
  Append({R"({"value": {"user": {"id": "u9"}, "ip": "a"}})",
          R"({"key": "ignored", "value": {"user": {"id": "u9"}, "ip": "b"}})",
          R"({"value": {"ip": "c"}})"});
  testing::UniqueIpResolver resolver("by_field", "user.id");
  RunStats stats = RunOnce(resolver.get());
  EXPECT_EQ(stats.dead_letters, 1u);
  EXPECT_EQ(StateJson("by_field", "u9"), R"({"unique_ips":["a","b"]})");
}

TEST_F(EngineTest, SmallCacheEvictsAndReloadsCommittedState) {
  options_.state_cache_entries = 2;
  options_.checkpoint_every_messages = 3;
  std::vector<std::string> lines;
  for (int round = 0; round < 5; ++round) {
    for (int user = 0; user < 10; ++user) {
      lines.push_back(Login("u" + std::to_string(user), "ip" + std::to_string(round)));
    }
  }
  Append(lines);
  testing::UniqueIpResolver resolver;
  RunOnce(resolver.get());
  for (int user = 0; user < 10; ++user) {
    EXPECT_EQ(Feature("u" + std::to_string(user), "unique_ip_count"), "5");
  }
}

}  // namespace
}  // namespace statefold
