// RedisClient: a small synchronous Redis client over hiredis, for RedisStore
// and the room leases (redis_leases.h). Callers see owned Reply values, never
// hiredis. It connects on first use; an I/O error (a timeout, a closed
// connection) frees the connection and the next call connects again, so a
// restarted redis-server is picked up without anyone's help. Not thread-safe:
// one caller at a time (RedisStore holds a mutex around its client).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtpm/base/error.h"

struct redisContext;

namespace rtpm::store {

/// redis://[:password@]host:port[/db]
struct RedisUrl {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string password;
};

/// Parses `redis://[:password@]HOST[:PORT][/DB]`; an `internal` Error names what is wrong.
Result<RedisUrl> parse_redis_url(std::string_view url);

/// One Redis reply, owned (RESP2: what Redis 7 answers without HELLO 3).
struct Reply {
  enum class Kind { nil, integer, string, status, error, array };
  Kind kind = Kind::nil;
  int64_t integer = 0;
  /// The text of a string, status or error reply.
  std::string str;
  std::vector<Reply> elements;

  bool is_nil() const { return kind == Kind::nil; }
  bool is_error() const { return kind == Kind::error; }
  bool is_integer() const { return kind == Kind::integer; }
  bool is_string() const { return kind == Kind::string || kind == Kind::status; }
  bool is_array() const { return kind == Kind::array; }
};

struct RedisClientOptions {
  int connect_timeout_ms = 2000;
  /// Bounds every round trip (a stopped or unreachable server fails a call after this long).
  /// Must exceed the timeout of a blocking command such as WAIT.
  int command_timeout_ms = 2000;
};

class RedisClient {
 public:
  explicit RedisClient(RedisUrl url, RedisClientOptions options = {});
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  /// One command (binary-safe arguments). A server error reply (WRONGTYPE, a script's error) is
  /// a Reply of kind error; the Result fails only when Redis could not be reached or answer.
  Result<Reply> command(const std::vector<std::string>& argv);
  /// Several commands in one round trip, a result per command (same order). After an I/O error
  /// the commands without an answer fail (they may or may not have run).
  std::vector<Result<Reply>> pipeline(const std::vector<std::vector<std::string>>& commands);
  /// Runs a Lua script by its SHA1 (EVALSHA), loading it first when this client has not yet,
  /// and again when Redis answers NOSCRIPT (its script cache is empty after a restart).
  Result<Reply> eval(const std::string& script, const std::vector<std::string>& keys,
                     const std::vector<std::string>& args);
  /// Pipelined eval of one script: one call per (keys, args), one result per call.
  std::vector<Result<Reply>> eval_pipeline(
      const std::string& script,
      const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>>& calls);

  /// Whether a connection is open (it may still turn out dead on the next call).
  bool connected() const { return ctx_ != nullptr; }
  /// The duration of the last successful round trip, in microseconds (0 before the first). Safe
  /// to read from any thread (for a latency metric).
  int64_t last_round_trip_us() const { return last_round_trip_us_.load(std::memory_order_relaxed); }
  const RedisUrl& url() const { return url_; }

 private:
  /// One try of pipeline(); `answered` is set once a reply was read.
  std::vector<Result<Reply>> pipeline_once(const std::vector<std::vector<std::string>>& commands,
                                           bool& answered);
  Result<void> connect();
  void disconnect();
  Error io_error(const std::string& what);
  /// SCRIPT LOAD; remembers the SHA1 of `script`.
  Result<std::string> load_script(const std::string& script);

  RedisUrl url_;
  RedisClientOptions options_;
  redisContext* ctx_ = nullptr;
  std::atomic<int64_t> last_round_trip_us_{0};
  /// Script body -> its SHA1, as SCRIPT LOAD answered.
  std::map<std::string, std::string> shas_;
};

}  // namespace rtpm::store
