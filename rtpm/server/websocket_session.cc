#include "rtpm/server/websocket_session.h"

#include <algorithm>
#include <atomic>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "rtpm/protocol/binary_codec.h"
#include "rtpm/protocol/client_messages.h"
#include "rtpm/protocol/server_messages.h"
#include "rtpm/server/cluster.h"
#include "rtpm/server/relay.h"
#include "rtpm/server/room.h"
#include "rtpm/server/room_registry.h"

namespace rtpm::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {
constexpr std::string_view kJsonProtocol = "realtime-pm.json.v1";
constexpr std::string_view kBinaryProtocol = "realtime-pm.bin.v1";
std::atomic<uint64_t> next_session_id{1};

// The first subprotocol of the comma-separated Sec-WebSocket-Protocol list
// that the server speaks (the client's preference order); empty when none.
std::string_view choose_protocol(std::string_view list) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == kJsonProtocol) return kJsonProtocol;
    if (item == kBinaryProtocol) return kBinaryProtocol;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return {};
}
}  // namespace

WebSocketSession::WebSocketSession(ServerContext& ctx, ServerStream&& stream,
                                   ClientLimits::Slot slot, SessionAuth auth)
    : ctx_(ctx),
      id_(next_session_id.fetch_add(1, std::memory_order_relaxed)),
      slot_(std::move(slot)),
      ws_(std::move(stream)),
      budget_(ctx.options.rate_limit_burst, Clock::now()),
      auth_(std::move(auth)) {
  ctx_.metrics.connections.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(ctx_.sessions_mutex);
  ctx_.sessions.insert(this);
}

WebSocketSession::~WebSocketSession() {
  ctx_.metrics.connections.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard lock(ctx_.sessions_mutex);
  ctx_.sessions.erase(this);
}

void WebSocketSession::run(http::request<http::string_body> request) {
  ws_.set_option(websocket::stream_base::timeout{
      std::chrono::seconds(30), std::chrono::seconds(ctx_.options.idle_timeout_s), true});
  // Beast's own limit is the hard cap: past it the frame cannot be skipped and
  // the connection closes with 1009. Up to it, oversized messages are read and dropped.
  ws_.read_message_max(std::max<size_t>(ctx_.options.max_message_bytes * 16, 16 << 20));
  // Called inside our reads, on the strand, while the session is alive (a read holds it).
  ws_.control_callback(
      [this](websocket::frame_type kind, beast::string_view) { on_control(kind); });
  // No subprotocol asked for: JSON. Asked for but none we speak: no
  // subprotocol in the answer, so the client's handshake fails.
  std::string_view chosen = choose_protocol(request[http::field::sec_websocket_protocol]);
  binary_ = chosen == kBinaryProtocol;
  ws_.set_option(websocket::stream_base::decorator([chosen](websocket::response_type& res) {
    res.set(http::field::server, "realtime-pm");
    if (!chosen.empty()) res.set(http::field::sec_websocket_protocol, chosen);
  }));
  ws_.async_accept(request,
                   beast::bind_front_handler(&WebSocketSession::on_accept, shared_from_this()));
}

void WebSocketSession::on_accept(beast::error_code ec) {
  if (ec) return teardown();
  if (!auth_.authorized) {
    send_error(ErrorCode::unauthorized, auth_.refusal);
    return close(websocket::close_code::policy_error);
  }
  do_read();
}

void WebSocketSession::do_read() {
  ws_.async_read_some(net::buffer(chunk_),
                      beast::bind_front_handler(&WebSocketSession::on_read, shared_from_this()));
}

void WebSocketSession::on_read(beast::error_code ec, size_t bytes) {
  if (ec) {
    if (ec == websocket::error::message_too_big)
      ctx_.metrics.count_error(ErrorCode::message_too_large);
    return teardown();
  }
  if (!oversized_) {
    if (message_.size() + bytes > ctx_.options.max_message_bytes) {
      // Too large: keep reading to the end of the message, dropping what arrives.
      oversized_ = true;
      std::string().swap(message_);
    } else {
      message_.append(chunk_.data(), bytes);
    }
  }
  if (ws_.is_message_done()) {
    if (oversized_) {
      oversized_ = false;
      send_error(
          ErrorCode::message_too_large,
          "messages are limited to " + std::to_string(ctx_.options.max_message_bytes) + " bytes");
    } else {
      handle_message();
    }
    std::string().swap(message_);  // an idle connection holds no message buffer
  }
  if (!closed_) do_read();
}

