// HttpServer on epoll. Each loop thread waits on its own epoll instance, which watches the
// shared listening socket (level-triggered, EPOLLEXCLUSIVE, so a new connection wakes one
// idle loop rather than all of them), the shared stop eventfd, its inbox eventfd, and the
// loop's connections (edge-triggered: a connection is read until EAGAIN and written until
// EAGAIN, and its flags remember which side may still make progress).
//
// The loop that accepts a connection hands it to the loops in turn (through the target's
// inbox): EPOLLEXCLUSIVE tends to wake the same loop again and again, and a handful of
// keep-alive connections would otherwise all land on one thread.
//
// A connection reads into its input buffer, answers every complete request there in order
// (pipelining) into its output buffer, and writes that buffer in one send. It stops taking
// requests while more than kMaxPendingOutput bytes wait to be written, so a client that
// sends without reading cannot grow the server's memory. After an error response the
// connection shuts down its write side and discards input until the peer closes ("lingering
// close"), so that the client reads the response instead of a reset.

#include "serve/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace statefold {
namespace {

constexpr size_t kReadChunk = 16 << 10;
constexpr size_t kMaxPendingOutput = 1 << 20;
constexpr size_t kKeptBufferBytes = 64 << 10;  // larger idle buffers are freed
constexpr int64_t kLingerMs = 2000;
constexpr int kMaxEvents = 128;
constexpr int kAcceptsPerWakeup = 64;

char kListenTag;
char kStopTag;
char kInboxTag;

int64_t MonotonicMillis() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string Errno(const char* what) { return std::string(what) + ": " + strerror(errno); }

// A byte buffer with a consumed prefix: appends at the end, consumes from the front, and
// moves the remainder down only when it needs the room.
class Buffer {
 public:
  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  size_t tail_room() const { return capacity_ - end_; }

  void Consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void Clear() { begin_ = end_ = 0; }

  // Returns room for at least `n` bytes at the end; Commit(k) then adds k of them.
  char* Reserve(size_t n) {
    if (tail_room() >= n) return data_.get() + end_;
    size_t used = size();
    if (begin_ > 0 && capacity_ - used >= n && used <= capacity_ / 2) {
      memmove(data_.get(), data_.get() + begin_, used);
    } else {
      size_t capacity = std::max(capacity_ * 2, used + n);
      std::unique_ptr<char[]> data(new char[capacity]);
      if (used > 0) memcpy(data.get(), data_.get() + begin_, used);
      data_ = std::move(data);
      capacity_ = capacity;
    }
    begin_ = 0;
    end_ = used;
    return data_.get() + end_;
  }
  void Commit(size_t n) { end_ += n; }
  void Append(std::string_view s) {
    memcpy(Reserve(s.size()), s.data(), s.size());
    Commit(s.size());
  }
  // Frees a large buffer once it is empty.
  void Trim() {
    if (empty() && capacity_ > kKeptBufferBytes) {
      data_.reset();
      capacity_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t begin_ = 0, end_ = 0, capacity_ = 0;
};

}  // namespace

void HttpResponse::AddHeader(std::string_view name, std::string_view value) {
  headers.append(name).append(": ").append(value).append("\r\n");
}

void HttpHandler::Rejected(std::string_view message, HttpResponse* response) {
  response->content_type = "text/plain; charset=utf-8";
  response->body.assign(message).push_back('\n');
}

class HttpServer::Loop {
 public:
  Loop(HttpServer* server, std::unique_ptr<HttpHandler> handler)
      : server_(server), options_(server->options_), handler_(std::move(handler)) {
    int64_t shortest = std::min(options_.idle_timeout_ms, options_.request_timeout_ms);
    sweep_interval_ms_ = std::clamp<int64_t>(shortest / 4, 10, 1000);
  }

