// The server against real sockets: every test starts the built `realtime-pm
// serve` binary on a free loopback port with its own data folder and talks
// to it as clients do (PROTOCOL.md).
#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "apps/realtime-pm/serve_test_support.h"
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtpm/collab/rebase.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/protocol/binary_codec.h"
#include "rtpm/testing/server_process.h"
#include "rtpm/transform/replace_step.h"
#include "rtpm/transform/step.h"
#include "rtpm/transform/transform.h"

namespace rtpm::testing {
namespace {

using json::Value;
using namespace std::chrono_literals;

std::shared_ptr<const model::Schema> basic_schema() {
  std::ifstream in(std::string(RTPM_SHARED_DIR) + "/conformance/schemas/basic.json");
  std::stringstream buf;
  buf << in.rdbuf();
  return model::Schema::from_json(parse(buf.str()));
}

class ServeTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(RTPM_BINARY, std::move(args));
    server_->start();
  }
  std::unique_ptr<WsClient> client() { return std::make_unique<WsClient>(server_->port()); }
  // Joins and returns the state.
  Value join(WsClient& c, const std::string& room, const std::string& user,
             std::string extra = "") {
    c.send(join_msg(room, user, std::move(extra)));
    auto state = c.recv_type("state");
    EXPECT_TRUE(state) << "no state for " << user;
    return state ? *state : Value();
  }
  std::unique_ptr<ServerProcess> server_;
};

void expect_error(WsClient& c, const std::string& code, const char* why) {
  auto e = c.recv_type("error");
  ASSERT_TRUE(e) << "no error for: " << why;
  EXPECT_EQ(str_field(*e, "code"), code) << why << ": " << json::stringify(*e);
}

TEST_F(ServeTest, HttpEndpoints) {
  start();
  auto health = http_get(server_->port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");
  auto metrics = http_get(server_->port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  for (const char* name :
       {"realtime_pm_connections", "realtime_pm_rooms", "realtime_pm_steps_applied_total",
        "realtime_pm_errors_total{code=", "realtime_pm_step_latency_seconds_bucket"})
    EXPECT_NE(metrics.body.find(name), std::string::npos) << name;
  auto schema = http_get(server_->port(), "/api/schema");
  EXPECT_EQ(schema.status, 200);
  EXPECT_EQ(str_field(parse(schema.body), "name"), "basic");
  EXPECT_EQ(http_get(server_->port(), "/api/rooms/nope").status, 404);
  EXPECT_EQ(http_get(server_->port(), "/api/rooms/a/b").status, 404);
  EXPECT_EQ(http_get(server_->port(), "/").status, 200);
}

TEST_F(ServeTest, JoinGivesStateWithTheDefaultDocument) {
  start();
  auto c = client();
  EXPECT_EQ(c->subprotocol(), "realtime-pm.json.v1");
  Value state = join(*c, "room1", "alice");
  EXPECT_EQ(num_field(state, "version"), 0);
  EXPECT_EQ(json::stringify(*state.find("doc")),
            R"({"type":"doc","content":[{"type":"paragraph"}]})");
  EXPECT_EQ(json::stringify(*state.find("users")), R"({"alice":{}})");
  EXPECT_GT(num_field(state, "timestamp"), 0);
  // The room exists from its first join on; a room name is one percent-encoded segment.
  EXPECT_EQ(num_field(room_doc(server_->port(), "room1"), "version"), 0);
  auto d = client();
  join(*d, "a/b", "bob");
  EXPECT_EQ(str_field(room_doc(server_->port(), "a%2Fb"), "room"), "a/b");
}

TEST_F(ServeTest, StepsAreAckedAndBroadcastInOrder) {
  start();
  auto a = client(), b = client();
  join(*a, "r", "a");
  join(*b, "r", "b");
  auto notice = a->recv_type("join");
  ASSERT_TRUE(notice);
  EXPECT_EQ(str_field(*notice, "userId"), "b");
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "hi") + "]"));
  auto ack = a->recv_type("ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(num_field(*ack, "version"), 1);
  auto steps = b->recv_type("steps");
  ASSERT_TRUE(steps);
  EXPECT_EQ(num_field(*steps, "version"), 0);
  EXPECT_EQ(str_field(*steps, "userId"), "a");
  EXPECT_EQ(json::stringify(*steps->find("steps")), "[" + insert_step(1, "hi") + "]");
  Value doc = room_doc(server_->port(), "r");
  EXPECT_EQ(num_field(doc, "version"), 1);
  EXPECT_EQ(
      json::stringify(*doc.find("doc")),
      R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"hi"}]}]})");
}

