// HttpServer over real loopback sockets: keep-alive, pipelining, bodies that arrive in
// pieces, limits, timeouts, half-closed and garbage connections, and many clients at once.

#include "serve/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "http_test_client.h"

namespace statefold {
namespace {

using testing::Get;
using testing::Post;
using testing::TestConnection;
using testing::TestResponse;

// Answers "<thread> <method> <path> <body>"; /big answers 64 KiB; /close asks to close.
class EchoHandler : public HttpHandler {
 public:
  EchoHandler(int thread, std::atomic<int>* calls) : thread_(thread), calls_(calls) {}

  void Handle(const HttpRequest& request, HttpResponse* response) override {
    calls_->fetch_add(1);
    response->content_type = "text/plain";
    if (request.path == "/big") {
      response->body.assign(64 << 10, 'x');
      return;
    }
    if (request.path == "/close") response->close = true;
    if (request.path == "/missing") response->status = 404;
    response->AddHeader("X-Thread", std::to_string(thread_));
    response->body = std::string(request.method) + " " + std::string(request.path) + " " +
                     std::string(request.body);
  }

 private:
  int thread_;
  std::atomic<int>* calls_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    server_ = std::make_unique<HttpServer>(
        options, [this](int thread, std::unique_ptr<HttpHandler>* handler) {
          *handler = std::make_unique<EchoHandler>(thread, &calls_);
          return Status::Ok();
        });
    Status status = server_->Start();
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_GT(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  // The server still answers a fresh connection.
  void ExpectStillServing() {
    TestConnection c(server_->port());
    ASSERT_TRUE(c.Send(Get("/alive")));
    TestResponse r;
    ASSERT_TRUE(c.ReadResponse(&r));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "GET /alive ");
  }

  std::atomic<int> calls_{0};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  TestConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(Get("/a/" + std::to_string(i))));
    TestResponse r;
    ASSERT_TRUE(c.ReadResponse(&r));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "GET /a/" + std::to_string(i) + " ");
    EXPECT_EQ(r.Header("content-type"), "text/plain");
    EXPECT_EQ(r.Header("connection"), "");
    EXPECT_FALSE(r.Header("date").empty());
  }
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  TestConnection c(server_->port());
  std::string batch;
  for (int i = 0; i < 50; ++i)
    batch += i % 2 ? Get("/g" + std::to_string(i)) : Post("/p", "b" + std::to_string(i));
  ASSERT_TRUE(c.Send(batch));
  for (int i = 0; i < 50; ++i) {
    TestResponse r;
    ASSERT_TRUE(c.ReadResponse(&r)) << i;
    EXPECT_EQ(r.body, i % 2 ? "GET /g" + std::to_string(i) + " " : "POST /p b" + std::to_string(i));
  }
}

