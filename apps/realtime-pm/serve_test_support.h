// Helpers shared by the tests that drive the real `realtime-pm` binary
// (serve_test, serve_faults_test, serve_tls_test, serve_hostile_test,
// backup_test): message texts of PROTOCOL.md, field access on parsed
// messages, the room document and metrics over HTTP, polling, running a
// command, and RawSocket, a client on a bare TCP socket for clients that must
// misbehave. Tests only.
#pragma once

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtpm/json/json.h"
#include "rtpm/testing/server_process.h"

namespace rtpm::testing {

inline json::Value parse(const std::string& text) {
  auto v = json::parse(text);
  if (!v) throw std::runtime_error("bad JSON in test: " + text);
  return *v;
}

/// The string field `key`, or "" when it is missing or not a string.
inline std::string str_field(const json::Value& v, const char* key) {
  const json::Value* f = v.find(key);
  return f && f->is_string() ? f->as_string() : std::string();
}

/// The number field `key`, or -1 when it is missing or not a number.
inline int64_t num_field(const json::Value& v, const char* key) {
  const json::Value* f = v.find(key);
  return f && f->is_number() ? static_cast<int64_t>(f->as_number()) : -1;
}

/// A `join`; `extra` is appended inside the object (e.g. `,"version":3`).
inline std::string join_msg(const std::string& room, const std::string& user,
                            const std::string& extra = "") {
  return R"({"type":"join","room":")" + room + R"(","userId":")" + user + "\"" + extra + "}";
}

/// A `replace` step inserting `text` at `pos`.
inline std::string insert_step(int pos, const std::string& text) {
  return R"({"stepType":"replace","from":)" + std::to_string(pos) + R"(,"to":)" +
         std::to_string(pos) + R"(,"slice":{"content":[{"type":"text","text":")" + text + "\"}]}}";
}

/// A `steps` message (with a client `timestamp`, which the server ignores).
inline std::string steps_msg(const std::string& room, const std::string& user, int64_t version,
                             const std::string& steps_array) {
  return R"({"type":"steps","room":")" + room + R"(","version":)" + std::to_string(version) +
         R"(,"steps":)" + steps_array + R"(,"userId":")" + user + R"(","timestamp":1})";
}

/// The room as `GET /api/rooms/ROOM` reports it (expects 200).
inline json::Value room_doc(uint16_t port, const std::string& room) {
  auto res = http_get(port, "/api/rooms/" + room);
  EXPECT_EQ(res.status, 200) << res.body;
  return parse(res.body);
}

/// The value of an unlabelled metric (or of `name` with its labels, e.g.
/// `realtime_pm_errors_total{code="internal"}`), or -1.
inline int64_t metric(uint16_t port, const std::string& name) {
  std::string body = http_get(port, "/metrics").body;
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind(name + " ", 0) == 0) return std::stoll(line.substr(name.size() + 1));
  return -1;
}

/// Polls `cond` every 20 ms until it holds or `limit` has passed; returns its last answer.
template <class F>
bool eventually(F cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

/// What a command printed and how it ended.
struct CommandResult {
  /// The exit status (0-255), or -1 when it did not exit normally.
  int status = -1;
  /// Its standard output, and standard error too when the command says `2>&1`.
  std::string output;
};

/// Runs `command` with /bin/sh and waits for it.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return result;
  std::array<char, 4096> buf;
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) result.output.append(buf.data(), n);
  int status = pclose(p);
  if (status != -1 && WIFEXITED(status)) result.status = WEXITSTATUS(status);
  return result;
}

/// An HTTP response as RawSocket parsed it (header names in lower case).
struct RawHttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

/// A TCP client on a bare socket, for clients that must misbehave: it connects from a chosen
/// loopback source address (the whole of 127/8 is loopback, so each address is another
/// client to the server), writes any bytes, reads only when asked, parses HTTP responses by
/// hand, and speaks just enough WebSocket (the upgrade, masked frames, frames read back).
class RawSocket {
 public:
  static constexpr const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455's sample key

