// The server's HTTP answers, sans-I/O: one parsed request in, a decision out. HttpSession does
// the reading and writing; unit tests (http_handler_test.cc) and the fuzz target
// (fuzz/http_request_fuzz.cc) call these functions directly, with no socket.
//
// Routes: GET/HEAD /healthz, /metrics, /api/schema, the document API under /api/rooms (parsed
// by api_routes.cc into an ApiRequest, carried out by document_api.h; docs/api.md), /ws (the
// WebSocket upgrade: UpgradeRequest), POST
// /api/admin/revoke and /api/admin/rooms/ROOM/remove (with --admin-token-file), and / (files of
// the --static folder, or a short notice). With an Authenticator, the Host, the Origin and the
// tokens are checked first (docs/security.md). Every answer is complete and consistent: a HEAD
// answer carries the Content-Length of the GET answer and no body; an error closes the
// connection when the request stream cannot be trusted any more (parse errors).
//
// Thread-safe: every function is pure, except that handle_request reads static files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "rtpm/auth/access.h"
#include "rtpm/json/json.h"

namespace rtpm::server {

class Authenticator;
class Metrics;
class StaticFiles;

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using HttpRequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

/// Request limits. A target longer than kMaxTargetBytes is answered 414; a request line and
/// header fields together longer than kMaxHeaderBytes 431 (414 when the request line alone is
/// too long); a body longer than kMaxBodyBytes 413.
inline constexpr size_t kMaxTargetBytes = 8 * 1024;
inline constexpr uint32_t kMaxHeaderBytes = 16 * 1024;
inline constexpr uint64_t kMaxBodyBytes = 1 << 20;

/// Sets the limits above on a fresh request parser.
void set_request_limits(HttpRequestParser& parser);

/// What an answer may depend on, from the running server.
struct HttpEnv {
  /// GET /api/schema's body.
  std::string_view schema_json;
  /// GET /metrics renders these; null: an empty exposition.
  const Metrics* metrics = nullptr;
  /// The --static folder; null: the built-in notice at / and 404 elsewhere.
  const StaticFiles* static_files = nullptr;
  /// The access policy (docs/security.md); null: everything open.
  const Authenticator* auth = nullptr;
  /// Unix milliseconds, for token expiry.
  int64_t now_ms = 0;
  /// Request bodies of the document API: the deepest JSON nesting, the most steps in one.
  int max_json_depth = 1000;
  size_t max_steps = 1000;
};

/// A valid WebSocket upgrade to /ws: hand the connection and the request to a WebSocketSession.
struct UpgradeRequest {};
/// The document API's operations (docs/api.md).
enum class ApiOp {
  read_room,      // GET /api/rooms/ROOM[?version=N][&format=text]
  list_rooms,     // GET /api/rooms?prefix=P&limit=N&after=C
  read_steps,     // GET /api/rooms/ROOM/steps?since=N&limit=M
  write_steps,    // POST /api/rooms/ROOM/steps {"version","userId","steps"}
  replace_room,   // PUT /api/rooms/ROOM {"doc","userId"?}
  delete_room,    // DELETE /api/rooms/ROOM
  add_version,    // POST /api/rooms/ROOM/versions {"name"}
  list_versions,  // GET /api/rooms/ROOM/versions
  restore,        // POST /api/rooms/ROOM/versions/N/restore {"userId"?}
  revert,         // POST /api/rooms/ROOM/revert {"userId","from","to"}
};

/// A document API request, parsed, its body checked and its access decided here (the room
/// name valid, the token's permission on the room; list_rooms and delete_room need the API
/// or admin token when the API is guarded). DocumentApi (document_api.h) carries it out. With
/// --auth-url, `callback_token` is first asked about the room (userId: `user_id` for writes,
/// null for reads) and must grant `needed`: a denial is answered 403, a failure 401.
struct ApiRequest {
  ApiOp op = ApiOp::read_room;
  std::string room;
  std::string callback_token;
  auth::Permission needed = auth::Permission::read;
  /// read_room: the version asked for (nullopt: the latest) and whether as plain text.
  std::optional<int64_t> version;
  bool text = false;
  /// list_rooms: the name prefix and the name to continue after; list_rooms, read_steps: the
  /// most entries to answer.
  std::string prefix;
  std::string after;
  size_t limit = 0;
  /// read_steps: the version the steps follow.
  int64_t since = 0;
  /// Writes: the author of the new steps (write_steps: the body's userId; replace_room and
  /// restore: the body's optional userId; otherwise, and for revert, the token's subject, else
  /// "api").
  std::string user_id;
  /// Whether the body (or the token's grant) named the author.
  bool author_given = false;
  /// write_steps: the steps (an array) made on `version`.
  json::Value steps;
  /// replace_room: the document (checked against the schema when carried out).
  json::Value doc;
  /// add_version: its name.
  std::string name;
  /// revert: whose steps (the body's userId), made on versions from..to-1.
  /// revert: whose steps (`by`), made on versions from..to-1.
  std::string by;
  int64_t from = 0;
  int64_t to = 0;
};
/// GET /api/schema with --auth-url: ask about `callback_token` (room "", userId null) first.
struct SchemaRequest {
  std::string callback_token;
};
/// POST /api/admin/revoke {"jti"} with the admin token.
struct RevokeRequest {
  std::string jti;
};
/// POST /api/admin/rooms/ROOM/remove {"userId"?} with the admin token (no userId: everyone).
struct RemoveRequest {
  std::string room;
  std::optional<std::string> user_id;
};
using HttpDecision = std::variant<HttpResponse, UpgradeRequest, ApiRequest, SchemaRequest,
                                  RevokeRequest, RemoveRequest>;

/// The decision for one parsed request.
HttpDecision handle_request(const HttpRequest& req, const HttpEnv& env);

/// The answer to a request the parser refused with `ec` (400, 413, 414 or 431, closing the
/// connection), given what it parsed of it (`so_far`: the parser's get()); nullopt when there
/// is nothing to answer (the client closed the connection or went silent).
std::optional<HttpResponse> parse_error_response(boost::beast::error_code ec,
                                                 const HttpRequest& so_far);

/// The answer to a read_room ApiRequest: `{"room","version","doc"}`, or 404 when `doc` is
/// nullopt (no such room).
HttpResponse room_response(const HttpRequest& req, std::string_view room,
                           const std::optional<std::pair<int64_t, std::string>>& doc);

/// An answer to `req` with `status` and `body` (only its Content-Length for HEAD), keep-alive
/// as the request asks.
HttpResponse make_response(const HttpRequest& req, boost::beast::http::status status,
                           std::string body, std::string_view content_type);

/// An error answer `{"code","message"}` (application/json) with `status`; `code` is one of
/// PROTOCOL.md's codes (unauthorized, forbidden, bad_message).
HttpResponse json_error(const HttpRequest& req, boost::beast::http::status status,
                        std::string_view code, std::string_view message);

/// A JSON answer (200) with `body`.
HttpResponse json_ok(const HttpRequest& req, std::string body);

/// The schema answer (GET /api/schema).
HttpResponse schema_response(const HttpRequest& req, std::string_view schema_json);

/// Whether a Sec-WebSocket-Key is 16 bytes in base64 (24 characters, RFC 6455 4.2.1).
bool valid_websocket_key(std::string_view key);

/// Decodes a percent-encoded path segment; nullopt when malformed.
std::optional<std::string> percent_decode(std::string_view segment);

/// The decision for a request to /api/rooms or /api/rooms/... (api_routes.cc); `path` is the
/// target without its query, `query` what follows the '?' ("" when none).
HttpDecision api_request(const HttpRequest& req, std::string_view path, std::string_view query,
                         const HttpEnv& env);

}  // namespace rtpm::server
