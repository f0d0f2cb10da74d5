#include "rtpm/store/redis_store.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <set>

#include "rtpm/store/redis_leases.h"

namespace rtpm::store {

namespace {

constexpr std::string_view kFencedPrefix = "fenced: ";

// Every write script starts with this: KEYS[1] is the room's owner key, ARGV[1] "1" when the
// fence is on and ARGV[2] the token this node holds.
#define RTPM_FENCE_LUA                                                              \
  "local function fenced()\n"                                                       \
  "  return ARGV[1] == '1' and redis.call('GET', KEYS[1]) ~= ARGV[2]\n"             \
  "end\n"                                                                           \
  "local function fence_error()\n"                                                  \
  "  return redis.error_reply('FENCED ' .. tostring(redis.call('GET', KEYS[1])))\n" \
  "end\n"

// KEYS: owner, meta, log. ARGV: fence, token, first version, then (user, step, time) per step.
// The room's new version, or an error: FENCED, NOROOM, CONFLICT <the room's version>.
constexpr const char* kAppend = RTPM_FENCE_LUA R"lua(
if fenced() then return fence_error() end
if redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply('NOROOM') end
local cur = tonumber(redis.call('HGET', KEYS[2], 'version'))
local n = (#ARGV - 3) / 3
if n == 0 then return cur end
local first = tonumber(ARGV[3])
if first ~= cur + 1 then return redis.error_reply('CONFLICT ' .. string.format('%d', cur)) end
for i = 0, n - 1 do
  redis.call('XADD', KEYS[3], string.format('%d-0', first + i),
             'u', ARGV[4 + 3 * i], 's', ARGV[5 + 3 * i], 't', ARGV[6 + 3 * i])
end
local last = first + n - 1
redis.call('HSET', KEYS[2], 'version', string.format('%d', last))
return last
)lua";

// KEYS: meta, snaps, kept, rooms, log, versions, vdocs. ARGV: room, doc, created_ms.
constexpr const char* kCreate = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[5], KEYS[6], KEYS[7])
redis.call('HSET', KEYS[1], 'version', '0', 'created_ms', ARGV[3], 'snapshot_version', '0')
redis.call('HSET', KEYS[2], '0', ARGV[2])
redis.call('ZADD', KEYS[3], 0, '0')
redis.call('ZADD', KEYS[4], 0, ARGV[1])
return 1
)lua";

// KEYS: meta, snaps, log. ARGV: history_before. nil, or {snapshot version, doc, entries}.
constexpr const char* kLoadRoom = R"lua(
local sv = redis.call('HGET', KEYS[1], 'snapshot_version')
if not sv then return false end
local doc = redis.call('HGET', KEYS[2], sv)
local from = tonumber(sv) - tonumber(ARGV[1]) + 1
if from < 0 then from = 0 end
return {sv, doc, redis.call('XRANGE', KEYS[3], string.format('%d-0', from), '+')}
)lua";

// KEYS: owner, meta, snaps, kept, log. ARGV: fence, token, version, doc, keep_history,
// keep_every. SqliteStore::save_snapshot's rules: the snapshot becomes the latest, is kept
// unless a kept one is newer than version - keep_every, and the kept snapshots and steps
// before the newest kept one at or before version - keep_history go.
constexpr const char* kSaveSnapshot = RTPM_FENCE_LUA R"lua(
if fenced() then return fence_error() end
if redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply('NOROOM') end
local v = tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[2], 'snapshot_version')
if old and tonumber(old) ~= v and not redis.call('ZSCORE', KEYS[4], old) then
  redis.call('HDEL', KEYS[3], old)
