#include "rtpm/client/connection.h"

#include <stdexcept>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "rtpm/protocol/binary_codec.h"

namespace rtpm::client {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr const char* kJsonProtocol = "realtime-pm.json.v1";
constexpr const char* kBinaryProtocol = "realtime-pm.bin.v1";

std::optional<net::ip::address> bind_address_of(const ConnectionOptions& options) {
  if (options.bind_address.empty()) return std::nullopt;
  beast::error_code ec;
  auto address = net::ip::make_address(options.bind_address, ec);
  if (ec) throw std::invalid_argument("bad bind address " + options.bind_address);
  return address;
}

// A TLS client context that verifies peers as `options` say. False (with
// `ec`) when the CA certificates cannot be loaded.
bool setup_tls(const ConnectionOptions& options, ssl::context& ctx, beast::error_code& ec) {
  if (!options.verify_peer) {
    ctx.set_verify_mode(ssl::verify_none);
    return true;
  }
  ctx.set_verify_mode(ssl::verify_peer);
  if (!options.ca_file.empty())
    ctx.load_verify_file(options.ca_file, ec);
  else
    ctx.set_default_verify_paths(ec);
  return !ec;
}

// SNI and, when verifying, the host name check.
template <class SslStream>
void setup_peer(const ConnectionOptions& options, const std::string& host, SslStream& stream) {
  SSL_set_tlsext_host_name(stream.native_handle(),
                           host.c_str());  // a failure shows in the handshake
  if (options.verify_peer) stream.set_verify_callback(ssl::host_name_verification(host));
}

// Connects `layer` to the first endpoint of `results` that answers, from
// `bind` (port 0) when given: each attempt opens and binds a fresh socket. The
// caller's expiry on `layer` bounds the attempts.
net::awaitable<beast::error_code> connect_from(beast::tcp_stream& layer,
                                               const tcp::resolver::results_type& results,
                                               const std::optional<net::ip::address>& bind) {
  beast::error_code result = net::error::host_not_found;
  for (const auto& entry : results) {
    tcp::endpoint endpoint = entry.endpoint();
    if (bind && bind->is_v4() != endpoint.address().is_v4()) continue;
    beast::error_code ec;
    auto& socket = layer.socket();
    socket.close(ec);
    socket.open(endpoint.protocol(), ec);
    if (!ec && bind) socket.bind(tcp::endpoint(*bind, 0), ec);
    if (!ec) std::tie(ec) = co_await layer.async_connect(endpoint, kTuple);
    result = ec;
    if (!ec) break;
  }
  co_return result;
}

}  // namespace

std::optional<ServerUrl> parse_server_url(std::string_view url) {
  ServerUrl u;
  std::string_view rest;
  if (url.substr(0, 5) == "ws://") {
    rest = url.substr(5);
  } else if (url.substr(0, 6) == "wss://") {
    u.tls = true;
    rest = url.substr(6);
  } else {
    return std::nullopt;
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.empty()) return std::nullopt;
  if (authority.front() == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      u.port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) u.port = authority.substr(colon + 1);
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.host.empty()) return std::nullopt;
  return u;
}

// ---------------------------------------------------------------------------

Connection::Connection(ConnectionOptions options, Strand strand, std::weak_ptr<Handler> handler)
    : options_(std::move(options)),
      strand_(std::move(strand)),
      handler_(std::move(handler)),
      retry_timer_(strand_),
      backoff_(options_.backoff) {
  auto url = parse_server_url(options_.url);
  if (!url) throw std::invalid_argument("bad url " + options_.url);
  url_ = *url;
  bind_address_of(options_);  // throws for a malformed one
}

void Connection::start() {
  {
    std::lock_guard lock(mu_);
    if (closed_ || started_) return;
    started_ = true;
  }
  net::co_spawn(strand_, run(shared_from_this()), net::detached);
}

bool Connection::send(const protocol::ClientMessage& message) {
  {
    std::lock_guard lock(mu_);
    if (!open_) return false;
    json::Value value = protocol::encode_client_value(message, protocol::now_ms());
    if (binary_)
      outbox_.push_back({protocol::encode_binary(value), true});
    else
      outbox_.push_back({json::stringify(value), false});
  }
  wake_writer();
  return true;
}