TEST_F(ServeTest, StaleVersionIsAConflictAndChangesNothing) {
  start();
  auto a = client(), b = client();
  join(*a, "r", "a");
  join(*b, "r", "b");
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "x") + "]"));
  ASSERT_TRUE(a->recv_type("ack"));
  b->send(steps_msg("r", "b", 0, "[" + insert_step(1, "y") + "]"));
  auto e = b->recv_type("error");
  ASSERT_TRUE(e);
  EXPECT_EQ(str_field(*e, "code"), "version_conflict");
  EXPECT_EQ(num_field(*e, "version"), 1);
  EXPECT_EQ(str_field(*e, "room"), "r");
  EXPECT_EQ(num_field(room_doc(server_->port(), "r"), "version"), 1);
}

// The `rebase` extension (docs/protocol.md) over real sockets, in both subprotocols: a late
// batch is rebased and acknowledged with the steps as applied; the member that asked nothing
// sees version 1.
TEST_F(ServeTest, RebaseMembersSendLateBatchesInBothSubprotocols) {
  start();
  auto a = client();
  WsClient bin(server_->port(), "realtime-pm.bin.v1");
  Value a_state = join(*a, "r", "a", R"(,"rebase":true)");
  EXPECT_EQ(json::stringify(*a_state.find("rebase")), "true");
  bin.send_binary(protocol::encode_binary(parse(join_msg("r", "b", R"(,"rebase":true)"))));
  auto b_state = bin.recv_type("state");
  ASSERT_TRUE(b_state);
  EXPECT_EQ(json::stringify(*b_state->find("rebase")), "true");
  auto v1 = client();
  Value v1_state = join(*v1, "r", "c");
  EXPECT_EQ(v1_state.find("rebase"), nullptr);

  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "ab") + "]"));
  ASSERT_TRUE(a->recv_type("ack"));
  // b typed "X" at the start on version 0; the server maps it past a's "ab" (prosemirror's
  // ReplaceStep.map puts an insertion at the same place after the one it is mapped over).
  bin.send_binary(
      protocol::encode_binary(parse(steps_msg("r", "b", 0, "[" + insert_step(1, "X") + "]"))));
  auto from_a = bin.recv_type("steps");
  ASSERT_TRUE(from_a);
  EXPECT_EQ(json::stringify(*from_a->find("userIds")), R"(["a"])");
  auto ack = bin.recv_type("ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(num_field(*ack, "version"), 2);
  EXPECT_EQ(json::stringify(*ack->find("steps")), "[" + insert_step(3, "X") + "]");
  // The others get b's step as applied; the version 1 member without userIds.
  auto at_a = a->recv_type("steps");
  ASSERT_TRUE(at_a);
  EXPECT_EQ(num_field(*at_a, "version"), 1);
  EXPECT_EQ(json::stringify(*at_a->find("userIds")), R"(["b"])");
  for (int i = 0; i < 2; ++i) {
    auto at_c = v1->recv_type("steps");
    ASSERT_TRUE(at_c);
    EXPECT_EQ(at_c->find("userIds"), nullptr);
  }
  // A version 1 member is still refused a late batch.
  v1->send(steps_msg("r", "c", 0, "[" + insert_step(1, "z") + "]"));
  expect_error(*v1, "version_conflict", "late batch of a version 1 member");
  Value doc = room_doc(server_->port(), "r");
  EXPECT_EQ(num_field(doc, "version"), 2);
  EXPECT_EQ(
      json::stringify(*doc.find("doc")),
      R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"abX"}]}]})");
}

// --server-rebase false: a member that asks gets version 1.
TEST_F(ServeTest, RebaseCanBeTurnedOff) {
  start({"--server-rebase", "false"});
  auto a = client(), b = client();
  EXPECT_EQ(join(*a, "r", "a", R"(,"rebase":true)").find("rebase"), nullptr);
  join(*b, "r", "b", R"(,"rebase":true)");
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "x") + "]"));
  ASSERT_TRUE(a->recv_type("ack"));
  b->send(steps_msg("r", "b", 0, "[" + insert_step(1, "y") + "]"));
  expect_error(*b, "version_conflict", "late batch with the extension off");
}

