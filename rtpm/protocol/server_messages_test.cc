#include "rtpm/protocol/server_messages.h"

#include <set>

#include <gtest/gtest.h>

#include "rtpm/protocol/binary_codec.h"

namespace rtpm::protocol {
namespace {

json::Value parse(std::string_view text) {
  Result<json::Value> v = json::parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v ? *v : json::Value();
}

TEST(Encode, ServerMessages) {
  EXPECT_EQ(encode_ack("r", 3, 10), R"({"type":"ack","room":"r","version":3,"timestamp":10})");
  EXPECT_EQ(
      encode_steps("r", 2, R"([{"stepType":"replace","from":1,"to":1}])", "u", 5),
      R"({"type":"steps","room":"r","version":2,"steps":[{"stepType":"replace","from":1,"to":1}],"userId":"u","timestamp":5})");
  EXPECT_EQ(
      encode_state_steps("r", 4, "[]", {"a", "b"}, "{}", 1),
      R"({"type":"state","room":"r","version":4,"steps":[],"userIds":["a","b"],"users":{},"timestamp":1})");
  // From one text per step: the same bytes as from the array text.
  std::vector<std::string> step_texts = {R"({"stepType":"replace","from":1,"to":1})",
                                         R"({"stepType":"addMark","from":1,"to":2})"};
  std::string array_text = "[" + step_texts[0] + "," + step_texts[1] + "]";
  EXPECT_EQ(encode_steps("r", 2, step_texts, "u", 5), encode_steps("r", 2, array_text, "u", 5));
  EXPECT_EQ(encode_steps("r", 2, std::vector<std::string>{}, "u", 5),
            encode_steps("r", 2, "[]", "u", 5));
  EXPECT_EQ(encode_state_steps("r", 4, std::vector<std::string_view>{step_texts[0], step_texts[1]},
                               {"a", "b"}, "{}", 1),
            encode_state_steps("r", 4, array_text, {"a", "b"}, "{}", 1));
  EXPECT_EQ(
      encode_state_doc("r", 4, R"({"type":"doc"})", R"({"a":{}})", 1),
      R"({"type":"state","room":"r","version":4,"doc":{"type":"doc"},"users":{"a":{}},"timestamp":1})");
  EXPECT_EQ(encode_presence("r", R"({"u":{"x":1}})", 3, 4),
            R"({"type":"presence","room":"r","users":{"u":{"x":1}},"version":3,"timestamp":4})");
  EXPECT_EQ(encode_presence("r", "u\"", parse(R"({"x":1})"), 3, 4),
            R"({"type":"presence","room":"r","users":{"u\"":{"x":1}},"version":3,"timestamp":4})");
  // Members written once, shared by several messages: all, or all but one.
  std::vector<std::string> members = {presence_member("a", parse(R"({"x":1})")),
                                      presence_member("u\"", parse("{}"))};
  EXPECT_EQ(members[1], R"("u\"":{})");
  EXPECT_EQ(encode_presence_members("r", members, 2, 3, 4),
            encode_presence("r", R"({"a":{"x":1},"u\"":{}})", 3, 4));
  EXPECT_EQ(encode_presence_members("r", members, 0, 3, 4),
            R"({"type":"presence","room":"r","users":{"u\"":{}},"version":3,"timestamp":4})");
  EXPECT_EQ(encode_presence_members("r", members, 1, 3, 4),
            encode_presence("r", "a", parse(R"({"x":1})"), 3, 4));
  EXPECT_EQ(encode_presence_members("r", {}, 0, 3, 4), encode_presence("r", "{}", 3, 4));
  ErrorMessage e{ErrorCode::invalid_steps, "step 1: bad \"x\"", "r", std::nullopt, 1};
  EXPECT_EQ(
      encode_error(e, 2),
      R"({"type":"error","code":"invalid_steps","message":"step 1: bad \"x\"","room":"r","index":1,"timestamp":2})");
  EXPECT_EQ(encode_error(Error{ErrorCode::bad_message, "no"}, std::nullopt, 2),
            R"({"type":"error","code":"bad_message","message":"no","timestamp":2})");
  EXPECT_EQ(encode_join("r", "u", nullptr, 1),
            R"({"type":"join","room":"r","userId":"u","timestamp":1})");
  json::Value presence = parse(R"({"name":"A"})");
  EXPECT_EQ(encode_join("r", "u", &presence, 1),
            R"({"type":"join","room":"r","userId":"u","presence":{"name":"A"},"timestamp":1})");
  EXPECT_EQ(encode_leave("r", "\xF0\x9F\x98\x80", 1),
            R"({"type":"leave","room":"r","userId":"😀","timestamp":1})");
}

