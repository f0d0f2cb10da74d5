// The server's failure and limit paths against the real binary: a store that
// fails under a lock held by another SQLite connection, a client that never
// reads, an idle socket that answers no ping, the connection limit, and the
// environment variables of every flag. Clients that must misbehave are raw
// TCP sockets that speak just enough WebSocket (RawSocket).
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "apps/realtime-pm/serve_test_support.h"
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtpm/testing/server_process.h"

namespace rtpm::testing {
namespace {

using json::Value;
using namespace std::chrono_literals;

class ServeFaultsTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(RTPM_BINARY, std::move(args));
    server_->start();
  }
  std::unique_ptr<WsClient> client() { return std::make_unique<WsClient>(server_->port()); }
  Value join(WsClient& c, const std::string& room, const std::string& user,
             std::string extra = "") {
    c.send(join_msg(room, user, std::move(extra)));
    auto state = c.recv_type("state");
    EXPECT_TRUE(state) << "no state for " << user;
    return state ? *state : Value();
  }
  std::unique_ptr<ServerProcess> server_;
};

// Holds SQLite's write lock on the server's database from another connection.
class DatabaseLock {
 public:
  explicit DatabaseLock(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("sqlite open");
    char* err = nullptr;
    if (sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error("BEGIN EXCLUSIVE: " + m);
    }
  }
  void release() {
    if (db_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }
  ~DatabaseLock() { release(); }

 private:
  sqlite3* db_ = nullptr;
};

// A group commit that fails (the database is locked by another process past
// the busy timeout): the room's members get `internal` and leave it, nothing
// unpersisted is acknowledged or broadcast, other rooms and HTTP keep working,
// and after the lock is gone a rejoin sees exactly the durable document.
TEST_F(ServeFaultsTest, StoreFailureDropsTheRoomWithInternal) {
  start({"--store-busy-timeout-ms", "200"});
  auto a = client(), b = client(), c = client();
  join(*a, "r", "a");
  join(*b, "r", "b");
  join(*c, "other", "c");
  for (int i = 0; i < 3; ++i) {
    a->send(steps_msg("r", "a", i, "[" + insert_step(1, "s" + std::to_string(i)) + "]"));
    ASSERT_TRUE(a->recv_type("ack"));
  }
  c->send(steps_msg("other", "c", 0, "[" + insert_step(1, "o") + "]"));
  ASSERT_TRUE(c->recv_type("ack"));
  Value durable = room_doc(server_->port(), "r");
  ASSERT_EQ(num_field(durable, "version"), 3);
  a->clear();
  b->clear();

  DatabaseLock lock(server_->data_dir() + "/realtime-pm.db");
  a->send(steps_msg("r", "a", 3, "[" + insert_step(1, "lost") + "]"));
  // The sender: no ack, an `internal` error for the room.
  auto e = a->recv(5s);
  ASSERT_TRUE(e);
  EXPECT_EQ(str_field(*e, "type"), "error") << json::stringify(*e);
  EXPECT_EQ(str_field(*e, "code"), "internal");
  EXPECT_EQ(str_field(*e, "room"), "r");
  // The other member: the same error, never the unpersisted steps.
  auto f = b->recv(5s);
  ASSERT_TRUE(f);
  EXPECT_EQ(str_field(*f, "type"), "error") << json::stringify(*f);
  EXPECT_EQ(str_field(*f, "code"), "internal");
  // Both left the room; their connections stay open.
  a->send(steps_msg("r", "a", 3, "[" + insert_step(1, "again") + "]"));
  auto nj = a->recv_type("error");
  ASSERT_TRUE(nj);
  EXPECT_EQ(str_field(*nj, "code"), "not_joined");
  EXPECT_FALSE(a->closed());
  EXPECT_FALSE(b->closed());
  // The server still answers, and reads (WAL) still see the durable document.
  EXPECT_EQ(http_get(server_->port(), "/healthz").status, 200);
  EXPECT_EQ(json::stringify(room_doc(server_->port(), "r")), json::stringify(durable));
  EXPECT_GE(metric(server_->port(), "realtime_pm_errors_total{code=\"internal\"}"), 2);

  lock.release();
  // Rejoining by version: nothing was lost or added since version 3.
  Value sa = join(*a, "r", "a", R"(,"version":3)");
  EXPECT_EQ(num_field(sa, "version"), 3);
  EXPECT_EQ(json::stringify(*sa.find("steps")), "[]");
  Value sb = join(*b, "r", "b");
  EXPECT_EQ(num_field(sb, "version"), 3);
  EXPECT_EQ(json::stringify(*sb.find("doc")), json::stringify(*durable.find("doc")));
  // The room takes steps again, on top of the durable version.
  a->send(steps_msg("r", "a", 3, "[" + insert_step(1, "s3") + "]"));
  auto ack = a->recv_type("ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(num_field(*ack, "version"), 4);
  auto seen = b->recv_type("steps");
  ASSERT_TRUE(seen);
  EXPECT_EQ(num_field(*seen, "version"), 3);
  std::string text = json::stringify(room_doc(server_->port(), "r"));
  for (const char* s : {"s0", "s1", "s2", "s3"}) EXPECT_NE(text.find(s), std::string::npos) << s;
  EXPECT_EQ(text.find("lost"), std::string::npos);
  // The other room was never touched by the failure.
  EXPECT_FALSE(c->closed());
  c->send(steps_msg("other", "c", 1, "[" + insert_step(1, "p") + "]"));
  auto cack = c->recv_type("ack");
  ASSERT_TRUE(cack);
  EXPECT_EQ(num_field(*cack, "version"), 2);
}

// A member that never reads: once more than --max-outgoing-bytes wait for it,
// the server disconnects it (the others get `leave`) while the writer keeps
// getting acks and the fast reader every step.
TEST_F(ServeFaultsTest, SlowReaderIsDisconnectedAndTheRoomKeepsServing) {
  start({"--max-outgoing-bytes", "1048576"});
  auto writer = client(), reader = client();
  join(*writer, "r", "writer");
  join(*reader, "r", "reader");
  RawSocket slow(server_->port(), "127.0.0.1", 4096);
  ASSERT_EQ(slow.upgrade(), 101);
  slow.send_text(join_msg("r", "slow"));
  auto reader_joined = writer->recv_type("join");
  ASSERT_TRUE(reader_joined);
  EXPECT_EQ(str_field(*reader_joined, "userId"), "reader");
  auto slow_joined = writer->recv_type("join");
  ASSERT_TRUE(slow_joined);
  EXPECT_EQ(str_field(*slow_joined, "userId"), "slow");
  ASSERT_EQ(metric(server_->port(), "realtime_pm_connections"), 3);
  // 64 KiB of text per batch; the kernel buffers a few MiB before the slow one's queue grows.
  const std::string chunk(64 * 1024, 'x');
  bool left = false;
  int64_t version = 0;
  for (int i = 0; i < 400 && !left; ++i) {
    writer->send(steps_msg("r", "writer", version, "[" + insert_step(1, chunk) + "]"));
    for (;;) {
      auto m = writer->recv(5s);
      ASSERT_TRUE(m) << "the writer got no ack for batch " << i;
      std::string type = str_field(*m, "type");
      if (type == "leave") {
        EXPECT_EQ(str_field(*m, "userId"), "slow");
        left = true;
      } else if (type == "ack") {
        version = num_field(*m, "version");
        break;
      } else {
        FAIL() << json::stringify(*m);
      }
    }
    auto seen = reader->recv_type("steps");
    ASSERT_TRUE(seen) << "the fast reader got no steps for batch " << i;
    EXPECT_EQ(num_field(*seen, "version"), version - 1);
  }
  ASSERT_TRUE(left) << "the slow reader was never disconnected";
  EXPECT_TRUE(eventually([&] { return slow.closed_by_peer(); }));
  EXPECT_TRUE(eventually([&] { return metric(server_->port(), "realtime_pm_connections") == 2; }));
  // The room goes on.
  writer->send(steps_msg("r", "writer", version, "[" + insert_step(1, "end") + "]"));
  auto ack = writer->recv_type("ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(num_field(*ack, "version"), version + 1);
  EXPECT_EQ(num_field(room_doc(server_->port(), "r"), "version"), version + 1);
}

// A single message larger than --max-outgoing-bytes (a big document's
// `state`, a big batch) still reaches a reader that has nothing queued.
TEST_F(ServeFaultsTest, OneMessageLargerThanTheOutgoingLimitStillGoesOut) {
  start({"--max-outgoing-bytes", "1024"});
  auto writer = client(), reader = client();
  join(*writer, "r", "writer");
  join(*reader, "r", "reader");
  const std::string big(4096, 'b');
  writer->send(steps_msg("r", "writer", 0, "[" + insert_step(1, big) + "]"));
  ASSERT_TRUE(writer->recv_type("ack"));
  auto seen = reader->recv_type("steps");
  ASSERT_TRUE(seen);
  EXPECT_NE(json::stringify(*seen).find(big), std::string::npos);
  auto late = client();
  Value state = join(*late, "r", "late");
  EXPECT_NE(json::stringify(state).find(big), std::string::npos);
  EXPECT_FALSE(reader->closed());
  EXPECT_FALSE(late->closed());
}

// With --idle-timeout 2 (pings after 1 s), a client that answers pings stays
// past the timeout; a socket that answers none is closed and leaves its room.
TEST_F(ServeFaultsTest, IdleTimeoutClosesOnlyConnectionsThatAnswerNoPing) {
  start({"--idle-timeout", "2"});
  auto alive = client();
  join(*alive, "r", "alive");
  RawSocket mute(server_->port());
  ASSERT_EQ(mute.upgrade(), 101);
  mute.send_text(join_msg("r", "mute"));
  auto joined = alive->recv_type("join");
  ASSERT_TRUE(joined);
  EXPECT_EQ(str_field(*joined, "userId"), "mute");
  auto left = alive->recv_type("leave", 10s);
  ASSERT_TRUE(left) << "the silent socket was not closed";
  EXPECT_EQ(str_field(*left, "userId"), "mute");
  EXPECT_TRUE(eventually([&] { return mute.closed_by_peer(); }));
  // Well past the timeout, the client that answers pings (Beast does) is still in.
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(alive->closed());
  alive->send(steps_msg("r", "alive", 0, "[" + insert_step(1, "hi") + "]"));
  EXPECT_TRUE(alive->recv_type("ack"));
  Value state = join(*alive, "r", "alive");
  EXPECT_EQ(json::stringify(*state.find("users")), R"({"alive":{}})");
}

// --max-connections 2 counts every connection, HTTP and WebSocket: with two
// WebSockets open, a third connection (an upgrade or a plain HTTP request) is
// answered 503 at once; the first two keep working; once one closes, a new one
// is accepted.
TEST_F(ServeFaultsTest, MaxConnectionsRefusesTheUpgradeWith503) {
  start({"--max-connections", "2"});
  auto a = client();
  auto b = client();
  join(*a, "r", "a");
  join(*b, "r", "b");
  {
    RawSocket third(server_->port());
    EXPECT_EQ(third.upgrade(), 503);
  }
  EXPECT_THROW(WsClient(server_->port()), std::exception);
  EXPECT_EQ(http_get(server_->port(), "/healthz").status, 503);
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "x") + "]"));
  ASSERT_TRUE(a->recv_type("ack"));
  ASSERT_TRUE(b->recv_type("steps"));
  b.reset();
  // metric() is an HTTP connection itself: it gets through once b's place is free.
  ASSERT_TRUE(eventually([&] { return metric(server_->port(), "realtime_pm_connections") == 1; }));
  // That request's connection may still hold its place for a moment.
  std::unique_ptr<WsClient> d;
  ASSERT_TRUE(eventually([&] {
    try {
      d = client();
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }));
  join(*d, "r", "d");
  d->send(steps_msg("r", "d", 1, "[" + insert_step(1, "y") + "]"));
  EXPECT_TRUE(d->recv_type("ack"));
}

// PROTOCOL.md rules that serve_test.cc does not reach: userId and room
// length limits (in UTF-16 code units), the largest version, the precedence
// of errors when several apply, leave/presence for another user, notices,
// presence older than the kept history, and percent-encoding on the HTTP API.
TEST_F(ServeFaultsTest, ProtocolEdges) {
  start({"--history", "2"});
  auto a = client(), b = client();
  join(*a, "r", "a");
  join(*b, "r", "b");
  ASSERT_TRUE(a->recv_type("join"));
  for (int i = 0; i < 4; ++i) {
    a->send(steps_msg("r", "a", i, "[" + insert_step(1, "v") + "]"));
    ASSERT_TRUE(a->recv_type("ack"));
  }
  // b has every broadcast before the corpus starts (an ack may reach a before b's copy).
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(b->recv_type("steps"));
  b->clear();
  const std::string long_id(129, 'u');
  const std::string long_room(129, 'x');
  std::string e_acute;  // 128 UTF-16 units but 256 bytes: valid
  for (int i = 0; i < 128; ++i) e_acute += "\u00e9";
  std::string emoji;  // 65 astral characters: 130 UTF-16 units, too long
  for (int i = 0; i < 65; ++i) emoji += "\U0001F600";
  std::vector<std::pair<std::string, std::string>> corpus = {
      // userId: 1 to 128 UTF-16 code units, else bad_message.
      {join_msg("q", ""), "bad_message"},
      {join_msg("q", long_id), "bad_message"},
      {join_msg("q", emoji), "bad_message"},
      {R"({"type":"join","room":"q","userId":7})", "bad_message"},
      // room: 1 to 128 of [A-Za-z0-9._:/-].
      {join_msg(long_room, "a"), "invalid_room"},
      {join_msg("", "a"), "invalid_room"},
      // version: an integer from 0 to 2^53-1.
      {R"({"type":"steps","room":"r","version":9007199254740992,"steps":[{}],"userId":"a"})",
       "bad_message"},
      {R"({"type":"steps","room":"r","version":9007199254740991,"steps":[{}],"userId":"a"})",
       "version_conflict"},
      {R"({"type":"steps","room":"r","version":1.5,"steps":[{}],"userId":"a"})", "bad_message"},
      // Precedence: bad_message, unknown_type, invalid_room, not_joined, forbidden,
      // version_conflict, invalid_steps.
      {R"({"type":"steps","room":"bad room","version":"x","steps":[{}],"userId":"a"})",
       "bad_message"},
      {R"({"type":"nope","room":"bad room"})", "unknown_type"},
      {R"({"type":"steps","room":"bad room","version":0,"steps":[{}],"userId":"zz"})",
       "invalid_room"},
      {R"({"type":"steps","room":"elsewhere","version":0,"steps":[{}],"userId":"zz"})",
       "not_joined"},
      {R"({"type":"steps","room":"r","version":0,"steps":[{"stepType":"teleport"}],"userId":"zz"})",
       "forbidden"},
      {R"({"type":"steps","room":"r","version":0,"steps":[{"stepType":"teleport"}],"userId":"a"})",
       "version_conflict"},
      // leave and presence name the connection's own userId.
      {R"({"type":"leave","room":"r","userId":"b"})", "forbidden"},
      {R"({"type":"presence","room":"elsewhere","users":{"a":{}}})", "not_joined"},
      {R"({"type":"leave","room":"elsewhere","userId":"a"})", "not_joined"},
      // Presence older than the kept history (2 steps; the room is at 4).
      {R"({"type":"presence","room":"r","users":{"a":{"cursor":{"pos":1}}},"version":1})",
       "version_conflict"},
  };
  for (const auto& [text, code] : corpus) {
    a->send(text);
    auto e = a->recv_type("error");
    ASSERT_TRUE(e) << "no error for: " << text.substr(0, 120);
    EXPECT_EQ(str_field(*e, "code"), code) << text.substr(0, 120) << ": " << json::stringify(*e);
    if (code == "version_conflict") {
      EXPECT_EQ(num_field(*e, "version"), 4) << text;
    }
  }
  // None of it reached b or changed the room.
  auto stray = b->recv(300ms);
  EXPECT_FALSE(stray) << "b got a notice from bad input: "
                      << (stray ? json::stringify(*stray) : "");
  EXPECT_EQ(num_field(room_doc(server_->port(), "r"), "version"), 4);
  // The longest valid userId and room, and presence at the oldest kept version.
  auto c = client();
  Value st = join(*c, std::string(128, 'y'), e_acute);
  EXPECT_EQ(num_field(st, "version"), 0);
  a->send(R"({"type":"presence","room":"r","users":{"a":{"cursor":{"pos":1}}},"version":2})");
  auto p = b->recv_type("presence");
  ASSERT_TRUE(p);
  EXPECT_EQ(num_field(*p, "version"), 4);
  // Mapped through versions 3 and 4 (each inserts at 1; assoc 1 moves the cursor along).
  EXPECT_EQ(json::stringify(*p->find("users")), R"({"a":{"cursor":{"pos":3}}})");
  // A leave goes to the others, never to the one who left; a join notice carries presence.
  a->send(R"({"type":"leave","room":"r","userId":"a"})");
  auto left = b->recv_type("leave");
  ASSERT_TRUE(left);
  EXPECT_EQ(str_field(*left, "userId"), "a");
  a->send(join_msg("r", "a", R"(,"presence":{"name":"A"})"));
  auto back = a->recv(2s);
  ASSERT_TRUE(back);
  EXPECT_EQ(str_field(*back, "type"), "state") << json::stringify(*back);
  auto notice = b->recv_type("join");
  ASSERT_TRUE(notice);
  EXPECT_EQ(json::stringify(*notice->find("presence")), R"({"name":"A"})");
  // HTTP: a malformed percent-encoding or an invalid room name is 404.
  EXPECT_EQ(http_get(server_->port(), "/api/rooms/%zz").status, 404);
  EXPECT_EQ(http_get(server_->port(), "/api/rooms/" + long_room).status, 404);
  EXPECT_EQ(http_get(server_->port(), "/api/rooms/r%20").status, 404);
  // A client that offers only subprotocols the server does not speak gets none back (a
  // browser then fails the handshake; Beast's client does not).
  WsClient odd(server_->port(), "chat.v9");
  EXPECT_EQ(odd.subprotocol(), "");
}

// The flag an option line of `--help` starts with ("  --port INT ..." -> "port"), or "" for
// any other line. (Not std::regex: GCC 12's <regex> trips -Wmaybe-uninitialized in the
// sanitizer build.)
std::string help_option(const std::string& line) {
  size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i == 0 || line.compare(i, 2, "--") != 0) return {};
  size_t j = i + 2;
  while (j < line.size() && ((line[j] >= 'a' && line[j] <= 'z') || line[j] == '-')) ++j;
  if (j == i + 2) return {};
  if (j < line.size() && (std::isalnum(static_cast<unsigned char>(line[j])) || line[j] == '_'))
    return {};
  return line.substr(i + 2, j - i - 2);
}

