// HTTP/1.1 request heads: what is accepted, and the status of what is refused.

#include "serve/http_parser.h"

#include <gtest/gtest.h>

namespace statefold {
namespace {

struct Parsed {
  HttpParseResult result;
  HttpRequest request;
  size_t head_size = 0;
  int status = 0;
  std::string message;
};

Parsed Parse(std::string_view input, HttpLimits limits = {}) {
  Parsed p;
  p.result = ParseHttpRequestHead(input, limits, &p.request, &p.head_size, &p.status, &p.message);
  return p;
}

int ErrorStatus(std::string_view input, HttpLimits limits = {}) {
  Parsed p = Parse(input, limits);
  EXPECT_EQ(p.result, HttpParseResult::kError) << input;
  return p.status;
}

TEST(HttpParserTest, ParsesRequestLineHeadersAndTarget) {
  std::string input =
      "GET /v1/features/user/u%201?x=1 HTTP/1.1\r\nHost: example\r\nX-Thing:  spaced value \t\r\n"
      "\r\nrest";
  Parsed p = Parse(input);
  ASSERT_EQ(p.result, HttpParseResult::kComplete);
  EXPECT_EQ(p.head_size, input.size() - 4);
  EXPECT_EQ(p.request.method, "GET");
  EXPECT_EQ(p.request.target, "/v1/features/user/u%201?x=1");
  EXPECT_EQ(p.request.path, "/v1/features/user/u%201");
  EXPECT_EQ(p.request.query, "x=1");
  EXPECT_EQ(p.request.minor_version, 1);
  EXPECT_TRUE(p.request.keep_alive);
  EXPECT_EQ(p.request.content_length, 0u);
  EXPECT_EQ(p.request.Header("x-thing"), "spaced value");
  EXPECT_EQ(p.request.Header("HOST"), "example");
  EXPECT_EQ(p.request.Header("missing"), "");
}

TEST(HttpParserTest, EveryPrefixOfAValidRequestIsIncomplete) {
  std::string input = "POST /v1/query HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n";
  for (size_t n = 0; n < input.size(); ++n) {
    Parsed p = Parse(std::string_view(input).substr(0, n));
    EXPECT_EQ(p.result, HttpParseResult::kIncomplete) << n << ": " << p.message;
  }
  Parsed p = Parse(input);
  ASSERT_EQ(p.result, HttpParseResult::kComplete);
  EXPECT_EQ(p.request.content_length, 2u);
}

TEST(HttpParserTest, KeepAliveRules) {
  EXPECT_FALSE(Parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").request.keep_alive);
  EXPECT_FALSE(
      Parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n").request.keep_alive);
  Parsed old = Parse("GET / HTTP/1.0\r\n\r\n");  // HTTP/1.0 needs no Host
  ASSERT_EQ(old.result, HttpParseResult::kComplete);
  EXPECT_EQ(old.request.minor_version, 0);
  EXPECT_FALSE(old.request.keep_alive);
  EXPECT_TRUE(Parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").request.keep_alive);
}

TEST(HttpParserTest, LeadingEmptyLinesAndBareLineFeedsAreAccepted) {
  std::string input = "\r\n\nGET /a HTTP/1.1\nHost: h\n\n";
  Parsed p = Parse(input);
  ASSERT_EQ(p.result, HttpParseResult::kComplete) << p.message;
  EXPECT_EQ(p.request.path, "/a");
  EXPECT_EQ(p.head_size, input.size());
}

TEST(HttpParserTest, GarbageFailsBeforeALineEnds) {
  // A TLS ClientHello, a NUL byte, a space first: none can begin an HTTP request.
  EXPECT_EQ(ErrorStatus(std::string("\x16\x03\x01\x02\x00", 5)), 400);
  EXPECT_EQ(ErrorStatus(std::string("GET\0/", 5)), 400);
  EXPECT_EQ(ErrorStatus(" GET / HTTP/1.1"), 400);
  EXPECT_EQ(ErrorStatus("GET / XTTP"), 400);
  EXPECT_EQ(ErrorStatus("GET /a\x01"), 400);
  EXPECT_EQ(ErrorStatus("\rX"), 400);
}

TEST(HttpParserTest, MalformedRequestLines) {
  EXPECT_EQ(ErrorStatus("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / http/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET relative HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(ErrorStatus("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(ErrorStatus("GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST(HttpParserTest, AbsoluteFormTargetsAreReducedToTheirPath) {
  Parsed p = Parse("GET http://example.com:80/healthz?a HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(p.result, HttpParseResult::kComplete);
  EXPECT_EQ(p.request.path, "/healthz");
  EXPECT_EQ(p.request.query, "a");
  EXPECT_EQ(Parse("GET HTTP://example.com HTTP/1.1\r\nHost: x\r\n\r\n").request.path, "/");
}

TEST(HttpParserTest, HostIsRequiredOnceInHttp11) {
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
}

TEST(HttpParserTest, MalformedHeaders) {
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n"), 400);
  static constexpr char kNul[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
  EXPECT_EQ(ErrorStatus(std::string(kNul, sizeof kNul - 1)), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), 400);
}

TEST(HttpParserTest, ContentLength) {
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"), 400);
  EXPECT_EQ(
      ErrorStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
      400);
  Parsed same =
      Parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
  ASSERT_EQ(same.result, HttpParseResult::kComplete);
  EXPECT_EQ(same.request.content_length, 5u);
  HttpLimits limits;
  limits.max_body_bytes = 100;
  EXPECT_EQ(Parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n", limits).result,
            HttpParseResult::kComplete);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", limits), 413);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "
                        "99999999999999999999999999\r\n\r\n"),
            413);
}

TEST(HttpParserTest, TransferEncodingBodiesAreRefused) {
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), 411);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"),
            411);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  // Both framings: the classic request-smuggling shape.
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n"),
            411);
}

TEST(HttpParserTest, HeadLimits) {
  HttpLimits limits;
  limits.max_header_bytes = 64;
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(60, 'a') + "\r\n\r\n";
  EXPECT_EQ(ErrorStatus(big, limits), 431);
  // Still incomplete, but already over the limit.
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nX: " + std::string(60, 'a'), limits), 431);
  limits = HttpLimits();
  limits.max_headers = 3;
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits), 431);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits).result,
            HttpParseResult::kComplete);
}

TEST(HttpParserTest, ExpectContinue) {
  Parsed p =
      Parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n");
  ASSERT_EQ(p.result, HttpParseResult::kComplete);
  EXPECT_TRUE(p.request.expect_continue);
  EXPECT_FALSE(Parse("POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
                   .request.expect_continue);
}

TEST(HttpParserTest, PercentDecode) {
  std::string out;
  ASSERT_TRUE(PercentDecode("a%2Fb%20c+d%e2%82%ac", &out));
  EXPECT_EQ(out, "a/b c+d\xe2\x82\xac");
  EXPECT_FALSE(PercentDecode("%zz", &out));
  EXPECT_FALSE(PercentDecode("abc%4", &out));
  EXPECT_FALSE(PercentDecode("%", &out));
  ASSERT_TRUE(PercentDecode("", &out));
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace statefold
