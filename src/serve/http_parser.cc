// HTTP/1.1 request heads, parsed strictly: a request that two parsers could read in two ways
// (whitespace before a colon, folded lines, conflicting lengths, a body framed by both
// Transfer-Encoding and Content-Length) is refused, which is what keeps a proxy in front of
// the server from being fooled into seeing a different request (request smuggling).

#include "serve/http_parser.h"

#include <charconv>

namespace statefold {
namespace {

// RFC 9110 5.6.2: token characters.
bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsTargetChar(unsigned char c) { return c > 0x20 && c < 0x7f; }

// Header values: visible ASCII, space, tab and obs-text; no other control characters.
bool IsValueChar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x |= 0x20;
    if (y >= 'A' && y <= 'Z') y |= 0x20;
    if (x != y) return false;
  }
  return true;
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

std::string_view TrimWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `visit` for each comma-separated element of a header value, trimmed, skipping empty
// ones (RFC 9110 5.6.1).
template <typename Visit>
void ForEachListElement(std::string_view value, Visit visit) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view element = TrimWhitespace(value.substr(0, comma));
    if (!element.empty()) visit(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

struct Failure {
  int status;
  const char* message;
};

// Checks a request line, or the beginning of one when `complete` is false, character by
// character. Sets the parts when complete.
bool CheckRequestLine(std::string_view line, bool complete, HttpRequest* request,
                      Failure* failure) {
  static constexpr std::string_view kVersionPrefix = "HTTP/";
  size_t i = 0;
  while (i < line.size() && IsTokenChar(static_cast<unsigned char>(line[i]))) ++i;
  if (i == line.size()) {
    if (complete) *failure = {400, "malformed request line"};
    return !complete;
  }
  if (line[i] != ' ' || i == 0) {
    *failure = {400, "malformed request line: the method must be a token followed by a space"};
    return false;
  }
  std::string_view method = line.substr(0, i);
  size_t target_begin = ++i;
  while (i < line.size() && IsTargetChar(static_cast<unsigned char>(line[i]))) ++i;
  if (i == line.size()) {
    if (complete) *failure = {400, "malformed request line: no HTTP version"};
    return !complete;
  }
  if (line[i] != ' ' || i == target_begin) {
    *failure = {400, "malformed request line: the target must be followed by one space"};
    return false;
  }
  std::string_view target = line.substr(target_begin, i - target_begin);
  std::string_view version = line.substr(i + 1);
  // "HTTP/" DIGIT "." DIGIT
  for (size_t k = 0; k < version.size(); ++k) {
    char c = version[k];
    bool ok = k < kVersionPrefix.size() ? c == kVersionPrefix[k]
              : k == 6                  ? c == '.'
              : k < 8                   ? c >= '0' && c <= '9'
                                        : false;
    if (!ok) {
      *failure = {400, "malformed request line: bad HTTP version"};
      return false;
    }
  }
  if (!complete) return true;
  if (version.size() != 8) {
    *failure = {400, "malformed request line: bad HTTP version"};
    return false;
  }
  if (version[5] != '1') {
    *failure = {505, "only HTTP/1.0 and HTTP/1.1 are supported"};
    return false;
  }
  request->method = method;
  request->target = target;
  request->minor_version = version[7] - '0';
  return true;
}

bool SplitTarget(HttpRequest* request, Failure* failure) {
  std::string_view target = request->target;
  std::string_view path;
  if (target.front() == '/' || target == "*") {
    path = target;
  } else if (StartsWithIgnoreCase(target, "http://") || StartsWithIgnoreCase(target, "https://")) {
    // absolute-form (RFC 9112 3.2.2): the authority is ignored, the Host header is not.
    size_t authority = target.find("://") + 3;
    size_t path_begin = target.find_first_of("/?", authority);
    path = path_begin == std::string_view::npos ? std::string_view("/") : target.substr(path_begin);
    if (!path.empty() && path.front() == '?') {
      request->path = "/";
      request->query = path.substr(1);
      return true;
    }
  } else {
    *failure = {400, "malformed request target"};
    return false;
  }
  size_t question = path.find('?');
  request->path = path.substr(0, question);
  request->query =
      question == std::string_view::npos ? std::string_view() : path.substr(question + 1);
  return true;
}

// The header fields this server acts on.
struct Framing {
  bool has_content_length = false;
  bool transfer_encoding = false;
  bool chunked = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  int hosts = 0;
};

bool ApplyHeader(const HttpHeader& header, const HttpLimits& limits, HttpRequest* request,
                 Framing* framing, Failure* failure) {
  std::string_view name = header.name;
  std::string_view value = header.value;
  if (EqualsIgnoreCase(name, "content-length")) {
    if (value.empty()) {
      *failure = {400, "Content-Length must be a decimal number"};
      return false;
    }
    for (char c : value) {
      if (c < '0' || c > '9') {
        *failure = {400, "Content-Length must be a decimal number"};
        return false;
      }
    }
    uint64_t length = 0;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (error != std::errc() || length > limits.max_body_bytes) {
      *failure = {413, "the request body is larger than the server accepts"};
      return false;
    }
    if (framing->has_content_length && request->content_length != length) {
      *failure = {400, "conflicting Content-Length headers"};
      return false;
    }
    framing->has_content_length = true;
    request->content_length = static_cast<size_t>(length);
  } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
    framing->transfer_encoding = true;
    ForEachListElement(value, [&](std::string_view coding) {
      if (EqualsIgnoreCase(coding, "chunked")) framing->chunked = true;
    });
  } else if (EqualsIgnoreCase(name, "connection")) {
    ForEachListElement(value, [&](std::string_view option) {
      if (EqualsIgnoreCase(option, "close")) framing->connection_close = true;
      if (EqualsIgnoreCase(option, "keep-alive")) framing->connection_keep_alive = true;
    });
  } else if (EqualsIgnoreCase(name, "expect")) {
    if (EqualsIgnoreCase(value, "100-continue")) request->expect_continue = true;
  } else if (EqualsIgnoreCase(name, "host")) {
    ++framing->hosts;
  }
  return true;
}

}  // namespace

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return h.value;
  }
  return {};
}

