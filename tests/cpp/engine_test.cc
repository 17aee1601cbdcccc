// Engine semantics with a native resolver on a real RocksDB state directory.

#include "statefold/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "source/file_source.h"
#include "state/state_inspector.h"
#include "test_resolver.h"

namespace statefold {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statefold-engine-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    input_ = (dir_ / "logins.jsonl").string();
    options_.state_dir = (dir_ / "state").string();
    options_.batch_size = 4;  // several batches even for small inputs
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Append(const std::vector<std::string>& lines) {
    std::ofstream out(input_, std::ios::app);
    for (const std::string& line : lines) out << line << "\n";
  }
  static std::string Login(const std::string& user, const std::string& ip, int64_t ts = 1000) {
    return R"({"key": ")" + user + R"(", "value": {"user_id": ")" + user + R"(", "ip": ")" + ip +
           R"("}, "timestamp": )" + std::to_string(ts) + "}";
  }

  RunStats RunOnce(testing::UniqueIpResolver* resolver) {
    std::unique_ptr<Engine> engine;
    EXPECT_TRUE(Engine::Open(options_, &engine).ok());
    std::unique_ptr<Source> source;
    EXPECT_TRUE(FileSource::Open("logins", input_, &source).ok());
    engine->AddSource(std::move(source));
    engine->AddResolver(resolver);
    RunStats stats;
    Status status = engine->Run(&stats);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return stats;
  }

  std::string StateJson(const std::string& resolver, const std::string& key) {
    std::unique_ptr<StateInspector> inspector;
    EXPECT_TRUE(StateInspector::Open(options_.state_dir, false, &inspector).ok());
    std::string json;
    Status status = inspector->StateJson(resolver, key, &json);
    return status.ok() ? json : status.ToString();
  }

  std::string Feature(const std::string& id, const std::string& feature) {
    std::unique_ptr<StateInspector> inspector;
    EXPECT_TRUE(StateInspector::Open(options_.state_dir, false, &inspector).ok());
    std::vector<StoredFeature> features;
    if (!inspector->Features("user", id, &features).ok()) return "<none>";
    for (const StoredFeature& f : features) {
      if (f.feature == feature) return f.value_json;
    }
    return "<none>";
  }

  std::vector<std::string> DeadLetters() {
    std::unique_ptr<StateInspector> inspector;
    EXPECT_TRUE(StateInspector::Open(options_.state_dir, false, &inspector).ok());
    std::vector<std::string> records;
    EXPECT_TRUE(inspector->DeadLetters(100, &records).ok());
    return records;
  }

  std::filesystem::path dir_;
  std::string input_;
  EngineOptions options_;
};

TEST_F(EngineTest, StatePerKeyAndFeaturesAreCommitted) {
  Append(
      {Login("u1", "a"), Login("u2", "a"), Login("u1", "b"), Login("u1", "a"), Login("u2", "c")});
  testing::UniqueIpResolver resolver;
  RunStats stats = RunOnce(&resolver);
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
  EXPECT_EQ(RunOnce(&first).messages, 2u);
  Append({Login("u1", "c"), Login("u2", "a")});
  testing::UniqueIpResolver second;
  RunStats stats = RunOnce(&second);
  EXPECT_EQ(stats.messages, 2u);
  EXPECT_EQ(second.calls, 2u);
  EXPECT_EQ(StateJson("unique_ips", "u1"), R"({"unique_ips":["a","b","c"]})");
  testing::UniqueIpResolver third;
  EXPECT_EQ(RunOnce(&third).messages, 0u);
}

