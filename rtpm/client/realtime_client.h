// RealtimeClient: a C++ client for the realtime-pm wire protocol
// (PROTOCOL.md) that never loses a local edit and converges exactly as
// prosemirror-collab does in the browser (clients/ts/src/session.ts).
//
// One client owns one WebSocket at a time (ws:// or wss://, subprotocol
// realtime-pm.json.v1 or realtime-pm.bin.v1) and the rooms joined through
// it. Each room keeps prosemirror-collab's state: the document, the
// confirmed version and the unconfirmed local steps (collab::Rebaseable).
// Local edits are made with the Transform API through edit(); they apply at
// once and are sent as one batch at a time (the unconfirmed steps on top of
// the confirmed version); nothing more goes out for the room until the
// batch's `ack` or the conflict is resolved. Remote steps go through
// collab::receive_transaction, which rebases the unconfirmed steps. With a
// server that offers the `rebase` extension (asked for by default,
// ClientOptions::server_rebase) a batch is never refused for being late: the
// server rebases it and its `ack` says how it applied it (room_session.h).
//
// Connection loss: the client reconnects with exponential backoff and full
// jitter (backoff.h) and joins every room again with its confirmed version;
// the `state` answer confirms our own accepted steps (by userId) and rebases
// the rest, so a batch whose `ack` was lost is never applied twice. While
// offline, edits and presence are kept (bounded per room by
// ClientOptions::max_unconfirmed_steps) and sent after the rejoin.
//
// Threading. The client runs its I/O on a strand of an asio::io_context:
// its own (the constructor without io_context starts one thread that runs
// it) or the caller's (which the caller runs; with several threads the
// strand keeps the client's handlers serial). Every public method is
// thread-safe. Callbacks run on the client's I/O thread (inside the strand),
// one at a time, never while an internal lock is held: a callback may call
// any public method except the blocking wait_*() helpers, which return false
// at once when called on the I/O thread. Events caused by public calls made
// on other threads (e.g. the `local` DocumentChange of edit()) are delivered
// on the I/O thread shortly after the call returns.
//
// Structure. Each room is a RoomSession (room_session.h): the collab loop and
// presence mapping, without I/O. The socket, TLS, handshake, write queue,
// pings and reconnection are a Connection (connection.h). RealtimeClient
// wires them: it feeds server messages and connection changes to the
// sessions, sends what they produce, and delivers their events.
//
// Ownership. RealtimeClient is the handle; its state lives in a shared
// implementation object that outlives pending I/O. Destroying the client
// closes it (see close()) and, with an own thread, joins that thread; no
// callback starts after the destructor returned. With a caller's
// io_context, don't destroy the client from one of its callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "rtpm/base/error.h"
#include "rtpm/client/backoff.h"
#include "rtpm/client/connection.h"
#include "rtpm/client/room_session.h"
#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/transform/transform.h"

