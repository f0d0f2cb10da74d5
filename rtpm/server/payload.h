// Payload: one outgoing message, encoded once and shared by every recipient
// of a broadcast. The JSON text is made by the room; the binary form
// (realtime-pm.bin.v1) is derived from it once, on first use, for whichever
// recipients speak the binary subprotocol.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "rtpm/protocol/binary_codec.h"

namespace rtpm::server {

class Payload {
 public:
  explicit Payload(std::string json) : json_(std::move(json)) {}
  const std::string& json() const { return json_; }
  /// The binary encoding of the same message (thread-safe, computed once).
  const std::string& binary() const {
    std::call_once(once_, [this] {
      auto v = json::parse(json_);
      binary_ = v ? protocol::encode_binary(*v) : std::string();
    });
    return binary_;
  }

 private:
  std::string json_;
  mutable std::once_flag once_;
  mutable std::string binary_;
};

using PayloadPtr = std::shared_ptr<const Payload>;

inline PayloadPtr make_payload(std::string json) {
  return std::make_shared<const Payload>(std::move(json));
}

}  // namespace rtpm::server
