#include "rtpm/client/realtime_client.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "rtpm/collab/rebase.h"
#include "rtpm/protocol/binary_codec.h"
#include "rtpm/protocol/messages.h"
#include "rtpm/protocol/server_messages.h"
#include "rtpm/transform/map.h"

namespace rtpm::client {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using json::Value;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr const char* kJsonProtocol = "realtime-pm.json.v1";
constexpr const char* kBinaryProtocol = "realtime-pm.bin.v1";
// Confirmed step maps kept per room to map presence that refers to an older version.
constexpr size_t kPresenceHistory = 1000;

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

std::optional<Url> parse_url(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("ws://", 0) == 0) {
    rest = url.substr(5);
  } else if (url.rfind("wss://", 0) == 0) {
    u.tls = true;
    rest = url.substr(6);
  } else {
    return std::nullopt;
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.empty()) return std::nullopt;
  if (authority.front() == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      u.port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.host.empty()) return std::nullopt;
  return u;
}

// Maps the positions PROTOCOL.md names in a presence entry.
Value map_entry(const Value& entry, const std::function<int(int)>& f) {
  if (!entry.is_object()) return entry;
  auto map_fields = [&](const Value& v, std::initializer_list<const char*> keys) {
    if (!v.is_object()) return v;
    json::Object o = v.as_object();
    for (auto& [k, x] : o)
      for (const char* key : keys)
        if (k == key && x.is_number()) x = Value(f(static_cast<int>(x.as_number())));
    return Value(std::move(o));
  };
  json::Object o = entry.as_object();
  for (auto& [k, v] : o) {
    if (k == "cursor") v = map_fields(v, {"pos"});
    if (k == "selection") v = map_fields(v, {"from", "to", "anchor", "head"});
  }
  return Value(std::move(o));
}

Value map_entry(const Value& entry, const transform::Mapping& mapping, int assoc, int max) {
  return map_entry(entry, [&](int pos) { return std::clamp(mapping.map(pos, assoc), 0, max); });
}

transform::Mapping maps_of(const std::vector<collab::Rebaseable>& steps) {
  std::vector<transform::StepMap> maps;
  for (const auto& s : steps) maps.push_back(s.step->get_map());
  return transform::Mapping(std::move(maps));
}

// prosemirror-collab's receiveTransaction (collab::receive_transaction), with
// the unconfirmed steps that no longer apply after the rebase reported.
struct Received {
  collab::ReceiveResult result;
  size_t confirmed = 0;  // own steps confirmed
  std::vector<Value> dropped;
};

Received receive(const collab::CollabState& state, const std::vector<transform::StepPtr>& steps,
                 const std::vector<std::string>& ids, const std::string& our_id) {
  Received r{collab::receive_transaction(state, steps, ids, our_id), 0, {}};
  size_t ours = 0;
  while (ours < ids.size() && ids[ours] == our_id) ++ours;
  r.confirmed = std::min(ours, state.unconfirmed.size());
  int over = static_cast<int>(steps.size() - std::min(ours, steps.size()));
  size_t before = state.unconfirmed.size() - r.confirmed;
  if (r.result.state.unconfirmed.size() < before) {
    // Which ones were dropped: rebase_steps keeps the survivors in order, and
    // each survivor is the mapped original. Find them again by remapping.
    const auto& tr = r.result.transform;
    int n = static_cast<int>(before);
    int map_from = n;
    size_t kept = 0;
    for (size_t i = r.confirmed; i < state.unconfirmed.size(); ++i) {
      // The mapping as rebase_steps saw it when it mapped this step.
      int to = n + over + static_cast<int>(kept);
      transform::StepPtr mapped = state.unconfirmed[i].step->map(tr.mapping().slice(map_from, to));
      --map_from;
      bool survived = false;
      if (mapped && kept < r.result.state.unconfirmed.size() &&
          mapped->to_json_string() == r.result.state.unconfirmed[kept].step->to_json_string()) {
        survived = true;
        ++kept;
      }
      if (!survived) r.dropped.push_back(state.unconfirmed[i].step->to_json());
    }
  }
  return r;
}

}  // namespace

// The io_context and thread of a client constructed without one.
struct OwnThread {
  net::io_context io{1};
  net::executor_work_guard<net::io_context::executor_type> guard = net::make_work_guard(io);
  std::thread thread;
};

// ---------------------------------------------------------------------------

class RealtimeClient::Impl : public std::enable_shared_from_this<RealtimeClient::Impl> {
 public:
  Impl(ClientOptions options, Callbacks callbacks, net::io_context& io)
      : options_(std::move(options)),
        cb_(std::move(callbacks)),
        strand_(net::make_strand(io)),
        retry_timer_(strand_),
        backoff_(options_.backoff) {
    if (!options_.schema) throw std::invalid_argument("RealtimeClient: options.schema is required");
    auto url = parse_url(options_.url);
    if (!url) throw std::invalid_argument("RealtimeClient: bad url " + options_.url);
    url_ = *url;
    if (options_.user_id.empty()) options_.user_id = random_user_id();
    if (options_.max_batch_steps == 0) options_.max_batch_steps = 1;
  }

  // ---- connection ----

  void connect() {
    std::lock_guard lock(mu_);
    if (closed_ || started_) return;
    started_ = true;
    net::co_spawn(strand_, run(shared_from_this()), net::detached);
  }

