// Hostile presence positions against the real `realtime-pm serve` binary
// (issue 10 finding 9, issue 11): a raw WebSocket client sends presence whose
// positions are not positions (1e12, -1, 1.5, "3", null, true, an object, the
// largest int followed by an insertion before it, 1e400, which JSON reads as
// Infinity and writes as null). The server passes them through unchanged (docs/protocol.md
// "Presence positions") and never turns one negative, and C++ RealtimeClients in the same room see
// them exactly as sent, keep editing, and converge with the server. And the
// room's coalesced presence, in both subprotocols.
#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "apps/realtime-pm/serve_test_support.h"
#include <gtest/gtest.h>

#include "rtpm/client/realtime_client.h"
#include "rtpm/protocol/binary_codec.h"
#include "rtpm/testing/builder.h"

namespace rtpm::testing {
namespace {

using namespace std::chrono_literals;
using json::Value;

constexpr auto kWait = 15s;

class ServePresenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(
        RTPM_BINARY, std::vector<std::string>{"--presence-interval-ms", "1"});
    server_->start();
  }
  std::unique_ptr<client::RealtimeClient> client(const std::string& user,
                                                 client::Subprotocol subprotocol) {
    client::ClientOptions o{.url = "ws://127.0.0.1:" + std::to_string(server_->port()) + "/ws",
                            .schema = load_schema("basic"),
                            .subprotocol = subprotocol,
                            .user_id = user};
    auto c = std::make_unique<client::RealtimeClient>(std::move(o));
    EXPECT_TRUE(c->join("p").ok());
    EXPECT_TRUE(c->wait_synced("p", kWait));
    return c;
  }
  // A raw connection joined to room "p" as `user`.
  std::unique_ptr<WsClient> raw(const std::string& user) {
    auto ws = std::make_unique<WsClient>(server_->port());
    ws->send(join_msg("p", user));
    EXPECT_TRUE(ws->recv_type("state"));
    return ws;
  }
  // `user`'s entry as `c` shows it ("" when none).
  static std::string shown(client::RealtimeClient& c, const std::string& user) {
    auto p = c.presence("p");
    auto it = p.find(user);
    return it == p.end() ? "" : json::stringify(it->second);
  }
  int64_t version() { return num_field(room_doc(server_->port(), "p"), "version"); }
  // `c` types `text` at the start of the document and waits until it is confirmed.
  static bool type(client::RealtimeClient& c, const std::string& text) {
    auto r = c.edit(
        "p", [&](transform::Transform& tr) { tr.insert(1, load_schema("basic")->text(text)); });
    return r.ok() && c.wait_synced("p", kWait);
  }

  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ServePresenceTest, PositionsThatAreNotPositionsPassThroughAndClientsKeepWorking) {
  auto alice = client("alice", client::Subprotocol::binary);
  auto bob = client("bob", client::Subprotocol::json);
  ASSERT_TRUE(type(*alice, "hello"));
  auto mal = raw("mal");
  auto watcher = raw("watcher");
  for (std::string bad : {"1e12", "-1", "1.5", "\"3\"", "null", "true", R"({"x":1})", "[1]",
                          "2147483647", "-2147483648", "9007199254740993", "1e400", "-1e400"}) {
    int64_t v = version();
    std::string entry = R"({"cursor":{"pos":)" + bad + R"(},"selection":{"anchor":)" + bad +
                        R"(,"head":)" + bad + R"(,"from":)" + bad + R"(,"to":)" + bad + "}}";
    mal->send(R"({"type":"presence","room":"p","users":{"mal":)" + entry + R"(},"version":)" +
              std::to_string(v) + "}");
    // The server's broadcast carries the values exactly as sent.
    auto seen = watcher->recv_type("presence", kWait);
    ASSERT_TRUE(seen) << bad;
    const Value* users = seen->find("users");
    ASSERT_TRUE(users && users->find("mal")) << bad;
    EXPECT_EQ(json::stringify(*users->find("mal")), json::stringify(parse(entry))) << bad;
    // Both clients show it as it came, and keep editing.
    std::string expected = json::stringify(parse(entry));
    for (auto* c : {alice.get(), bob.get()})
      EXPECT_TRUE(c->wait_until([&] { return shown(*c, "mal") == expected; }, kWait))
          << bad << ": " << shown(*c, "mal");
    ASSERT_TRUE(type(*bob, "b"));
  }
  EXPECT_FALSE(mal->closed());
}

// Issue 10 finding 9: cursor.pos 2147483647, then an insertion before it,
// came back as -2147483648. Now it is not a position of this document, so
// the server stores and sends it unchanged; a position within the document
// moves with the insertion.
TEST_F(ServePresenceTest, LargestIntFollowedByAnInsertionStaysUnchanged) {
  auto alice = client("alice", client::Subprotocol::json);
  auto mal = raw("mal");
  mal->send(
      R"({"type":"presence","room":"p","users":{"mal":{"cursor":{"pos":2147483647},"selection":{"anchor":1,"head":2147483647}}},"version":0})");
  const std::string sent =
      R"({"cursor":{"pos":2147483647},"selection":{"anchor":1,"head":2147483647}})";
  ASSERT_TRUE(alice->wait_until([&] { return shown(*alice, "mal") == sent; }, kWait))
      << shown(*alice, "mal");
  ASSERT_TRUE(type(*alice, "before"));
  const std::string moved =
      R"({"cursor":{"pos":2147483647},"selection":{"anchor":7,"head":2147483647}})";
  EXPECT_EQ(shown(*alice, "mal"), moved);
  // The server's own copy, as a new member's `state` shows it.
  auto late = std::make_unique<WsClient>(server_->port());
  late->send(join_msg("p", "late"));
  auto state = late->recv_type("state", kWait);
  ASSERT_TRUE(state);
  const Value* entry = state->find("users")->find("mal");
  ASSERT_TRUE(entry);
  EXPECT_EQ(json::stringify(*entry), moved);
  EXPECT_GE(entry->find("cursor")->find("pos")->as_number(), 0);
  // The client goes on: it edits and converges.
  ASSERT_TRUE(type(*alice, "after"));
  EXPECT_EQ(
      alice->doc("p")->to_json_string(),
      model::Node::from_json(*load_schema("basic"), *room_doc(server_->port(), "p").find("doc"))
          ->to_json_string());
}

