#include "rtpm/server/auth_callback.h"

#include <string_view>
#include <utility>

#include <boost/asio/post.hpp>

#include "rtpm/json/json.h"
#include "rtpm/server/http_client.h"

namespace rtpm::server {

namespace net = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

/// Cached answers at most; the oldest inserted goes first.
constexpr size_t kMaxCacheEntries = 10'000;
/// The largest answer body read.
constexpr uint64_t kMaxAnswerBytes = 64 * 1024;
/// A userId in an answer: 1 to 128 UTF-16 code units (as PROTOCOL.md's userId).
constexpr size_t kMaxUserIdUnits = 128;

Error bad_url() {
  return Error{ErrorCode::internal, "--auth-url must be http://HOST[:PORT][/PATH]"};
}

Error refusal(std::string_view reason) {
  return Error{ErrorCode::unauthorized, "the authorization service failed: " + std::string(reason)};
}

/// A key of the cache: token, room and userId, NUL-separated. A userId is tagged 'u' and no
/// userId is "\x01null", so that a join as the userId "\x01null" (a valid one) does not find
/// the answer given for an HTTP read (userId null) with the same token.
std::string cache_key(const std::string& token, const std::string& room,
                      const std::optional<std::string>& user_id) {
  std::string key;
  key.reserve(token.size() + room.size() + (user_id ? user_id->size() : 4) + 3);
  key.append(token).push_back('\0');
  key.append(room).push_back('\0');
  if (user_id) {
    key.push_back('u');
    key.append(*user_id);
  } else {
    key.append("\x01null");
  }
  return key;
}

std::string request_body(const std::string& token, const std::string& room,
                         const std::optional<std::string>& user_id) {
  std::string body;
  json::Writer w(body);
  w.begin_object();
  w.key("token");
  w.string(token);
  w.key("room");
  w.string(room);
  w.key("userId");
  if (user_id) {
    w.string(*user_id);
  } else {
    w.null();
  }
  w.end_object();
  return body;
}

/// The Decision in a 200 answer's body, or the reason it is none.
Result<AuthCallback::Decision> parse_answer(std::string_view body) {
  Result<json::Value> parsed = json::parse(body);
  if (!parsed) return refusal("the answer is not JSON: " + parsed.error().message);
  const json::Value& answer = *parsed;
  if (!answer.is_object()) return refusal("the answer is not a JSON object");
  const json::Value* allow = answer.find("allow");
  if (!allow || !allow->is_bool()) return refusal("'allow' must be a boolean");
  AuthCallback::Decision decision;
  if (!allow->as_bool()) return decision;  // denied: the other fields do not matter
  decision.permission = auth::Permission::write;
  if (const json::Value* permission = answer.find("permission")) {
    if (permission->is_string() && permission->as_string() == "read") {
      decision.permission = auth::Permission::read;
    } else if (!permission->is_string() || permission->as_string() != "write") {
      return refusal("'permission' must be \"read\" or \"write\"");
    }
  }
  if (const json::Value* user_id = answer.find("userId")) {
    size_t units = user_id->is_string() ? json::to_utf16(user_id->as_string()).size() : 0;
    if (units < 1 || units > kMaxUserIdUnits)
      return refusal("'userId' must be a string of 1 to 128 UTF-16 code units");
    decision.user_id = user_id->as_string();
  }
  return decision;
}

}  // namespace

struct AuthCallback::Impl {
  Impl(net::io_context& io, Options opts) : ioc(io), options(std::move(opts)) {}

  /// A fresh cached answer for `key`, if any (an expired one is dropped).
  std::optional<Decision> lookup(const std::string& key);
  /// Caches an answer (replacing an older answer for the same key).
  void store(std::string key, const Decision& decision);

  net::io_context& ioc;
  Options options;
  HttpUrl url;

  struct CacheEntry {
    std::string key;
    Decision decision;
    SteadyClock::time_point expires;
  };
  std::mutex mutex;
  std::list<CacheEntry> entries;  // in insertion order, oldest first; guarded by mutex
  // Into `entries`; the keys view the entries' own strings. Guarded by mutex.
  std::unordered_map<std::string_view, std::list<CacheEntry>::iterator> index;
};

std::optional<AuthCallback::Decision> AuthCallback::Impl::lookup(const std::string& key) {
  std::lock_guard lock(mutex);
  auto found = index.find(key);
  if (found == index.end()) return std::nullopt;
  auto entry = found->second;
  if (SteadyClock::now() >= entry->expires) {
    index.erase(found);
    entries.erase(entry);
    return std::nullopt;
  }
  return entry->decision;
}

void AuthCallback::Impl::store(std::string key, const Decision& decision) {
  auto expires = SteadyClock::now() + options.cache_for;
  std::lock_guard lock(mutex);
  // Two requests for the same key may both have missed: the later answer replaces the earlier.
  if (auto found = index.find(key); found != index.end()) {
    auto old = found->second;
    index.erase(found);
    entries.erase(old);
  }
  while (entries.size() >= kMaxCacheEntries) {
    index.erase(entries.front().key);
    entries.pop_front();
  }
  entries.push_back(CacheEntry{std::move(key), decision, expires});
  auto last = std::prev(entries.end());
  index.emplace(last->key, last);
}

Result<std::unique_ptr<AuthCallback>> AuthCallback::create(net::io_context& ioc, Options options) {
  std::optional<HttpUrl> url = parse_http_url(options.url);
  if (!url) return bad_url();
  auto impl = std::make_unique<Impl>(ioc, std::move(options));
  impl->url = std::move(*url);
  return std::unique_ptr<AuthCallback>(new AuthCallback(std::move(impl)));
}

AuthCallback::AuthCallback(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

// Exchanges in flight keep their own reference to the Impl.
AuthCallback::~AuthCallback() = default;

void AuthCallback::authorize(std::string token, std::string room,
                             std::optional<std::string> user_id, Done done) {
  std::string key = cache_key(token, room, user_id);
  if (impl_->options.cache_for.count() > 0) {
    if (std::optional<Decision> cached = impl_->lookup(key)) {
      // Never re-entrant: `done` runs later, on the io_context, as for an exchange.
      net::post(impl_->ioc, [done = std::move(done), decision = std::move(*cached)]() mutable {
        done(std::move(decision));
      });
      return;
    }
  }
  HttpPost post{.body = request_body(token, room, user_id),
                .timeout = impl_->options.timeout,
                .max_answer_bytes = kMaxAnswerBytes};
  // The exchange holds the Impl (for the cache), so the AuthCallback may go while it runs.
  HttpExchange::start(impl_->ioc, impl_->url, std::move(post),
                      [impl = impl_, key = std::move(key),
                       done = std::move(done)](Result<HttpAnswer> answer) mutable {
                        if (!answer) return done(refusal(answer.error().message));
                        if (answer->status != 200)
                          return done(refusal("status " + std::to_string(answer->status)));
                        Result<Decision> decision = parse_answer(answer->body);
                        if (decision && impl->options.cache_for.count() > 0)
                          impl->store(std::move(key), *decision);
                        done(std::move(decision));
                      });
}

}  // namespace rtpm::server
