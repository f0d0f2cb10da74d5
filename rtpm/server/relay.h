// Relay: a member's link to the node that owns its room (cluster.h, docs/scaling.md).
//
// A connection on this node that joins a room another node owns gets one relay for that
// room: a WebSocket (realtime-pm.json.v1) to the owner's /ws that carries the member's
// messages for the room, already checked here (decoded, authorized), and brings the owner's
// answers back unchanged. The owner trusts the relay's grant (subject and access) because
// the upgrade presents the cluster's secret (X-Rtpm-Relay). When the link fails, the owner
// answers `internal` for the room, or the room moves (Cluster::watch), the relay ends and
// the member gets `internal` for the room (as when a room fails on a single server): its
// client rejoins, and the join is routed again. A newer connection of the same userId on this
// node ends it too, with `session_replaced` (Cluster::claim).
//
// Runs on its own strand; every public method may be called from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "rtpm/server/authenticator.h"

namespace rtpm::server {

struct ServerContext;
class WebSocketSession;

struct HttpUrl;

/// A node URL (ws://HOST[:PORT][/PATH], --node-url) as the HTTP URL of the same host, port and
/// path (http_client.h); nullopt when it is not one. Relays connect to it, and the document
/// API forwards writes to its host and port.
std::optional<HttpUrl> node_http_url(std::string_view url);
/// Whether `url` is a node URL a relay can reach.
bool valid_node_url(std::string_view url);

/// How a relay ended, for its member: nothing to say (it left, or the owner already said
/// `internal`), the owner cannot be reached (`internal`: join again), or a newer session of
/// the same userId on this node took the room (`session_replaced`).
enum class RelayEnd { quiet, unreachable, replaced };

class Relay : public std::enable_shared_from_this<Relay> {
 public:
  /// `url`: the owner's ws://HOST:PORT/PATH; `token`: its lease (watched for a change);
  /// `user_id`: the member's.
  Relay(ServerContext& ctx, std::weak_ptr<WebSocketSession> session, std::string room,
        std::string user_id, std::string url, std::string token, RelayGrant grant);
  ~Relay();
  const std::string& room() const { return room_; }
  const std::string& user_id() const { return user_id_; }
  /// Connects and sends `join_json` first.
  void start(std::string join_json);
  /// Queues a message for the owner (a JSON text).
  void send(std::string json);
  /// Ends the relay quietly (the member left, or its connection closed): queued messages go
  /// out first.
  void close();
  /// Another session of this node joined the room with the same userId: this one ends, and
  /// its member gets `session_replaced`, as the owner would say to the older session. (Done
  /// here because this relay's join may still be on its way and could reach the owner after
  /// the newer one's, replacing the newer session instead.)
  void replaced();

 private:
  void fail(RelayEnd end);
  void on_connected();
  void do_read();
  void do_write();

  ServerContext& ctx_;
  std::weak_ptr<WebSocketSession> session_;
  const std::string room_;
  const std::string user_id_;
  const std::string url_;
  const std::string token_;
  const RelayGrant grant_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool open_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool done_ = false;
  uint64_t watch_ = 0;
};

}  // namespace rtpm::server
