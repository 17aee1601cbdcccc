// EngineFixture: a fresh state directory and JSON Lines input per test, a run of the
// engine over it, and readers for what the run committed (states, features, dead letters).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "inspect/state_inspector.h"
#include "source/file_source.h"
#include "statefold/engine.h"

namespace statefold {

class EngineFixture : public ::testing::Test {
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

  RunStats RunOnce(Resolver* resolver) { return RunOnce(std::vector<Resolver*>{resolver}); }
  RunStats RunOnce(const std::vector<Resolver*>& resolvers) {
    std::unique_ptr<Engine> engine;
    EXPECT_TRUE(Engine::Open(options_, &engine).ok());
    std::unique_ptr<Source> source;
    EXPECT_TRUE(OpenFileSource("logins", input_, &source).ok());
    engine->AddSource(std::move(source));
    for (Resolver* resolver : resolvers) engine->AddResolver(resolver);
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

  std::string Feature(const std::string& id, const std::string& feature,
                      const std::string& ns = "user") {
    std::unique_ptr<StateInspector> inspector;
    EXPECT_TRUE(StateInspector::Open(options_.state_dir, false, &inspector).ok());
    std::vector<StoredFeature> features;
    if (!inspector->Features(ns, id, &features).ok()) return "<none>";
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

}  // namespace statefold