TEST_F(ServeTest, InvalidStepsNameTheStepAndApplyNothing) {
  start();
  auto a = client();
  join(*a, "r", "a");
  a->send(steps_msg("r", "a", 0,
                    "[" + insert_step(1, "ok") + R"(,{"stepType":"replace","from":99,"to":99}])"));
  auto e = a->recv_type("error");
  ASSERT_TRUE(e);
  EXPECT_EQ(str_field(*e, "code"), "invalid_steps");
  EXPECT_EQ(num_field(*e, "index"), 1);
  EXPECT_EQ(str_field(*e, "message").rfind("step 1: ", 0), 0u) << str_field(*e, "message");
  EXPECT_EQ(num_field(room_doc(server_->port(), "r"), "version"), 0);
  // The connection still works.
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "ok") + "]"));
  ASSERT_TRUE(a->recv_type("ack"));
}

TEST_F(ServeTest, SchemaViolationsInsideInsertedNodesAreRejected) {
  start();
  auto a = client();
  join(*a, "r", "a");
  // A list item whose first child is a heading: prosemirror-transform accepts it, the server must
  // not.
  a->send(steps_msg(
      "r", "a", 0,
      R"([{"stepType":"replace","from":2,"to":2,"slice":{"content":[{"type":"bullet_list","content":[{"type":"list_item","content":[{"type":"heading","attrs":{"level":1}}]}]}]}}])"));
  expect_error(*a, "invalid_steps", "list_item with a heading");
  EXPECT_EQ(num_field(room_doc(server_->port(), "r"), "version"), 0);
}

TEST_F(ServeTest, BadMessagesGetErrorsAndKeepTheConnection) {
  start({"--max-message-bytes", "4096"});
  auto a = client();
  join(*a, "r", "a");
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "base") + "]"));
  ASSERT_TRUE(a->recv_type("ack"));
  std::string deep(1001, '[');
  deep += std::string(1001, ']');
  std::vector<std::pair<std::string, std::string>> corpus = {
      {"not json", "bad_message"},
      {"[]", "bad_message"},
      {"{\"type\":7}", "bad_message"},
      {R"({"type":"launch","room":"r"})", "unknown_type"},
      {R"({"type":"join","room":"no spaces","userId":"a"})", "invalid_room"},
      {R"({"type":"steps","room":"r","version":"0","steps":[{}],"userId":"a"})", "bad_message"},
      {R"({"type":"steps","room":"r","version":1e300,"steps":[{}],"userId":"a"})", "bad_message"},
      {R"({"type":"steps","room":"r","version":-1,"steps":[{}],"userId":"a"})", "bad_message"},
      {R"({"type":"steps","room":"r","version":1,"steps":[],"userId":"a"})", "bad_message"},
      {R"({"type":"steps","room":"r","version":1,"steps":[5],"userId":"a"})", "bad_message"},
      {R"({"type":"steps","room":"r","version":1,"steps":[{}],"userId":"a","timestamp":"x"})",
       "bad_message"},
      {R"({"type":"steps","room":"r","version":1,"steps":[{"stepType":"teleport"}],"userId":"a"})",
       "invalid_steps"},
      {R"({"type":"steps","room":"r","version":1,"steps":[{"stepType":"replace","from":-5,"to":2}],"userId":"a"})",
       "invalid_steps"},
      {R"({"type":"steps","room":"r","version":1,"steps":[{"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"heading"}]}}],"userId":"a"})",
       "invalid_steps"},
      {R"({"type":"steps","room":"r","version":1,"steps":[{"stepType":"addMark","from":1,"to":3,"mark":{"type":"nope"}}],"userId":"a"})",
       "invalid_steps"},
      {R"({"type":"steps","room":"r","version":1,"steps":[{"stepType":"replace","from":1.5,"to":2}],"userId":"a"})",
       "invalid_steps"},
      {R"({"type":"join","room":"r","userId":"a","presence":{"x":)" + deep + "}}", "bad_message"},
      {"{\"type\":\"join\",\"room\":\"r\",\"userId\":\"" + std::string(5000, 'x') + "\"}",
       "message_too_large"},
      {R"({"type":"steps","room":"other","version":0,"steps":[{}],"userId":"a"})", "not_joined"},
      {R"({"type":"steps","room":"r","version":1,"steps":[{}],"userId":"mallory"})", "forbidden"},
      {R"({"type":"presence","room":"r","users":{"mallory":{}}})", "forbidden"},
      {R"({"type":"presence","room":"r","users":{"a":{}},"version":99})", "version_conflict"},
  };
  for (const auto& [text, code] : corpus) {
    a->send(text);
    expect_error(*a, code, text.substr(0, 120).c_str());
    ASSERT_FALSE(a->closed()) << text.substr(0, 120);
  }
  a->send_binary("{\"type\":\"join\"}");
  expect_error(*a, "bad_message", "binary frame");
  // Still joined, same document.
  Value doc = room_doc(server_->port(), "r");
  EXPECT_EQ(num_field(doc, "version"), 1);
  a->send(steps_msg("r", "a", 1, "[" + insert_step(1, "!") + "]"));
  ASSERT_TRUE(a->recv_type("ack"));
}

