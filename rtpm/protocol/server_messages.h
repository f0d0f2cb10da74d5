// PROTOCOL.md version 1: server -> client messages, encoded and decoded side
// by side (client_messages.h is the other direction, binary_codec.h the
// binary form of either).
//
// Encoding: every JSON text is written through json::Writer, keys in the
// order of PROTOCOL.md's tables, `type` first, `timestamp` last. The server
// encodes a broadcast once, as text, from what it already holds serialized
// (the document's and the steps' JSON text): the encode_* functions that take
// `*_json` text. encode_server_message() writes the same bytes from the
// decoded structs (clients' tests, tools).
//
// Decoding is forward compatible: a message of an unknown `type` decodes to
// UnknownServerMessage, and fields this version does not know are ignored.
// A known message with a missing or mistyped field is bad_message. Decoders
// return a Result and never throw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rtpm/base/error.h"
#include "rtpm/json/json.h"
#include "rtpm/protocol/client_messages.h"

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
  /// The server speaks the `rebase` extension with this member (docs/protocol.md).
  bool rebase = false;
  /// ...and its `echo` (own steps in broadcasts instead of acks).
  bool echo = false;
  friend bool operator==(const ServerState&, const ServerState&) = default;
};

/// `steps`: steps of `user_id` made on top of `version`.
struct ServerSteps {
  std::string room;
  int64_t version = 0;
  std::vector<json::Value> steps;
  std::string user_id;
  /// `rebase` extension: each step's author (empty: every step is `user_id`'s).
  std::vector<std::string> user_ids;
  friend bool operator==(const ServerSteps&, const ServerSteps&) = default;
};

/// `ack`: the sender's last steps were accepted; `version` is the room's version after them.
struct ServerAck {
  std::string room;
  int64_t version = 0;
  /// `rebase` extension: the batch as the server applied it after rebasing it (made on
  /// `version - steps->size()`); nullopt when it applied as sent.
  std::optional<std::vector<json::Value>> steps;
  friend bool operator==(const ServerAck&, const ServerAck&) = default;
};

/// `presence`: changed entries; positions refer to `version`.
struct ServerPresence {
  std::string room;
  std::vector<std::pair<std::string, json::Value>> users;
  int64_t version = 0;
  friend bool operator==(const ServerPresence&, const ServerPresence&) = default;
};

/// `join`: someone entered the room.
struct ServerJoin {
  std::string room;
  std::string user_id;
  std::optional<json::Value> presence;
  friend bool operator==(const ServerJoin&, const ServerJoin&) = default;
};

/// `leave`: someone left the room or disconnected.
struct ServerLeave {
  std::string room;
  std::string user_id;
  friend bool operator==(const ServerLeave&, const ServerLeave&) = default;
};

/// `error`. `code` is the wire string; `known_code` is set when it is one of PROTOCOL.md's.
struct ServerError {
  std::string code;
  std::optional<ErrorCode> known_code;
  std::string message;
  std::optional<std::string> room;
  std::optional<int64_t> version;
  std::optional<int64_t> index;
  friend bool operator==(const ServerError&, const ServerError&) = default;
};

/// A message of a type this version does not know (ignored by clients).
struct UnknownServerMessage {
  std::string type;
  friend bool operator==(const UnknownServerMessage&, const UnknownServerMessage&) = default;
};

using ServerMessage = std::variant<ServerState, ServerSteps, ServerAck, ServerPresence, ServerJoin,
                                   ServerLeave, ServerError, UnknownServerMessage>;

/// A server message as JSON text. `users` are written in vector order, an
/// unknown message as {"type":...,"timestamp":...}; ServerError's `code` as
/// it is (known_code is not consulted).
std::string encode_server_message(const ServerMessage& message, int64_t timestamp);

// The server's encoders, from serialized parts; each returns the message's
// JSON text. `*_json` arguments are JSON texts written in place unchecked.

/// `state` with the whole document (`doc_json` is the document's JSON text).
/// `rebase`: the member speaks the `rebase` extension (`"rebase":true` after `users`); `echo`:
/// and its `echo` (`"echo":true` after that).
std::string encode_state_doc(std::string_view room, int64_t version, std::string_view doc_json,
                             std::string_view users_json, int64_t timestamp, bool rebase = false,
                             bool echo = false);