void Connection::drop() {
  net::post(strand_, [self = shared_from_this()] {
    if (self->abort_) self->abort_();
  });
}

void Connection::reconnect_now() {
  net::post(strand_, [self = shared_from_this()] { self->retry_timer_.cancel(); });
}

void Connection::close() {
  bool started;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    started = started_;
  }
  net::post(strand_, [self = shared_from_this(), started] {
    self->retry_timer_.cancel();
    if (self->wake_)
      self->wake_();  // the writer sends what is queued, then closes
    else if (self->abort_)
      self->abort_();  // a connection attempt under way
    if (!started) self->finished_.set_value();
  });
}

std::optional<Subprotocol> Connection::subprotocol() const {
  std::lock_guard lock(mu_);
  if (!open_) return std::nullopt;
  return binary_ ? Subprotocol::binary : Subprotocol::json;
}

bool Connection::is_closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void Connection::state(ConnectionState s) {
  if (auto h = handler_.lock()) h->on_connection_state(s);
}

void Connection::connect_error(const std::string& what, const std::string& why) {
  if (is_closed()) return;
  if (auto h = handler_.lock()) h->on_connect_error("connect: " + what + ": " + why);
}

void Connection::wake_writer() {
  if (strand_.running_in_this_thread()) {
    if (wake_) wake_();
    return;
  }
  if (wake_posted_.exchange(true)) return;  // a wake-up is on its way
  net::post(strand_, [self = shared_from_this()] {
    self->wake_posted_ = false;
    if (self->wake_) self->wake_();
  });
}

// ---- the connection loop (on the strand) ----

net::awaitable<void> Connection::run(std::shared_ptr<Connection> self) {
  for (;;) {
    if (self->is_closed()) break;
    self->state(ConnectionState::connecting);
    ++self->attempts_;
    co_await self->attempt();
    {
      std::lock_guard lock(self->mu_);
      ++self->generation_;
      self->open_ = false;
      self->outbox_.clear();
    }
    if (self->is_closed()) break;
    self->state(ConnectionState::offline);
    int64_t delay = self->backoff_.next_ms();
    self->retry_timer_.expires_after(std::chrono::milliseconds(delay));
    co_await self->retry_timer_.async_wait(kTuple);
  }
  self->finished_.set_value();
}

net::awaitable<void> Connection::attempt() {
  tcp::resolver resolver(strand_);
  auto [ec, results] = co_await resolver.async_resolve(url_.host, url_.port, kTuple);
  if (ec) {
    connect_error("resolve", ec.message());
    co_return;
  }
  if (!url_.tls) {
    auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(strand_);
    co_await run_socket(ws, results);
  } else {
    ssl::context ctx(ssl::context::tls_client);
    beast::error_code cec;
    if (!setup_tls(options_, ctx, cec)) {
      connect_error("CA certificates", cec.message());
      co_return;
    }
    auto ws =
        std::make_shared<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>(strand_, ctx);
    co_await run_socket(ws, results);
  }
}