end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
local cur = tonumber(redis.call('HGET', KEYS[2], 'version'))
if v > cur then cur = v end
redis.call('HSET', KEYS[2], 'snapshot_version', ARGV[3], 'version', string.format('%d', cur))
local keep_every = tonumber(ARGV[6])
if keep_every <= 0 or #redis.call('ZRANGEBYSCORE', KEYS[4],
    '(' .. string.format('%d', v - keep_every), '+inf', 'LIMIT', 0, 1) == 0 then
  redis.call('ZADD', KEYS[4], v, ARGV[3])
end
local from = redis.call('ZREVRANGEBYSCORE', KEYS[4],
                        string.format('%d', v - tonumber(ARGV[5])), '-inf', 'LIMIT', 0, 1)[1]
if not from then from = redis.call('ZRANGE', KEYS[4], 0, 0)[1] end
if from then
  local older = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. from)
  for _, k in ipairs(older) do
    if tonumber(k) ~= v then redis.call('HDEL', KEYS[3], k) end
  end
  if #older > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. from) end
  redis.call('XTRIM', KEYS[5], 'MINID', string.format('%d-0', tonumber(from) + 1))
end
return 1
)lua";

// KEYS: meta, log. ARGV: since, limit. nil, or {version, first, entries}.
constexpr const char* kReadSteps = R"lua(
local ver = redis.call('HGET', KEYS[1], 'version')
if not ver then return false end
local first = tonumber(ver)
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #oldest > 0 then first = tonumber(string.match(oldest[1][1], '^(%d+)')) - 1 end
local since = tonumber(ARGV[1])
local steps = {}
if since >= first and tonumber(ARGV[2]) > 0 then
  steps = redis.call('XRANGE', KEYS[2], string.format('%d-0', since + 1), '+', 'COUNT', ARGV[2])
end
return {ver, string.format('%d', first), steps}
)lua";

// KEYS: meta, kept, snaps, log. ARGV: version. nil, or {snapshot version, doc, entries}: the
// newest kept snapshot at or before the version (else the oldest kept) and the steps after it.
constexpr const char* kLoadVersion = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local s = redis.call('ZREVRANGEBYSCORE', KEYS[2], ARGV[1], '-inf', 'LIMIT', 0, 1)[1]
if not s then s = redis.call('ZRANGE', KEYS[2], 0, 0)[1] end
if not s then s = redis.call('HGET', KEYS[1], 'snapshot_version') end
local steps = {}
if tonumber(s) <= tonumber(ARGV[1]) then
  steps = redis.call('XRANGE', KEYS[4], string.format('%d-0', tonumber(s) + 1), ARGV[1] .. '-0')
end
return {s, redis.call('HGET', KEYS[3], s), steps}
)lua";

// KEYS: owner, meta, versions, vdocs. ARGV: fence, token, name, version, time_ms, doc, max.
constexpr const char* kAddNamed = RTPM_FENCE_LUA R"lua(
if redis.call('EXISTS', KEYS[2]) == 0 then return 'no_room' end
if fenced() then return fence_error() end
if redis.call('HEXISTS', KEYS[4], ARGV[3]) == 1 then return 'name_taken' end
if redis.call('LLEN', KEYS[3]) >= tonumber(ARGV[7]) then return 'full' end
redis.call('RPUSH', KEYS[3], ARGV[4] .. '\n' .. ARGV[5] .. '\n' .. ARGV[3])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[6])
return 'added'
)lua";

// KEYS: versions, vdocs. ARGV: version. The newest named version's document at it, or nil.
constexpr const char* kNamedDoc = R"lua(
local all = redis.call('LRANGE', KEYS[1], 0, -1)
for i = #all, 1, -1 do
  local v, name = string.match(all[i], '^([^\n]*)\n[^\n]*\n(.*)$')
  if v == ARGV[1] then return redis.call('HGET', KEYS[2], name) end
end
return false
)lua";

// KEYS: owner, meta, snaps, kept, log, versions, vdocs, rooms. ARGV: fence, token, room.
// The lease keys stay: the epoch must never go back.
constexpr const char* kDelete = RTPM_FENCE_LUA R"lua(
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if fenced() then return fence_error() end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
redis.call('ZREM', KEYS[8], ARGV[3])
return 1
)lua";