  /// Connects to 127.0.0.1:port from `source`; `rcvbuf` > 0 shrinks the receive buffer first.
  /// Throws when the connection fails.
  explicit RawSocket(uint16_t port, const std::string& source = "127.0.0.1", int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      ::close(fd_);
      throw std::runtime_error("bind to " + source + " failed");
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect failed");
    }
  }
  ~RawSocket() { ::close(fd_); }
  RawSocket(const RawSocket&) = delete;

  /// Writes all of `bytes`; throws when the connection is gone.
  void send(std::string_view bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t w = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (w <= 0) throw std::runtime_error("write failed");
      off += static_cast<size_t>(w);
    }
  }

  /// Reads until `n` bytes are buffered; false when the connection closed or nothing more
  /// came within `timeout` (0: only what has arrived already).
  bool fill(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (buffer_.size() < n)
      if (!read_more(left_until(until))) return false;
    return true;
  }

  /// One HTTP response (a HEAD response has no body, whatever its Content-Length); nullopt
  /// when the connection closed or no whole response came within `timeout`.
  std::optional<RawHttpResponse> read_response(
      bool head = false, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!read_more(left_until(until))) return std::nullopt;
    RawHttpResponse res;
    std::string head_text = buffer_.substr(0, end);
    size_t space = head_text.find(' ');
    if (head_text.rfind("HTTP/1.", 0) != 0 || space == std::string::npos)
      throw std::runtime_error("not an HTTP response: " + head_text.substr(0, 200));
    res.status = std::atoi(head_text.c_str() + space + 1);
    std::istringstream lines(head_text);
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = line.find_first_not_of(' ', colon + 1);
      res.headers[name] = v == std::string::npos ? "" : line.substr(v);
    }
    buffer_.erase(0, end + 4);
    size_t length = 0;
    if (!head && res.headers.count("content-length"))
      length = std::stoul(res.headers["content-length"]);
    if (!fill(length, left_until(until))) return std::nullopt;
    res.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return res;
  }

  /// Sends a WebSocket upgrade request to /ws with `key`; returns the response's status (0
  /// when none came).
  int upgrade(const std::string& key = kKey) {
    send(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: " +
        key + "\r\nSec-WebSocket-Version: 13\r\n\r\n");
    auto res = read_response();
    return res ? res->status : 0;
  }

  /// Sends one masked frame (FIN set) with `opcode` (1 text, 8 close, 9 ping, 10 pong).
  void send_frame(int opcode, std::string_view payload) { send(frame(opcode, payload)); }
  void send_text(std::string_view payload) { send_frame(0x1, payload); }
  /// The bytes of one masked frame.
  static std::string frame(int opcode, std::string_view payload) {
    std::string out(1, static_cast<char>(0x80 | opcode));
    size_t n = payload.size();
    if (n < 126) {
      out += static_cast<char>(0x80 | n);
    } else {
      out += static_cast<char>(0x80 | 126);
      out += static_cast<char>(n >> 8);
      out += static_cast<char>(n & 0xff);
    }
    const std::array<unsigned char, 4> mask = {0x12, 0x34, 0x56, 0x78};
    for (unsigned char m : mask) out += static_cast<char>(m);
    for (size_t i = 0; i < n; ++i) out += static_cast<char>(payload[i] ^ mask[i % 4]);
    return out;
  }
  /// A close frame's payload: the code, big-endian.
  static std::string close_payload(uint16_t code) {
    return {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
  }

  /// The next frame from the server (unmasked, payload under 64 KiB): its opcode and payload;
  /// nullopt when the connection closed or none came within `timeout`.
  std::optional<std::pair<int, std::string>> read_frame(
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    if (!fill(2, timeout)) return std::nullopt;
    int opcode = buffer_[0] & 0x0f;
    size_t len = static_cast<unsigned char>(buffer_[1]) & 0x7f, at = 2;
    if (len == 126) {
      if (!fill(4, timeout)) return std::nullopt;
      len = (static_cast<size_t>(static_cast<unsigned char>(buffer_[2])) << 8) |
            static_cast<unsigned char>(buffer_[3]);
      at = 4;
    } else if (len == 127) {
      throw std::runtime_error("frame too large for RawSocket");
    }
    if (!fill(at + len, timeout)) return std::nullopt;
    std::string payload = buffer_.substr(at, len);
    buffer_.erase(0, at + len);
    return std::make_pair(opcode, std::move(payload));
  }

  /// True when the server has closed the connection (reads and drops what is queued).
  bool closed_by_peer() {
    char buf[4096];
    for (;;) {
      ssize_t r = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (r == 0) return true;
      if (r < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }

 private:
  static std::chrono::milliseconds left_until(std::chrono::steady_clock::time_point until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    return std::max(left, std::chrono::milliseconds(0));
  }
  // Appends what arrives within `timeout`; false on EOF, error or timeout.
  bool read_more(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[16384];
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(r));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;  // read, not yet consumed
};

}  // namespace rtpm::testing