// A C++ client's own presence with a number that is not finite: JSON writes
// it as null, and the binary subprotocol did write a float64 Infinity, which
// the server refused as bad_message, so the entry never arrived.
TEST_F(ServePresenceTest, NonFiniteNumbersInPresenceArriveAsNullInBothSubprotocols) {
  auto alice = client("alice", client::Subprotocol::binary);
  auto bob = client("bob", client::Subprotocol::json);
  for (auto* c : {alice.get(), bob.get()}) {
    Value entry(json::Object{{"cursor", parse(R"({"pos":1})")},
                             {"name", Value("x")},
                             {"zoom", Value(std::numeric_limits<double>::infinity())}});
    ASSERT_TRUE(c->set_presence("p", std::move(entry)).ok());
  }
  const std::string arrives = R"({"cursor":{"pos":1},"name":"x","zoom":null})";
  EXPECT_TRUE(bob->wait_until([&] { return shown(*bob, "alice") == arrives; }, kWait))
      << shown(*bob, "alice");
  EXPECT_TRUE(alice->wait_until([&] { return shown(*alice, "bob") == arrives; }, kWait))
      << shown(*alice, "bob");
  ASSERT_TRUE(type(*alice, "still editing"));
}

// Presence changes within one interval of the room go out together, one
// message per member, to JSON and binary members alike (docs/protocol.md
// "presence"). The interval is long (3 s) so that the three changes after the
// first surely fall into it: each is sent right after the previous one.
TEST(ServePresenceCoalesced, ChangesWithinTheRoomsIntervalArriveInOneMessageInBothSubprotocols) {
  ServerProcess server(RTPM_BINARY, {"--presence-interval-ms", "3000"});
  server.start();
  auto bin = std::make_unique<WsClient>(server.port(), "realtime-pm.bin.v1");
  ASSERT_EQ(bin->subprotocol(), "realtime-pm.bin.v1");
  bin->send_binary(protocol::encode_binary(parse(join_msg("p", "watcher"))));
  ASSERT_TRUE(bin->recv_type("state", kWait));
  std::map<std::string, std::unique_ptr<WsClient>> ws;
  for (std::string user : {"a", "b", "c"}) {
    ws[user] = std::make_unique<WsClient>(server.port());
    ws[user]->send(join_msg("p", user));
    ASSERT_TRUE(ws[user]->recv_type("state", kWait));
  }
  auto presence = [&](const std::string& user, int pos) {
    ws[user]->send(R"({"type":"presence","room":"p","users":{")" + user + R"(":{"cursor":{"pos":)" +
                   std::to_string(pos) + "}}}}");
  };
  auto users = [](const std::optional<Value>& m) {
    std::map<std::string, std::string> out;
    if (m)
      for (const auto& [user, entry] : m->find("users")->as_object())
        out[user] = json::stringify(entry);
    return out;
  };
  using Users = std::map<std::string, std::string>;
  // The first change in a quiet room goes out at once, alone.
  presence("a", 1);
  EXPECT_EQ(users(bin->recv_type("presence", kWait)), (Users{{"a", R"({"cursor":{"pos":1}})"}}));
  // Then b, c and b again: held, and sent together when the interval ends, b's latest entry.
  presence("b", 2);
  presence("c", 3);
  presence("b", 4);
  Users both{{"b", R"({"cursor":{"pos":4}})"}, {"c", R"({"cursor":{"pos":3}})"}};
  EXPECT_EQ(users(bin->recv_type("presence", kWait)), both);
  EXPECT_EQ(users(ws["a"]->recv_type("presence", kWait)), both);
  // b and c each get the other's entry, never their own.
  EXPECT_EQ(users(ws["b"]->recv_type("presence", kWait)),
            (Users{{"a", R"({"cursor":{"pos":1}})"}}));
  EXPECT_EQ(users(ws["b"]->recv_type("presence", kWait)),
            (Users{{"c", R"({"cursor":{"pos":3}})"}}));
  EXPECT_EQ(users(ws["c"]->recv_type("presence", kWait)),
            (Users{{"a", R"({"cursor":{"pos":1}})"}}));
  EXPECT_EQ(users(ws["c"]->recv_type("presence", kWait)),
            (Users{{"b", R"({"cursor":{"pos":4}})"}}));
  // Nothing more: the held entries went out once.
  EXPECT_FALSE(bin->recv_type("presence", 200ms));
}

}  // namespace
}  // namespace rtpm::testing
