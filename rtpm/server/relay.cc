#include "rtpm/server/relay.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "rtpm/json/json.h"
#include "rtpm/server/cluster.h"
#include "rtpm/server/context.h"
#include "rtpm/server/http_client.h"
#include "rtpm/server/websocket_session.h"

namespace rtpm::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

// Whether the owner's message is an `internal` error for `room`: the owner dropped the member
// from the room (it failed, or is no longer served there), so the relay ends with it.
bool internal_error_for(const std::string& text, const std::string& room) {
  if (text.find("\"internal\"") == std::string::npos) return false;
  auto value = json::parse(text);
  if (!value || !value->is_object()) return false;
  const json::Value* type = value->find("type");
  const json::Value* code = value->find("code");
  const json::Value* r = value->find("room");
  return type && type->is_string() && type->as_string() == "error" && code && code->is_string() &&
         code->as_string() == "internal" && r && r->is_string() && r->as_string() == room;
}

}  // namespace

std::optional<HttpUrl> node_http_url(std::string_view url) {
  constexpr std::string_view kScheme = "ws://";
  if (url.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  return parse_http_url("http://" + std::string(url.substr(kScheme.size())));
}

bool valid_node_url(std::string_view url) { return node_http_url(url).has_value(); }

Relay::Relay(ServerContext& ctx, std::weak_ptr<WebSocketSession> session, std::string room,
             std::string user_id, std::string url, std::string token, RelayGrant grant)
    : ctx_(ctx),
      session_(std::move(session)),
      room_(std::move(room)),
      user_id_(std::move(user_id)),
      url_(std::move(url)),
      token_(std::move(token)),
      grant_(std::move(grant)),
      strand_(net::make_strand(ctx.ioc)),
      resolver_(strand_),
      ws_(strand_) {
  ctx_.metrics.relays.fetch_add(1, std::memory_order_relaxed);
}

Relay::~Relay() { ctx_.metrics.relays.fetch_sub(1, std::memory_order_relaxed); }

void Relay::start(std::string join_json) {
  net::post(strand_, [self = shared_from_this(), join = std::move(join_json)]() mutable {
    if (self->done_) return;
    self->queue_.push_back(std::move(join));
    auto url = node_http_url(self->url_);
    if (!url) {
      spdlog::error("relay: bad node URL {}", self->url_);
      return self->fail(RelayEnd::unreachable);
    }
    if (self->ctx_.cluster) {
      std::weak_ptr<Relay> weak = self;
      self->watch_ = self->ctx_.cluster->watch(self->room_, self->token_, [weak] {
        if (auto relay = weak.lock())
          net::post(relay->strand_, [relay] {
            if (!relay->done_) relay->fail(RelayEnd::unreachable);
          });
      });
    }
    self->resolver_.async_resolve(
        url->host, url->port,
        [self, url = *url](beast::error_code ec, net::ip::tcp::resolver::results_type results) {
          if (self->done_) return;
          if (ec) return self->fail(RelayEnd::unreachable);
          beast::get_lowest_layer(self->ws_).expires_after(std::chrono::seconds(5));
          beast::get_lowest_layer(self->ws_).async_connect(
              results, [self, url](beast::error_code ec2, const net::ip::tcp::endpoint&) {
                if (self->done_) return;
                if (ec2) return self->fail(RelayEnd::unreachable);
                beast::get_lowest_layer(self->ws_).expires_never();
                beast::get_lowest_layer(self->ws_).socket().set_option(
                    net::ip::tcp::no_delay(true));
                self->ws_.set_option(websocket::stream_base::timeout{
                    std::chrono::seconds(5),
                    std::chrono::seconds(std::max(2, self->ctx_.options.idle_timeout_s)), true});
                self->ws_.read_message_max(
                    std::max<size_t>(self->ctx_.options.max_outgoing_bytes, 16 << 20));
                const std::string& secret = self->ctx_.cluster ? self->ctx_.cluster->secret() : "";
                std::string access;
                if (self->grant_.access.write) access += 'w';
                if (self->grant_.access.presence) access += 'p';
                self->ws_.set_option(websocket::stream_base::decorator(
                    [secret, grant = self->grant_, access](websocket::request_type& req) {
                      req.set(beast::http::field::sec_websocket_protocol, "realtime-pm.json.v1");
                      req.set("X-Rtpm-Relay", secret);
                      req.set("X-Rtpm-Relay-Subject", grant.subject);
                      req.set("X-Rtpm-Relay-Access", access.empty() ? "-" : access);
                      req.set("X-Rtpm-Relay-Origin", grant.origin_node);
                      req.set("X-Rtpm-Relay-Conn", std::to_string(grant.origin_conn));
                    }));
                self->ws_.async_handshake(url.host_header, url.path, [self](beast::error_code ec3) {
                  if (self->done_) return;
                  if (ec3) return self->fail(RelayEnd::unreachable);
                  self->on_connected();
                });
              });
        });
  });
}

void Relay::on_connected() {
  open_ = true;
  ws_.text(true);
  do_read();
  if (!queue_.empty()) do_write();
}

void Relay::do_read() {
  ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (self->done_) return;
    if (ec) return self->fail(RelayEnd::unreachable);
    std::string text = beast::buffers_to_string(self->buffer_.data());
    self->buffer_.consume(self->buffer_.size());
    bool internal = internal_error_for(text, self->room_);
    if (auto session = self->session_.lock()) session->send(make_payload(std::move(text)));
    if (internal) return self->fail(RelayEnd::quiet);  // forwarded: the member knows
    self->do_read();
  });
}

