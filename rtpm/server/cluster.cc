#include "rtpm/server/cluster.h"

#include <random>

#include <spdlog/spdlog.h>

#include "rtpm/server/context.h"
#include "rtpm/server/room.h"
#include "rtpm/server/room_registry.h"
#include "rtpm/store/redis_client.h"
#include "rtpm/store/redis_leases.h"

namespace rtpm::server {

namespace {

std::string random_hex(size_t bytes) {
  std::random_device device;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = device() & 0xff;
    out += kHex[v >> 4];
    out += kHex[v & 15];
  }
  return out;
}

// The URL of a lease's node ("URL#ID").
std::string node_url(const std::string& node) { return node.substr(0, node.rfind('#')); }

}  // namespace

Cluster::Cluster(ServerContext& ctx, Options options)
    : ctx_(ctx), options_(std::move(options)), node_(options_.node_url + "#" + random_hex(8)) {}

Result<std::unique_ptr<Cluster>> Cluster::create(ServerContext& ctx, Options options) {
  auto url = store::parse_redis_url(options.redis_url);
  if (!url) return Error{ErrorCode::internal, "--redis-url: " + url.error().message};
  std::unique_ptr<Cluster> cluster(new Cluster(ctx, std::move(options)));
  int timeout = cluster->options_.redis_timeout_ms;
  cluster->redis_ = std::make_unique<store::RedisClient>(
      *url,
      store::RedisClientOptions{.connect_timeout_ms = timeout, .command_timeout_ms = timeout});
  // The relay secret: the first node makes it, every node reads it.
  store::RedisClient& redis = *cluster->redis_;
  auto set = redis.command({"SET", "rtpm:cluster:secret", random_hex(24), "NX"});
  if (!set) return Error{ErrorCode::internal, "--redis-url: " + set.error().message};
  auto secret = redis.command({"GET", "rtpm:cluster:secret"});
  if (!secret || !secret->is_string())
    return Error{ErrorCode::internal, "--redis-url: cannot read the cluster's secret"};
  cluster->secret_ = secret->str;
  cluster->thread_ = std::thread([c = cluster.get()] { c->run(); });
  spdlog::info("cluster: node {} on Redis {}:{} (lease {} ms)", cluster->node_, url->host,
               url->port, cluster->options_.lease.count());
  return cluster;
}

Cluster::~Cluster() { stop(); }

void Cluster::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Hand the rooms over at once instead of after the lease.
  std::lock_guard lock(mutex_);
  for (const auto& [room, held] : held_) (void)store::release(*redis_, room, held.token);
  held_.clear();
}

void Cluster::route(std::string room, std::function<void(Result<Route>)> done) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return done(Error{ErrorCode::internal, "the server is shutting down"});
    jobs_.push_back(
        [this, room = std::move(room), done = std::move(done)] { do_route(room, done); });
  }
  cv_.notify_one();
}

std::optional<std::string> Cluster::token(const std::string& room) const {
  std::lock_guard lock(mutex_);
  auto it = held_.find(room);
  if (it == held_.end()) return std::nullopt;
  return it->second.token;
}

uint64_t Cluster::watch(std::string room, std::string token, std::function<void()> moved) {
  std::lock_guard lock(mutex_);
  uint64_t id = next_watch_++;
  watches_.emplace(id, Watch{std::move(room), std::move(token), std::move(moved)});
  return id;
}

void Cluster::unwatch(uint64_t id) {
  std::lock_guard lock(mutex_);
  watches_.erase(id);
}

namespace {
std::string claim_key(const std::string& room, const std::string& user_id) {
  return room + '\n' + user_id;  // neither holds a newline (PROTOCOL.md)
}
}  // namespace

Cluster::Claim Cluster::claim(const std::string& room, const std::string& user_id, uint64_t conn,
                              const std::shared_ptr<Relay>& relay) {
  std::lock_guard lock(mutex_);
  Claimed& slot = claims_[claim_key(room, user_id)];
  std::shared_ptr<Relay> before = slot.relay.lock();
  if (before && before != relay && slot.conn > conn) return Claim{false, nullptr};
  slot = Claimed{relay, conn};
  return Claim{true, before == relay ? nullptr : before};
}

bool Cluster::admit_relay(const std::string& room, const std::string& user_id,
                          const std::string& node, uint64_t conn) {
  std::lock_guard lock(mutex_);
  Admitted& last = admitted_[claim_key(room, user_id)];
  if (!last.node.empty() && last.node == node && last.conn > conn) return false;
  last = Admitted{room, node, conn};
  return true;
}

