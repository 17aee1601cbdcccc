// FeatureService: the routes of the serving API and the bearer token; the thread that follows
// the state directory. The query (query.h), the metrics (metrics.h) and the follower's
// generations (state/state_follower.h) live beside it.
//
// Each event-loop thread has a Router: its own online store instance, JSON parser, buffers
// and metrics shard, so a request takes no lock.

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
#include "serve/metrics.h"
#include "serve/query.h"
#include "state/run_status.h"
#include "state/state_follower.h"
#include "state/state_store.h"
#include "statefold/json_text.h"
#include "util/number_text.h"

namespace statefold {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kFeaturesPrefix = "/v1/features/";

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
  explicit Impl(const FeatureServiceOptions& options)
      : options_(options), follower_(options.state_dir) {}
  ~Impl() { Stop(); }

  Status Start();
  void Stop();
  int port() const { return server_->port(); }

  const FeatureServiceOptions& options() const { return options_; }
  bool stopping() const { return stopping_flag_.load(std::memory_order_relaxed); }
  const StateFollower* follower() const { return &follower_; }

  // Appends the engine's metrics (from the last checkpoint's run status record in `store`, if
  // any) and the server's.
  void AppendMetrics(StateStore* store, std::string* out);

 private:
  void Follow();

  FeatureServiceOptions options_;
  StateFollower follower_;  // never opened without a state directory
  std::atomic<uint64_t> catch_up_errors_{0};
  std::vector<ThreadMetrics> metrics_;  // one per event-loop thread
  std::unique_ptr<HttpServer> server_;  // destroyed before the follower its handlers read

  std::thread follower_thread_;
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
      : service_(service),
        options_(service->options()),
        metrics_(metrics),
        follower_(service->follower()),
        limits_{options_.max_query_inputs, options_.max_query_outputs} {}

  // Opens this thread's online store now when it can (so that a bad URL fails Start);
  // an embedded store whose state directory does not exist yet opens on first use.
  Status OpenStore() {
    follower_.MoveToNewest();
    if (IsEmbeddedUrl(options_.online_store_url) && follower_.store() == nullptr)
      return Status::Ok();
    return OpenOnlineStore(StoreOptions(), follower_.store(), &online_);
  }

  void Handle(const HttpRequest& request, HttpResponse* response) override {
    Clock::time_point start = Clock::now();
    // A newer follower of the state directory: move to it (the embedded store reads it).
    if (follower_.MoveToNewest() && IsEmbeddedUrl(options_.online_store_url)) online_.reset();
    Route route = Dispatch(request, response);
    uint64_t latency_ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    metrics_->Record(route, response->status, &latency_ns);
  }