HttpParseResult ParseHttpRequestHead(std::string_view input, const HttpLimits& limits,
                                     HttpRequest* request, size_t* head_size, int* error_status,
                                     std::string* error_message) {
  Failure failure{400, ""};
  auto fail = [&]() {
    *error_status = failure.status;
    error_message->assign(failure.message);
    return HttpParseResult::kError;
  };
  auto incomplete = [&]() {
    if (input.size() >= limits.max_header_bytes) {
      failure = {431, "the request line and headers are larger than the server accepts"};
      return fail();
    }
    return HttpParseResult::kIncomplete;
  };

  size_t pos = 0;
  while (pos < input.size() && (input[pos] == '\r' || input[pos] == '\n')) {
    if (input[pos] == '\r') {
      if (pos + 1 == input.size()) return incomplete();
      if (input[pos + 1] != '\n') {
        failure = {400, "a carriage return must be followed by a line feed"};
        return fail();
      }
      ++pos;
    }
    ++pos;
  }

  // Reads the line starting at `pos`, without its CRLF (or bare LF, RFC 9112 2.2), into
  // *line and moves `pos` past it. False when the line has not ended yet.
  auto next_line = [&](std::string_view* line) {
    size_t newline = input.find('\n', pos);
    if (newline == std::string_view::npos) return false;
    *line = input.substr(pos, newline - pos);
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    pos = newline + 1;
    return true;
  };

  request->method = request->target = request->path = request->query = request->body = {};
  request->content_length = 0;
  request->expect_continue = false;
  request->headers.clear();

  std::string_view line;
  size_t line_begin = pos;
  if (!next_line(&line)) {
    std::string_view partial = input.substr(line_begin);
    if (!partial.empty() && partial.back() == '\r') partial.remove_suffix(1);
    if (!CheckRequestLine(partial, false, request, &failure)) return fail();
    return incomplete();
  }
  if (line.find('\r') != std::string_view::npos) {
    failure = {400, "a carriage return must be followed by a line feed"};
    return fail();
  }
  if (!CheckRequestLine(line, true, request, &failure)) return fail();
  if (!SplitTarget(request, &failure)) return fail();

  Framing framing;
  for (;;) {
    if (!next_line(&line)) return incomplete();
    if (pos > limits.max_header_bytes) {
      failure = {431, "the request line and headers are larger than the server accepts"};
      return fail();
    }
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      failure = {400, "folded header lines are not accepted"};
      return fail();
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      failure = {400, "malformed header line: no colon"};
      return fail();
    }
    HttpHeader header{line.substr(0, colon), TrimWhitespace(line.substr(colon + 1))};
    if (header.name.empty()) {
      failure = {400, "malformed header line: empty name"};
      return fail();
    }
    for (char c : header.name) {
      if (!IsTokenChar(static_cast<unsigned char>(c))) {
        failure = {400, "malformed header name (no whitespace is allowed before the colon)"};
        return fail();
      }
    }
    for (char c : header.value) {
      if (!IsValueChar(static_cast<unsigned char>(c))) {
        failure = {400, "malformed header value: control character"};
        return fail();
      }
    }
    if (request->headers.size() == limits.max_headers) {
      failure = {431, "too many header fields"};
      return fail();
    }
    request->headers.push_back(header);
    if (!ApplyHeader(header, limits, request, &framing, &failure)) return fail();
  }

  if (framing.transfer_encoding) {
    // Chunked bodies are the only transfer coding a client may send without asking; the API's
    // bodies are small JSON documents, so a length is required instead (RFC 9112 6.3).
    failure = framing.chunked ? Failure{411, "send the body with Content-Length, not chunked"}
                              : Failure{501, "unsupported Transfer-Encoding"};
    return fail();
  }
  if (request->minor_version == 1 && framing.hosts != 1) {
    failure = {400, framing.hosts == 0 ? "missing Host header" : "more than one Host header"};
    return fail();
  }
  request->keep_alive = request->minor_version == 1
                            ? !framing.connection_close
                            : framing.connection_keep_alive && !framing.connection_close;
  if (request->minor_version == 0) request->expect_continue = false;
  *head_size = pos;
  return HttpParseResult::kComplete;
}

bool PercentDecode(std::string_view text, std::string* out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  out->reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out->push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    int high = hex(text[i + 1]);
    int low = hex(text[i + 2]);
    if (high < 0 || low < 0) return false;
    out->push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return true;
}

std::string_view HttpReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace statefold
