// ServerOptions: every setting of `realtime-pm serve`, with its default and
// unit. Each is also a command-line flag and an environment variable (see
// apps/realtime-pm/serve.cc and docs/server.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rtpm::server {

struct ServerOptions {
  /// Address to listen on. Default loopback only.
  std::string bind = "127.0.0.1";
  /// TCP port; 0 picks a free one (the bound port is logged and returned).
  uint16_t port = 8080;
  /// Folder for the SQLite database (created if missing).
  std::string data_dir = "./data";
  /// "sqlite" (durable, default), "memory" (nothing survives a restart) or "redis" (a
  /// cluster of nodes sharing one Redis, docs/scaling.md).
  std::string store = "sqlite";
  /// --store redis: redis://[:PASSWORD@]HOST:PORT[/DB].
  std::string redis_url;
  /// --store redis: acknowledge steps only after this many replicas have them (Redis WAIT).
  int redis_wait = 0;
  /// --store redis: milliseconds of a room's lease; a dead node's rooms move after at most
  /// this long.
  int redis_lease_ms = 5000;
  /// --store redis: how the other nodes reach this one (ws://HOST:PORT/ws); empty: this
  /// node's bind address and port (loopback when it binds every address).
  std::string node_url;
  /// Milliseconds a SQLite write waits for a lock held by another process
  /// before the commit fails (its rooms' members then get `internal`).
  int store_busy_timeout_ms = 5000;
  /// Schema: "basic", "tiptap", or a path to a JSON schema spec file.
  std::string schema = "basic";
  /// Initial document of new rooms (a Node JSON file); empty = the schema's
  /// top node createAndFill().
  std::string initial_doc;
  /// Folder served at / (the demo page); empty = the built-in notice.
  std::string static_dir;
  /// Authentication and permissions: docs/security.md. On when any of auth_file,
  /// jwt_secret_file, jwt_public_key_file or auth_url is set. A connection presents its token
  /// as `Authorization: Bearer TOKEN` or `?token=TOKEN`; without a valid one it gets
  /// `unauthorized` and is closed (1008).
  /// A JSON file {"TOKEN": "subject" | {"sub": "subject", "rooms": {...}}, ...}.
  std::string auth_file;
  /// JSON Web Tokens: an HS256 secret file; a PEM public key file (RSA: RS256, P-256: ES256).
  std::string jwt_secret_file;
  std::string jwt_public_key_file;
  /// Required `iss` and `aud` claims (empty: not checked); seconds of clock skew for exp/nbf.
  std::string jwt_issuer;
  std::string jwt_audience;
  int jwt_leeway_s = 5;
  /// Authorization by the application: POST {token, room, userId} to this http:// URL per
  /// join; its answers are cached auth_cache_s seconds; it must answer within auth_timeout_ms.
  std::string auth_url;
  int auth_timeout_ms = 2000;
  int auth_cache_s = 60;
  /// Whether read-only members may set presence.
  bool read_only_presence = true;
  /// Files holding the admin token (enables /api/admin/...) and the /metrics token.
  std::string admin_token_file;
  std::string metrics_token_file;
  /// A file holding the document API's token (docs/api.md): with it, a request has every
  /// permission on every room's API (as the admin token has). Without authentication on,
  /// setting it closes the document API to requests without it.
  std::string api_token_file;
  /// Origins allowed besides the server's own (comma-separated; "*": any).
  std::string allowed_origins;
  /// Host names allowed (comma-separated); on a loopback bind, loopback names always are.
  std::string allowed_hosts;
  /// TLS: a PEM certificate chain and its PEM private key. When both are set,
  /// every connection on the port is TLS (wss:// and https://); neither = plain.
  std::string tls_cert;
  std::string tls_key;
  /// Worker threads; 0 = one per CPU the process may run on (its affinity mask).
  int threads = 0;