// Every server message type: encode -> decode -> equal, and JSON -> binary ->
// JSON gives the same text that decodes to the same message.
TEST(Encode, ServerMessagesRoundTrip) {
  json::Value doc = parse(
      R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"h\ud83dé"}]}]})");
  json::Value step = parse(R"({"stepType":"replace","from":1,"to":1})");
  json::Value step2 = parse(
      R"({"stepType":"addMark","from":1,"to":2,"mark":{"type":"link","attrs":{"href":"x"}}})");
  std::vector<std::pair<std::string, json::Value>> users = {
      {"bob", parse(R"({"cursor":{"pos":3},"name":"Bob"})")}, {"me", parse("{}")}};
  std::vector<std::pair<ServerMessage, std::string>> cases = {
      {ServerState{"r", 3, doc, std::nullopt, {}, users},
       R"({"type":"state","room":"r","version":3,"doc":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"h\ud83dé"}]}]},"users":{"bob":{"cursor":{"pos":3},"name":"Bob"},"me":{}},"timestamp":5})"},
      {ServerState{"r", 5, std::nullopt, std::vector<json::Value>{step, step2}, {"a", "b"}, {}},
       R"({"type":"state","room":"r","version":5,"steps":[{"stepType":"replace","from":1,"to":1},{"stepType":"addMark","from":1,"to":2,"mark":{"type":"link","attrs":{"href":"x"}}}],"userIds":["a","b"],"users":{},"timestamp":5})"},
      {ServerState{"r", 5, std::nullopt, std::vector<json::Value>{}, {}, users},
       R"({"type":"state","room":"r","version":5,"steps":[],"userIds":[],"users":{"bob":{"cursor":{"pos":3},"name":"Bob"},"me":{}},"timestamp":5})"},
      {ServerSteps{"r", kMaxVersion - 1, {step, step2}, "u"},
       R"({"type":"steps","room":"r","version":9007199254740990,"steps":[{"stepType":"replace","from":1,"to":1},{"stepType":"addMark","from":1,"to":2,"mark":{"type":"link","attrs":{"href":"x"}}}],"userId":"u","timestamp":5})"},
      {ServerAck{"r", 0}, R"({"type":"ack","room":"r","version":0,"timestamp":5})"},
      // The `rebase` extension's fields (docs/protocol.md).
      {ServerState{"r", 3, doc, std::nullopt, {}, {}, true},
       R"({"type":"state","room":"r","version":3,"doc":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"h\ud83dé"}]}]},"users":{},"rebase":true,"timestamp":5})"},
      {ServerState{"r", 5, std::nullopt, std::vector<json::Value>{step}, {"a"}, {}, true},
       R"({"type":"state","room":"r","version":5,"steps":[{"stepType":"replace","from":1,"to":1}],"userIds":["a"],"users":{},"rebase":true,"timestamp":5})"},
      {ServerSteps{"r", 2, {step, step2}, "a", {"a", "b"}},
       R"({"type":"steps","room":"r","version":2,"steps":[{"stepType":"replace","from":1,"to":1},{"stepType":"addMark","from":1,"to":2,"mark":{"type":"link","attrs":{"href":"x"}}}],"userId":"a","userIds":["a","b"],"timestamp":5})"},
      {ServerAck{"r", 9, std::vector<json::Value>{step}},
       R"({"type":"ack","room":"r","version":9,"steps":[{"stepType":"replace","from":1,"to":1}],"timestamp":5})"},
      {ServerAck{"r", 9, std::vector<json::Value>{}},
       R"({"type":"ack","room":"r","version":9,"steps":[],"timestamp":5})"},
      {ServerPresence{"r", users, 7},
       R"({"type":"presence","room":"r","users":{"bob":{"cursor":{"pos":3},"name":"Bob"},"me":{}},"version":7,"timestamp":5})"},
      {ServerJoin{"r", "u", users[0].second},
       R"({"type":"join","room":"r","userId":"u","presence":{"cursor":{"pos":3},"name":"Bob"},"timestamp":5})"},
      {ServerJoin{"r", "u", std::nullopt},
       R"({"type":"join","room":"r","userId":"u","timestamp":5})"},
      {ServerLeave{"r", "u"}, R"({"type":"leave","room":"r","userId":"u","timestamp":5})"},
      {ServerError{"version_conflict", ErrorCode::version_conflict, "stale", "r", 4, std::nullopt},
       R"({"type":"error","code":"version_conflict","message":"stale","room":"r","version":4,"timestamp":5})"},
      {ServerError{"invalid_steps", ErrorCode::invalid_steps, "step 2", "r", std::nullopt, 2},
       R"({"type":"error","code":"invalid_steps","message":"step 2","room":"r","index":2,"timestamp":5})"},
      {ServerError{"from_the_future", std::nullopt, "", std::nullopt, std::nullopt, std::nullopt},
       R"({"type":"error","code":"from_the_future","message":"","timestamp":5})"},
      {UnknownServerMessage{"hello"}, R"({"type":"hello","timestamp":5})"},
  };
  std::set<size_t> types;
  for (const auto& [message, text] : cases) {
    types.insert(message.index());
    std::string encoded = encode_server_message(message, 5);
    EXPECT_EQ(encoded, text);
    Result<ServerMessage> back = decode_server_message(encoded);
    ASSERT_TRUE(back.ok()) << text << ": " << back.error().message;
    EXPECT_TRUE(*back == message) << text;
    Result<json::Value> binary = decode_binary(encode_binary(parse(encoded)));
    ASSERT_TRUE(binary.ok()) << text;
    EXPECT_EQ(json::stringify(*binary), text);
    Result<ServerMessage> from_binary = decode_server_value(*binary);
    ASSERT_TRUE(from_binary.ok()) << text;
    EXPECT_TRUE(*from_binary == message) << text;
  }
  EXPECT_EQ(types.size(), std::variant_size_v<ServerMessage>);
  EXPECT_FALSE(ServerMessage(ServerAck{"r", 1}) == ServerMessage(ServerAck{"r", 2}));
  EXPECT_FALSE(ServerMessage(ServerAck{"r", 1}) ==
               ServerMessage(ServerAck{"r", 1, std::vector<json::Value>{}}));
  // The server's own encoders write the same texts as the struct encoder.
  std::vector<std::string> step_texts = {json::stringify(step), json::stringify(step2)};
  EXPECT_EQ(encode_ack("r", 9, {step_texts[0]}, 5),
            encode_server_message(ServerAck{"r", 9, std::vector<json::Value>{step}}, 5));
  EXPECT_EQ(encode_steps("r", 2, std::vector<std::string_view>{step_texts[0], step_texts[1]},
                         std::vector<std::string_view>{"a", "b"}, 5),
            encode_server_message(ServerSteps{"r", 2, {step, step2}, "a", {"a", "b"}}, 5));
}