  ~Loop() {
    for (Connection* c : connections_) {
      ::close(c->fd);
      delete c;
      server_->open_connections_.fetch_sub(1, std::memory_order_relaxed);
    }
    for (int fd : inbox_) {
      ::close(fd);
      server_->open_connections_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (inbox_fd_ >= 0) ::close(inbox_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  Status Init() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return Status::IOError(Errno("epoll_create1"));
    inbox_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (inbox_fd_ < 0) return Status::IOError(Errno("eventfd"));
    epoll_event inbox_event{};
    inbox_event.events = EPOLLIN;
    inbox_event.data.ptr = &kInboxTag;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, inbox_fd_, &inbox_event) != 0) {
      return Status::IOError(Errno("epoll_ctl"));
    }
    epoll_event listen_event{};
    listen_event.events = EPOLLIN | EPOLLEXCLUSIVE;
    listen_event.data.ptr = &kListenTag;
    epoll_event stop_event{};
    stop_event.events = EPOLLIN;
    stop_event.data.ptr = &kStopTag;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, server_->listen_fd_, &listen_event) != 0 ||
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, server_->stop_fd_, &stop_event) != 0) {
      return Status::IOError(Errno("epoll_ctl"));
    }
    return Status::Ok();
  }

  void Run() {
    epoll_event events[kMaxEvents];
    UpdateClock();
    int64_t last_sweep = now_ms_;
    bool stopping = false;
    while (!stopping) {
      int n = epoll_wait(epoll_fd_, events, kMaxEvents, static_cast<int>(sweep_interval_ms_));
      if (n < 0 && errno != EINTR) {
        fprintf(stderr, "statefold: http server: %s\n", Errno("epoll_wait").c_str());
        break;
      }
      UpdateClock();
      for (int i = 0; i < n; ++i) {
        void* tag = events[i].data.ptr;
        if (tag == &kListenTag) {
          Accept();
        } else if (tag == &kInboxTag) {
          TakeInbox();
        } else if (tag == &kStopTag) {
          stopping = true;
        } else {
          OnEvent(static_cast<Connection*>(tag), events[i].events);
        }
      }
      if (now_ms_ - last_sweep >= sweep_interval_ms_) {
        Sweep();
        last_sweep = now_ms_;
      }
    }
    // Stopping: hand over what is ready, without waiting for slow readers.
    while (!connections_.empty()) {
      Connection* c = connections_.back();
      if (!c->out.empty()) {
        ssize_t ignored = ::send(c->fd, c->out.view().data(), c->out.size(), MSG_NOSIGNAL);
        (void)ignored;
      }
      Close(c);
    }
  }

  // Takes a connection accepted by another loop (any thread).
  void Hand(int fd) {
    {
      std::lock_guard<std::mutex> lock(inbox_mutex_);
      inbox_.push_back(fd);
    }
    uint64_t one = 1;
    ssize_t written = ::write(inbox_fd_, &one, sizeof one);
    (void)written;
  }

 private:
  struct Connection {
    int fd = -1;
    size_t index = 0;  // in connections_
    Buffer in, out;
    int64_t last_active_ms = 0;
    int64_t request_started_ms = 0;  // an unfinished request's first sight; 0: none
    int64_t write_blocked_ms = 0;    // output waits for the peer since; 0: it does not
    int64_t linger_until_ms = 0;
    bool readable = true;  // edge-triggered: the socket may have unread bytes
    bool writable = true;  // edge-triggered: the socket may take more bytes
    bool read_closed = false;
    bool close_after_write = false;
    bool lingering = false;
    bool sent_continue = false;
  };

  void UpdateClock() {
    now_ms_ = MonotonicMillis();
    timespec wall;
    clock_gettime(CLOCK_REALTIME_COARSE, &wall);
    if (wall.tv_sec != date_second_) {
      date_second_ = wall.tv_sec;
      tm parts;
      gmtime_r(&wall.tv_sec, &parts);
      date_len_ = strftime(date_, sizeof date_, "%a, %d %b %Y %H:%M:%S GMT", &parts);
    }
  }

  void TakeInbox() {
    uint64_t count;
    ssize_t ignored = ::read(inbox_fd_, &count, sizeof count);
    (void)ignored;
    std::vector<int> fds;
    {
      std::lock_guard<std::mutex> lock(inbox_mutex_);
      fds.swap(inbox_);
    }
    for (int fd : fds) Register(fd);
  }

  void Accept() {
    for (int i = 0; i < kAcceptsPerWakeup; ++i) {
      int fd = accept4(server_->listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          fprintf(stderr, "statefold: http server: %s\n", Errno("accept").c_str());
        }
        return;
      }
      if (static_cast<size_t>(server_->open_connections()) >= options_.max_connections) {
        ::close(fd);
        continue;
      }
      server_->open_connections_.fetch_add(1, std::memory_order_relaxed);
      server_->accepted_.fetch_add(1, std::memory_order_relaxed);
      const auto& loops = server_->loops_;
      Loop* target =
          loops[server_->next_loop_.fetch_add(1, std::memory_order_relaxed) % loops.size()].get();
      if (target == this) {
        Register(fd);
      } else {
        target->Hand(fd);
      }
    }
  }

  void Register(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* c = new Connection();
    c->fd = fd;
    c->last_active_ms = now_ms_;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.ptr = c;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
      ::close(fd);
      delete c;
      server_->open_connections_.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    c->index = connections_.size();
    connections_.push_back(c);
  }

  void Close(Connection* c) {
    ::close(c->fd);  // also removes it from the epoll set
    Connection* last = connections_.back();
    connections_[c->index] = last;
    last->index = c->index;
    connections_.pop_back();
    delete c;
    server_->open_connections_.fetch_sub(1, std::memory_order_relaxed);
  }

  void OnEvent(Connection* c, uint32_t events) {
    if (events & EPOLLERR) {
      Close(c);
      return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) c->readable = true;
    if (events & (EPOLLOUT | EPOLLHUP)) c->writable = true;
    Drive(c);
  }

  // Moves a connection as far as it can go without blocking.
  void Drive(Connection* c) {
    if (c->lingering) {
      Linger(c);
      return;
    }
    for (;;) {
      bool output_full = ProcessRequests(c);
      if (c->writable && !c->out.empty() && !Flush(c)) return;
      if (c->close_after_write) {
        if (c->out.empty()) StartLinger(c);
        return;
      }
      if (c->out.size() >= kMaxPendingOutput) return;  // EPOLLOUT resumes it
      if (output_full) continue;                       // the write made room for the next requests
      if (!c->readable || c->read_closed) break;
      char* room = c->in.Reserve(kReadChunk);
      ssize_t n = ::recv(c->fd, room, c->in.tail_room(), 0);
      if (n > 0) {
        c->in.Commit(static_cast<size_t>(n));
        c->last_active_ms = now_ms_;
      } else if (n == 0) {
        c->read_closed = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->readable = false;
      } else if (errno != EINTR) {
        Close(c);
        return;
      }
    }
    if (c->read_closed) {
      // The peer sends nothing more (a half-close): every complete request has been answered
      // above, and what is left of the input can never become one.
      if (c->out.empty()) {
        Close(c);
      } else {
        c->close_after_write = true;
      }
      return;
    }
    c->in.Trim();
    c->out.Trim();
  }

  // Answers the complete requests at the front of the input. True when it stopped because
  // the output is full, with requests possibly left.
  bool ProcessRequests(Connection* c) {
    for (;;) {
      if (c->close_after_write) return false;
      if (c->out.size() >= kMaxPendingOutput) return true;
      std::string_view input = c->in.view();
      if (input.empty()) {
        c->request_started_ms = 0;
        return false;
      }
      size_t head_size = 0;
      int error_status = 0;
      HttpParseResult result = ParseHttpRequestHead(input, options_.limits, &request_, &head_size,
                                                    &error_status, &message_);
      if (result == HttpParseResult::kError) {
        Reject(c, error_status, message_);
        return false;
      }
      if (c->request_started_ms == 0) c->request_started_ms = now_ms_;
      if (result == HttpParseResult::kIncomplete) return false;
      size_t total = head_size + request_.content_length;
      if (input.size() < total) {
        if (request_.expect_continue && !c->sent_continue) {
          c->out.Append("HTTP/1.1 100 Continue\r\n\r\n");
          c->sent_continue = true;
        }
        return false;
      }
      request_.body = input.substr(head_size, request_.content_length);
      response_.status = 200;
      response_.content_type = "application/json";
      response_.body.clear();
      response_.headers.clear();
      response_.close = false;
      handler_->Handle(request_, &response_);
      bool keep_alive = request_.keep_alive && !response_.close;
      WriteResponse(c, request_.method == "HEAD", keep_alive, request_.minor_version);
      c->in.Consume(total);
      c->sent_continue = false;
      c->request_started_ms = 0;
      c->last_active_ms = now_ms_;
      if (!keep_alive) c->close_after_write = true;
    }
  }

  // Answers with an error without routing, and closes after it.
  void Reject(Connection* c, int status, std::string_view message) {
    response_.status = status;
    response_.content_type = "application/json";
    response_.body.clear();
    response_.headers.clear();
    handler_->Rejected(message, &response_);
    WriteResponse(c, false, false, 1);
    c->in.Clear();
    c->close_after_write = true;
  }

  void WriteResponse(Connection* c, bool head, bool keep_alive, int minor_version) {
    char number[24];
    Buffer& out = c->out;
    out.Append("HTTP/1.1 ");
    out.Append(std::string_view(
        number, std::to_chars(number, number + sizeof number, response_.status).ptr - number));
    out.Append(" ");
    out.Append(HttpReasonPhrase(response_.status));
    out.Append("\r\nDate: ");
    out.Append(std::string_view(date_, date_len_));
    if (!response_.content_type.empty()) {
      out.Append("\r\nContent-Type: ");
      out.Append(response_.content_type);
    }
    out.Append("\r\nContent-Length: ");
    out.Append(std::string_view(
        number, std::to_chars(number, number + sizeof number, response_.body.size()).ptr - number));
    if (!keep_alive) {
      out.Append("\r\nConnection: close");
    } else if (minor_version == 0) {
      out.Append("\r\nConnection: keep-alive");
    }
    out.Append("\r\n");
    out.Append(response_.headers);
    out.Append("\r\n");
    if (!head) out.Append(response_.body);
  }

  // Writes pending output until done or EAGAIN. False when the connection was closed.
  bool Flush(Connection* c) {
    while (!c->out.empty()) {
      ssize_t n = ::send(c->fd, c->out.view().data(), c->out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c->out.Consume(static_cast<size_t>(n));
        c->last_active_ms = now_ms_;
        c->write_blocked_ms = 0;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->writable = false;
        if (c->write_blocked_ms == 0) c->write_blocked_ms = now_ms_;
        return true;
      }
      Close(c);
      return false;
    }
    c->write_blocked_ms = 0;
    return true;
  }

  void StartLinger(Connection* c) {
    if (c->read_closed) {
      Close(c);
      return;
    }
    ::shutdown(c->fd, SHUT_WR);
    c->lingering = true;
    c->linger_until_ms = now_ms_ + kLingerMs;
    c->in.Clear();
    c->in.Trim();
    c->out.Trim();
    Linger(c);
  }

  // Discards input until the peer closes (or the sweep gives up on it).
  void Linger(Connection* c) {
    char discard[4096];
    for (;;) {
      ssize_t n = ::recv(c->fd, discard, sizeof discard, 0);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      Close(c);
      return;
    }
  }

  // Enforces the timeouts.
  void Sweep() {
    for (size_t i = connections_.size(); i-- > 0;) {
      Connection* c = connections_[i];
      if (c->lingering) {
        if (now_ms_ >= c->linger_until_ms) Close(c);
      } else if (c->write_blocked_ms != 0 &&
                 now_ms_ - c->write_blocked_ms > options_.request_timeout_ms) {
        Close(c);  // the peer does not read its responses
      } else if (c->request_started_ms != 0 &&
                 now_ms_ - c->request_started_ms > options_.request_timeout_ms) {
        Reject(c, 408, "the request was not received in time");
        if (Flush(c) && c->out.empty()) StartLinger(c);
      } else if (c->request_started_ms == 0 && c->out.empty() &&
                 now_ms_ - c->last_active_ms > options_.idle_timeout_ms) {
        Close(c);
      }
    }
  }

  HttpServer* server_;
  const HttpServerOptions& options_;
  std::unique_ptr<HttpHandler> handler_;
  int epoll_fd_ = -1;
  int64_t sweep_interval_ms_ = 1000;
  int64_t now_ms_ = 0;
  time_t date_second_ = 0;
  char date_[64] = {};
  size_t date_len_ = 0;
  std::vector<Connection*> connections_;
  int inbox_fd_ = -1;
  std::mutex inbox_mutex_;
  std::vector<int> inbox_;  // accepted by another loop, not yet registered here
  // Reused for every request of this loop.
  HttpRequest request_;
  HttpResponse response_;
  std::string message_;
};

