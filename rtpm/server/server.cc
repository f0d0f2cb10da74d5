#include "rtpm/server/server.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <sched.h>
#include <spdlog/spdlog.h>

#include "rtpm/auth/jwt.h"
#include "rtpm/model/node.h"
#include "rtpm/protocol/client_messages.h"
#include "rtpm/server/authenticator.h"
#include "rtpm/server/cluster.h"
#include "rtpm/server/context.h"
#include "rtpm/server/listener.h"
#include "rtpm/server/relay.h"
#include "rtpm/server/room_registry.h"
#include "rtpm/server/webhooks.h"
#include "rtpm/server/websocket_session.h"
#include "rtpm/store/memory_store.h"
#include "rtpm/store/redis_store.h"
#include "rtpm/store/sqlite_store.h"

namespace rtpm::server {

namespace net = boost::asio;

namespace {
// Worker threads when --threads is 0: one per CPU this process may run on
// (its affinity mask, e.g. under taskset or a container's cpuset), not every
// CPU of the machine: more threads than CPUs only adds context switches and
// lock handoffs between them.
int default_threads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}
}  // namespace

namespace {

// Every quarter of a second, the sessions whose grant expired get `unauthorized` and close.
void sweep_expired_sessions(ServerContext& ctx) {
  ctx.expiry_timer->expires_after(std::chrono::milliseconds(250));
  ctx.expiry_timer->async_wait([&ctx](boost::system::error_code ec) {
    if (ec || ctx.stopping.load()) return;
    int64_t now = protocol::now_ms();
    refuse_sessions(
        ctx,
        [now](const WebSocketSession& s) {
          std::optional<int64_t> expires = s.expires_at_ms();
          return expires && *expires < now;
        },
        "the token expired");
    sweep_expired_sessions(ctx);
  });
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::internal, "cannot read " + path};
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace

RealtimeServer::RealtimeServer(ServerOptions options) : options_(std::move(options)) {}

RealtimeServer::~RealtimeServer() {
  if (shutdown_thread_.joinable()) shutdown_thread_.join();
  if (ctx_ && ctx_->storage) ctx_->storage->stop();
  if (ctx_ && ctx_->cluster) ctx_->cluster->stop();
  // Pending handlers hold sessions and rooms, whose destructors use the
  // context: destroy them (with the io_context) while the context is alive.
  listener_.reset();
  if (ctx_) ctx_->rooms.reset();
  if (ctx_) ctx_->expiry_timer.reset();
  ioc_.reset();
}

Result<void> RealtimeServer::start() {
  if (options_.threads <= 0) options_.threads = default_threads();
  ioc_ = std::make_unique<net::io_context>(options_.threads);
  ctx_ = std::unique_ptr<ServerContext>(new ServerContext{*ioc_, options_});
  // Schema.
  std::string spec_text(builtin_schema(options_.schema));
  if (spec_text.empty()) {
    auto file = read_file(options_.schema);
    if (!file)
      return Error{ErrorCode::internal, "--schema: '" + options_.schema +
                                            "' is neither basic, tiptap nor a readable file"};
    spec_text = std::move(*file);
  }
  auto spec = json::parse(spec_text);
  if (!spec) return Error{ErrorCode::internal, "--schema: bad JSON: " + spec.error().message};
  Result<std::shared_ptr<const model::Schema>> schema = catch_port(
      ErrorCode::internal, "--schema: ", [&] { return model::Schema::from_json(*spec); });
  if (!schema) return schema.error();
  ctx_->schema = std::move(*schema);
  ctx_->schema_json = json::stringify(*spec);
  // Initial document of new rooms.
  if (options_.initial_doc.empty()) {
    Result<model::NodeRef> doc = catch_port(ErrorCode::internal, "--initial-doc: ", [&] {
      return ctx_->schema->top_node_type()->create_and_fill();
    });
    if (!doc) return doc.error();
    if (!*doc) return Error{ErrorCode::internal, "the schema's top node cannot be created empty"};
    ctx_->initial_doc_json = (*doc)->to_json_string();
  } else {
    auto text = read_file(options_.initial_doc);
    if (!text) return text.error();
    auto parsed = json::parse(*text);
    if (!parsed) return Error{ErrorCode::internal, "--initial-doc: " + parsed.error().message};
    Result<std::string> doc = catch_port(ErrorCode::internal, "--initial-doc: ", [&] {
      model::NodeRef node = model::Node::from_json(*ctx_->schema, *parsed);
      node->check();
      return node->to_json_string();
    });
    if (!doc) return doc.error();
    ctx_->initial_doc_json = std::move(*doc);
  }
  // Authentication and access (docs/security.md).
  auto auth = Authenticator::create(options_, *ioc_);
  if (!auth) return auth.error();
  ctx_->auth = std::move(*auth);
  // Webhooks (docs/api.md).
  if (!options_.webhook_urls.empty()) {
    Webhooks::Options hooks;
    hooks.urls = options_.webhook_urls;
    hooks.debounce = std::chrono::milliseconds(std::max(0, options_.webhook_debounce_ms));
    if (!options_.webhook_secret_file.empty()) {
      auto secret = read_file(options_.webhook_secret_file);
      if (!secret)
        return Error{ErrorCode::internal,
                     "--webhook-secret-file: cannot read " + options_.webhook_secret_file};
      hooks.secret = auth::secret_from_file_text(std::move(*secret));
      if (hooks.secret.size() < 16)
        return Error{ErrorCode::internal,
                     "--webhook-secret-file: the secret must have at least 16 bytes"};
    }
    auto webhooks = Webhooks::create(*ioc_, std::move(hooks), ctx_->metrics);
    if (!webhooks) return Error{ErrorCode::internal, "--webhook-url: " + webhooks.error().message};
    ctx_->webhooks = std::move(*webhooks);
  } else if (!options_.webhook_secret_file.empty()) {
    return Error{ErrorCode::internal, "--webhook-secret-file needs --webhook-url"};
  }
  // TLS.
  if (options_.tls_cert.empty() != options_.tls_key.empty())
    return Error{ErrorCode::internal, "--tls-cert and --tls-key go together"};
  if (!options_.tls_cert.empty()) {
    namespace ssl = net::ssl;
    auto tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::single_dh_use);
    boost::system::error_code ec;
    tls->use_certificate_chain_file(options_.tls_cert, ec);
    if (ec)
      return Error{ErrorCode::internal, "--tls-cert: " + options_.tls_cert + ": " + ec.message()};
    tls->use_private_key_file(options_.tls_key, ssl::context::pem, ec);
    if (ec)
      return Error{ErrorCode::internal, "--tls-key: " + options_.tls_key + ": " + ec.message()};
    if (SSL_CTX_check_private_key(tls->native_handle()) != 1)
      return Error{ErrorCode::internal, "--tls-key does not match --tls-cert"};
    ctx_->tls = std::move(tls);
  }
  // Store.
  if (options_.store == "memory") {
    ctx_->store = std::make_unique<store::MemoryStore>();
  } else if (options_.store == "sqlite") {
    std::error_code ec;
    std::filesystem::create_directories(options_.data_dir, ec);
    if (ec)
      return Error{ErrorCode::internal,
                   "--data: cannot create " + options_.data_dir + ": " + ec.message()};
    std::string path = store::database_path(options_.data_dir);
    auto store = store::SqliteStore::open(path, options_.store_busy_timeout_ms);
    if (!store) return store.error();
    ctx_->store = std::move(*store);
    spdlog::info("store: SQLite at {}", path);
  } else if (options_.store == "redis") {
    if (options_.redis_url.empty())
      return Error{ErrorCode::internal, "--store redis needs --redis-url (or RTPM_REDIS_URL)"};
    if (ctx_->tls)
      return Error{ErrorCode::internal,
                   "--store redis does not support --tls-cert yet: nodes relay to each other "
                   "over ws:// (put TLS in front, docs/scaling.md)"};
    store::RedisStoreOptions redis;
    redis.wait_replicas = options_.redis_wait;
    // Appends are fenced by this node's lease of the room (the cluster is made below, before
    // any room is).
    redis.fence = [ctx = ctx_.get()](const std::string& room) -> std::optional<std::string> {
      return ctx->cluster ? ctx->cluster->token(room) : std::nullopt;
    };
    auto store = store::RedisStore::open(options_.redis_url, std::move(redis));
    if (!store) return Error{ErrorCode::internal, "--redis-url: " + store.error().message};
    ctx_->store = std::move(*store);
    ctx_->metrics.redis_enabled = true;
  } else {
    return Error{ErrorCode::internal, "--store must be sqlite, memory or redis"};
  }
  if (options_.max_rooms > 0) {
    auto rooms = ctx_->store->room_count();
    if (!rooms) return rooms.error();
    ctx_->limits.set_rooms(*rooms);
  }
  // Static files: never a folder that holds the database or a secret (static_files.h).
  if (!options_.static_dir.empty()) {
    std::vector<std::string> protected_paths = {
        options_.auth_file,          options_.tls_key,
        options_.jwt_secret_file,    options_.admin_token_file,
        options_.metrics_token_file, options_.api_token_file,
        options_.webhook_secret_file};
    if (options_.store == "sqlite") protected_paths.push_back(options_.data_dir);
    auto files = StaticFiles::open(options_.static_dir, protected_paths);
    if (!files) return files.error();
    ctx_->static_files = std::make_unique<StaticFiles>(std::move(*files));
    spdlog::info("static files from {}", ctx_->static_files->root());
  }
  // The memory store neither blocks nor needs a thread: its jobs run on the rooms' threads.
  ctx_->storage = std::make_unique<StorageWorker>(*ctx_->store, ctx_->metrics,
                                                  /*inline_jobs=*/options_.store == "memory");
  ctx_->rooms = std::make_unique<RoomRegistry>(*ctx_);
  // Listener.
  boost::system::error_code ec;
  auto address = net::ip::make_address(options_.bind, ec);
  if (ec) return Error{ErrorCode::internal, "--bind: bad address " + options_.bind};
  listener_ = std::make_shared<Listener>(*ctx_);
  if (auto r = listener_->open({address, options_.port}); !r) return r;
  port_ = listener_->port();
  if (options_.store == "redis") {
    std::string node_url = options_.node_url;
    if (node_url.empty()) {
      std::string host =
          address.is_unspecified() ? (address.is_v6() ? "::1" : "127.0.0.1") : options_.bind;
      if (host.find(':') != std::string::npos) host = "[" + host + "]";
      node_url = "ws://" + host + ":" + std::to_string(port_) + "/ws";
    }
    if (!valid_node_url(node_url))
      return Error{ErrorCode::internal,
                   "--node-url: expected ws://HOST:PORT/PATH, got " + node_url};
    auto cluster = Cluster::create(
        *ctx_, Cluster::Options{.redis_url = options_.redis_url,
                                .node_url = node_url,
                                .lease = std::chrono::milliseconds(options_.redis_lease_ms)});
    if (!cluster) return cluster.error();
    ctx_->cluster = std::move(*cluster);
  }
  if (ctx_->auth->grants_expire()) {
    ctx_->expiry_timer = std::make_unique<net::steady_timer>(*ioc_);
    sweep_expired_sessions(*ctx_);
  }
  spdlog::info("listening on {}://{}:{} (WebSocket at /ws)", ctx_->tls ? "https" : "http",
               options_.bind, port_);
  return {};
}

