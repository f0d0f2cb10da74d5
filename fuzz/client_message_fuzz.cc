// libFuzzer target: decoding of client messages as the server does it
// (protocol::decode_client_message on JSON text, decode_binary and
// decode_client_value on binary frames). The first byte picks the
// subprotocol. A message must decode to the same result in both forms, and
// a decoded message must encode (encode_client_value) to a value that
// decodes to an equal message.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz/fuzz_support.h"

#include "rtpm/json/json.h"
#include "rtpm/protocol/binary_codec.h"
#include "rtpm/protocol/client_messages.h"

namespace {

using Decoded = rtpm::Result<rtpm::protocol::ClientMessage>;

/// A comparable summary of a decode result: the error code and message, or
/// the message's alternative and room.
std::string summary(const Decoded& d) {
  using namespace rtpm::protocol;
  if (!d) return "error " + std::string(rtpm::to_string(d.error().code)) + " " + d.error().message;
  return "message " + std::to_string(d->index()) + " " +
         std::visit([](const auto& x) { return x.room; }, *d);
}

/// A decoded message encodes to a value that decodes to an equal message.
void check_reencodes(const Decoded& d) {
  using namespace rtpm;
  if (!d) return;
  Decoded again = protocol::decode_client_value(protocol::encode_client_value(*d, 1));
  fuzz::check(again.ok() && *again == *d, "a decoded message does not survive encode -> decode");
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
    check_reencodes(from_binary);
    // The same message as JSON text decodes alike.
    Decoded from_text = protocol::decode_client_message(json::stringify(*value));
    fuzz::check(
        summary(from_binary) == summary(from_text),
        "binary and JSON decode differ: " + summary(from_binary) + " / " + summary(from_text));
  } else {
    Decoded d = protocol::decode_client_message(bytes);
    check_reencodes(d);
    if (d) {
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