TEST_F(ServeTest, RejoinWithAVersionGetsTheMissedSteps) {
  start();
  auto a = client(), b = client();
  join(*a, "r", "a");
  for (int i = 0; i < 3; ++i) {
    a->send(steps_msg("r", "a", i, "[" + insert_step(1, "s") + "]"));
    ASSERT_TRUE(a->recv_type("ack"));
  }
  Value state = join(*b, "r", "b", R"(,"version":1)");
  EXPECT_EQ(num_field(state, "version"), 3);
  EXPECT_EQ(state.find("doc"), nullptr);
  ASSERT_TRUE(state.find("steps"));
  EXPECT_EQ(state.find("steps")->as_array().size(), 2u);
  EXPECT_EQ(json::stringify(*state.find("userIds")), R"(["a","a"])");
  // A version above the room's gets the whole document.
  auto c = client();
  Value full = join(*c, "r", "c", R"(,"version":50)");
  EXPECT_TRUE(full.find("doc"));
  EXPECT_EQ(num_field(full, "version"), 3);
}

TEST_F(ServeTest, PresenceIsMappedAndBroadcast) {
  start({"--presence-interval-ms", "10"});
  auto a = client(), b = client();
  join(*a, "r", "a");
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "abc") + "]"));
  ASSERT_TRUE(a->recv_type("ack"));
  join(*b, "r", "b");
  // a's cursor at 3 (between b and c), b inserts two characters at 2: a's cursor moves to 5.
  a->send(
      R"({"type":"presence","room":"r","users":{"a":{"cursor":{"pos":3},"name":"A"}},"version":1})");
  auto p = b->recv_type("presence");
  ASSERT_TRUE(p);
  EXPECT_EQ(json::stringify(*p->find("users")), R"({"a":{"cursor":{"pos":3},"name":"A"}})");
  EXPECT_EQ(num_field(*p, "version"), 1);
  b->send(steps_msg("r", "b", 1, "[" + insert_step(2, "xy") + "]"));
  ASSERT_TRUE(b->recv_type("ack"));
  auto c = client();
  Value state = join(*c, "r", "c");
  EXPECT_EQ(json::stringify(*state.find("users")->find("a")), R"({"cursor":{"pos":5},"name":"A"})");
  // Presence sent against an older version is mapped before it is broadcast.
  a->send(
      R"({"type":"presence","room":"r","users":{"a":{"selection":{"from":1,"to":3}}},"version":1})");
  auto q = c->recv_type("presence");
  ASSERT_TRUE(q);
  EXPECT_EQ(json::stringify(*q->find("users")), R"({"a":{"selection":{"from":1,"to":5}}})");
  EXPECT_EQ(num_field(*q, "version"), 2);
}

TEST_F(ServeTest, LeaveAndMembershipRules) {
  start();
  auto a = client(), b = client();
  join(*a, "r", "a");
  join(*b, "r", "b");
  a->recv_type("join");
  b->send(R"({"type":"leave","room":"r","userId":"b"})");
  auto left = a->recv_type("leave");
  ASSERT_TRUE(left);
  EXPECT_EQ(str_field(*left, "userId"), "b");
  b->send(steps_msg("r", "b", 0, "[" + insert_step(1, "x") + "]"));
  expect_error(*b, "not_joined", "steps after leave");
  // Joining the same room again with another userId on one connection is forbidden.
  a->send(join_msg("r", "someone-else"));
  expect_error(*a, "forbidden", "second userId on one connection");
  // A repeated join is a resync: a fresh state.
  Value again = join(*a, "r", "a");
  EXPECT_EQ(num_field(again, "version"), 0);
}

