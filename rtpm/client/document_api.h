// DocumentApi: a blocking C++ client of the server's HTTP document API
// (docs/api.md): list rooms, read a document at a version (JSON or text),
// read who changed what, write steps or a whole document as a backend, name,
// list and restore versions, undo one person's changes, delete a room.
//
// It speaks to the server a RealtimeClient speaks to, from the same
// ConnectionOptions (url, bearer_token, TLS options, bind_address,
// connect_timeout_ms; see http_request() in connection.h): the WebSocket URL
// `ws://HOST:PORT/ws` becomes `http://HOST:PORT/api/...`, and a `?token=` in
// the URL or a bearer token authenticates each request. Each call is one HTTP
// request on a fresh connection; the object holds nothing else, so its const
// methods may be called from several threads at once.
//
// Errors. Each method returns an ApiResult<T>, which is a Result<T>
// (rtpm/base/error.h) that also keeps what the server's error answer said
// (ApiError: the HTTP status, the wire code as sent, and the extra fields
// `version` and `index`). Error::code is the answer's code where PROTOCOL.md
// has it (version_conflict, invalid_steps, forbidden, unauthorized,
// rate_limited, message_too_large, bad_message, invalid_room, internal);
// the API's own codes, which ErrorCode does not list (not_found, name_taken,
// too_many_versions), are bad_message: the request cannot succeed as it is
// (read ApiError::code to tell them apart). An answer without a JSON error
// body maps its status: 401 unauthorized, 403 forbidden, 413
// message_too_large, 429 rate_limited, 5xx internal, other statuses
// bad_message. No answer at all (connection, TLS) is internal with status 0;
// a success answer that is not what docs/api.md says is bad_message.
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtpm/base/error.h"
#include "rtpm/client/connection.h"
#include "rtpm/json/json.h"

namespace rtpm::client {

/// What an error answer of the document API said.
struct ApiError {
  /// The HTTP status; 0 when no answer came.
  int status = 0;
  /// The `code` of the answer exactly as sent ("version_conflict",
  /// "not_found", "name_taken", ...); empty when the answer had none.
  std::string code;
  /// version_conflict: the room's current version.
  std::optional<int64_t> version;
  /// invalid_steps: the index of the step that was refused.
  std::optional<int64_t> index;
};

/// A Result<T> that, on failure, also holds the server's ApiError.
template <typename T>
class [[nodiscard]] ApiResult : public Result<T> {
 public:
  ApiResult(T value) : Result<T>(std::move(value)) {}
  ApiResult(Error error, ApiError detail = {})
      : Result<T>(std::move(error)), detail_(std::move(detail)) {}
  /// The server's answer; only on failure.
  const ApiError& api_error() const {
    assert(!this->ok());
    return detail_;
  }

 private:
  ApiError detail_;
};

template <>
class [[nodiscard]] ApiResult<void> : public Result<void> {
 public:
  ApiResult() = default;
  ApiResult(Error error, ApiError detail = {})
      : Result<void>(std::move(error)), detail_(std::move(detail)) {}
  const ApiError& api_error() const {
    assert(!ok());
    return detail_;
  }

 private:
  ApiError detail_;
};

/// One room of list_rooms().
struct RoomInfo {
  std::string room;
  int64_t version = 0;
  int64_t created = 0;  ///< Unix milliseconds
};

/// A page of rooms; `next` is the `after` of the next page (nullopt on the last one).
struct RoomList {
  std::vector<RoomInfo> rooms;
  std::optional<std::string> next;
};

/// A room's document at a version.
struct DocumentAtVersion {
  std::string room;
  int64_t version = 0;
  json::Value doc;  ///< the ProseMirror document's JSON
};

/// One step of the history: made on `version` by `user_id` at `time` (Unix ms; 0 when unknown).
struct StepEntry {
  int64_t version = 0;
  std::string user_id;
  int64_t time = 0;
  json::Value step;
};

/// A page of get_steps(): the room's current `version` and the steps.
struct StepPage {
  std::string room;
  int64_t version = 0;
  std::vector<StepEntry> steps;
};

/// A named version.
struct NamedVersion {
  std::string name;
  int64_t version = 0;
  int64_t time = 0;  ///< Unix milliseconds
};

/// What revert() did: the room's version after it, and the versions of the
/// steps whose inverse no longer applied.
struct RevertResult {
  int64_t version = 0;
  std::vector<int64_t> skipped;
};

class DocumentApi {
 public:
  /// The server of `options.url` (a WebSocket URL, as RealtimeClient's).
  explicit DocumentApi(ConnectionOptions options) : options_(std::move(options)) {}

  /// GET /api/rooms: rooms whose names start with `prefix`, after `after`
  /// (empty: from the first), at most `limit` (nullopt: the server's default, 100).
  ApiResult<RoomList> list_rooms(std::string_view prefix = {}, std::string_view after = {},
                                 std::optional<int64_t> limit = std::nullopt) const;
  /// GET /api/rooms/ROOM: the document, at `version` when given (else the current one).
  ApiResult<DocumentAtVersion> get_document(std::string_view room,
                                            std::optional<int64_t> version = std::nullopt) const;
  /// GET /api/rooms/ROOM?format=text: the document's text (blocks separated by a blank line).
  ApiResult<std::string> get_text(std::string_view room,
                                  std::optional<int64_t> version = std::nullopt) const;
  /// GET /api/rooms/ROOM/steps: the steps after version `since`, at most
  /// `limit` (nullopt: the server's default, 1,000).
  ApiResult<StepPage> get_steps(std::string_view room, int64_t since = 0,
                                std::optional<int64_t> limit = std::nullopt) const;
  /// POST /api/rooms/ROOM/steps: `steps` (a JSON array of step JSON) made on
  /// `version` by `user_id`; the room's version after them. A stale version is
  /// version_conflict with ApiError::version the current one; a step that
  /// does not apply is invalid_steps with ApiError::index.
  ApiResult<int64_t> post_steps(std::string_view room, int64_t version, std::string_view user_id,
                                const json::Value& steps) const;
  /// PUT /api/rooms/ROOM: makes the document `doc` (creating the room); the
  /// version after. `user_id` empty: the server's default author.
  ApiResult<int64_t> put_document(std::string_view room, const json::Value& doc,
                                  std::string_view user_id = {}) const;
  /// DELETE /api/rooms/ROOM.
  ApiResult<void> delete_room(std::string_view room) const;
  /// POST /api/rooms/ROOM/versions: names the current version.
  ApiResult<NamedVersion> add_version(std::string_view room, std::string_view name) const;
  /// GET /api/rooms/ROOM/versions: the named versions, in the order made.
  ApiResult<std::vector<NamedVersion>> list_versions(std::string_view room) const;
  /// POST /api/rooms/ROOM/versions/N/restore: the document of `version`
  /// again, as a new change by `user_id` (empty: the server's default); the version after.
  ApiResult<int64_t> restore(std::string_view room, int64_t version,
                             std::string_view user_id = {}) const;
  /// POST /api/rooms/ROOM/revert: undoes the steps `user_id` made on versions
  /// `from` to `to - 1`.
  ApiResult<RevertResult> revert(std::string_view room, std::string_view user_id, int64_t from,
                                 int64_t to) const;

  const ConnectionOptions& options() const { return options_; }

 private:
  ConnectionOptions options_;
};

/// `text` percent-encoded as one URL path segment or query value (every
/// byte but A-Z a-z 0-9 - . _ ~), e.g. a room name: "a/b" -> "a%2Fb".
std::string percent_encode(std::string_view text);

}  // namespace rtpm::client
