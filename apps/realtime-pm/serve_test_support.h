// Helpers shared by the tests that drive the real `realtime-pm` binary
// (serve_test, serve_faults_test, serve_tls_test, backup_test): message texts
// of PROTOCOL.md, field access on parsed messages, the room document over
// HTTP, and running a command. Tests only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "rtpm/json/json.h"
#include "rtpm/testing/server_process.h"

namespace rtpm::testing {

inline json::Value parse(const std::string& text) {
  auto v = json::parse(text);
  if (!v) throw std::runtime_error("bad JSON in test: " + text);
  return *v;
}

/// The string field `key`, or "" when it is missing or not a string.
inline std::string str_field(const json::Value& v, const char* key) {
  const json::Value* f = v.find(key);
  return f && f->is_string() ? f->as_string() : std::string();
}

/// The number field `key`, or -1 when it is missing or not a number.
inline int64_t num_field(const json::Value& v, const char* key) {
  const json::Value* f = v.find(key);
  return f && f->is_number() ? static_cast<int64_t>(f->as_number()) : -1;
}

/// A `join`; `extra` is appended inside the object (e.g. `,"version":3`).
inline std::string join_msg(const std::string& room, const std::string& user,
                            const std::string& extra = "") {
  return R"({"type":"join","room":")" + room + R"(","userId":")" + user + "\"" + extra + "}";
}

/// A `replace` step inserting `text` at `pos`.
inline std::string insert_step(int pos, const std::string& text) {
  return R"({"stepType":"replace","from":)" + std::to_string(pos) + R"(,"to":)" +
         std::to_string(pos) + R"(,"slice":{"content":[{"type":"text","text":")" + text + "\"}]}}";
}

/// A `steps` message (with a client `timestamp`, which the server ignores).
inline std::string steps_msg(const std::string& room, const std::string& user, int64_t version,
                             const std::string& steps_array) {
  return R"({"type":"steps","room":")" + room + R"(","version":)" + std::to_string(version) +
         R"(,"steps":)" + steps_array + R"(,"userId":")" + user + R"(","timestamp":1})";
}

/// The room as `GET /api/rooms/ROOM` reports it (expects 200).
inline json::Value room_doc(uint16_t port, const std::string& room) {
  auto res = http_get(port, "/api/rooms/" + room);
  EXPECT_EQ(res.status, 200) << res.body;
  return parse(res.body);
}

/// Polls `cond` every 20 ms until it holds or `limit` has passed; returns its last answer.
template <class F>
bool eventually(F cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

/// What a command printed and how it ended.
struct CommandResult {
  /// The exit status (0-255), or -1 when it did not exit normally.
  int status = -1;
  /// Its standard output, and standard error too when the command says `2>&1`.
  std::string output;
};

/// Runs `command` with /bin/sh and waits for it.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return result;
  std::array<char, 4096> buf;
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) result.output.append(buf.data(), n);
  int status = pclose(p);
  if (status != -1 && WIFEXITED(status)) result.status = WEXITSTATUS(status);
  return result;
}

}  // namespace rtpm::testing
