#include "rtpm/server/http_session.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/dispatch.hpp>
#include <boost/beast/websocket.hpp>

#include "rtpm/protocol/messages.h"
#include "rtpm/server/room.h"
#include "rtpm/server/room_registry.h"
#include "rtpm/server/websocket_session.h"

namespace rtpm::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

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

namespace {

const char* kNoDemo =
    "<!doctype html><meta charset=utf-8><title>realtime-pm</title>"
    "<p>realtime-pm is running. WebSocket endpoint: <code>/ws</code>. "
    "The demo page is served from the folder given with <code>--static</code>.</p>";

const char* mime_type(const std::filesystem::path& p) {
  auto ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  return "application/octet-stream";
}

}  // namespace

HttpSession::HttpSession(ServerContext& ctx, net::ip::tcp::socket&& socket)
    : ctx_(ctx),
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
    self->expire_after(std::chrono::seconds(30));
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
  parser_->body_limit(64 * 1024);
  expire_after(std::chrono::seconds(30));
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, size_t) {
  if (ec == http::error::end_of_stream) return close();
  if (ec) return;
  Request req = parser_->release();
  if (beast::websocket::is_upgrade(req)) {
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (path != "/ws")
      return respond(make(req, http::status::not_found, "not found\n", "text/plain"));
    if (static_cast<size_t>(ctx_.metrics.connections.load()) >= ctx_.options.max_connections)
      return respond(
          make(req, http::status::service_unavailable, "too many connections\n", "text/plain"));
    timer_.cancel();
    std::make_shared<WebSocketSession>(ctx_, std::move(stream_))->run(std::move(req));
    return;
  }
  handle(std::move(req));
}

HttpSession::Response HttpSession::make(const Request& req, http::status status, std::string body,
                                        const char* content_type) {
  Response res{status, req.version()};
  res.set(http::field::server, "realtime-pm");
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

void HttpSession::handle(Request req) {
  if (req.method() != http::verb::get && req.method() != http::verb::head)
    return respond(
        make(req, http::status::method_not_allowed, "method not allowed\n", "text/plain"));
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") return respond(make(req, http::status::ok, "ok", "text/plain"));
  if (path == "/metrics")
    return respond(make(req, http::status::ok, ctx_.metrics.render(),
                        "text/plain; version=0.0.4; charset=utf-8"));
  if (path == "/api/schema")
    return respond(make(req, http::status::ok, ctx_.schema_json, "application/json"));
  constexpr std::string_view kRooms = "/api/rooms/";
  if (path.substr(0, kRooms.size()) == kRooms) {
    std::string_view segment = path.substr(kRooms.size());
    auto name = percent_decode(segment);
    if (segment.find('/') != std::string_view::npos || !name || !protocol::valid_room_name(*name))
      return respond(make(req, http::status::not_found, "no such room\n", "text/plain"));
    auto self = shared_from_this();
    auto shared_req = std::make_shared<Request>(std::move(req));
    ctx_.rooms->get(*name)->read_document(
        [self, shared_req, room = *name](std::optional<std::pair<int64_t, std::string>> doc) {
          net::post(self->stream_.get_executor(), [self, shared_req, room, doc = std::move(doc)] {
            if (!doc)
              return self->respond(
                  self->make(*shared_req, http::status::not_found, "no such room\n", "text/plain"));
            std::string body = "{\"room\":";
            json::write_string(room, body);
            body += ",\"version\":" + std::to_string(doc->first) + ",\"doc\":" + doc->second + "}";
            self->respond(
                self->make(*shared_req, http::status::ok, std::move(body), "application/json"));
          });
        });
    return;
  }
  // Static files: the demo page.
  if (ctx_.options.static_dir.empty()) {
    if (path == "/" || path == "/index.html")
      return respond(make(req, http::status::ok, kNoDemo, "text/html; charset=utf-8"));
    return respond(make(req, http::status::not_found, "not found\n", "text/plain"));
  }
  auto decoded = percent_decode(path);
  if (!decoded || decoded->find("..") != std::string::npos)
    return respond(make(req, http::status::not_found, "not found\n", "text/plain"));
  std::filesystem::path file = std::filesystem::path(ctx_.options.static_dir) /
                               (*decoded == "/" ? std::string("index.html") : decoded->substr(1));
  std::ifstream in(file, std::ios::binary);
  if (!in || std::filesystem::is_directory(file))
    return respond(make(req, http::status::not_found, "not found\n", "text/plain"));
  std::stringstream body;
  body << in.rdbuf();
  respond(make(req, http::status::ok, body.str(), mime_type(file)));
}

void HttpSession::respond(Response res) {
  bool keep_alive = res.keep_alive();
  pending_ = std::make_shared<Response>(std::move(res));
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
