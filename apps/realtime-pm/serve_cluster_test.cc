// A cluster of real `realtime-pm serve --store redis` nodes on one real redis-server
// (docs/scaling.md): the members of one room spread over the nodes see what one server would
// show them; the owner killed (SIGKILL) or paused (SIGSTOP past its lease) loses no
// acknowledged step and cannot write after another node took the room; Redis killed and
// restarted with its AOF loses nothing acknowledged, and the nodes recover by themselves.
#include <csignal>
#include <iostream>
#include <memory>
#include <set>

#include "apps/realtime-pm/serve_test_support.h"
#include <gtest/gtest.h>

#include "rtpm/store/redis_client.h"
#include "rtpm/testing/redis_process.h"
#include "rtpm/testing/server_process.h"

namespace rtpm::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kRoom = "doc";

// Nodes on one Redis; node i's clients connect to nodes[i]->port().
struct Nodes {
  explicit Nodes(int n, std::vector<std::string> redis_args = {}, int lease_ms = 1000,
                 std::string per_ip = "0")
      : redis(std::move(redis_args)) {
    redis.start();
    for (int i = 0; i < n; ++i) {
      nodes.push_back(std::make_unique<ServerProcess>(
          RTPM_BINARY,
          std::vector<std::string>{"--store", "redis", "--redis-url", redis.url(),
                                   "--redis-lease-ms", std::to_string(lease_ms),
                                   "--max-connections-per-ip", per_ip, "--idle-timeout", "5"}));
      nodes.back()->start();
    }
  }
  uint16_t port(int i) const { return nodes[i]->port(); }
  RedisProcess redis;
  std::vector<std::unique_ptr<ServerProcess>> nodes;
};

// A member over a raw WebSocket that tracks the room's version from what it receives.
struct Member {
  Member(uint16_t port, std::string user_id) : ws(port), user(std::move(user_id)) {}

