#include "serve.h"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string_view>
#include <thread>

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "rtpm/server/server.h"

namespace rtpm::apps {

namespace {

struct ServeFlags {
  server::ServerOptions options;
  std::string port_file;
};

// glibc's malloc serves blocks above its mmap threshold (128 KiB at first)
// with mmap and returns them to the system when they are freed, but it raises
// the threshold to the size of each such block freed, up to 32 MiB; after that,
// large documents' texts and JSON come from the heaps, whose freed memory the
// process keeps (issue 10, finding 8: 108 MB kept after a 10 MB room unloaded).
// A fixed threshold keeps that from happening: blocks of 1 MiB and more always
// go back to the system, and smaller ones are reused from the heaps (whose free
// top is trimmed). Settings made through the environment (MALLOC_MMAP_THRESHOLD_,
// GLIBC_TUNABLES) are left alone.
void configure_malloc() {
#ifdef __GLIBC__
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") ||
      (tunables && std::string_view(tunables).find("mmap_threshold") != std::string_view::npos))
    return;
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}

int run(const ServeFlags& flags) {
  configure_malloc();
  auto level = spdlog::level::from_str(flags.options.log_level);
  spdlog::set_level(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  // SIGINT/SIGTERM are taken by a thread of ours (sigwait), not by a handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  server::RealtimeServer srv(flags.options);
  if (auto r = srv.start(); !r) {
    spdlog::error("{}", r.error().message);
    return 1;
  }
  if (!flags.port_file.empty()) {
    std::string tmp = flags.port_file + ".tmp";
    std::ofstream(tmp) << srv.port() << "\n";
    std::rename(tmp.c_str(), flags.port_file.c_str());
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("signal {}: shutting down", sig);
    srv.shutdown();
  });
  srv.run();
  // run() returns after shutdown(). If the waiter is still in sigwait, a
  // process-directed SIGTERM (blocked everywhere) wakes it; if it is done, the
  // signal just stays pending until exit.
  kill(getpid(), SIGTERM);
  waiter.join();
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Run the collaboration server: WebSocket at /ws, HTTP API, demo page at /.\n"
      "Every flag can also be set through the environment variable named after it.");
  cmd->add_option("--port", o.port, "TCP port (0 picks a free one)")
      ->envname("RTPM_PORT")
      ->capture_default_str();
  cmd->add_option("--bind", o.bind, "Address to listen on")
      ->envname("RTPM_BIND")
      ->capture_default_str();
  cmd->add_option("--data", o.data_dir, "Folder of the SQLite database")
      ->envname("RTPM_DATA")
      ->capture_default_str();
  cmd->add_option("--store", o.store,
                  "Where rooms persist: sqlite (durable), memory, or redis (a cluster of nodes "
                  "on one Redis: docs/scaling.md)")
      ->envname("RTPM_STORE")
      ->check(CLI::IsMember({"sqlite", "memory", "redis"}))
      ->capture_default_str();
  cmd->add_option(
         "--redis-url", o.redis_url,
         "Cluster (--store redis): the Redis every node shares, redis://[:PASSWORD@]HOST:PORT[/DB]")
      ->envname("RTPM_REDIS_URL");
  cmd->add_option(
         "--redis-wait", o.redis_wait,
         "Cluster (--store redis): acknowledge steps only after this many replicas have them "
         "(Redis WAIT)")
      ->envname("RTPM_REDIS_WAIT")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd->add_option(
         "--redis-lease-ms", o.redis_lease_ms,
         "Cluster (--store redis): a room's lease; a dead node's rooms move to another node "
         "after at most this long")
      ->envname("RTPM_REDIS_LEASE_MS")
      ->check(CLI::Range(300, 600000))
      ->capture_default_str();
  cmd->add_option(
         "--node-url", o.node_url,
         "Cluster (--store redis): how the other nodes reach this one (ws://HOST:PORT/ws); "
         "default: the bind address and port")
      ->envname("RTPM_NODE_URL");
  cmd->add_option("--store-busy-timeout-ms", o.store_busy_timeout_ms,
                  "How long a SQLite write waits for a lock held by another process")
      ->envname("RTPM_STORE_BUSY_TIMEOUT_MS")
      ->capture_default_str();
  cmd->add_option("--schema", o.schema,
                  "Document schema: basic, tiptap, or a JSON schema spec file")
      ->envname("RTPM_SCHEMA")
      ->capture_default_str();
  cmd->add_option(
         "--initial-doc", o.initial_doc,
         "JSON file with the first document of new rooms (default: the schema's empty doc)")
      ->envname("RTPM_INITIAL_DOC");
  cmd->add_option("--static", o.static_dir,
                  "Folder served at / (the demo page); it may not contain the data folder,\n"
                  "the token file or the TLS key")
      ->envname("RTPM_STATIC");
  cmd->add_option("--auth-file", o.auth_file,
                  "JSON file {\"TOKEN\": \"subject\" or {\"sub\", \"rooms\"}}: require a token\n"
                  "(Authorization: Bearer or ?token=); see docs/security.md")
      ->envname("RTPM_AUTH_FILE");
  cmd->add_option("--jwt-secret-file", o.jwt_secret_file,
                  "File of the HS256 secret (32 bytes or more) that signs JSON Web Tokens")
      ->envname("RTPM_JWT_SECRET_FILE");
  cmd->add_option("--jwt-public-key-file", o.jwt_public_key_file,
                  "PEM public key that verifies JSON Web Tokens (RSA: RS256, P-256: ES256)")
      ->envname("RTPM_JWT_PUBLIC_KEY_FILE");
  cmd->add_option("--jwt-issuer", o.jwt_issuer, "Required iss claim of JSON Web Tokens")
      ->envname("RTPM_JWT_ISSUER");
  cmd->add_option("--jwt-audience", o.jwt_audience, "Required aud claim of JSON Web Tokens")
      ->envname("RTPM_JWT_AUDIENCE");
  cmd->add_option("--jwt-leeway-s", o.jwt_leeway_s, "Seconds of clock skew allowed for exp, nbf")
      ->envname("RTPM_JWT_LEEWAY_S")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  cmd->add_option("--auth-url", o.auth_url,
                  "http:// URL the server asks about every join: POST {token, room, userId}")
      ->envname("RTPM_AUTH_URL");
  cmd->add_option("--auth-timeout-ms", o.auth_timeout_ms,
                  "How long --auth-url may take to answer (then the join is refused)")
      ->envname("RTPM_AUTH_TIMEOUT_MS")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  cmd->add_option("--auth-cache-s", o.auth_cache_s,
                  "Seconds an answer of --auth-url is reused (0: ask every time)")
      ->envname("RTPM_AUTH_CACHE_S")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  cmd->add_option("--read-only-presence", o.read_only_presence,
                  "Whether read-only members may set presence (true or false)")
      ->envname("RTPM_READ_ONLY_PRESENCE")
      ->capture_default_str();
  cmd->add_option("--admin-token-file", o.admin_token_file,
                  "File of the token of the admin API (/api/admin/...: revoke, remove)")
      ->envname("RTPM_ADMIN_TOKEN_FILE");
  cmd->add_option("--api-token-file", o.api_token_file,
                  "File of the token of the document API (/api/rooms...): every permission on\n"
                  "every room; without authentication on, the API then requires it")
      ->envname("RTPM_API_TOKEN_FILE");
  cmd->add_option("--webhook-url", o.webhook_urls,
                  "http:// URL to POST room and member events to (repeatable; docs/api.md)")
      ->envname("RTPM_WEBHOOK_URL")
      ->delimiter(',');
  cmd->add_option("--webhook-secret-file", o.webhook_secret_file,
                  "File of the secret (16 bytes or more) that signs webhook deliveries")
      ->envname("RTPM_WEBHOOK_SECRET_FILE");
  cmd->add_option("--webhook-debounce-ms", o.webhook_debounce_ms,
                  "Least milliseconds between two room.changed deliveries of one room")
      ->envname("RTPM_WEBHOOK_DEBOUNCE_MS")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  cmd->add_option("--metrics-token-file", o.metrics_token_file,
                  "File of the token GET /metrics requires (with authentication on, /metrics\n"
                  "is refused without one)")
      ->envname("RTPM_METRICS_TOKEN_FILE");
  cmd->add_option("--allowed-origins", o.allowed_origins,
                  "Browser origins allowed besides the server's own, comma-separated (*: any)")
      ->envname("RTPM_ALLOWED_ORIGINS");
  cmd->add_option("--allowed-hosts", o.allowed_hosts,
                  "Host names allowed in requests, comma-separated (on a loopback address,\n"
                  "loopback names always are)")
      ->envname("RTPM_ALLOWED_HOSTS");
  cmd->add_option("--tls-cert", o.tls_cert,
                  "PEM certificate (chain) file: serve wss:// and https:// on the port")
      ->envname("RTPM_TLS_CERT");
  cmd->add_option("--tls-key", o.tls_key, "PEM private key file of --tls-cert")
      ->envname("RTPM_TLS_KEY");
  cmd->add_option("--threads", o.threads, "Worker threads (0: one per CPU the process may run on)")
      ->envname("RTPM_THREADS")
      ->capture_default_str();
  cmd->add_option("--max-message-bytes", o.max_message_bytes, "Largest message accepted, bytes")
      ->envname("RTPM_MAX_MESSAGE_BYTES")
      ->capture_default_str();
  cmd->add_option("--max-steps-per-message", o.max_steps_per_message, "Steps in one message")
      ->envname("RTPM_MAX_STEPS_PER_MESSAGE")
      ->capture_default_str();
  cmd->add_option("--max-rooms-per-connection", o.max_rooms_per_connection,
                  "Rooms one connection may be in")
      ->envname("RTPM_MAX_ROOMS_PER_CONNECTION")
      ->capture_default_str();
  cmd->add_option("--max-connections", o.max_connections,
                  "Open connections in all, HTTP and WebSocket (0: the file limit less\n"
                  "min(64, limit/4)); more are refused with 503")
      ->envname("RTPM_MAX_CONNECTIONS")
      ->capture_default_str();
  cmd->add_option("--max-connections-per-ip", o.max_connections_per_ip,
                  "Open connections from one client address (IPv6: one /64), loopback\n"
                  "included (0: no limit, e.g. behind a reverse proxy)")
      ->envname("RTPM_MAX_CONNECTIONS_PER_IP")
      ->capture_default_str();
  cmd->add_option("--header-timeout", o.header_timeout_s,
                  "Seconds a connection has to send a whole HTTP request (and the TLS\n"
                  "handshake); then it is closed")
      ->envname("RTPM_HEADER_TIMEOUT")
      ->capture_default_str();
  cmd->add_option("--max-open-files", o.max_open_files,
                  "File limit (RLIMIT_NOFILE soft) to set at start; 0: raise it to the hard limit")
      ->envname("RTPM_MAX_OPEN_FILES")
      ->capture_default_str();
  cmd->add_option("--max-room-members", o.max_room_members, "Members in one room")
      ->envname("RTPM_MAX_ROOM_MEMBERS")
      ->capture_default_str();
  cmd->add_option("--rate-limit", o.rate_limit_per_s, "Messages per second per connection")
      ->envname("RTPM_RATE_LIMIT")
      ->capture_default_str();
  cmd->add_option("--rate-burst", o.rate_limit_burst, "Burst of messages per connection")
      ->envname("RTPM_RATE_BURST")
      ->capture_default_str();
  cmd->add_option("--max-outgoing-bytes", o.max_outgoing_bytes,
                  "Bytes queued for a slow reader before it is disconnected")
      ->envname("RTPM_MAX_OUTGOING_BYTES")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", o.idle_timeout_s,
                  "Seconds without traffic or pong before a connection is closed")
      ->envname("RTPM_IDLE_TIMEOUT")
      ->capture_default_str();
  cmd->add_option("--history", o.history_steps, "Steps kept per room for catch-up")
      ->envname("RTPM_HISTORY")
      ->capture_default_str();
  cmd->add_option("--history-bytes", o.history_bytes,
                  "...and at most this many bytes of their JSON per room (0: no byte bound)")
      ->envname("RTPM_HISTORY_BYTES")
      ->capture_default_str();
  cmd->add_option("--api-requests-per-ip-per-minute", o.api_requests_per_ip_per_minute,
                  "Document API requests one client address may make per minute (a bucket of\n"
                  "a minute's worth); more get 429 rate_limited (0: no limit)")
      ->envname("RTPM_API_REQUESTS_PER_IP_PER_MINUTE")
      ->capture_default_str();
  cmd->add_option("--max-named-versions", o.max_named_versions,
                  "Named versions one room may hold (each keeps its document)")
      ->envname("RTPM_MAX_NAMED_VERSIONS")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--snapshot-every", o.snapshot_every, "Steps between snapshots")
      ->envname("RTPM_SNAPSHOT_EVERY")
      ->capture_default_str();
  cmd->add_option("--unload-grace-ms", o.unload_grace_ms, "How long an empty room stays loaded")
      ->envname("RTPM_UNLOAD_GRACE_MS")
      ->capture_default_str();
  cmd->add_option("--room-creations-per-ip-per-minute", o.room_creations_per_ip_per_minute,
                  "New rooms one client address may create per minute (a bucket of a\n"
                  "minute's worth); more get rate_limited (0: no limit)")
      ->envname("RTPM_ROOM_CREATIONS_PER_IP_PER_MINUTE")
      ->capture_default_str();
  cmd->add_option("--max-rooms", o.max_rooms,
                  "Rooms the store may hold; joins that would create more get forbidden\n"
                  "(0: no cap)")
      ->envname("RTPM_MAX_ROOMS")
      ->capture_default_str();
  cmd->add_option("--presence-interval-ms", o.presence_interval_ms,
                  "Presence broadcasts per room at most every this many ms; changes\n"
                  "within one interval go out together when it ends")
      ->envname("RTPM_PRESENCE_INTERVAL_MS")
      ->capture_default_str();
  cmd->add_option("--broadcast-interval-ms", o.broadcast_interval_ms,
                  "In a hot room (see --broadcast-hot-steps), steps and acks go to the\n"
                  "members at most every this many ms, together (0: always at once)")
      ->envname("RTPM_BROADCAST_INTERVAL_MS")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_option("--broadcast-hot-steps", o.broadcast_hot_steps,
                  "A room is hot while it makes at least this many steps durable per second,\n"
                  "measured over 100 ms (0: never)")
      ->envname("RTPM_BROADCAST_HOT_STEPS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--server-rebase", o.server_rebase,
                  "Offer the rebase protocol extension (docs/protocol.md): a client that asks\n"
                  "may send steps made on an older version, and the server rebases them")
      ->envname("RTPM_SERVER_REBASE")
      ->capture_default_str();
  cmd->add_option("--log-level", o.log_level, "trace, debug, info, warn, error or off")
      ->envname("RTPM_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  cmd->add_option("--port-file", flags->port_file,
                  "Write the bound port to this file once listening (for scripts and tests)")
      ->envname("RTPM_PORT_FILE");
  cmd->callback([flags] { std::exit(run(*flags)); });
}

}  // namespace rtpm::apps
