// libFuzzer target: server messages decoded as the C++ client decodes them
// (protocol::decode_server_message on JSON text, decode_binary and
// decode_server_value on binary frames; the first byte picks the
// subprotocol), then the documents and steps they carry parsed against a
// built-in schema (the second byte picks basic or tiptap), as
// RealtimeClient does before it applies them. A decoded message must encode
// (encode_server_message) to a text that decodes to an equal message.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz/fuzz_support.h"

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/protocol/binary_codec.h"
#include "rtpm/protocol/server_messages.h"
#include "rtpm/transform/step.h"

namespace {

using namespace rtpm;

// What the client builds from a message; everything it throws is what the
// client catches (a std::exception) and reports.
void use(const model::Schema& schema, const protocol::ServerMessage& message) {
  try {
    if (auto* state = std::get_if<protocol::ServerState>(&message)) {
      fuzz::check(state->doc.has_value() != state->steps.has_value(),
                  "a state with both or neither of doc and steps");
      if (state->steps)
        fuzz::check(state->steps->size() == state->user_ids.size(), "userIds do not match steps");
      if (state->doc) {
        model::NodeRef doc = model::Node::from_json(schema, *state->doc);
        fuzz::check(doc->height() <= model::kMaxDepth, "a document deeper than kMaxDepth");
      }
      if (state->steps)
        for (const json::Value& step : *state->steps) transform::Step::from_json(schema, step);
    } else if (auto* steps = std::get_if<protocol::ServerSteps>(&message)) {
      for (const json::Value& step : steps->steps) transform::Step::from_json(schema, step);
    }
  } catch (const std::exception&) {
  }
}

void check_reencodes(const protocol::ServerMessage& message) {
  Result<protocol::ServerMessage> again =
      protocol::decode_server_message(protocol::encode_server_message(message, 1));
  fuzz::check(again.ok() && *again == message,
              "a decoded message does not survive encode -> decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const model::Schema& schema = fuzz::builtin(data[1]);
  std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (data[0] & 1) {
    Result<json::Value> value = protocol::decode_binary(bytes);
    if (!value) return 0;
    Result<protocol::ServerMessage> message = protocol::decode_server_value(*value);
    Result<protocol::ServerMessage> as_text =
        protocol::decode_server_message(json::stringify(*value));
    fuzz::check(message.ok() == as_text.ok(), "binary and JSON decode differ");
    if (message) {
      fuzz::check(*message == *as_text, "binary and JSON decode differ");
      check_reencodes(*message);
      use(schema, *message);
    }
  } else {
    Result<protocol::ServerMessage> message = protocol::decode_server_message(bytes);
    if (message) {
      check_reencodes(*message);
      use(schema, *message);
    }
  }
  return 0;
}
