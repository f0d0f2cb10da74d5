// ServerContext: what every part of a running server shares. Owned by
// RealtimeServer; outlives every room and session.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "rtpm/model/schema.h"
#include "rtpm/server/client_limits.h"
#include "rtpm/server/metrics.h"
#include "rtpm/server/options.h"
#include "rtpm/server/static_files.h"
#include "rtpm/server/storage_worker.h"

namespace rtpm::server {

class Authenticator;
class Cluster;
class RoomRegistry;
class Webhooks;
class WebSocketSession;

struct ServerContext {
  boost::asio::io_context& ioc;
  ServerOptions options;
  std::shared_ptr<const model::Schema> schema;
  /// The schema spec as JSON text (GET /api/schema).
  std::string schema_json;
  /// The access policy: tokens, grants, origins, hosts, revocations (docs/security.md).
  std::unique_ptr<Authenticator> auth;
  /// New rooms start with this document (JSON text).
  std::string initial_doc_json;
  /// TLS (--tls-cert/--tls-key): every connection is TLS; null = plain.
  std::unique_ptr<boost::asio::ssl::context> tls;
  /// The --static folder (null: none).
  std::unique_ptr<StaticFiles> static_files;
  Metrics metrics;
  /// Connections and room creations, in all and per client address.
  ClientLimits limits{
      ClientLimits::Options{.max_connections = options.max_connections,
                            .max_connections_per_address = options.max_connections_per_ip,
                            .room_creations_per_minute = options.room_creations_per_ip_per_minute,
                            .max_rooms = options.max_rooms,
                            .api_requests_per_minute = options.api_requests_per_ip_per_minute},
      &metrics.sockets};
  /// --store redis: this node's part in the cluster (null otherwise). Made before the store,
  /// whose appends it fences.
  std::unique_ptr<Cluster> cluster;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<StorageWorker> storage;
  std::unique_ptr<RoomRegistry> rooms;
  /// --webhook-url: the events the application asked for (null: none).
  std::unique_ptr<Webhooks> webhooks;

  /// With JWTs: closes the sessions whose tokens expired (server.cc).
  std::unique_ptr<boost::asio::steady_timer> expiry_timer;

  /// Set at shutdown: sessions stop taking new messages.
  std::atomic<bool> stopping{false};
  /// Open sessions, for graceful shutdown.
  std::mutex sessions_mutex;
  std::unordered_set<WebSocketSession*> sessions;
};

}  // namespace rtpm::server
