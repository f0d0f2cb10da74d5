#include "rtpm/server/room.h"

#include <stdexcept>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "rtpm/presence/positions.h"
#include "rtpm/server/room_registry.h"
#include "rtpm/server/websocket_session.h"

namespace rtpm::server {

namespace net = boost::asio;
using protocol::now_ms;

namespace {

PayloadPtr payload(std::string s) { return make_payload(std::move(s)); }

std::string single_user_json(const std::string& user, const json::Value& entry) {
  std::string out = "{";
  json::write_string(user, out);
  out += ':';
  json::write(entry, out);
  out += '}';
  return out;
}

}  // namespace

Room::Room(ServerContext& ctx, std::string name)
    : ctx_(ctx),
      name_(std::move(name)),
      strand_(net::make_strand(ctx.ioc)),
      presence_timer_(strand_),
      unload_timer_(strand_) {}

// ---- entry points (any thread) ----

void Room::join(SessionPtr session, protocol::JoinMessage message) {
  net::post(strand_,
            [self = shared_from_this(), s = std::move(session), m = std::move(message)]() mutable {
              if (self->state_ == State::closed)
                return self->ctx_.rooms->get(self->name_)->join(s, m);
              const std::string& creator = s->client_key();
              self->with_ready(&creator, [self, s, m = std::move(m)](Avail a) {
                if (a == Avail::ready) return self->do_join(s, m);
                if (a == Avail::rate_limited)
                  self->send_error(s, ErrorCode::rate_limited,
                                   "too many new rooms from this address; try again later");
                else if (a == Avail::too_many_rooms)
                  self->send_error(s, ErrorCode::forbidden,
                                   "the server holds its maximum number of rooms; existing rooms "
                                   "can still be joined");
                else
                  self->send_error(s, ErrorCode::internal, "the room could not be loaded");
                s->left_room(self->name_);
                // Refused: nothing was created; do not keep an empty room in memory.
                if (a != Avail::failed) self->maybe_unload(true);
              });
            });
}

void Room::steps(SessionPtr session, protocol::StepsMessage message, Clock::time_point received) {
  net::post(strand_, [self = shared_from_this(), s = std::move(session), m = std::move(message),
                      received]() mutable {
    if (self->state_ == State::closed)
      return self->ctx_.rooms->get(self->name_)->steps(s, std::move(m), received);
    self->with_ready(nullptr, [self, s, m = std::move(m), received](Avail a) {
      if (a == Avail::ready)
        self->do_steps(s, m, received);
      else
        self->send_error(s, ErrorCode::not_joined, "not a member of this room");
    });
  });
}

void Room::presence(SessionPtr session, protocol::PresenceMessage message) {
  net::post(strand_,
            [self = shared_from_this(), s = std::move(session), m = std::move(message)]() mutable {
              if (self->state_ == State::closed)
                return self->ctx_.rooms->get(self->name_)->presence(s, std::move(m));
              self->with_ready(nullptr, [self, s, m = std::move(m)](Avail a) {
                if (a == Avail::ready)
                  self->do_presence(s, m);
                else
                  self->send_error(s, ErrorCode::not_joined, "not a member of this room");
              });
            });
}

void Room::leave(SessionPtr session, protocol::LeaveMessage message) {
  net::post(strand_,
            [self = shared_from_this(), s = std::move(session), m = std::move(message)]() mutable {
              if (self->state_ == State::closed)
                return self->ctx_.rooms->get(self->name_)->leave(s, std::move(m));
              self->with_ready(nullptr, [self, s, m = std::move(m)](Avail a) {
                if (a == Avail::ready)
                  self->do_leave(s, m);
                else
                  self->send_error(s, ErrorCode::not_joined, "not a member of this room");
              });
            });
}

void Room::disconnect(SessionPtr session) {
  net::post(strand_, [self = shared_from_this(), s = std::move(session)] {
    auto it = self->by_session_.find(s.get());
    if (it == self->by_session_.end()) return;
    self->remove_member(it->second, true);
    self->maybe_unload();
  });
}

void Room::read_document(std::function<void(std::optional<std::pair<int64_t, std::string>>)> done) {
  net::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
    if (self->state_ == State::closed)
      return self->ctx_.rooms->get(self->name_)->read_document(std::move(done));
    // A read that finds the room unloaded loads it only for reading: it is unloaded again
    // right after (unless someone joined meanwhile), so that reads of many rooms do not pin
    // their memory. A room loaded for its members keeps its own grace period.
    if (self->state_ == State::unloaded) self->loaded_for_read_ = true;
    self->with_ready(nullptr, [self, done = std::move(done)](Avail a) {
      if (a == Avail::ready)
        done(std::make_pair(self->durable_version_, self->durable_doc()->to_json_string()));
      else
        done(std::nullopt);
      if (self->loaded_for_read_ || a != Avail::ready) self->maybe_unload(true);
    });
  });
}