HttpServer::HttpServer(HttpServerOptions options, HandlerFactory factory)
    : options_(std::move(options)), factory_(std::move(factory)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  if (listen_fd_ >= 0) return Status::InvalidArgument("the server is already started");
  if (options_.threads < 1) return Status::InvalidArgument("threads must be at least 1");
  if (options_.port < 0 || options_.port > 65535) {
    return Status::InvalidArgument(
        "port must be an integer from 0 to 65535 (0 picks a free one), "
        "got " +
        std::to_string(options_.port));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  std::string port_text = std::to_string(options_.port);
  int gai = getaddrinfo(options_.host.empty() ? nullptr : options_.host.c_str(), port_text.c_str(),
                        &hints, &addresses);
  if (gai != 0) {
    return Status::InvalidArgument("cannot resolve host " + options_.host + ": " +
                                   gai_strerror(gai));
  }
  Status status;
  for (addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      status = Status::IOError(Errno("socket"));
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
      status =
          Status::IOError(Errno(("cannot listen on " + options_.host + ":" + port_text).c_str()));
      ::close(fd);
      continue;
    }
    listen_fd_ = fd;
    break;
  }
  freeaddrinfo(addresses);
  if (listen_fd_ < 0) {
    return status.ok() ? Status::InvalidArgument("no address for host " + options_.host) : status;
  }
  sockaddr_storage bound{};
  socklen_t bound_size = sizeof bound;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &bound_size);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) status = Status::IOError(Errno("eventfd"));
  for (int i = 0; status.ok() && i < options_.threads; ++i) {
    std::unique_ptr<HttpHandler> handler;
    status = factory_(i, &handler);
    if (!status.ok()) break;
    loops_.push_back(std::make_unique<Loop>(this, std::move(handler)));
    status = loops_.back()->Init();
  }
  if (!status.ok()) {
    loops_.clear();
    if (stop_fd_ >= 0) ::close(stop_fd_);
    ::close(listen_fd_);
    stop_fd_ = listen_fd_ = -1;
    return status;
  }
  // The loops block every signal, so that signals reach the thread that expects them (the
  // Python interpreter's main thread).
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  for (auto& loop : loops_) threads_.emplace_back([l = loop.get()] { l->Run(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return Status::Ok();
}

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lock(stop_mutex_);
  if (listen_fd_ < 0) return;
  uint64_t one = 1;
  ssize_t written = ::write(stop_fd_, &one, sizeof one);
  (void)written;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  loops_.clear();
  ::close(stop_fd_);
  ::close(listen_fd_);
  stop_fd_ = listen_fd_ = -1;
}

}  // namespace statefold