#undef RTPM_FENCE_LUA

constexpr const char* kRoomsKey = "rtpm:rooms";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The leading decimal integer of `s` ("12" or the "12" of a stream ID "12-0"), 0 when none.
int64_t to_int(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string key(const std::string& room, std::string_view part) {
  return redis_room_key(room, part);
}

Error redis_error(const std::string& what, const std::string& detail) {
  return Error{ErrorCode::internal, "redis: " + what + ": " + detail};
}

Error fenced_error(const std::string& room, const std::string& detail) {
  return Error{ErrorCode::internal, std::string(kFencedPrefix) + "redis: room " + room +
                                        " is not this node's (" + detail + ")"};
}

// A script's answer: an I/O failure, or a FENCED error reply, becomes an Error; anything else
// (other error replies included) is the caller's to read.
Result<Reply> checked(Result<Reply> r, const std::string& room) {
  if (!r) return r.error();
  if (r->is_error() && r->str.rfind("FENCED", 0) == 0)
    return fenced_error(room, "owner now: " + r->str.substr(std::min<size_t>(7, r->str.size())));
  return r;
}

// The steps of XRANGE's answer ([[id, [field, value, ...]], ...]).
std::vector<StoredStep> parse_entries(const Reply& entries) {
  std::vector<StoredStep> out;
  out.reserve(entries.elements.size());
  for (const auto& e : entries.elements) {
    if (e.elements.size() != 2) continue;
    StoredStep step;
    step.version = to_int(e.elements[0].str);
    const auto& fields = e.elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      const std::string& f = fields[i].str;
      if (f == "u") step.user_id = fields[i + 1].str;
      if (f == "s") step.step_json = fields[i + 1].str;
      if (f == "t") step.time_ms = to_int(fields[i + 1].str);
    }
    out.push_back(std::move(step));
  }
  return out;
}

// {snapshot version, doc, entries} of kLoadRoom and kLoadVersion.
Result<std::optional<RoomData>> parse_room_data(const Result<Reply>& r, const std::string& what) {
  if (!r) return r.error();
  if (r->is_nil()) return std::optional<RoomData>();
  if (!r->is_array() || r->elements.size() != 3)
    return redis_error(what, r->is_error() ? r->str : "unexpected reply");
  RoomData data;
  data.snapshot_version = to_int(r->elements[0].str);
  if (!r->elements[1].is_string())
    return redis_error(what, "no snapshot at version " + r->elements[0].str);
  data.snapshot_doc = r->elements[1].str;
  data.steps = parse_entries(r->elements[2]);
  return std::optional<RoomData>(std::move(data));
}

std::string limit_arg(size_t limit) { return std::to_string(std::min<size_t>(limit, INT_MAX)); }

}  // namespace

bool is_fenced(const Error& error) { return error.message.rfind(kFencedPrefix, 0) == 0; }

RedisStore::RedisStore(RedisUrl url, RedisStoreOptions options)
    : options_(std::move(options)), redis_(std::move(url), options_.client) {}

RedisStore::~RedisStore() = default;

Result<std::unique_ptr<RedisStore>> RedisStore::open(const std::string& url,
                                                     RedisStoreOptions options) {
  auto parsed = parse_redis_url(url);
  if (!parsed) return parsed.error();
  // WAIT blocks for up to its timeout: the round trip must be allowed longer.
  if (options.wait_replicas > 0)
    options.client.command_timeout_ms =
        std::max(options.client.command_timeout_ms, options.wait_timeout_ms + 1000);
  std::unique_ptr<RedisStore> store(new RedisStore(std::move(*parsed), std::move(options)));
  auto pong = store->redis_.command({"PING"});
  if (!pong) return pong.error();
  if (pong->is_error()) return redis_error("PING " + url, pong->str);
  return store;
}

