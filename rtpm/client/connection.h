// Connection: the client's WebSocket to a realtime-pm server, kept open.
//
// It owns one socket at a time (ws:// or wss://; TCP, optionally bound to a
// local address, TLS with SNI and peer verification, the WebSocket handshake
// offering one subprotocol), a write queue with one write in flight, the
// keep-alive (a ping after half the idle time, the socket dropped after the
// whole idle time without traffic), and reconnection with backoff
// (backoff.h) until close(). It carries PROTOCOL.md messages and knows
// nothing about rooms: it encodes the client messages it is given (JSON or
// binary, as the server chose) and decodes what arrives into server
// messages for its handler. RealtimeClient runs its room sessions over one.
//
// Threading. The connection runs on a strand given by its owner; handler
// calls happen on that strand, one at a time and in order. send() is
// thread-safe; a message is queued only while the socket is open and goes out
// on that socket only: the queue is emptied when the socket drops (before the
// handler hears of it), so a message never reaches a later connection. The
// other methods may be called from any thread too; they post to the strand.
//
// Ownership. Create with std::make_shared; the connection keeps itself alive
// while its coroutines run, and holds its handler weakly.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "rtpm/base/error.h"
#include "rtpm/client/backoff.h"
#include "rtpm/client/shared_steps.h"
#include "rtpm/protocol/client_messages.h"
#include "rtpm/protocol/server_messages.h"

namespace rtpm::client {

/// The WebSocket subprotocol to speak.
enum class Subprotocol {
  json,    ///< realtime-pm.json.v1 (text frames)
  binary,  ///< realtime-pm.bin.v1 (binary frames, protocol/binary_codec.h)
};

/// The state of the connection.
enum class ConnectionState {
  connecting,  ///< a socket is being opened (TCP, TLS, WebSocket handshake)
  open,        ///< the WebSocket is open
  offline,     ///< no socket; a reconnection is scheduled (after the backoff delay)
  closed,      ///< close() was called (or the client destroyed); nothing more happens
};

/// A WebSocket URL, taken apart.
struct ServerUrl {
  bool tls = false;    ///< wss://
  std::string host;    ///< a name or an address (IPv6 without brackets)
  std::string port;    ///< default 80 (ws) or 443 (wss)
  std::string target;  ///< the path and query, at least "/"
};

/// Parses `ws://HOST[:PORT][/PATH]` or `wss://...` (IPv6 hosts in brackets);
/// nullopt when `url` is not such a URL.
std::optional<ServerUrl> parse_server_url(std::string_view url);

/// How to reach the server. The fields mean what ClientOptions' fields of the
/// same names mean (realtime_client.h).
struct ConnectionOptions {
  std::string url;
  Subprotocol subprotocol = Subprotocol::json;
  std::string bearer_token;
  bool verify_peer = true;
  std::string ca_file;
  /// The local address to bind before connecting (e.g. "127.0.0.2" to use
  /// another source address's ports); empty: the system chooses.
  std::string bind_address;
  BackoffOptions backoff;
  int64_t connect_timeout_ms = 10000;
  int64_t idle_timeout_ms = 30000;
  /// Frames that other connections of this process received too are decoded
  /// once (ClientOptions::shared_steps). Null: each frame is decoded here.
  std::shared_ptr<SharedSteps> shared;
  /// Drop the server's `presence` frames undecoded (protocol::is_presence_frame): for a
  /// client that ignores others' presence (ClientOptions::remote_presence false).
  bool skip_presence = false;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  /// What the owner hears, on the connection's strand.
  class Handler {
   public:
    virtual ~Handler() = default;
    /// The state changed to connecting, open or offline (never closed: the
    /// owner closes). On `open` messages may be sent; before `offline` the
    /// write queue was emptied.
    virtual void on_connection_state(ConnectionState state) = 0;
    /// A message from the server, or why a frame did not decode (bad_message).
    virtual void on_server_message(Result<protocol::ServerMessage> message) = 0;
    /// A connection attempt failed: what failed and why (e.g. "connect: tcp: ...").
    virtual void on_connect_error(std::string message) = 0;
  };

  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  /// Throws std::invalid_argument for a malformed URL or a bad bind address.
  Connection(ConnectionOptions options, Strand strand, std::weak_ptr<Handler> handler);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Starts connecting (and reconnecting) unless started or closed.
  void start();
  /// Queues `message` for the open socket. Returns false (dropping it) when
  /// no socket is open. Thread-safe.
  bool send(const protocol::ClientMessage& message);
  /// Drops the current socket as if the network failed; reconnects after the
  /// backoff delay.
  void drop();
  /// Skips what remains of the backoff delay.
  void reconnect_now();
  /// Sends what is queued, closes the socket with a close frame and stops
  /// reconnecting; final. A connection attempt under way is abandoned.
  void close();
  /// Strand only: the next retry starts from the first delay again.
  void reset_backoff() { backoff_.reset(); }

