// RealtimeServer: the collaboration server. Wires the listener, HTTP and
// WebSocket sessions, rooms, the storage thread and the store.
//
//   RealtimeServer server(ServerOptions{.port = 8080});
//   if (auto r = server.start(); !r) { ... r.error().message ... }
//   server.run();  // blocks until shutdown() (e.g. from a signal handler)
//
// Thread-safety: start() and run() from one thread; shutdown() from any.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "rtpm/base/error.h"
#include "rtpm/server/options.h"

namespace boost::asio {
class io_context;
}

namespace rtpm::server {

struct ServerContext;
class Listener;

class RealtimeServer {
 public:
  explicit RealtimeServer(ServerOptions options);
  ~RealtimeServer();

  /// Loads the schema, opens the store, binds the port. Errors name the cause.
  Result<void> start();
  /// The bound port (after start()).
  uint16_t port() const { return port_; }
  /// Runs the server on its worker threads until shutdown() completes.
  void run();
  /// Graceful shutdown: stop accepting, let in-flight steps become durable and
  /// be acknowledged, close every connection with 1001, then return from run().
  void shutdown();

 private:
  ServerOptions options_;
  std::unique_ptr<boost::asio::io_context> ioc_;
  std::unique_ptr<ServerContext> ctx_;
  std::shared_ptr<Listener> listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread shutdown_thread_;
};

/// The JSON spec text of a built-in schema ("basic", "tiptap"), or empty.
std::string_view builtin_schema(std::string_view name);

}  // namespace rtpm::server
