// /metrics without HTTP: the engine's families rendered from a known run status record, and
// the server's from per-thread counters. The expected engine text is what the server wrote
// before it parsed the record into a RunStatus (family names, help, labels and values).

#include "serve/metrics.h"

#include <gtest/gtest.h>

#include <vector>

namespace statefold {
namespace {

TEST(MetricsTest, EngineFamiliesAreRenderedFromTheRunStatus) {
  RunStatus status;
  status.updated_ms = 1767225600123;
  status.started_ms = 1767225500000;
  status.messages = 1000000;
  status.outputs = 987654321;
  status.resolver_errors = 3;
  status.dead_letters = 10;
  status.checkpoints = 4;
  status.last_checkpoint_commit_ms = 12.5;
  status.sources.push_back({"logins", 7, {{0, 100, 5}, {3, 42, std::nullopt}}, {}});
  status.sources.push_back({"clicks \"quoted\"\\\n", 0, {}, {}});
  status.resolvers.push_back({"track_unique_ips", 14198});
  status.resolvers.push_back({"empty", 0});
  std::string text;
  AppendEngineMetrics(status, &text);
  // Counters print as doubles (1e+06); an unknown lag (partition 3) has no series; label values
  // escape backslash, double quote and line feed.
  EXPECT_EQ(text,
            R"(# HELP statefold_messages_total Records read from the sources in the engine's run.
# TYPE statefold_messages_total counter
statefold_messages_total 1e+06
# HELP statefold_outputs_total Resolver calls that returned features.
# TYPE statefold_outputs_total counter
statefold_outputs_total 987654321
# HELP statefold_resolver_errors_total Resolver calls that raised or returned an invalid value.
# TYPE statefold_resolver_errors_total counter
statefold_resolver_errors_total 3
# HELP statefold_dead_letters_total Dead letters recorded in the run.
# TYPE statefold_dead_letters_total counter
statefold_dead_letters_total 10
# HELP statefold_checkpoints_total Checkpoints committed in the run.
# TYPE statefold_checkpoints_total counter
statefold_checkpoints_total 4
# HELP statefold_checkpoint_commit_seconds Time the previous checkpoint took to commit.
# TYPE statefold_checkpoint_commit_seconds gauge
statefold_checkpoint_commit_seconds 0.0125
# HELP statefold_last_checkpoint_timestamp_seconds Wall-clock time of the last checkpoint (Unix seconds).
# TYPE statefold_last_checkpoint_timestamp_seconds gauge
statefold_last_checkpoint_timestamp_seconds 1767225600.123
# HELP statefold_run_start_timestamp_seconds Wall-clock time the engine's run started (Unix seconds).
# TYPE statefold_run_start_timestamp_seconds gauge
statefold_run_start_timestamp_seconds 1767225500
# HELP statefold_source_skipped_late_total Records skipped for being older than the late-arrival deadline.
# TYPE statefold_source_skipped_late_total counter
statefold_source_skipped_late_total{source="logins"} 7
statefold_source_skipped_late_total{source="clicks \"quoted\"\\\n"} 0
# HELP statefold_source_next_offset Offset of the next record to read, per source partition, as checkpointed.
# TYPE statefold_source_next_offset gauge
statefold_source_next_offset{source="logins",partition="0"} 100
statefold_source_next_offset{source="logins",partition="3"} 42
# HELP statefold_source_lag Records behind the end of the partition (Kafka: high watermark minus position).
# TYPE statefold_source_lag gauge
statefold_source_lag{source="logins",partition="0"} 5
# HELP statefold_resolver_keys Keys with state, per resolver.
# TYPE statefold_resolver_keys gauge
statefold_resolver_keys{resolver="track_unique_ips"} 14198
statefold_resolver_keys{resolver="empty"} 0
)");
}

TEST(MetricsTest, AnEmptyRunStatusStillHasEveryFamily) {
  std::string text;
  AppendEngineMetrics(RunStatus(), &text);
  EXPECT_EQ(text,
            R"(# HELP statefold_messages_total Records read from the sources in the engine's run.
# TYPE statefold_messages_total counter
statefold_messages_total 0
# HELP statefold_outputs_total Resolver calls that returned features.
# TYPE statefold_outputs_total counter
statefold_outputs_total 0
# HELP statefold_resolver_errors_total Resolver calls that raised or returned an invalid value.
# TYPE statefold_resolver_errors_total counter
statefold_resolver_errors_total 0
# HELP statefold_dead_letters_total Dead letters recorded in the run.
# TYPE statefold_dead_letters_total counter
statefold_dead_letters_total 0
# HELP statefold_checkpoints_total Checkpoints committed in the run.
# TYPE statefold_checkpoints_total counter
statefold_checkpoints_total 0
# HELP statefold_checkpoint_commit_seconds Time the previous checkpoint took to commit.
# TYPE statefold_checkpoint_commit_seconds gauge
statefold_checkpoint_commit_seconds 0
# HELP statefold_last_checkpoint_timestamp_seconds Wall-clock time of the last checkpoint (Unix seconds).
# TYPE statefold_last_checkpoint_timestamp_seconds gauge
statefold_last_checkpoint_timestamp_seconds 0
# HELP statefold_run_start_timestamp_seconds Wall-clock time the engine's run started (Unix seconds).
# TYPE statefold_run_start_timestamp_seconds gauge
statefold_run_start_timestamp_seconds 0
# HELP statefold_source_skipped_late_total Records skipped for being older than the late-arrival deadline.
# TYPE statefold_source_skipped_late_total counter
# HELP statefold_source_next_offset Offset of the next record to read, per source partition, as checkpointed.
# TYPE statefold_source_next_offset gauge
# HELP statefold_source_lag Records behind the end of the partition (Kafka: high watermark minus position).
# TYPE statefold_source_lag gauge
# HELP statefold_resolver_keys Keys with state, per resolver.
# TYPE statefold_resolver_keys gauge
)");
}

// The series lines of `text` that start with `prefix`.
std::vector<std::string> Series(const std::string& text, std::string_view prefix) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end - start);
    if (line.starts_with(prefix)) lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

TEST(MetricsTest, ServerFamiliesSumEveryThread) {
  std::vector<ThreadMetrics> threads(2);
  uint64_t fast = 50'000, slow = 3'900'000;  // 50 µs, 3.9 ms
  threads[0].Record(Route::kFeatures, 200, &fast);
  threads[1].Record(Route::kFeatures, 200, &slow);
  threads[1].Record(Route::kFeatures, 404, &fast);
  threads[0].Record(Route::kRejected, 400, nullptr);
  threads[0].Record(Route::kQuery, 99, &fast);  // no such status: timed, not counted by code
  ServerCounters counters;
  counters.open_connections = 3;
  counters.accepted_connections = 17;
  std::string text;
  AppendServerMetrics(threads, counters, &text);

  EXPECT_EQ(Series(text, "statefold_http_requests_total"),
            (std::vector<std::string>{
                R"(statefold_http_requests_total{route="features",code="200"} 2)",
                R"(statefold_http_requests_total{route="features",code="404"} 1)",
                R"(statefold_http_requests_total{route="rejected",code="400"} 1)",
            }));
  std::vector<std::string> buckets =
      Series(text, R"(statefold_http_request_duration_seconds_bucket{route="features")");
  ASSERT_EQ(buckets.size(), 15u);
  EXPECT_EQ(buckets[0],
            R"(statefold_http_request_duration_seconds_bucket{route="features",le="1e-04"} 2)");
  EXPECT_EQ(buckets[4],
            R"(statefold_http_request_duration_seconds_bucket{route="features",le="0.0025"} 2)");
  EXPECT_EQ(buckets[5],
            R"(statefold_http_request_duration_seconds_bucket{route="features",le="0.005"} 3)");
  EXPECT_EQ(buckets[14],
            R"(statefold_http_request_duration_seconds_bucket{route="features",le="+Inf"} 3)");
  EXPECT_EQ(Series(text, R"(statefold_http_request_duration_seconds_sum{route="features"})"),
            std::vector<std::string>{
                R"(statefold_http_request_duration_seconds_sum{route="features"} 0.004)"});
  EXPECT_EQ(Series(text, "statefold_http_request_duration_seconds_count"),
            (std::vector<std::string>{
                R"(statefold_http_request_duration_seconds_count{route="features"} 3)",
                R"(statefold_http_request_duration_seconds_count{route="query"} 1)",
                R"(statefold_http_request_duration_seconds_count{route="metrics"} 0)",
                R"(statefold_http_request_duration_seconds_count{route="healthz"} 0)",
                R"(statefold_http_request_duration_seconds_count{route="unknown"} 0)",
            }));  // rejected requests are not timed
  EXPECT_EQ(Series(text, "statefold_http_open_connections"),
            std::vector<std::string>{"statefold_http_open_connections 3"});
  EXPECT_EQ(Series(text, "statefold_http_connections_total"),
            std::vector<std::string>{"statefold_http_connections_total 17"});
  EXPECT_EQ(text.find("statefold_serve_catch_up_errors_total"), std::string::npos);
}

TEST(MetricsTest, CatchUpErrorsAreReportedWithAStateDirectory) {
  std::vector<ThreadMetrics> threads(1);
  ServerCounters counters;
  counters.catch_up_errors = 0;
  std::string text;
  AppendServerMetrics(threads, counters, &text);
  EXPECT_NE(text.find("# TYPE statefold_serve_catch_up_errors_total counter\n"
                      "statefold_serve_catch_up_errors_total 0\n"),
            std::string::npos)
      << text;
  EXPECT_TRUE(text.ends_with("statefold_serve_catch_up_errors_total 0\n"));
}

}  // namespace
}  // namespace statefold