// ---- loading ----

void Room::with_ready(const std::string* creator, std::function<void(Avail)> fn) {
  if (state_ == State::ready) return fn(Avail::ready);
  if (state_ == State::closed) return fn(Avail::failed);
  if (state_ == State::missing && !creator) return fn(Avail::missing);
  // The first address that asks to create the room pays for it (ClientLimits::create_room).
  if (creator && !create_requested_) {
    create_requested_ = true;
    creator_key_ = *creator;
  }
  pending_.push_back(std::move(fn));
  if (state_ == State::missing) return start_create();
  if (state_ == State::unloaded) return start_load();
  // loading or creating: run_pending will call it.
}

void Room::start_load() {
  state_ = State::loading;
  ctx_.storage->load(name_, ctx_.options.history_steps,
                     [self = shared_from_this()](Result<std::optional<store::RoomData>> r) {
                       net::post(self->strand_, [self, r = std::move(r)]() mutable {
                         self->loaded(std::move(r));
                       });
                     });
}

void Room::loaded(Result<std::optional<store::RoomData>> r) {
  if (!r) {
    spdlog::error("room {}: load failed: {}", name_, r.error().message);
    state_ = State::unloaded;
    return run_pending(Avail::failed);
  }
  if (!*r) {
    if (create_requested_) return start_create();
    state_ = State::missing;
    return run_pending(Avail::missing);
  }
  const store::RoomData& data = **r;
  try {
    auto doc_json = json::parse(data.snapshot_doc);
    if (!doc_json) throw RangeError("bad snapshot JSON: " + doc_json.error().message);
    authority_ = std::make_unique<collab::Authority>(
        ctx_.schema, model::Node::from_json(*ctx_.schema, *doc_json), data.snapshot_version,
        authority_options());
    std::vector<collab::HistoryEntry> older;
    std::vector<collab::LoggedStep> newer;
    int64_t expect = data.steps.empty() ? 0 : data.steps.front().version;
    for (const auto& s : data.steps) {
      if (s.version != expect++)
        throw RangeError("the step log has a gap before version " + std::to_string(s.version));
      auto step_json = json::parse(s.step_json);
      if (!step_json) throw RangeError("bad step JSON at version " + std::to_string(s.version));
      transform::StepPtr step = transform::Step::from_json(*ctx_.schema, *step_json);
      if (s.version <= data.snapshot_version)
        older.push_back({step->get_map(), s.user_id, s.step_json});
      else
        newer.push_back({std::move(step), s.user_id, s.step_json});
    }
    if (!newer.empty() && data.steps.size() > older.size() &&
        data.steps[older.size()].version != data.snapshot_version + 1)
      throw RangeError("the step log does not continue the snapshot");
    if (!older.empty() && data.steps[older.size() - 1].version != data.snapshot_version)
      older.clear();  // history that does not end at the snapshot cannot be used
    authority_->preload_history(std::move(older));
    authority_->replay(newer);
  } catch (const std::exception& e) {
    spdlog::error("room {}: cannot load: {}", name_, e.what());
    authority_.reset();
    state_ = State::unloaded;
    return run_pending(Avail::failed);
  }
  durable_version_ = authority_->version();
  durable_doc_ = authority_->doc();
  durable_size_ = durable_doc_->content().size();
  durable_lag_.clear();
  snapshot_version_ = data.snapshot_version;
  bytes_since_snapshot_ = 0;
  for (const auto& s : data.steps)
    if (s.version > data.snapshot_version) bytes_since_snapshot_ += s.step_json.size();
  loaded_version_ = durable_version_;
  state_ = State::ready;
  spdlog::debug("room {}: loaded at version {}", name_, durable_version_);
  run_pending(Avail::ready);
}