  // Limits.
  /// Largest WebSocket message accepted, in bytes (PROTOCOL.md default 1 MiB).
  size_t max_message_bytes = 1 << 20;
  /// Steps in one `steps` message.
  size_t max_steps_per_message = 1000;
  /// Rooms one connection may be in at once.
  size_t max_rooms_per_connection = 100;
  /// Open connections in all, HTTP and WebSocket (each is one descriptor); a connection
  /// beyond it is refused right after accept (503 on plain HTTP). 0 = derived from the file
  /// limit: the limit less a reserve of min(64, limit / 4) descriptors for the listener, the
  /// event loop, SQLite, logs and static files, so that the refusal comes before accept()
  /// runs out of descriptors.
  size_t max_connections = 0;
  /// Open connections from one client address (an IPv4 address, or an IPv6 /64), loopback
  /// included; 0 = no limit (e.g. behind a reverse proxy, where every client has its address).
  size_t max_connections_per_ip = 64;
  /// Open files (RLIMIT_NOFILE soft limit) the server sets at start; 0 = the hard limit.
  /// Each connection is one descriptor.
  uint64_t max_open_files = 0;
  /// Seconds a connection has to deliver a whole HTTP request (the upgrade request included)
  /// from the moment the server waits for it, TLS handshake included; then it is closed.
  /// Bounds half-sent requests (slowloris) and idle keep-alive connections.
  int header_timeout_s = 10;
  /// Members in one room.
  size_t max_room_members = 1000;
  /// Messages per second per connection (token bucket rate) and burst size. Control frames
  /// (ping, pong) count too.
  double rate_limit_per_s = 200;
  double rate_limit_burst = 400;
  /// Refused messages within about 10 s after which the connection is closed (1008): a leaky
  /// count, each refusal adds one and a tenth of this drains every second.
  int max_rate_limited = 100;
  /// Bytes queued for a connection before it counts as a slow reader and is closed.
  size_t max_outgoing_bytes = 8 << 20;
  /// Seconds without traffic or pong before a connection is closed (pings at half).
  int idle_timeout_s = 60;
  /// Deepest JSON nesting accepted.
  int max_json_depth = 1000;

  // Rooms and history.
  /// Steps kept per room for catch-up (PROTOCOL.md: at least 10,000).
  int64_t history_steps = 10000;
  /// ... and at most this many bytes of their JSON (the oldest go first); 0 = no byte bound.
  /// A room's history then takes at most about this much memory and store space,
  /// whatever its steps hold; 10,000 steps fit unless they average over 3 KiB.
  size_t history_bytes = 32 << 20;
  /// A snapshot is written every this many steps, and every history_bytes of
  /// step JSON, bounding replay at load.
  int64_t snapshot_every = 1000;
  /// Milliseconds an empty room stays loaded. A room loaded only to answer
  /// GET /api/rooms/ROOM is unloaded right after the answer.
  int unload_grace_ms = 30000;
  /// New rooms (a join that creates a room) per client address and minute: a token bucket
  /// that holds a minute's worth; past it the join gets `rate_limited`. 0 = no limit.
  double room_creations_per_ip_per_minute = 120;
  /// Rooms the store may hold in all; a join that would create one more gets `forbidden`
  /// (existing rooms stay joinable). 0 = no cap.
  int64_t max_rooms = 0;
  /// Document API requests per client address and minute (a token bucket holding a minute's
  /// worth); past it a request gets 429 `rate_limited`. 0 = no limit.
  double api_requests_per_ip_per_minute = 3000;
  /// Named versions one room may hold (POST /api/rooms/ROOM/versions); each keeps its document.
  size_t max_named_versions = 100;
  /// Webhooks (docs/api.md): URLs to POST events to, the secret that signs them (a file), and
  /// the least milliseconds between two room.changed deliveries of one room.
  std::vector<std::string> webhook_urls;
  std::string webhook_secret_file;
  int webhook_debounce_ms = 2000;
  /// Presence broadcasts per room at most every this many milliseconds (changes within one
  /// interval go out together when it ends).
  int presence_interval_ms = 50;
  /// A room that makes at least `broadcast_hot_steps` steps durable in a second sends steps and
  /// acks at most every `broadcast_interval_ms` (docs/protocol.md "Hot rooms"); 0 disables.
  int broadcast_interval_ms = 10;
  int broadcast_hot_steps = 1000;
  /// Offer the `rebase` protocol extension (docs/protocol.md) to clients that ask for it.
  bool server_rebase = true;

  /// spdlog level: trace, debug, info, warn, error, off.
  std::string log_level = "info";
};

}  // namespace rtpm::server
