#include "rtpm/server/authenticator.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <openssl/crypto.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "rtpm/json/json.h"
#include "rtpm/protocol/client_messages.h"

namespace rtpm::server {

namespace http = boost::beast::http;

namespace {

constexpr size_t kMaxRevoked = 100000;

Result<std::string> read_secret(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::internal, std::string(flag) + ": cannot read " + path};
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// A file holding one token: its first line, without surrounding blanks.
Result<std::string> read_token_file(const std::string& path, const char* flag) {
  auto text = read_secret(path, flag);
  if (!text) return text.error();
  std::string line = text->substr(0, text->find('\n'));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  size_t start = 0;
  while (start < line.size() && std::isspace(static_cast<unsigned char>(line[start]))) ++start;
  line.erase(0, start);
  if (line.size() < 16)
    return Error{ErrorCode::internal, std::string(flag) + ": the token in " + path +
                                          " must have at least 16 characters"};
  return line;
}

std::vector<std::string> split_list(const std::string& list, bool lower) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (lower)
      std::transform(item.begin(), item.end(), item.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The host name of a Host header value, lower case, without the port ("[::1]" keeps brackets).
std::string host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    return lower(close == std::string_view::npos ? host : host.substr(0, close + 1));
  }
  return lower(host.substr(0, host.find(':')));
}

bool loopback_name(const std::string& name) {
  if (name == "localhost" || name == "[::1]") return true;
  constexpr std::string_view kLocal = ".localhost";
  if (name.size() > kLocal.size() &&
      name.compare(name.size() - kLocal.size(), kLocal.size(), kLocal) == 0)
    return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address_v4(name, ec);
  return !ec && address.is_loopback();
}

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view bearer(const HttpRequest& req) {
  std::string_view auth = req[http::field::authorization];
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.substr(0, kBearer.size()) != kBearer) return {};
  return auth.substr(kBearer.size());
}

}  // namespace

Authenticator::~Authenticator() = default;

Result<std::unique_ptr<Authenticator>> Authenticator::create(const ServerOptions& o,
                                                             boost::asio::io_context& ioc) {
  std::unique_ptr<Authenticator> a(new Authenticator());
  a->read_only_presence_ = o.read_only_presence;
  // Token file: {"TOKEN": "subject"} or {"TOKEN": {"sub": "subject", "rooms": {...}}}.
  if (!o.auth_file.empty()) {
    auto text = read_secret(o.auth_file, "--auth-file");
    if (!text) return text.error();
    auto tokens = json::parse(*text);
    if (!tokens || !tokens->is_object() || tokens->as_object().empty())
      return Error{ErrorCode::internal,
                   "--auth-file: expected a JSON object {\"TOKEN\": \"subject\", ...}"};
    for (const auto& [token, value] : tokens->as_object()) {
      auto grant = std::make_shared<auth::Grant>();
      const json::Value* sub = value.is_object() ? value.find("sub") : &value;
      if (token.empty() || !sub || !sub->is_string() || !protocol::valid_user_id(sub->as_string()))
        return Error{ErrorCode::internal,
                     "--auth-file: every token maps to a subject (a valid userId) or to "
                     "{\"sub\": subject, \"rooms\": {...}}"};
      grant->subject = sub->as_string();
      if (value.is_object()) {
        const json::Value* rooms = value.find("rooms");
        if (!rooms) return Error{ErrorCode::internal, "--auth-file: a token object needs rooms"};
        auto rules = auth::RoomRules::from_json(*rooms);
        if (!rules) return Error{ErrorCode::internal, "--auth-file: " + rules.error().message};
        grant->rooms = std::move(*rules);
      } else {
        grant->rooms = auth::RoomRules::all_writable();
      }
      a->file_tokens_.emplace(token, std::move(grant));
    }
    a->enabled_ = true;
  }
  // JSON Web Tokens.
  if (!o.jwt_secret_file.empty() || !o.jwt_public_key_file.empty()) {
    auth::JwtOptions jwt;
    if (!o.jwt_secret_file.empty()) {
      auto secret = read_secret(o.jwt_secret_file, "--jwt-secret-file");
      if (!secret) return secret.error();
      jwt.hs256_secret = auth::secret_from_file_text(std::move(*secret));
    }
    if (!o.jwt_public_key_file.empty()) {
      auto pem = read_secret(o.jwt_public_key_file, "--jwt-public-key-file");
      if (!pem) return pem.error();
      jwt.public_key_pem = std::move(*pem);
    }
    jwt.issuer = o.jwt_issuer;
    jwt.audience = o.jwt_audience;
    jwt.leeway_s = o.jwt_leeway_s;
    auto verifier = auth::JwtVerifier::create(std::move(jwt));
    if (!verifier) return Error{ErrorCode::internal, "JWT: " + verifier.error().message};
    a->jwt_ = std::move(*verifier);
    a->enabled_ = true;
  }
  // Authorization by the application.
  if (!o.auth_url.empty()) {
    if (a->enabled_)
      return Error{ErrorCode::internal,
                   "--auth-url cannot be combined with --auth-file or JWT keys"};
    auto callback = AuthCallback::create(
        ioc, {.url = o.auth_url,
              .timeout = std::chrono::milliseconds(std::max(1, o.auth_timeout_ms)),
              .cache_for = std::chrono::seconds(std::max(0, o.auth_cache_s))});
    if (!callback) return callback.error();
    a->callback_ = std::move(*callback);
    a->enabled_ = true;
  }
  if (!o.admin_token_file.empty()) {
    auto token = read_token_file(o.admin_token_file, "--admin-token-file");
    if (!token) return token.error();
    a->admin_token_ = std::move(*token);
  }
  if (!o.api_token_file.empty()) {
    auto token = read_token_file(o.api_token_file, "--api-token-file");
    if (!token) return token.error();
    a->api_token_ = std::move(*token);
  }
  if (!o.metrics_token_file.empty()) {
    auto token = read_token_file(o.metrics_token_file, "--metrics-token-file");
    if (!token) return token.error();
    a->metrics_token_ = std::move(*token);
  }
  a->origins_ = split_list(o.allowed_origins, false);
  a->any_origin_ = std::find(a->origins_.begin(), a->origins_.end(), "*") != a->origins_.end();
  a->hosts_ = split_list(o.allowed_hosts, true);
  boost::system::error_code ec;
  auto bind = boost::asio::ip::make_address(o.bind, ec);
  a->loopback_bind_ = !ec && bind.is_loopback();
  a->check_host_ = !a->hosts_.empty() || a->loopback_bind_;
  if (a->enabled_) {
    std::vector<std::string_view> modes;
    if (!a->file_tokens_.empty()) modes.push_back("token file");
    if (a->jwt_) modes.push_back("JSON Web Tokens");
    if (a->callback_) modes.push_back("--auth-url");
    spdlog::info("authentication on: {}", fmt::join(modes, ", "));
  }
  return a;
}