TEST_F(ServeTest, SessionReplacement) {
  start();
  auto a1 = client(), b = client(), a2 = client();
  join(*a1, "r", "a");
  join(*b, "r", "b");
  b->clear();
  join(*a2, "r", "a");
  auto e = a1->recv_type("error");
  ASSERT_TRUE(e);
  EXPECT_EQ(str_field(*e, "code"), "session_replaced");
  EXPECT_EQ(str_field(*e, "room"), "r");
  auto notice = b->recv(2s);
  ASSERT_TRUE(notice);
  EXPECT_EQ(str_field(*notice, "type"), "join");  // no leave for a replacement
  a1->send(steps_msg("r", "a", 0, "[" + insert_step(1, "x") + "]"));
  expect_error(*a1, "not_joined", "steps from the replaced session");
  a2->send(steps_msg("r", "a", 0, "[" + insert_step(1, "x") + "]"));
  ASSERT_TRUE(a2->recv_type("ack"));
}

TEST_F(ServeTest, LimitsRoomFullAndRateLimit) {
  start({"--max-room-members", "1", "--rate-limit", "1", "--rate-burst", "3"});
  auto a = client(), b = client();
  join(*a, "r", "a");
  b->send(join_msg("r", "b"));
  expect_error(*b, "room_full", "second member");
  // b's join used one token of the burst of 3; of six more messages the first
  // two or three are handled (not_joined: b is not in the room) and the rest
  // are over the limit. Only the first refusal of a second is answered
  // (rate_limited); the others are dropped silently. The connection stays open.
  for (int i = 0; i < 6; ++i) b->send(R"({"type":"presence","room":"r","users":{"b":{}}})");
  int limited = 0, handled = 0;
  while (auto e = b->recv_type("error", 500ms)) {
    if (str_field(*e, "code") == "rate_limited") {
      ++limited;
      // It names the refused message's room: the client knows what was not taken.
      EXPECT_EQ(str_field(*e, "room"), "r");
    }
    if (str_field(*e, "code") == "not_joined") ++handled;
  }
  EXPECT_EQ(limited, 1);
  EXPECT_GE(handled, 2);
  EXPECT_LE(handled, 3);
  EXPECT_FALSE(b->closed());
  // A second later the budget answers again; a refused frame that does not parse names no room.
  std::this_thread::sleep_for(1100ms);
  for (int i = 0; i < 4; ++i) b->send("{not json");
  bool answered = false;
  while (auto e = b->recv_type("error", 500ms))
    if (str_field(*e, "code") == "rate_limited") {
      answered = true;
      EXPECT_FALSE(e->find("room")) << json::stringify(*e);
    }
  EXPECT_TRUE(answered);
}

