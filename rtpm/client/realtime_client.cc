#include "rtpm/client/realtime_client.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <variant>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "rtpm/protocol/client_messages.h"

namespace rtpm::client {

namespace net = boost::asio;
using json::Value;

namespace {

ConnectionOptions connection_options(const ClientOptions& o) {
  return ConnectionOptions{.url = o.url,
                           .subprotocol = o.subprotocol,
                           .bearer_token = o.bearer_token,
                           .verify_peer = o.verify_peer,
                           .ca_file = o.ca_file,
                           .bind_address = o.bind_address,
                           .backoff = o.backoff,
                           .connect_timeout_ms = o.connect_timeout_ms,
                           .idle_timeout_ms = o.idle_timeout_ms,
                           .shared = o.shared_steps,
                           .skip_presence = !o.remote_presence};
}

// The room a server message is for, if it names one.
std::optional<std::string> room_of(const protocol::ServerMessage& message) {
  return std::visit(
      [](const auto& m) -> std::optional<std::string> {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, protocol::UnknownServerMessage>)
          return std::nullopt;
        else
          return m.room;
      },
      message);
}

}  // namespace

// The io_context and thread of a client constructed without one.
struct OwnThread {
  net::io_context io{1};
  net::executor_work_guard<net::io_context::executor_type> guard = net::make_work_guard(io);
  std::thread thread;
};

// ---------------------------------------------------------------------------

