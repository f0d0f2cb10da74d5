#include "rtpm/store/redis_leases.h"

#include <charconv>

namespace rtpm::store {

namespace {

// KEYS: owner, epoch. ARGV: node, ttl_ms. The owner's token, new or existing.
constexpr const char* kAcquire = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
local epoch = redis.call('INCR', KEYS[2])
local token = ARGV[1] .. '|' .. string.format('%d', epoch)
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
)lua";

// KEYS: owner. ARGV: token, ttl_ms. 1 when the token still holds the lease (extended).
constexpr const char* kRenew = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)lua";

// KEYS: owner. ARGV: token.
constexpr const char* kRelease = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

Error reply_error(const char* what, const Reply& r) {
  return Error{ErrorCode::internal,
               std::string("redis: ") + what + ": " + (r.is_error() ? r.str : "unexpected reply")};
}

}  // namespace

std::string redis_room_key(const std::string& room, std::string_view part) {
  std::string key = "rtpm:{";
  key += room;
  key += "}:";
  key += part;
  return key;
}

std::optional<Lease> parse_lease_token(const std::string& token, const std::string& my_node) {
  size_t bar = token.rfind('|');
  if (bar == std::string::npos) return std::nullopt;
  Lease lease;
  lease.token = token;
  lease.node = token.substr(0, bar);
  const char* first = token.data() + bar + 1;
  const char* last = token.data() + token.size();
  auto [end, ec] = std::from_chars(first, last, lease.epoch);
  if (first == last || ec != std::errc() || end != last) return std::nullopt;
  lease.mine = lease.node == my_node;
  return lease;
}

Result<Lease> acquire(RedisClient& redis, const std::string& room, const std::string& node,
                      int64_t ttl_ms) {
  auto r = redis.eval(kAcquire, {redis_room_key(room, "owner"), redis_room_key(room, "epoch")},
                      {node, std::to_string(ttl_ms)});
  if (!r) return r.error();
  if (!r->is_string()) return reply_error("acquire", *r);
  auto lease = parse_lease_token(r->str, node);
  if (!lease)
    return Error{ErrorCode::internal, "redis: bad owner token of " + room + ": " + r->str};
  return *lease;
}

Result<std::vector<bool>> renew(RedisClient& redis,
                                const std::vector<std::pair<std::string, std::string>>& leases,
                                int64_t ttl_ms) {
  std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> calls;
  calls.reserve(leases.size());
  for (const auto& [room, token] : leases)
    calls.push_back({{redis_room_key(room, "owner")}, {token, std::to_string(ttl_ms)}});
  std::vector<bool> out;
  out.reserve(leases.size());
  if (calls.empty()) return out;
  for (auto& r : redis.eval_pipeline(kRenew, calls)) {
    if (!r) return r.error();
    if (!r->is_integer()) return reply_error("renew", *r);
    out.push_back(r->integer == 1);
  }
  return out;
}

Result<void> release(RedisClient& redis, const std::string& room, const std::string& token) {
  auto r = redis.eval(kRelease, {redis_room_key(room, "owner")}, {token});
  if (!r) return r.error();
  if (r->is_error()) return reply_error("release", *r);
  return {};
}

Result<std::vector<std::optional<std::string>>> owners(RedisClient& redis,
                                                       const std::vector<std::string>& rooms) {
  std::vector<std::optional<std::string>> out;
  if (rooms.empty()) return out;
  std::vector<std::string> argv = {"MGET"};
  for (const auto& room : rooms) argv.push_back(redis_room_key(room, "owner"));
  auto r = redis.command(argv);
  if (!r) return r.error();
  if (!r->is_array() || r->elements.size() != rooms.size()) return reply_error("owners", *r);
  out.reserve(rooms.size());
  for (const auto& e : r->elements)
    out.push_back(e.is_string() ? std::optional<std::string>(e.str) : std::nullopt);
  return out;
}

}  // namespace rtpm::store