// Ten clients type at once, each running prosemirror-collab's algorithm on
// the C++ port (rtpm/collab/rebase.h: one batch in flight, remote steps
// rebase the unconfirmed ones, a conflict waits for the missed steps); all
// converge on the server's document and nothing acknowledged is lost.
TEST_F(ServeTest, TenClientsConverge) {
  start();
  auto schema = basic_schema();
  struct Peer {
    std::unique_ptr<WsClient> ws;
    std::string id;
    collab::CollabState state;
    size_t in_flight = 0;  // steps of the batch on the wire
    int64_t wait_for = 0;  // after a conflict: send again once at this version
    int made = 0;
  };
  const int kEdits = 12;
  std::vector<Peer> peers(10);
  for (size_t i = 0; i < peers.size(); ++i) {
    peers[i].ws = client();
    peers[i].id = "u" + std::to_string(i);
    Value st = join(*peers[i].ws, "race", peers[i].id);
    peers[i].state.doc = model::Node::from_json(*schema, *st.find("doc"));
    peers[i].state.version = num_field(st, "version");
  }
  std::mt19937 rng(7);
  auto edit = [&](Peer& p) {
    const model::Node& para = *p.state.doc->child(0);
    int pos = 1 + static_cast<int>(rng() % (para.content().size() + 1));
    std::string letter(1, static_cast<char>('a' + (&p - &peers[0])));
    transform::Transform tr(p.state.doc);
    tr.step(std::make_shared<transform::ReplaceStep>(
        pos, pos, model::Slice(model::Fragment::from(schema->text(letter)), 0, 0)));
    auto more = collab::unconfirmed_from(tr);
    p.state.unconfirmed.insert(p.state.unconfirmed.end(), more.begin(), more.end());
    p.state.doc = tr.doc();
    ++p.made;
  };
  auto maybe_send = [&](Peer& p) {
    if (p.in_flight || p.state.unconfirmed.empty() || p.state.version < p.wait_for) return;
    std::string arr = "[";
    for (size_t i = 0; i < p.state.unconfirmed.size(); ++i)
      arr += (i ? "," : "") + p.state.unconfirmed[i].step->to_json_string();
    arr += "]";
    p.ws->send(steps_msg("race", p.id, p.state.version, arr));
    p.in_flight = p.state.unconfirmed.size();
  };
  auto deadline = std::chrono::steady_clock::now() + 90s;
  auto settled = [&] {
    for (auto& p : peers)
      if (p.made < kEdits || !p.state.unconfirmed.empty() || p.in_flight) return false;
    return true;
  };
  while (!settled() && std::chrono::steady_clock::now() < deadline) {
    for (auto& p : peers) {
      while (auto m = p.ws->recv(std::chrono::milliseconds(1))) {
        std::string type = str_field(*m, "type");
        if (type == "steps") {
          ASSERT_EQ(num_field(*m, "version"), p.state.version) << "steps out of order for " << p.id;
          std::vector<transform::StepPtr> steps;
          for (const Value& s : m->find("steps")->as_array())
            steps.push_back(transform::Step::from_json(*schema, s));
          std::vector<std::string> ids(steps.size(), str_field(*m, "userId"));
          p.state = collab::receive_transaction(p.state, steps, ids, p.id).state;
        } else if (type == "ack") {
          ASSERT_GT(p.in_flight, 0u);
          p.state.unconfirmed.erase(p.state.unconfirmed.begin(),
                                    p.state.unconfirmed.begin() + static_cast<long>(p.in_flight));
          p.state.version += static_cast<int64_t>(p.in_flight);
          ASSERT_EQ(num_field(*m, "version"), p.state.version);
          p.in_flight = 0;
        } else if (type == "error") {
          ASSERT_EQ(str_field(*m, "code"), "version_conflict") << json::stringify(*m);
          p.in_flight = 0;
          p.wait_for = num_field(*m, "version");
        }
      }
      if (p.made < kEdits && rng() % 3 == 0) edit(p);
      maybe_send(p);
    }
  }
  ASSERT_TRUE(settled()) << "clients did not settle in time";
  Value server_doc = room_doc(server_->port(), "race");
  int64_t final_version = num_field(server_doc, "version");
  std::string expected = json::stringify(*server_doc.find("doc"));
  for (auto& p : peers) {
    // Receive whatever is still on the way.
    auto until = std::chrono::steady_clock::now() + 5s;
    while (p.state.version < final_version && std::chrono::steady_clock::now() < until) {
      auto m = p.ws->recv(std::chrono::milliseconds(100));
      if (!m || str_field(*m, "type") != "steps") continue;
      std::vector<transform::StepPtr> steps;
      for (const Value& s : m->find("steps")->as_array())
        steps.push_back(transform::Step::from_json(*schema, s));
      std::vector<std::string> ids(steps.size(), str_field(*m, "userId"));
      p.state = collab::receive_transaction(p.state, steps, ids, p.id).state;
    }
    EXPECT_EQ(p.state.version, final_version) << p.id;
    EXPECT_EQ(p.state.doc->to_json_string(), expected) << p.id;
  }
  std::u16string text = model::Node::from_json(*schema, *server_doc.find("doc"))->text_content();
  EXPECT_EQ(text.size(), peers.size() * kEdits);
  for (size_t i = 0; i < peers.size(); ++i)
    EXPECT_EQ(std::count(text.begin(), text.end(), static_cast<char16_t>('a' + i)), kEdits);
}

TEST_F(ServeTest, RestartRestoresEveryRoom) {
  start({"--snapshot-every", "4"});
  {
    auto a = client();
    join(*a, "keep", "a");
    for (int i = 0; i < 10; ++i) {
      a->send(steps_msg("keep", "a", i, "[" + insert_step(1, std::to_string(i)) + "]"));
      ASSERT_TRUE(a->recv_type("ack"));
    }
  }
  Value before = room_doc(server_->port(), "keep");
  EXPECT_EQ(server_->stop(), 0);
  server_->start();
  Value after = room_doc(server_->port(), "keep");
  EXPECT_EQ(json::stringify(after), json::stringify(before));
  // History survives the restart: a rejoin by version still gets steps.
  auto b = client();
  Value state = join(*b, "keep", "b", R"(,"version":2)");
  ASSERT_TRUE(state.find("steps"));
  EXPECT_EQ(state.find("steps")->as_array().size(), 8u);
}