void Room::start_create() {
  switch (ctx_.limits.create_room(creator_key_, Clock::now())) {
    case ClientLimits::Creation::allowed: break;
    case ClientLimits::Creation::rate_limited:
      state_ = State::missing;
      return run_pending(Avail::rate_limited);
    case ClientLimits::Creation::too_many_rooms:
      state_ = State::missing;
      return run_pending(Avail::too_many_rooms);
  }
  state_ = State::creating;
  ctx_.storage->create(name_, ctx_.initial_doc_json, [self = shared_from_this()](Result<void> r) {
    net::post(self->strand_, [self, r = std::move(r)] {
      if (!r) {
        spdlog::error("room {}: create failed: {}", self->name_, r.error().message);
        self->ctx_.limits.room_not_created();
        self->state_ = State::unloaded;
        return self->run_pending(Avail::failed);
      }
      auto doc_json = json::parse(self->ctx_.initial_doc_json);
      self->authority_ = std::make_unique<collab::Authority>(
          self->ctx_.schema, model::Node::from_json(*self->ctx_.schema, *doc_json), 0,
          self->authority_options());
      self->durable_version_ = 0;
      self->durable_doc_ = self->authority_->doc();
      self->durable_size_ = self->durable_doc_->content().size();
      self->durable_lag_.clear();
      self->snapshot_version_ = 0;
      self->bytes_since_snapshot_ = 0;
      self->loaded_version_ = 0;
      self->state_ = State::ready;
      spdlog::info("room {}: created", self->name_);
      self->run_pending(Avail::ready);
    });
  });
}

void Room::run_pending(Avail avail) {
  auto pending = std::move(pending_);
  pending_.clear();
  create_requested_ = false;
  creator_key_.clear();
  for (auto& fn : pending) fn(avail);
}

// ---- messages ----

Room::Member* Room::member_of(const WebSocketSession* session) {
  auto it = by_session_.find(session);
  if (it == by_session_.end()) return nullptr;
  return &members_.at(it->second);
}

const model::NodeRef& Room::durable_doc() {
  for (const transform::StepPtr& step : durable_lag_) {
    // Each step applied to this very document once already (in decide), and
    // documents and steps are immutable, so it applies again.
    transform::StepResult r = step->apply(*durable_doc_);
    if (!r.ok()) throw std::logic_error("room " + name_ + ": a durable step failed: " + r.failed);
    durable_doc_ = std::move(r.doc);
  }
  durable_lag_.clear();
  return durable_doc_;
}

size_t Room::content_bytes() const {
  // UTF-16 code units take two bytes; a position stands for one code unit or one node.
  return 2 * static_cast<size_t>(authority_->doc()->content().size()) + authority_->history_bytes();
}

collab::AuthorityOptions Room::authority_options() const {
  return {.max_history = static_cast<size_t>(ctx_.options.history_steps),
          .max_history_bytes = ctx_.options.history_bytes};
}

std::optional<transform::Mapping> Room::mapping_to_durable(int64_t v) const {
  // The durable version itself needs no history (batches in flight may hold all of it).
  if (v == durable_version_) return transform::Mapping();
  if (v > durable_version_ || v < authority_->history_start()) return std::nullopt;
  auto entries = authority_->steps_since(v);
  if (!entries) return std::nullopt;
  transform::Mapping mapping;
  for (int64_t i = 0; i < durable_version_ - v; ++i)
    mapping.append_map((*entries)[static_cast<size_t>(i)]->map);
  return mapping;
}

json::Value Room::map_presence_to_durable(const json::Value& entry,
                                          const transform::Mapping& mapping) const {
  // The positions refer to the document before `mapping`, whose size follows from the durable one.
  return presence::map_positions(entry, mapping, presence::size_before(mapping, durable_size_));
}