// docs/server.md: "each flag is also an environment variable". Every option
// in `serve --help` names one, and one of them is checked to take effect.
TEST_F(ServeFaultsTest, EveryFlagIsAlsoAnEnvironmentVariable) {
  std::string help = run_command(std::string(RTPM_BINARY) + " serve --help").output;
  int options = 0;
  std::istringstream lines(help);
  std::string line, pending;
  // CLI11 prints "(Env:NAME)" at the end of an option's description, which
  // may span several lines.
  auto check = [&] {
    if (pending.empty()) return;
    ++options;
    std::string flag = help_option(pending);
    std::string env = "RTPM_" + flag;
    for (char& ch : env) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
    EXPECT_NE(pending.find("(Env:" + env + ")"), std::string::npos) << pending;
    pending.clear();
  };
  while (std::getline(lines, line)) {
    if (!help_option(line).empty()) {
      check();
      if (line.find("--help") == std::string::npos) pending = line;
    } else if (!pending.empty()) {
      pending += line;
    }
  }
  check();
  EXPECT_GE(options, 20) << help;
  // One of them at work: RTPM_MAX_ROOM_MEMBERS=1 without the flag.
  setenv("RTPM_MAX_ROOM_MEMBERS", "1", 1);
  try {
    start();
  } catch (...) {
    unsetenv("RTPM_MAX_ROOM_MEMBERS");
    throw;
  }
  unsetenv("RTPM_MAX_ROOM_MEMBERS");
  auto a = client(), b = client();
  join(*a, "r", "a");
  b->send(join_msg("r", "b"));
  auto e = b->recv_type("error");
  ASSERT_TRUE(e);
  EXPECT_EQ(str_field(*e, "code"), "room_full");
}

}  // namespace
}  // namespace rtpm::testing
