#include "rtpm/testing/redis_process.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace rtpm::testing {

namespace fs = std::filesystem;

namespace {

// The redis-server to run: $RTPM_REDIS_SERVER, else the first on PATH; empty when none.
std::string find_redis_server() {
  if (const char* env = std::getenv("RTPM_REDIS_SERVER"); env && *env)
    return access(env, X_OK) == 0 ? env : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/redis-server";
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// A port the kernel says is free now (it may be taken before redis binds it: start() retries).
uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// True when redis on `port` answers PING with PONG (not LOADING or an error).
bool answers_ping(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr = loopback(port);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const char ping[] = "PING\r\n";
    char buf[64] = {};
    if (send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof ping - 1)) {
      ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
      ok = n >= 5 && std::string(buf, 5) == "+PONG";
    }
  }
  close(fd);
  return ok;
}

}  // namespace

RedisProcess::RedisProcess(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  char tmpl[] = "/tmp/rtpm-redis-XXXXXX";
  char* made = mkdtemp(tmpl);
  if (!made) throw std::runtime_error("mkdtemp failed");
  dir_ = made;
}

RedisProcess::~RedisProcess() {
  if (pid_ > 0) kill9();  // its data is thrown away with the folder
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string RedisProcess::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

void RedisProcess::start() {
  // Another process may take the free port before redis binds it: try a few.
  for (int i = 0;; ++i) {
    try {
      start_on(free_port());
      return;
    } catch (const std::runtime_error&) {
      if (i >= 4) throw;
    }
  }
}

void RedisProcess::restart() {
  if (pid_ > 0) throw std::runtime_error("restart: redis-server is running");
  // The old listening socket may linger briefly; retry for a while.
  for (int i = 0;; ++i) {
    try {
      start_on(port_);
      return;
    } catch (const std::runtime_error&) {
      if (i >= 50) throw;
      usleep(100000);
    }
  }
}

void RedisProcess::start_on(uint16_t port) {
  std::string binary = find_redis_server();
  if (binary.empty())
    throw std::runtime_error(
        "redis-server not found: install it (Debian: apt-get install redis-server, as "
        "scripts/install-deps.sh does) or set RTPM_REDIS_SERVER to its path");
  bool aof_given = false;
  for (const auto& a : extra_args_) aof_given = aof_given || a == "--appendonly";
  std::vector<std::string> args = {
      binary,  "--bind",    "127.0.0.1",        "--port", std::to_string(port),
      "--dir", dir_,        "--save",           "",       "--daemonize",
      "no",    "--logfile", dir_ + "/redis.log"};
  if (!aof_given) args.insert(args.end(), {"--appendonly", "no"});
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // A test that crashes takes its redis-server along instead of leaving it running.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  port_ = port;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (answers_ping(port)) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start (status " + std::to_string(status) +
                               "; see " + dir_ + "/redis.log)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill9();
  throw std::runtime_error("redis-server did not answer PING within 10 s");
}

void RedisProcess::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 1500; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    usleep(10000);
  }
  kill9();
}

void RedisProcess::kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace rtpm::testing
