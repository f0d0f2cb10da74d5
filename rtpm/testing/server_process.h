// Test helpers that drive a real `realtime-pm serve` process over real
// sockets: ServerProcess starts and stops the binary (SIGTERM or SIGKILL) on a
// free loopback port with its own data folder; WsClient is a blocking
// WebSocket client whose reader thread queues every message; http_request
// sends any HTTP request (http_get a GET).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "rtpm/json/json.h"

namespace rtpm::testing {

class ServerProcess {
 public:
  /// `binary`: path of realtime-pm; `args` are added after `serve`.
  ServerProcess(std::string binary, std::vector<std::string> args = {}, std::string data_dir = {});
  ~ServerProcess();
  /// Starts the server and waits (up to 20 s) until it listens. Throws on failure.
  void start();
  /// Starts the server again after stop() or kill9(), on the same port and
  /// data folder (clients reconnect to the same URL). Throws on failure.
  void restart();
  /// SIGTERM and wait for exit; returns the exit status.
  int stop();
  /// SIGKILL and wait.
  void kill9();
  bool running() const { return pid_ > 0; }
  /// The server's process id (-1 when not running), e.g. to SIGSTOP it.
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }

 private:
  std::string binary_;
  std::vector<std::string> args_;
  std::string data_dir_;
  bool own_dir_ = false;
  void start_on(uint16_t port);
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  /// The header fields, names in lower case (a repeated name keeps its last value).
  std::map<std::string, std::string> headers;
};
/// One request, `method` (GET, HEAD, POST, PUT, DELETE, ...) of http://127.0.0.1:port/target
/// with `body` (sent with its Content-Length when not empty, or when the method is POST or PUT)
/// and `headers` (name, value) added, on a connection of its own; https:// when `tls_ca` names
/// a PEM file of trusted certificates (the server's must be valid for the name "localhost").
/// Throws on connection or TLS failure.
HttpResponse http_request(uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body = {},
                          const std::vector<std::pair<std::string, std::string>>& headers = {},
                          const std::string& tls_ca = {});
/// GET http://127.0.0.1:port/target (https:// with `tls_ca`): http_request without a body.
HttpResponse http_get(uint16_t port, const std::string& target, const std::string& tls_ca = {});

class WsClient {
 public:
  /// Connects to ws://127.0.0.1:port/path offering `subprotocol` (none when empty). Throws.
  /// `bearer`, when given, is sent as `Authorization: Bearer ...`. With `tls_ca` (a PEM file
  /// of trusted certificates) it connects to wss:// and verifies the server as "localhost".
  explicit WsClient(uint16_t port, std::string subprotocol = "realtime-pm.json.v1",
                    std::string path = "/ws", std::string bearer = {}, std::string tls_ca = {});
  ~WsClient();
  /// The subprotocol the server chose ("" when none).
  const std::string& subprotocol() const { return chosen_; }
  void send(const std::string& text);
  void send_binary(const std::string& bytes);
  /// The next message, parsed; nullopt on timeout or when closed.
  std::optional<json::Value> recv(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// The next message of `type`, skipping others (e.g. presence); nullopt on timeout.
  std::optional<json::Value> recv_type(const std::string& type,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// True once the connection has closed; close_code() says how (0 if unknown).
  bool closed();
  int close_code();
  /// Drops queued messages.
  void clear();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string chosen_;
};

/// Builds a JSON message text from a json::Value (convenience for tests).
std::string to_text(const json::Value& v);

}  // namespace rtpm::testing
