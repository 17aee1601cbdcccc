// A blocking HTTP/1.1 client over a real loopback socket, for the server tests: it sends
// exactly the bytes a test gives it and reads responses one at a time.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <string>
#include <string_view>

namespace statefold::testing {

struct TestResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;

  // The value of header `name` (case-insensitive), or "".
  std::string Header(std::string_view name) const {
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      size_t end = head.find("\r\n", pos + 2);
      std::string line = head.substr(pos + 2, end - pos - 2);
      size_t colon = line.find(':');
      if (colon == name.size()) {
        bool same = true;
        for (size_t i = 0; i < colon; ++i) {
          same = same && std::tolower(static_cast<unsigned char>(line[i])) ==
                             std::tolower(static_cast<unsigned char>(name[i]));
        }
        if (same) {
          size_t value = line.find_first_not_of(' ', colon + 1);
          return value == std::string::npos ? "" : line.substr(value);
        }
      }
      pos = end;
    }
    return "";
  }
};

class TestConnection {
 public:
  explicit TestConnection(int port, int timeout_ms = 5000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~TestConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  TestConnection(const TestConnection&) = delete;
  TestConnection& operator=(const TestConnection&) = delete;

  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Reads one response (interim 1xx responses included). False on EOF, error or timeout.
  bool ReadResponse(TestResponse* response) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    response->head = buffer_.substr(0, end);
    response->status = std::stoi(response->head.substr(9, 3));
    std::string length = response->Header("content-length");
    size_t body_size = length.empty() ? 0 : std::stoul(length);
    buffer_.erase(0, end + 4);
    while (buffer_.size() < body_size) {
      if (!Fill()) return false;
    }
    response->body = buffer_.substr(0, body_size);
    buffer_.erase(0, body_size);
    return true;
  }

  // A HEAD response has a Content-Length but no body.
  bool ReadHeadResponse(TestResponse* response) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    response->head = buffer_.substr(0, end);
    response->status = std::stoi(response->head.substr(9, 3));
    response->body.clear();
    buffer_.erase(0, end + 4);
    return true;
  }

  // True when the server closes the connection (EOF or reset) before the timeout, with no
  // bytes left unread.
  bool ClosedByPeer() {
    char byte;
    ssize_t n = ::recv(fd_, &byte, 1, 0);
    if (n == 0) return buffer_.empty();
    if (n < 0) return errno == ECONNRESET;
    return false;
  }

 private:
  bool Fill() {
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

inline std::string Get(std::string_view path, std::string_view extra_headers = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

inline std::string Post(std::string_view path, std::string_view body,
                        std::string_view extra_headers = "") {
  return "POST " + std::string(path) +
         " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra_headers) + "\r\n" + std::string(body);
}

}  // namespace statefold::testing
