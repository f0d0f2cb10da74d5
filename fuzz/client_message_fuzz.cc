// libFuzzer target: decoding of client messages as the server does it
// (protocol::decode_client_message on JSON text, decode_binary and
// decode_client_value on binary frames). The first byte picks the
// subprotocol. A message must decode to the same result in both forms.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz/fuzz_support.h"

#include "rtpm/json/json.h"
#include "rtpm/protocol/binary_codec.h"
#include "rtpm/protocol/messages.h"

namespace {

using Decoded = std::variant<rtpm::protocol::ClientMessage, rtpm::protocol::DecodeError>;

/// A comparable summary of a decode result: the error code and message, or
/// the message's alternative and room.
std::string summary(const Decoded& d) {
  using namespace rtpm::protocol;
  if (auto* e = std::get_if<DecodeError>(&d))
    return "error " + std::string(rtpm::to_string(e->code)) + " " + e->message;
  const ClientMessage& m = std::get<ClientMessage>(d);
  return "message " + std::to_string(m.index()) + " " +
         std::visit([](const auto& x) { return x.room; }, m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rtpm;
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    Result<json::Value> value = protocol::decode_binary(bytes);
    if (!value) return 0;
    Decoded from_binary = protocol::decode_client_value(*value);
    // The same message as JSON text decodes alike.
    Decoded from_text = protocol::decode_client_message(json::stringify(*value));
    fuzz::check(
        summary(from_binary) == summary(from_text),
        "binary and JSON decode differ: " + summary(from_binary) + " / " + summary(from_text));
  } else {
    Decoded d = protocol::decode_client_message(bytes);
    if (std::holds_alternative<protocol::ClientMessage>(d)) {
      Result<json::Value> value = json::parse(bytes);
      fuzz::check(value.ok(), "a decoded message is not JSON");
      Result<json::Value> binary = protocol::decode_binary(protocol::encode_binary(*value));
      fuzz::check(binary.ok(), "encode_binary of a message does not decode");
      fuzz::check(summary(protocol::decode_client_value(*binary)) == summary(d),
                  "a message decodes differently after JSON -> binary -> JSON");
    }
  }
  return 0;
}
