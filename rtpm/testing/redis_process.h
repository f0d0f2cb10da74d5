// RedisProcess: a real redis-server for tests, on a free loopback port with
// its own folder (removed at the end), no RDB saves, and the AOF off unless
// the extra arguments turn it on. The binary is $RTPM_REDIS_SERVER, else
// redis-server on PATH; without it start() throws, so the tests that need
// Redis fail (CI installs it) instead of passing without it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

namespace rtpm::testing {

class RedisProcess {
 public:
  /// `extra_args` are added to redis-server's command line (e.g. {"--appendonly", "yes"}).
  explicit RedisProcess(std::vector<std::string> extra_args = {});
  ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  /// Starts redis-server and waits (up to 10 s) until it answers PING. Throws on failure.
  void start();
  /// SIGTERM and wait for it to exit.
  void stop();
  /// SIGKILL and wait.
  void kill9();
  /// Starts it again after stop() or kill9(), on the same port and folder (what the AOF holds
  /// comes back). Throws on failure.
  void restart();
  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  /// redis://127.0.0.1:PORT
  std::string url() const;
  /// Its process id (-1 when not running), e.g. to SIGSTOP it.
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

 private:
  void start_on(uint16_t port);

  std::vector<std::string> extra_args_;
  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace rtpm::testing