  // Joins (at `version` when >= 0) until a `state` comes; errors in between (the room moving
  // between nodes) are retried every 100 ms. Returns whether it joined within `limit`.
  bool join(int64_t at = -1, std::chrono::milliseconds limit = 10s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      ws.send(join_msg(kRoom, user, at >= 0 ? ",\"version\":" + std::to_string(at) : ""));
      while (auto m = ws.recv(1s)) {
        std::string type = str_field(*m, "type");
        if (type == "state") {
          version = num_field(*m, "version");
          return true;
        }
        if (type == "error") break;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  // Sends one insertion of `text` at the room's version; true when it is acknowledged.
  bool type_text(const std::string& text) {
    ws.send(steps_msg(kRoom, user, version, "[" + insert_step(1, text) + "]"));
    while (auto m = ws.recv(5s)) {
      std::string type = str_field(*m, "type");
      if (type == "ack") {
        version = num_field(*m, "version");
        return true;
      }
      if (type == "steps") version = num_field(*m, "version") + 1;
      if (type == "error") return false;
    }
    return false;
  }

  // Reads what arrived; keeps the version current.
  void drain(std::chrono::milliseconds wait = 300ms) {
    while (auto m = ws.recv(wait))
      if (str_field(*m, "type") == "steps")
        version =
            num_field(*m, "version") + static_cast<int64_t>(m->find("steps")->as_array().size());
  }

  WsClient ws;
  std::string user;
  int64_t version = 0;
};

// GET /api/rooms/doc once it answers 200 (a node may still be reconnecting to Redis); the
// room's {version, doc}, or an empty object when it never does.
json::Value read_room(uint16_t port) {
  HttpResponse res;
  eventually(
      [&] { return (res = http_get(port, std::string("/api/rooms/") + kRoom)).status == 200; });
  EXPECT_EQ(res.status, 200) << res.body;
  return res.status == 200 ? parse(res.body) : parse("{\"version\":-1,\"doc\":null}");
}

std::string doc_text(uint16_t port) { return to_text(*read_room(port).find("doc")); }

int64_t redis_log_length(const std::string& url) {
  auto parsed = store::parse_redis_url(url);
  store::RedisClient redis(*parsed);
  auto reply = redis.command({"XLEN", std::string("rtpm:{") + kRoom + "}:log"});
  return reply && reply->is_integer() ? reply->integer : -1;
}

TEST(ServeCluster, MembersOnThreeNodesSeeWhatOneServerWouldShow) {
  Nodes cluster(3);
  // The first join makes node 0 the owner; the others relay.
  std::vector<std::unique_ptr<Member>> m;
  for (int i = 0; i < 3; ++i) {
    m.push_back(std::make_unique<Member>(cluster.port(i), "u" + std::to_string(i)));
    ASSERT_TRUE(m[i]->join()) << "node " << i;
    EXPECT_EQ(m[i]->version, 0);
  }
  EXPECT_EQ(metric(cluster.port(0), "realtime_pm_rooms_owned"), 1);
  EXPECT_EQ(metric(cluster.port(1), "realtime_pm_rooms_owned"), 0);
  EXPECT_EQ(metric(cluster.port(1), "realtime_pm_relays"), 1);
  // Each one's join reached the members already in the room, wherever they are.
  auto joined = m[0]->ws.recv_type("join");
  ASSERT_TRUE(joined);
  EXPECT_EQ(str_field(*joined, "userId"), "u1");

  // Typing in turn: one ack for the author, the same `steps` for the two others.
  for (int k = 0; k < 30; ++k) {
    Member& author = *m[k % 3];
    for (auto& other : m) other->drain(10ms);
    author.version = k;
    ASSERT_TRUE(author.type_text("t" + std::to_string(k))) << "step " << k;
    EXPECT_EQ(author.version, k + 1);
    for (int j = 0; j < 3; ++j) {
      if (j == k % 3) continue;
      auto s = m[j]->ws.recv_type("steps");
      ASSERT_TRUE(s) << "member " << j << " missed step " << k;
      EXPECT_EQ(num_field(*s, "version"), k);
      EXPECT_EQ(str_field(*s, "userId"), author.user);
    }
  }
  // A stale batch through a relay: version_conflict with the room's version, nothing applied.
  m[1]->ws.clear();
  m[1]->ws.send(steps_msg(kRoom, "u1", 3, "[" + insert_step(1, "stale") + "]"));
  auto conflict = m[1]->ws.recv_type("error");
  ASSERT_TRUE(conflict);
  EXPECT_EQ(str_field(*conflict, "code"), "version_conflict");
  EXPECT_EQ(num_field(*conflict, "version"), 30);
  // Bad input is answered by the node the member is on, and the member stays.
  m[2]->ws.send(R"({"type":"steps","room":"doc","version":"x","steps":[],"userId":"u2"})");
  auto bad = m[2]->ws.recv_type("error");
  ASSERT_TRUE(bad);
  EXPECT_EQ(str_field(*bad, "code"), "bad_message");
  // Another member's userId through a relay: forbidden (the owner decides).
  m[2]->ws.send(steps_msg(kRoom, "u0", 30, "[" + insert_step(1, "x") + "]"));
  auto forbidden = m[2]->ws.recv_type("error");
  ASSERT_TRUE(forbidden);
  EXPECT_EQ(str_field(*forbidden, "code"), "forbidden");

  // Presence from a relayed member reaches the members on the two other nodes.
  m[1]->ws.send(R"({"type":"presence","room":"doc","users":{"u1":{"cursor":{"pos":1}}}})");
  for (int j : {0, 2}) {
    auto p = m[j]->ws.recv_type("presence");
    ASSERT_TRUE(p) << "member " << j;
    const json::Value* users = p->find("users");
    ASSERT_TRUE(users && users->find("u1")) << to_text(*p);
  }

  // Every node answers the same document at the same version.
  std::string text = doc_text(cluster.port(0));
  for (int i = 0; i < 3; ++i) {
    auto room = read_room(cluster.port(i));
    EXPECT_EQ(num_field(room, "version"), 30) << "node " << i;
    EXPECT_EQ(to_text(*room.find("doc")), text) << "node " << i;
  }
  for (int k = 0; k < 30; ++k)
    EXPECT_NE(text.find("t" + std::to_string(k)), std::string::npos) << k;
  EXPECT_EQ(redis_log_length(cluster.redis.url()), 30);

  // A relayed member leaves: the others hear it, and its node keeps no relay.
  m[2]->ws.send(R"({"type":"leave","room":"doc","userId":"u2"})");
  auto left = m[0]->ws.recv_type("leave");
  ASSERT_TRUE(left);
  EXPECT_EQ(str_field(*left, "userId"), "u2");
  EXPECT_TRUE(eventually([&] { return metric(cluster.port(2), "realtime_pm_relays") == 0; }));
  // Its room-scoped messages now get not_joined from its own node.
  m[2]->ws.clear();
  m[2]->ws.send(steps_msg(kRoom, "u2", 30, "[" + insert_step(1, "late") + "]"));
  auto not_joined = m[2]->ws.recv_type("error");
  ASSERT_TRUE(not_joined);
  EXPECT_EQ(str_field(*not_joined, "code"), "not_joined");
}

TEST(ServeCluster, DocumentApiWritesOnAnyNodeAreCarriedOutByTheOwner) {
  Nodes cluster(3);
  Member owner_side(cluster.port(0), "m0");
  ASSERT_TRUE(owner_side.join());
  // A backend edits through node 2, which does not own the room: the owner applies it, the
  // member hears it, every node reads it.
  auto res =
      http_request(cluster.port(2), "POST", std::string("/api/rooms/") + kRoom + "/steps",
                   R"({"version":0,"userId":"importer","steps":[)" + insert_step(1, "api") + "]}",
                   {{"Content-Type", "application/json"}});
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(num_field(parse(res.body), "version"), 1);
  auto heard = owner_side.ws.recv_type("steps");
  ASSERT_TRUE(heard);
  EXPECT_EQ(str_field(*heard, "userId"), "importer");
  // A stale write through another node: 409 with the room's version, as from the owner.
  auto stale =
      http_request(cluster.port(1), "POST", std::string("/api/rooms/") + kRoom + "/steps",
                   R"({"version":0,"userId":"importer","steps":[)" + insert_step(1, "late") + "]}",
                   {{"Content-Type", "application/json"}});
  EXPECT_EQ(stale.status, 409) << stale.body;
  EXPECT_EQ(num_field(parse(stale.body), "version"), 1);
  // A named version made through node 1 is listed by node 2.
  auto named =
      http_request(cluster.port(1), "POST", std::string("/api/rooms/") + kRoom + "/versions",
                   R"({"name":"v1"})", {{"Content-Type", "application/json"}});
  EXPECT_EQ(named.status, 201) << named.body;
  auto listed = http_get(cluster.port(2), std::string("/api/rooms/") + kRoom + "/versions");
  EXPECT_NE(listed.body.find("\"v1\""), std::string::npos) << listed.body;
  for (int i = 0; i < 3; ++i) {
    auto room = read_room(cluster.port(i));
    EXPECT_EQ(num_field(room, "version"), 1) << "node " << i;
    EXPECT_NE(to_text(*room.find("doc")).find("api"), std::string::npos) << "node " << i;
  }
  // The header that marks a forwarded write is no way around the owner: a node that does not
  // own the room refuses such a write instead of carrying it out.
  auto spoofed =
      http_request(cluster.port(1), "POST", std::string("/api/rooms/") + kRoom + "/steps",
                   R"({"version":1,"userId":"x","steps":[)" + insert_step(1, "s") + "]}",
                   {{"Content-Type", "application/json"}, {"X-Rtpm-Forwarded", "1"}});
  EXPECT_EQ(spoofed.status, 503) << spoofed.body;
  EXPECT_EQ(num_field(read_room(cluster.port(0)), "version"), 1);
}

TEST(ServeCluster, KillingTheOwnerLosesNoAcknowledgedStep) {
  Nodes cluster(3);
  std::vector<std::unique_ptr<Member>> m;
  for (int i = 0; i < 3; ++i) {
    m.push_back(std::make_unique<Member>(cluster.port(i), "u" + std::to_string(i)));
    ASSERT_TRUE(m[i]->join());
  }
  std::set<std::string> acked;
  int64_t version = 0;
  auto type_round = [&](int from, int to) {
    for (int k = from; k < to; ++k) {
      Member& author = *m[k % 3];
      for (auto& other : m) other->drain(10ms);
      author.version = version;
      std::string text = "k" + std::to_string(k) + "k";
      if (author.type_text(text)) {
        acked.insert(text);
        version = author.version;
      }
    }
  };
  type_round(0, 12);
  ASSERT_EQ(acked.size(), 12u);

  // The owner dies in the middle of typing: a batch sent to it may or may not have been
  // taken; everything acknowledged must survive.
  m[0]->ws.send(steps_msg(kRoom, "u0", version, "[" + insert_step(1, "inflight") + "]"));
  cluster.nodes[0]->kill9();
  auto killed = std::chrono::steady_clock::now();
  // Its members reconnect through the load balancer: here, to node 1.
  m[0] = std::make_unique<Member>(cluster.port(1), "u0");
  for (auto& member : m) ASSERT_TRUE(member->join(-1, 15s)) << member->user;
  double moved_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  // The lease (1 s) plus a renewal period and the clients' retries.
  EXPECT_LT(moved_s, 5.0);
  std::cout << "every member back in the room " << moved_s << " s after kill -9 of its owner\n";
  version = m[1]->version;
  EXPECT_TRUE(version == 12 || version == 13) << version;  // 13: the in-flight batch was taken
  type_round(12, 24);
  EXPECT_EQ(acked.size(), 24u);

  // Every acknowledged step is in the room, on every live node and on the restarted one.
  cluster.nodes[0]->restart();
  for (int i = 0; i < 3; ++i) {
    auto room = read_room(cluster.port(i));
    std::string text = to_text(*room.find("doc"));
    EXPECT_EQ(num_field(room, "version"), version) << "node " << i;
    for (const std::string& t : acked) EXPECT_NE(text.find(t), std::string::npos) << t;
  }
  EXPECT_EQ(redis_log_length(cluster.redis.url()), version);
}

TEST(ServeCluster, ARelayingNodesDeathTakesItsMembersOutOfTheRoom) {
  // The owner keeps serving; the members of the dead node leave the room (the others hear a
  // `leave`, their presence goes) and come back through another node.
  Nodes cluster(3);
  Member owner_side(cluster.port(0), "o");
  ASSERT_TRUE(owner_side.join());
  Member relayed(cluster.port(1), "r");
  relayed.ws.send(join_msg(kRoom, "r", R"(,"presence":{"cursor":{"pos":1}})"));
  ASSERT_TRUE(relayed.ws.recv_type("state"));
  auto joined = owner_side.ws.recv_type("join");
  ASSERT_TRUE(joined);
  EXPECT_EQ(str_field(*joined, "userId"), "r");
  cluster.nodes[1]->kill9();
  auto left = owner_side.ws.recv_type("leave");
  ASSERT_TRUE(left);
  EXPECT_EQ(str_field(*left, "userId"), "r");
  // A new member's state lists no presence of the dead node's member.
  Member later(cluster.port(2), "l");
  later.ws.send(join_msg(kRoom, "l"));
  auto state = later.ws.recv_type("state");
  ASSERT_TRUE(state);
  const json::Value* users = state->find("users");
  ASSERT_TRUE(users);
  EXPECT_FALSE(users->find("r")) << to_text(*state);
  EXPECT_TRUE(users->find("o"));
  // The member comes back through node 2 and types on.
  Member back(cluster.port(2), "r");
  ASSERT_TRUE(back.join());
  ASSERT_TRUE(back.type_text("back"));
}

TEST(ServeCluster, APausedOwnerCannotAppendAfterItsLease) {
  Nodes cluster(2);
  Member p(cluster.port(0), "p");  // on the owner
  ASSERT_TRUE(p.join());
  Member q(cluster.port(1), "q");  // relayed
  ASSERT_TRUE(q.join());
  ASSERT_TRUE(p.type_text("before"));
  q.drain(100ms);
  ASSERT_EQ(q.version, 1);

  ::kill(cluster.nodes[0]->pid(), SIGSTOP);
  // Past the lease, node 1 notices the room has no owner: q is told to rejoin, and its join
  // makes node 1 the owner.
  auto error = q.ws.recv_type("error", 5s);
  ASSERT_TRUE(error);
  EXPECT_EQ(str_field(*error, "code"), "internal");
  ASSERT_TRUE(q.join(1));
  ASSERT_TRUE(q.type_text("after"));
  EXPECT_EQ(q.version, 2);
  EXPECT_EQ(metric(cluster.port(1), "realtime_pm_rooms_owned"), 1);

  // The paused owner gets a batch on the version it still believes in, then wakes up.
  p.ws.send(steps_msg(kRoom, "p", 1, "[" + insert_step(1, "stale-owner") + "]"));
  ::kill(cluster.nodes[0]->pid(), SIGCONT);
  bool acked = false, told = false;
  while (auto msg = p.ws.recv(4s)) {
    std::string type = str_field(*msg, "type");
    if (type == "ack") acked = true;
    if (type == "error") told = true;
  }
  EXPECT_FALSE(acked) << "a node that lost its lease acknowledged a step";
  EXPECT_TRUE(told);
  for (int i = 0; i < 2; ++i) {
    auto room = read_room(cluster.port(i));
    EXPECT_EQ(num_field(room, "version"), 2) << "node " << i;
    EXPECT_EQ(to_text(*room.find("doc")).find("stale-owner"), std::string::npos);
  }
  EXPECT_EQ(redis_log_length(cluster.redis.url()), 2);
  // p rejoins (through its node, now relayed to node 1) and goes on.
  ASSERT_TRUE(p.join(1));
  EXPECT_EQ(p.version, 2);
  ASSERT_TRUE(p.type_text("again"));
  EXPECT_EQ(p.version, 3);
}

TEST(ServeCluster, RedisRestartedWithItsAofLosesNothingAcknowledged) {
  Nodes cluster(2, {"--appendonly", "yes", "--appendfsync", "always"});
  Member a(cluster.port(0), "a");
  Member b(cluster.port(1), "b");
  ASSERT_TRUE(a.join());
  ASSERT_TRUE(b.join());
  std::set<std::string> acked;
  for (int k = 0; k < 6; ++k) {
    Member& author = k % 2 ? b : a;
    a.drain(10ms);
    b.drain(10ms);
    author.version = k;
    ASSERT_TRUE(author.type_text("r" + std::to_string(k) + "r"));
    acked.insert("r" + std::to_string(k) + "r");
  }

  cluster.redis.kill9();
  // Nothing can be acknowledged without Redis: the batch gets `internal`.
  a.drain(10ms);
  a.version = 6;
  EXPECT_FALSE(a.type_text("lost"));
  for (int i = 0; i < 2; ++i)
    EXPECT_TRUE(eventually([&] { return http_get(cluster.port(i), "/healthz").status == 503; }))
        << "node " << i;
  EXPECT_EQ(metric(cluster.port(0), "realtime_pm_redis_up"), 0);

  cluster.redis.restart();
  for (int i = 0; i < 2; ++i)
    EXPECT_TRUE(eventually([&] { return http_get(cluster.port(i), "/healthz").status == 200; }))
        << "node " << i;
  ASSERT_TRUE(a.join(6, 15s));
  ASSERT_TRUE(b.join(6, 15s));
  EXPECT_EQ(a.version, 6);
  ASSERT_TRUE(b.type_text("r6r"));
  acked.insert("r6r");
  for (int i = 0; i < 2; ++i) {
    auto room = read_room(cluster.port(i));
    EXPECT_EQ(num_field(room, "version"), 7) << "node " << i;
    std::string text = to_text(*room.find("doc"));
    for (const std::string& t : acked) EXPECT_NE(text.find(t), std::string::npos) << t;
    EXPECT_EQ(text.find("lost"), std::string::npos);
  }
}

TEST(ServeCluster, ARelayUpgradeWithoutTheClusterSecretIsRefused) {
  // A client posing as another node (X-Rtpm-Relay admits any member with any access) gets
  // `unauthorized` and is closed, as a bad token is.
  Nodes cluster(1);
  RawSocket raw(cluster.port(0));
  raw.send(
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: " +
      std::string(RawSocket::kKey) +
      "\r\nSec-WebSocket-Version: 13\r\nX-Rtpm-Relay: guessed\r\n"
      "X-Rtpm-Relay-Subject: admin\r\nX-Rtpm-Relay-Access: wp\r\n\r\n");
  auto res = raw.read_response();
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 101);
  auto frame = raw.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->first, 1);
  EXPECT_NE(frame->second.find("\"unauthorized\""), std::string::npos) << frame->second;
  auto close = raw.read_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->first, 8);
}