template <class Ws>
net::awaitable<void> Connection::run_socket(std::shared_ptr<Ws> ws,
                                            tcp::resolver::results_type results) {
  auto& layer = beast::get_lowest_layer(*ws);
  layer.expires_after(std::chrono::milliseconds(options_.connect_timeout_ms));
  abort_ = [ws] {
    beast::error_code ignored;
    beast::get_lowest_layer(*ws).socket().close(ignored);
  };
  beast::error_code cec = co_await connect_from(layer, results, bind_address_of(options_));
  if (cec) {
    abort_ = nullptr;
    connect_error("tcp", cec.message());
    co_return;
  }
  layer.socket().set_option(tcp::no_delay(true));
  if constexpr (!std::is_same_v<Ws, websocket::stream<beast::tcp_stream>>) {
    setup_peer(options_, url_.host, ws->next_layer());
    auto [hec] = co_await ws->next_layer().async_handshake(ssl::stream_base::client, kTuple);
    if (hec) {
      abort_ = nullptr;
      connect_error("tls handshake", hec.message());
      co_return;
    }
  }
  layer.expires_never();
  websocket::stream_base::timeout timeout;
  timeout.handshake_timeout = std::chrono::milliseconds(options_.connect_timeout_ms);
  timeout.idle_timeout = std::chrono::milliseconds(options_.idle_timeout_ms);
  timeout.keep_alive_pings = true;
  ws->set_option(timeout);
  std::string offered =
      options_.subprotocol == Subprotocol::binary ? kBinaryProtocol : kJsonProtocol;
  ws->set_option(websocket::stream_base::decorator(
      [offered, token = options_.bearer_token](websocket::request_type& req) {
        req.set(http::field::sec_websocket_protocol, offered);
        req.set(http::field::user_agent, "realtime-pm-client");
        if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
      }));
  websocket::response_type response;
  auto [wec] =
      co_await ws->async_handshake(response, url_.host + ":" + url_.port, url_.target, kTuple);
  if (wec) {
    abort_ = nullptr;
    connect_error("websocket handshake", wec.message());
    co_return;
  }
  bool binary = response[http::field::sec_websocket_protocol] == kBinaryProtocol;
  ws->binary(binary);
  auto wake = std::make_shared<net::steady_timer>(strand_);
  wake->expires_at(net::steady_timer::time_point::max());
  wake_ = [wake] { wake->cancel(); };
  int64_t generation;
  bool closed;
  {
    std::lock_guard lock(mu_);
    binary_ = binary;
    generation = generation_;
    closed = closed_;
    open_ = !closed_;
  }
  if (!closed) {
    ++opened_;
    state(ConnectionState::open);
  }
  net::co_spawn(strand_, write_loop(shared_from_this(), ws, wake, generation), net::detached);
  beast::flat_buffer buffer;
  for (;;) {
    auto [rec, n] = co_await ws->async_read(buffer, kTuple);
    if (rec) break;
    std::string data = beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    bool text = ws->got_text();
    if (options_.skip_presence && protocol::is_presence_frame(data, !text)) continue;
    auto decode = [&] {
      Result<json::Value> value = text ? json::parse(data) : protocol::decode_binary(data);
      Result<protocol::ServerMessage> message =
          value ? protocol::decode_server_value(*value)
                : Result<protocol::ServerMessage>(
                      Error{ErrorCode::bad_message, "server frame: " + value.error().message});
      if (!message && value)
        message = Error{ErrorCode::bad_message, "server message: " + message.error().message};
      return message;
    };
    Result<protocol::ServerMessage> message =
        options_.shared ? *options_.shared->decoded(data, !text, decode) : decode();
    if (auto h = handler_.lock()) h->on_server_message(std::move(message));
  }
  abort_ = nullptr;
  wake_ = nullptr;
  {
    std::lock_guard lock(mu_);
    ++generation_;  // the writer stops
    open_ = false;
    outbox_.clear();
  }
  wake->cancel();
  beast::error_code ignored;
  beast::get_lowest_layer(*ws).socket().close(ignored);
}

template <class Ws>
net::awaitable<void> Connection::write_loop(std::shared_ptr<Connection> self,
                                            std::shared_ptr<Ws> ws,
                                            std::shared_ptr<net::steady_timer> wake,
                                            int64_t generation) {
  for (;;) {
    std::optional<Outgoing> next;
    bool closing = false;
    {
      std::lock_guard lock(self->mu_);
      if (generation != self->generation_) co_return;
      if (!self->outbox_.empty()) {
        next = std::move(self->outbox_.front());
        self->outbox_.pop_front();
      } else {
        closing = self->closed_;
      }
    }
    if (next) {
      ws->binary(next->binary);
      auto [ec, n] = co_await ws->async_write(net::buffer(next->payload), kTuple);
      if (ec) {
        beast::error_code ignored;
        beast::get_lowest_layer(*ws).socket().close(ignored);
        co_return;
      }
      continue;
    }
    if (closing) {
      co_await ws->async_close(websocket::close_code::normal, kTuple);
      beast::error_code ignored;
      beast::get_lowest_layer(*ws).socket().close(ignored);
      co_return;
    }
    wake->expires_at(net::steady_timer::time_point::max());
    co_await wake->async_wait(kTuple);
  }
}

// ---------------------------------------------------------------------------