void WebSocketSession::on_control(websocket::frame_type kind) {
  if (kind == websocket::frame_type::close) {
    // Beast echoes any close code from 3000 up, but RFC 6455 (7.4) defines none from 5000 up:
    // fail the connection with 1002 instead. Beast's read runs this callback before it answers
    // the close frame, and skips its own answer once a close is under way (Beast 1.81,
    // websocket/impl/read.hpp), so the close started here is the one the peer gets.
    if (ws_.reason().code >= 5000 && !closed_) {
      closed_ = true;
      ws_.async_close(websocket::close_code::protocol_error,
                      [self = shared_from_this()](beast::error_code) { self->teardown(); });
    }
    return;
  }
  // Pings and pongs cost a read and (for a ping) a write each: they spend the message budget.
  const auto& o = ctx_.options;
  if (budget_.take(Clock::now(), o.rate_limit_per_s, o.rate_limit_burst, o.max_rate_limited) ==
      MessageBudget::Verdict::close)
    close(websocket::close_code::policy_error);
}

void WebSocketSession::handle_message() {
  ctx_.metrics.messages_received.fetch_add(1, std::memory_order_relaxed);
  const std::string& text = message_;
  if (ctx_.stopping.load()) return;  // shutting down: take no new work
  const auto& o = ctx_.options;
  switch (budget_.take(Clock::now(), o.rate_limit_per_s, o.rate_limit_burst, o.max_rate_limited)) {
    case MessageBudget::Verdict::accept: break;
    case MessageBudget::Verdict::refuse_and_answer:
      // At most one such answer a second: it names the refused message's room when it has
      // one, so that the client knows which room's batch or presence was not taken.
      return send_error(ErrorCode::rate_limited, "too many messages; slow down",
                        refused_room(text));
    case MessageBudget::Verdict::refuse: return;
    case MessageBudget::Verdict::close: return close(websocket::close_code::policy_error);
  }
  auto value = parse_frame(text);
  if (!value) return send_error(ErrorCode::bad_message, value.error().message);
  handle_value(*value);
}

Result<json::Value> WebSocketSession::parse_frame(const std::string& text) const {
  const int depth = ctx_.options.max_json_depth;
  if (binary_) {
    if (ws_.got_text())
      return Error{ErrorCode::bad_message, "text frames are not part of realtime-pm.bin.v1"};
    return protocol::decode_binary(text, depth);
  }
  if (!ws_.got_text())
    return Error{ErrorCode::bad_message, "binary frames are not part of realtime-pm.json.v1"};
  return json::parse(text, json::ParseOptions{.max_depth = depth});
}

std::optional<std::string> WebSocketSession::refused_room(const std::string& text) const {
  auto value = parse_frame(text);
  return value ? protocol::error_room(*value) : std::nullopt;
}

