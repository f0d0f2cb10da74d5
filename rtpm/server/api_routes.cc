// The document API's routes (docs/api.md): the request's path, query and body parsed into an
// ApiRequest, and its access decided, without I/O. DocumentApi carries the request out.
#include <charconv>

#include "rtpm/protocol/client_messages.h"
#include "rtpm/server/authenticator.h"
#include "rtpm/server/http_handler.h"

namespace rtpm::server {

namespace http = boost::beast::http;

namespace {

constexpr size_t kDefaultListLimit = 100, kMaxListLimit = 1000;
constexpr size_t kDefaultStepLimit = 1000, kMaxStepLimit = 10000;
/// Versions, limits: plain decimal numbers up to 2^53 (exact in JSON).
constexpr int64_t kMaxNumber = int64_t{1} << 53;

std::optional<int64_t> parse_count(std::string_view s) {
  int64_t v = 0;
  if (s.empty() || s.size() > 16) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0 || v > kMaxNumber)
    return std::nullopt;
  return v;
}

// A JSON number that is a whole count (a version): nullopt otherwise.
std::optional<int64_t> json_count(const json::Value* v) {
  if (!v || !v->is_number()) return std::nullopt;
  double d = v->as_number();
  if (!(d >= 0) || d > static_cast<double>(kMaxNumber) ||
      d != static_cast<double>(static_cast<int64_t>(d)))
    return std::nullopt;
  return static_cast<int64_t>(d);
}

// The query's parameters, percent-decoded; nullopt when one is malformed. A repeated name
// keeps its last value.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    auto key = percent_decode(part.substr(0, eq));
    auto value = percent_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

const std::string* param(const std::vector<std::pair<std::string, std::string>>& query,
                         std::string_view name) {
  const std::string* found = nullptr;
  for (const auto& [k, v] : query)
    if (k == name) found = &v;
  return found;
}

HttpResponse bad(const HttpRequest& req, std::string_view message) {
  return json_error(req, http::status::bad_request, "bad_message", message);
}

HttpResponse not_allowed(const HttpRequest& req, std::string_view allow) {
  HttpResponse res =
      json_error(req, http::status::method_not_allowed, "bad_message", "method not allowed here");
  res.set(http::field::allow, allow);
  return res;
}

HttpResponse no_route(const HttpRequest& req) {
  return json_error(req, http::status::not_found, "not_found", "no such API endpoint");
}

bool is_read(const HttpRequest& req) {
  return req.method() == http::verb::get || req.method() == http::verb::head;
}

// The path after /api/rooms/ split at '/': the room (one percent-encoded segment), then the rest.
std::vector<std::string_view> split_path(std::string_view rest) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return parts;
}

// The optional "userId" of a write's body into r.user_id; false when it is not a valid userId.
bool take_user_id(const json::Value& body, ApiRequest& r, bool required) {
  const json::Value* user = body.find("userId");
  if (!user) return !required;
  if (!user->is_string() || !protocol::valid_user_id(user->as_string())) return false;
  r.user_id = user->as_string();
  return true;
}

}  // namespace

