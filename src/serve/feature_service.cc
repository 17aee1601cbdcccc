// FeatureService: routes, JSON, metrics and the follower of the state directory.
//
// Each event-loop thread has a Router: its own online store instance, JSON parser, buffers
// and metrics shard, so a request takes no lock. Metrics shards are written by their thread
// only (relaxed atomics) and summed by whichever thread answers /metrics.

#include "serve/feature_service.h"

#include <signal.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "online/online_store.h"
#include "state/state_layout.h"
#include "state/state_schema.h"
#include "state/state_store.h"

namespace statefold {
namespace {

using Clock = std::chrono::steady_clock;

enum Route : int { kFeatures, kQuery, kMetrics, kHealthz, kUnknown, kRejected, kRouteCount };
constexpr const char* kRouteNames[kRouteCount] = {"features", "query",   "metrics",
                                                  "healthz",  "unknown", "rejected"};

constexpr double kBucketSeconds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
constexpr int kBuckets = sizeof kBucketSeconds / sizeof kBucketSeconds[0] + 1;  // + "+Inf"
constexpr int kFirstStatus = 100;
constexpr int kStatusCount = 500;  // 100 .. 599

constexpr std::string_view kFeaturesPrefix = "/v1/features/";
constexpr std::string_view kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";

// The request metrics of one loop thread. Only that thread writes; /metrics reads.
struct alignas(64) ThreadMetrics {
  struct PerRoute {
    std::atomic<uint64_t> by_status[kStatusCount];
    std::atomic<uint64_t> buckets[kBuckets];  // not cumulative; summed when exported
    std::atomic<uint64_t> sum_ns;
    std::atomic<uint64_t> count;
  };
  PerRoute routes[kRouteCount];