TEST_F(ServeTest, Kill9KeepsEveryAcknowledgedStep) {
  start({"--snapshot-every", "7"});
  std::vector<std::unique_ptr<WsClient>> writers;
  std::vector<int64_t> version(4, 0);
  for (int i = 0; i < 4; ++i) {
    writers.push_back(client());
    join(*writers[i], "crash" + std::to_string(i), "w");
  }
  std::vector<std::vector<std::string>> acked(4);
  // Each writer owns a room: type until the server is killed.
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 4; ++i) {
      std::string mark = "r" + std::to_string(round) + "w" + std::to_string(i) + ";";
      writers[i]->send(steps_msg("crash" + std::to_string(i), "w", version[i],
                                 "[" + insert_step(1, mark) + "]"));
    }
    if (round == 30) server_->kill9();
    for (int i = 0; i < 4; ++i) {
      auto ack = writers[i]->recv_type("ack", 2s);
      if (!ack) continue;
      version[i] = num_field(*ack, "version");
      acked[i].push_back("r" + std::to_string(round) + "w" + std::to_string(i) + ";");
    }
    if (!server_->running()) break;
  }
  server_->start();
  auto schema = basic_schema();
  for (int i = 0; i < 4; ++i) {
    Value doc = room_doc(server_->port(), "crash" + std::to_string(i));
    EXPECT_GE(num_field(doc, "version"), version[i]);
    std::string text =
        json::to_wtf8(model::Node::from_json(*schema, *doc.find("doc"))->text_content());
    for (const auto& m : acked[i]) EXPECT_NE(text.find(m), std::string::npos) << "lost " << m;
  }
}