/// `state` with the steps since the joiner's version (`steps_json` is a JSON
/// array text, `user_ids` one per step).
std::string encode_state_steps(std::string_view room, int64_t version, std::string_view steps_json,
                               const std::vector<std::string>& user_ids,
                               std::string_view users_json, int64_t timestamp, bool rebase = false,
                               bool echo = false);
/// The same from each step's JSON text (the room's history entries).
std::string encode_state_steps(std::string_view room, int64_t version,
                               const std::vector<std::string_view>& step_jsons,
                               const std::vector<std::string>& user_ids,
                               std::string_view users_json, int64_t timestamp, bool rebase = false,
                               bool echo = false);
/// `steps` broadcast: steps made on top of `version` by `user_id`.
std::string encode_steps(std::string_view room, int64_t version, std::string_view steps_json,
                         std::string_view user_id, int64_t timestamp);
/// The same from each step's JSON text (collab::Authority::Accepted::step_json).
std::string encode_steps(std::string_view room, int64_t version,
                         const std::vector<std::string>& step_jsons, std::string_view user_id,
                         int64_t timestamp);
/// `steps` broadcast of the `rebase` extension: steps by several authors (`user_ids`, one
/// per step; `userId` is the first's).
std::string encode_steps(std::string_view room, int64_t version,
                         const std::vector<std::string_view>& step_jsons,
                         const std::vector<std::string_view>& user_ids, int64_t timestamp);
std::string encode_ack(std::string_view room, int64_t version, int64_t timestamp);
/// `ack` of the `rebase` extension with the steps as applied (each step's JSON text).
std::string encode_ack(std::string_view room, int64_t version,
                       const std::vector<std::string>& step_jsons, int64_t timestamp);
/// `presence`: `users_json` is an object text of changed entries.
std::string encode_presence(std::string_view room, std::string_view users_json, int64_t version,
                            int64_t timestamp);
/// `presence` with one user's entry.
std::string encode_presence(std::string_view room, std::string_view user_id,
                            const json::Value& entry, int64_t version, int64_t timestamp);
/// One member `"userId":entry` of a `presence` message's `users`, written once and shared by
/// the messages of encode_presence_members.
std::string presence_member(std::string_view user_id, const json::Value& entry);
/// `presence` whose `users` are `members` (texts of presence_member) in order, all but
/// `members[skip]` (skip >= members.size(): all of them).
std::string encode_presence_members(std::string_view room, const std::vector<std::string>& members,
                                    size_t skip, int64_t version, int64_t timestamp);
std::string encode_join(std::string_view room, std::string_view user_id,
                        const json::Value* presence, int64_t timestamp);
std::string encode_leave(std::string_view room, std::string_view user_id, int64_t timestamp);

/// An `error` as the server sends it. `code` is mapped to its wire string here
/// (rtpm::to_string) and nowhere else on the server.
struct ErrorMessage {
  ErrorCode code = ErrorCode::internal;
  std::string message;
  std::optional<std::string> room;
  std::optional<int64_t> version;
  std::optional<int> index;
};
std::string encode_error(const ErrorMessage& error, int64_t timestamp);
/// The `error` answering `error` (a decoding failure, a room's refusal...) about `room`.
std::string encode_error(const Error& error, std::optional<std::string> room, int64_t timestamp);

/// Decodes one server message given as JSON text. Errors: bad_message.
Result<ServerMessage> decode_server_message(std::string_view text);
/// Decodes an already parsed message (e.g. from the binary codec). Errors: bad_message.
Result<ServerMessage> decode_server_value(const json::Value& message);
/// True when a frame (JSON text, or `binary`) is certainly a server `presence`: its first
/// member is `"type":"presence"`, as this server writes it. A client that ignores others'
/// presence skips decoding such frames; false only means "decode it to know".
bool is_presence_frame(std::string_view frame, bool binary);

/// The ErrorCode of a wire string ("version_conflict" -> version_conflict); nullopt if unknown.
std::optional<ErrorCode> error_code_from_string(std::string_view code);

}  // namespace rtpm::protocol