TEST(ServeCluster, RelaysDoNotCountAgainstTheOwnersLimitPerAddress) {
  // Three connections per address on each node. The owner has one direct member; three
  // members of node 1 are relayed to it from node 1's address (the test's, too): as clients
  // they would make four from one address, and the third relay would be refused at accept.
  Nodes cluster(2, {}, 1000, "3");
  Member direct(cluster.port(0), "d");
  ASSERT_TRUE(direct.join());
  std::vector<std::unique_ptr<Member>> relayed;
  for (int i = 0; i < 3; ++i) {
    relayed.push_back(std::make_unique<Member>(cluster.port(1), "r" + std::to_string(i)));
    ASSERT_TRUE(relayed.back()->join()) << i;
  }
  ASSERT_TRUE(relayed[2]->type_text("through"));
  // (Node 1's address is full of the test's clients: ask the owner.) One direct connection
  // and three relays.
  EXPECT_EQ(metric(cluster.port(0), "realtime_pm_connections"), 4);
  std::this_thread::sleep_for(200ms);  // the metrics request's connection lets go
  // The address's limit still holds for clients: two more direct connections fill it.
  WsClient second(cluster.port(0));
  WsClient third(cluster.port(0));
  EXPECT_THROW(WsClient(cluster.port(0)), std::exception);
}