namespace rtpm::client {

/// How to reach the server and how to behave. Designated initializers:
/// `ClientOptions{.url = "ws://127.0.0.1:8080/ws", .schema = schema}`.
struct ClientOptions {
  /// The WebSocket endpoint, `ws://HOST:PORT/PATH` or `wss://HOST:PORT/PATH`
  /// (port defaults: 80 / 443). Required.
  std::string url;
  /// The schema of the server's documents (see fetch_schema()). Required.
  std::shared_ptr<const model::Schema> schema;
  /// The subprotocol offered. Default JSON.
  Subprotocol subprotocol = Subprotocol::json;
  /// Sent as `Authorization: Bearer TOKEN` when not empty.
  std::string bearer_token;
  /// This client's userId (prosemirror-collab's clientID), kept across
  /// reconnections. Empty: a random 20-character id.
  std::string user_id;
  /// wss only: verify the server's certificate chain and host name. Default true.
  bool verify_peer = true;
  /// wss only: a PEM file of trusted CAs; empty: the system's default CA paths.
  std::string ca_file;
  /// The local address each connection binds before connecting, e.g.
  /// "127.0.0.2" (to spread many clients over several source addresses'
  /// ports); empty: the system chooses. The constructor throws
  /// std::invalid_argument for one that is not an IPv4 or IPv6 address.
  std::string bind_address;
  /// Reconnection delays.
  BackoffOptions backoff;
  /// Give up a connection attempt (TCP + TLS + WebSocket handshake) after
  /// this long, in ms, and retry after the backoff delay. Default 10,000.
  int64_t connect_timeout_ms = 10000;
  /// Dead-connection detection: when nothing arrives for half this time a
  /// WebSocket ping goes out; when nothing (no pong either) arrives for this
  /// long the connection is dropped and a reconnection starts. Catches
  /// half-open TCP connections. In ms; default 30,000.
  int64_t idle_timeout_ms = 30000;
  /// Per room, the most unconfirmed local steps kept (sent, buffered while
  /// offline, or waiting behind the in-flight batch). An edit() that would
  /// go beyond fails with ErrorCode::rate_limited and changes nothing.
  /// Default 10,000.
  size_t max_unconfirmed_steps = 10000;
  /// The most steps sent in one `steps` message (the server's default limit
  /// is 1,000 per message). Default 200.
  size_t max_batch_steps = 200;
  /// Ask for the server-side rebase extension (docs/protocol.md, `rebase`) at
  /// every join: a server that offers it rebases late batches itself instead
  /// of refusing them with `version_conflict` (busy rooms). A server without
  /// it answers as version 1. RoomSnapshot::server_rebase says whether the
  /// room speaks it. Default true.
  bool server_rebase = true;
  /// Shared by the clients of one process that join the same rooms (the load
  /// tool): steps they all receive are parsed and applied once (see
  /// shared_steps.h). Null (default): each client does its own work.
  std::shared_ptr<SharedSteps> shared_steps;
  /// Keep the other members' presence (RoomSnapshot::presence, on_presence),
  /// mapped through every change. false: it is ignored, which saves a client
  /// that shows no cursors (a bot, the load tool) mapping every other
  /// member's positions through every step. Joins and leaves are still
  /// reported; the own presence is unaffected. Default true.
  bool remote_presence = true;
  /// Connect in the constructor (true) or only on connect(). Default true.
  bool auto_connect = true;
};

/// Counters of a client since it started (stats()).
struct ClientStats {
  /// Connection attempts (as connect_attempts()).
  int64_t connect_attempts = 0;
  /// Connections opened after the first one.
  int64_t reconnects = 0;
  /// The rooms' counters summed, rooms left included: batches and steps sent,
  /// resends, confirmations, version conflicts, rejections, dropped steps, resyncs.
  SessionStats rooms;
};

/// Callbacks; any may be empty. They run on the client's I/O thread.
struct Callbacks {
  std::function<void(const DocumentChange&)> on_document;
  std::function<void(const PresenceChange&)> on_presence;
  std::function<void(const MemberEvent&)> on_member;
  std::function<void(ConnectionState)> on_connection;
  std::function<void(const std::string& room, RoomStatus)> on_room_status;
  /// Server errors and client-side failures (see ClientError).
  std::function<void(const ClientError&)> on_error;
  std::function<void(const DroppedSteps&)> on_dropped;
  /// Our steps were confirmed: `version` is the new confirmed version.
  std::function<void(const std::string& room, int64_t version)> on_confirmed;
};

class RealtimeClient {
 public:
  /// Runs the client's I/O on an own thread. Throws std::invalid_argument
  /// for a malformed URL or bind address, or a missing schema.
  RealtimeClient(ClientOptions options, Callbacks callbacks = {});
  /// Runs the client's I/O on a strand of `io` (which the caller runs and
  /// which must outlive the client's pending work: run it until the client
  /// is closed). Throws std::invalid_argument as above.
  RealtimeClient(ClientOptions options, boost::asio::io_context& io, Callbacks callbacks = {});
  /// Closes the client (see close()) and, with an own thread, joins it.
  ~RealtimeClient();
  RealtimeClient(const RealtimeClient&) = delete;
  RealtimeClient& operator=(const RealtimeClient&) = delete;

  /// This client's userId.
  const std::string& user_id() const;

  // ---- connection ----

