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

  // A run to the end of the topic over state directory `state` in group `group` (empty: a
  // new group each run).
  RunStats RunToEnd(const std::string& state = "state", const std::string& group = "") {
    testing::UniqueIpResolver resolver;  // declared first: it must outlive the engine
    EngineOptions options;
    options.state_dir = (dir_ / state).string();
    std::unique_ptr<Engine> engine;
    EXPECT_TRUE(Engine::Open(options, &engine).ok());
    KafkaSourceOptions source_options;
    source_options.name = "logins";
    source_options.topic = "logins";
    // A new group each run: no committed group offsets, so resuming at the right place proves
    // that positions come from the checkpoint (and no old member's session is waited out).
    source_options.group_id = group.empty() ? "statefold-test-" + std::to_string(++runs_) : group;
    source_options.stop_at_end = true;
    // Short sessions: a static member (the directory's instance id) that closed stays in the
    // group until its session times out, and the next run in the group waits for that.
    source_options.properties = {{"bootstrap.servers", bootstrap_},
                                 {"session.timeout.ms", "3000"},
                                 {"heartbeat.interval.ms", "500"}};
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

// A worker whose state directory lacks a partition's state (another worker has read it and
// committed its position to the group) does not read that partition: it would give its keys
// partial state. Nor does it move the group's position back.
TEST_F(KafkaSourceTest, APartitionWhoseStateIsInAnotherDirectoryIsNotReadThere) {
  for (int i = 0; i < 40; ++i) Produce("u" + std::to_string(i % 8), "ip" + std::to_string(i), i);
  Flush();
  RunStats owner = RunToEnd("owner", "shared");
  EXPECT_EQ(owner.messages, 40u);
  EXPECT_TRUE(owner.refused.empty());

  RunStats newcomer = RunToEnd("newcomer", "shared");
  EXPECT_EQ(newcomer.messages, 0u);
  ASSERT_EQ(newcomer.refused.size(), 2u);  // both partitions of the topic
  for (const RunStats::Refused& r : newcomer.refused) {
    EXPECT_EQ(r.source, "logins");
    EXPECT_NE(r.partition.reason.find("group shared has committed offset"), std::string::npos)
        << r.partition.reason;
    EXPECT_NE(r.partition.reason.find("for none of its records"), std::string::npos);
  }

  // The owner goes on where it was: the newcomer committed nothing.
  Produce("u1", "ip-late", 100);
  Flush();
  RunStats again = RunToEnd("owner", "shared");
  EXPECT_EQ(again.messages, 1u);
  EXPECT_TRUE(again.refused.empty());
}

TEST(KafkaOwnershipTest, APartitionIsReadWhereItsStateIsAtLeastAsFarAsTheGroups) {
  auto problem = [](int64_t local, int64_t committed) {
    return KafkaSource::OwnershipProblem("t", "g", 3, local, committed);
  };
  EXPECT_EQ(problem(-1, -1), "");  // a new group: from the earliest offset
  EXPECT_EQ(problem(10, -1), "");  // this directory's position
  EXPECT_EQ(problem(-1, 0), "");   // nothing was read anywhere
  EXPECT_EQ(problem(10, 10), "");  // this directory checkpointed last
  EXPECT_EQ(problem(12, 10), "");  // ...and its last commit to the group was lost
  EXPECT_EQ(problem(-1, 10),
            "partition 3 of topic t is not read here: group g has committed offset 10 for it, "
            "and this state directory holds its state for none of its records, so the state of "
            "its records before 10 is in another worker's state directory; reading on would "
            "give its keys partial state (docs/operations.md, \"Running several workers\")");
  EXPECT_NE(problem(4, 10).find("holds its state only up to offset 4"), std::string::npos);
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