TEST(ServeCluster, TheNewerConnectionOfAUserIdKeepsTheRoomWhateverTheJoinOrder) {
  Nodes cluster(2);
  Member owner_side(cluster.port(0), "o");
  ASSERT_TRUE(owner_side.join());
  // Two connections of one userId on the relaying node: `older` opened first.
  Member older(cluster.port(1), "u");
  Member newer(cluster.port(1), "u");
  // The newer joins first; a join arriving later on the older one (a client that gave that
  // connection up, its bytes delayed) must not take the room from the newer.
  ASSERT_TRUE(newer.join());
  older.ws.send(join_msg(kRoom, "u"));
  auto refused = older.ws.recv_type("error");
  ASSERT_TRUE(refused);
  EXPECT_EQ(str_field(*refused, "code"), "session_replaced");
  ASSERT_TRUE(newer.type_text("still"));
  // In the usual order (older first, then newer) the older is the one replaced.
  Member first(cluster.port(1), "v");
  Member second(cluster.port(1), "v");
  ASSERT_TRUE(first.join());
  ASSERT_TRUE(second.join());
  auto replaced = first.ws.recv_type("error");
  ASSERT_TRUE(replaced);
  EXPECT_EQ(str_field(*replaced, "code"), "session_replaced");
  second.drain(100ms);
  ASSERT_TRUE(second.type_text("mine"));
}

TEST(ServeCluster, RefusesToStartWithoutRedis) {
  // A URL nobody answers: the node says so and exits instead of serving nothing.
  auto r = run_command(std::string(RTPM_BINARY) +
                       " serve --store redis --redis-url redis://127.0.0.1:1 --port 0 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("redis"), std::string::npos) << r.output;
  auto missing = run_command(std::string(RTPM_BINARY) + " serve --store redis --port 0 2>&1");
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("--redis-url"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace rtpm::testing
