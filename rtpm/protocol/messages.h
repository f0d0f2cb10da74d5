// PROTOCOL.md version 1: the messages of the JSON subprotocol
// (`realtime-pm.json.v1`), their validation, and their encoding.
//
// Decoding follows PROTOCOL.md's precedence: every mistyped or missing field
// is `bad_message` (checked first), then an unknown `type` is
// `unknown_type`, then a room name that does not match
// ^[A-Za-z0-9._:/-]{1,128}$ is `invalid_room`. Membership, permission,
// version and step checks belong to the room. Server messages are encoded
// once per broadcast, as text, in a fixed key order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

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
};

struct StepsMessage {
  std::string room;
  int64_t version = 0;
  json::Value steps;  // a non-empty array of objects
  std::string user_id;
};

struct PresenceMessage {
  std::string room;
  /// The one key of `users`.
  std::string user_id;
  /// Its entry (an object).
  json::Value presence;
  std::optional<int64_t> version;
};

struct LeaveMessage {
  std::string room;
  std::string user_id;
};

using ClientMessage = std::variant<JoinMessage, StepsMessage, PresenceMessage, LeaveMessage>;

/// A decoding error: the code, a message, and the room when the message named a valid one.
struct DecodeError {
  ErrorCode code = ErrorCode::bad_message;
  std::string message;
  std::optional<std::string> room;
};

struct DecodeOptions {
  /// Deepest JSON nesting accepted (PROTOCOL.md: at least 1,000).
  int max_depth = 1000;
};

/// Decodes and validates one client message given as JSON text.
std::variant<ClientMessage, DecodeError> decode_client_message(std::string_view text,
                                                               const DecodeOptions& options = {});
/// Validates an already parsed message (used by the binary codec).
std::variant<ClientMessage, DecodeError> decode_client_value(const json::Value& message);

/// The JSON value of a client message as a client sends it: keys in the
/// order of PROTOCOL.md's table, `type` first, `timestamp` last; `presence`
/// as `users: {userId: entry}`. decode_client_value() reads it back.
json::Value encode_client_value(const ClientMessage& message, int64_t timestamp);

/// True when `room` matches ^[A-Za-z0-9._:/-]{1,128}$.
bool valid_room_name(std::string_view room);
/// True when `user_id` is a string of 1 to 128 UTF-16 code units.
bool valid_user_id(std::string_view user_id_wtf8);

/// Milliseconds since the Unix epoch (the `timestamp` of server messages).
int64_t now_ms();

// Server -> client encoders. Each returns the message's JSON text; keys are
// written in the order of PROTOCOL.md's tables, `type` first, `timestamp` last.

/// `state` with the whole document (`doc_json` is the document's JSON text).
std::string encode_state_doc(std::string_view room, int64_t version, std::string_view doc_json,
                             std::string_view users_json, int64_t timestamp);
/// `state` with the steps since the joiner's version (`steps_json` is a JSON
/// array text, `user_ids` one per step).
std::string encode_state_steps(std::string_view room, int64_t version, std::string_view steps_json,
                               const std::vector<std::string>& user_ids,
                               std::string_view users_json, int64_t timestamp);
/// `steps` broadcast: steps made on top of `version` by `user_id`.
std::string encode_steps(std::string_view room, int64_t version, std::string_view steps_json,
                         std::string_view user_id, int64_t timestamp);
std::string encode_ack(std::string_view room, int64_t version, int64_t timestamp);
/// `presence`: `users_json` is an object text of changed entries.
std::string encode_presence(std::string_view room, std::string_view users_json, int64_t version,
                            int64_t timestamp);
std::string encode_join(std::string_view room, std::string_view user_id,
                        const json::Value* presence, int64_t timestamp);
std::string encode_leave(std::string_view room, std::string_view user_id, int64_t timestamp);

/// An `error` message.
struct ErrorMessage {
  ErrorCode code = ErrorCode::internal;
  std::string message;
  std::optional<std::string> room;
  std::optional<int64_t> version;
  std::optional<int> index;
};
std::string encode_error(const ErrorMessage& error, int64_t timestamp);

}  // namespace rtpm::protocol
