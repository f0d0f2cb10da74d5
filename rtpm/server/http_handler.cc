#include "rtpm/server/http_handler.h"

#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "rtpm/json/json.h"
#include "rtpm/protocol/client_messages.h"
#include "rtpm/server/authenticator.h"
#include "rtpm/server/metrics.h"
#include "rtpm/server/static_files.h"

namespace rtpm::server {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::string_view kText = "text/plain";

constexpr std::string_view kNoDemo =
    "<!doctype html><meta charset=utf-8><title>realtime-pm</title>"
    "<p>realtime-pm is running. WebSocket endpoint: <code>/ws</code>. "
    "The demo page is served from the folder given with <code>--static</code>.</p>";

std::string_view mime_type(std::string_view path) {
  size_t dot = path.rfind('.');
  std::string_view ext = dot == std::string_view::npos ? std::string_view() : path.substr(dot);
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  return "application/octet-stream";
}

// An answer after which the connection closes (the request was refused as malformed).
HttpResponse closing(HttpResponse res) {
  res.keep_alive(false);
  return res;
}

// An answer to a request the parser could not deliver: HTTP/1.1, closing.
HttpResponse bare(http::status status, std::string body) {
  HttpResponse res{status, 11};
  res.set(http::field::server, "realtime-pm");
  res.set(http::field::content_type, kText);
  res.body() = std::move(body);
  res.prepare_payload();
  res.keep_alive(false);
  return res;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool valid_websocket_key(std::string_view key) {
  // 16 bytes are 22 base64 digits and "==": the last digit carries 2 bits of data, its low 4
  // bits are zero in the canonical encoding.
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (size_t i = 0; i < 22; ++i)
    if (base64_value(key[i]) < 0) return false;
  return base64_value(key[21]) % 16 == 0;
}

void set_request_limits(HttpRequestParser& parser) {
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(kMaxBodyBytes);
}

HttpResponse make_response(const HttpRequest& req, http::status status, std::string body,
                           std::string_view content_type) {
  HttpResponse res{status, req.version() == 10 ? 10 : 11};
  res.set(http::field::server, "realtime-pm");
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  if (req.method() == http::verb::head) {
    // The length the GET answer's body would have, and no body: a body here would be read
    // as the start of the next response on a keep-alive connection.
    res.content_length(body.size());
  } else {
    res.body() = std::move(body);
    res.prepare_payload();
  }
  return res;
}

HttpResponse json_error(const HttpRequest& req, http::status status, std::string_view code,
                        std::string_view message) {
  std::string body;
  json::Writer w(body);
  w.begin_object();
  w.key("code");
  w.string(code);
  w.key("message");
  w.string(message);
  w.end_object();
  HttpResponse res = make_response(req, status, std::move(body), "application/json");
  if (status == http::status::unauthorized) res.set(http::field::www_authenticate, "Bearer");
  return res;
}

HttpResponse json_ok(const HttpRequest& req, std::string body) {
  return make_response(req, http::status::ok, std::move(body), "application/json");
}

HttpResponse schema_response(const HttpRequest& req, std::string_view schema_json) {
  return make_response(req, http::status::ok, std::string(schema_json), "application/json");
}

namespace {

// POST /api/admin/...: the admin token checked, the body parsed.
HttpDecision admin_request(const HttpRequest& req, std::string_view path,
                           const Authenticator& auth) {
  if (req.method() != http::verb::post) {
    HttpResponse res =
        make_response(req, http::status::method_not_allowed, "method not allowed\n", kText);
    res.set(http::field::allow, "POST");
    return res;
  }
  if (!auth.is_admin(req))
    return json_error(req, http::status::unauthorized, "unauthorized",
                      "the admin token is required (Authorization: Bearer)");
  auto body = json::parse(req.body(), json::ParseOptions{.max_depth = 16});
  if (!body || !body->is_object())
    return json_error(req, http::status::bad_request, "bad_message",
                      "the body must be a JSON object");
  if (path == "/api/admin/revoke") {
    const json::Value* jti = body->find("jti");
    if (!jti || !jti->is_string() || jti->as_string().empty() || jti->as_string().size() > 256)
      return json_error(req, http::status::bad_request, "bad_message",
                        "jti must be a string of 1 to 256 bytes");
    return RevokeRequest{jti->as_string()};
  }
  constexpr std::string_view kPrefix = "/api/admin/rooms/", kSuffix = "/remove";
  if (path.size() > kPrefix.size() + kSuffix.size() && path.substr(0, kPrefix.size()) == kPrefix &&
      path.substr(path.size() - kSuffix.size()) == kSuffix) {
    std::string_view segment =
        path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
    auto name = percent_decode(segment);
    if (segment.find('/') != std::string_view::npos || !name || !protocol::valid_room_name(*name))
      return json_error(req, http::status::not_found, "invalid_room", "no such room");
    RemoveRequest remove{std::move(*name), std::nullopt};
    if (const json::Value* user = body->find("userId")) {
      if (!user->is_string() || !protocol::valid_user_id(user->as_string()))
        return json_error(req, http::status::bad_request, "bad_message",
                          "userId must be a string of 1 to 128 characters");
      remove.user_id = user->as_string();
    }
    return remove;
  }
  return make_response(req, http::status::not_found, "not found\n", kText);
}

}  // namespace

HttpDecision handle_request(const HttpRequest& req, const HttpEnv& env) {
  std::string_view target = req.target();
  if (target.size() > kMaxTargetBytes)
    return closing(
        make_response(req, http::status::uri_too_long, "request target too long\n", kText));
  if (target.empty() || target.front() != '/')
    return closing(make_response(req, http::status::bad_request, "bad request target\n", kText));
  std::string_view path = target.substr(0, target.find('?'));
  auto not_found = [&] {
    return make_response(req, http::status::not_found, "not found\n", kText);
  };
  const Authenticator* auth = env.auth;
  // A foreign Host on a loopback server: DNS rebinding (docs/security.md).
  if (auth && !auth->host_allowed(req))
    return closing(make_response(
        req, http::status::forbidden,
        "host not allowed: a server on a loopback address answers loopback names and those "
        "of --allowed-hosts\n",
        kText));
  bool api = path.substr(0, 5) == "/api/";
  bool foreign_origin = auth && !auth->origin_allowed(req);

  if (beast::websocket::is_upgrade(req)) {
    if (path != "/ws") return not_found();
    if (req[http::field::sec_websocket_version] != "13") {
      HttpResponse res = make_response(req, http::status::upgrade_required,
                                       "WebSocket version 13 is required\n", kText);
      res.set(http::field::sec_websocket_version, "13");
      return closing(std::move(res));
    }
    if (!valid_websocket_key(req[http::field::sec_websocket_key]))
      return closing(make_response(req, http::status::bad_request,
                                   "Sec-WebSocket-Key must be 16 bytes in base64\n", kText));
    if (foreign_origin)
      return closing(make_response(req, http::status::forbidden, "origin not allowed\n", kText));
    return UpgradeRequest{};
  }
  if (api && foreign_origin)
    return json_error(req, http::status::forbidden, "forbidden", "origin not allowed");
  if (path.substr(0, 11) == "/api/admin/") {
    if (!auth || !auth->has_admin()) return not_found();
    return admin_request(req, path, *auth);
  }
  if (path == "/api/rooms" || path.substr(0, 11) == "/api/rooms/") {
    size_t q = target.find('?');
    return api_request(req, path, q == std::string_view::npos ? "" : target.substr(q + 1), env);
  }

  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    HttpResponse res =
        make_response(req, http::status::method_not_allowed, "method not allowed\n", kText);
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (path == "/healthz") {
    // A cluster node without Redis can serve nothing durable: not healthy (it recovers by
    // itself when Redis answers again).
    if (env.metrics && env.metrics->redis_enabled.load() && env.metrics->redis_up.load() == 0)
      return make_response(req, http::status::service_unavailable, "redis unavailable", kText);
    return make_response(req, http::status::ok, "ok", kText);
  }
  if (path == "/metrics") {
    if (auth && !auth->metrics_allowed(req))
      return json_error(req, http::status::unauthorized, "unauthorized",
                        "the metrics token is required (Authorization: Bearer)");
    return make_response(req, http::status::ok, env.metrics ? env.metrics->render() : "",
                         "text/plain; version=0.0.4; charset=utf-8");
  }
  // With authentication on, the API needs a token: checked here, or by --auth-url.
  bool guarded = auth && auth->enabled();
  std::string token = guarded ? Authenticator::request_token(req) : std::string();
  if (guarded && api) {
    if (token.empty())
      return json_error(req, http::status::unauthorized, "unauthorized",
                        "a valid token is required (Authorization: Bearer or ?token=)");
    if (!auth->callback()) {
      auto checked = auth->authenticate(token, env.now_ms);
      if (!checked)
        return json_error(req, http::status::unauthorized, "unauthorized", checked.error().message);
    }
  }
  if (path == "/api/schema") {
    if (guarded && auth->callback()) return SchemaRequest{std::move(token)};
    return schema_response(req, env.schema_json);
  }
  // Static files: the demo page. Only StaticFiles opens files here, and only inside the
  // --static folder, which may not contain the data folder: nothing but the store may open the
  // database files (closing a descriptor of one drops SQLite's locks; see static_files.h).
  if (!env.static_files) {
    if (path == "/" || path == "/index.html")
      return make_response(req, http::status::ok, std::string(kNoDemo), "text/html; charset=utf-8");
    return not_found();
  }
  auto relative = StaticFiles::relative_path(path);
  if (!relative) return not_found();
  auto contents = env.static_files->read(*relative);
  if (!contents) return not_found();
  return make_response(req, http::status::ok, std::move(*contents), mime_type(*relative));
}

std::optional<HttpResponse> parse_error_response(beast::error_code ec, const HttpRequest& so_far) {
  if (ec.category() != http::make_error_code(http::error::bad_target).category())
    return std::nullopt;  // the socket failed or the deadline closed it
  switch (static_cast<http::error>(ec.value())) {
    case http::error::end_of_stream:
    case http::error::partial_message:
    case http::error::need_more:
    case http::error::short_read:
    case http::error::stale_parser: return std::nullopt;  // the client went away mid-request
    case http::error::header_limit:
      // No target yet: the request line alone passed the limit. Otherwise the fields did,
      // unless the target was already too long.
      if (so_far.target().empty() || so_far.target().size() > kMaxTargetBytes)
        return bare(http::status::uri_too_long, "request target too long\n");
      return bare(http::status::request_header_fields_too_large, "header fields too large\n");
    case http::error::body_limit:
      return bare(http::status::payload_too_large, "request body too large\n");
    default: return bare(http::status::bad_request, "bad request\n");
  }
}

HttpResponse room_response(const HttpRequest& req, std::string_view room,
                           const std::optional<std::pair<int64_t, std::string>>& doc) {
  if (!doc) return json_error(req, http::status::not_found, "not_found", "no such room");
  std::string body;
  json::Writer w(body);
  w.begin_object();
  w.key("room");
  w.string(room);
  w.key("version");
  w.number(static_cast<double>(doc->first));
  w.key("doc");
  w.raw(doc->second);
  w.end_object();
  return make_response(req, http::status::ok, std::move(body), "application/json");
}

}  // namespace rtpm::server