std::string Authenticator::request_token(const HttpRequest& req) {
  if (std::string_view b = bearer(req); !b.empty()) return std::string(b);
  std::string_view target = req.target();
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    if (pair.substr(0, 6) == "token=") {
      // Query values may encode a space as '+' (forms); tokens never hold spaces, and a '+'
      // of the token itself arrives as %2B from encodeURIComponent.
      auto decoded = percent_decode(pair.substr(6));
      return decoded ? *decoded : std::string();
    }
    if (pair.size() == query.size()) break;
    query.remove_prefix(pair.size() + 1);
  }
  return {};
}

Result<std::shared_ptr<const auth::Grant>> Authenticator::authenticate(std::string_view token,
                                                                       int64_t now_ms) const {
  if (token.empty())
    return Error{ErrorCode::unauthorized,
                 "a valid token is required (Authorization: Bearer or ?token=)"};
  if (auto it = file_tokens_.find(std::string(token)); it != file_tokens_.end()) return it->second;
  if (!jwt_ || !auth::JwtVerifier::looks_like_jwt(token))
    return Error{ErrorCode::unauthorized, "unknown token"};
  auto grant = jwt_->verify(token, now_ms);
  if (!grant) return grant.error();
  if (!grant->token_id.empty() && revoked(grant->token_id))
    return Error{ErrorCode::unauthorized, "the token was revoked"};
  return std::shared_ptr<const auth::Grant>(std::make_shared<auth::Grant>(std::move(*grant)));
}

SessionAuth Authenticator::session_auth(const HttpRequest& req, int64_t now_ms) const {
  SessionAuth s;
  if (!enabled_) return s;
  std::string token = request_token(req);
  if (callback_) {
    s.authorized = !token.empty();
    if (!s.authorized) s.refusal = "a valid token is required (Authorization: Bearer or ?token=)";
    s.callback_token = std::move(token);
    return s;
  }
  auto grant = authenticate(token, now_ms);
  s.authorized = grant.ok();
  if (grant)
    s.grant = std::move(*grant);
  else
    s.refusal = grant.error().message;
  return s;
}

room::Access Authenticator::access(auth::Permission permission) const {
  if (permission == auth::Permission::write) return {};
  return {.write = false, .presence = read_only_presence_};
}

bool Authenticator::is_admin(const HttpRequest& req) const {
  return has_admin() && same_secret(bearer(req), admin_token_);
}

bool Authenticator::is_api_client(const HttpRequest& req) const {
  std::string_view token = bearer(req);
  return (!api_token_.empty() && same_secret(token, api_token_)) ||
         (has_admin() && same_secret(token, admin_token_));
}

bool Authenticator::metrics_allowed(const HttpRequest& req) const {
  if (!metrics_token_.empty()) return same_secret(bearer(req), metrics_token_);
  return !enabled_;
}

bool Authenticator::origin_allowed(const HttpRequest& req) const {
  auto field = req.find(http::field::origin);
  if (field == req.end()) return true;  // not a browser
  std::string_view origin = field->value();
  if (any_origin_) return true;
  if (std::find(origins_.begin(), origins_.end(), origin) != origins_.end()) return true;
  // The server's own origin: an origin of the host (and port) the request was sent to, by any
  // scheme -- behind a TLS proxy that passes the Host on, the page is https:// while this
  // server speaks plain HTTP.
  std::string_view host = req[http::field::host];
  size_t scheme = origin.find("://");
  if (host.empty() || scheme == std::string_view::npos) return false;
  return lower(origin.substr(scheme + 3)) == lower(host);
}

bool Authenticator::host_allowed(const HttpRequest& req) const {
  if (!check_host_) return true;
  std::string_view host = req[http::field::host];
  if (host.empty()) return true;  // HTTP/1.0 without Host: not a browser
  std::string name = host_name(host);
  if (std::find(hosts_.begin(), hosts_.end(), name) != hosts_.end()) return true;
  return loopback_bind_ && loopback_name(name);
}

bool Authenticator::revoke(const std::string& jti) {
  std::lock_guard lock(revoked_mutex_);
  if (revoked_.size() >= kMaxRevoked && !revoked_.count(jti)) return false;
  revoked_.insert(jti);
  return true;
}

bool Authenticator::revoked(std::string_view jti) const {
  std::lock_guard lock(revoked_mutex_);
  return revoked_.count(std::string(jti)) > 0;
}

}  // namespace rtpm::server