void WebSocketSession::handle_value(const json::Value& message) {
  Result<protocol::ClientMessage> decoded = protocol::decode_client_value(message);
  if (!decoded)
    return send_error(decoded.error().code, decoded.error().message, protocol::error_room(message));
  auto self = shared_from_this();
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, protocol::JoinMessage>) {
          join(std::move(m), ctx_.cluster ? json::stringify(message) : std::string());
        } else {
          if constexpr (std::is_same_v<T, protocol::StepsMessage>) {
            if (m.steps.as_array().size() > ctx_.options.max_steps_per_message)
              return send_error(ErrorCode::bad_message,
                                "at most " + std::to_string(ctx_.options.max_steps_per_message) +
                                    " steps per message",
                                m.room);
          }
          // Another node serves the room: checked here, answered there.
          if (auto it = std::find_if(relays_.begin(), relays_.end(),
                                     [&](const Relayed& r) { return r.relay->room() == m.room; });
              it != relays_.end()) {
            it->relay->send(json::stringify(message));
            if constexpr (std::is_same_v<T, protocol::LeaveMessage>) {
              if (m.user_id == it->user_id) {
                it->relay->close();
                relays_.erase(it);
                std::erase(rooms_, m.room);
              }
            }
            return;
          }
          // A member's room is in memory (it unloads only without members).
          auto room = in_room(m.room) ? ctx_.rooms->find(m.room) : nullptr;
          if (!room) return send_error(ErrorCode::not_joined, "not a member of this room", m.room);
          if constexpr (std::is_same_v<T, protocol::StepsMessage>)
            room->steps(self, std::move(m), Clock::now());
          else if constexpr (std::is_same_v<T, protocol::PresenceMessage>)
            room->presence(self, std::move(m));
          else
            room->leave(self, std::move(m));
        }
      },
      *decoded);
}

void WebSocketSession::join(protocol::JoinMessage m, std::string text) {
  bool was_in = in_room(m.room);
  if (!was_in) {
    if (rooms_.size() >= ctx_.options.max_rooms_per_connection)
      return send_error(ErrorCode::forbidden, "this connection is in too many rooms", m.room);
    rooms_.push_back(m.room);
  }
  if (auth_.relay) {
    // Another node relays a member it admitted: served here while this node owns the room.
    if (ctx_.cluster && !ctx_.cluster->token(m.room))
      return refuse_join(m.room, was_in, ErrorCode::internal,
                         "the room moved to another node; join again");
    // Two relays of one userId from one node may arrive in either order: the newer
    // connection there keeps the room (Cluster::admit_relay).
    if (ctx_.cluster && !ctx_.cluster->admit_relay(m.room, m.user_id, auth_.relay->origin_node,
                                                   auth_.relay->origin_conn))
      return refuse_join(m.room, was_in, ErrorCode::session_replaced,
                         "the same userId joined from another session");
    return ctx_.rooms->get_or_create(m.room)->join(shared_from_this(), std::move(m),
                                                   auth_.relay->access, auth_.relay->subject);
  }
  const Authenticator& auth = *ctx_.auth;
  if (!auth.enabled()) return enter(std::move(m), was_in, {}, {}, std::move(text));
  if (const auth::Grant* grant = auth_.grant.get()) {
    // A token file's or a JWT's grant: decided here.
    auth::Permission permission = grant->rooms.permission_for(m.room);
    if (permission == auth::Permission::none)
      return refuse_join(m.room, was_in, ErrorCode::forbidden,
                         "the token does not grant access to this room");
    if (m.user_id != grant->subject)
      return refuse_join(m.room, was_in, ErrorCode::forbidden,
                         "with authentication on, userId must be the token's subject");
    std::string subject = grant->subject;
    return enter(std::move(m), was_in, auth.access(permission), std::move(subject),
                 std::move(text));
  }
  // --auth-url: the application decides, asynchronously; the join goes on on our strand.
  std::string room = m.room, user = m.user_id;
  auth.callback()->authorize(
      auth_.callback_token, std::move(room), std::move(user),
      [self = shared_from_this(), m = std::move(m), was_in,
       text = std::move(text)](Result<AuthCallback::Decision> decision) mutable {
        net::post(self->ws_.get_executor(), [self, m = std::move(m), was_in, text = std::move(text),
                                             decision = std::move(decision)]() mutable {
          if (self->closed_) return;
          if (!decision)
            return self->refuse_join(m.room, was_in, ErrorCode::unauthorized,
                                     decision.error().message);
          if (decision->permission == auth::Permission::none)
            return self->refuse_join(m.room, was_in, ErrorCode::forbidden,
                                     "the application does not allow this join");
          if (!decision->user_id.empty() && decision->user_id != m.user_id)
            return self->refuse_join(m.room, was_in, ErrorCode::forbidden,
                                     "the application binds this token to another userId");
          std::string subject = m.user_id;
          room::Access access = self->ctx_.auth->access(decision->permission);
          self->enter(std::move(m), was_in, access, std::move(subject), std::move(text));
        });
      });
}