namespace {

using HttpResult = std::optional<Result<HttpResponse>>;
using HttpRequest = http::request<http::string_body>;

/// The most a response body may hold (a document or a page of steps can be large).
constexpr uint64_t kMaxResponseBody = uint64_t{256} << 20;

template <class Stream>
net::awaitable<void> exchange(Stream& stream, const HttpRequest& req, HttpResult& out) {
  auto [wec, wn] = co_await http::async_write(stream, req, kTuple);
  if (wec) {
    out = Error{ErrorCode::internal, "write: " + wec.message()};
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  parser.skip(req.method() == http::verb::head);  // the answer to HEAD has no body
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kTuple);
  if (rec) {
    out = Error{ErrorCode::internal, "read: " + rec.message()};
    co_return;
  }
  http::response<http::string_body> res = parser.release();
  out = HttpResponse{static_cast<int>(res.result_int()), std::move(res.body())};
}

net::awaitable<void> send_request(const ConnectionOptions& options, const ServerUrl& url,
                                  HttpRequest req, HttpResult& out) {
  auto executor = co_await net::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [ec, results] = co_await resolver.async_resolve(url.host, url.port, kTuple);
  if (ec) {
    out = Error{ErrorCode::internal, "resolve: " + ec.message()};
    co_return;
  }
  req.set(http::field::host, url.host);
  if (!options.bearer_token.empty())
    req.set(http::field::authorization, "Bearer " + options.bearer_token);
  if (!req.body().empty()) req.set(http::field::content_type, "application/json");
  req.prepare_payload();
  auto timeout = std::chrono::milliseconds(options.connect_timeout_ms);
  std::optional<net::ip::address> bind = bind_address_of(options);
  if (!url.tls) {
    beast::tcp_stream stream(executor);
    stream.expires_after(timeout);
    if (auto cec = co_await connect_from(stream, results, bind)) {
      out = Error{ErrorCode::internal, "connect: " + cec.message()};
      co_return;
    }
    co_await exchange(stream, req, out);
    co_return;
  }
  ssl::context ctx(ssl::context::tls_client);
  beast::error_code tec;
  if (!setup_tls(options, ctx, tec)) {
    out = Error{ErrorCode::internal, "CA certificates: " + tec.message()};
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(executor, ctx);
  beast::get_lowest_layer(stream).expires_after(timeout);
  if (auto cec = co_await connect_from(beast::get_lowest_layer(stream), results, bind)) {
    out = Error{ErrorCode::internal, "connect: " + cec.message()};
    co_return;
  }
  setup_peer(options, url.host, stream);
  auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, kTuple);
  if (hec) {
    out = Error{ErrorCode::internal, "tls handshake: " + hec.message()};
    co_return;
  }
  co_await exchange(stream, req, out);
}

}  // namespace

Result<HttpResponse> http_request(const ConnectionOptions& options, std::string_view method,
                                  std::string_view path, std::string body) {
  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown)
    return Error{ErrorCode::bad_message, "bad HTTP method " + std::string(method)};
  auto url = parse_server_url(options.url);
  if (!url) return Error{ErrorCode::bad_message, "bad url " + options.url};
  // The HTTP API lives beside the WebSocket endpoint: /ws -> /api/schema.
  std::string target = url->target;
  // The query stays: a `?token=` in the URL authenticates the HTTP request too.
  size_t q = target.find('?');
  std::string query = q == std::string::npos ? "" : target.substr(q);
  if (q != std::string::npos) target.resize(q);
  if (target.size() >= 3 && target.compare(target.size() - 3, 3, "/ws") == 0)
    target.resize(target.size() - 3);
  else if (!target.empty() && target.back() == '/')
    target.pop_back();
  target += path;
  // Errors name the request without the URL's query, which may hold a token.
  std::string what = std::string(method) + " " + target;
  // `path` may have a query of its own: the URL's parameters follow it.
  if (!query.empty() && path.find('?') != std::string_view::npos) query[0] = '&';
  target += query;
  HttpResult result;
  try {
    net::io_context io;
    net::co_spawn(
        io, send_request(options, *url, HttpRequest{verb, target, 11, std::move(body)}, result),
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    io.run();
  } catch (const std::exception& e) {
    return Error{ErrorCode::internal, what + ": " + e.what()};
  }
  if (!result) return Error{ErrorCode::internal, what + ": no answer"};
  if (!*result) return Error{ErrorCode::internal, what + ": " + result->error().message};
  return std::move(*result);
}

Result<HttpResponse> http_get(const ConnectionOptions& options, std::string_view path) {
  return http_request(options, "GET", path);
}

}  // namespace rtpm::client