void Relay::send(std::string json) {
  net::post(strand_, [self = shared_from_this(), json = std::move(json)]() mutable {
    if (self->done_ || self->closing_) return;
    self->queued_bytes_ += json.size();
    if (self->queued_bytes_ > self->ctx_.options.max_outgoing_bytes)
      return self->fail(RelayEnd::unreachable);
    self->queue_.push_back(std::move(json));
    if (self->open_ && !self->writing_) self->do_write();
  });
}

void Relay::do_write() {
  writing_ = true;
  ws_.async_write(
      net::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
        self->writing_ = false;
        if (self->done_) return;
        if (ec) return self->fail(RelayEnd::unreachable);
        self->queued_bytes_ -= std::min(self->queued_bytes_, self->queue_.front().size());
        self->queue_.pop_front();
        if (!self->queue_.empty()) return self->do_write();
        if (self->closing_) {
          self->done_ = true;
          self->ws_.async_close(websocket::close_code::normal, [self](beast::error_code) {});
        }
      });
}

void Relay::replaced() {
  net::post(strand_, [self = shared_from_this()] {
    if (!self->done_ && !self->closing_) self->fail(RelayEnd::replaced);
  });
}

void Relay::close() {
  net::post(strand_, [self = shared_from_this()] {
    if (self->done_ || self->closing_) return;
    self->closing_ = true;
    if (self->ctx_.cluster) {
      if (self->watch_) self->ctx_.cluster->unwatch(self->watch_);
      self->ctx_.cluster->unclaim(self->room_, self->user_id_, self.get());
    }
    if (self->open_ && !self->writing_ && self->queue_.empty()) {
      self->done_ = true;
      self->ws_.async_close(websocket::close_code::normal, [self](beast::error_code) {});
    } else if (!self->open_) {
      self->done_ = true;
      beast::get_lowest_layer(self->ws_).close();
      self->resolver_.cancel();
    }
  });
}

void Relay::fail(RelayEnd end) {
  if (done_) return;
  done_ = true;
  if (ctx_.cluster) {
    if (watch_) ctx_.cluster->unwatch(watch_);
    ctx_.cluster->unclaim(room_, user_id_, this);
  }
  beast::get_lowest_layer(ws_).close();
  resolver_.cancel();
  if (auto session = session_.lock()) session->relay_ended(room_, this, end);
}

}  // namespace rtpm::server
