// Test helpers that drive a real `realtime-pm serve` process over real
// sockets: ServerProcess starts and stops the binary (SIGTERM or SIGKILL) on a
// free loopback port with its own data folder; WsClient is a blocking
// WebSocket client whose reader thread queues every message; http_get
// fetches a URL.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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
};
/// GET http://127.0.0.1:port/target, or https:// when `tls_ca` names a PEM file of
/// trusted certificates (the server's must be valid for the name "localhost"). Throws on
/// connection or TLS failure.
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
