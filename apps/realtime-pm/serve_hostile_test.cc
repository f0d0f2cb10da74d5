// Hostile input against the real `realtime-pm serve` binary (issue 10): each
// suite sends what a hostile client sent and checks that the server answers
// as PROTOCOL.md says, stays up, keeps the document, and goes on serving the
// other members of the room.
#include <string>

#include "apps/realtime-pm/serve_test_support.h"
#include <gtest/gtest.h>

#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/protocol/binary_codec.h"
#include "rtpm/testing/hostile_steps.h"
#include "rtpm/testing/server_process.h"

namespace rtpm::testing {
namespace {

using json::Value;

// HostileSteps: findings 1 and 2, steps that killed the server.

class HostileSteps : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(RTPM_BINARY);
    server_->start();
    alice_ = std::make_unique<WsClient>(server_->port());
    bob_ = std::make_unique<WsClient>(server_->port());
    join(*alice_, "alice");
    join(*bob_, "bob");
    alice_->recv_type("join");  // bob's arrival
  }

  void join(WsClient& c, const std::string& user) {
    c.send(join_msg(kRoom, user));
    ASSERT_TRUE(c.recv_type("state")) << user;
  }

  /// Sends `steps_array` from `sender` at the room's version and expects
  /// invalid_steps naming step `index`; returns the error's message.
  std::string expect_invalid(WsClient& sender, const std::string& steps_array, int index,
                             const std::string& user = "alice") {
    sender.send(steps_msg(kRoom, user, version_, steps_array));
    auto e = sender.recv_type("error");
    EXPECT_TRUE(e) << "no answer to " << steps_array.substr(0, 200);
    if (!e) return "";
    EXPECT_EQ(str_field(*e, "code"), "invalid_steps") << json::stringify(*e);
    EXPECT_EQ(num_field(*e, "index"), index) << json::stringify(*e);
    std::string message = str_field(*e, "message");
    EXPECT_EQ(message.rfind("step " + std::to_string(index) + ": ", 0), 0u) << message;
    return message;
  }

  /// The server is alive, the document is still `doc`, and both members are
  /// served: bob's valid step is acknowledged and reaches alice, and then
  /// alice's valid step is acknowledged and reaches bob.
  void expect_served(const std::string& doc) {
    EXPECT_EQ(http_get(server_->port(), "/healthz").body, "ok");
    EXPECT_EQ(json::stringify(*room_doc(server_->port(), kRoom).find("doc")), doc);
    EXPECT_EQ(num_field(room_doc(server_->port(), kRoom), "version"), version_);
    accept(*bob_, "bob", *alice_);
    accept(*alice_, "alice", *bob_);
  }

  /// `sender` inserts "!" at the end of the document's last paragraph; expects
  /// the ack and the broadcast.
  void accept(WsClient& sender, const std::string& user, WsClient& other) {
    int end = doc()->content().size() - 1;
    ASSERT_EQ(doc()->last_child()->type()->name(), "paragraph");
    sender.send(steps_msg(kRoom, user, version_, "[" + insert_step(end, "!") + "]"));
    auto ack = sender.recv_type("ack");
    ASSERT_TRUE(ack) << user;
    EXPECT_EQ(num_field(*ack, "version"), version_ + 1);
    auto steps = other.recv_type("steps");
    ASSERT_TRUE(steps) << user;
    EXPECT_EQ(str_field(*steps, "userId"), user);
    version_++;
  }

  std::string current_doc() {
    return json::stringify(*room_doc(server_->port(), kRoom).find("doc"));
  }

  /// The room's document as the server holds it.
  model::NodeRef doc() {
    if (!schema_)
      schema_ = model::Schema::from_json(parse(http_get(server_->port(), "/api/schema").body));
    return model::Node::from_json(*schema_, *room_doc(server_->port(), kRoom).find("doc"));
  }

  std::shared_ptr<const model::Schema> schema_;