void RealtimeServer::run() {
  listener_->run();
  int n = options_.threads;
  auto guard = net::make_work_guard(*ioc_);
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) threads.emplace_back([this] { ioc_->run(); });
  ioc_->run();
  for (auto& t : threads) t.join();
}

void RealtimeServer::shutdown() {
  if (stopping_.exchange(true)) return;
  shutdown_thread_ = std::thread([this] {
    spdlog::info("shutting down: no new connections; finishing in-flight steps");
    ctx_->stopping = true;
    listener_->stop();
    // Let accepted steps become durable and acknowledged (bounded wait).
    for (int i = 0; i < 500 && ctx_->storage->pending() > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    {
      // The session may be closing on its own; only a live one can be closed.
      // Our reference may turn out to be the last one, and ~WebSocketSession
      // takes sessions_mutex: close (and drop) them after releasing it.
      std::vector<std::shared_ptr<WebSocketSession>> live;
      {
        std::lock_guard lock(ctx_->sessions_mutex);
        live.reserve(ctx_->sessions.size());
        for (WebSocketSession* s : ctx_->sessions)
          if (auto p = s->weak_from_this().lock()) live.push_back(std::move(p));
      }
      for (auto& s : live) s->close(boost::beast::websocket::close_code::going_away);
    }
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lock(ctx_->sessions_mutex);
        if (ctx_->sessions.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ctx_->storage->stop();
    if (ctx_->cluster) ctx_->cluster->stop();
    if (ctx_->webhooks) ctx_->webhooks->stop();
    spdlog::info("shutdown complete");
    ioc_->stop();
  });
}

}  // namespace rtpm::server