std::string Room::state_message(std::optional<int64_t> since) {
  // The durable version itself needs no history (batches in flight may hold all of it).
  if (since && (*since == durable_version_ ||
                (*since < durable_version_ && *since >= authority_->history_start()))) {
    std::vector<const collab::HistoryEntry*> entries;
    if (*since < durable_version_) entries = *authority_->steps_since(*since);
    std::string steps = "[";
    std::vector<std::string> users;
    for (int64_t i = 0; i < durable_version_ - *since; ++i) {
      const collab::HistoryEntry* e = entries[static_cast<size_t>(i)];
      if (i) steps += ',';
      steps += e->json;
      users.push_back(e->user_id);
    }
    steps += ']';
    return protocol::encode_state_steps(name_, durable_version_, steps, users, presence_.all_json(),
                                        now_ms());
  }
  return protocol::encode_state_doc(name_, durable_version_, durable_doc()->to_json_string(),
                                    presence_.all_json(), now_ms());
}

void Room::do_join(const SessionPtr& s, const protocol::JoinMessage& m) {
  unload_timer_.cancel();
  loaded_for_read_ = false;
  json::Value entry{json::Object{}};
  if (m.presence) {
    // Positions refer to the version the join names; map them to the durable version.
    auto mapping = mapping_to_durable(m.version.value_or(durable_version_));
    if (mapping) entry = map_presence_to_durable(*m.presence, *mapping);
  }
  if (Member* mine = member_of(s.get())) {
    if (mine->user_id != m.user_id)
      return send_error(s, ErrorCode::forbidden, "this connection is in the room as another user");
    // A resync: a fresh state, no notices.
    if (m.presence) presence_.set(m.user_id, entry);
    s->send(payload(state_message(m.version)));
    return;
  }
  auto existing = members_.find(m.user_id);
  if (existing != members_.end() && existing->second.session->subject() != s->subject())
    return send_error(s, ErrorCode::forbidden,
                      "this userId belongs to another authenticated subject");
  if (existing != members_.end()) {
    // Session replacement: the older session leaves without a `leave` notice.
    SessionPtr old = existing->second.session;
    send_error(old, ErrorCode::session_replaced, "the same userId joined from another session");
    old->left_room(name_);
    by_session_.erase(old.get());
    members_.erase(existing);
    presence_.remove(m.user_id);
  } else if (members_.size() >= ctx_.options.max_room_members) {
    send_error(s, ErrorCode::room_full, "the room has its maximum number of members");
    s->left_room(name_);
    return;
  }
  members_[m.user_id] = Member{s, m.user_id};
  by_session_[s.get()] = m.user_id;
  if (m.presence)
    presence_.set(m.user_id, entry);
  else
    presence_.add_member(m.user_id);
  s->send(payload(state_message(m.version)));
  broadcast(
      payload(protocol::encode_join(name_, m.user_id, m.presence ? &entry : nullptr, now_ms())),
      s.get());
}

void Room::do_steps(const SessionPtr& s, const protocol::StepsMessage& m, Clock::time_point at) {
  Member* mine = member_of(s.get());
  if (!mine) return send_error(s, ErrorCode::not_joined, "not a member of this room");
  if (mine->user_id != m.user_id)
    return send_error(s, ErrorCode::forbidden, "steps must carry the connection's own userId");
  collab::Authority::Decision d = authority_->decide(m.version, m.steps.as_array(), m.user_id);
  if (auto* c = std::get_if<collab::Authority::Conflict>(&d))
    return send_error(s, ErrorCode::version_conflict,
                      "the room is at version " + std::to_string(c->current_version),
                      c->current_version);
  if (auto* r = std::get_if<collab::Authority::Rejected>(&d))
    return send_error(s, ErrorCode::invalid_steps, r->message, std::nullopt, r->index);
  auto& accepted = std::get<collab::Authority::Accepted>(d);
  authority_->commit(accepted);
  accepted.doc = nullptr;  // the authority holds it; a batch in flight keeps no document
  store::AppendBatch batch{name_, {}};
  batch.steps.reserve(accepted.steps.size());
  for (size_t i = 0; i < accepted.steps.size(); ++i)
    batch.steps.push_back(
        {accepted.from_version + static_cast<int64_t>(i) + 1, m.user_id, accepted.step_json[i]});
  in_flight_.push_back({std::move(accepted), s, at});
  ctx_.storage->append(std::move(batch), [self = shared_from_this()](Result<void> r) {
    net::post(self->strand_, [self, r = std::move(r)] { self->persisted(r); });
  });
}

