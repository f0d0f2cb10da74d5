// WebSocketSession: one client connection (ws:// or wss://, see ServerStream)
// speaking the JSON or the binary subprotocol.
//
// Reads one message at a time, enforces the per-connection limits (size,
// rate -- control frames included, see MessageBudget -- and rooms), decodes
// and validates the message, and hands it to its room; a join first passes the
// connection's grant (Authenticator, docs/security.md: the room, the userId =
// subject, read-only access) or, with --auth-url, the application's answer,
// asked asynchronously. A close frame with a
// code RFC 6455 does not define (5000 and up; Beast refuses the others) is
// answered with 1002.
// Writes go through a bounded queue with one write in flight: a client that
// reads too slowly is disconnected instead of stalling its rooms. The frames
// of a burst (messages queued while a write was out) leave in one write. All state
// lives on the session's strand; send() and left_room() may be called from
// any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "rtpm/base/error.h"
#include "rtpm/protocol/client_messages.h"
#include "rtpm/server/authenticator.h"
#include "rtpm/server/client_limits.h"
#include "rtpm/server/context.h"
#include "rtpm/server/message_budget.h"
#include "rtpm/server/payload.h"
#include "rtpm/server/server_stream.h"

namespace rtpm::server {

class Relay;
enum class RelayEnd;

class WebSocketSession : public std::enable_shared_from_this<WebSocketSession> {
 public:
  /// The stream's executor must be a strand; a TLS stream has done its handshake. `slot` is the
  /// connection's place in ClientLimits, held until the session ends; `auth` is what the
  /// upgrade request presented (Authenticator::session_auth), fixed for the session's life.
  WebSocketSession(ServerContext& ctx, ServerStream&& stream, ClientLimits::Slot slot,
                   SessionAuth auth = {});
  ~WebSocketSession();

  /// Accepts the upgrade request and starts reading.
  void run(boost::beast::http::request<boost::beast::http::string_body> request);
  /// Queues a message (shared between the recipients of a broadcast); it goes
  /// out as JSON text or in the binary form, per this connection's subprotocol.
  /// Runs at once when this thread may enter the session's strand (dispatch).
  void send(PayloadPtr message);
  /// The room says this connection is no longer in it (leave, replacement, failure).
  void left_room(const std::string& room);
  /// The relay of `room` ended (relay.h): the member is no longer in the room, and gets
  /// `internal` (unreachable) or `session_replaced` (replaced) for it unless `quiet`.
  void relay_ended(const std::string& room, const Relay* relay, RelayEnd end);
  /// When the session's grant expires (Unix ms), if it does; its token id ("" if none).
  std::optional<int64_t> expires_at_ms() const {
    return auth_.grant ? auth_.grant->expires_at_ms : std::nullopt;
  }
  std::string_view token_id() const {
    return auth_.grant ? std::string_view(auth_.grant->token_id) : std::string_view();
  }
  /// Answers `unauthorized` with `message` and closes the connection (1008): its token expired
  /// or was revoked.
  void refuse(std::string message);
  /// This connection's number, unique in the process (rooms know connections by it).
  uint64_t id() const { return id_; }
  /// The client's address key (ClientLimits::address_key), e.g. for room creation limits.
  const std::string& client_key() const { return slot_.key(); }
  /// Closes the connection with the given close code (shutdown: 1001).
  void close(boost::beast::websocket::close_code code);

 private:
  using Clock = std::chrono::steady_clock;
  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, size_t bytes);
  void handle_message();
  /// The message's value, parsed as the subprotocol says (its frame type checked);
  /// bad_message otherwise.
  Result<json::Value> parse_frame(const std::string& text) const;
  /// The room of a message refused unread (rate_limited), when it parses and names one.
  std::optional<std::string> refused_room(const std::string& text) const;
  void handle_value(const json::Value& message);
  /// A join: checks the grant (or asks --auth-url), then hands it to the room. `text` is the
  /// message as JSON when the join may be relayed to another node (cluster mode).
  void join(protocol::JoinMessage message, std::string text);
  /// An authorized join: to the room here, or (cluster mode) through a relay to its owner.
  void enter(protocol::JoinMessage message, bool was_in, room::Access access, std::string subject,
             std::string text);
  /// The relay of `room`, if the room is served by another node; null otherwise.
  Relay* relay_for(const std::string& room) const;
  /// The join was refused before reaching the room.
  void refuse_join(const std::string& room, bool was_in, ErrorCode code, std::string message);
  /// A control frame arrived (Beast's control callback, inside the read).
  void on_control(boost::beast::websocket::frame_type kind);
  void send_error(ErrorCode code, std::string message, std::optional<std::string> room = {});
  void do_write();
  void on_write(boost::beast::error_code ec, size_t bytes);
  void teardown();
  bool in_room(const std::string& room) const;

  ServerContext& ctx_;
  const uint64_t id_;
  ClientLimits::Slot slot_;
  // Memory per idle connection (docs/benchmark-results.md): over ServerStream's strand-typed socket
  // (the websocket stream's own timer does the handshake and idle timeouts), and without
  // permessage-deflate (never negotiated) so its state is compiled out.
  boost::beast::websocket::stream<ServerStream, false> ws_;
  // Reads land in a small fixed chunk (Beast buffers whole frames itself) and are appended to
  // message_, which is released after every message: an idle connection holds no read buffer.
  std::array<char, 256> chunk_;
  std::string message_;
  bool oversized_ = false;
  std::vector<PayloadPtr> queue_;  // front is queue_[0]; usually empty or short
  bool binary_ = false;            // realtime-pm.bin.v1
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  // Rooms joined: usually one, at most max_rooms_per_connection; a vector is a fraction of a
  // hash set's memory.
  std::vector<std::string> rooms_;
  /// Rooms of this connection that other nodes serve (cluster mode), with the userId joined.
  struct Relayed {
    std::shared_ptr<Relay> relay;
    std::string user_id;
  };
  std::vector<Relayed> relays_;
  MessageBudget budget_;
  const SessionAuth auth_;
};

/// Answers `unauthorized` with `message` to every open session for which `which` holds, and
/// closes it (1008); returns how many. `which` runs under the sessions' mutex.
size_t refuse_sessions(ServerContext& ctx,
                       const std::function<bool(const WebSocketSession&)>& which,
                       std::string message);

}  // namespace rtpm::server