int64_t RedisStore::last_round_trip_us() { return redis_.last_round_trip_us(); }

std::optional<std::vector<std::string>> RedisStore::fence_args(const std::string& room) {
  if (!options_.fence) return std::vector<std::string>{"0", ""};
  auto token = options_.fence(room);
  if (!token) return std::nullopt;
  return std::vector<std::string>{"1", *token};
}

Result<void> RedisStore::create_room(const std::string& room, const std::string& doc_json) {
  std::lock_guard lock(mutex_);
  auto r = redis_.eval(kCreate,
                       {key(room, "meta"), key(room, "snaps"), key(room, "kept"), kRoomsKey,
                        key(room, "log"), key(room, "versions"), key(room, "vdocs")},
                       {room, doc_json, std::to_string(now_ms())});
  if (!r) return r.error();
  if (r->is_error()) return redis_error("create room " + room, r->str);
  return {};
}

Result<std::optional<RoomData>> RedisStore::load_room(const std::string& room,
                                                      int64_t history_before) {
  std::lock_guard lock(mutex_);
  return parse_room_data(
      redis_.eval(kLoadRoom, {key(room, "meta"), key(room, "snaps"), key(room, "log")},
                  {std::to_string(history_before)}),
      "load room " + room);
}

std::vector<Result<void>> RedisStore::append(const std::vector<AppendBatch>& batches) {
  std::lock_guard lock(mutex_);
  std::vector<Result<void>> results(batches.size());
  std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> calls;
  std::vector<size_t> sent;  // the batch of each call
  std::set<std::string> failed;
  for (size_t i = 0; i < batches.size(); ++i) {
    const AppendBatch& b = batches[i];
    // A batch after a failed one of its room would leave a gap in its log.
    if (failed.count(b.room)) {
      results[i] = redis_error("append " + b.room, "an earlier batch of the room failed");
      continue;
    }
    bool continues = true;
    for (size_t k = 1; k < b.steps.size(); ++k)
      continues = continues && b.steps[k].version == b.steps[0].version + static_cast<int64_t>(k);
    if (!continues) {
      results[i] = redis_error("append " + b.room, "the batch's versions do not follow each other");
      failed.insert(b.room);
      continue;
    }
    auto args = fence_args(b.room);
    if (!args) {
      results[i] = fenced_error(b.room, "no lease");
      failed.insert(b.room);
      continue;
    }
    args->push_back(b.steps.empty() ? "0" : std::to_string(b.steps.front().version));
    for (const auto& s : b.steps) {
      args->push_back(s.user_id);
      args->push_back(s.step_json);
      args->push_back(std::to_string(s.time_ms));
    }
    calls.push_back(
        {{key(b.room, "owner"), key(b.room, "meta"), key(b.room, "log")}, std::move(*args)});
    sent.push_back(i);
  }
  if (calls.empty()) return results;
  // One round trip for every batch; each script lands whole or not at all.
  auto replies = redis_.eval_pipeline(kAppend, calls);
  bool any_ok = false;
  for (size_t k = 0; k < sent.size(); ++k) {
    const AppendBatch& b = batches[sent[k]];
    auto r = checked(std::move(replies[k]), b.room);
    Result<void>& out = results[sent[k]];
    if (!r) {
      out = r.error();
    } else if (r->is_error() && r->str.rfind("CONFLICT", 0) == 0) {
      out = redis_error("append " + b.room,
                        "steps start at version " + std::to_string(b.steps.front().version) +
                            ", the log is at " + r->str.substr(9) + " (version conflict)");
    } else if (r->is_error() && r->str == "NOROOM") {
      out = redis_error("append", "no room " + b.room);
    } else if (!r->is_integer()) {
      out = redis_error("append " + b.room, r->is_error() ? r->str : "unexpected reply");
    } else {
      any_ok = true;
      continue;
    }
    failed.insert(b.room);
  }
  if (any_ok && options_.wait_replicas > 0) {
    // Acknowledged only once enough replicas have the steps too.
    auto w = redis_.command(
        {"WAIT", std::to_string(options_.wait_replicas), std::to_string(options_.wait_timeout_ms)});
    std::optional<Error> e;
    if (!w)
      e = w.error();
    else if (!w->is_integer())
      e = redis_error("WAIT", w->is_error() ? w->str : "unexpected reply");
    else if (w->integer < options_.wait_replicas)
      e = redis_error("WAIT", std::to_string(w->integer) + " of " +
                                  std::to_string(options_.wait_replicas) +
                                  " replicas acknowledged the steps within " +
                                  std::to_string(options_.wait_timeout_ms) + " ms");
    if (e)
      for (size_t i : sent)
        if (results[i]) results[i] = *e;
  }
  return results;
}