void Room::persisted(Result<void> result) {
  if (in_flight_.empty() || state_ == State::closed) return;
  InFlight done = std::move(in_flight_.front());
  in_flight_.pop_front();
  if (!result) return fail_room("the store failed: " + result.error().message);
  const auto& a = done.accepted;
  durable_version_ = a.to_version;
  if (in_flight_.empty()) {
    // Everything the authority took is durable: its document is the durable one.
    durable_doc_ = authority_->doc();
    durable_lag_.clear();
  } else {
    durable_lag_.insert(durable_lag_.end(), a.steps.begin(), a.steps.end());
  }
  transform::Mapping mapping;
  for (const auto& step : a.steps) mapping.append_map(step->get_map());
  presence_.map_through(mapping, durable_size_);
  durable_size_ = presence::size_after(mapping, durable_size_);
  auto sender = members_.find(a.user_id);
  if (sender != members_.end() && sender->second.session == done.sender)
    done.sender->send(payload(protocol::encode_ack(name_, a.to_version, now_ms())));
  std::string steps = "[";
  for (size_t i = 0; i < a.step_json.size(); ++i) {
    if (i) steps += ',';
    steps += a.step_json[i];
  }
  steps += ']';
  broadcast(payload(protocol::encode_steps(name_, a.from_version, steps, a.user_id, now_ms())),
            done.sender.get());
  ctx_.metrics.steps_applied.fetch_add(static_cast<int64_t>(a.steps.size()),
                                       std::memory_order_relaxed);
  ctx_.metrics.observe_step_latency(
      std::chrono::duration<double>(Clock::now() - done.received).count());
  for (const std::string& json : a.step_json) bytes_since_snapshot_ += json.size();
  // Every snapshot_every steps, and every history_bytes of step JSON, so that
  // large steps cannot pile up in the store (and in memory when it loads).
  if (durable_version_ - snapshot_version_ >= ctx_.options.snapshot_every ||
      (ctx_.options.history_bytes && bytes_since_snapshot_ >= ctx_.options.history_bytes))
    save_snapshot([name = name_](Result<void> r) {
      if (!r) spdlog::error("room {}: snapshot failed: {}", name, r.error().message);
    });
  maybe_unload();
}

void Room::save_snapshot(StorageWorker::Done done) {
  snapshot_version_ = durable_version_;
  bytes_since_snapshot_ = 0;
  // The store keeps the steps the history keeps (fewer than history_steps when
  // the byte bound shortened it), so a restart neither shortens nor lengthens it.
  int64_t keep = std::max<int64_t>(0, durable_version_ - authority_->history_start());
  ctx_.storage->snapshot(name_, durable_version_, durable_doc()->to_json_string(), keep,
                         std::move(done));
}

void Room::fail_room(const std::string& why) {
  spdlog::error("room {}: {}; dropping its members so that they rejoin", name_, why);
  for (auto& [user, member] : members_) {
    send_error(member.session, ErrorCode::internal, "the room failed; join again");
    member.session->left_room(name_);
  }
  members_.clear();
  by_session_.clear();
  in_flight_.clear();
  durable_lag_.clear();
  state_ = State::closed;
  presence_timer_.cancel();
  unload_timer_.cancel();
  ctx_.rooms->remove(this);
}

void Room::do_presence(const SessionPtr& s, const protocol::PresenceMessage& m) {
  Member* mine = member_of(s.get());
  if (!mine) return send_error(s, ErrorCode::not_joined, "not a member of this room");
  if (mine->user_id != m.user_id)
    return send_error(s, ErrorCode::forbidden, "presence may only be set for one's own userId");
  auto mapping = mapping_to_durable(m.version.value_or(durable_version_));
  if (!mapping)
    return send_error(s, ErrorCode::version_conflict,
                      "presence version outside the room's history; the room is at version " +
                          std::to_string(durable_version_),
                      durable_version_);
  presence_.set(m.user_id, map_presence_to_durable(m.presence, *mapping));
  queue_presence(m.user_id);
}

