#include "rtpm/server/http_session.h"

#include <charconv>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <openssl/crypto.h>

#include "rtpm/json/json.h"
#include "rtpm/protocol/client_messages.h"
#include "rtpm/server/authenticator.h"
#include "rtpm/server/cluster.h"
#include "rtpm/server/document_api.h"
#include "rtpm/server/room.h"
#include "rtpm/server/room_registry.h"
#include "rtpm/server/websocket_session.h"

namespace rtpm::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {
// The admin API's answers: {"NAME_KEY": name, "COUNT_KEY": count}.
std::string name_and_count(std::string_view name_key, std::string_view name,
                           std::string_view count_key, size_t count) {
  std::string body;
  json::Writer w(body);
  w.begin_object();
  w.key(name_key);
  w.string(name);
  w.key(count_key);
  w.number(static_cast<double>(count));
  w.end_object();
  return body;
}
}  // namespace

HttpSession::HttpSession(ServerContext& ctx, net::ip::tcp::socket&& socket, ClientLimits::Slot slot)
    : ctx_(ctx),
      slot_(std::move(slot)),
      stream_(ServerStream::adopt(std::move(socket), ctx.ioc, ctx.tls.get())),
      timer_(stream_.get_executor()) {}

// The socket's deadline: when the timer fires first, the socket closes and the pending
// operation fails. Setting it again (or cancel()) cancels the previous one.
void HttpSession::expire_after(std::chrono::seconds timeout) {
  timer_.expires_after(timeout);
  timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).close(ignored);
    }
  });
}

void HttpSession::run() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->stream_.is_tls()) return self->do_read();
    self->expire_after(std::chrono::seconds(self->ctx_.options.header_timeout_s));
    self->stream_.tls().async_handshake(
        net::ssl::stream_base::server, beast::bind_front_handler(&HttpSession::on_handshake, self));
  });
}

void HttpSession::on_handshake(beast::error_code ec) {
  if (ec) return;  // not TLS, a certificate the client refused, or the timeout
  do_read();
}

void HttpSession::do_read() {
  parser_.emplace();
  set_request_limits(*parser_);
  // The whole request within the deadline, however slowly its bytes come (slowloris).
  expire_after(std::chrono::seconds(ctx_.options.header_timeout_s));
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, size_t) {
  if (ec == http::error::end_of_stream) return close();
  if (ec) {
    // Malformed or too large: answer (400, 413, 414, 431) and close; a failed socket or
    // the deadline: nothing to answer.
    if (auto res = parse_error_response(ec, parser_->get())) respond(std::move(*res));
    return;
  }
  auto req = std::make_shared<HttpRequest>(parser_->release());
  int64_t now = protocol::now_ms();
  HttpEnv env{ctx_.schema_json,
              &ctx_.metrics,
              ctx_.static_files.get(),
              ctx_.auth.get(),
              now,
              ctx_.options.max_json_depth,
              ctx_.options.max_steps_per_message};
  // Static files are read by handle_request (StaticFiles): nothing else here opens files, and
  // the database files never (see static_files.h).
  HttpDecision decision = handle_request(*req, env);
  if (auto* res = std::get_if<HttpResponse>(&decision)) return respond(std::move(*res));
  if (auto* api = std::get_if<ApiRequest>(&decision)) {
    if (!ctx_.limits.api_request(slot_.key(), ClientLimits::Clock::now())) {
      HttpResponse res = json_error(*req, http::status::too_many_requests, "rate_limited",
                                    "too many document API requests from this address");
      res.set(http::field::retry_after, "1");
      return respond(std::move(res));
    }
    if (api->callback_token.empty()) return run_api(std::move(req), std::move(*api));
    std::string token = std::move(api->callback_token);
    std::string room = api->room;
    auth::Permission needed = api->needed;
    // A write names its author to the application (null when the body names none: then the
    // application's userId is the author).
    std::optional<std::string> user;
    if (needed == auth::Permission::write && api->author_given) user = api->user_id;
    return ask_callback(
        req, std::move(token), std::move(room), std::move(user), needed,
        [self = shared_from_this(), req, api = std::move(*api)](const std::string& bound) mutable {
          if (!api.author_given && !bound.empty()) api.user_id = bound;
          self->run_api(std::move(req), std::move(api));
        });
  }
  if (auto* schema = std::get_if<SchemaRequest>(&decision))
    return ask_callback(req, std::move(schema->callback_token), "", std::nullopt,
                        auth::Permission::read,
                        [self = shared_from_this(), req](const std::string&) {
                          self->respond(schema_response(*req, self->ctx_.schema_json));
                        });
  if (auto* revoke = std::get_if<RevokeRequest>(&decision)) return revoke_token(*req, revoke->jti);
  if (auto* remove = std::get_if<RemoveRequest>(&decision))
    return remove_members(std::move(req), std::move(*remove));
  timer_.cancel();
  std::optional<SessionAuth> relay = relay_auth(*req);
  // An admitted relay carries many members of one node: not one crowded client.
  if (relay && relay->relay) slot_.leave_address();
  SessionAuth auth = relay ? std::move(*relay) : ctx_.auth->session_auth(*req, now);
  std::make_shared<WebSocketSession>(ctx_, std::move(stream_), std::move(slot_), std::move(auth))
      ->run(std::move(*req));
}

