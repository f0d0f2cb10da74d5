// libFuzzer target: the binary codec (realtime-pm.bin.v1). The input is
// decoded as binary, and also parsed as JSON and encoded; each value must
// survive encode -> decode unchanged (JSON text equal), and encoding is
// canonical (the encoding of a decoded value decodes to the same bytes).
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"

#include "rtpm/json/json.h"
#include "rtpm/protocol/binary_codec.h"

namespace {

void round_trip(const rtpm::json::Value& value) {
  using namespace rtpm;
  std::string bytes = protocol::encode_binary(value);
  Result<json::Value> decoded = protocol::decode_binary(bytes);
  fuzz::check(decoded.ok(), "encode_binary wrote bytes that do not decode: " +
                                (decoded.ok() ? "" : decoded.error().message));
  fuzz::check(json::stringify(*decoded) == json::stringify(value),
              "binary round trip changed " + json::stringify(value).substr(0, 200));
  fuzz::check(protocol::encode_binary(*decoded) == bytes, "encode_binary is not canonical");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rtpm;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Result<json::Value> decoded = protocol::decode_binary(bytes);
  if (decoded) round_trip(*decoded);
  Result<json::Value> parsed = json::parse(bytes);
  if (parsed) {
    // Through JSON text first: a number beyond double's range parses as an
    // infinity, which JSON (and so the binary form) writes as null.
    Result<json::Value> canonical = json::parse(json::stringify(*parsed));
    fuzz::check(canonical.ok(), "stringify wrote text that does not parse");
    round_trip(*canonical);
  }
  return 0;
}