TEST_F(EngineTest, AShorterInputThanAlreadyReadIsAnError) {
  Append({Login("u1", "a"), Login("u1", "b")});
  testing::UniqueIpResolver first;
  RunOnce(&first);
  std::filesystem::resize_file(input_, 10);
  testing::UniqueIpResolver resolver;  // outlives the engine
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Open(options_, &engine).ok());
  std::unique_ptr<Source> source;
  ASSERT_TRUE(FileSource::Open("logins", input_, &source).ok());
  engine->AddSource(std::move(source));
  engine->AddResolver(&resolver);
  RunStats stats;
  Status status = engine->Run(&stats);
  EXPECT_TRUE(status.IsInvalidArgument()) << status.ToString();
  EXPECT_NE(status.message().find("another --state-dir"), std::string::npos);
}

TEST_F(EngineTest, FailingResolverLeavesNoTraceInState) {
  // u1's "fail" inserts into the set and then fails: the insert must be rolled back, while
  // u1's earlier and later messages of the same batch and epoch still apply.
  Append({Login("u1", "a"), Login("u2", "x"), Login("u1", "fail"), Login("u1", "b"),
          Login("u2", "y")});
  testing::UniqueIpResolver resolver;
  RunStats stats = RunOnce(&resolver);
  EXPECT_EQ(stats.dead_letters, 1u);
  EXPECT_EQ(StateJson("unique_ips", "u1"), R"({"unique_ips":["a","b"]})");
  EXPECT_EQ(StateJson("unique_ips", "u2"), R"({"unique_ips":["x","y"]})");
  EXPECT_EQ(Feature("u1", "unique_ip_count"), "2");
  std::vector<std::string> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find(R"("offset":2)"), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find("failed on purpose"), std::string::npos);
  EXPECT_NE(dead[0].find(R"("resolver":"unique_ips")"), std::string::npos);
}

TEST_F(EngineTest, FailureOfACommittedKeyRollsBackToTheCommittedState) {
  Append({Login("u1", "a")});
  testing::UniqueIpResolver first;
  RunOnce(&first);
  Append({Login("u1", "b"), Login("u1", "fail"), Login("u1", "c")});
  testing::UniqueIpResolver second;
  RunOnce(&second);
  EXPECT_EQ(StateJson("unique_ips", "u1"), R"({"unique_ips":["a","b","c"]})");
}

TEST_F(EngineTest, BadRecordsAreDeadLetteredAndProcessingGoesOn) {
  Append({"{not json", Login("u1", "a"), R"({"key": "u1"})", Login("u1", "reject"),
          R"({"value": {"ip": "z"}})", "\xff\xfe", Login("u1", "b")});
  testing::UniqueIpResolver resolver;
  RunStats stats = RunOnce(&resolver);
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
  EXPECT_NE(reason_at(3).find("rejected on purpose"), std::string::npos) << reason_at(3);
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
  RunStats stats = RunOnce(&first);
  EXPECT_EQ(stats.messages, 1u);
  EXPECT_EQ(stats.dead_letters, 0u);
  {
    std::ofstream out(input_, std::ios::app);
    out << second.substr(20) << "\n" << Login("u1", "c");  // the last line has no newline
  }
  testing::UniqueIpResolver rest;
  stats = RunOnce(&rest);
  EXPECT_EQ(stats.messages, 2u);
  EXPECT_EQ(stats.dead_letters, 0u);
  EXPECT_EQ(StateJson("unique_ips", "u1"), R"({"unique_ips":["a","b","c"]})");
}

TEST_F(EngineTest, KeysFromAMessageField) {
  Append({R"({"value": {"user": {"id": "u9"}, "ip": "a"}})",
          R"({"key": "ignored", "value": {"user": {"id": "u9"}, "ip": "b"}})",
          R"({"value": {"ip": "c"}})"});
  testing::UniqueIpResolver resolver("by_field", {"user", "id"});
  RunStats stats = RunOnce(&resolver);
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
  RunOnce(&resolver);
  for (int user = 0; user < 10; ++user) {
    EXPECT_EQ(Feature("u" + std::to_string(user), "unique_ip_count"), "5");
  }
}

}  // namespace
}  // namespace statefold