  /// Connection attempts made so far.
  int attempts() const { return attempts_.load(); }
  /// Times a socket opened (the first included).
  int opened() const { return opened_.load(); }
  /// The subprotocol of the open socket; nullopt while none is open.
  std::optional<Subprotocol> subprotocol() const;
  /// Ready once the connection has stopped for good (after close()).
  std::shared_future<void> finished() const { return finished_future_; }

 private:
  struct Outgoing {
    std::string payload;
    bool binary = false;
  };

  static boost::asio::awaitable<void> run(std::shared_ptr<Connection> self);
  boost::asio::awaitable<void> attempt();
  template <class Ws>
  boost::asio::awaitable<void> run_socket(std::shared_ptr<Ws> ws,
                                          boost::asio::ip::tcp::resolver::results_type results);
  template <class Ws>
  static boost::asio::awaitable<void> write_loop(std::shared_ptr<Connection> self,
                                                 std::shared_ptr<Ws> ws,
                                                 std::shared_ptr<boost::asio::steady_timer> wake,
                                                 int64_t generation);
  void state(ConnectionState s);
  void connect_error(const std::string& what, const std::string& why);
  void wake_writer();
  bool is_closed() const;

  ConnectionOptions options_;
  ServerUrl url_;
  Strand strand_;
  std::weak_ptr<Handler> handler_;
  boost::asio::steady_timer retry_timer_;  // strand only
  Backoff backoff_;                        // strand only
  std::function<void()> abort_;            // strand only: closes the current socket
  std::function<void()> wake_;             // strand only: wakes the current writer
  std::atomic<int> attempts_{0};
  std::atomic<int> opened_{0};
  std::atomic<bool> wake_posted_{false};

  mutable std::mutex mu_;  // guards the members below
  bool started_ = false;
  bool closed_ = false;
  bool open_ = false;  // a socket is open: send() queues
  bool binary_ = false;
  int64_t generation_ = 0;  // counts sockets; a writer of an older one stops
  std::deque<Outgoing> outbox_;

  std::promise<void> finished_;
  std::shared_future<void> finished_future_ = finished_.get_future().share();
};

/// An HTTP response.
struct HttpResponse {
  int status = 0;
  std::string body;
};

/// Sends one HTTP request to the server of WebSocket endpoint `options.url`
/// and waits for the answer, blocking: ws -> http, wss -> https, the URL's
/// path with a final "/ws" replaced by `path` (which may have a query of its
/// own), and the URL's query kept after it (a `?token=` authenticates the
/// request as it does the WebSocket). `method` is the HTTP method ("GET",
/// "POST", ...); a non-empty `body` goes out as `application/json`. Uses url,
/// bearer_token (as `Authorization: Bearer`), verify_peer, ca_file,
/// bind_address and connect_timeout_ms (which bounds the whole exchange).
/// Any status is returned, with a body of up to 256 MiB; errors: internal
/// (resolve, connection, TLS or HTTP failure), bad_message (a malformed URL
/// or method).
Result<HttpResponse> http_request(const ConnectionOptions& options, std::string_view method,
                                  std::string_view path, std::string body = {});

/// http_request(options, "GET", path): e.g. fetch_schema's "/api/schema".
Result<HttpResponse> http_get(const ConnectionOptions& options, std::string_view path);

}  // namespace rtpm::client