  /// Opens the connection unless it is open, opening or closed.
  void connect();
  /// Drops the current socket as if the network failed; reconnects after the
  /// backoff delay. Rooms and their buffered edits are kept.
  void disconnect();
  /// Skips what remains of the backoff delay.
  void reconnect_now();
  /// Sends `leave` for every joined room (best-effort), closes the socket and
  /// stops reconnecting. Final: the client cannot be reopened.
  void close();
  ConnectionState connection_state() const;
  /// Connection attempts made since the client started (tests count them).
  int connect_attempts() const;
  /// The subprotocol the server chose on the current connection (nullopt
  /// while not open). A server that picks none speaks JSON.
  std::optional<Subprotocol> subprotocol() const;
  /// Counters since the client started: connection attempts, reconnections,
  /// and per room (summed) batches sent, resends, version conflicts,
  /// confirmed and dropped steps. Thread-safe; a consistent snapshot.
  ClientStats stats() const;

  // ---- rooms ----

  /// Joins `room` with an optional initial presence entry (positions refer
  /// to the document the server sends). The room is joined now when the
  /// connection is open and again after every reconnection, until left.
  /// Errors: invalid_room (bad name), forbidden (already joined here).
  Result<void> join(const std::string& room, std::optional<json::Value> presence = std::nullopt);
  /// Leaves `room` (sends `leave` when joined) and forgets it, with its
  /// unconfirmed steps. Error not_joined when the client has no such room.
  Result<void> leave(const std::string& room);
  /// A snapshot of `room`; nullopt when the client has no such room.
  std::optional<RoomSnapshot> room(const std::string& room) const;
  /// The rooms this client has (not left).
  std::vector<std::string> rooms() const;

  // Shorthands for room(); defaults when the room is unknown.
  model::NodeRef doc(const std::string& room) const;
  int64_t version(const std::string& room) const;
  size_t unconfirmed_count(const std::string& room) const;
  std::map<std::string, json::Value> presence(const std::string& room) const;

  // ---- editing ----

  /// Applies `fn`'s changes to `room`'s local document at once and queues
  /// its steps as unconfirmed; they are sent when the room is joined and no
  /// batch is in flight. `fn` gets a Transform on the current document (it
  /// must not call this client's methods). Returns the new document.
  /// Errors, with the document unchanged: not_joined (no such room, or no
  /// `state` received yet), invalid_steps (`fn` threw; the message says
  /// what), rate_limited (the room would hold more than
  /// max_unconfirmed_steps unconfirmed steps; retry once some are confirmed).
  /// An `fn` that makes no steps succeeds and sends nothing.
  Result<model::NodeRef> edit(const std::string& room,
                              const std::function<void(transform::Transform&)>& fn);

  // ---- presence ----

  /// Sets this client's presence in `room`: any JSON object; `cursor.pos`
  /// and `selection.from/to/anchor/head` are positions in the current local
  /// document. The client maps them through later local and remote steps,
  /// sends them with the version they refer to (the confirmed version, the
  /// positions mapped back through the unconfirmed steps), and resends them
  /// after every rejoin. Errors: not_joined (no such room), bad_message (not
  /// an object).
  Result<void> set_presence(const std::string& room, json::Value entry);

  // ---- waiting (not on the I/O thread) ----

  /// Blocks until `pred()` is true (checked after every state change of the
  /// client, and at least every 50 ms) or `timeout` passes. `pred` may call
  /// public methods. Returns false on timeout or when called on the I/O thread.
  bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);
  /// Waits until `room` is joined, loaded, and has no unconfirmed steps.
  bool wait_synced(const std::string& room, std::chrono::milliseconds timeout);

  /// The implementation (defined in realtime_client.cc).
  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// GET /api/schema from the server of WebSocket URL `url` (ws -> http,
/// wss -> https, the path replaced), blocking; TLS options as in `options`
/// (only url, verify_peer, ca_file, bearer_token, bind_address and
/// connect_timeout_ms are used; see http_get() in connection.h). Errors:
/// internal (connection or HTTP failure, a status other than 200) or
/// bad_message (not a schema).
Result<std::shared_ptr<const model::Schema>> fetch_schema(const ClientOptions& options);

/// A random userId (20 characters of [0-9a-z]).
std::string random_user_id();

}  // namespace rtpm::client
