// The Prometheus text of /metrics (see metrics.h).

#include "serve/metrics.h"

#include <charconv>
#include <initializer_list>
#include <utility>

#include "util/number_text.h"

namespace statefold {
namespace {

constexpr const char* kRouteNames[kRouteCount] = {"features", "query",   "metrics",
                                                  "healthz",  "unknown", "rejected"};

// A label value: backslash, double quote and line feed escaped.
void AppendLabelValue(std::string_view value, std::string* out) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// The HELP and TYPE lines of a family.
void AppendFamily(std::string_view name, std::string_view type, std::string_view help,
                  std::string* out) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out->append(name).append(" ").append(type).append("\n");
}

// `name{label="value",...} ` (the trailing space included); labels are (name, value) pairs.
void AppendSeries(std::string_view name,
                  std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                  std::string* out) {
  out->append(name);
  if (labels.size() > 0) {
    out->push_back('{');
    bool first = true;
    for (const auto& [label, value] : labels) {
      if (!first) out->push_back(',');
      first = false;
      out->append(label).append("=\"");
      AppendLabelValue(value, out);
      out->push_back('"');
    }
    out->push_back('}');
  }
  out->push_back(' ');
}

// A family of one series without labels.
void AppendSingle(std::string_view name, std::string_view type, std::string_view help, double value,
                  std::string* out) {
  AppendFamily(name, type, help, out);
  AppendSeries(name, {}, out);
  AppendShortestDouble(value, out);
  out->push_back('\n');
}

// A gauge family with a series per source partition; `value_of(partition)` gives its value,
// or nothing to leave the partition out.
template <class ValueOf>
void AppendPartitionGauge(const RunStatus& status, std::string_view name, std::string_view help,
                          ValueOf value_of, std::string* out) {
  AppendFamily(name, "gauge", help, out);
  std::string partition_label;
  for (const RunStatus::Source& source : status.sources) {
    for (const RunStatus::Partition& partition : source.partitions) {
      std::optional<int64_t> value = value_of(partition);
      if (!value) continue;
      partition_label.clear();
      AppendInteger(partition.partition, &partition_label);
      AppendSeries(name, {{"source", source.name}, {"partition", partition_label}}, out);
      AppendShortestDouble(static_cast<double>(*value), out);
      out->push_back('\n');
    }
  }
}

}  // namespace

std::string_view RouteName(Route route) { return kRouteNames[static_cast<int>(route)]; }

void AppendEngineMetrics(const RunStatus& status, std::string* out) {
  // Counters are written as doubles, as Prometheus reads them.
  struct Counter {
    uint64_t value;
    const char* name;
    const char* help;
  };
  const Counter counters[] = {
      {status.messages, "statefold_messages_total",
       "Records read from the sources in the engine's run."},
      {status.outputs, "statefold_outputs_total", "Resolver calls that returned features."},
      {status.resolver_errors, "statefold_resolver_errors_total",
       "Resolver calls that raised or returned an invalid value."},
      {status.dead_letters, "statefold_dead_letters_total", "Dead letters recorded in the run."},
      {status.checkpoints, "statefold_checkpoints_total", "Checkpoints committed in the run."},
  };
  for (const Counter& c : counters) {
    AppendSingle(c.name, "counter", c.help, static_cast<double>(c.value), out);
  }
  // Milliseconds in the record, seconds in Prometheus.
  AppendSingle("statefold_checkpoint_commit_seconds", "gauge",
               "Time the previous checkpoint took to commit.",
               status.last_checkpoint_commit_ms / 1000, out);
  AppendSingle("statefold_last_checkpoint_timestamp_seconds", "gauge",
               "Wall-clock time of the last checkpoint (Unix seconds).",
               static_cast<double>(status.updated_ms) / 1000, out);
  AppendSingle("statefold_run_start_timestamp_seconds", "gauge",
               "Wall-clock time the engine's run started (Unix seconds).",
               static_cast<double>(status.started_ms) / 1000, out);

  AppendFamily("statefold_source_skipped_late_total", "counter",
               "Records skipped for being older than the late-arrival deadline.", out);
  for (const RunStatus::Source& source : status.sources) {
    AppendSeries("statefold_source_skipped_late_total", {{"source", source.name}}, out);
    AppendShortestDouble(static_cast<double>(source.skipped_late), out);
    out->push_back('\n');
  }
  AppendPartitionGauge(
      status, "statefold_source_next_offset",
      "Offset of the next record to read, per source partition, as checkpointed.",
      [](const RunStatus::Partition& p) { return std::optional<int64_t>(p.next_offset); }, out);
  AppendPartitionGauge(
      status, "statefold_source_lag",
      "Records behind the end of the partition (Kafka: high watermark minus position).",
      [](const RunStatus::Partition& p) { return p.lag; }, out);

  AppendFamily("statefold_resolver_keys", "gauge", "Keys with state, per resolver.", out);
  for (const RunStatus::Resolver& resolver : status.resolvers) {
    AppendSeries("statefold_resolver_keys", {{"resolver", resolver.name}}, out);
    AppendShortestDouble(static_cast<double>(resolver.keys), out);
    out->push_back('\n');
  }
}