TEST(Decode, RebaseFieldsMistyped) {
  for (
      const char* text : {
          R"({"type":"steps","room":"r","version":1,"steps":[{}],"userId":"a","userIds":"a"})",
          R"({"type":"steps","room":"r","version":1,"steps":[{}],"userId":"a","userIds":["a","b"]})",
          R"({"type":"steps","room":"r","version":1,"steps":[{}],"userId":"a","userIds":[1]})",
          R"({"type":"ack","room":"r","version":1,"steps":{}})",
          R"({"type":"ack","room":"r","version":1,"steps":[1]})",
      }) {
    Result<ServerMessage> m = decode_server_message(text);
    ASSERT_FALSE(m.ok()) << text;
    EXPECT_EQ(m.error().code, ErrorCode::bad_message) << text;
  }
}

// A client that ignores others' presence skips presence frames by their first member, in
// both subprotocols; anything else (or a presence whose `type` is not first) is decoded.
TEST(Decode, PresenceFramesAreKnownByTheirFirstMember) {
  std::string presence = encode_presence("r", R"({"u":{"cursor":{"pos":1}}})", 3, 1);
  std::string steps = encode_steps("r", 0, R"([{"stepType":"replace","from":1,"to":1}])", "u", 1);
  std::string ack = encode_ack("r", 1, 1);
  EXPECT_TRUE(is_presence_frame(presence, false));
  EXPECT_TRUE(is_presence_frame(encode_binary(parse(presence)), true));
  for (const std::string& other :
       {steps, ack, std::string(R"({"room":"r","type":"presence","users":{},"version":0})"),
        std::string(R"({"type":"presenceX"})"), std::string()}) {
    EXPECT_FALSE(is_presence_frame(other, false)) << other;
    if (!other.empty()) {
      EXPECT_FALSE(is_presence_frame(encode_binary(parse(other)), true)) << other;
    }
  }
  EXPECT_FALSE(is_presence_frame("", true));
  EXPECT_FALSE(is_presence_frame(std::string(1, '\x09'), true));  // truncated
}

