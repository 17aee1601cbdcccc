// HttpServer: a small HTTP/1.1 server on epoll for the serving API. N event-loop threads
// share one listening socket (EPOLLEXCLUSIVE: one idle loop wakes per new connection) and
// take accepted connections in turn; each loop owns its connections and calls its own
// handler for their requests, in order, so a handler needs no locks. Non-blocking sockets,
// keep-alive, pipelining, Content-Length bodies, size limits and timeouts; no TLS (put a proxy in
// front for that).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "serve/http_parser.h"
#include "statefold/status.h"

namespace statefold {

struct HttpResponse {
  int status = 200;
  std::string_view content_type = "application/json";  // must outlive the call
  std::string body;
  std::string headers;  // extra header lines, each "Name: value\r\n" (see AddHeader)
  bool close = false;   // close the connection after this response

  void AddHeader(std::string_view name, std::string_view value);
};

// Serves the requests of one event-loop thread. Called only on that thread, one request at a
// time, so it may keep per-thread state (buffers, store connections) without locks.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Fills `response` for `request`. The response starts as 200, empty, JSON. A HEAD request
  // gets the response's headers without its body.
  virtual void Handle(const HttpRequest& request, HttpResponse* response) = 0;
  // Fills the body of an error the server answers by itself, before any routing: a malformed
  // or oversized request (400, 411, 413, 431, 501, 505) or a timed-out one (408).
  // `response->status` is set; the connection closes after it. Default: the message as text.
  virtual void Rejected(std::string_view message, HttpResponse* response);
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // a numeric address or a name; "0.0.0.0" for every IPv4
  int port = 0;                    // 0: a free port, see HttpServer::port()
  int threads = 2;                 // event-loop threads
  HttpLimits limits;
  int64_t idle_timeout_ms = 60000;     // a keep-alive connection without a request is closed
  int64_t request_timeout_ms = 10000;  // a request (or a response write) that takes longer: 408
  size_t max_connections = 10000;      // over all loops; beyond, new connections are closed
};

class HttpServer {
 public:
  // Makes the handler of event-loop thread `thread_index` (0 .. threads-1).
  using HandlerFactory =
      std::function<Status(int thread_index, std::unique_ptr<HttpHandler>* handler)>;

  HttpServer(HttpServerOptions options, HandlerFactory factory);
  ~HttpServer();  // Stop()

  // Binds and listens, makes one handler per thread (on the calling thread), then starts the
  // loops. Fails with InvalidArgument for a bad host, a port outside 0..65535 or
  // threads below 1, IOError when the port is taken.
  Status Start();
  // Stops accepting, flushes what each connection has ready, closes every connection and
  // joins the threads. Idempotent; may be called from any thread but a loop's.
  void Stop();

  int port() const { return port_; }  // the bound port, once started
  int64_t open_connections() const { return open_connections_.load(std::memory_order_relaxed); }
  uint64_t accepted_connections() const { return accepted_.load(std::memory_order_relaxed); }

 private:
  class Loop;
  friend class Loop;

  HttpServerOptions options_;
  HandlerFactory factory_;
  std::mutex stop_mutex_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd that every loop watches; written once by Stop()
  int port_ = 0;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<int64_t> open_connections_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> next_loop_{0};  // the loop that gets the next accepted connection
};

}  // namespace statefold