HttpDecision api_request(const HttpRequest& req, std::string_view path, std::string_view query,
                         const HttpEnv& env) {
  const Authenticator* auth = env.auth;
  // Who asks: the API or admin token may do everything; otherwise a user's token, whose grant
  // decides per room (checked below, or by --auth-url once the room is known).
  bool guarded = auth && auth->api_guarded();
  bool full = !guarded || auth->is_api_client(req);
  std::shared_ptr<const auth::Grant> grant;
  std::string callback_token;
  if (!full) {
    if (!auth->enabled())
      return json_error(req, http::status::unauthorized, "unauthorized",
                        "the API token is required (Authorization: Bearer)");
    std::string token = Authenticator::request_token(req);
    if (token.empty())
      return json_error(req, http::status::unauthorized, "unauthorized",
                        "a valid token is required (Authorization: Bearer or ?token=)");
    if (auth->callback()) {
      callback_token = std::move(token);
    } else {
      auto checked = auth->authenticate(token, env.now_ms);
      if (!checked)
        return json_error(req, http::status::unauthorized, "unauthorized", checked.error().message);
      grant = std::move(*checked);
    }
  }

  auto params = parse_query(query);
  if (!params) return bad(req, "malformed query string");
  ApiRequest r;
  bool write = false;
  auto body = [&]() -> std::optional<json::Value> {
    auto parsed = json::parse(req.body(), json::ParseOptions{.max_depth = env.max_json_depth});
    if (!parsed || !parsed->is_object()) return std::nullopt;
    return std::move(*parsed);
  };

  if (path == "/api/rooms") {
    if (!is_read(req)) return not_allowed(req, "GET, HEAD");
    r.op = ApiOp::list_rooms;
    if (const std::string* p = param(*params, "prefix")) r.prefix = *p;
    if (const std::string* a = param(*params, "after")) r.after = *a;
    r.limit = kDefaultListLimit;
    if (const std::string* l = param(*params, "limit")) {
      auto n = parse_count(*l);
      if (!n || *n < 1 || static_cast<size_t>(*n) > kMaxListLimit)
        return bad(req, "limit must be a number from 1 to 1000");
      r.limit = static_cast<size_t>(*n);
    }
    if (r.prefix.size() > 1024 || r.after.size() > 1024)
      return bad(req, "prefix and after are at most 1024 bytes");
  } else {
    std::vector<std::string_view> parts =
        split_path(path.substr(std::string_view("/api/rooms/").size()));
    auto name = percent_decode(parts[0]);
    if (!name || !protocol::valid_room_name(*name))
      return json_error(req, http::status::not_found, "invalid_room", "no such room");
    r.room = std::move(*name);
    if (parts.size() == 1) {
      if (is_read(req)) {
        r.op = ApiOp::read_room;
        if (const std::string* v = param(*params, "version")) {
          r.version = parse_count(*v);
          if (!r.version) return bad(req, "version must be a whole number");
        }
        if (const std::string* f = param(*params, "format")) {
          if (*f != "text" && *f != "json") return bad(req, "format must be json or text");
          r.text = *f == "text";
        }
      } else if (req.method() == http::verb::put) {
        r.op = ApiOp::replace_room;
        write = true;
        auto b = body();
        if (!b) return bad(req, "the body must be a JSON object");
        const json::Value* doc = b->find("doc");
        if (!doc || !doc->is_object()) return bad(req, "doc must be a document (a JSON object)");
        r.doc = *doc;
        if (!take_user_id(*b, r, false))
          return bad(req, "userId must be a string of 1 to 128 characters");
      } else if (req.method() == http::verb::delete_) {
        r.op = ApiOp::delete_room;
      } else {
        return not_allowed(req, "GET, HEAD, PUT, DELETE");
      }
    } else if (parts.size() == 2 && parts[1] == "steps") {
      if (is_read(req)) {
        r.op = ApiOp::read_steps;
        r.limit = kDefaultStepLimit;
        if (const std::string* s = param(*params, "since")) {
          auto n = parse_count(*s);
          if (!n) return bad(req, "since must be a whole number");
          r.since = *n;
        }
        if (const std::string* l = param(*params, "limit")) {
          auto n = parse_count(*l);
          if (!n || *n < 1 || static_cast<size_t>(*n) > kMaxStepLimit)
            return bad(req, "limit must be a number from 1 to 10000");
          r.limit = static_cast<size_t>(*n);
        }
      } else if (req.method() == http::verb::post) {
        r.op = ApiOp::write_steps;
        write = true;
        auto b = body();
        if (!b) return bad(req, "the body must be a JSON object");
        auto version = json_count(b->find("version"));
        if (!version) return bad(req, "version must be a whole number");
        r.version = *version;
        if (!take_user_id(*b, r, true))
          return bad(req, "userId must be a string of 1 to 128 characters");
        const json::Value* steps = b->find("steps");
        if (!steps || !steps->is_array()) return bad(req, "steps must be an array");
        if (steps->as_array().size() > env.max_steps)
          return json_error(req, http::status::payload_too_large, "message_too_large",
                            "too many steps in one request");
        r.steps = *steps;
      } else {
        return not_allowed(req, "GET, HEAD, POST");
      }
    } else if (parts.size() == 2 && parts[1] == "versions") {
      if (is_read(req)) {
        r.op = ApiOp::list_versions;
      } else if (req.method() == http::verb::post) {
        r.op = ApiOp::add_version;
        write = true;
        auto b = body();
        if (!b) return bad(req, "the body must be a JSON object");
        const json::Value* n = b->find("name");
        if (!n || !n->is_string() || n->as_string().empty() || n->as_string().size() > 256)
          return bad(req, "name must be a string of 1 to 256 bytes");
        r.name = n->as_string();
      } else {
        return not_allowed(req, "GET, HEAD, POST");
      }
    } else if (parts.size() == 4 && parts[1] == "versions" && parts[3] == "restore") {
      if (req.method() != http::verb::post) return not_allowed(req, "POST");
      r.op = ApiOp::restore;
      write = true;
      r.version = parse_count(parts[2]);
      if (!r.version)
        return json_error(req, http::status::not_found, "not_found", "no such version");
      if (!req.body().empty()) {
        auto b = body();
        if (!b) return bad(req, "the body must be a JSON object");
        if (!take_user_id(*b, r, false))
          return bad(req, "userId must be a string of 1 to 128 characters");
      }
    } else if (parts.size() == 2 && parts[1] == "revert") {
      if (req.method() != http::verb::post) return not_allowed(req, "POST");
      r.op = ApiOp::revert;
      write = true;
      auto b = body();
      if (!b) return bad(req, "the body must be a JSON object");
      const json::Value* by = b->find("userId");  // whose steps
      if (!by || !by->is_string() || !protocol::valid_user_id(by->as_string()))
        return bad(req, "userId must be a string of 1 to 128 characters");
      r.by = by->as_string();
      auto from = json_count(b->find("from"));
      auto to = json_count(b->find("to"));
      if (!from || !to || *from > *to)
        return bad(req, "from and to must be whole numbers, from <= to");
      r.from = *from;
      r.to = *to;
    } else {
      return no_route(req);
    }
  }

  // Access: listing and deleting need the API (or admin) token; the rest, the grant's
  // permission on the room. Writes carry the token's subject as their author.
  r.needed = write ? auth::Permission::write : auth::Permission::read;
  if ((r.op == ApiOp::list_rooms || r.op == ApiOp::delete_room) && !full)
    return json_error(req, http::status::forbidden, "forbidden",
                      "listing and deleting rooms need the API token or the admin token");
  if (grant) {
    if (static_cast<int>(grant->rooms.permission_for(r.room)) < static_cast<int>(r.needed))
      return json_error(req, http::status::forbidden, "forbidden",
                        r.needed == auth::Permission::write
                            ? "the token does not grant write access to this room"
                            : "the token does not grant access to this room");
    if (write && r.user_id.empty()) r.user_id = grant->subject;
    if (write && r.user_id != grant->subject)
      return json_error(req, http::status::forbidden, "forbidden",
                        "a user's token writes as its subject: userId must be the token's");
  }
  // With --auth-url, an author the body does not name is the one the application binds the
  // token to (http_session.cc), else "api".
  r.author_given = !r.user_id.empty();
  if (write && r.user_id.empty()) r.user_id = "api";
  r.callback_token = std::move(callback_token);
  return r;
}

}  // namespace rtpm::server