TEST_F(ServeTest, AuthenticationRequiresAToken) {
  auto dir = std::make_unique<ServerProcess>(RTPM_BINARY);  // only for a temp folder
  std::string file = dir->data_dir() + "/tokens.json";
  std::ofstream(file) << R"({"t-alice":"alice","t-bob":"bob"})";
  start({"--auth-file", file});
  WsClient anonymous(server_->port());
  expect_error(anonymous, "unauthorized", "no token");
  for (int i = 0; i < 100 && !anonymous.closed(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(anonymous.closed());
  EXPECT_EQ(anonymous.close_code(), 1008);
  WsClient bad(server_->port(), "realtime-pm.json.v1", "/ws?token=nope");
  expect_error(bad, "unauthorized", "unknown token");
  // A token in the query or as a bearer header both work.
  WsClient alice(server_->port(), "realtime-pm.json.v1", "/ws?x=1&token=t-alice");
  join(alice, "r", "alice");
  WsClient bob(server_->port(), "realtime-pm.json.v1", "/ws", "t-bob");
  // With authentication on, the userId is the token's subject: bob may not join as alice (and
  // so can never push her session out), nor as anyone else.
  bob.send(join_msg("r", "alice"));
  expect_error(bob, "forbidden", "joining as another subject");
  bob.send(join_msg("r", "shared-id"));
  expect_error(bob, "forbidden", "a userId other than the subject");
  join(bob, "r", "bob");
  // The same subject may replace the session.
  WsClient alice2(server_->port(), "realtime-pm.json.v1", "/ws", "t-alice");
  join(alice2, "r", "alice");
  auto replaced = alice.recv_type("error");
  ASSERT_TRUE(replaced);
  EXPECT_EQ(str_field(*replaced, "code"), "session_replaced");
}

TEST_F(ServeTest, BinarySubprotocolRoundTrips) {
  start();
  WsClient bin(server_->port(), "realtime-pm.bin.v1");
  EXPECT_EQ(bin.subprotocol(), "realtime-pm.bin.v1");
  WsClient text(server_->port());
  join(text, "r", "t");
  bin.send_binary(protocol::encode_binary(parse(join_msg("r", "b"))));
  // Binary frames come back, decoded by the client to the same JSON.
  auto state = bin.recv_type("state");
  ASSERT_TRUE(state);
  EXPECT_EQ(json::stringify(*state->find("doc")),
            R"({"type":"doc","content":[{"type":"paragraph"}]})");
  text.clear();
  bin.send_binary(
      protocol::encode_binary(parse(steps_msg("r", "b", 0, "[" + insert_step(1, "é") + "]"))));
  auto steps = text.recv_type("steps");
  ASSERT_TRUE(steps);
  EXPECT_EQ(str_field(*steps, "userId"), "b");
  EXPECT_EQ(json::stringify(*steps->find("steps")), "[" + insert_step(1, "é") + "]");
  auto ack = bin.recv_type("ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(num_field(*ack, "version"), 1);
  // A text frame on the binary subprotocol is bad_message.
  bin.send(join_msg("r", "b"));
  expect_error(bin, "bad_message", "text frame on bin.v1");
  EXPECT_EQ(num_field(room_doc(server_->port(), "r"), "version"), 1);
}

TEST_F(ServeTest, ShutdownClosesWith1001) {
  start();
  auto a = client();
  join(*a, "r", "a");
  EXPECT_EQ(server_->stop(), 0);
  for (int i = 0; i < 100 && !a->closed(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(a->closed());
  EXPECT_EQ(a->close_code(), 1001);
}

// More connections than descriptors: accept() fails with EMFILE while they are open. The
// server pauses accepting (instead of spinning on the connection left in the backlog), keeps
// serving, and accepts again once descriptors are free. (By default the connection limits
// refuse connections long before; here they are set above the file limit to reach EMFILE.)
TEST_F(ServeTest, OutOfDescriptorsPausesAcceptingAndRecovers) {
  start({"--max-open-files", "64", "--max-connections", "1000", "--max-connections-per-ip", "0"});
  auto a = client();
  join(*a, "r", "a");
  std::vector<int> fds;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 100; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(1s);
  // The member already connected is still served while accepting is paused.
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "x") + "]"));
  EXPECT_TRUE(a->recv_type("ack"));
  for (int fd : fds) ::close(fd);
  // Accepting resumes: a new client joins, and the failures were few (a pause after each).
  std::unique_ptr<WsClient> b;
  for (int i = 0; i < 100 && !b; ++i) {
    try {
      b = client();
    } catch (const std::exception&) {
      std::this_thread::sleep_for(50ms);
    }
  }
  ASSERT_TRUE(b);
  EXPECT_EQ(num_field(join(*b, "r", "b"), "version"), 1);
  auto metrics = http_get(server_->port(), "/metrics").body;
  auto at = metrics.find("\nrealtime_pm_accept_failures_total ");
  ASSERT_NE(at, std::string::npos);
  int64_t failures = std::stoll(metrics.substr(at + 35));
  EXPECT_GT(failures, 0);
  EXPECT_LT(failures, 1000);
}

// Pipelined batches come back as bursts (group commits): every ack and every
// broadcast arrives whole and in version order (the session corks the socket
// while it writes a burst).
TEST_F(ServeTest, BurstsOfBroadcastsArriveWholeAndInOrder) {
  start();
  auto a = client(), b = client();
  join(*a, "r", "a");
  join(*b, "r", "b");
  ASSERT_TRUE(a->recv_type("join"));
  constexpr int kBatches = 300;
  for (int v = 0; v < kBatches; ++v)
    a->send(steps_msg("r", "a", v, "[" + insert_step(1, "x") + "]"));
  for (int v = 0; v < kBatches; ++v) {
    auto ack = a->recv_type("ack");
    ASSERT_TRUE(ack) << "ack " << v + 1;
    EXPECT_EQ(num_field(*ack, "version"), v + 1);
  }
  // Batches that become durable together (one group commit) may come as one message per
  // run of one user's steps (docs/protocol.md "Broadcasts"): every step once, in order.
  for (int v = 0; v < kBatches;) {
    auto steps = b->recv_type("steps");
    ASSERT_TRUE(steps) << "broadcast at " << v;
    EXPECT_EQ(num_field(*steps, "version"), v);
    EXPECT_EQ(str_field(*steps, "userId"), "a");
    const auto& list = steps->find("steps")->as_array();
    ASSERT_FALSE(list.empty());
    for (const Value& step : list) EXPECT_EQ(json::stringify(step), insert_step(1, "x"));
    v += static_cast<int>(list.size());
    EXPECT_LE(v, kBatches);
  }
  Value doc = room_doc(server_->port(), "r");
  EXPECT_EQ(num_field(doc, "version"), kBatches);
}

}  // namespace
}  // namespace rtpm::testing
