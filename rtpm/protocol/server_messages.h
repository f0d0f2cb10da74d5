// PROTOCOL.md version 1: decoding server -> client messages (the client's
// side of messages.h, which decodes client messages and encodes server ones).
//
// Forward compatible: a message of an unknown `type` decodes to
// UnknownServerMessage, and fields this version does not know are ignored.
// A known message with a missing or mistyped field is bad_message.
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

/// `state`: the answer to `join`.
struct ServerState {
  std::string room;
  int64_t version = 0;
  /// The whole document at `version` (a Node JSON object), or...
  std::optional<json::Value> doc;
  /// ...the steps since the version the join named, with who made each
  /// (`user_ids.size() == steps.size()`).
  std::optional<std::vector<json::Value>> steps;
  std::vector<std::string> user_ids;
  /// Everyone's presence: (userId, entry object) in message order.
  std::vector<std::pair<std::string, json::Value>> users;
};

/// `steps`: steps of `user_id` made on top of `version`.
struct ServerSteps {
  std::string room;
  int64_t version = 0;
  std::vector<json::Value> steps;
  std::string user_id;
};

/// `ack`: the sender's last steps were accepted; `version` is the room's version after them.
struct ServerAck {
  std::string room;
  int64_t version = 0;
};

/// `presence`: changed entries; positions refer to `version`.
struct ServerPresence {
  std::string room;
  std::vector<std::pair<std::string, json::Value>> users;
  int64_t version = 0;
};

/// `join`: someone entered the room.
struct ServerJoin {
  std::string room;
  std::string user_id;
  std::optional<json::Value> presence;
};

/// `leave`: someone left the room or disconnected.
struct ServerLeave {
  std::string room;
  std::string user_id;
};

/// `error`. `code` is the wire string; `known_code` is set when it is one of PROTOCOL.md's.
struct ServerError {
  std::string code;
  std::optional<ErrorCode> known_code;
  std::string message;
  std::optional<std::string> room;
  std::optional<int64_t> version;
  std::optional<int64_t> index;
};

/// A message of a type this version does not know (ignored by clients).
struct UnknownServerMessage {
  std::string type;
};

using ServerMessage = std::variant<ServerState, ServerSteps, ServerAck, ServerPresence, ServerJoin,
                                   ServerLeave, ServerError, UnknownServerMessage>;

/// Decodes one server message given as JSON text. Errors: bad_message.
Result<ServerMessage> decode_server_message(std::string_view text);
/// Decodes an already parsed message (e.g. from the binary codec). Errors: bad_message.
Result<ServerMessage> decode_server_value(const json::Value& message);

/// The ErrorCode of a wire string ("version_conflict" -> version_conflict); nullopt if unknown.
std::optional<ErrorCode> error_code_from_string(std::string_view code);

}  // namespace rtpm::protocol