TEST(Decode, ServerMessageErrors) {
  for (const char* text : {
           "nope",
           "[]",
           R"({"room":"r"})",
           R"({"type":1})",
           R"({"type":"ack","room":"r"})",
           R"({"type":"ack","room":"r","version":-1})",
           R"({"type":"ack","room":"r","version":1.5})",
           R"({"type":"steps","room":"r","version":1,"steps":[],"userId":"u"})",
           R"({"type":"steps","room":"r","version":1,"steps":[1],"userId":"u"})",
           R"({"type":"state","room":"r","version":1,"users":{}})",
           R"({"type":"state","room":"r","version":1,"doc":{},"steps":[],"userIds":[],"users":{}})",
           R"({"type":"state","room":"r","version":1,"steps":[{}],"userIds":[],"users":{}})",
           R"({"type":"state","room":"r","version":1,"doc":{},"users":{"u":1}})",
           R"({"type":"presence","room":"r","users":{},"version":"1"})",
           R"({"type":"join","room":"r","userId":"u","presence":1})",
           R"({"type":"leave","room":"r"})",
           R"({"type":"error","message":"no code"})",
           R"({"type":"error","code":"x","index":-1})",
       }) {
    Result<ServerMessage> r = decode_server_message(text);
    EXPECT_FALSE(r.ok()) << text;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::bad_message) << text;
    }
  }
  // Unknown types and unknown fields are not errors (forward compatibility).
  Result<ServerMessage> later = decode_server_message(R"({"type":"later","x":1})");
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(std::get<UnknownServerMessage>(*later).type, "later");
  Result<ServerMessage> extra =
      decode_server_message(R"({"type":"ack","room":"r","version":1,"new":[1]})");
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(*extra == ServerMessage(ServerAck{"r", 1}));
}

TEST(ErrorCodes, WireStringsRoundTrip) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::internal); ++i) {
    auto code = static_cast<ErrorCode>(i);
    EXPECT_EQ(error_code_from_string(to_string(code)), code);
  }
  EXPECT_FALSE(error_code_from_string("nope"));
}

}  // namespace
}  // namespace rtpm::protocol