void WebSocketSession::enter(protocol::JoinMessage m, bool was_in, room::Access access,
                             std::string subject, std::string text) {
  if (!ctx_.cluster)
    return ctx_.rooms->get_or_create(m.room)->join(shared_from_this(), std::move(m), access,
                                                   std::move(subject));
  // A resync of a relayed member goes to the owner it is a member of.
  if (Relay* relay = relay_for(m.room)) return relay->send(std::move(text));
  std::string room = m.room;
  ctx_.cluster->route(std::move(room), [self = shared_from_this(), m = std::move(m), was_in, access,
                                        subject = std::move(subject), text = std::move(text)](
                                           Result<Cluster::Route> route) mutable {
    net::post(self->ws_.get_executor(), [self, m = std::move(m), was_in, access,
                                         subject = std::move(subject), text = std::move(text),
                                         route = std::move(route)]() mutable {
      if (self->closed_ || !self->in_room(m.room)) return;
      if (!route)
        return self->refuse_join(
            m.room, was_in, ErrorCode::internal,
            "the room cannot be reached now (" + route.error().message + "); join again");
      if (route->local)
        return self->ctx_.rooms->get_or_create(m.room)->join(self, std::move(m), access,
                                                             std::move(subject));
      if (Relay* relay = self->relay_for(m.room)) return relay->send(std::move(text));
      auto relay = std::make_shared<Relay>(
          self->ctx_, self, m.room, m.user_id, route->url, route->token,
          RelayGrant{std::move(subject), access, self->ctx_.cluster->node(), self->id_});
      Cluster::Claim claim = self->ctx_.cluster->claim(m.room, m.user_id, self->id_, relay);
      if (!claim.granted) {
        // A newer connection of this userId is in the room from here: this one is the older.
        std::erase(self->rooms_, m.room);
        return self->send_error(ErrorCode::session_replaced,
                                "the same userId joined from another session", m.room);
      }
      if (claim.displaced) claim.displaced->replaced();
      self->relays_.push_back({relay, m.user_id});
      relay->start(std::move(text));
    });
  });
}

Relay* WebSocketSession::relay_for(const std::string& room) const {
  for (const Relayed& r : relays_)
    if (r.relay->room() == room) return r.relay.get();
  return nullptr;
}

void WebSocketSession::relay_ended(const std::string& room, const Relay* relay, RelayEnd end) {
  net::post(ws_.get_executor(), [self = shared_from_this(), room, relay, end] {
    auto it = std::find_if(self->relays_.begin(), self->relays_.end(),
                           [&](const Relayed& r) { return r.relay.get() == relay; });
    if (it == self->relays_.end()) return;
    self->relays_.erase(it);
    std::erase(self->rooms_, room);
    if (self->closed_) return;
    if (end == RelayEnd::unreachable)
      self->send_error(ErrorCode::internal, "the room's node cannot be reached; join again", room);
    else if (end == RelayEnd::replaced)
      self->send_error(ErrorCode::session_replaced, "the same userId joined from another session",
                       room);
  });
}

void WebSocketSession::refuse_join(const std::string& room, bool was_in, ErrorCode code,
                                   std::string message) {
  // A refused resync keeps the membership the connection had; a refused first join leaves
  // no trace.
  if (!was_in) std::erase(rooms_, room);
  send_error(code, std::move(message), room);
}

void WebSocketSession::refuse(std::string message) {
  net::post(ws_.get_executor(), [self = shared_from_this(), message = std::move(message)] {
    if (self->closed_) return;
    self->send_error(ErrorCode::unauthorized, message);
    self->close(websocket::close_code::policy_error);
  });
}

void WebSocketSession::send_error(ErrorCode code, std::string message,
                                  std::optional<std::string> room) {
  ctx_.metrics.count_error(code);
  send(make_payload(protocol::encode_error(Error{code, std::move(message)}, std::move(room),
                                           protocol::now_ms())));
}