  static constexpr const char* kRoom = "hostile";
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<WsClient> alice_, bob_;
  int64_t version_ = 0;
};

TEST_F(HostileSteps, TextOpenedIntoTheEmptyParagraphOfAFreshRoom) {
  EXPECT_EQ(current_doc(), kEmptyParagraphDoc);
  std::string message =
      expect_invalid(*alice_, std::string("[") + kTextOpenedIntoEmptyParagraph + "]", 0);
  EXPECT_NE(message.find("Cannot read properties of undefined"), std::string::npos) << message;
  expect_served(kEmptyParagraphDoc);
}

TEST_F(HostileSteps, SlicesOpenedIntoLeavesAndText) {
  alice_->send(steps_msg(kRoom, "alice", 0, std::string("[") + kInsertHello + "]"));
  ASSERT_TRUE(alice_->recv_type("ack"));
  ASSERT_TRUE(bob_->recv_type("steps"));
  version_ = 1;
  for (const auto& [name, step] : crashing_steps()) {
    SCOPED_TRACE(name);
    std::string before = current_doc();
    // After a valid step in the same batch: the whole batch fails, naming step 1.
    std::string message = expect_invalid(*alice_, "[" + insert_step(1, "x") + "," + step + "]", 1);
    EXPECT_NE(message.find("Cannot read properties of undefined"), std::string::npos) << message;
    expect_served(before);
  }
  // The same steps over the binary subprotocol.
  WsClient carol(server_->port(), "realtime-pm.bin.v1");
  carol.send_binary(protocol::encode_binary(parse(join_msg(kRoom, "carol"))));
  ASSERT_TRUE(carol.recv_type("state"));
  for (const auto& [name, step] : crashing_steps()) {
    SCOPED_TRACE(name);
    std::string before = current_doc();
    carol.send_binary(protocol::encode_binary(
        parse(steps_msg(kRoom, "carol", version_, std::string("[") + step + "]"))));
    auto e = carol.recv_type("error");
    ASSERT_TRUE(e);
    EXPECT_EQ(str_field(*e, "code"), "invalid_steps");
    EXPECT_EQ(num_field(*e, "index"), 0);
    expect_served(before);
    // Carol is served too: she receives both steps.
    ASSERT_TRUE(carol.recv_type("steps"));
    ASSERT_TRUE(carol.recv_type("steps"));
  }
}

TEST_F(HostileSteps, DeepNestingMessageIsRefusedAtTheBound) {
  // Issue 10's message: 40 replace steps, each nesting 490 blockquotes inside
  // the innermost one of the step before. Under 1 MiB, JSON under 1,000 levels.
  std::string issue = deep_nesting_steps(40, 490);
  std::string message_text = steps_msg(kRoom, "alice", 0, issue);
  ASSERT_LT(message_text.size(), 1u << 20);
  ASSERT_GT(message_text.size(), 600u << 10);
  std::string message = expect_invalid(*alice_, issue, 0);
  EXPECT_EQ(message, "step 0: " + model::max_depth_message());
  expect_served(kEmptyParagraphDoc);
  // Steps that parse but would make the document deeper than the bound: the
  // second one fails while it is applied.
  std::string before = current_doc();
  message = expect_invalid(*alice_, deep_nesting_steps(2, 200), 1);
  EXPECT_EQ(message, "step 1: " + model::max_depth_message());
  expect_served(before);
  // Nesting within the bound is an ordinary document.
  alice_->send(steps_msg(kRoom, "alice", version_, deep_nesting_steps(1, 200)));
  auto ack = alice_->recv_type("ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(num_field(*ack, "version"), version_ + 1);
  ASSERT_TRUE(bob_->recv_type("steps"));
  version_++;
  EXPECT_EQ(doc()->height(), 202);
  expect_served(current_doc());
}

}  // namespace
}  // namespace rtpm::testing
