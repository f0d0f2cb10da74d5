#include "rtpm/store/redis_client.h"

#include <charconv>
#include <chrono>

#include <hiredis/hiredis.h>

namespace rtpm::store {

namespace {

Error url_error(std::string_view url, const std::string& what) {
  return Error{ErrorCode::internal, "bad Redis URL \"" + std::string(url) + "\": " + what +
                                        " (expected redis://[:password@]host:port[/db])"};
}

// A whole decimal number in [lo, hi], or -1.
int parse_int(std::string_view s, int lo, int hi) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return -1;
  return v;
}

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.kind = Reply::Kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.kind = r->type == REDIS_REPLY_STRING   ? Reply::Kind::string
                 : r->type == REDIS_REPLY_STATUS ? Reply::Kind::status
                                                 : Reply::Kind::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = Reply::Kind::array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default: break;  // nil
  }
  return out;
}

// Appends one command to the context's output buffer (sent by the next redisGetReply).
int append_argv(redisContext* ctx, const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  return redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), ptrs.data(), lens.data());
}

bool is_noscript(const Result<Reply>& r) {
  return r.ok() && r->is_error() && r->str.rfind("NOSCRIPT", 0) == 0;
}

timeval to_timeval(int ms) {
  return timeval{ms / 1000, static_cast<suseconds_t>((ms % 1000) * 1000)};
}

}  // namespace

Result<RedisUrl> parse_redis_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return url_error(url, "not redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisUrl out;
  // The path (the database number) starts at the first '/' after the last '@' (a password may
  // hold '/' and '@').
  size_t at = rest.rfind('@');
  size_t slash = rest.find('/', at == std::string_view::npos ? 0 : at + 1);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  rest = rest.substr(0, slash);
  if (at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = userinfo.find(':');
    if (colon != 0) return url_error(url, "user names are not supported, only :password@");
    out.password = std::string(userinfo.substr(1));
    if (out.password.empty()) return url_error(url, "empty password");
  }
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return url_error(url, "unclosed [");
    out.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty() && after.front() != ':') return url_error(url, "junk after ]");
    if (!after.empty()) port = after.substr(1);
    if (!after.empty() && port.empty()) return url_error(url, "empty port");
  } else {
    size_t colon = rest.find(':');
    out.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return url_error(url, "empty port");
    }
  }
  if (out.host.empty()) return url_error(url, "no host");
  if (!port.empty() && (out.port = parse_int(port, 1, 65535)) < 0)
    return url_error(url, "bad port \"" + std::string(port) + "\"");
  if (!path.empty() && (out.db = parse_int(path, 0, 1 << 20)) < 0)
    return url_error(url, "bad database number \"" + std::string(path) + "\"");
  return out;
}

RedisClient::RedisClient(RedisUrl url, RedisClientOptions options)
    : url_(std::move(url)), options_(options) {}

RedisClient::~RedisClient() { disconnect(); }

void RedisClient::disconnect() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

Error RedisClient::io_error(const std::string& what) {
  std::string detail = ctx_ && ctx_->err ? std::string(ctx_->errstr) : "connection lost";
  // The connection is in an unknown state (a reply may be half read): start over next time.
  disconnect();
  return Error{ErrorCode::internal, "redis " + url_.host + ":" + std::to_string(url_.port) + ": " +
                                        what + ": " + detail};
}

Result<void> RedisClient::connect() {
  if (ctx_) return {};
  timeval connect_timeout = to_timeval(options_.connect_timeout_ms);
  ctx_ = redisConnectWithTimeout(url_.host.c_str(), url_.port, connect_timeout);
  if (!ctx_) return Error{ErrorCode::internal, "redis: cannot allocate a connection"};
  if (ctx_->err) return io_error("connect");
  if (redisSetTimeout(ctx_, to_timeval(options_.command_timeout_ms)) != REDIS_OK)
    return io_error("set timeout");
  auto setup = [&](const std::vector<std::string>& argv) -> Result<void> {
    if (append_argv(ctx_, argv) != REDIS_OK) return io_error(argv[0]);
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) return io_error(argv[0]);
    Reply r = convert(static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    if (r.is_error()) {
      disconnect();
      return Error{ErrorCode::internal, "redis " + url_.host + ":" + std::to_string(url_.port) +
                                            ": " + argv[0] + ": " + r.str};
    }
    return {};
  };
  if (!url_.password.empty())
    if (auto r = setup({"AUTH", url_.password}); !r) return r;
  if (url_.db != 0)
    if (auto r = setup({"SELECT", std::to_string(url_.db)}); !r) return r;
  return {};
}