  static void Add(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void Record(Route route, int status, const uint64_t* latency_ns) {
    PerRoute& r = routes[route];
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
};

void AppendNumber(double value, std::string* out) {
  char buffer[32];
  out->append(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

void AppendInteger(int64_t value, std::string* out) {
  char buffer[24];
  out->append(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

// A Prometheus label value: backslash, double quote and line feed escaped.
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

void SetError(HttpResponse* response, int status, std::string_view code, std::string_view message) {
  response->status = status;
  response->content_type = "application/json";
  response->body.assign("{\"error\":{\"code\":");
  AppendJsonString(code, &response->body);
  response->body.append(",\"message\":");
  AppendJsonString(message, &response->body);
  response->body.append("}}");
}

std::string_view ErrorCode(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 411:
      return "length_required";
    case 413:
      return "payload_too_large";
    case 431:
      return "header_too_large";
    case 501:
      return "not_implemented";
    case 503:
      return "unavailable";
    case 505:
      return "http_version_not_supported";
    default:
      return "internal";
  }
}

// Compares in time that depends only on the lengths, so that a wrong token's answer does not
// tell how much of it was right.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  return difference == 0;
}

}  // namespace

class FeatureService::Impl {
 public:
  explicit Impl(const FeatureServiceOptions& options) : options_(options) {}
  ~Impl() { Stop(); }

  Status Start();
  void Stop();
  int port() const { return server_->port(); }

  const FeatureServiceOptions& options() const { return options_; }
  bool stopping() const { return stopping_flag_.load(std::memory_order_relaxed); }

  // The follower of the state directory is replaced when the engine flushes (see
  // StateStore::CatchUp); each replacement increments the generation (0: none open yet).
  // A reader keeps the follower it got until it moves to a newer generation.
  uint64_t store_generation() const { return store_generation_.load(std::memory_order_acquire); }
  std::shared_ptr<StateStore> CurrentStore(uint64_t* generation) {
    std::lock_guard<std::mutex> lock(store_mutex_);
    *generation = store_generation_.load(std::memory_order_relaxed);
    return state_store_;
  }

  // Appends the engine's metrics (from the last checkpoint's "status" record in `store`, if
  // any) and the server's. `parser` is the calling thread's.
  void AppendMetrics(StateStore* store, simdjson::dom::parser* parser, std::string* out);

 private:
  Status OpenStateDir();
  void Follow();
  void AppendEngineMetrics(StateStore* store, simdjson::dom::parser* parser, std::string* out);
  void AppendServerMetrics(std::string* out);

  FeatureServiceOptions options_;
  std::mutex store_mutex_;
  std::shared_ptr<StateStore> state_store_;  // guarded by store_mutex_
  std::atomic<uint64_t> store_generation_{0};
  std::atomic<uint64_t> catch_up_errors_{0};
  std::vector<std::unique_ptr<ThreadMetrics>> metrics_;
  std::unique_ptr<HttpServer> server_;  // destroyed before the store its handlers read

  std::thread follower_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::atomic<bool> stopping_flag_{false};
};

namespace {

// The handler of one event-loop thread.
class Router : public HttpHandler {
 public:
  Router(FeatureService::Impl* service, ThreadMetrics* metrics)
      : service_(service), options_(service->options()), metrics_(metrics) {}

  // Opens this thread's online store now when it can (so that a bad URL fails Start);
  // an embedded store whose state directory does not exist yet opens on first use.
  Status OpenStore() {
    state_store_ = service_->CurrentStore(&generation_);
    if (IsEmbeddedUrl(options_.online_store_url) && state_store_ == nullptr) return Status::Ok();
    return OpenOnlineStore(StoreOptions(), state_store_.get(), &online_);
  }

  void Handle(const HttpRequest& request, HttpResponse* response) override {
    Clock::time_point start = Clock::now();
    if (service_->store_generation() != generation_) {
      // A newer follower of the state directory: move to it (the embedded store reads it).
      if (IsEmbeddedUrl(options_.online_store_url)) online_.reset();
      state_store_ = service_->CurrentStore(&generation_);
    }
    Route route = Dispatch(request, response);
    uint64_t latency_ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    metrics_->Record(route, response->status, &latency_ns);
  }

  void Rejected(std::string_view message, HttpResponse* response) override {
    SetError(response, response->status, ErrorCode(response->status), message);
    metrics_->Record(kRejected, response->status, nullptr);
  }

 private:
  OnlineStoreOptions StoreOptions() const {
    OnlineStoreOptions store_options;
    store_options.url = options_.online_store_url;
    FeatureService::Impl* service = service_;
    store_options.should_stop = [service] { return service->stopping(); };
    return store_options;
  }

  Route Dispatch(const HttpRequest& request, HttpResponse* response) {
    std::string_view path = request.path;
    Route route = path == "/healthz"                  ? kHealthz
                  : path.starts_with(kFeaturesPrefix) ? kFeatures
                  : path == "/v1/query"               ? kQuery
                  : path == "/metrics"                ? kMetrics
                                                      : kUnknown;
    if (route != kHealthz && !options_.token.empty() && !Authorized(request, response)) {
      return route;
    }
    if (route == kUnknown) {
      std::string message = "no route for ";
      message.append(path.substr(0, 200));
      message.append(
          " (routes: GET /v1/features/{namespace}/{id}, POST /v1/query, GET /metrics, "
          "GET /healthz)");
      SetError(response, 404, "not_found", message);
      return route;
    }
    bool get = request.method == "GET" || request.method == "HEAD";
    bool allowed = route == kQuery ? request.method == "POST" : get;
    if (!allowed) {
      std::string_view allow = route == kQuery ? "POST" : "GET, HEAD";
      response->AddHeader("Allow", allow);
      SetError(response, 405, "method_not_allowed",
               std::string(request.method) + " is not allowed here; use " + std::string(allow));
      return route;
    }
    switch (route) {
      case kHealthz:
        response->body.assign("{\"status\":\"ok\"}");
        break;
      case kFeatures:
        GetFeatures(path.substr(kFeaturesPrefix.size()), response);
        break;
      case kQuery:
        Query(request.body, response);
        break;
      case kMetrics:
        response->content_type = kPrometheusType;
        service_->AppendMetrics(state_store_.get(), &parser_, &response->body);
        break;
      default:
        break;
    }
    return route;
  }

  bool Authorized(const HttpRequest& request, HttpResponse* response) {
    std::string_view header = request.Header("authorization");
    constexpr std::string_view kScheme = "bearer ";
    bool bearer = header.size() > kScheme.size();
    for (size_t i = 0; bearer && i < kScheme.size(); ++i) {
      bearer = (header[i] | 0x20) == kScheme[i];
    }
    if (!bearer) {
      response->AddHeader("WWW-Authenticate", "Bearer realm=\"statefold\"");
      SetError(response, 401, "unauthorized",
               "this server requires a token: send Authorization: Bearer <token>");
      return false;
    }
    if (!ConstantTimeEquals(header.substr(kScheme.size()), options_.token)) {
      response->AddHeader("WWW-Authenticate",
                          "Bearer realm=\"statefold\", error=\"invalid_token\"");
      SetError(response, 401, "unauthorized", "the bearer token is not valid");
      return false;
    }
    return true;
  }

  // This thread's online store, or null after answering 503.
  OnlineStore* Store(HttpResponse* response) {
    if (online_ != nullptr) return online_.get();
    StateStore* state = state_store_.get();
    if (IsEmbeddedUrl(options_.online_store_url) && state == nullptr) {
      SetError(response, 503, "unavailable",
               "the state directory " + options_.state_dir + " has no checkpoint yet");
      return nullptr;
    }
    Status status = OpenOnlineStore(StoreOptions(), state, &online_);
    if (!status.ok()) {
      SetError(response, 503, "unavailable", status.message());
      return nullptr;
    }
    return online_.get();
  }

  // Reads one entity into features_; false after answering with an error.
  bool ReadEntity(std::string_view ns, std::string_view id, HttpResponse* response) {
    OnlineStore* store = Store(response);
    if (store == nullptr) return false;
    Status status = store->ReadEntity(ns, id, &features_);
    if (!status.ok()) {
      SetError(response, 500, "internal", status.ToString());
      return false;
    }
    return true;
  }

  // GET /v1/features/{namespace}/{id}; `rest` is "{namespace}/{id}", still encoded.
  void GetFeatures(std::string_view rest, HttpResponse* response) {
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
      SetError(response, 404, "not_found", "use GET /v1/features/{namespace}/{id}");
      return;
    }
    if (!PercentDecode(rest.substr(0, slash), &ns_) ||
        !PercentDecode(rest.substr(slash + 1), &id_)) {
      SetError(response, 400, "bad_request", "malformed percent-encoding in the path");
      return;
    }
    if (!simdjson::validate_utf8(ns_) || !simdjson::validate_utf8(id_)) {
      SetError(response, 400, "bad_request", "the namespace and id must be UTF-8");
      return;
    }
    if (!ReadEntity(ns_, id_, response)) return;
    if (features_.empty()) {
      SetError(response, 404, "not_found", "no features for " + ns_ + " " + id_);
      return;
    }
    std::string& body = response->body;
    body.assign("{\"namespace\":");
    AppendJsonString(ns_, &body);
    body.append(",\"id\":");
    AppendJsonString(id_, &body);
    body.append(",\"features\":{");
    for (size_t i = 0; i < features_.size(); ++i) {
      const StoredFeature& f = features_[i];
      if (i > 0) body.push_back(',');
      AppendJsonString(f.feature, &body);
      body.append(":{\"value\":").append(f.value_json).append(",\"time_ms\":");
      AppendInteger(f.time_ms, &body);
      body.append(",\"offset\":");
      AppendInteger(f.offset, &body);
      body.push_back('}');
    }
    body.append("}}");
  }

  // POST /v1/query: {"inputs": {"user.id": [ids]}, "outputs": ["user.x", ...],
  // "include_meta": false}. See docs/operations.md.
  void Query(std::string_view text, HttpResponse* response) {
    auto invalid = [&](std::string_view message) {
      SetError(response, 400, "invalid_query", message);
    };
    simdjson::dom::element document;
    simdjson::error_code error = parser_.parse(text.data(), text.size()).get(document);
    if (error) {
      SetError(response, 400, "invalid_json",
               text.empty()
                   ? std::string("the body is empty: send a JSON object with \"inputs\" "
                                 "and \"outputs\"")
                   : std::string("the body is not valid JSON: ") + simdjson::error_message(error));
      return;
    }
    simdjson::dom::object root;
    if (document.get_object().get(root)) {
      invalid("the body must be a JSON object with \"inputs\" and \"outputs\"");
      return;
    }
    simdjson::dom::element inputs, outputs;
    bool have_inputs = false, have_outputs = false, include_meta = false;
    for (simdjson::dom::key_value_pair field : root) {
      if (field.key == "inputs") {
        inputs = field.value;
        have_inputs = true;
      } else if (field.key == "outputs") {
        outputs = field.value;
        have_outputs = true;
      } else if (field.key == "include_meta") {
        if (field.value.get_bool().get(include_meta)) {
          invalid("\"include_meta\" must be true or false");
          return;
        }
      } else {
        invalid("unknown field \"" + std::string(field.key) +
                "\" (expected \"inputs\", \"outputs\" and optionally \"include_meta\")");
        return;
      }
    }

    // inputs: exactly one fully qualified primary key, with a list of ids.
    simdjson::dom::object input_object;
    if (!have_inputs || inputs.get_object().get(input_object) || input_object.size() != 1) {
      invalid(!have_inputs || !inputs.is_object()
                  ? "\"inputs\" must be an object with one primary key and a list of ids, e.g. "
                    "{\"user.id\": [\"u1\", \"u2\"]}"
                  : "\"inputs\" must name exactly one primary key, got " +
                        std::to_string(input_object.size()));
      return;
    }
    simdjson::dom::key_value_pair input = *input_object.begin();
    std::string_view input_key = input.key;
    size_t dot = input_key.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == input_key.size()) {
      invalid("input \"" + std::string(input_key) +
              "\" is not a fully qualified primary key (namespace.feature, e.g. user.id)");
      return;
    }
    std::string_view ns = input_key.substr(0, dot);
    simdjson::dom::array id_list;
    if (input.value.get_array().get(id_list)) {
      invalid("inputs[\"" + std::string(input_key) + "\"] must be a list of ids");
      return;
    }
    if (id_list.size() > options_.max_query_inputs) {
      SetError(response, 400, "too_many_inputs",
               std::to_string(id_list.size()) + " ids in one query; at most " +
                   std::to_string(options_.max_query_inputs));
      return;
    }
    ids_.clear();
    id_is_number_.clear();
    size_t index = 0;
    for (simdjson::dom::element id : id_list) {
      std::string_view text_id;
      int64_t signed_id;
      uint64_t unsigned_id;
      if (!id.get_string().get(text_id)) {
        ids_.emplace_back(text_id);
        id_is_number_.push_back(false);
      } else if (!id.get_int64().get(signed_id)) {
        ids_.push_back(std::to_string(signed_id));
        id_is_number_.push_back(true);
      } else if (!id.get_uint64().get(unsigned_id)) {
        ids_.push_back(std::to_string(unsigned_id));
        id_is_number_.push_back(true);
      } else {
        invalid("inputs[\"" + std::string(input_key) + "\"][" + std::to_string(index) +
                "] must be a string or an integer");
        return;
      }
      ++index;
    }

    // outputs: fully qualified features of the input's namespace.
    simdjson::dom::array output_list;
    if (!have_outputs || outputs.get_array().get(output_list) || output_list.size() == 0) {
      invalid("\"outputs\" must be a non-empty list of features, e.g. [\"" + std::string(ns) +
              ".unique_ip_count\"]");
      return;
    }
    if (output_list.size() > options_.max_query_outputs) {
      invalid(std::to_string(output_list.size()) + " outputs in one query; at most " +
              std::to_string(options_.max_query_outputs));
      return;
    }
    outputs_.clear();
    for (simdjson::dom::element output : output_list) {
      std::string_view name;
      if (output.get_string().get(name)) {
        invalid("\"outputs\" must list feature names as strings");
        return;
      }
      if (name.size() <= ns.size() + 1 || name.substr(0, ns.size()) != ns ||
          name[ns.size()] != '.') {
        invalid("output \"" + std::string(name) +
                "\" is not a feature of the input's namespace \"" + std::string(ns) + "\"");
        return;
      }
      if (name == input_key ||
          std::find(outputs_.begin(), outputs_.end(), name) != outputs_.end()) {
        continue;  // the row has it already
      }
      outputs_.push_back(name);
    }

    std::string& body = response->body;
    body.assign("{\"rows\":[");
    for (size_t i = 0; i < ids_.size(); ++i) {
      if (!ReadEntity(ns, ids_[i], response)) return;
      if (i > 0) body.push_back(',');
      body.push_back('{');
      AppendJsonString(input_key, &body);
      body.push_back(':');
      if (id_is_number_[i]) {
        body.append(ids_[i]);
      } else {
        AppendJsonString(ids_[i], &body);
      }
      for (std::string_view output : outputs_) {
        body.push_back(',');
        AppendJsonString(output, &body);
        body.push_back(':');
        const StoredFeature* f = Find(output.substr(ns.size() + 1));
        body.append(f != nullptr ? std::string_view(f->value_json) : std::string_view("null"));
      }
      if (include_meta) {
        body.append(",\"meta\":{");
        bool first = true;
        for (std::string_view output : outputs_) {
          const StoredFeature* f = Find(output.substr(ns.size() + 1));
          if (f == nullptr) continue;
          if (!first) body.push_back(',');
          first = false;
          AppendJsonString(output, &body);
          body.append(":{\"time_ms\":");
          AppendInteger(f->time_ms, &body);
          body.append(",\"offset\":");
          AppendInteger(f->offset, &body);
          body.push_back('}');
        }
        body.push_back('}');
      }
      body.push_back('}');
    }
    body.append("]}");
  }

  // The feature named `name` in features_ (sorted by name), or null.
  const StoredFeature* Find(std::string_view name) const {
    auto it = std::lower_bound(
        features_.begin(), features_.end(), name,
        [](const StoredFeature& f, std::string_view n) { return std::string_view(f.feature) < n; });
    return it != features_.end() && it->feature == name ? &*it : nullptr;
  }

  FeatureService::Impl* service_;
  const FeatureServiceOptions& options_;
  ThreadMetrics* metrics_;
  uint64_t generation_ = 0;                  // of state_store_
  std::shared_ptr<StateStore> state_store_;  // null before the state directory is open
  std::unique_ptr<OnlineStore> online_;      // reads state_store_ (embedded) or a remote store
  simdjson::dom::parser parser_;
  // Reused across requests.
  std::vector<StoredFeature> features_;
  std::string ns_, id_;
  std::vector<std::string> ids_;
  std::vector<char> id_is_number_;
  std::vector<std::string_view> outputs_;
};

}  // namespace

Status FeatureService::Impl::OpenStateDir() {
  StateStore::Options store_options;
  store_options.mode = StateStore::Mode::kFollower;
  std::unique_ptr<StateStore> store;
  STATEFOLD_RETURN_IF_ERROR(StateStore::Open(options_.state_dir, store_options, &store));
  std::lock_guard<std::mutex> lock(store_mutex_);
  state_store_ = std::move(store);
  store_generation_.fetch_add(1, std::memory_order_release);
  return Status::Ok();
}

Status FeatureService::Impl::Start() {
  if (IsEmbeddedUrl(options_.online_store_url) && options_.state_dir.empty()) {
    return Status::InvalidArgument("the embedded online store needs a state directory");
  }
  if (!options_.state_dir.empty()) {
    Status status = OpenStateDir();
    if (!status.ok() && !(status.IsNotFound() && options_.wait_for_state_dir)) return status;
  }
  for (int i = 0; i < options_.http.threads; ++i) {
    metrics_.push_back(std::make_unique<ThreadMetrics>());
  }
  server_ = std::make_unique<HttpServer>(
      options_.http, [this](int thread, std::unique_ptr<HttpHandler>* handler) {
        auto router = std::make_unique<Router>(this, metrics_[thread].get());
        STATEFOLD_RETURN_IF_ERROR(router->OpenStore());
        *handler = std::move(router);
        return Status::Ok();
      });
  STATEFOLD_RETURN_IF_ERROR(server_->Start());
  if (!options_.state_dir.empty()) {
    // Like the loops, the follower blocks signals, so that they reach the thread that
    // expects them (the Python interpreter's main thread).
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    follower_ = std::thread([this] { Follow(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }
  return Status::Ok();
}

void FeatureService::Impl::Stop() {
  stopping_flag_.store(true, std::memory_order_relaxed);
  if (server_ != nullptr) server_->Stop();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (follower_.joinable()) follower_.join();
}

// Opens the state directory once it exists, then catches up with the engine's commits, and
// opens a new follower after the engine flushes.
void FeatureService::Impl::Follow() {
  // An engine that is creating the directory can fail an open for a moment (column families
  // not created yet): only a failure that lasts is reported.
  constexpr int kFailuresReported = 50;
  int open_failures = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(options_.catch_up_interval_ms));
    if (stopping_) break;
    lock.unlock();
    uint64_t generation;
    std::shared_ptr<StateStore> store = CurrentStore(&generation);
    Status status;
    if (store == nullptr) {
      status = OpenStateDir();
      if (!status.ok() && !status.IsNotFound() && ++open_failures == kFailuresReported) {
        fprintf(stderr, "statefold: serve: %s\n", status.ToString().c_str());
      }
    } else {
      bool must_reopen = false;
      status = store->CatchUp(&must_reopen);
      if (status.ok() && must_reopen) status = OpenStateDir();
      if (!status.ok() && catch_up_errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
        fprintf(stderr, "statefold: serve: %s\n", status.ToString().c_str());
      }
    }
    lock.lock();
  }
}

void FeatureService::Impl::AppendMetrics(StateStore* store, simdjson::dom::parser* parser,
                                         std::string* out) {
  AppendEngineMetrics(store, parser, out);
  AppendServerMetrics(out);
}

void FeatureService::Impl::AppendEngineMetrics(StateStore* store, simdjson::dom::parser* parser,
                                               std::string* out) {
  if (store == nullptr) return;
  std::string json;
  bool found = false;
  if (!store->GetMeta(state_layout::kRunStatusKey, &json, &found).ok() || !found) return;
  simdjson::dom::element status;
  if (parser->parse(json).get(status)) return;

  // A number field of `object`; false when absent or null (a lag that is not known).
  auto number = [](simdjson::dom::element object, const char* key, double* value) {
    simdjson::dom::element e;
    if (object[key].get(e) || e.is_null()) return false;
    return !e.get_double().get(*value);
  };
  struct Counter {
    const char* field;
    const char* name;
    const char* help;
  };
  static constexpr Counter kCounters[] = {
      {"messages", "statefold_messages_total",
       "Records read from the sources in the engine's run."},
      {"outputs", "statefold_outputs_total", "Resolver calls that returned features."},
      {"resolver_errors", "statefold_resolver_errors_total",
       "Resolver calls that raised or returned an invalid value."},
      {"dead_letters", "statefold_dead_letters_total", "Dead letters recorded in the run."},
      {"checkpoints", "statefold_checkpoints_total", "Checkpoints committed in the run."},
  };
  simdjson::dom::element run;
  if (status["run"].get(run)) return;
  double value;
  for (const Counter& c : kCounters) {
    if (!number(run, c.field, &value)) continue;
    AppendFamily(c.name, "counter", c.help, out);
    AppendSeries(c.name, {}, out);
    AppendNumber(value, out);
    out->push_back('\n');
  }
  // Milliseconds in the status record, seconds in Prometheus.
  auto seconds_gauge = [&](simdjson::dom::element object, const char* field, const char* name,
                           const char* help) {
    if (!number(object, field, &value)) return;
    AppendFamily(name, "gauge", help, out);
    AppendSeries(name, {}, out);
    AppendNumber(value / 1000, out);
    out->push_back('\n');
  };
  seconds_gauge(run, "last_checkpoint_commit_ms", "statefold_checkpoint_commit_seconds",
                "Time the previous checkpoint took to commit.");
  seconds_gauge(status, "updated_ms", "statefold_last_checkpoint_timestamp_seconds",
                "Wall-clock time of the last checkpoint (Unix seconds).");
  seconds_gauge(run, "started_ms", "statefold_run_start_timestamp_seconds",
                "Wall-clock time the engine's run started (Unix seconds).");

  simdjson::dom::object sources;
  if (!status["sources"].get_object().get(sources)) {
    AppendFamily("statefold_source_skipped_late_total", "counter",
                 "Records skipped for being older than the late-arrival deadline.", out);
    for (simdjson::dom::key_value_pair source : sources) {
      if (!number(source.value, "skipped_late", &value)) continue;
      AppendSeries("statefold_source_skipped_late_total", {{"source", source.key}}, out);
      AppendNumber(value, out);
      out->push_back('\n');
    }
    struct PartitionGauge {
      const char* field;
      const char* name;
      const char* help;
    };
    static constexpr PartitionGauge kPartitionGauges[] = {
        {"next_offset", "statefold_source_next_offset",
         "Offset of the next record to read, per source partition, as checkpointed."},
        {"lag", "statefold_source_lag",
         "Records behind the end of the partition (Kafka: high watermark minus position)."},
    };
    for (const PartitionGauge& g : kPartitionGauges) {
      AppendFamily(g.name, "gauge", g.help, out);
      for (simdjson::dom::key_value_pair source : sources) {
        simdjson::dom::object partitions;
        if (source.value["partitions"].get_object().get(partitions)) continue;
        for (simdjson::dom::key_value_pair partition : partitions) {
          if (!number(partition.value, g.field, &value)) continue;
          AppendSeries(g.name, {{"source", source.key}, {"partition", partition.key}}, out);
          AppendNumber(value, out);
          out->push_back('\n');
        }
      }
    }
  }
  simdjson::dom::object resolvers;
  if (!status["resolvers"].get_object().get(resolvers)) {
    AppendFamily("statefold_resolver_keys", "gauge", "Keys with state, per resolver.", out);
    for (simdjson::dom::key_value_pair resolver : resolvers) {
      if (!number(resolver.value, "keys", &value)) continue;
      AppendSeries("statefold_resolver_keys", {{"resolver", resolver.key}}, out);
      AppendNumber(value, out);
      out->push_back('\n');
    }
  }
}

void FeatureService::Impl::AppendServerMetrics(std::string* out) {
  AppendFamily("statefold_http_requests_total", "counter",
               "HTTP requests answered, by route and status code.", out);
  char code[8];
  for (int route = 0; route < kRouteCount; ++route) {
    for (int s = 0; s < kStatusCount; ++s) {
      uint64_t total = 0;
      for (const auto& m : metrics_) {
        total += m->routes[route].by_status[s].load(std::memory_order_relaxed);
      }
      if (total == 0) continue;
      std::string_view code_text(
          code, std::to_chars(code, code + sizeof code, s + kFirstStatus).ptr - code);
      AppendSeries("statefold_http_requests_total",
                   {{"route", kRouteNames[route]}, {"code", code_text}}, out);
      AppendInteger(static_cast<int64_t>(total), out);
      out->push_back('\n');
    }
  }
  AppendFamily("statefold_http_request_duration_seconds", "histogram",
               "Time to answer a request, from its last byte received to its response built.", out);
  for (int route = 0; route < kRouteCount; ++route) {
    if (route == kRejected) continue;  // answered by the server without timing
    uint64_t cumulative = 0, sum_ns = 0, count = 0;
    for (const auto& m : metrics_) {
      sum_ns += m->routes[route].sum_ns.load(std::memory_order_relaxed);
      count += m->routes[route].count.load(std::memory_order_relaxed);
    }
    for (int b = 0; b < kBuckets; ++b) {
      for (const auto& m : metrics_) {
        cumulative += m->routes[route].buckets[b].load(std::memory_order_relaxed);
      }
      std::string bound;
      if (b + 1 < kBuckets) {
        AppendNumber(kBucketSeconds[b], &bound);
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
    AppendNumber(static_cast<double>(sum_ns) * 1e-9, out);
    out->push_back('\n');
    AppendSeries("statefold_http_request_duration_seconds_count", {{"route", kRouteNames[route]}},
                 out);
    AppendInteger(static_cast<int64_t>(count), out);
    out->push_back('\n');
  }
  AppendFamily("statefold_http_open_connections", "gauge", "Open client connections.", out);
  AppendSeries("statefold_http_open_connections", {}, out);
  AppendInteger(server_->open_connections(), out);
  out->push_back('\n');
  AppendFamily("statefold_http_connections_total", "counter", "Client connections accepted.", out);
  AppendSeries("statefold_http_connections_total", {}, out);
  AppendInteger(static_cast<int64_t>(server_->accepted_connections()), out);
  out->push_back('\n');
  if (!options_.state_dir.empty()) {
    AppendFamily("statefold_serve_catch_up_errors_total", "counter",
                 "Failed attempts to catch up with the engine's state directory.", out);
    AppendSeries("statefold_serve_catch_up_errors_total", {}, out);
    AppendInteger(static_cast<int64_t>(catch_up_errors_.load(std::memory_order_relaxed)), out);
    out->push_back('\n');
  }
}

Status FeatureService::Start(const FeatureServiceOptions& options,
                             std::unique_ptr<FeatureService>* service) {
  auto impl = std::make_unique<Impl>(options);
  STATEFOLD_RETURN_IF_ERROR(impl->Start());
  service->reset(new FeatureService(std::move(impl)));
  return Status::Ok();
}

FeatureService::FeatureService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FeatureService::~FeatureService() { Stop(); }
void FeatureService::Stop() { impl_->Stop(); }
int FeatureService::port() const { return impl_->port(); }

}  // namespace statefold