void AppendServerMetrics(std::span<const ThreadMetrics> threads, const ServerCounters& counters,
                         std::string* out) {
  AppendFamily("statefold_http_requests_total", "counter",
               "HTTP requests answered, by route and status code.", out);
  char code[8];
  for (int route = 0; route < kRouteCount; ++route) {
    for (int s = 0; s < ThreadMetrics::kStatusCount; ++s) {
      uint64_t total = 0;
      for (const ThreadMetrics& m : threads) {
        total += m.routes[route].by_status[s].load(std::memory_order_relaxed);
      }
      if (total == 0) continue;
      std::string_view code_text(
          code,
          std::to_chars(code, code + sizeof code, s + ThreadMetrics::kFirstStatus).ptr - code);
      AppendSeries("statefold_http_requests_total",
                   {{"route", kRouteNames[route]}, {"code", code_text}}, out);
      AppendInteger(static_cast<int64_t>(total), out);
      out->push_back('\n');
    }
  }
  AppendFamily("statefold_http_request_duration_seconds", "histogram",
               "Time to answer a request, from its last byte received to its response built.", out);
  for (int route = 0; route < kRouteCount; ++route) {
    if (route == static_cast<int>(Route::kRejected)) continue;  // answered without timing
    uint64_t cumulative = 0, sum_ns = 0, count = 0;
    for (const ThreadMetrics& m : threads) {
      sum_ns += m.routes[route].sum_ns.load(std::memory_order_relaxed);
      count += m.routes[route].count.load(std::memory_order_relaxed);
    }
    for (int b = 0; b < ThreadMetrics::kBuckets; ++b) {
      for (const ThreadMetrics& m : threads) {
        cumulative += m.routes[route].buckets[b].load(std::memory_order_relaxed);
      }
      std::string bound;
      if (b + 1 < ThreadMetrics::kBuckets) {
        AppendShortestDouble(ThreadMetrics::kBucketSeconds[b], &bound);
      } else {
        bound = "+Inf";
      }
      AppendSeries("statefold_http_request_duration_seconds_bucket",
                   {{"route", kRouteNames[route]}, {"le", bound}}, out);
      AppendInteger(static_cast<int64_t>(cumulative), out);
      out->push_back('\n');
    }
    AppendSeries("statefold_http_request_duration_seconds_sum", {{"route", kRouteNames[route]}},
                 out);
    AppendShortestDouble(static_cast<double>(sum_ns) * 1e-9, out);
    out->push_back('\n');
    AppendSeries("statefold_http_request_duration_seconds_count", {{"route", kRouteNames[route]}},
                 out);
    AppendInteger(static_cast<int64_t>(count), out);
    out->push_back('\n');
  }
  AppendFamily("statefold_http_open_connections", "gauge", "Open client connections.", out);
  AppendSeries("statefold_http_open_connections", {}, out);
  AppendInteger(counters.open_connections, out);
  out->push_back('\n');
  AppendFamily("statefold_http_connections_total", "counter", "Client connections accepted.", out);
  AppendSeries("statefold_http_connections_total", {}, out);
  AppendInteger(static_cast<int64_t>(counters.accepted_connections), out);
  out->push_back('\n');
  if (counters.catch_up_errors) {
    AppendFamily("statefold_serve_catch_up_errors_total", "counter",
                 "Failed attempts to catch up with the engine's state directory.", out);
    AppendSeries("statefold_serve_catch_up_errors_total", {}, out);
    AppendInteger(static_cast<int64_t>(*counters.catch_up_errors), out);
    out->push_back('\n');
  }
}

}  // namespace statefold