void Room::queue_presence(const std::string& user) {
  auto now = Clock::now();
  auto interval = std::chrono::milliseconds(ctx_.options.presence_interval_ms);
  auto last = presence_sent_.find(user);
  bool pending = std::find(presence_pending_.begin(), presence_pending_.end(), user) !=
                 presence_pending_.end();
  if (!pending && (last == presence_sent_.end() || now - last->second >= interval)) {
    presence_sent_[user] = now;
    const json::Value* entry = presence_.get(user);
    broadcast(payload(protocol::encode_presence(name_, single_user_json(user, *entry),
                                                durable_version_, now_ms())),
              members_.at(user).session.get());
    return;
  }
  if (!pending) presence_pending_.push_back(user);
  if (presence_timer_armed_) return;
  presence_timer_armed_ = true;
  auto due = last == presence_sent_.end() ? now : last->second + interval;
  presence_timer_.expires_at(due);
  presence_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->presence_timer_armed_ = false;
    if (!ec) self->flush_presence();
  });
}

void Room::flush_presence() {
  auto pending = std::move(presence_pending_);
  presence_pending_.clear();
  auto now = Clock::now();
  for (const auto& user : pending) {
    auto m = members_.find(user);
    if (m == members_.end()) continue;
    presence_sent_[user] = now;
    broadcast(payload(protocol::encode_presence(name_, single_user_json(user, *presence_.get(user)),
                                                durable_version_, now_ms())),
              m->second.session.get());
  }
}

void Room::do_leave(const SessionPtr& s, const protocol::LeaveMessage& m) {
  Member* mine = member_of(s.get());
  if (!mine) return send_error(s, ErrorCode::not_joined, "not a member of this room");
  if (mine->user_id != m.user_id)
    return send_error(s, ErrorCode::forbidden, "leave must carry the connection's own userId");
  remove_member(m.user_id, true);
  s->left_room(name_);
  maybe_unload();
}

// `user` by value: callers pass strings owned by the maps this erases from.
void Room::remove_member(std::string user, bool notify) {
  auto it = members_.find(user);
  if (it == members_.end()) return;
  by_session_.erase(it->second.session.get());
  members_.erase(it);
  presence_.remove(user);
  presence_sent_.erase(user);
  presence_pending_.erase(std::remove(presence_pending_.begin(), presence_pending_.end(), user),
                          presence_pending_.end());
  if (notify) broadcast(payload(protocol::encode_leave(name_, user, now_ms())), nullptr);
}

void Room::maybe_unload(bool now) {
  if (state_ == State::closed || !members_.empty() || !in_flight_.empty()) return;
  unload_timer_.expires_after(std::chrono::milliseconds(now ? 0 : ctx_.options.unload_grace_ms));
  unload_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->state_ == State::closed || !self->members_.empty() ||
        !self->in_flight_.empty() || !self->pending_.empty() || self->state_ == State::loading ||
        self->state_ == State::creating)
      return;
    if (self->state_ == State::ready && self->durable_version_ > self->snapshot_version_ &&
        self->durable_version_ > self->loaded_version_)
      self->save_snapshot([](Result<void>) {});
    self->state_ = State::closed;
    self->presence_timer_.cancel();
    self->ctx_.rooms->remove(self.get());
    // A large room's document and history go now, not when the last handler
    // lets go of the room, and the storage thread then returns the freed
    // memory to the system (after the snapshot, whose JSON it frees). Small
    // rooms leave theirs to be reused: a trim costs time in proportion to
    // the whole heap's free chunks, not to what the room freed.
    if (self->authority_ && self->content_bytes() >= kTrimAfterUnloadBytes) {
      self->authority_.reset();
      self->durable_doc_ = nullptr;
      self->durable_lag_.clear();
      self->ctx_.storage->release_memory();
    }
    spdlog::debug("room {}: unloaded", self->name_);
  });
}

void Room::send_error(const SessionPtr& s, ErrorCode code, std::string message,
                      std::optional<int64_t> version, std::optional<int> index) {
  ctx_.metrics.count_error(code);
  s->send(payload(protocol::encode_error(
      protocol::ErrorMessage{code, std::move(message), name_, version, index}, now_ms())));
}

void Room::broadcast(const PayloadPtr& p, const WebSocketSession* except) {
  for (auto& [user, member] : members_)
    if (member.session.get() != except) member.session->send(p);
}

}  // namespace rtpm::server