TEST_F(HttpServerTest, ABodyArrivingInPiecesIsAssembled) {
  StartServer();
  TestConnection c(server_->port());
  std::string request = Post("/q", "{\"inputs\": 12345}");
  for (char byte : request) {
    ASSERT_TRUE(c.Send(std::string_view(&byte, 1)));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  TestResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.body, "POST /q {\"inputs\": 12345}");
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimResponse) {
  StartServer();
  TestConnection c(server_->port());
  ASSERT_TRUE(
      c.Send("POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  TestResponse interim;
  ASSERT_TRUE(c.ReadResponse(&interim));
  EXPECT_EQ(interim.status, 100);
  ASSERT_TRUE(c.Send("hello"));
  TestResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /e hello");
}

TEST_F(HttpServerTest, HeadGetsHeadersWithoutTheBody) {
  StartServer();
  TestConnection c(server_->port());
  ASSERT_TRUE(c.Send("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n" + Get("/after")));
  TestResponse head;
  ASSERT_TRUE(c.ReadHeadResponse(&head));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-length"), "8");  // "HEAD /h "
  TestResponse after;
  ASSERT_TRUE(c.ReadResponse(&after));
  EXPECT_EQ(after.body, "GET /after ");
}

TEST_F(HttpServerTest, ConnectionCloseAndHttp10CloseAfterTheResponse) {
  StartServer();
  {
    TestConnection c(server_->port());
    ASSERT_TRUE(c.Send(Get("/x", "Connection: close\r\n") + Get("/never")));
    TestResponse r;
    ASSERT_TRUE(c.ReadResponse(&r));
    EXPECT_EQ(r.Header("connection"), "close");
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    TestConnection c(server_->port());
    ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\n\r\n"));
    TestResponse r;
    ASSERT_TRUE(c.ReadResponse(&r));
    EXPECT_EQ(r.body, "GET /old ");
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    TestConnection c(server_->port());
    ASSERT_TRUE(c.Send(Get("/close")));
    TestResponse r;
    ASSERT_TRUE(c.ReadResponse(&r));
    EXPECT_EQ(r.Header("connection"), "close");
    EXPECT_TRUE(c.ClosedByPeer());
  }
}

TEST_F(HttpServerTest, HalfClosedConnectionStillGetsItsResponses) {
  StartServer();
  TestConnection c(server_->port());
  ASSERT_TRUE(c.Send(Get("/one") + Get("/two")));
  c.ShutdownWrite();
  TestResponse r1, r2;
  ASSERT_TRUE(c.ReadResponse(&r1));
  ASSERT_TRUE(c.ReadResponse(&r2));
  EXPECT_EQ(r1.body, "GET /one ");
  EXPECT_EQ(r2.body, "GET /two ");
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(HttpServerTest, HalfClosedPartialRequestIsClosedWithoutAnswer) {
  StartServer();
  TestConnection c(server_->port());
  ASSERT_TRUE(c.Send("GET /partial HTTP/1.1\r\nHo"));
  c.ShutdownWrite();
  EXPECT_TRUE(c.ClosedByPeer());
  EXPECT_EQ(calls_.load(), 0);
  ExpectStillServing();
}

TEST_F(HttpServerTest, MalformedRequestsGetTheirStatusAndTheConnectionCloses) {
  HttpServerOptions options;
  options.limits.max_body_bytes = 1000;
  StartServer(options);
  struct Case {
    std::string bytes;
    int status;
  };
  std::vector<Case> cases = {
      {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 400},  // TLS hello
      {"GET / HTTP/1.1\r\n\r\n", 400},                                         // no Host
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       411},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n", 413},
      {"GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(20000, 'a') + "\r\n\r\n", 431},
      {"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505},
  };
  for (const Case& test : cases) {
    TestConnection c(server_->port());
    ASSERT_TRUE(c.Send(test.bytes));
    TestResponse r;
    ASSERT_TRUE(c.ReadResponse(&r)) << test.status;
    EXPECT_EQ(r.status, test.status);
    EXPECT_EQ(r.Header("connection"), "close");
    EXPECT_TRUE(c.ClosedByPeer()) << test.status;
  }
  EXPECT_EQ(calls_.load(), 0);
  ExpectStillServing();
}

TEST_F(HttpServerTest, AnErrorAfterGoodPipelinedRequestsAnswersThemFirst) {
  StartServer();
  TestConnection c(server_->port());
  ASSERT_TRUE(c.Send(Get("/ok") + "BAD\x01 REQUEST\r\n\r\n" + Get("/never")));
  TestResponse ok, bad;
  ASSERT_TRUE(c.ReadResponse(&ok));
  EXPECT_EQ(ok.body, "GET /ok ");
  ASSERT_TRUE(c.ReadResponse(&bad));
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(c.ClosedByPeer());
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(HttpServerTest, SlowRequestsTimeOutWith408AndIdleConnectionsClose) {
  HttpServerOptions options;
  options.request_timeout_ms = 200;
  options.idle_timeout_ms = 300;
  StartServer(options);
  TestConnection slow(server_->port());
  ASSERT_TRUE(slow.Send("GET /slow HTTP/1.1\r\nHost: h\r\n"));
  TestConnection idle(server_->port());
  ASSERT_TRUE(idle.Send(Get("/first")));
  TestResponse first;
  ASSERT_TRUE(idle.ReadResponse(&first));
  auto start = std::chrono::steady_clock::now();
  TestResponse r;
  ASSERT_TRUE(slow.ReadResponse(&r));
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(slow.ClosedByPeer());
  EXPECT_TRUE(idle.ClosedByPeer());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(HttpServerTest, AClientThatDoesNotReadIsThrottledNotBuffered) {
  StartServer();
  TestConnection c(server_->port(), 20000);
  // 600 responses of 64 KiB: far more than the server buffers and the sockets hold.
  constexpr int kRequests = 600;
  std::string batch;
  for (int i = 0; i < kRequests; ++i) batch += Get("/big");
  std::thread sender([&] { EXPECT_TRUE(c.Send(batch)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int answered_before_reading = calls_.load();
  EXPECT_GT(answered_before_reading, 0);
  EXPECT_LT(answered_before_reading, kRequests / 2);
  for (int i = 0; i < kRequests; ++i) {
    TestResponse r;
    ASSERT_TRUE(c.ReadResponse(&r)) << i;
    ASSERT_EQ(r.body.size(), 64u << 10);
  }
  sender.join();
  EXPECT_EQ(calls_.load(), kRequests);
}

TEST_F(HttpServerTest, ManyClientsOnSeveralThreads) {
  HttpServerOptions options;
  options.threads = 3;
  StartServer(options);
  constexpr int kClients = 24, kRequests = 100;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  std::mutex threads_mutex;
  std::set<std::string> threads_seen;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      TestConnection c(server_->port());
      for (int k = 0; k < kRequests; ++k) {
        std::string path = "/c" + std::to_string(i) + "/" + std::to_string(k);
        if (!c.Send(Get(path))) return;
        TestResponse r;
        if (!c.ReadResponse(&r)) return;
        if (r.status == 200 && r.body == "GET " + path + " ") ok.fetch_add(1);
        std::lock_guard<std::mutex> lock(threads_mutex);
        threads_seen.insert(r.Header("x-thread"));
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(server_->accepted_connections(), static_cast<uint64_t>(kClients));
  EXPECT_GE(threads_seen.size(), 2u);  // connections are spread over the loops
}

TEST_F(HttpServerTest, StopClosesConnectionsAndFreesThePort) {
  StartServer();
  int port = server_->port();
  TestConnection open(port);
  ASSERT_TRUE(open.Send(Get("/x")));
  TestResponse r;
  ASSERT_TRUE(open.ReadResponse(&r));
  TestConnection partial(port);
  ASSERT_TRUE(partial.Send("GET /par"));
  server_->Stop();
  server_->Stop();  // idempotent
  EXPECT_TRUE(open.ClosedByPeer());
  EXPECT_TRUE(partial.ClosedByPeer());
  TestConnection refused(port);
  EXPECT_FALSE(refused.connected());
  EXPECT_EQ(server_->open_connections(), 0);
}

TEST_F(HttpServerTest, APortInUseIsAnError) {
  StartServer();
  HttpServerOptions options;
  options.port = server_->port();
  HttpServer second(options, [](int, std::unique_ptr<HttpHandler>* handler) {
    *handler = std::make_unique<EchoHandler>(0, nullptr);
    return Status::Ok();
  });
  Status status = second.Start();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot listen"), std::string::npos) << status.ToString();
  options.host = "not a host name";
  HttpServer third(options, nullptr);
  EXPECT_TRUE(third.Start().IsInvalidArgument());
}

}  // namespace
}  // namespace statefold
