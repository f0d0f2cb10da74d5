#include "rtpm/room/room_core.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "rtpm/collab/document_edits.h"
#include "rtpm/presence/positions.h"

namespace rtpm::room {

namespace {

Error load_error(std::string message) { return Error{ErrorCode::internal, std::move(message)}; }

// The authority of a room the store returned: its snapshot with the steps
// after it replayed, and the steps up to it as history. The port's exceptions
// (a corrupt snapshot or step) become an Error here.
Result<std::unique_ptr<collab::Authority>> load_authority(
    const std::shared_ptr<const model::Schema>& schema, const store::RoomData& data,
    const collab::AuthorityOptions& options) {
  try {
    auto doc_json = json::parse(data.snapshot_doc);
    if (!doc_json) return load_error("bad snapshot JSON: " + doc_json.error().message);
    auto authority = std::make_unique<collab::Authority>(
        schema, model::Node::from_json(*schema, *doc_json), data.snapshot_version, options);
    std::vector<collab::HistoryEntry> older;
    std::vector<collab::LoggedStep> newer;
    int64_t expect = data.steps.empty() ? 0 : data.steps.front().version;
    for (const auto& s : data.steps) {
      if (s.version != expect++)
        return load_error("the step log has a gap before version " + std::to_string(s.version));
      auto step_json = json::parse(s.step_json);
      if (!step_json) return load_error("bad step JSON at version " + std::to_string(s.version));
      transform::StepPtr step = transform::Step::from_json(*schema, *step_json);
      if (s.version <= data.snapshot_version)
        older.push_back({step->get_map(), s.user_id, s.step_json});
      else
        newer.push_back({std::move(step), s.user_id, s.step_json});
    }
    if (!newer.empty() && data.steps.size() > older.size() &&
        data.steps[older.size()].version != data.snapshot_version + 1)
      return load_error("the step log does not continue the snapshot");
    if (!older.empty() && data.steps[older.size() - 1].version != data.snapshot_version)
      older.clear();  // history that does not end at the snapshot cannot be used
    authority->preload_history(std::move(older));
    if (auto replayed = authority->replay(newer); !replayed) return replayed.error();
    return authority;
  } catch (const std::exception& e) {
    return load_error(e.what());
  }
}

}  // namespace

RoomCore::RoomCore(std::string name, RoomConfig config)
    : name_(std::move(name)), config_(std::move(config)) {}

RoomCore::~RoomCore() = default;

int64_t RoomCore::speculative_version() const {
  return authority_ ? authority_->version() : durable_version_;
}

const std::string* RoomCore::member(ConnId conn) const {
  auto it = by_conn_.find(conn);
  return it == by_conn_.end() ? nullptr : &it->second;
}

bool RoomCore::batch_of_user_in_flight(const std::string& user_id, ConnId conn) const {
  return std::any_of(in_flight_.begin(), in_flight_.end(), [&](const InFlight& f) {
    return f.sender != conn && f.accepted.user_id == user_id;
  });
}

bool RoomCore::joining(ConnId conn) const {
  return std::any_of(pending_joins_.begin(), pending_joins_.end(),
                     [&](const PendingJoin& j) { return j.conn == conn; });
}

const json::Value* RoomCore::presence_of(const std::string& user_id) const {
  return presence_.get(user_id);
}

model::NodeRef RoomCore::durable_doc() {
  if (!durable_doc_) return nullptr;
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

// ---- events ----

Effects RoomCore::join(ConnId conn, const std::string& subject, const std::string& creator,
                       const protocol::JoinMessage& message, Now now, Access access) {
  Out out{{}, now};
  if (deleting_) {
    refuse_join(out, conn, ErrorCode::forbidden, "the room is being deleted");
    return finish(out);
  }
  switch (state_) {
    case State::ready:
      if (batch_of_user_in_flight(message.user_id, conn)) {
        // Another connection of this userId (one that dropped, most likely) has a batch in
        // flight whose ack it may never read. The state waits until the batch is durable, so
        // that it lists the batch, which confirms it (PROTOCOL.md's lost ack); a state without
        // it would have the client send the batch again, and a rebase member's resend would
        // be rebased and applied twice (docs/protocol.md "A lost ack"). The same for an edit
        // through the API under this userId (made while it was no member): broadcast after
        // the state, its steps would reach the client as its own.
        pending_joins_.push_back({conn, subject, message, access});
        break;
      }
      do_join(out, conn, subject, message, access);
      break;
    case State::closed:
      refuse_join(out, conn, ErrorCode::internal, "the room could not be loaded");
      break;
    default:
      // The first address that asks to create the room pays for it (the creation limits).
      if (!create_requested_) {
        create_requested_ = true;
        creator_ = creator;
      }
      pending_joins_.push_back({conn, subject, message, access});
      if (state_ == State::missing) start_create(out);
      if (state_ == State::unloaded) start_load(out);
      break;  // loading or creating: run_pending answers it
  }
  return finish(out);
}

Effects RoomCore::steps(ConnId conn, const protocol::StepsMessage& m, Now now) {
  Out out{{}, now};
  if (!check_member(out, conn, m.user_id, "steps must carry the connection's own userId"))
    return finish(out);
  if (!access_of(m.user_id).write) {
    send_error(out, conn, ErrorCode::forbidden, "read-only members may not send steps");
    return finish(out);
  }
  bool rebase = members_.at(m.user_id).rebase;
  collab::Authority::Decision d =
      authority_->decide(m.version, m.steps.as_array(), m.user_id, rebase);
  if (auto* c = std::get_if<collab::Authority::Conflict>(&d)) {
    send_error(out, conn, ErrorCode::version_conflict,
               "the room is at version " + std::to_string(c->current_version), c->current_version);
    return finish(out);
  }
  if (auto* r = std::get_if<collab::Authority::Rejected>(&d)) {
    send_error(out, conn, ErrorCode::invalid_steps, r->message, std::nullopt, r->index);
    return finish(out);
  }
  auto& accepted = std::get<collab::Authority::Accepted>(d);
  if (accepted.steps.empty()) {
    // Rebased, and every step dropped: nothing to store. The ack names the version the batch
    // was applied at, so it follows every step before it (docs/protocol.md).
    static const std::vector<std::string> none;
    if (!in_flight_.empty())
      in_flight_.back().then_ack.push_back(conn);
    else if (!durable_now_.empty())  // held back (a hot room): it follows them
      durable_now_.back().then_ack.push_back(conn);
    else
      send_ack(out, conn, m.user_id, durable_version_, &none);
    return finish(out);
  }
  authority_->commit(accepted);
  accepted.doc = nullptr;  // the authority holds it; a batch in flight keeps no document
  effect::Persist persist{next_batch_++, store::AppendBatch{name_, {}}};
  persist.batch.steps.reserve(accepted.steps.size());
  for (size_t i = 0; i < accepted.steps.size(); ++i)
    persist.batch.steps.push_back({accepted.from_version + static_cast<int64_t>(i) + 1, m.user_id,
                                   accepted.step_json[i], now.wall_ms});
  in_flight_.push_back({persist.id, std::move(accepted), conn, now.mono, false});
  out.effects.push_back(std::move(persist));
  unload_at_.reset();
  return finish(out);
}

Effects RoomCore::presence(ConnId conn, const protocol::PresenceMessage& m, Now now) {
  Out out{{}, now};
  if (!check_member(out, conn, m.user_id, "presence may only be set for one's own userId"))
    return finish(out);
  if (!access_of(m.user_id).presence) {
    send_error(out, conn, ErrorCode::forbidden, "read-only members may not set presence here");
    return finish(out);
  }
  auto mapping = mapping_to_durable(m.version.value_or(durable_version_));
  if (!mapping) {
    send_error(out, conn, ErrorCode::version_conflict,
               "presence version outside the room's history; the room is at version " +
                   std::to_string(durable_version_),
               durable_version_);
    return finish(out);
  }
  presence_.set(m.user_id, map_presence_to_durable(m.presence, *mapping));
  queue_presence(out, m.user_id);
  return finish(out);
}

Effects RoomCore::leave(ConnId conn, const protocol::LeaveMessage& m, Now now) {
  Out out{{}, now};
  if (!check_member(out, conn, m.user_id, "leave must carry the connection's own userId"))
    return finish(out);
  remove_member(out, m.user_id, true);
  out.effects.push_back(effect::Left{conn});
  maybe_unload(out);
  return finish(out);
}

Effects RoomCore::disconnect(ConnId conn, Now now) {
  Out out{{}, now};
  // A join waiting for the loader is forgotten (the connection is gone).
  std::erase_if(pending_joins_, [&](const PendingJoin& j) { return j.conn == conn; });
  auto it = by_conn_.find(conn);
  if (it != by_conn_.end()) {
    remove_member(out, std::string(it->second), true);
    out.effects.push_back(effect::Left{conn});
    maybe_unload(out);
  }
  return finish(out);
}

Effects RoomCore::remove_members(const std::optional<std::string>& user_id, size_t& removed,
                                 Now now) {
  Out out{{}, now};
  removed = 0;
  std::vector<std::string> users;
  if (user_id) {
    if (members_.count(*user_id)) users.push_back(*user_id);
  } else {
    for (const auto& [user, member] : members_) users.push_back(user);
  }
  for (const std::string& user : users) {
    ConnId conn = members_.at(user).conn;
    send_error(out, conn, ErrorCode::forbidden, "removed from the room by an administrator");
    remove_member(out, user, true);
    out.effects.push_back(effect::Left{conn});
    ++removed;
  }
  maybe_unload(out);
  return finish(out);
}

Effects RoomCore::read_document(uint64_t request, Now now) {
  Out out{{}, now};
  if (deleting_) {
    out.effects.push_back(effect::ReadDone{request, std::nullopt});
    return finish(out);
  }
  switch (state_) {
    case State::ready:
      out.effects.push_back(effect::ReadDone{
          request, std::make_pair(durable_version_, durable_doc()->to_json_string())});
      if (loaded_for_read_) maybe_unload(out, true);
      break;
    case State::missing:
      out.effects.push_back(effect::ReadDone{request, std::nullopt});
      maybe_unload(out, true);
      break;
    case State::closed: out.effects.push_back(effect::ReadDone{request, std::nullopt}); break;
    case State::unloaded:
      // Loaded only for reading: unloaded again right after (unless someone joins meanwhile),
      // so that reads of many rooms do not pin their memory.
      loaded_for_read_ = true;
      pending_reads_.push_back(request);
      start_load(out);
      break;
    default: pending_reads_.push_back(request); break;
  }
  return finish(out);
}

Effects RoomCore::edit(uint64_t request, ApiEdit e, Now now) {
  Out out{{}, now};
  if (deleting_) {
    edit_done(out, request, {EditResult::Status::not_found, 0, 0, "the room is being deleted"});
    return finish(out);
  }
  switch (state_) {
    case State::ready: do_edit(out, request, e); break;
    case State::closed:
      edit_done(out, request,
                {EditResult::Status::unavailable, 0, 0, "the room could not be loaded"});
      break;
    case State::missing:
      if (!e.create) {
        edit_done(out, request, {EditResult::Status::not_found, 0, 0, "no such room"});
        maybe_unload(out, true);
        break;
      }
      [[fallthrough]];
    default:
      if (e.create && !create_requested_) {
        create_requested_ = true;
        creator_ = e.creator;
      }
      if (state_ == State::unloaded) loaded_for_read_ = true;  // unloaded again when done
      pending_edits_.emplace_back(request, std::move(e));
      if (state_ == State::missing) start_create(out);
      if (state_ == State::unloaded) start_load(out);
      break;
  }
  return finish(out);
}

Effects RoomCore::delete_room(uint64_t request, Now now) {
  Out out{{}, now};
  if (state_ == State::loading || state_ == State::creating || deleting_ ||
      state_ == State::closed) {
    // closed: the adapter hands the request to the fresh room; this answer is never sent.
    edit_done(out, request, {EditResult::Status::unavailable, 0, 0, "the room is busy; try again"});
    return finish(out);
  }
  deleting_ = request;
  std::vector<std::string> users;
  for (const auto& [user, member] : members_) users.push_back(user);
  for (const std::string& user : users) {
    ConnId conn = members_.at(user).conn;
    send_error(out, conn, ErrorCode::forbidden, "the room was deleted");
    remove_member(out, user, false);
    out.effects.push_back(effect::Left{conn});
  }
  for (const PendingJoin& j : std::exchange(pending_joins_, {}))
    refuse_join(out, j.conn, ErrorCode::forbidden, "the room was deleted");
  if (in_flight_.empty()) unload(out, /*failed=*/true);
  return finish(out);
}

Effects RoomCore::loaded(Result<std::optional<store::RoomData>> data, Now now) {
  Out out{{}, now};
  if (state_ != State::loading) return finish(out);
  if (!data) {
    out.effects.push_back(
        effect::Log{true, "room " + name_ + ": load failed: " + data.error().message});
    state_ = State::unloaded;
    run_pending(out, Avail::failed);
    return finish(out);
  }
  if (!*data) {
    if (create_requested_) {
      start_create(out);
    } else {
      state_ = State::missing;
      run_pending(out, Avail::missing);
    }
    return finish(out);
  }
  auto authority = load_authority(config_.schema, **data, authority_options());
  if (!authority) {
    out.effects.push_back(
        effect::Log{true, "room " + name_ + ": cannot load: " + authority.error().message});
    state_ = State::unloaded;
    run_pending(out, Avail::failed);
    return finish(out);
  }
  authority_ = std::move(*authority);
  become_ready((*data)->snapshot_version);
  for (const auto& s : (*data)->steps)
    if (s.version > snapshot_version_) bytes_since_snapshot_ += s.step_json.size();
  run_pending(out, Avail::ready);
  return finish(out);
}

Effects RoomCore::created(Created result, Now now) {
  Out out{{}, now};
  if (state_ != State::creating) return finish(out);
  switch (result) {
    case Created::ok: {
      auto doc_json = json::parse(config_.initial_doc_json);
      try {
        if (!doc_json) throw std::runtime_error("bad initial document JSON");
        authority_ = std::make_unique<collab::Authority>(
            config_.schema, model::Node::from_json(*config_.schema, *doc_json), 0,
            authority_options());
      } catch (const std::exception& e) {
        out.effects.push_back(effect::Log{true, "room " + name_ + ": cannot create: " + e.what()});
        state_ = State::unloaded;
        run_pending(out, Avail::failed);
        break;
      }
      become_ready(0);
      out.effects.push_back(effect::Log{false, "room " + name_ + ": created"});
      run_pending(out, Avail::ready);
      break;
    }
    case Created::failed:
      out.effects.push_back(effect::Log{true, "room " + name_ + ": create failed"});
      state_ = State::unloaded;
      run_pending(out, Avail::failed);
      break;
    case Created::rate_limited:
      state_ = State::missing;
      run_pending(out, Avail::rate_limited);
      break;
    case Created::too_many_rooms:
      state_ = State::missing;
      run_pending(out, Avail::too_many_rooms);
      break;
  }
  return finish(out);
}

Effects RoomCore::stored(uint64_t batch, Result<void> result, Now now) {
  std::vector<std::pair<uint64_t, Result<void>>> results;
  results.emplace_back(batch, std::move(result));
  return stored(std::move(results), now);
}

Effects RoomCore::stored(std::vector<std::pair<uint64_t, Result<void>>> results, Now now) {
  Out out{{}, now};
  bool any = false;
  for (auto& [id, result] : results) {
    uint64_t batch = id;  // (clang 14 cannot capture a structured binding)
    auto it = std::find_if(in_flight_.begin(), in_flight_.end(),
                           [&](const InFlight& f) { return f.id == batch; });
    if (state_ != State::ready || it == in_flight_.end()) continue;
    if (!result) {
      // What became durable before the failure is acknowledged first.
      flush_durable(out);
      fail_room(out, "the store failed: " + result.error().message);
      return finish(out);
    }
    it->stored = true;
    // Durable in batch order: a batch confirmed before an earlier one waits for it.
    while (!in_flight_.empty() && in_flight_.front().stored) {
      InFlight done = std::move(in_flight_.front());
      in_flight_.pop_front();
      make_durable(out, std::move(done));
      any = true;
    }
  }
  release_durable(out);
  if (state_ != State::ready) return finish(out);
  // Joins that waited for a batch of their userId (join()).
  if (!pending_joins_.empty()) {
    std::vector<PendingJoin> waiting = std::exchange(pending_joins_, {});
    for (PendingJoin& j : waiting) {
      if (batch_of_user_in_flight(j.message.user_id, j.conn))
        pending_joins_.push_back(std::move(j));
      else
        do_join(out, j.conn, j.subject, j.message, j.access);
    }
  }
  if (deleting_ && in_flight_.empty()) {
    unload(out, /*failed=*/true);
  } else if (any) {
    maybe_snapshot(out);
    maybe_unload(out, loaded_for_read_);
  }
  return finish(out);
}

Effects RoomCore::snapshot_done(Result<void> result, Now now) {
  Out out{{}, now};
  if (!result)
    out.effects.push_back(
        effect::Log{true, "room " + name_ + ": snapshot failed: " + result.error().message});
  return finish(out);
}

Effects RoomCore::fail(const std::string& why, Now now) {
  Out out{{}, now};
  if (state_ == State::closed) return finish(out);
  if (state_ == State::ready) flush_durable(out);
  fail_room(out, why);
  return finish(out);
}

Effects RoomCore::tick(Now now) {
  Out out{{}, now};
  if (state_ == State::closed) return finish(out);
  if (broadcast_due_ && *broadcast_due_ <= now.mono) flush_durable(out);
  if (presence_due_ && *presence_due_ <= now.mono) flush_presence(out);
  if (unload_at_ && *unload_at_ <= now.mono) {
    unload_at_.reset();
    maybe_unload(out, true);
  }
  return finish(out);
}

// ---- loading ----

void RoomCore::start_load(Out& out) {
  state_ = State::loading;
  out.effects.push_back(effect::Load{config_.history_steps});
}

void RoomCore::start_create(Out& out) {
  state_ = State::creating;
  out.effects.push_back(effect::Create{creator_});
}

void RoomCore::become_ready(int64_t snapshot_version) {
  durable_version_ = authority_->version();
  durable_doc_ = authority_->doc();
  durable_lag_.clear();
  durable_size_ = durable_doc_->content().size();
  snapshot_version_ = snapshot_version;
  bytes_since_snapshot_ = 0;
  loaded_version_ = durable_version_;
  state_ = State::ready;
}

void RoomCore::run_pending(Out& out, Avail avail) {
  auto joins = std::move(pending_joins_);
  auto reads = std::move(pending_reads_);
  auto edits = std::move(pending_edits_);
  pending_joins_.clear();
  pending_reads_.clear();
  pending_edits_.clear();
  create_requested_ = false;
  creator_.clear();
  for (const PendingJoin& j : joins) {
    switch (avail) {
      case Avail::ready: do_join(out, j.conn, j.subject, j.message, j.access); break;
      case Avail::rate_limited:
        refuse_join(out, j.conn, ErrorCode::rate_limited,
                    "too many new rooms from this address; try again later");
        break;
      case Avail::too_many_rooms:
        refuse_join(out, j.conn, ErrorCode::forbidden,
                    "the server holds its maximum number of rooms; existing rooms can still be "
                    "joined");
        break;
      default: refuse_join(out, j.conn, ErrorCode::internal, "the room could not be loaded"); break;
    }
  }
  for (uint64_t r : reads) {
    if (avail == Avail::ready)
      out.effects.push_back(
          effect::ReadDone{r, std::make_pair(durable_version_, durable_doc()->to_json_string())});
    else
      out.effects.push_back(effect::ReadDone{r, std::nullopt});
  }
  for (auto& [request, e] : edits) {
    switch (avail) {
      case Avail::ready: do_edit(out, request, e); break;
      case Avail::missing:
        edit_done(out, request, {EditResult::Status::not_found, 0, 0, "no such room"});
        break;
      case Avail::rate_limited:
        edit_done(out, request,
                  {EditResult::Status::rate_limited, 0, 0, "too many new rooms from this address"});
        break;
      case Avail::too_many_rooms:
        edit_done(
            out, request,
            {EditResult::Status::forbidden, 0, 0, "the server holds its maximum number of rooms"});
        break;
      case Avail::failed:
        edit_done(out, request,
                  {EditResult::Status::unavailable, 0, 0, "the room could not be loaded"});
        break;
    }
  }
  // A room nobody joined (missing, refused, failed, or loaded only for reads) goes at once; one
  // whose joiners all disconnected while it loaded waits for the grace period.
  if (avail != Avail::ready || (loaded_for_read_ && in_flight_.empty()))
    maybe_unload(out, true);
  else
    maybe_unload(out);
}

// ---- edits through the API ----

void RoomCore::edit_done(Out& out, uint64_t request, EditResult result) {
  out.effects.push_back(effect::EditDone{request, std::move(result)});
}

void RoomCore::do_edit(Out& out, uint64_t request, const ApiEdit& e) {
  using Status = EditResult::Status;
  if (members_.count(e.user_id))
    return edit_done(out, request,
                     {Status::forbidden, 0, 0,
                      "userId " + e.user_id +
                          " is a member of the room; an edit through the API needs its own"});
  int64_t version = e.version;
  json::Value computed;
  const json::Value* steps = &e.steps;
  if (e.become) {
    // Whatever steps make the current document equal to the one asked for.
    version = authority_->version();
    auto made = collab::steps_to_become(authority_->doc(), e.become);
    if (!made) return edit_done(out, request, {Status::invalid_steps, 0, 0, made.error().message});
    json::Array array;
    for (const transform::StepPtr& step : *made) array.push_back(step->to_json());
    computed = json::Value(std::move(array));
    steps = &computed;
  }
  if (!steps->is_array())
    return edit_done(out, request, {Status::invalid_steps, 0, 0, "steps must be an array"});
  if (steps->as_array().empty()) {
    if (version != authority_->version())
      return edit_done(out, request,
                       {Status::version_conflict, authority_->version(), 0,
                        "the room is at version " + std::to_string(authority_->version())});
    // Nothing to change: answered once what it was made on is durable.
    if (!in_flight_.empty()) return in_flight_.back().then_answer.push_back(request);
    return edit_done(out, request, {Status::ok, durable_version_, 0, {}});
  }
  collab::Authority::Decision d = authority_->decide(version, steps->as_array(), e.user_id);
  if (auto* c = std::get_if<collab::Authority::Conflict>(&d))
    return edit_done(out, request,
                     {Status::version_conflict, c->current_version, 0,
                      "the room is at version " + std::to_string(c->current_version)});
  if (auto* r = std::get_if<collab::Authority::Rejected>(&d))
    return edit_done(out, request, {Status::invalid_steps, 0, r->index, r->message});
  auto& accepted = std::get<collab::Authority::Accepted>(d);
  authority_->commit(accepted);
  accepted.doc = nullptr;
  effect::Persist persist{next_batch_++, store::AppendBatch{name_, {}}};
  for (size_t i = 0; i < accepted.steps.size(); ++i)
    persist.batch.steps.push_back({accepted.from_version + static_cast<int64_t>(i) + 1, e.user_id,
                                   accepted.step_json[i], out.now.wall_ms});
  in_flight_.push_back({persist.id, std::move(accepted), 0, out.now.mono, false, request});
  out.effects.push_back(std::move(persist));
  unload_at_.reset();
}

// ---- membership ----

void RoomCore::refuse_join(Out& out, ConnId conn, ErrorCode code, std::string message) {
  send_error(out, conn, code, std::move(message));
  out.effects.push_back(effect::Left{conn});
}

bool RoomCore::check_member(Out& out, ConnId conn, const std::string& user_id,
                            const char* forbidden_message) {
  auto it = state_ == State::ready ? by_conn_.find(conn) : by_conn_.end();
  if (it == by_conn_.end()) {
    send_error(out, conn, ErrorCode::not_joined, "not a member of this room");
    return false;
  }
  if (it->second != user_id) {
    send_error(out, conn, ErrorCode::forbidden, forbidden_message);
    return false;
  }
  return true;
}

const Access& RoomCore::access_of(const std::string& user_id) const {
  return members_.at(user_id).access;
}

void RoomCore::do_join(Out& out, ConnId conn, const std::string& subject,
                       const protocol::JoinMessage& joined, Access access) {
  unload_at_.reset();
  // A `state` is at the durable version: whatever is held back goes out first, so that every
  // member (the joining one too) has been sent the same versions.
  flush_durable(out);
  loaded_for_read_ = false;
  // A member who may not set presence joins without it.
  std::optional<protocol::JoinMessage> without_presence;
  if (joined.presence && !access.presence) {
    without_presence = joined;
    without_presence->presence.reset();
  }
  const protocol::JoinMessage& m = without_presence ? *without_presence : joined;
  bool rebase = m.rebase && config_.server_rebase;
  bool echo = rebase && m.echo;
  json::Value entry{json::Object{}};
  if (m.presence) {
    // Positions refer to the version the join names; map them to the durable version.
    auto mapping = mapping_to_durable(m.version.value_or(durable_version_));
    if (mapping) entry = map_presence_to_durable(*m.presence, *mapping);
  }
  auto mine = by_conn_.find(conn);
  if (mine != by_conn_.end()) {
    if (mine->second != m.user_id)
      return send_error(out, conn, ErrorCode::forbidden,
                        "this connection is in the room as another user");
    // A resync: a fresh state, no notices (and the access and protocol of this join).
    Member& member = members_.at(m.user_id);
    member.access = access;
    member.rebase = rebase;
    member.echo = echo;
    if (m.presence) presence_.set(m.user_id, entry);
    return send(out, conn, state_message(m.version, out.now.wall_ms, rebase, echo));
  }
  auto existing = members_.find(m.user_id);
  if (existing != members_.end() && existing->second.subject != subject)
    return refuse_join(out, conn, ErrorCode::forbidden,
                       "this userId belongs to another authenticated subject");
  bool replacing = existing != members_.end();
  if (replacing) {
    // Session replacement: the older connection leaves without a `leave` notice.
    ConnId old = existing->second.conn;
    send_error(out, old, ErrorCode::session_replaced,
               "the same userId joined from another session");
    out.effects.push_back(effect::Left{old});
    by_conn_.erase(old);
    members_.erase(existing);
    presence_.remove(m.user_id);
    // The `join` below carries the new session's presence: none of the old one is held.
    std::erase(presence_pending_, m.user_id);
    if (presence_pending_.empty()) presence_due_.reset();
  } else if (members_.size() >= config_.max_members) {
    return refuse_join(out, conn, ErrorCode::room_full,
                       "the room has its maximum number of members");
  }
  if (!replacing) out.effects.push_back(effect::Membership{m.user_id, true, durable_version_});
  members_[m.user_id] = Member{conn, subject, access, rebase, echo};
  by_conn_[conn] = m.user_id;
  if (m.presence)
    presence_.set(m.user_id, entry);
  else
    presence_.add_member(m.user_id);
  send(out, conn, state_message(m.version, out.now.wall_ms, rebase, echo));
  broadcast(out,
            protocol::encode_join(name_, m.user_id, m.presence ? &entry : nullptr, out.now.wall_ms),
            conn);
}

void RoomCore::remove_member(Out& out, const std::string& user_id, bool notify) {
  auto it = members_.find(user_id);
  if (it == members_.end()) return;
  std::string user = user_id;  // the caller's string may live in the maps erased here
  out.effects.push_back(effect::Membership{user, false, durable_version_});
  by_conn_.erase(it->second.conn);
  members_.erase(it);
  presence_.remove(user);
  std::erase(presence_pending_, user);
  if (presence_pending_.empty()) presence_due_.reset();
  if (notify) broadcast(out, protocol::encode_leave(name_, user, out.now.wall_ms), std::nullopt);
}

// ---- durability ----

void RoomCore::make_durable(Out& out, InFlight done) {
  const collab::Authority::Accepted& a = done.accepted;
  durable_version_ = a.to_version;
  if (in_flight_.empty()) {
    // Everything the authority took is durable: its document is the durable one.
    durable_doc_ = authority_->doc();
    durable_lag_.clear();
  } else {
    durable_lag_.insert(durable_lag_.end(), a.steps.begin(), a.steps.end());
  }
  transform::Mapping mapping;
  int64_t size_before = durable_size_;
  for (const auto& step : a.steps) {
    transform::StepMap map = step->get_map();
    durable_size_ += transform::size_change(map);
    mapping.append_map(std::move(map));
  }
  presence_.map_through(mapping, static_cast<int>(size_before));
  // An edit through the API (sender 0) goes to every member; a member's batch is acknowledged
  // to it. flush_durable() sends them when the event's batches are all durable.
  if (done.api_request)
    edit_done(out, *done.api_request, {EditResult::Status::ok, a.to_version, 0, {}});
  durable_now_.push_back(DurableBatch{done.sender, a.user_id, a.from_version, a.to_version,
                                      a.step_json, a.rebased, std::move(done.then_ack)});
  for (uint64_t request : done.then_answer)
    edit_done(out, request, {EditResult::Status::ok, a.to_version, 0, {}});
  out.effects.push_back(effect::Durable{a.steps.size(), done.received, a.to_version});
  count_durable_steps(out.now.mono, a.steps.size());
  for (const std::string& json : a.step_json) bytes_since_snapshot_ += json.size();
}

void RoomCore::send_ack(Out& out, ConnId to, const std::string& user_id, int64_t version,
                        const std::vector<std::string>* steps) {
  auto member = members_.find(user_id);
  if (member == members_.end() || member->second.conn != to) return;  // it left meanwhile
  send(out, to,
       steps ? protocol::encode_ack(name_, version, *steps, out.now.wall_ms)
             : protocol::encode_ack(name_, version, out.now.wall_ms));
}

namespace {
// The window of the hot-room rate: short, so that a room that starts typing fast is hot
// before its members drown in one message per group commit (the threshold is per second).
constexpr auto kRateWindow = std::chrono::milliseconds(100);
constexpr int64_t kRateWindowsPerSecond = 10;
}  // namespace

void RoomCore::count_durable_steps(Time now, size_t steps) {
  if (now - rate_window_start_ >= kRateWindow) {
    // A new window: the last one counts only when it ended just now.
    steps_last_window_ = now - rate_window_start_ < 2 * kRateWindow ? steps_this_window_ : 0;
    steps_this_window_ = 0;
    rate_window_start_ = now;
  }
  steps_this_window_ += static_cast<int64_t>(steps);
}

bool RoomCore::hot() const {
  if (config_.broadcast_interval_ms <= 0 || config_.broadcast_hot_steps <= 0) return false;
  return std::max(steps_this_window_, steps_last_window_) * kRateWindowsPerSecond >=
         config_.broadcast_hot_steps;
}

void RoomCore::release_durable(Out& out) {
  // A hot room sends at most once per interval: the first group after a quiet interval at
  // once, later ones together when it ends (tick()). Fewer, larger messages per member keep
  // a busy room's members (and the server's sockets) from drowning in small ones.
  if (durable_now_.empty() || broadcast_due_) return;
  Time now = out.now.mono;
  if (hot() && broadcast_sent_ && now - *broadcast_sent_ < broadcast_interval()) {
    broadcast_due_ = *broadcast_sent_ + broadcast_interval();
    return;
  }
  flush_durable(out);
}

void RoomCore::flush_durable(Out& out) {
  broadcast_due_.reset();
  if (durable_now_.empty()) return;
  broadcast_sent_ = out.now.mono;
  std::vector<DurableBatch> batches = std::move(durable_now_);
  durable_now_.clear();
  static const std::vector<std::string> none;
  // The steps of batches [first, last) as `steps` messages for a member: one message for a
  // rebase member (userIds per step), one per run of one user's steps for a version 1 member.
  auto messages = [&](size_t first, size_t last, bool rebase) {
    std::vector<std::string> texts;
    if (first == last) return texts;
    if (rebase) {
      std::vector<std::string_view> steps, users;
      for (size_t i = first; i < last; ++i)
        for (const std::string& json : batches[i].step_json) {
          steps.push_back(json);
          users.push_back(batches[i].user_id);
        }
      texts.push_back(protocol::encode_steps(name_, batches[first].from_version, steps, users,
                                             out.now.wall_ms));
      return texts;
    }
    for (size_t i = first; i < last;) {
      size_t end = i + 1;
      while (end < last && batches[end].user_id == batches[i].user_id) ++end;
      std::vector<std::string> steps;
      for (size_t j = i; j < end; ++j)
        steps.insert(steps.end(), batches[j].step_json.begin(), batches[j].step_json.end());
      texts.push_back(protocol::encode_steps(name_, batches[i].from_version, steps,
                                             batches[i].user_id, out.now.wall_ms));
      i = end;
    }
    return texts;
  };
  // Who gets an ack in this group: they get their own sequence (`echo` members excepted).
  std::unordered_set<ConnId> acked;
  for (const DurableBatch& b : batches) {
    if (b.sender) acked.insert(b.sender);
    acked.insert(b.then_ack.begin(), b.then_ack.end());
  }
  // Everyone else gets the same messages, each written once; `echo` members get every step,
  // their own included, in the same message as the other rebase members (docs/protocol.md,
  // `echo`).
  effect::Broadcast v1, rebase;
  for (const auto& [user, member] : members_) {
    if (member.echo || (member.rebase && !acked.count(member.conn)))
      rebase.to.push_back(member.conn);
    else if (!acked.count(member.conn))
      v1.to.push_back(member.conn);
  }
  for (effect::Broadcast* group : {&v1, &rebase}) {
    if (group->to.empty()) continue;
    for (std::string& text : messages(0, batches.size(), group == &rebase))
      out.effects.push_back(effect::Broadcast{group->to, std::move(text)});
  }
  // An `echo` member's batch whose every step was dropped: an empty ack after all of it.
  for (const DurableBatch& b : batches)
    for (ConnId conn : b.then_ack)
      if (auto it = by_conn_.find(conn); it != by_conn_.end() && members_.at(it->second).echo)
        send_ack(out, conn, it->second, batches.back().to_version, &none);
  // A member with a batch of its own here: the steps before it, its ack, the steps after.
  for (const auto& [user, member] : members_) {
    if (!acked.count(member.conn) || member.echo) continue;
    size_t pending = 0;
    const Member& to = member;  // (clang 14 cannot capture a structured binding)
    auto flush = [&](size_t upto) {
      for (std::string& text : messages(pending, upto, to.rebase))
        send(out, to.conn, std::move(text));
    };
    for (size_t i = 0; i < batches.size(); ++i) {
      const DurableBatch& b = batches[i];
      bool own = b.sender == member.conn;
      bool then = std::find(b.then_ack.begin(), b.then_ack.end(), member.conn) != b.then_ack.end();
      if (own) {
        flush(i);
        pending = i + 1;
        send_ack(out, member.conn, user, b.to_version, b.rebased ? &b.step_json : nullptr);
      }
      if (then) {
        flush(i + 1);
        pending = i + 1;
        send_ack(out, member.conn, user, b.to_version, &none);
      }
    }
    flush(batches.size());
  }
}

void RoomCore::maybe_snapshot(Out& out) {
  // Every snapshot_every steps, and every history_bytes of step JSON, so that
  // large steps cannot pile up in the store (and in memory when it loads).
  if (durable_version_ - snapshot_version_ >= config_.snapshot_every ||
      (config_.history_bytes && bytes_since_snapshot_ >= config_.history_bytes))
    snapshot(out);
}

void RoomCore::snapshot(Out& out) {
  snapshot_version_ = durable_version_;
  bytes_since_snapshot_ = 0;
  // The store keeps the steps the history keeps (fewer than history_steps when
  // the byte bound shortened it), so a restart neither shortens nor lengthens it.
  int64_t keep = std::max<int64_t>(0, durable_version_ - authority_->history_start());
  out.effects.push_back(effect::Snapshot{durable_version_, durable_doc()->to_json_string(), keep,
                                         config_.snapshot_every});
}

void RoomCore::fail_room(Out& out, const std::string& why) {
  out.effects.push_back(effect::Log{
      true, "room " + name_ + ": " + why + "; dropping its members so that they rejoin"});
  for (auto& [user, member] : members_) {
    send_error(out, member.conn, ErrorCode::internal, "the room failed; join again");
    out.effects.push_back(effect::Left{member.conn});
    out.effects.push_back(effect::Membership{user, false, durable_version_});
  }
  for (const PendingJoin& j : std::exchange(pending_joins_, {}))
    refuse_join(out, j.conn, ErrorCode::internal, "the room failed; join again");
  for (const InFlight& f : in_flight_) {
    std::vector<uint64_t> requests = f.then_answer;
    if (f.api_request) requests.push_back(*f.api_request);
    for (uint64_t request : requests)
      edit_done(out, request,
                {EditResult::Status::unavailable, 0, 0, "the store failed: nothing was applied"});
  }
  members_.clear();
  by_conn_.clear();
  in_flight_.clear();
  unload(out, /*failed=*/true);
}

void RoomCore::maybe_unload(Out& out, bool at_once) {
  if (state_ == State::closed || state_ == State::loading || state_ == State::creating ||
      !members_.empty() || !in_flight_.empty() || !pending_joins_.empty() ||
      !pending_reads_.empty() || !pending_edits_.empty() || deleting_)
    return;
  if (at_once) return unload(out);
  unload_at_ = out.now.mono + std::chrono::milliseconds(config_.unload_grace_ms);
}

void RoomCore::unload(Out& out, bool failed) {
  // A snapshot when steps came since the load and the last snapshot (a room loaded for a read
  // never writes); a failed room writes nothing more.
  if (!failed && state_ == State::ready && durable_version_ > snapshot_version_ &&
      durable_version_ > loaded_version_)
    snapshot(out);
  bool large = authority_ && content_bytes() >= kLargeRoomBytes;
  if (deleting_) out.effects.push_back(effect::Delete{*deleting_});
  state_ = State::closed;
  authority_.reset();
  durable_doc_ = nullptr;
  durable_lag_.clear();
  presence_ = presence::PresenceStore();
  presence_sent_.reset();
  presence_pending_.clear();
  presence_due_.reset();
  durable_now_.clear();
  broadcast_due_.reset();
  unload_at_.reset();
  out.effects.push_back(effect::Log{false, "room " + name_ + ": unloaded"});
  out.effects.push_back(effect::Unload{large});
}

size_t RoomCore::content_bytes() const {
  // UTF-16 code units take two bytes; a position stands for one code unit or one node.
  return 2 * static_cast<size_t>(authority_->doc()->content().size()) + authority_->history_bytes();
}

collab::AuthorityOptions RoomCore::authority_options() const {
  return {.max_history = static_cast<size_t>(config_.history_steps),
          .max_history_bytes = config_.history_bytes};
}

// ---- presence ----

std::optional<transform::MapChain> RoomCore::mapping_to_durable(int64_t v) const {
  // The durable version itself needs no history (batches in flight may hold all of it). The
  // maps are not copied: presence comes often, from versions a little behind (issue 12).
  return authority_->history_maps(v, durable_version_);
}

json::Value RoomCore::map_presence_to_durable(const json::Value& entry,
                                              const transform::MapChain& mapping) const {
  // The positions refer to the document before `mapping`, whose size follows from the durable one.
  return presence::map_positions(entry, mapping,
                                 mapping.size_before(static_cast<int>(durable_size_)));
}

void RoomCore::queue_presence(Out& out, const std::string& user) {
  // One presence broadcast per interval for the whole room: the first change after a quiet
  // interval goes out at once; later ones are held (the latest stored entry wins) and go out
  // together when the interval ends (flush_presence).
  Member& member = members_.at(user);
  if (member.presence_held) return;
  Time now = out.now.mono;
  if (presence_pending_.empty() &&
      (!presence_sent_ || now - *presence_sent_ >= presence_interval())) {
    presence_sent_ = now;
    // Presence is at the durable version: every member gets the steps up to it first.
    flush_durable(out);
    broadcast(out,
              protocol::encode_presence(name_, user, *presence_.get(user), durable_version_,
                                        out.now.wall_ms),
              member.conn);
    return;
  }
  member.presence_held = true;
  presence_pending_.push_back(user);
  if (!presence_due_) presence_due_ = *presence_sent_ + presence_interval();
}

void RoomCore::flush_presence(Out& out) {
  // Every held user's entry in one message per member, a member's own left out. The members
  // that are not held all get the same text, encoded once; each entry is written once.
  presence_due_.reset();
  std::vector<std::string> held = std::move(presence_pending_);
  presence_pending_.clear();
  if (held.empty()) return;
  presence_sent_ = out.now.mono;
  flush_durable(out);  // (as in queue_presence)
  std::vector<std::string> entries;
  entries.reserve(held.size());
  for (const std::string& user : held)
    entries.push_back(protocol::presence_member(user, *presence_.get(user)));
  effect::Broadcast others;
  others.to.reserve(members_.size());
  for (const auto& [user, member] : members_)
    if (!member.presence_held) others.to.push_back(member.conn);
  if (!others.to.empty()) {
    others.text = protocol::encode_presence_members(name_, entries, entries.size(),
                                                    durable_version_, out.now.wall_ms);
    out.effects.push_back(std::move(others));
  }
  for (size_t i = 0; i < held.size(); ++i) {
    Member& member = members_.at(held[i]);
    member.presence_held = false;
    if (held.size() > 1)  // a lone held user has nothing to hear
      send(out, member.conn,
           protocol::encode_presence_members(name_, entries, i, durable_version_, out.now.wall_ms));
  }
}

// ---- output ----

std::string RoomCore::state_message(std::optional<int64_t> since, int64_t wall_ms, bool rebase,
                                    bool echo) {
  // The durable version itself needs no history (batches in flight may hold all of it).
  if (since && (*since == durable_version_ ||
                (*since < durable_version_ && *since >= authority_->history_start()))) {
    std::vector<const collab::HistoryEntry*> entries;
    if (*since < durable_version_) entries = *authority_->steps_since(*since);
    // steps_since runs to the speculative version; the state stops at the durable one.
    entries.resize(static_cast<size_t>(durable_version_ - *since));
    std::vector<std::string_view> steps;
    std::vector<std::string> users;
    steps.reserve(entries.size());
    users.reserve(entries.size());
    for (const collab::HistoryEntry* e : entries) {
      steps.push_back(e->json);
      users.push_back(e->user_id);
    }
    return protocol::encode_state_steps(name_, durable_version_, steps, users, presence_.all_json(),
                                        wall_ms, rebase, echo);
  }
  return protocol::encode_state_doc(name_, durable_version_, durable_doc()->to_json_string(),
                                    presence_.all_json(), wall_ms, rebase, echo);
}

void RoomCore::send(Out& out, ConnId to, std::string text) {
  out.effects.push_back(effect::Send{to, std::move(text), std::nullopt});
}

void RoomCore::send_error(Out& out, ConnId to, ErrorCode code, std::string message,
                          std::optional<int64_t> version, std::optional<int> index) {
  auto text = protocol::encode_error(
      protocol::ErrorMessage{code, std::move(message), name_, version, index}, out.now.wall_ms);
  out.effects.push_back(effect::Send{to, std::move(text), code});
}

void RoomCore::broadcast(Out& out, std::string text, std::optional<ConnId> except) {
  effect::Broadcast b;
  b.to.reserve(members_.size());
  for (const auto& [user, member] : members_)
    if (member.conn != except) b.to.push_back(member.conn);
  if (b.to.empty()) return;
  b.text = std::move(text);
  out.effects.push_back(std::move(b));
}

Effects RoomCore::finish(Out& out) {
  std::optional<Time> next;
  if (state_ != State::closed) {
    next = presence_due_;
    if (broadcast_due_ && (!next || *broadcast_due_ < *next)) next = broadcast_due_;
    if (unload_at_ && (!next || *unload_at_ < *next)) next = unload_at_;
  }
  if (next != wake_) {
    wake_ = next;
    out.effects.push_back(effect::WakeAt{next});
  }
  return std::move(out.effects);
}

}  // namespace rtpm::room
