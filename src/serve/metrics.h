// The feature server's /metrics, in the Prometheus text format (version 0.0.4): the engine's
// families, rendered from the run status record of its last checkpoint, and the server's own,
// from per-thread request counters. docs/operations.md lists the families.
#pragma once

#include <atomic>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "state/run_status.h"

namespace statefold {

constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// What a request is counted under (the "route" label).
enum class Route : int { kFeatures, kQuery, kMetrics, kHealthz, kUnknown, kRejected };
constexpr int kRouteCount = 6;
std::string_view RouteName(Route route);  // "features", "query", ...

// The request counters of one event-loop thread. Only that thread writes them (relaxed
// atomics, no read-modify-write); AppendServerMetrics sums every thread's on any thread.
// Aligned to a cache line so that threads' counters never share one.
struct alignas(64) ThreadMetrics {
  static constexpr double kBucketSeconds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
  static constexpr int kBuckets = std::size(kBucketSeconds) + 1;  // + "+Inf"
  static constexpr int kFirstStatus = 100;
  static constexpr int kStatusCount = 500;  // 100 .. 599

  struct PerRoute {
    std::atomic<uint64_t> by_status[kStatusCount];
    std::atomic<uint64_t> buckets[kBuckets];  // not cumulative; summed when exported
    std::atomic<uint64_t> sum_ns;
    std::atomic<uint64_t> count;
  };
  PerRoute routes[kRouteCount];

  // Counts one answer with HTTP status `status` (outside 100..599: not by status) and, when
  // `latency_ns` is given, its time in the latency histogram.
  void Record(Route route, int status, const uint64_t* latency_ns) {
    PerRoute& r = routes[static_cast<int>(route)];
    if (status >= kFirstStatus && status < kFirstStatus + kStatusCount) {
      Add(r.by_status[status - kFirstStatus], 1);
    }
    if (latency_ns == nullptr) return;
    double seconds = static_cast<double>(*latency_ns) * 1e-9;
    int bucket = 0;
    while (bucket < kBuckets - 1 && seconds > kBucketSeconds[bucket]) ++bucket;
    Add(r.buckets[bucket], 1);
    Add(r.sum_ns, *latency_ns);
    Add(r.count, 1);
  }

 private:
  // The only writer: a plain load and store, no locked instruction.
  static void Add(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

// The server's figures besides its threads' request counters.
struct ServerCounters {
  int64_t open_connections = 0;
  uint64_t accepted_connections = 0;
  std::optional<uint64_t> catch_up_errors;  // with a state directory only
};

// Appends the engine's families (messages, outputs, ..., per-source offsets and lags,
// per-resolver keys) as of the checkpoint that stored `status`. A partition's lag that is not
// known is left out.
void AppendEngineMetrics(const RunStatus& status, std::string* out);

// Appends the server's families: requests by route and status code and their latency
// histogram, summed over `threads`, then the connection counters and the catch-up errors.
void AppendServerMetrics(std::span<const ThreadMetrics> threads, const ServerCounters& counters,
                         std::string* out);

}  // namespace statefold