// The rooms' sessions over one connection. Public methods lock `mu_`, call a
// session, send what it produced and queue its events; events are delivered on
// the strand (drain_events), never under the lock.
class RealtimeClient::Impl : public Connection::Handler,
                             public std::enable_shared_from_this<RealtimeClient::Impl> {
 public:
  static std::shared_ptr<Impl> create(ClientOptions options, Callbacks callbacks,
                                      net::io_context& io) {
    auto impl = std::shared_ptr<Impl>(new Impl(std::move(options), std::move(callbacks), io));
    impl->conn_ =
        std::make_shared<Connection>(connection_options(impl->options_), impl->strand_, impl);
    return impl;
  }

  // ---- connection ----

  void connect() { conn_->start(); }
  void disconnect() { conn_->drop(); }
  void reconnect_now() { conn_->reconnect_now(); }

  void close() {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      for (auto& [name, session] : rooms_) {
        SessionOutput out;
        session.leave(out);
        apply(name, out);
      }
      closed_ = true;
      conn_state_ = ConnectionState::closed;
    }
    changed_.notify_all();
    conn_->close();  // sends the leaves, then closes
  }

  /// Own-thread mode: wait (bounded) for the connection loop to end.
  void wait_finished(std::chrono::milliseconds timeout) { conn_->finished().wait_for(timeout); }

  ConnectionState connection_state() const {
    std::lock_guard lock(mu_);
    return conn_state_;
  }
  int connect_attempts() const { return conn_->attempts(); }
  std::optional<Subprotocol> subprotocol() const {
    std::lock_guard lock(mu_);
    if (conn_state_ != ConnectionState::open) return std::nullopt;
    return conn_->subprotocol();
  }
  const std::string& user_id() const { return options_.user_id; }

  ClientStats stats() const {
    std::lock_guard lock(mu_);
    ClientStats s;
    s.connect_attempts = conn_->attempts();
    s.reconnects = std::max(0, conn_->opened() - 1);
    s.rooms = left_stats_;
    for (const auto& [name, session] : rooms_) s.rooms += session.stats();
    return s;
  }

  // ---- rooms ----

  Result<void> join(const std::string& name, std::optional<Value> presence) {
    if (!protocol::valid_room_name(name))
      return Error{ErrorCode::invalid_room, "bad room name: " + name};
    if (presence && !presence->is_object())
      return Error{ErrorCode::bad_message, "presence must be an object"};
    {
      std::lock_guard lock(mu_);
      auto it = rooms_.find(name);
      if (it != rooms_.end() && it->second.status() != RoomStatus::left)
        return Error{ErrorCode::forbidden, "room already joined: " + name};
      if (it != rooms_.end()) forget(it);
      RoomSession& session =
          rooms_.try_emplace(name, name, session_options(), std::move(presence)).first->second;
      if (conn_state_ == ConnectionState::open) {
        SessionOutput out;
        session.connection_opened(out);
        apply(name, out);
      }
    }
    kick();
    return {};
  }

  Result<void> leave(const std::string& name) {
    {
      std::lock_guard lock(mu_);
      auto it = rooms_.find(name);
      if (it == rooms_.end()) return Error{ErrorCode::not_joined, "no room " + name};
      SessionOutput out;
      it->second.leave(out);
      apply(name, out);
      forget(it);
    }
    kick();
    return {};
  }

  std::optional<RoomSnapshot> snapshot(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = rooms_.find(name);
    if (it == rooms_.end()) return std::nullopt;
    return it->second.snapshot();
  }

  std::vector<std::string> room_names() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> names;
    for (const auto& [name, session] : rooms_)
      if (session.status() != RoomStatus::left) names.push_back(name);
    return names;
  }

  // ---- editing and presence ----

  Result<model::NodeRef> edit(const std::string& name,
                              const std::function<void(transform::Transform&)>& fn) {
    Result<model::NodeRef> result = Error{ErrorCode::not_joined, "no room " + name};
    {
      std::lock_guard lock(mu_);
      auto it = rooms_.find(name);
      if (it == rooms_.end()) return result;
      SessionOutput out;
      result = it->second.edit(fn, out);
      apply(name, out);
    }
    changed_.notify_all();
    kick();
    return result;
  }

  Result<void> set_presence(const std::string& name, Value entry) {
    if (!entry.is_object()) return Error{ErrorCode::bad_message, "presence must be an object"};
    Result<void> result;
    {
      std::lock_guard lock(mu_);
      auto it = rooms_.find(name);
      if (it == rooms_.end()) return Error{ErrorCode::not_joined, "no room " + name};
      SessionOutput out;
      result = it->second.set_presence(std::move(entry), out);
      apply(name, out);
    }
    kick();
    return result;
  }

  // ---- waiting ----

  bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    if (strand_.running_in_this_thread()) return false;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (pred()) return true;
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      std::unique_lock lock(mu_);
      changed_.wait_for(lock, std::min<std::chrono::steady_clock::duration>(
                                  deadline - now, std::chrono::milliseconds(50)));
    }
  }

  // ---- Connection::Handler (on the strand) ----

  void on_connection_state(ConnectionState state) override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      if (state == ConnectionState::offline) {
        ++generation_;
        for (auto& [name, session] : rooms_) {
          SessionOutput out;
          session.connection_lost(out);
          apply(name, out);
        }
      }
      set_conn_state(state);
      if (state == ConnectionState::open) {
        // With rooms, the backoff restarts when one is joined (its state
        // arrives); without, an open connection is all there is to succeed.
        if (rooms_.empty()) conn_->reset_backoff();
        for (auto& [name, session] : rooms_) {
          SessionOutput out;
          session.connection_opened(out);
          apply(name, out);
        }
      }
    }
    drain_events();
  }

  void on_server_message(Result<protocol::ServerMessage> message) override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      if (!message) {
        push_error(std::nullopt, ErrorCode::bad_message, message.error().message);
      } else if (auto room = room_of(*message)) {
        auto it = rooms_.find(*room);
        if (it != rooms_.end() && it->second.status() != RoomStatus::left) {
          SessionOutput out;
          it->second.receive(*message, out);
          apply(*room, out);
        } else {
          report_unrouted(*message);
        }
      } else {
        report_unrouted(*message);
      }
    }
    drain_events();
  }

  void on_connect_error(std::string message) override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      push_error(std::nullopt, ErrorCode::internal, std::move(message));
    }
    drain_events();
  }

 private:
  // A connection state change or a session's event, queued for delivery.
  using ClientEvent = std::variant<ConnectionState, SessionEvent>;

  Impl(ClientOptions options, Callbacks callbacks, net::io_context& io)
      : options_(std::move(options)), cb_(std::move(callbacks)), strand_(net::make_strand(io)) {
    if (!options_.schema) throw std::invalid_argument("RealtimeClient: options.schema is required");
    if (!parse_server_url(options_.url))
      throw std::invalid_argument("RealtimeClient: bad url " + options_.url);
    if (options_.user_id.empty()) options_.user_id = random_user_id();
  }

  SessionOptions session_options() const {
    return SessionOptions{.schema = options_.schema,
                          .user_id = options_.user_id,
                          .max_unconfirmed_steps = options_.max_unconfirmed_steps,
                          .max_batch_steps = options_.max_batch_steps,
                          .server_rebase = options_.server_rebase,
                          .shared_steps = options_.shared_steps,
                          .remote_presence = options_.remote_presence};
  }

  // Forgets a room (leave(), or join() after it was left); its counters stay.
  void forget(std::map<std::string, RoomSession>::iterator it) {
    left_stats_ += it->second.stats();
    rooms_.erase(it);
  }

  // ---- what sessions produce (with mu_ held) ----

  void apply(const std::string& room, SessionOutput& out) {
    for (const auto& m : out.messages) conn_->send(m);
    for (auto& e : out.events) {
      // A successful join (a `state`, handled on the strand): the next drop
      // starts from the first delay.
      if (auto* s = std::get_if<RoomStatusChange>(&e);
          s && s->status == RoomStatus::joined && strand_.running_in_this_thread())
        conn_->reset_backoff();
      if (wanted(e)) events_.emplace_back(std::move(e));
    }
    if (out.retry_later) schedule_retry(room);
  }

  // Whether a callback takes this kind of event (the others are not queued).
  bool wanted(const SessionEvent& e) const {
    return std::visit(
        [&](const auto& x) -> bool {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, DocumentChange>) return bool(cb_.on_document);
          if constexpr (std::is_same_v<T, PresenceChange>) return bool(cb_.on_presence);
          if constexpr (std::is_same_v<T, MemberEvent>) return bool(cb_.on_member);
          if constexpr (std::is_same_v<T, DroppedSteps>) return bool(cb_.on_dropped);
          if constexpr (std::is_same_v<T, ClientError>) return bool(cb_.on_error);
          if constexpr (std::is_same_v<T, RoomStatusChange>) return bool(cb_.on_room_status);
          if constexpr (std::is_same_v<T, Confirmation>) return bool(cb_.on_confirmed);
        },
        e);
  }

  // rate_limited, internal: whether the last batch was taken is unknown; the
  // room rejoins after 0.5-1.5 s if it is still joined on the same connection.
  void schedule_retry(const std::string& room) {
    auto timer = std::make_shared<net::steady_timer>(strand_);
    std::uniform_int_distribution<int> jitter(500, 1500);
    timer->expires_after(std::chrono::milliseconds(jitter(rng_)));
    timer->async_wait([self = shared_from_this(), timer, room,
                       generation = generation_](boost::system::error_code ec) {
      if (ec) return;
      {
        std::lock_guard lock(self->mu_);
        auto it = self->rooms_.find(room);
        if (self->closed_ || generation != self->generation_ || it == self->rooms_.end()) return;
        SessionOutput out;
        it->second.retry(out);
        self->apply(room, out);
      }
      self->drain_events();
    });
  }

  // A message for no room of ours: errors are reported, the rest ignored.
  void report_unrouted(const protocol::ServerMessage& message) {
    if (const auto* e = std::get_if<protocol::ServerError>(&message))
      push_error(e->room, e->known_code.value_or(ErrorCode::internal), e->code + ": " + e->message);
  }

  void push_error(std::optional<std::string> room, ErrorCode code, std::string message) {
    events_.emplace_back(SessionEvent(ClientError{std::move(room), code, std::move(message)}));
  }

  void set_conn_state(ConnectionState s) {
    if (conn_state_ == s || conn_state_ == ConnectionState::closed) return;
    conn_state_ = s;
    events_.emplace_back(s);
  }

  // ---- delivery (on the strand, without the lock) ----

  // Delivers queued events on the strand (when there are any).
  void kick() {
    {
      std::lock_guard lock(mu_);
      if (events_.empty()) return;
    }
    net::post(strand_, [self = shared_from_this()] { self->drain_events(); });
  }

  void drain_events() {
    for (;;) {
      ClientEvent e;
      {
        std::lock_guard lock(mu_);
        if (events_.empty() || closed_) {
          if (closed_) events_.clear();
          break;
        }
        e = std::move(events_.front());
        events_.pop_front();
      }
      deliver(e);
    }
    changed_.notify_all();
  }

  void deliver(const ClientEvent& event) {
    if (const auto* state = std::get_if<ConnectionState>(&event)) {
      if (cb_.on_connection) cb_.on_connection(*state);
      return;
    }
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, DocumentChange>) {
            if (cb_.on_document) cb_.on_document(e);
          } else if constexpr (std::is_same_v<T, PresenceChange>) {
            if (cb_.on_presence) cb_.on_presence(e);
          } else if constexpr (std::is_same_v<T, MemberEvent>) {
            if (cb_.on_member) cb_.on_member(e);
          } else if constexpr (std::is_same_v<T, DroppedSteps>) {
            if (cb_.on_dropped) cb_.on_dropped(e);
          } else if constexpr (std::is_same_v<T, ClientError>) {
            if (cb_.on_error) cb_.on_error(e);
          } else if constexpr (std::is_same_v<T, RoomStatusChange>) {
            if (cb_.on_room_status) cb_.on_room_status(e.room, e.status);
          } else {
            if (cb_.on_confirmed) cb_.on_confirmed(e.room, e.version);
          }
        },
        std::get<SessionEvent>(event));
  }

  ClientOptions options_;
  const Callbacks cb_;
  Connection::Strand strand_;
  std::shared_ptr<Connection> conn_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable changed_;
  bool closed_ = false;
  int64_t generation_ = 0;  // counts lost connections; older retry timers do nothing
  ConnectionState conn_state_ = ConnectionState::offline;
  std::map<std::string, RoomSession> rooms_;
  SessionStats left_stats_;  // of the rooms forgotten
  std::deque<ClientEvent> events_;
  std::mt19937 rng_{std::random_device{}()};

 public:
  std::unique_ptr<OwnThread> own_;  // set by the own-thread constructor
};