Result<Reply> RedisClient::command(const std::vector<std::string>& argv) {
  auto results = pipeline({argv});
  return std::move(results.front());
}

std::vector<Result<Reply>> RedisClient::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  // A connection that was open before this call may have died meanwhile (Redis restarted):
  // when it fails before the first answer, the calls go once more on a new connection. What
  // the dead connection may have run twice is safe to run again: appends are checked against
  // the room's version, leases against their token.
  bool reused = ctx_ != nullptr;
  bool answered = false;
  auto out = pipeline_once(commands, answered);
  if (reused && !answered && !out.empty() && !out.front()) return pipeline_once(commands, answered);
  return out;
}

std::vector<Result<Reply>> RedisClient::pipeline_once(
    const std::vector<std::vector<std::string>>& commands, bool& answered) {
  std::vector<Result<Reply>> out;
  out.reserve(commands.size());
  if (commands.empty()) return out;
  if (auto r = connect(); !r) return std::vector<Result<Reply>>(commands.size(), r.error());
  auto start = std::chrono::steady_clock::now();
  for (const auto& argv : commands) {
    if (append_argv(ctx_, argv) != REDIS_OK) {
      Error e = io_error("send");
      return std::vector<Result<Reply>>(commands.size(), e);
    }
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) {
      Error e = io_error(commands[i].empty() ? "command" : commands[i][0]);
      while (out.size() < commands.size()) out.emplace_back(e);
      return out;
    }
    answered = true;
    out.emplace_back(convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  last_round_trip_us_.store(std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - start)
                                .count(),
                            std::memory_order_relaxed);
  return out;
}

Result<std::string> RedisClient::load_script(const std::string& script) {
  auto r = command({"SCRIPT", "LOAD", script});
  if (!r) return r.error();
  if (!r->is_string())
    return Error{ErrorCode::internal, "redis: SCRIPT LOAD: " + (r->is_error() ? r->str : "?")};
  shas_[script] = r->str;
  return r->str;
}

Result<Reply> RedisClient::eval(const std::string& script, const std::vector<std::string>& keys,
                                const std::vector<std::string>& args) {
  auto results = eval_pipeline(script, {{keys, args}});
  return std::move(results.front());
}

std::vector<Result<Reply>> RedisClient::eval_pipeline(
    const std::string& script,
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>>& calls) {
  auto commands_for = [&](const std::string& sha, const std::vector<size_t>& which) {
    std::vector<std::vector<std::string>> commands;
    for (size_t i : which) {
      const auto& [keys, args] = calls[i];
      std::vector<std::string> argv = {"EVALSHA", sha, std::to_string(keys.size())};
      argv.insert(argv.end(), keys.begin(), keys.end());
      argv.insert(argv.end(), args.begin(), args.end());
      commands.push_back(std::move(argv));
    }
    return commands;
  };
  std::vector<size_t> all(calls.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  auto known = shas_.find(script);
  std::string sha;
  if (known != shas_.end()) {
    sha = known->second;
  } else {
    auto loaded = load_script(script);
    if (!loaded) return std::vector<Result<Reply>>(calls.size(), loaded.error());
    sha = *loaded;
  }
  auto results = pipeline(commands_for(sha, all));
  // NOSCRIPT: Redis restarted (or SCRIPT FLUSH) since we loaded it. The script did not run for
  // those calls; load it again and run them again, in their order.
  std::vector<size_t> again;
  for (size_t i = 0; i < results.size(); ++i)
    if (is_noscript(results[i])) again.push_back(i);
  if (again.empty()) return results;
  auto loaded = load_script(script);
  if (!loaded) {
    for (size_t i : again) results[i] = loaded.error();
    return results;
  }
  auto retried = pipeline(commands_for(*loaded, again));
  for (size_t k = 0; k < again.size(); ++k) results[again[k]] = std::move(retried[k]);
  return results;
}

}  // namespace rtpm::store