std::optional<SessionAuth> HttpSession::relay_auth(const HttpRequest& req) const {
  SessionAuth auth;
  auto secret = req.find("X-Rtpm-Relay");
  if (secret == req.end() || !ctx_.cluster) return std::nullopt;
  const std::string& ours = ctx_.cluster->secret();
  std::string_view theirs = secret->value();
  // Constant time: the secret admits any member with any access.
  if (theirs.size() != ours.size() || CRYPTO_memcmp(theirs.data(), ours.data(), ours.size()) != 0) {
    auth.authorized = false;
    auth.refusal = "bad relay secret";
    return auth;
  }
  std::string_view access = req["X-Rtpm-Relay-Access"];
  uint64_t conn = 0;
  std::string_view conn_text = req["X-Rtpm-Relay-Conn"];
  std::from_chars(conn_text.data(), conn_text.data() + conn_text.size(), conn);
  auth.relay = RelayGrant{std::string(req["X-Rtpm-Relay-Subject"]),
                          room::Access{.write = access.find('w') != std::string_view::npos,
                                       .presence = access.find('p') != std::string_view::npos},
                          std::string(req["X-Rtpm-Relay-Origin"]), conn};
  return auth;
}

void HttpSession::ask_callback(std::shared_ptr<HttpRequest> req, std::string token,
                               std::string room, std::optional<std::string> user_id,
                               auth::Permission needed,
                               std::function<void(const std::string&)> allowed) {
  ctx_.auth->callback()->authorize(
      std::move(token), std::move(room), user_id,
      [self = shared_from_this(), req, user_id, needed,
       allowed = std::move(allowed)](Result<AuthCallback::Decision> decision) mutable {
        net::post(
            self->stream_.get_executor(), [self, req, user_id, needed, allowed = std::move(allowed),
                                           decision = std::move(decision)] {
              if (!decision)
                return self->respond(json_error(*req, http::status::unauthorized, "unauthorized",
                                                decision.error().message));
              if (static_cast<int>(decision->permission) < static_cast<int>(needed))
                return self->respond(json_error(*req, http::status::forbidden, "forbidden",
                                                "the application does not allow this request"));
              // A write as another userId than the one the application binds the token to.
              if (user_id && !decision->user_id.empty() && decision->user_id != *user_id)
                return self->respond(json_error(*req, http::status::forbidden, "forbidden",
                                                "userId must be the one the application names"));
              allowed(decision->user_id);
            });
      });
}

void HttpSession::run_api(std::shared_ptr<HttpRequest> req, ApiRequest api) {
  auto self = shared_from_this();
  run_api_request(ctx_, req, std::move(api), slot_.key(), [self, req](HttpResponse res) {
    net::post(self->stream_.get_executor(),
              [self, res = std::move(res)]() mutable { self->respond(std::move(res)); });
  });
}

void HttpSession::revoke_token(const HttpRequest& req, const std::string& jti) {
  if (!ctx_.auth->revoke(jti))
    return respond(json_error(req, http::status::service_unavailable, "internal",
                              "too many revoked token ids"));
  size_t closed = refuse_sessions(
      ctx_, [&](const WebSocketSession& s) { return s.token_id() == jti; },
      "the token was revoked");
  respond(json_ok(req, name_and_count("jti", jti, "closed", closed)));
}

void HttpSession::remove_members(std::shared_ptr<HttpRequest> req, RemoveRequest remove) {
  auto answer = [self = shared_from_this(), req, room = remove.room](size_t removed) {
    net::post(self->stream_.get_executor(), [self, req, room, removed] {
      self->respond(json_ok(*req, name_and_count("room", room, "removed", removed)));
    });
  };
  // Only a room in memory has members.
  auto room = ctx_.rooms->find(remove.room);
  if (!room) return answer(0);
  room->remove_members(std::move(remove.user_id), std::move(answer));
}

void HttpSession::respond(HttpResponse res) {
  // A reader that stalls the answer (a large static file) is closed after a minute.
  expire_after(std::chrono::seconds(60));
  bool keep_alive = res.keep_alive();
  pending_ = std::make_shared<HttpResponse>(std::move(res));
  http::async_write(
      stream_, *pending_,
      beast::bind_front_handler(&HttpSession::on_write, shared_from_this(), keep_alive));
}

void HttpSession::on_write(bool keep_alive, beast::error_code ec, size_t) {
  pending_.reset();
  if (ec) return;
  if (!keep_alive) return close();
  do_read();
}

void HttpSession::close() {
  if (!stream_.is_tls()) {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).shutdown(net::ip::tcp::socket::shutdown_send, ec);
    return;
  }
  // TLS: send close_notify (bounded by the stream's timer), then the socket closes with us.
  expire_after(std::chrono::seconds(5));
  stream_.tls().async_shutdown([self = shared_from_this()](beast::error_code) {});
}

}  // namespace rtpm::server