void WebSocketSession::send(PayloadPtr message) {
  // Dispatched: from the room (or this session) on this thread, the write starts at once
  // instead of after one more trip through the event loop.
  net::dispatch(ws_.get_executor(), [self = shared_from_this(), m = std::move(message)]() mutable {
    if (self->closed_) return;
    size_t size = self->binary_ ? m->binary().size() : m->json().size();
    // A reader is slow when what waits for it passes the limit; one message larger than the
    // limit (a big document's `state`) still goes to a reader that has nothing queued.
    if (self->queued_bytes_ > 0 &&
        self->queued_bytes_ + size > self->ctx_.options.max_outgoing_bytes) {
      spdlog::warn("closing a connection that reads too slowly ({} bytes queued)",
                   self->queued_bytes_);
      self->closed_ = true;
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).close(ignored);
      return;
    }
    self->queued_bytes_ += size;
    self->queue_.push_back(std::move(m));
    if (!self->writing_) self->do_write();
  });
}

void WebSocketSession::do_write() {
  writing_ = true;
  ws_.text(!binary_);
  const std::string& bytes = binary_ ? queue_.front()->binary() : queue_.front()->json();
  ws_.async_write(net::buffer(bytes),
                  beast::bind_front_handler(&WebSocketSession::on_write, shared_from_this()));
}

void WebSocketSession::on_write(beast::error_code ec, size_t) {
  if (ec) {
    writing_ = false;
    return teardown();
  }
  queued_bytes_ -= binary_ ? queue_.front()->binary().size() : queue_.front()->json().size();
  queue_.erase(queue_.begin());
  auto& stream = ws_.next_layer();
  if (!queue_.empty() && !closed_) {
    // Several messages waiting (a broadcast burst, a busy room): their frames are held and
    // leave in one write (ServerStream's held writes) instead of one system call -- and on
    // loopback one trip through the receiving stack -- each.
    stream.hold_writes();
    return do_write();
  }
  if (queue_.empty()) std::vector<PayloadPtr>().swap(queue_);  // an idle connection holds no queue
  if (!stream.holding_writes()) {
    writing_ = false;
    return;
  }
  // The burst is framed: send it. No message write starts before it is out.
  stream.release_writes(shared_from_this(), [this](beast::error_code sent) {
    writing_ = false;
    if (sent) return teardown();
    if (!queue_.empty() && !closed_) do_write();
  });
}

void WebSocketSession::left_room(const std::string& room) {
  net::post(ws_.get_executor(), [self = shared_from_this(), room] {
    auto& rooms = self->rooms_;
    rooms.erase(std::remove(rooms.begin(), rooms.end(), room), rooms.end());
    if (rooms.empty()) rooms.shrink_to_fit();
  });
}

void WebSocketSession::close(websocket::close_code code) {
  net::post(ws_.get_executor(), [self = shared_from_this(), code] {
    if (self->closed_) return;
    self->closed_ = true;
    self->ws_.async_close(code, [self](beast::error_code) { self->teardown(); });
  });
}

void WebSocketSession::teardown() {
  closed_ = true;
  auto self = shared_from_this();
  for (const Relayed& r : relays_) r.relay->close();
  relays_.clear();
  for (const auto& name : rooms_)
    if (auto room = ctx_.rooms->find(name)) room->disconnect(self);
  rooms_.clear();
}

size_t refuse_sessions(ServerContext& ctx,
                       const std::function<bool(const WebSocketSession&)>& which,
                       std::string message) {
  // As at shutdown: our reference may be the last one, and ~WebSocketSession takes the mutex.
  std::vector<std::shared_ptr<WebSocketSession>> chosen;
  {
    std::lock_guard lock(ctx.sessions_mutex);
    for (WebSocketSession* s : ctx.sessions)
      if (which(*s))
        if (auto p = s->weak_from_this().lock()) chosen.push_back(std::move(p));
  }
  for (auto& s : chosen) s->refuse(message);
  return chosen.size();
}

bool WebSocketSession::in_room(const std::string& room) const {
  return std::find(rooms_.begin(), rooms_.end(), room) != rooms_.end();
}

}  // namespace rtpm::server
