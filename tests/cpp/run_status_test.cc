// RunStatus: the run status record's JSON form round-trips, and readers tolerate what older
// records lack.

#include "state/run_status.h"

#include <gtest/gtest.h>

namespace statefold {
namespace {

TEST(RunStatusTest, RoundTripsThroughItsJson) {
  RunStatus status;
  status.updated_ms = 1767225600123;
  status.started_ms = 1767225500000;
  status.messages = 200000;
  status.outputs = 199990;
  status.resolver_errors = 3;
  status.dead_letters = 10;
  status.checkpoints = 4;
  status.last_checkpoint_commit_ms = 12.5;
  status.sources.push_back({"logins",
                            7,
                            {{0, 100, 5}, {3, 42, std::nullopt}},
                            {{1, "partition 1 is not read here: \"why\""}}});
  status.sources.push_back({"clicks \"quoted\"", 0, {}, {}});
  status.resolvers.push_back({"track_unique_ips", 14198});

  RunStatus parsed;
  ASSERT_TRUE(RunStatus::Parse(status.ToJson(), &parsed).ok());
  EXPECT_EQ(parsed.ToJson(), status.ToJson());
  ASSERT_EQ(parsed.sources.size(), 2u);
  ASSERT_EQ(parsed.sources[0].partitions.size(), 2u);
  EXPECT_EQ(parsed.sources[0].partitions[0].lag, 5);
  EXPECT_FALSE(parsed.sources[0].partitions[1].lag.has_value());
  ASSERT_EQ(parsed.sources[0].refused.size(), 1u);
  EXPECT_EQ(parsed.sources[0].refused[0].partition, 1);
  EXPECT_EQ(parsed.sources[0].refused[0].reason, "partition 1 is not read here: \"why\"");
  EXPECT_EQ(parsed.sources[1].name, "clicks \"quoted\"");
  EXPECT_EQ(parsed.resolvers[0].keys, 14198u);
  EXPECT_DOUBLE_EQ(parsed.last_checkpoint_commit_ms, 12.5);
}

TEST(RunStatusTest, TheJsonFormIsTheStoredFormat) {
  RunStatus status;
  status.updated_ms = 2;
  status.started_ms = 1;
  status.messages = 5;
  status.checkpoints = 1;
  status.sources.push_back({"s", 0, {{0, 5, std::nullopt}}, {}});
  status.resolvers.push_back({"r", 3});
  EXPECT_EQ(status.ToJson(), R"({"updated_ms":2,"run":{"started_ms":1,"messages":5,"outputs":0,)"
                             R"("resolver_errors":0,"dead_letters":0,"checkpoints":1,)"
                             R"("last_checkpoint_commit_ms":0},"sources":{"s":{"skipped_late":0,)"
                             R"("partitions":{"0":{"next_offset":5,"lag":null}},"refused":{}}},)"
                             R"("resolvers":{"r":{"keys":3}}})");
}

TEST(RunStatusTest, AbsentMembersKeepTheirDefaults) {
  RunStatus status;
  ASSERT_TRUE(RunStatus::Parse(R"({"run":{"messages":7}})", &status).ok());
  EXPECT_EQ(status.messages, 7u);
  EXPECT_EQ(status.checkpoints, 0u);
  EXPECT_TRUE(status.sources.empty());
}

TEST(RunStatusTest, MalformedRecordsAreCorruption) {
  RunStatus status;
  for (const char* bad : {"not json", "[]", R"({"run":{"messages":"many"}})",
                          R"({"sources":{"s":{"partitions":{"x":{}}}}})",
                          R"({"sources":{"s":{"refused":{"0":1}}}})"}) {
    Status result = RunStatus::Parse(bad, &status);
    EXPECT_EQ(result.code(), Status::Code::kCorruption) << bad;
  }
}

}  // namespace
}  // namespace statefold
