#include "rtpm/server/client_limits.h"

#include <algorithm>
#include <utility>

namespace rtpm::server {

ClientLimits::ClientLimits(Options options, std::atomic<int64_t>* open_gauge)
    : options_(options), open_gauge_(open_gauge) {}

std::string ClientLimits::address_key(const boost::asio::ip::address& address) {
  if (address.is_v6() && !address.to_v6().is_v4_mapped()) {
    auto bytes = address.to_v6().to_bytes();
    std::string key(1, '6');
    key.append(reinterpret_cast<const char*>(bytes.data()), 8);  // the /64 network
    return key;
  }
  auto v4 = address.is_v4()
                ? address.to_v4()
                : boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
  auto bytes = v4.to_bytes();
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

ClientLimits::Slot::Slot(Slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      key_(std::move(other.key_)),
      counted_(other.counted_) {}

ClientLimits::Slot& ClientLimits::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (owner_) owner_->release(key_, counted_);
    owner_ = std::exchange(other.owner_, nullptr);
    key_ = std::move(other.key_);
    counted_ = other.counted_;
  }
  return *this;
}

ClientLimits::Slot::~Slot() {
  if (owner_) owner_->release(key_, counted_);
}

void ClientLimits::Slot::leave_address() {
  if (!owner_ || !counted_) return;
  counted_ = false;
  owner_->release_address(key_);
}

std::variant<ClientLimits::Slot, ClientLimits::Refusal> ClientLimits::connect(
    const std::string& key) {
  std::lock_guard lock(mutex_);
  if (options_.max_connections > 0 && open_ >= options_.max_connections)
    return Refusal::server_full;
  size_t& mine = per_address_[key];
  if (options_.max_connections_per_address > 0 && mine >= options_.max_connections_per_address)
    return Refusal::address_full;
  ++mine;
  ++open_;
  if (open_gauge_) open_gauge_->store(static_cast<int64_t>(open_), std::memory_order_relaxed);
  return Slot(this, key);
}

void ClientLimits::release_address(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = per_address_.find(key);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

void ClientLimits::release(const std::string& key, bool counted) {
  std::lock_guard lock(mutex_);
  auto it = counted ? per_address_.find(key) : per_address_.end();
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  --open_;
  if (open_gauge_) open_gauge_->store(static_cast<int64_t>(open_), std::memory_order_relaxed);
}

size_t ClientLimits::connections() {
  std::lock_guard lock(mutex_);
  return open_;
}

void ClientLimits::set_max_connections(size_t n) {
  std::lock_guard lock(mutex_);
  options_.max_connections = n;
}

size_t ClientLimits::max_connections() {
  std::lock_guard lock(mutex_);
  return options_.max_connections;
}

ClientLimits::Creation ClientLimits::create_room(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (options_.max_rooms > 0 && rooms_ >= options_.max_rooms) return Creation::too_many_rooms;
  double capacity = options_.room_creations_per_minute;
  if (capacity > 0 && !creations_.take(key, capacity, now)) return Creation::rate_limited;
  ++rooms_;
  return Creation::allowed;
}

bool ClientLimits::api_request(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  double capacity = options_.api_requests_per_minute;
  return capacity <= 0 || api_requests_.take(key, capacity, now);
}

bool ClientLimits::Buckets::take(const std::string& key, double capacity, Clock::time_point now) {
  // Buckets that have refilled to full carry no information: drop them, at most once a minute
  // and only when there are many, so that the table stays small without a timer.
  if (by_key.size() >= 1024 && now - pruned_at >= std::chrono::minutes(1)) {
    pruned_at = now;
    std::erase_if(by_key, [&](const auto& entry) {
      double elapsed = std::chrono::duration<double>(now - entry.second.at).count();
      return entry.second.tokens + elapsed * capacity / 60 >= capacity;
    });
  }
  auto [it, fresh] = by_key.try_emplace(key, Bucket{capacity, now});
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.at).count();
  b.tokens = std::min(capacity, b.tokens + std::max(0.0, elapsed) * capacity / 60);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void ClientLimits::room_not_created() {
  std::lock_guard lock(mutex_);
  --rooms_;
}

void ClientLimits::set_rooms(int64_t rooms) {
  std::lock_guard lock(mutex_);
  rooms_ = rooms;
}

}  // namespace rtpm::server