// ---------------------------------------------------------------------------

RealtimeClient::RealtimeClient(ClientOptions options, Callbacks callbacks) {
  auto own = std::make_unique<OwnThread>();
  bool auto_connect = options.auto_connect;
  impl_ = Impl::create(std::move(options), std::move(callbacks), own->io);
  own->thread = std::thread([io = &own->io] { io->run(); });
  impl_->own_ = std::move(own);
  if (auto_connect) impl_->connect();
}

RealtimeClient::RealtimeClient(ClientOptions options, net::io_context& io, Callbacks callbacks) {
  bool auto_connect = options.auto_connect;
  impl_ = Impl::create(std::move(options), std::move(callbacks), io);
  if (auto_connect) impl_->connect();
}

RealtimeClient::~RealtimeClient() {
  impl_->close();
  std::unique_ptr<OwnThread> own = std::move(impl_->own_);
  if (own) {
    impl_->wait_finished(std::chrono::seconds(2));
    own->guard.reset();
    own->io.stop();
    own->thread.join();
    impl_.reset();  // handlers still queued on `io` are destroyed with it, below
  }
}

const std::string& RealtimeClient::user_id() const { return impl_->user_id(); }
void RealtimeClient::connect() { impl_->connect(); }
void RealtimeClient::disconnect() { impl_->disconnect(); }
void RealtimeClient::reconnect_now() { impl_->reconnect_now(); }
void RealtimeClient::close() { impl_->close(); }
ConnectionState RealtimeClient::connection_state() const { return impl_->connection_state(); }
int RealtimeClient::connect_attempts() const { return impl_->connect_attempts(); }
std::optional<Subprotocol> RealtimeClient::subprotocol() const { return impl_->subprotocol(); }
ClientStats RealtimeClient::stats() const { return impl_->stats(); }

