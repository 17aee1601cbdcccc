// KafkaSource on librdkafka's mock cluster (in-process, no broker): records reach the engine
// with their keys, values and timestamps, and a second run resumes from the checkpointed
// positions. The real-broker tests are in tests/python/test_kafka.py.

#include "source/kafka_source.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <filesystem>

#include "inspect/state_inspector.h"
#include "statefold/engine.h"
#include "test_resolver.h"

namespace statefold {
namespace {

class KafkaSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char error[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    ASSERT_EQ(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", error, sizeof error),
              RD_KAFKA_CONF_OK);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    ASSERT_NE(producer_, nullptr) << error;
    rd_kafka_mock_cluster_t* cluster = rd_kafka_handle_mock_cluster(producer_);
    ASSERT_NE(cluster, nullptr);
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster);
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster, "logins", 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    dir_ = std::filesystem::temp_directory_path() /
           ("statefold-kafka-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    rd_kafka_destroy(producer_);
    std::filesystem::remove_all(dir_);
  }

  void Produce(const std::string& user, const std::string& ip, int64_t timestamp) {
    std::string value = R"({"user_id": ")" + user + R"(", "ip": ")" + ip + R"("})";
    ASSERT_EQ(rd_kafka_producev(producer_, RD_KAFKA_V_TOPIC("logins"),
                                RD_KAFKA_V_KEY(user.data(), user.size()),
                                RD_KAFKA_V_VALUE(value.data(), value.size()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_TIMESTAMP(timestamp), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void Flush() { ASSERT_EQ(rd_kafka_flush(producer_, 10000), RD_KAFKA_RESP_ERR_NO_ERROR); }

  RunStats RunToEnd() {
    testing::UniqueIpResolver resolver;  // declared first: it must outlive the engine
    EngineOptions options;
    options.state_dir = (dir_ / "state").string();
    std::unique_ptr<Engine> engine;
    EXPECT_TRUE(Engine::Open(options, &engine).ok());
    KafkaSourceOptions source_options;
    source_options.name = "logins";
    source_options.topic = "logins";
    // A new group each run: no committed group offsets, so resuming at the right place proves
    // that positions come from the checkpoint (and no old member's session is waited out).
    source_options.group_id = "statefold-test-" + std::to_string(++runs_);
    source_options.stop_at_end = true;
    source_options.properties = {{"bootstrap.servers", bootstrap_}};
    std::unique_ptr<Source> source;
    Status status = OpenKafkaSource(source_options, &source);
    EXPECT_TRUE(status.ok()) << status.ToString();
    engine->AddSource(std::move(source));
    engine->AddResolver(resolver.get());
    RunStats stats;
    status = engine->Run(&stats);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return stats;
  }

  std::string Feature(const std::string& id, const std::string& feature, int64_t* time_ms) {
    std::unique_ptr<StateInspector> inspector;
    EXPECT_TRUE(StateInspector::Open((dir_ / "state").string(), false, &inspector).ok());
    std::vector<StoredFeature> features;
    if (!inspector->Features("user", id, &features).ok()) return "<none>";
    for (const StoredFeature& f : features) {
      if (f.feature == feature) {
        *time_ms = f.time_ms;
        return f.value_json;
      }
    }
    return "<none>";
  }

  rd_kafka_t* producer_ = nullptr;
  int runs_ = 0;
  std::string bootstrap_;
  std::filesystem::path dir_;
};

TEST_F(KafkaSourceTest, ConsumesToTheEndAndResumesFromCheckpointedPositions) {
  for (int i = 0; i < 50; ++i)
    Produce("u" + std::to_string(i % 5), "ip" + std::to_string(i % 3), 1000 + i);
  Flush();
  RunStats first = RunToEnd();
  EXPECT_EQ(first.messages, 50u);
  EXPECT_EQ(first.keys, 5u);
  int64_t time_ms = 0;
  EXPECT_EQ(Feature("u1", "unique_ip_count", &time_ms), "3");
  EXPECT_EQ(time_ms, 1046);  // the record timestamp of u1's last message (i = 46)

  Produce("u1", "ip-new", 5000);
  Flush();
  RunStats second = RunToEnd();
  EXPECT_EQ(second.messages, 1u);
  EXPECT_EQ(Feature("u1", "unique_ip_count", &time_ms), "4");
  EXPECT_EQ(time_ms, 5000);
}

TEST_F(KafkaSourceTest, BadConfigurationNamesTheProperty) {
  KafkaSourceOptions options;
  options.name = "logins";
  options.topic = "logins";
  options.group_id = "g";
  options.properties = {{"no.such.property", "1"}};
  std::unique_ptr<Source> source;
  Status status = OpenKafkaSource(options, &source);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("no.such.property"), std::string::npos) << status.ToString();
}

}  // namespace
}  // namespace statefold
