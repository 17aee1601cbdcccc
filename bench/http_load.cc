// http_load: an open-loop HTTP/1.1 load generator for the serving benchmark (bench/serve.py).
//
//   http_load --port P --rate 10000 --duration 10 --connections 8 --ids ids.txt
//             [--host 127.0.0.1] [--path '/v1/features/user/{id}'] [--warmup 1] [--token T]
//             [--json]
//
// Requests are sent on a fixed schedule (request i at start + i / rate), whatever the server
// does, over keep-alive connections in turn (pipelined when a connection is still busy).
// Each latency is measured from the request's scheduled send time to the end of its
// response, so a stall of the server (or of this generator) counts for every request that
// should have been sent during it: coordinated omission is not hidden. One thread, epoll,
// and a timerfd with 1 ns slack for the schedule. Responses other than 200 are errors.

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <string>
#include <vector>

namespace {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void Die(const std::string& message) {
  fprintf(stderr, "http_load: %s\n", message.c_str());
  exit(2);
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  double rate = 10000;
  double duration_s = 10;
  double warmup_s = 1;
  int connections = 8;
  std::string ids_file;
  std::string path = "/v1/features/user/{id}";
  std::string token;
  bool json = false;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--host") {
      o.host = value();
    } else if (arg == "--port") {
      o.port = std::stoi(value());
    } else if (arg == "--rate") {
      o.rate = std::stod(value());
    } else if (arg == "--duration") {
      o.duration_s = std::stod(value());
    } else if (arg == "--warmup") {
      o.warmup_s = std::stod(value());
    } else if (arg == "--connections") {
      o.connections = std::stoi(value());
    } else if (arg == "--ids") {
      o.ids_file = value();
    } else if (arg == "--path") {
      o.path = value();
    } else if (arg == "--token") {
      o.token = value();
    } else if (arg == "--json") {
      o.json = true;
    } else {
      Die("unknown argument " + arg + " (see the top of bench/http_load.cc)");
    }
  }
  if (o.port <= 0 || o.rate <= 0 || o.duration_s <= 0 || o.connections < 1 || o.ids_file.empty()) {
    Die("--port, --rate, --duration, --connections and --ids are required and positive");
  }
  return o;
}

struct Connection {
  int fd = -1;
  bool alive = true;
  std::string out;
  size_t out_sent = 0;
  std::string in;
  std::deque<int64_t> scheduled;  // of the requests sent and not yet answered, in order
};

struct Results {
  std::vector<int64_t> latencies_ns;  // measured requests (after the warm-up)
  uint64_t errors = 0;                // non-200 answers and requests lost with a connection
  uint64_t in_flight = 0;             // sent, not answered
  int64_t max_send_lag_ns = 0;        // how late this generator sent a request against its schedule
};

int Connect(const Options& o) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &address.sin_addr) != 1) Die("--host must be IPv4");
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    Die(std::string("cannot connect: ") + strerror(errno));
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Writes what the connection has pending; false when the connection broke.
bool Flush(Connection* c) {
  while (c->out_sent < c->out.size()) {
    ssize_t n = send(c->fd, c->out.data() + c->out_sent, c->out.size() - c->out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      return true;
    } else {
      return false;
    }
  }
  c->out.clear();
  c->out_sent = 0;
  return true;
}

// Takes the complete responses at the front of the input.
void TakeResponses(Connection* c, int64_t now, int64_t measure_from, Results* r) {
  size_t pos = 0;
  for (;;) {
    size_t end = c->in.find("\r\n\r\n", pos);
    if (end == std::string::npos) break;
    size_t length = 0;
    size_t header = c->in.find("\r\nContent-Length: ", pos);
    if (header != std::string::npos && header < end)
      length = std::strtoul(&c->in[header + 18], nullptr, 10);
    if (c->in.size() < end + 4 + length) break;
    int status = std::atoi(&c->in[pos + 9]);
    pos = end + 4 + length;
    if (status == 100) continue;
    if (c->scheduled.empty()) Die("a response without a request");
    int64_t scheduled = c->scheduled.front();
    c->scheduled.pop_front();
    --r->in_flight;
    if (status != 200) ++r->errors;
    if (scheduled >= measure_from) r->latencies_ns.push_back(now - scheduled);
  }
  c->in.erase(0, pos);
}

double Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(index, sorted.size() - 1)]) / 1000.0;  // µs
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  std::vector<std::string> requests;
  {
    std::ifstream in(o.ids_file);
    std::string id;
    size_t at = o.path.find("{id}");
    std::string auth = o.token.empty() ? "" : "Authorization: Bearer " + o.token + "\r\n";
    while (std::getline(in, id)) {
      if (id.empty()) continue;
      std::string path = o.path;
      if (at != std::string::npos) path.replace(at, 4, id);
      requests.push_back("GET " + path + " HTTP/1.1\r\nHost: " + o.host + "\r\n" + auth + "\r\n");
    }
  }
  if (requests.empty()) Die("no ids in " + o.ids_file);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  epoll_event timer_event{};
  timer_event.events = EPOLLIN;
  timer_event.data.ptr = nullptr;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, timer_fd, &timer_event);
  std::vector<Connection> connections(static_cast<size_t>(o.connections));
  for (Connection& c : connections) {
    c.fd = Connect(o);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLET;
    event.data.ptr = &c;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c.fd, &event);
  }

  const double total_s = o.warmup_s + o.duration_s;
  const uint64_t total = static_cast<uint64_t>(total_s * o.rate);
  const double interval_ns = 1e9 / o.rate;
  const int64_t start = NowNs() + 10000000;  // 10 ms from now
  const int64_t measure_from = start + static_cast<int64_t>(o.warmup_s * 1e9);
  auto scheduled_at = [&](uint64_t i) {
    return start + static_cast<int64_t>(static_cast<double>(i) * interval_ns);
  };
  auto arm = [&](int64_t at) {
    itimerspec spec{};
    spec.it_value.tv_sec = at / 1000000000;
    spec.it_value.tv_nsec = at % 1000000000;
    timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &spec, nullptr);
  };

  Results results;
  results.latencies_ns.reserve(static_cast<size_t>(o.duration_s * o.rate) + 16);
  uint64_t next = 0, next_connection = 0, rng = 0x9e3779b97f4a7c15ULL;
  arm(scheduled_at(0));
  const int64_t deadline = scheduled_at(total) + 5000000000LL;  // 5 s to drain
  epoll_event events[64];
  while (next < total || results.in_flight > 0) {
    int64_t now = NowNs();
    if (now > deadline) break;
    int n = epoll_wait(epoll_fd, events, 64, 100);
    now = NowNs();
    for (int e = 0; e < n; ++e) {
      if (events[e].data.ptr == nullptr) {
        uint64_t expirations;
        ssize_t ignored = read(timer_fd, &expirations, sizeof expirations);
        (void)ignored;
        continue;
      }
      auto* c = static_cast<Connection*>(events[e].data.ptr);
      if (!c->alive) continue;
      if (events[e].events & EPOLLOUT) {
        if (!Flush(c)) c->alive = false;
      }
      char buffer[65536];
      for (;;) {
        ssize_t got = recv(c->fd, buffer, sizeof buffer, 0);
        if (got > 0) {
          c->in.append(buffer, static_cast<size_t>(got));
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
        c->alive = false;  // closed or reset
        break;
      }
      TakeResponses(c, now, measure_from, &results);
      if (!c->alive) {
        results.errors += c->scheduled.size();
        results.in_flight -= c->scheduled.size();
        c->scheduled.clear();
        close(c->fd);
      }
    }
    // Sends every request whose time has come.
    bool sent = false;
    while (next < total && scheduled_at(next) <= now) {
      Connection* c = nullptr;
      for (size_t tries = 0; tries < connections.size() && c == nullptr; ++tries) {
        Connection* candidate = &connections[next_connection++ % connections.size()];
        if (candidate->alive) c = candidate;
      }
      if (c == nullptr) Die("every connection was closed by the server");
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      c->out += requests[rng % requests.size()];
      c->scheduled.push_back(scheduled_at(next));
      ++results.in_flight;
      results.max_send_lag_ns = std::max(results.max_send_lag_ns, now - scheduled_at(next));
      ++next;
      sent = true;
    }
    if (sent) {
      for (Connection& c : connections) {
        if (c.alive && !c.out.empty() && !Flush(&c)) {
          c.alive = false;
          results.errors += c.scheduled.size();
          results.in_flight -= c.scheduled.size();
          c.scheduled.clear();
          close(c.fd);
        }
      }
    }
    if (next < total) arm(scheduled_at(next));
  }
  results.errors += results.in_flight;  // unanswered at the drain deadline

  std::vector<int64_t>& l = results.latencies_ns;
  std::sort(l.begin(), l.end());
  double p50 = Percentile(l, 0.50), p90 = Percentile(l, 0.90), p99 = Percentile(l, 0.99),
         p999 = Percentile(l, 0.999), max = l.empty() ? 0 : static_cast<double>(l.back()) / 1000.0;
  double achieved = static_cast<double>(l.size()) / o.duration_s;
  if (o.json) {
    printf(
        "{\"requests\":%zu,\"rate\":%.1f,\"achieved_rate\":%.1f,\"p50_us\":%.1f,"
        "\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"errors\":%llu,"
        "\"max_send_lag_us\":%.1f}\n",
        l.size(), o.rate, achieved, p50, p90, p99, p999, max,
        static_cast<unsigned long long>(results.errors),
        static_cast<double>(results.max_send_lag_ns) / 1000.0);
  } else {
    printf("requests %zu (after %.1f s warm-up), target %.0f/s, achieved %.0f/s, errors %llu\n",
           l.size(), o.warmup_s, o.rate, achieved, static_cast<unsigned long long>(results.errors));
    printf("latency from scheduled send (us): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
           p50, p90, p99, p999, max);
    printf("generator send lag max %.1f us\n",
           static_cast<double>(results.max_send_lag_ns) / 1000.0);
  }
  return results.errors == 0 ? 0 : 1;
}