Result<void> RealtimeClient::join(const std::string& room, std::optional<json::Value> presence) {
  return impl_->join(room, std::move(presence));
}
Result<void> RealtimeClient::leave(const std::string& room) { return impl_->leave(room); }
std::optional<RoomSnapshot> RealtimeClient::room(const std::string& room) const {
  return impl_->snapshot(room);
}
std::vector<std::string> RealtimeClient::rooms() const { return impl_->room_names(); }

model::NodeRef RealtimeClient::doc(const std::string& room) const {
  auto s = impl_->snapshot(room);
  return s ? s->doc : model::NodeRef();
}
int64_t RealtimeClient::version(const std::string& room) const {
  auto s = impl_->snapshot(room);
  return s ? s->version : 0;
}
size_t RealtimeClient::unconfirmed_count(const std::string& room) const {
  auto s = impl_->snapshot(room);
  return s ? s->unconfirmed : 0;
}
std::map<std::string, json::Value> RealtimeClient::presence(const std::string& room) const {
  auto s = impl_->snapshot(room);
  return s ? s->presence : std::map<std::string, json::Value>{};
}

Result<model::NodeRef> RealtimeClient::edit(const std::string& room,
                                            const std::function<void(transform::Transform&)>& fn) {
  return impl_->edit(room, fn);
}

Result<void> RealtimeClient::set_presence(const std::string& room, json::Value entry) {
  return impl_->set_presence(room, std::move(entry));
}

bool RealtimeClient::wait_until(const std::function<bool()>& pred,
                                std::chrono::milliseconds timeout) {
  return impl_->wait_until(pred, timeout);
}

bool RealtimeClient::wait_synced(const std::string& room, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        auto s = impl_->snapshot(room);
        return s && s->status == RoomStatus::joined && s->loaded && s->unconfirmed == 0;
      },
      timeout);
}

// ---------------------------------------------------------------------------

std::string random_user_id() {
  static const char kChars[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  std::uniform_int_distribution<int> pick(0, 35);
  std::string id;
  for (int i = 0; i < 20; ++i) id += kChars[pick(rng)];
  return id;
}

Result<std::shared_ptr<const model::Schema>> fetch_schema(const ClientOptions& options) {
  Result<HttpResponse> res = http_get(connection_options(options), "/api/schema");
  if (!res) return res.error();
  if (res->status != 200)
    return Error{ErrorCode::internal, "GET /api/schema answered " + std::to_string(res->status)};
  Result<Value> spec = json::parse(res->body);
  if (!spec) return spec.error();
  return catch_port(ErrorCode::bad_message,
                    "schema: ", [&] { return model::Schema::from_json(*spec); });
}

}  // namespace rtpm::client