void Cluster::unclaim(const std::string& room, const std::string& user_id, const Relay* relay) {
  std::lock_guard lock(mutex_);
  auto it = claims_.find(claim_key(room, user_id));
  if (it == claims_.end()) return;
  auto current = it->second.relay.lock();
  if (!current || current.get() == relay) claims_.erase(it);
}

void Cluster::record(bool ok) {
  ctx_.metrics.redis_up.store(ok ? 1 : 0, std::memory_order_relaxed);
  if (ok) ctx_.metrics.redis_rtt_us.store(redis_->last_round_trip_us(), std::memory_order_relaxed);
}

void Cluster::do_route(const std::string& room, const std::function<void(Result<Route>)>& done) {
  auto pin = [&] { return Clock::now() + options_.lease; };
  {
    std::lock_guard lock(mutex_);
    if (auto it = held_.find(room); it != held_.end()) {
      it->second.pinned_until = pin();
      return done(Route{true, {}, it->second.token});
    }
  }
  auto lease = store::acquire(*redis_, room, node_, options_.lease.count());
  record(lease.ok());
  if (!lease) return done(Error{ErrorCode::internal, "Redis: " + lease.error().message});
  if (lease->mine) {
    {
      std::lock_guard lock(mutex_);
      held_[room] = Held{lease->token, pin()};
      ctx_.metrics.rooms_owned.store(static_cast<int64_t>(held_.size()));
    }
    return done(Route{true, {}, lease->token});
  }
  done(Route{false, node_url(lease->node), lease->token});
}

void Cluster::run() {
  auto period = std::max(std::chrono::milliseconds(50), options_.lease / 3);
  auto next = Clock::now() + period;
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait_until(lock, next, [&] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    while (!jobs_.empty()) {
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
    if (Clock::now() >= next) {
      lock.unlock();
      tick();
      lock.lock();
      next = Clock::now() + period;
    }
  }
}

void Cluster::tick() {
  auto now = Clock::now();
  // Which leases to renew (rooms loaded here, or routed here lately) and which to let go.
  std::vector<std::pair<std::string, std::string>> renew, release;
  std::vector<std::pair<uint64_t, Watch>> watched;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [room, held] : held_) {
      if (held.pinned_until > now || ctx_.rooms->find(room))
        renew.emplace_back(room, held.token);
      else
        release.emplace_back(room, held.token);
    }
    for (const auto& [room, token] : release) held_.erase(room);
    // Relay admissions of rooms no longer loaded here are forgotten.
    std::erase_if(admitted_,
                  [&](const auto& entry) { return !ctx_.rooms->find(entry.second.room); });
    for (const auto& [id, w] : watches_) watched.emplace_back(id, w);
  }
  bool ok = true;
  for (const auto& [room, token] : release) ok = store::release(*redis_, room, token).ok() && ok;
  if (!renew.empty()) {
    auto kept = store::renew(*redis_, renew, options_.lease.count());
    if (!kept) {
      ok = false;
      // Unknown: keep the leases; the fence refuses writes if they expired meanwhile.
    } else {
      for (size_t i = 0; i < renew.size(); ++i) {
        if ((*kept)[i]) continue;
        const std::string& room = renew[i].first;
        spdlog::warn("cluster: lost the lease of room {}; its members rejoin its new owner", room);
        {
          std::lock_guard lock(mutex_);
          if (auto it = held_.find(room); it != held_.end() && it->second.token == renew[i].second)
            held_.erase(it);
        }
        if (auto r = ctx_.rooms->find(room)) r->fail("this node lost the room's lease");
      }
    }
  }
  if (!watched.empty()) {
    // One read per room, however many of its members are relayed from here.
    std::vector<std::string> rooms;
    std::unordered_map<std::string, size_t> index;
    for (const auto& [id, w] : watched)
      if (index.emplace(w.room, rooms.size()).second) rooms.push_back(w.room);
    auto owners = store::owners(*redis_, rooms);
    if (!owners) {
      ok = false;
    } else {
      for (size_t i = 0; i < watched.size(); ++i) {
        const auto& owner = (*owners)[index[watched[i].second.room]];
        if (owner && *owner == watched[i].second.token) continue;
        {
          std::lock_guard lock(mutex_);
          if (!watches_.erase(watched[i].first)) continue;  // unwatched meanwhile
        }
        watched[i].second.moved();
      }
    }
  }
  if (renew.empty() && release.empty() && watched.empty()) ok = redis_->command({"PING"}).ok();
  record(ok);
  std::lock_guard lock(mutex_);
  ctx_.metrics.rooms_owned.store(static_cast<int64_t>(held_.size()));
}

}  // namespace rtpm::server
