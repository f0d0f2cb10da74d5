#include "rtpm/protocol/messages.h"

#include <gtest/gtest.h>

namespace rtpm::protocol {
namespace {

DecodeError expect_error(std::string_view text) {
  auto r = decode_client_message(text);
  EXPECT_TRUE(std::holds_alternative<DecodeError>(r)) << text;
  if (auto* e = std::get_if<DecodeError>(&r)) return *e;
  return {};
}

template <typename T>
T expect_message(std::string_view text) {
  auto r = decode_client_message(text);
  if (auto* e = std::get_if<DecodeError>(&r)) {
    ADD_FAILURE() << text << ": " << e->message;
    return T{};
  }
  auto& m = std::get<ClientMessage>(r);
  EXPECT_TRUE(std::holds_alternative<T>(m)) << text;
  return std::holds_alternative<T>(m) ? std::get<T>(m) : T{};
}

TEST(Decode, Join) {
  auto m = expect_message<JoinMessage>(
      R"({"type":"join","room":"a/b:c.d_e-f","userId":"u1","presence":{"cursor":{"pos":3}},"version":7,"timestamp":1})");
  EXPECT_EQ(m.room, "a/b:c.d_e-f");
  EXPECT_EQ(m.user_id, "u1");
  ASSERT_TRUE(m.version);
  EXPECT_EQ(*m.version, 7);
  ASSERT_TRUE(m.presence);
  EXPECT_TRUE(m.presence->is_object());
}

TEST(Decode, StepsAndPresenceAndLeave) {
  auto s = expect_message<StepsMessage>(
      R"({"type":"steps","room":"r","version":0,"steps":[{"stepType":"replace","from":1,"to":1}],"userId":"u"})");
  EXPECT_EQ(s.steps.as_array().size(), 1u);
  auto p = expect_message<PresenceMessage>(
      R"({"type":"presence","room":"r","users":{"u":{"cursor":{"pos":1}}},"version":2})");
  EXPECT_EQ(p.user_id, "u");
  EXPECT_EQ(*p.version, 2);
  auto l = expect_message<LeaveMessage>(R"({"type":"leave","room":"r","userId":"u"})");
  EXPECT_EQ(l.user_id, "u");
}

TEST(Decode, BadMessages) {
  for (const char* text : {
           "not json",
           "[]",
           "1",
           "{}",
           R"({"type":5})",
           R"({"type":"join","room":"r"})",
           R"({"type":"join","room":5,"userId":"u"})",
           R"({"type":"join","room":"r","userId":""})",
           R"({"type":"join","room":"r","userId":"u","version":-1})",
           R"({"type":"join","room":"r","userId":"u","version":1.5})",
           R"({"type":"join","room":"r","userId":"u","version":9007199254740992})",
           R"({"type":"join","room":"r","userId":"u","version":"1"})",
           R"({"type":"join","room":"r","userId":"u","presence":[]})",
           R"({"type":"join","room":"r","userId":"u","timestamp":"now"})",
           R"({"type":"steps","room":"r","version":0,"steps":[],"userId":"u"})",
           R"({"type":"steps","room":"r","version":0,"steps":[1],"userId":"u"})",
           R"({"type":"steps","room":"r","version":0,"steps":{},"userId":"u"})",
           R"({"type":"steps","room":"r","steps":[{}],"userId":"u"})",
           R"({"type":"presence","room":"r","users":{}})",
           R"({"type":"presence","room":"r","users":{"a":{},"b":{}}})",
           R"({"type":"presence","room":"r","users":{"a":1}})",
           R"({"type":"leave","room":"r"})",
       }) {
    EXPECT_EQ(expect_error(text).code, ErrorCode::bad_message) << text;
  }
  std::string long_id(129, 'x');
  EXPECT_EQ(expect_error(R"({"type":"join","room":"r","userId":")" + long_id + "\"}").code,
            ErrorCode::bad_message);
  std::string ok_id(128, 'x');
  expect_message<JoinMessage>(R"({"type":"join","room":"r","userId":")" + ok_id + "\"}");
}

TEST(Decode, Precedence) {
  // A mistyped timestamp beats an unknown type; an unknown type beats a bad room.
  EXPECT_EQ(expect_error(R"({"type":"nope","timestamp":"x"})").code, ErrorCode::bad_message);
  EXPECT_EQ(expect_error(R"({"type":"nope","room":"bad room"})").code, ErrorCode::unknown_type);
  auto e = expect_error(R"({"type":"join","room":"bad room","userId":"u"})");
  EXPECT_EQ(e.code, ErrorCode::invalid_room);
  EXPECT_FALSE(e.room);
  // A bad field beats a bad room; the error names a well-formed room.
  auto f = expect_error(R"({"type":"steps","room":"ok","version":"x","steps":[{}],"userId":"u"})");
  EXPECT_EQ(f.code, ErrorCode::bad_message);
  ASSERT_TRUE(f.room);
  EXPECT_EQ(*f.room, "ok");
}