  void Rejected(std::string_view message, HttpResponse* response) override {
    SetError(response, response->status, ErrorCode(response->status), message);
    metrics_->Record(Route::kRejected, response->status, nullptr);
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
    Route route = path == "/healthz"                  ? Route::kHealthz
                  : path.starts_with(kFeaturesPrefix) ? Route::kFeatures
                  : path == "/v1/query"               ? Route::kQuery
                  : path == "/metrics"                ? Route::kMetrics
                                                      : Route::kUnknown;
    if (route != Route::kHealthz && !options_.token.empty() && !Authorized(request, response)) {
      return route;
    }
    if (route == Route::kUnknown) {
      std::string message = "no route for ";
      message.append(path.substr(0, 200));
      message.append(
          " (routes: GET /v1/features/{namespace}/{id}, POST /v1/query, GET /metrics, "
          "GET /healthz)");
      SetError(response, 404, "not_found", message);
      return route;
    }
    bool get = request.method == "GET" || request.method == "HEAD";
    bool allowed = route == Route::kQuery ? request.method == "POST" : get;
    if (!allowed) {
      std::string_view allow = route == Route::kQuery ? "POST" : "GET, HEAD";
      response->AddHeader("Allow", allow);
      SetError(response, 405, "method_not_allowed",
               std::string(request.method) + " is not allowed here; use " + std::string(allow));
      return route;
    }
    switch (route) {
      case Route::kHealthz:
        response->body.assign("{\"status\":\"ok\"}");
        break;
      case Route::kFeatures:
        GetFeatures(path.substr(kFeaturesPrefix.size()), response);
        break;
      case Route::kQuery:
        PostQuery(request.body, response);
        break;
      case Route::kMetrics:
        response->content_type = kPrometheusContentType;
        service_->AppendMetrics(follower_.store(), &response->body);
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
    StateStore* state = follower_.store();
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

  // POST /v1/query (see query.h).
  void PostQuery(std::string_view body, HttpResponse* response) {
    std::string_view error_code;
    Status status = ParseQuery(body, limits_, &parser_, &query_, &error_code);
    if (!status.ok()) {
      SetError(response, 400, error_code, status.message());
      return;
    }
    QueryRowWriter rows(query_, &response->body);
    for (size_t i = 0; i < query_.ids.size(); ++i) {
      if (!ReadEntity(query_.ns, query_.ids[i].text, response)) return;
      rows.AddRow(i, features_);
    }
    rows.Finish();
  }

  FeatureService::Impl* service_;
  const FeatureServiceOptions& options_;
  ThreadMetrics* metrics_;
  StateFollower::Reader follower_;       // this thread's generation of the state directory
  std::unique_ptr<OnlineStore> online_;  // reads follower_.store() (embedded) or a remote store
  const QueryLimits limits_;
  simdjson::dom::parser parser_;
  // Reused across requests.
  std::vector<StoredFeature> features_;
  std::string ns_, id_;
  Query query_;
};

}  // namespace

Status FeatureService::Impl::Start() {
  if (IsEmbeddedUrl(options_.online_store_url) && options_.state_dir.empty()) {
    return Status::InvalidArgument("the embedded online store needs a state directory");
  }
  if (!options_.state_dir.empty()) {
    Status status = follower_.Open();
    if (!status.ok() && !(status.IsNotFound() && options_.wait_for_state_dir)) return status;
  }
  metrics_ = std::vector<ThreadMetrics>(static_cast<size_t>(std::max(options_.http.threads, 0)));
  server_ = std::make_unique<HttpServer>(
      options_.http, [this](int thread, std::unique_ptr<HttpHandler>* handler) {
        auto router = std::make_unique<Router>(this, &metrics_[thread]);
        STATEFOLD_RETURN_IF_ERROR(router->OpenStore());
        *handler = std::move(router);
        return Status::Ok();
      });
  STATEFOLD_RETURN_IF_ERROR(server_->Start());
  if (!options_.state_dir.empty()) {
    // Like the loops, the follower thread blocks signals, so that they reach the thread that
    // expects them (the Python interpreter's main thread).
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    follower_thread_ = std::thread([this] { Follow(); });
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
  if (follower_thread_.joinable()) follower_thread_.join();
}

// Opens the state directory once it exists, then catches up with the engine's commits every
// catch_up_interval_ms (the follower opens a new generation after the engine flushes).
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
    if (follower_.generation() == 0) {
      Status status = follower_.Open();
      if (!status.ok() && !status.IsNotFound() && ++open_failures == kFailuresReported) {
        fprintf(stderr, "statefold: serve: %s\n", status.ToString().c_str());
      }
    } else {
      Status status = follower_.CatchUp();
      if (!status.ok() && catch_up_errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
        fprintf(stderr, "statefold: serve: %s\n", status.ToString().c_str());
      }
    }
    lock.lock();
  }
}

void FeatureService::Impl::AppendMetrics(StateStore* store, std::string* out) {
  RunStatus run_status;
  if (store != nullptr && RunStatus::Read(store, &run_status).ok()) {
    AppendEngineMetrics(run_status, out);
  }
  ServerCounters counters;
  counters.open_connections = server_->open_connections();
  counters.accepted_connections = server_->accepted_connections();
  if (!options_.state_dir.empty()) {
    counters.catch_up_errors = catch_up_errors_.load(std::memory_order_relaxed);
  }
  AppendServerMetrics(metrics_, counters, out);
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
