#include "rtpm/protocol/client_messages.h"

#include <set>

#include <gtest/gtest.h>

#include "rtpm/protocol/binary_codec.h"

namespace rtpm::protocol {
namespace {

/// The error decoding `text` gives, and the room an `error` would name.
struct Failed {
  Error error;
  std::optional<std::string> room;
};

Failed expect_error(std::string_view text) {
  Result<ClientMessage> r = decode_client_message(text);
  EXPECT_FALSE(r.ok()) << text;
  if (r) return {};
  auto parsed = json::parse(text);
  return {r.error(), parsed ? error_room(*parsed) : std::nullopt};
}

template <typename T>
T expect_message(std::string_view text) {
  Result<ClientMessage> r = decode_client_message(text);
  if (!r) {
    ADD_FAILURE() << text << ": " << r.error().message;
    return T{};
  }
  EXPECT_TRUE(std::holds_alternative<T>(*r)) << text;
  return std::holds_alternative<T>(*r) ? std::get<T>(*r) : T{};
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
    EXPECT_EQ(expect_error(text).error.code, ErrorCode::bad_message) << text;
  }
  std::string long_id(129, 'x');
  EXPECT_EQ(expect_error(R"({"type":"join","room":"r","userId":")" + long_id + "\"}").error.code,
            ErrorCode::bad_message);
  std::string ok_id(128, 'x');
  expect_message<JoinMessage>(R"({"type":"join","room":"r","userId":")" + ok_id + "\"}");
}