TEST(Decode, DepthLimit) {
  std::string deep_ok = R"({"type":"join","room":"r","userId":"u","presence":{"x":)";
  std::string tail = "}}";
  // The message object is depth 1 and presence depth 2: 998 arrays make 1000 levels in all.
  std::string arrays_ok(998, '['), close_ok(998, ']');
  expect_message<JoinMessage>(deep_ok + arrays_ok + close_ok + tail);
  std::string arrays_bad(999, '['), close_bad(999, ']');
  EXPECT_EQ(expect_error(deep_ok + arrays_bad + close_bad + tail).code, ErrorCode::bad_message);
}

TEST(RoomNames, Pattern) {
  EXPECT_TRUE(valid_room_name("A-z_0.9:/"));
  EXPECT_FALSE(valid_room_name(""));
  EXPECT_FALSE(valid_room_name("a b"));
  EXPECT_FALSE(valid_room_name("é"));
  EXPECT_TRUE(valid_room_name(std::string(128, 'a')));
  EXPECT_FALSE(valid_room_name(std::string(129, 'a')));
}

TEST(UserIds, CountUtf16Units) {
  // 64 astral characters are 128 UTF-16 units; 65 are 130.
  std::string smile = "\xF0\x9F\x98\x80";
  std::string ok, bad;
  for (int i = 0; i < 64; ++i) ok += smile;
  bad = ok + smile;
  EXPECT_TRUE(valid_user_id(ok));
  EXPECT_FALSE(valid_user_id(bad));
}

TEST(Encode, ServerMessages) {
  EXPECT_EQ(encode_ack("r", 3, 10), R"({"type":"ack","room":"r","version":3,"timestamp":10})");
  EXPECT_EQ(
      encode_steps("r", 2, R"([{"stepType":"replace","from":1,"to":1}])", "u", 5),
      R"({"type":"steps","room":"r","version":2,"steps":[{"stepType":"replace","from":1,"to":1}],"userId":"u","timestamp":5})");
  EXPECT_EQ(
      encode_state_steps("r", 4, "[]", {"a", "b"}, "{}", 1),
      R"({"type":"state","room":"r","version":4,"steps":[],"userIds":["a","b"],"users":{},"timestamp":1})");
  ErrorMessage e{ErrorCode::invalid_steps, "step 1: bad \"x\"", "r", std::nullopt, 1};
  EXPECT_EQ(
      encode_error(e, 2),
      R"({"type":"error","code":"invalid_steps","message":"step 1: bad \"x\"","room":"r","index":1,"timestamp":2})");
  auto parsed = json::parse(encode_join("r", "u", nullptr, 1));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->find("userId")->as_string(), "u");
}

// What a client sends (encode_client_value) is what the server reads back
// (decode_client_value), field for field, in PROTOCOL.md's key order.
TEST(Encode, ClientMessagesRoundTrip) {
  auto presence = *json::parse(R"({"cursor":{"pos":3}})");
  auto steps = *json::parse(R"([{"stepType":"replace","from":1,"to":1}])");
  std::vector<std::pair<ClientMessage, std::string>> cases = {
      {JoinMessage{"r", "u", presence, 7},
       R"({"type":"join","room":"r","userId":"u","presence":{"cursor":{"pos":3}},"version":7,"timestamp":9})"},
      {JoinMessage{"r", "u", std::nullopt, std::nullopt},
       R"({"type":"join","room":"r","userId":"u","timestamp":9})"},
      {StepsMessage{"r", 4, steps, "u"},
       R"({"type":"steps","room":"r","version":4,"steps":[{"stepType":"replace","from":1,"to":1}],"userId":"u","timestamp":9})"},
      {PresenceMessage{"r", "u", presence, 2},
       R"({"type":"presence","room":"r","users":{"u":{"cursor":{"pos":3}}},"version":2,"timestamp":9})"},
      {LeaveMessage{"r", "u"}, R"({"type":"leave","room":"r","userId":"u","timestamp":9})"},
  };
  for (const auto& [message, text] : cases) {
    json::Value v = encode_client_value(message, 9);
    EXPECT_EQ(json::stringify(v), text);
    auto back = decode_client_value(v);
    ASSERT_TRUE(std::holds_alternative<ClientMessage>(back)) << text;
    EXPECT_EQ(std::get<ClientMessage>(back).index(), message.index());
    EXPECT_EQ(json::stringify(encode_client_value(std::get<ClientMessage>(back), 9)), text);
  }
}

}  // namespace
}  // namespace rtpm::protocol