Result<void> RedisStore::save_snapshot(const std::string& room, int64_t version,
                                       const std::string& doc_json, int64_t keep_history,
                                       int64_t keep_every) {
  std::lock_guard lock(mutex_);
  auto args = fence_args(room);
  if (!args) return fenced_error(room, "no lease");
  args->insert(args->end(), {std::to_string(version), doc_json, std::to_string(keep_history),
                             std::to_string(keep_every)});
  auto r = checked(redis_.eval(kSaveSnapshot,
                               {key(room, "owner"), key(room, "meta"), key(room, "snaps"),
                                key(room, "kept"), key(room, "log")},
                               *args),
                   room);
  if (!r) return r.error();
  if (r->is_error())
    return redis_error("save snapshot of " + room, r->str == "NOROOM" ? "no room" : r->str);
  return {};
}

Result<bool> RedisStore::room_exists(const std::string& room) {
  std::lock_guard lock(mutex_);
  auto r = redis_.command({"EXISTS", key(room, "meta")});
  if (!r) return r.error();
  if (!r->is_integer()) return redis_error("room exists", r->str);
  return r->integer > 0;
}

Result<int64_t> RedisStore::room_count() {
  std::lock_guard lock(mutex_);
  auto r = redis_.command({"ZCARD", kRoomsKey});
  if (!r) return r.error();
  if (!r->is_integer()) return redis_error("room count", r->str);
  return r->integer;
}

Result<std::vector<RoomInfo>> RedisStore::list_rooms(const std::string& prefix,
                                                     const std::string& after, size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<RoomInfo> out;
  if (limit == 0) return out;
  // Names in byte order from the first that can match; the matches are contiguous.
  std::string min = after < prefix ? "[" + prefix : "(" + after;
  auto names = redis_.command({"ZRANGEBYLEX", kRoomsKey, min, "+", "LIMIT", "0", limit_arg(limit)});
  if (!names) return names.error();
  if (!names->is_array()) return redis_error("list rooms", names->str);
  std::vector<std::vector<std::string>> metas;
  for (const auto& n : names->elements) {
    if (n.str.compare(0, prefix.size(), prefix) != 0) break;
    metas.push_back({"HMGET", key(n.str, "meta"), "version", "created_ms"});
  }
  auto replies = redis_.pipeline(metas);
  for (size_t i = 0; i < replies.size(); ++i) {
    if (!replies[i]) return replies[i].error();
    const Reply& m = *replies[i];
    if (!m.is_array() || m.elements.size() != 2 || m.elements[0].is_nil())
      continue;  // deleted meanwhile
    out.push_back({names->elements[i].str, to_int(m.elements[0].str), to_int(m.elements[1].str)});
  }
  return out;
}

