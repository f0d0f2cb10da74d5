// PROTOCOL.md version 1: client -> server messages, decoded and encoded side
// by side (server_messages.h is the other direction, binary_codec.h the
// binary form of either).
//
// Decoding follows PROTOCOL.md's precedence: every mistyped or missing field
// is `bad_message` (checked first), then an unknown `type` is
// `unknown_type`, then a room name that does not match
// ^[A-Za-z0-9._:/-]{1,128}$ is `invalid_room`. Membership, permission,
// version and step checks belong to the room. Decoders return a Result and
// never throw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "rtpm/base/error.h"
#include "rtpm/json/json.h"

namespace rtpm::protocol {

/// The largest `version` (2^53 - 1, JavaScript's largest safe integer).
inline constexpr int64_t kMaxVersion = (int64_t{1} << 53) - 1;

struct JoinMessage {
  std::string room;
  std::string user_id;
  std::optional<json::Value> presence;  // an object
  std::optional<int64_t> version;
  /// Asks for the `rebase` extension (docs/protocol.md): `"rebase":true`.
  bool rebase = false;
  /// With `rebase`: asks for `echo` too (own steps in broadcasts): `"echo":true`.
  bool echo = false;
  friend bool operator==(const JoinMessage&, const JoinMessage&) = default;
};

struct StepsMessage {
  std::string room;
  int64_t version = 0;
  json::Value steps;  // a non-empty array of objects
  std::string user_id;
  friend bool operator==(const StepsMessage&, const StepsMessage&) = default;
};

struct PresenceMessage {
  std::string room;
  /// The one key of `users`.
  std::string user_id;
  /// Its entry (an object).
  json::Value presence;
  std::optional<int64_t> version;
  friend bool operator==(const PresenceMessage&, const PresenceMessage&) = default;
};

struct LeaveMessage {
  std::string room;
  std::string user_id;
  friend bool operator==(const LeaveMessage&, const LeaveMessage&) = default;
};

using ClientMessage = std::variant<JoinMessage, StepsMessage, PresenceMessage, LeaveMessage>;

struct DecodeOptions {
  /// Deepest JSON nesting accepted (PROTOCOL.md: at least 1,000).
  int max_depth = 1000;
};

/// Decodes and validates one client message given as JSON text. Errors carry
/// bad_message, unknown_type or invalid_room (see the file comment).
Result<ClientMessage> decode_client_message(std::string_view text,
                                            const DecodeOptions& options = {});
/// Validates an already parsed message (JSON text parsed, or a binary frame
/// decoded by binary_codec.h). Errors as decode_client_message().
Result<ClientMessage> decode_client_value(const json::Value& message);
/// The room an `error` answering `message` names: its `room` when that is a
/// well-formed room name, whatever else was wrong with the message.
std::optional<std::string> error_room(const json::Value& message);

/// The JSON value of a client message as a client sends it: keys in the
/// order of PROTOCOL.md's table, `type` first, `timestamp` last; `presence`
/// as `users: {userId: entry}`. decode_client_value() reads it back; the
/// binary subprotocol sends binary_codec.h's encoding of this value.
json::Value encode_client_value(const ClientMessage& message, int64_t timestamp);
/// The same message as JSON text (the JSON subprotocol's frame).
std::string encode_client_message(const ClientMessage& message, int64_t timestamp);

/// Milliseconds since the Unix epoch (the `timestamp` of every message).
int64_t now_ms();

/// True when `room` matches ^[A-Za-z0-9._:/-]{1,128}$.
bool valid_room_name(std::string_view room);
/// True when `v` is a number that is an integer from 0 to kMaxVersion (a `version`).
bool valid_version(const json::Value& v);
/// True when `user_id` is a string of 1 to 128 UTF-16 code units.
bool valid_user_id(std::string_view user_id_wtf8);

}  // namespace rtpm::protocol