TEST(Decode, Precedence) {
  // A mistyped timestamp beats an unknown type; an unknown type beats a bad room.
  EXPECT_EQ(expect_error(R"({"type":"nope","timestamp":"x"})").error.code, ErrorCode::bad_message);
  EXPECT_EQ(expect_error(R"({"type":"nope","room":"bad room"})").error.code,
            ErrorCode::unknown_type);
  auto e = expect_error(R"({"type":"join","room":"bad room","userId":"u"})");
  EXPECT_EQ(e.error.code, ErrorCode::invalid_room);
  EXPECT_FALSE(e.room);
  // A bad field beats a bad room; the error names a well-formed room.
  auto f = expect_error(R"({"type":"steps","room":"ok","version":"x","steps":[{}],"userId":"u"})");
  EXPECT_EQ(f.error.code, ErrorCode::bad_message);
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
  EXPECT_EQ(expect_error(deep_ok + arrays_bad + close_bad + tail).error.code,
            ErrorCode::bad_message);
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

// What a client sends (encode_client_value / encode_client_message) is what
// the server reads back (decode_client_value), field for field and equal, in
// PROTOCOL.md's key order, and the binary form carries the same JSON.
TEST(Encode, ClientMessagesRoundTrip) {
  auto presence = *json::parse(R"({"cursor":{"pos":3},"name":"Ann \ud83d"})");
  auto steps = *json::parse(
      R"([{"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":"é"}]}},{"stepType":"addMark","from":1,"to":2,"mark":{"type":"em"}}])");
  std::vector<std::pair<ClientMessage, std::string>> cases = {
      {JoinMessage{"r", "u", presence, 7},
       R"({"type":"join","room":"r","userId":"u","presence":{"cursor":{"pos":3},"name":"Ann \ud83d"},"version":7,"timestamp":9})"},
      {JoinMessage{"r", "u", std::nullopt, std::nullopt},
       R"({"type":"join","room":"r","userId":"u","timestamp":9})"},
      {JoinMessage{"r", "u", std::nullopt, 3, true},
       R"({"type":"join","room":"r","userId":"u","version":3,"rebase":true,"timestamp":9})"},
      {JoinMessage{"a/b", "\xF0\x9F\x98\x80", json::Value(json::Object{}), kMaxVersion},
       R"({"type":"join","room":"a/b","userId":"😀","presence":{},"version":9007199254740991,"timestamp":9})"},
      {StepsMessage{"r", 4, steps, "u"},
       R"({"type":"steps","room":"r","version":4,"steps":[{"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":"é"}]}},{"stepType":"addMark","from":1,"to":2,"mark":{"type":"em"}}],"userId":"u","timestamp":9})"},
      {PresenceMessage{"r", "u", presence, 2},
       R"({"type":"presence","room":"r","users":{"u":{"cursor":{"pos":3},"name":"Ann \ud83d"}},"version":2,"timestamp":9})"},
      {PresenceMessage{"r", "u", json::Value(json::Object{}), std::nullopt},
       R"({"type":"presence","room":"r","users":{"u":{}},"timestamp":9})"},
      {LeaveMessage{"r", "u"}, R"({"type":"leave","room":"r","userId":"u","timestamp":9})"},
  };
  std::set<size_t> types;
  for (const auto& [message, text] : cases) {
    types.insert(message.index());
    EXPECT_EQ(encode_client_message(message, 9), text);
    json::Value v = encode_client_value(message, 9);
    EXPECT_EQ(json::stringify(v), text);
    // encode -> decode -> equal, from the value and from the text.
    Result<ClientMessage> back = decode_client_value(v);
    ASSERT_TRUE(back.ok()) << text << ": " << back.error().message;
    EXPECT_TRUE(*back == message) << text;
    Result<ClientMessage> from_text = decode_client_message(text);
    ASSERT_TRUE(from_text.ok()) << text;
    EXPECT_TRUE(*from_text == message) << text;
    // JSON -> binary -> JSON gives the same text, and the same message.
    Result<json::Value> binary = decode_binary(encode_binary(v));
    ASSERT_TRUE(binary.ok()) << text;
    EXPECT_EQ(json::stringify(*binary), text);
    Result<ClientMessage> from_binary = decode_client_value(*binary);
    ASSERT_TRUE(from_binary.ok()) << text;
    EXPECT_TRUE(*from_binary == message) << text;
  }
  EXPECT_EQ(types.size(), std::variant_size_v<ClientMessage>);
  // Equality sees every field.
  EXPECT_FALSE(ClientMessage(JoinMessage{"r", "u", std::nullopt, 1}) ==
               ClientMessage(JoinMessage{"r", "u", std::nullopt, 2}));
  EXPECT_FALSE(ClientMessage(LeaveMessage{"r", "u"}) == ClientMessage(LeaveMessage{"r", "v"}));
  EXPECT_FALSE(ClientMessage(JoinMessage{"r", "u", std::nullopt, 1, true}) ==
               ClientMessage(JoinMessage{"r", "u", std::nullopt, 1}));
}

// The `rebase` extension is asked for with `true` only (docs/protocol.md); any other value is
// version 1, never an error.
TEST(Decode, JoinRebaseOnlyWhenTrue) {
  for (const char* value : {"true", "false", "1", "\"yes\"", "null", "{}"}) {
    std::string text =
        std::string(R"({"type":"join","room":"r","userId":"u","rebase":)") + value + "}";
    Result<ClientMessage> m = decode_client_message(text);
    ASSERT_TRUE(m.ok()) << text;
    EXPECT_EQ(std::get<JoinMessage>(*m).rebase, std::string(value) == "true") << text;
  }
}

// decode_client_value never throws, whatever the value: each field of a valid
// message replaced by every kind of value decodes to a message or an error.
TEST(Decode, EveryFieldMistypedIsAnErrorNotAThrow) {
  const json::Value kinds[] = {nullptr,
                               true,
                               -1,
                               1.5,
                               "x",
                               json::Value(json::Array{}),
                               json::Value(json::Array{1}),
                               json::Value(json::Object{})};
  const std::vector<std::string> texts = {
      R"({"type":"join","room":"r","userId":"u","presence":{},"version":1,"timestamp":1})",
      R"({"type":"steps","room":"r","version":0,"steps":[{}],"userId":"u","timestamp":1})",
      R"({"type":"presence","room":"r","users":{"u":{}},"version":0,"timestamp":1})",
      R"({"type":"leave","room":"r","userId":"u","timestamp":1})"};
  int errors = 0;
  for (const std::string& text : texts) {
    const json::Value message = *json::parse(text);
    const json::Object& members = message.as_object();
    for (size_t i = 0; i < members.size(); ++i) {
      for (const json::Value& kind : kinds) {
        json::Object changed = members;
        changed[i].second = kind;
        Result<ClientMessage> r = decode_client_value(json::Value(std::move(changed)));
        if (!r) {
          ++errors;
          EXPECT_TRUE(r.error().code == ErrorCode::bad_message ||
                      r.error().code == ErrorCode::unknown_type ||
                      r.error().code == ErrorCode::invalid_room)
              << r.error().message;
          EXPECT_FALSE(r.error().message.empty());
        }
      }
    }
  }
  EXPECT_GT(errors, 100);
}

}  // namespace
}  // namespace rtpm::protocol