Result<std::optional<StepPage>> RedisStore::read_steps(const std::string& room, int64_t since,
                                                       size_t limit) {
  std::lock_guard lock(mutex_);
  auto r = redis_.eval(kReadSteps, {key(room, "meta"), key(room, "log")},
                       {std::to_string(since), limit_arg(limit)});
  if (!r) return r.error();
  if (r->is_nil()) return std::optional<StepPage>();
  if (!r->is_array() || r->elements.size() != 3)
    return redis_error("read steps of " + room, r->is_error() ? r->str : "unexpected reply");
  StepPage page;
  page.version = to_int(r->elements[0].str);
  page.first = to_int(r->elements[1].str);
  page.steps = parse_entries(r->elements[2]);
  return std::optional<StepPage>(std::move(page));
}

Result<std::optional<RoomData>> RedisStore::load_version(const std::string& room, int64_t version) {
  std::lock_guard lock(mutex_);
  return parse_room_data(
      redis_.eval(kLoadVersion,
                  {key(room, "meta"), key(room, "kept"), key(room, "snaps"), key(room, "log")},
                  {std::to_string(version)}),
      "load version of " + room);
}

Result<AddVersion> RedisStore::add_named_version(const std::string& room, const NamedVersion& v,
                                                 const std::string& doc_json, size_t max_per_room) {
  std::lock_guard lock(mutex_);
  auto args = fence_args(room);
  if (!args) return fenced_error(room, "no lease");
  args->insert(args->end(), {v.name, std::to_string(v.version), std::to_string(v.time_ms), doc_json,
                             std::to_string(max_per_room)});
  auto r = checked(redis_.eval(kAddNamed,
                               {key(room, "owner"), key(room, "meta"), key(room, "versions"),
                                key(room, "vdocs")},
                               *args),
                   room);
  if (!r) return r.error();
  if (r->str == "added") return AddVersion::added;
  if (r->str == "name_taken") return AddVersion::name_taken;
  if (r->str == "full") return AddVersion::full;
  if (r->str == "no_room") return AddVersion::no_room;
  return redis_error("add version to " + room, r->str);
}

Result<std::vector<NamedVersion>> RedisStore::named_versions(const std::string& room) {
  std::lock_guard lock(mutex_);
  auto r = redis_.command({"LRANGE", key(room, "versions"), "0", "-1"});
  if (!r) return r.error();
  if (!r->is_array()) return redis_error("list versions of " + room, r->str);
  std::vector<NamedVersion> out;
  for (const auto& e : r->elements) {
    // VERSION\nTIME_MS\nNAME (the name last: it may hold anything).
    size_t a = e.str.find('\n');
    size_t b = a == std::string::npos ? a : e.str.find('\n', a + 1);
    if (b == std::string::npos) continue;
    out.push_back({e.str.substr(b + 1), to_int(e.str.substr(0, a)),
                   to_int(std::string_view(e.str).substr(a + 1, b - a - 1))});
  }
  return out;
}

Result<std::optional<std::string>> RedisStore::named_version_doc(const std::string& room,
                                                                 int64_t version) {
  std::lock_guard lock(mutex_);
  auto r = redis_.eval(kNamedDoc, {key(room, "versions"), key(room, "vdocs")},
                       {std::to_string(version)});
  if (!r) return r.error();
  if (r->is_nil()) return std::optional<std::string>();
  if (!r->is_string()) return redis_error("read version of " + room, r->str);
  return std::optional<std::string>(r->str);
}

Result<bool> RedisStore::delete_room(const std::string& room) {
  std::lock_guard lock(mutex_);
  auto args = fence_args(room);
  if (!args) return fenced_error(room, "no lease");
  args->push_back(room);
  auto r = checked(
      redis_.eval(kDelete,
                  {key(room, "owner"), key(room, "meta"), key(room, "snaps"), key(room, "kept"),
                   key(room, "log"), key(room, "versions"), key(room, "vdocs"), kRoomsKey},
                  *args),
      room);
  if (!r) return r.error();
  if (!r->is_integer()) return redis_error("delete room " + room, r->str);
  return r->integer == 1;
}

}  // namespace rtpm::store