  void disconnect() {
    net::post(strand_, [self = shared_from_this()] {
      if (self->abort_) self->abort_();
    });
  }

  void reconnect_now() {
    net::post(strand_, [self = shared_from_this()] { self->retry_timer_.cancel(); });
  }

  void close() {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      for (auto& [name, room] : rooms_)
        if (room.status == RoomStatus::joined || room.status == RoomStatus::joining)
          enqueue(leave_message(name));
      conn_state_ = ConnectionState::closed;
    }
    changed_.notify_all();
    net::post(strand_, [self = shared_from_this()] {
      self->retry_timer_.cancel();
      if (self->wake_)
        self->wake_();  // the writer drains the leaves, then closes
      else if (self->abort_)
        self->abort_();  // a connection attempt under way
      bool started;
      {
        std::lock_guard lock(self->mu_);
        started = self->started_;
      }
      if (!started) self->finished_.set_value();
    });
  }

  /// Own-thread mode: wait (bounded) for the connection loop to end.
  void wait_finished(std::chrono::milliseconds timeout) { finished_future_.wait_for(timeout); }

  ConnectionState connection_state() const {
    std::lock_guard lock(mu_);
    return conn_state_;
  }
  int connect_attempts() const { return attempts_.load(); }
  std::optional<Subprotocol> subprotocol() const {
    std::lock_guard lock(mu_);
    if (conn_state_ != ConnectionState::open) return std::nullopt;
    return binary_ ? Subprotocol::binary : Subprotocol::json;
  }
  const std::string& user_id() const { return options_.user_id; }

  // ---- rooms ----

  Result<void> join(const std::string& name, std::optional<Value> presence) {
    if (!protocol::valid_room_name(name))
      return Error{ErrorCode::invalid_room, "bad room name: " + name};
    if (presence && !presence->is_object())
      return Error{ErrorCode::bad_message, "presence must be an object"};
    {
      std::lock_guard lock(mu_);
      auto it = rooms_.find(name);
      if (it != rooms_.end() && it->second.status != RoomStatus::left)
        return Error{ErrorCode::forbidden, "room already joined: " + name};
      if (it != rooms_.end()) rooms_.erase(it);
      Room& room = rooms_[name];
      room.name = name;
      room.own_presence = std::move(presence);
      if (conn_state_ == ConnectionState::open) send_join(room);
    }
    kick();
    return {};
  }

  Result<void> leave(const std::string& name) {
    {
      std::lock_guard lock(mu_);
      auto it = rooms_.find(name);
      if (it == rooms_.end()) return Error{ErrorCode::not_joined, "no room " + name};
      if (it->second.status == RoomStatus::joined || it->second.status == RoomStatus::joining)
        enqueue(leave_message(name));
      bool was_left = it->second.status == RoomStatus::left;
      rooms_.erase(it);
      if (!was_left) room_status_event(name, RoomStatus::left);
    }
    kick();
    return {};
  }

  std::optional<RoomSnapshot> snapshot(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = rooms_.find(name);
    if (it == rooms_.end()) return std::nullopt;
    const Room& r = it->second;
    RoomSnapshot s;
    s.room = name;
    s.status = r.status;
    s.loaded = r.loaded;
    s.doc = r.collab.doc;
    s.version = r.collab.version;
    s.unconfirmed = r.collab.unconfirmed.size();
    s.in_flight = r.in_flight;
    s.own_presence = r.own_presence;
    s.presence = r.presence;
    return s;
  }

  std::vector<std::string> room_names() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> names;
    for (const auto& [name, room] : rooms_)
      if (room.status != RoomStatus::left) names.push_back(name);
    return names;
  }

  // ---- editing ----

  Result<model::NodeRef> edit(const std::string& name,
                              const std::function<void(transform::Transform&)>& fn) {
    model::NodeRef doc;
    {
      std::lock_guard lock(mu_);
      auto it = rooms_.find(name);
      if (it == rooms_.end() || it->second.status == RoomStatus::left)
        return Error{ErrorCode::not_joined, "no room " + name};
      Room& room = it->second;
      if (!room.loaded) return Error{ErrorCode::not_joined, "room " + name + " has no state yet"};
      auto tr = std::make_shared<transform::Transform>(room.collab.doc);
      try {
        fn(*tr);
      } catch (const std::exception& e) {
        return Error{ErrorCode::invalid_steps, e.what()};
      }
      if (tr->steps().empty()) return room.collab.doc;
      if (room.collab.unconfirmed.size() + tr->steps().size() > options_.max_unconfirmed_steps)
        return Error{ErrorCode::rate_limited, "room " + name + ": more than " +
                                                  std::to_string(options_.max_unconfirmed_steps) +
                                                  " unconfirmed steps"};
      model::NodeRef before = room.collab.doc;
      for (auto& r : collab::unconfirmed_from(*tr)) room.collab.unconfirmed.push_back(std::move(r));
      room.collab.doc = tr->doc();
      map_presence(room, tr->mapping());
      doc = tr->doc();
      push_event([cb = cb_.on_document, c = DocumentChange{name, ChangeOrigin::local, tr, before,
                                                           doc, room.collab.version}] {
        if (cb) cb(c);
      });
      flush(room);
    }
    changed_.notify_all();
    kick();
    return doc;
  }

  Result<void> set_presence(const std::string& name, Value entry) {
    if (!entry.is_object()) return Error{ErrorCode::bad_message, "presence must be an object"};
    {
      std::lock_guard lock(mu_);
      auto it = rooms_.find(name);
      if (it == rooms_.end() || it->second.status == RoomStatus::left)
        return Error{ErrorCode::not_joined, "no room " + name};
      it->second.own_presence = std::move(entry);
      send_presence(it->second);
    }
    kick();
    return {};
  }

  bool on_io_thread() const { return strand_.running_in_this_thread(); }

  bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    if (on_io_thread()) return false;
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

 private:
  struct PendingPresence {
    int64_t version = 0;
    Value entry;
  };

  struct Room {
    std::string name;
    RoomStatus status = RoomStatus::offline;
    bool loaded = false;
    bool full_resync = false;  // the next join asks for the whole document
    collab::CollabState collab;
    size_t in_flight = 0;
    int64_t wait_for = -1;  // after version_conflict: send once the version reached this
    size_t batch_limit = 0;
    std::optional<Value> own_presence;  // positions in the local document
    bool presence_exact = true;         // the last presence sent was not mapped back lossily
    std::map<std::string, Value> presence;
    std::map<std::string, PendingPresence> pending_presence;  // refer to a version not reached
    std::deque<transform::StepMap> history;  // maps of the confirmed steps before `version`
  };

  struct Outgoing {
    std::string payload;
    bool binary = false;
  };

  // ---- outgoing messages (called with mu_ held) ----

  void enqueue(const Value& message) {
    if (binary_)
      outbox_.push_back({protocol::encode_binary(message), true});
    else
      outbox_.push_back({json::stringify(message), false});
  }

  // Wakes the writer (and delivers queued events) on the strand.
  void kick() {
    net::post(strand_, [self = shared_from_this()] {
      if (self->wake_) self->wake_();
      self->drain_events();
    });
  }

  Value leave_message(const std::string& room) const {
    return Value(json::Object{{"type", "leave"},
                              {"room", room},
                              {"userId", options_.user_id},
                              {"timestamp", protocol::now_ms()}});
  }

  // Own presence with positions mapped back to the confirmed version.
  Value presence_for_confirmed(Room& room) {
    const Value& entry = *room.own_presence;
    room.presence_exact = room.collab.unconfirmed.empty();
    if (room.presence_exact || !room.collab.doc) return entry;
    transform::Mapping back = maps_of(room.collab.unconfirmed).invert();
    return map_entry(entry, [&](int pos) { return std::max(0, back.map(pos, -1)); });
  }

  void send_join(Room& room) {
    json::Object m{{"type", "join"}, {"room", room.name}, {"userId", options_.user_id}};
    bool rejoin = room.loaded && !room.full_resync;
    if (room.own_presence)
      m.emplace_back("presence", rejoin ? presence_for_confirmed(room) : *room.own_presence);
    if (rejoin) m.emplace_back("version", room.collab.version);
    m.emplace_back("timestamp", protocol::now_ms());
    enqueue(Value(std::move(m)));
    room.in_flight = 0;
    room.wait_for = -1;
    set_room_status(room, RoomStatus::joining);
  }

  void send_presence(Room& room) {
    if (room.status != RoomStatus::joined || !room.loaded || !room.own_presence) return;
    Value entry = presence_for_confirmed(room);
    enqueue(Value(json::Object{{"type", "presence"},
                               {"room", room.name},
                               {"users", Value(json::Object{{options_.user_id, entry}})},
                               {"version", room.collab.version},
                               {"timestamp", protocol::now_ms()}}));
  }

  // Sends the unconfirmed steps when the room is joined and nothing is in flight.
  void flush(Room& room) {
    if (room.status != RoomStatus::joined || !room.loaded || room.in_flight ||
        room.collab.unconfirmed.empty() || room.collab.version < room.wait_for)
      return;
    size_t limit = room.batch_limit ? room.batch_limit : options_.max_batch_steps;
    size_t n = std::min(room.collab.unconfirmed.size(), limit);
    json::Array steps;
    for (size_t i = 0; i < n; ++i) steps.push_back(room.collab.unconfirmed[i].step->to_json());
    enqueue(Value(json::Object{{"type", "steps"},
                               {"room", room.name},
                               {"version", room.collab.version},
                               {"steps", Value(std::move(steps))},
                               {"userId", options_.user_id},
                               {"timestamp", protocol::now_ms()}}));
    room.in_flight = n;
  }

  // Join again on this connection; with `full` ask for the whole document.
  void resync(Room& room, bool full) {
    if (full) room.full_resync = true;
    if (conn_state_ == ConnectionState::open && room.status != RoomStatus::left) send_join(room);
  }

  // ---- events (called with mu_ held; delivered in order on the strand) ----

  void push_event(std::function<void()> f) { events_.push_back(std::move(f)); }

  void drain_events() {
    for (;;) {
      std::function<void()> f;
      {
        std::lock_guard lock(mu_);
        if (events_.empty() || closed_) {
          if (closed_) events_.clear();
          break;
        }
        f = std::move(events_.front());
        events_.pop_front();
      }
      f();
    }
    changed_.notify_all();
  }

  void error_event(std::optional<std::string> room, ErrorCode code, std::string message) {
    push_event([cb = cb_.on_error, e = ClientError{std::move(room), code, std::move(message)}] {
      if (cb) cb(e);
    });
  }

  void set_room_status(Room& room, RoomStatus status) {
    if (room.status == status) return;
    room.status = status;
    room_status_event(room.name, status);
  }

  void room_status_event(const std::string& name, RoomStatus status) {
    push_event([cb = cb_.on_room_status, name, status] {
      if (cb) cb(name, status);
    });
  }

  void set_conn_state(ConnectionState s) {
    if (conn_state_ == s || conn_state_ == ConnectionState::closed) return;
    conn_state_ = s;
    push_event([cb = cb_.on_connection, s] {
      if (cb) cb(s);
    });
  }

  void presence_event(const std::string& room, const std::string& user,
                      std::optional<Value> entry) {
    push_event([cb = cb_.on_presence, c = PresenceChange{room, user, std::move(entry)}] {
      if (cb) cb(c);
    });
  }

  void dropped_event(const std::string& room, DropReason reason, std::vector<Value> steps,
                     std::string message) {
    push_event([cb = cb_.on_dropped,
                d = DroppedSteps{room, reason, std::move(steps), std::move(message)}] {
      if (cb) cb(d);
    });
  }

  // ---- presence mapping ----

  int doc_size(const Room& room) const {
    return room.collab.doc ? room.collab.doc->content().size() : 0;
  }

  // Maps own and remote presence through a change of the local document.
  void map_presence(Room& room, const transform::Mapping& mapping) {
    int max = doc_size(room);
    if (room.own_presence) room.own_presence = map_entry(*room.own_presence, mapping, 1, max);
    for (auto& [user, entry] : room.presence) entry = map_entry(entry, mapping, 1, max);
  }

  void record_confirmed(Room& room, const std::vector<transform::StepMap>& maps) {
    for (const auto& m : maps) room.history.push_back(m);
    while (room.history.size() > kPresenceHistory) room.history.pop_front();
  }

  // A remote entry whose positions refer to `version`, in local document positions.
  // nullopt when `version` is ahead of the confirmed one (kept until it is reached).
  std::optional<Value> localize(Room& room, const Value& entry, int64_t version) {
    int64_t confirmed = room.collab.version;
    if (version > confirmed) return std::nullopt;
    std::vector<transform::StepMap> maps;
    int64_t behind = confirmed - version;
    if (behind > 0) {
      size_t take =
          static_cast<size_t>(std::min<int64_t>(behind, static_cast<int64_t>(room.history.size())));
      maps.assign(room.history.end() - static_cast<long>(take), room.history.end());
    }
    for (const auto& s : room.collab.unconfirmed) maps.push_back(s.step->get_map());
    return map_entry(entry, transform::Mapping(std::move(maps)), 1, doc_size(room));
  }

  void set_remote_presence(Room& room, const std::string& user, const Value& entry,
                           int64_t version) {
    if (user == options_.user_id) return;
    auto local = localize(room, entry, version);
    if (!local) {
      room.pending_presence[user] = PendingPresence{version, entry};
      return;
    }
    room.pending_presence.erase(user);
    room.presence[user] = *local;
    presence_event(room.name, user, *local);
  }

  void apply_pending_presence(Room& room) {
    auto pending = std::move(room.pending_presence);
    room.pending_presence.clear();
    for (auto& [user, p] : pending) set_remote_presence(room, user, p.entry, p.version);
  }

  // ---- incoming messages (with mu_ held) ----

  void handle(const protocol::ServerMessage& message) {
    std::visit([this](const auto& m) { on(m); }, message);
  }

  Room* room_of(const std::string& name) {
    auto it = rooms_.find(name);
    if (it == rooms_.end() || it->second.status == RoomStatus::left) return nullptr;
    return &it->second;
  }

  void on(const protocol::UnknownServerMessage&) {}

  void on(const protocol::ServerState& m) {
    Room* room = room_of(m.room);
    if (!room || room->status != RoomStatus::joining) return;
    set_room_status(*room, RoomStatus::joined);
    backoff_.reset();  // a successful join: the next drop starts from the first delay
    room->in_flight = 0;
    room->wait_for = -1;
    room->batch_limit = 0;
    const auto& schema = *options_.schema;
    if (m.doc) {
      model::NodeRef doc;
      try {
        doc = model::Node::from_json(schema, *m.doc);
      } catch (const std::exception& e) {
        error_event(m.room, ErrorCode::bad_message, std::string("state: bad doc: ") + e.what());
        return;
      }
      // The server cannot give us the steps since our version: our unconfirmed
      // steps can no longer be rebased. Reapply each to the new document as
      // it is; those that fail are dropped and reported.
      model::NodeRef before = room->collab.doc;
      transform::Transform tr(doc);
      std::vector<collab::Rebaseable> kept;
      std::vector<Value> dropped;
      for (const auto& u : room->collab.unconfirmed) {
        model::NodeRef at = tr.doc();
        bool ok = false;
        try {
          ok = tr.maybe_step(u.step).ok();
        } catch (const std::exception&) {
          ok = false;
        }
        if (ok)
          kept.push_back({u.step, u.step->invert(*at)});
        else
          dropped.push_back(u.step->to_json());
      }
      room->collab = collab::CollabState{tr.doc(), m.version, std::move(kept)};
      room->history.clear();
      room->loaded = true;
      room->full_resync = false;
      push_event([cb = cb_.on_document, c = DocumentChange{m.room, ChangeOrigin::reset, nullptr,
                                                           before, tr.doc(), m.version}] {
        if (cb) cb(c);
      });
      if (!dropped.empty())
        dropped_event(m.room, DropReason::doc_replaced, std::move(dropped),
                      "the server sent a whole document; these steps no longer apply");
    } else {
      const auto& steps_json = *m.steps;
      if (!room->loaded ||
          room->collab.version + static_cast<int64_t>(steps_json.size()) != m.version) {
        resync(*room, true);
        return;
      }
      if (!steps_json.empty() && !apply_remote(*room, steps_json, m.user_ids)) return;
    }
    reset_presence(*room, m.users, m.version);
    flush(*room);
    send_presence(*room);
  }

  void reset_presence(Room& room, const std::vector<std::pair<std::string, Value>>& users,
                      int64_t version) {
    std::map<std::string, Value> old = std::move(room.presence);
    room.presence.clear();
    room.pending_presence.clear();
    for (const auto& [user, entry] : users) set_remote_presence(room, user, entry, version);
    for (const auto& [user, entry] : old)
      if (!room.presence.count(user) && !room.pending_presence.count(user))
        presence_event(room.name, user, std::nullopt);
  }

  // Applies steps from the server on top of the confirmed version. False (and
  // a full resync) when they do not parse or apply here.
  bool apply_remote(Room& room, const std::vector<Value>& steps_json,
                    const std::vector<std::string>& ids) {
    try {
      std::vector<transform::StepPtr> steps;
      for (const Value& s : steps_json)
        steps.push_back(transform::Step::from_json(*options_.schema, s));
      model::NodeRef before = room.collab.doc;
      Received r = receive(room.collab, steps, ids, options_.user_id);
      std::vector<transform::StepMap> maps;
      for (const auto& s : steps) maps.push_back(s->get_map());
      record_confirmed(room, maps);
      room.collab = std::move(r.result.state);
      if (r.confirmed) {
        room.in_flight = room.in_flight > r.confirmed ? room.in_flight - r.confirmed : 0;
        push_event([cb = cb_.on_confirmed, name = room.name, v = room.collab.version] {
          if (cb) cb(name, v);
        });
      }
      auto tr = std::make_shared<transform::Transform>(std::move(r.result.transform));
      if (!tr->steps().empty()) {
        map_presence(room, tr->mapping());
        push_event(
            [cb = cb_.on_document, c = DocumentChange{room.name, ChangeOrigin::remote, tr, before,
                                                      room.collab.doc, room.collab.version}] {
              if (cb) cb(c);
            });
      }
      if (!r.dropped.empty())
        dropped_event(room.name, DropReason::rebase, std::move(r.dropped),
                      "no longer applies after rebasing over remote steps");
      apply_pending_presence(room);
      return true;
    } catch (const std::exception& e) {
      error_event(room.name, ErrorCode::invalid_steps,
                  std::string("steps from the server do not apply here: ") + e.what());
      resync(room, true);
      return false;
    }
  }

  void on(const protocol::ServerSteps& m) {
    Room* room = room_of(m.room);
    if (!room || !room->loaded || room->status != RoomStatus::joined) return;
    int64_t version = room->collab.version;
    int64_t n = static_cast<int64_t>(m.steps.size());
    if (m.version + n <= version) return;                  // already have them
    if (m.version > version) return resync(*room, false);  // a gap: ask again
    std::vector<Value> steps(m.steps.begin() + (version - m.version), m.steps.end());
    std::vector<std::string> ids(steps.size(), m.user_id);
    if (apply_remote(*room, steps, ids)) flush(*room);
  }

  void on(const protocol::ServerAck& m) {
    Room* room = room_of(m.room);
    if (!room || room->status != RoomStatus::joined || !room->in_flight) return;
    size_t n = room->in_flight;
    room->in_flight = 0;
    if (n > room->collab.unconfirmed.size() ||
        m.version != room->collab.version + static_cast<int64_t>(n)) {
      // Our copy and the server disagree on what was confirmed: a rejoin sorts it out.
      return resync(*room, false);
    }
    std::vector<transform::StepMap> maps;
    for (size_t i = 0; i < n; ++i) maps.push_back(room->collab.unconfirmed[i].step->get_map());
    record_confirmed(*room, maps);
    room->collab.unconfirmed.erase(room->collab.unconfirmed.begin(),
                                   room->collab.unconfirmed.begin() + static_cast<long>(n));
    room->collab.version = m.version;
    room->batch_limit = 0;
    push_event([cb = cb_.on_confirmed, name = room->name, v = m.version] {
      if (cb) cb(name, v);
    });
    apply_pending_presence(*room);
    if (!room->presence_exact) send_presence(*room);
    flush(*room);
  }

  void on(const protocol::ServerPresence& m) {
    Room* room = room_of(m.room);
    if (!room || !room->loaded || room->status != RoomStatus::joined) return;
    for (const auto& [user, entry] : m.users) set_remote_presence(*room, user, entry, m.version);
  }

  void on(const protocol::ServerJoin& m) {
    Room* room = room_of(m.room);
    if (!room || !room->loaded || m.user_id == options_.user_id) return;
    push_event([cb = cb_.on_member, e = MemberEvent{m.room, m.user_id, true}] {
      if (cb) cb(e);
    });
    set_remote_presence(*room, m.user_id, m.presence ? *m.presence : Value(json::Object{}),
                        room->collab.version);
  }

  void on(const protocol::ServerLeave& m) {
    Room* room = room_of(m.room);
    if (!room || m.user_id == options_.user_id) return;
    push_event([cb = cb_.on_member, e = MemberEvent{m.room, m.user_id, false}] {
      if (cb) cb(e);
    });
    room->pending_presence.erase(m.user_id);
    if (room->presence.erase(m.user_id)) presence_event(m.room, m.user_id, std::nullopt);
  }

  // Drops the first `count` unconfirmed steps: the document is rebuilt as the
  // confirmed document plus the remaining unconfirmed steps, each mapped over
  // the removal (prosemirror-collab's rebaseSteps with mirrors, over nothing).
  void drop_unconfirmed(Room& room, size_t count, std::string message) {
    auto& unconfirmed = room.collab.unconfirmed;
    count = std::min(count, unconfirmed.size());
    if (!count) return;
    model::NodeRef before = room.collab.doc;
    auto tr = std::make_shared<transform::Transform>(room.collab.doc);
    std::vector<Value> dropped;
    std::vector<collab::Rebaseable> kept;
    try {
      for (size_t i = unconfirmed.size(); i-- > 0;) tr->step(unconfirmed[i].inverted);
      int map_from = static_cast<int>(unconfirmed.size());
      for (size_t i = 0; i < unconfirmed.size(); ++i) {
        const auto& item = unconfirmed[i];
        transform::StepPtr mapped = item.step->map(tr->mapping().slice(map_from));
        --map_from;
        if (i < count) {
          dropped.push_back(item.step->to_json());
          continue;
        }
        if (mapped && tr->maybe_step(mapped).ok()) {
          tr->mutable_mapping().set_mirror(map_from, static_cast<int>(tr->steps().size()) - 1);
          kept.push_back({mapped, mapped->invert(*tr->docs().back())});
        } else {
          dropped.push_back(item.step->to_json());
        }
      }
    } catch (const std::exception& e) {
      // Cannot happen for consistent state; start over from the server's document.
      error_event(room.name, ErrorCode::internal, std::string("revert failed: ") + e.what());
      resync(room, true);
      return;
    }
    room.collab.unconfirmed = std::move(kept);
    room.collab.doc = tr->doc();
    map_presence(room, tr->mapping());
    push_event(
        [cb = cb_.on_document, c = DocumentChange{room.name, ChangeOrigin::revert, tr, before,
                                                  room.collab.doc, room.collab.version}] {
          if (cb) cb(c);
        });
    dropped_event(room.name, DropReason::invalid_steps, std::move(dropped), std::move(message));
  }

  void on(const protocol::ServerError& m) {
    ErrorCode code = m.known_code.value_or(ErrorCode::internal);
    Room* room = m.room ? room_of(*m.room) : nullptr;
    if (!room) {
      error_event(m.room, code, m.code + ": " + m.message);
      return;
    }
    switch (code) {
      case ErrorCode::version_conflict:
        if (room->in_flight) {
          // Others' steps came first; they are on their way to us.
          room->in_flight = 0;
          room->wait_for = m.version.value_or(-1);
          flush(*room);
        } else {
          send_presence(*room);  // a presence whose version the server did not accept
        }
        return;
      case ErrorCode::message_too_large:
        if (room->in_flight > 1) {  // send smaller batches
          room->batch_limit = std::max<size_t>(1, room->in_flight / 2);
          room->in_flight = 0;
          flush(*room);
          return;
        }
        [[fallthrough]];  // a single step too large can never go: dropped like an invalid one
      case ErrorCode::invalid_steps: {
        size_t n = room->in_flight;
        room->in_flight = 0;
        error_event(m.room, code, m.message);
        drop_unconfirmed(*room, n, m.message);
        flush(*room);
        return;
      }
      case ErrorCode::not_joined: return resync(*room, false);
      case ErrorCode::rate_limited:
      case ErrorCode::internal: {
        // Whether the last batch was taken is unknown: a rejoin tells, a bit later.
        room->in_flight = 0;
        error_event(m.room, code, m.message);
        auto timer = std::make_shared<net::steady_timer>(strand_);
        std::uniform_int_distribution<int> jitter(500, 1500);
        timer->expires_after(std::chrono::milliseconds(jitter(rng_)));
        timer->async_wait([self = shared_from_this(), timer, name = room->name,
                           gen = generation_](beast::error_code ec) {
          if (ec) return;
          {
            std::lock_guard lock(self->mu_);
            Room* r = self->room_of(name);
            if (r && gen == self->generation_ && r->status == RoomStatus::joined)
              self->resync(*r, false);
          }
          self->kick();
        });
        return;
      }
      case ErrorCode::session_replaced:
        error_event(m.room, code, m.message);
        room->in_flight = 0;
        room->presence.clear();
        set_room_status(*room, RoomStatus::left);
        return;
      default:
        // forbidden, room_full, unauthorized, invalid_room, bad_message: nothing to
        // fix by retrying. A refused join leaves the room.
        error_event(m.room, code, m.message);
        if (room->status == RoomStatus::joining) set_room_status(*room, RoomStatus::left);
    }
  }

  void handle_frame(const std::string& data, bool binary) {
    Result<Value> value = binary ? protocol::decode_binary(data) : json::parse(data);
    {
      std::lock_guard lock(mu_);
      if (!value) {
        error_event(std::nullopt, ErrorCode::bad_message, "server frame: " + value.error().message);
      } else {
        Result<protocol::ServerMessage> message = protocol::decode_server_value(*value);
        if (!message)
          error_event(std::nullopt, ErrorCode::bad_message,
                      "server message: " + message.error().message);
        else
          handle(*message);
      }
    }
    if (wake_) wake_();  // handling may have queued messages (next batch, rejoin, presence)
    drain_events();
  }

  // ---- the connection loop (on the strand) ----

  static net::awaitable<void> run(std::shared_ptr<Impl> self) {
    for (;;) {
      {
        std::lock_guard lock(self->mu_);
        if (self->closed_) break;
        self->set_conn_state(ConnectionState::connecting);
      }
      self->drain_events();
      ++self->attempts_;
      co_await self->session();
      {
        std::lock_guard lock(self->mu_);
        self->went_offline();
        if (self->closed_) break;
        self->set_conn_state(ConnectionState::offline);
      }
      self->drain_events();
      int64_t delay = self->backoff_.next_ms();
      self->retry_timer_.expires_after(std::chrono::milliseconds(delay));
      co_await self->retry_timer_.async_wait(kTuple);
    }
    self->drain_events();
    self->finished_.set_value();
  }

  void went_offline() {
    ++generation_;
    outbox_.clear();
    for (auto& [name, room] : rooms_) {
      room.in_flight = 0;
      room.wait_for = -1;
      if (room.status != RoomStatus::left) {
        set_room_status(room, RoomStatus::offline);
        for (const auto& [user, entry] : room.presence) presence_event(name, user, std::nullopt);
        room.presence.clear();
        room.pending_presence.clear();
      }
    }
  }

  net::awaitable<void> session() {
    tcp::resolver resolver(strand_);
    auto [ec, results] = co_await resolver.async_resolve(url_.host, url_.port, kTuple);
    if (ec) {
      report_connect_error("resolve", ec);
      co_return;
    }
    if (!url_.tls) {
      auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(strand_);
      co_await run_socket(ws, results);
    } else {
      ssl::context ctx(ssl::context::tls_client);
      beast::error_code cec;
      if (options_.verify_peer) {
        ctx.set_verify_mode(ssl::verify_peer);
        if (!options_.ca_file.empty())
          ctx.load_verify_file(options_.ca_file, cec);
        else
          ctx.set_default_verify_paths(cec);
        if (cec) {
          report_connect_error("CA certificates", cec);
          co_return;
        }
      } else {
        ctx.set_verify_mode(ssl::verify_none);
      }
      auto ws =
          std::make_shared<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>(strand_, ctx);
      co_await run_socket(ws, results);
    }
  }

  void report_connect_error(const char* what, const beast::error_code& ec) {
    {
      std::lock_guard lock(mu_);
      if (!closed_)
        error_event(std::nullopt, ErrorCode::internal,
                    std::string("connect: ") + what + ": " + ec.message());
    }
    drain_events();
  }

  template <class Ws>
  net::awaitable<void> run_socket(std::shared_ptr<Ws> ws, tcp::resolver::results_type results) {
    auto& layer = beast::get_lowest_layer(*ws);
    layer.expires_after(std::chrono::milliseconds(options_.connect_timeout_ms));
    abort_ = [ws] {
      beast::error_code ignored;
      beast::get_lowest_layer(*ws).socket().close(ignored);
    };
    auto [cec, endpoint] = co_await layer.async_connect(results, kTuple);
    if (cec) {
      abort_ = nullptr;
      report_connect_error("tcp", cec);
      co_return;
    }
    layer.socket().set_option(tcp::no_delay(true));
    std::string host_header = url_.host + ":" + url_.port;
    if constexpr (!std::is_same_v<Ws, websocket::stream<beast::tcp_stream>>) {
      // SNI; a failure here surfaces as a failed handshake.
      SSL_set_tlsext_host_name(ws->next_layer().native_handle(), url_.host.c_str());
      if (options_.verify_peer)
        ws->next_layer().set_verify_callback(ssl::host_name_verification(url_.host));
      auto [hec] = co_await ws->next_layer().async_handshake(ssl::stream_base::client, kTuple);
      if (hec) {
        abort_ = nullptr;
        report_connect_error("tls handshake", hec);
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
    auto [wec] = co_await ws->async_handshake(response, host_header, url_.target, kTuple);
    if (wec) {
      abort_ = nullptr;
      report_connect_error("websocket handshake", wec);
      co_return;
    }
    bool binary = response[http::field::sec_websocket_protocol] == kBinaryProtocol;
    ws->binary(binary);
    auto wake = std::make_shared<net::steady_timer>(strand_);
    wake->expires_at(net::steady_timer::time_point::max());
    wake_ = [wake] { wake->cancel(); };
    int64_t gen;
    {
      std::lock_guard lock(mu_);
      binary_ = binary;
      gen = generation_;
      if (!closed_) {
        set_conn_state(ConnectionState::open);
        // With rooms, the backoff restarts when one is joined (its state
        // arrives); without, an open connection is all there is to succeed.
        if (rooms_.empty()) backoff_.reset();
        for (auto& [name, room] : rooms_)
          if (room.status != RoomStatus::left) send_join(room);
      }
    }
    drain_events();
    net::co_spawn(strand_, write_loop(shared_from_this(), ws, wake, gen), net::detached);
    beast::flat_buffer buffer;
    for (;;) {
      auto [rec, n] = co_await ws->async_read(buffer, kTuple);
      if (rec) break;
      std::string data = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      handle_frame(data, !ws->got_text());
    }
    abort_ = nullptr;
    wake_ = nullptr;
    {
      std::lock_guard lock(mu_);
      ++generation_;  // the writer stops
    }
    wake->cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(*ws).socket().close(ignored);
  }

  template <class Ws>
  static net::awaitable<void> write_loop(std::shared_ptr<Impl> self, std::shared_ptr<Ws> ws,
                                         std::shared_ptr<net::steady_timer> wake, int64_t gen) {
    for (;;) {
      std::optional<Outgoing> next;
      bool closing = false;
      {
        std::lock_guard lock(self->mu_);
        if (gen != self->generation_) co_return;
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

  ClientOptions options_;
  const Callbacks cb_;
  Url url_;
  net::strand<net::io_context::executor_type> strand_;
  net::steady_timer retry_timer_;  // strand only
  Backoff backoff_;                // strand only
  std::function<void()> abort_;    // strand only: closes the current socket
  std::function<void()> wake_;     // strand only: wakes the current writer
  std::mt19937 rng_{std::random_device{}()};
  std::atomic<int> attempts_{0};

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable changed_;
  bool closed_ = false;
  bool started_ = false;
  bool binary_ = false;
  int64_t generation_ = 0;  // counts connections; a writer of an older one stops
  ConnectionState conn_state_ = ConnectionState::offline;
  std::map<std::string, Room> rooms_;
  std::deque<Outgoing> outbox_;
  std::deque<std::function<void()>> events_;

 public:
  std::unique_ptr<OwnThread> own_;  // set by the own-thread constructor
  std::promise<void> finished_;
  std::shared_future<void> finished_future_ = finished_.get_future().share();
};

// ---------------------------------------------------------------------------

RealtimeClient::RealtimeClient(ClientOptions options, Callbacks callbacks) {
  auto own = std::make_unique<OwnThread>();
  bool auto_connect = options.auto_connect;
  impl_ = std::make_shared<Impl>(std::move(options), std::move(callbacks), own->io);
  own->thread = std::thread([io = &own->io] { io->run(); });
  impl_->own_ = std::move(own);
  if (auto_connect) impl_->connect();
}

RealtimeClient::RealtimeClient(ClientOptions options, net::io_context& io, Callbacks callbacks) {
  bool auto_connect = options.auto_connect;
  impl_ = std::make_shared<Impl>(std::move(options), std::move(callbacks), io);
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
  auto url = parse_url(options.url);
  if (!url) return Error{ErrorCode::bad_message, "bad url " + options.url};
  // The schema lives beside the WebSocket endpoint: /ws -> /api/schema.
  std::string target = url->target;
  size_t q = target.find('?');
  if (q != std::string::npos) target.resize(q);
  if (target.size() >= 3 && target.compare(target.size() - 3, 3, "/ws") == 0)
    target.resize(target.size() - 3);
  else if (!target.empty() && target.back() == '/')
    target.pop_back();
  target += "/api/schema";
  try {
    net::io_context io;
    tcp::resolver resolver(io);
    auto results = resolver.resolve(url->host, url->port);
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, url->host);
    if (!options.bearer_token.empty())
      req.set(http::field::authorization, "Bearer " + options.bearer_token);
    http::response<http::string_body> res;
    beast::flat_buffer buffer;
    if (!url->tls) {
      beast::tcp_stream stream(io);
      stream.expires_after(std::chrono::milliseconds(options.connect_timeout_ms));
      stream.connect(results);
      http::write(stream, req);
      http::read(stream, buffer, res);
    } else {
      ssl::context ctx(ssl::context::tls_client);
      if (options.verify_peer) {
        ctx.set_verify_mode(ssl::verify_peer);
        if (options.ca_file.empty())
          ctx.set_default_verify_paths();
        else
          ctx.load_verify_file(options.ca_file);
      } else {
        ctx.set_verify_mode(ssl::verify_none);
      }
      beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
      SSL_set_tlsext_host_name(stream.native_handle(), url->host.c_str());
      if (options.verify_peer) stream.set_verify_callback(ssl::host_name_verification(url->host));
      beast::get_lowest_layer(stream).expires_after(
          std::chrono::milliseconds(options.connect_timeout_ms));
      beast::get_lowest_layer(stream).connect(results);
      stream.handshake(ssl::stream_base::client);
      http::write(stream, req);
      http::read(stream, buffer, res);
    }
    if (res.result_int() != 200)
      return Error{ErrorCode::internal,
                   "GET " + target + " answered " + std::to_string(res.result_int())};
    Result<Value> spec = json::parse(res.body());
    if (!spec) return spec.error();
    return model::Schema::from_json(*spec);
  } catch (const JsError& e) {
    return Error{ErrorCode::bad_message, std::string("schema: ") + e.what()};
  } catch (const std::exception& e) {
    return Error{ErrorCode::internal, std::string("GET ") + target + ": " + e.what()};
  }
}

}  // namespace rtpm::client
