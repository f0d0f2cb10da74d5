#include "rtpm/client/room_session.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <type_traits>

#include "rtpm/presence/positions.h"
#include "rtpm/transform/step.h"

namespace rtpm::client {

using json::Value;

namespace {

// Confirmed step maps kept to map presence that refers to an older version.
constexpr size_t kPresenceHistory = 1000;

int content_size(const model::NodeRef& doc) { return doc ? doc->content().size() : 0; }

// How many of `kept` (ascending indices) are below `n`.
size_t count_below(const std::vector<size_t>& kept, size_t n) {
  return static_cast<size_t>(std::lower_bound(kept.begin(), kept.end(), n) - kept.begin());
}

}  // namespace

SessionStats& SessionStats::operator+=(const SessionStats& o) {
  batches_sent += o.batches_sent;
  steps_sent += o.steps_sent;
  resends += o.resends;
  steps_confirmed += o.steps_confirmed;
  version_conflicts += o.version_conflicts;
  rejections += o.rejections;
  dropped_steps += o.dropped_steps;
  resyncs += o.resyncs;
  server_rebased += o.server_rebased;
  return *this;
}

RoomSession::RoomSession(std::string room, SessionOptions options, std::optional<Value> presence)
    : room_(std::move(room)), options_(std::move(options)) {
  if (!options_.schema) throw std::invalid_argument("RoomSession: options.schema is required");
  if (presence) own_presence_ = Presence{*presence, presence::PositionFields(*presence)};
  if (options_.max_batch_steps == 0) options_.max_batch_steps = 1;
}

// ---- the connection ----

void RoomSession::connection_opened(SessionOutput& out) {
  if (status_ != RoomStatus::left) send_join(out);
}

void RoomSession::connection_lost(SessionOutput& out) {
  in_flight_.clear();
  paused_ = false;
  wait_for_ = -1;
  if (status_ == RoomStatus::left) return;
  set_status(RoomStatus::offline, out);
  for (const auto& [user, entry] : presence_) out.events.push_back(PresenceChange{room_, user, {}});
  presence_.clear();
  pending_presence_.clear();
}

void RoomSession::receive(const protocol::ServerMessage& message, SessionOutput& out) {
  if (status_ == RoomStatus::left) return;
  std::visit(
      [&](const auto& m) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(m)>, protocol::UnknownServerMessage> &&
                      !std::is_same_v<std::decay_t<decltype(m)>, protocol::ServerError>) {
          if (m.room != room_) return;
        }
        on(m, out);
      },
      message);
}

void RoomSession::retry(SessionOutput& out) {
  if (status_ == RoomStatus::joined) return resync(false, out);
  // A join answered `internal` (the room could not be loaded, or its node of a cluster went
  // away) before any state: join again.
  if (status_ == RoomStatus::joining && join_refused_) send_join(out);
}

// ---- local ----

Result<model::NodeRef> RoomSession::edit(const std::function<void(transform::Transform&)>& fn,
                                         SessionOutput& out) {
  if (status_ == RoomStatus::left) return Error{ErrorCode::not_joined, "no room " + room_};
  if (!loaded_) return Error{ErrorCode::not_joined, "room " + room_ + " has no state yet"};
  auto tr = std::make_shared<transform::Transform>(collab_.doc);
  if (Result<void> made = catch_port(ErrorCode::invalid_steps, "", [&] { fn(*tr); }); !made)
    return made.error();
  if (tr->steps().empty()) return collab_.doc;
  if (collab_.unconfirmed.size() + tr->steps().size() > options_.max_unconfirmed_steps)
    return Error{ErrorCode::rate_limited, "room " + room_ + ": more than " +
                                              std::to_string(options_.max_unconfirmed_steps) +
                                              " unconfirmed steps"};
  model::NodeRef before = collab_.doc;
  for (auto& r : collab::unconfirmed_from(*tr)) collab_.unconfirmed.push_back(std::move(r));
  collab_.doc = tr->doc();
  map_presence(tr, content_size(before));
  out.events.push_back(
      DocumentChange{room_, ChangeOrigin::local, tr, before, collab_.doc, collab_.version});
  flush(out);
  return collab_.doc;
}

Result<void> RoomSession::set_presence(Value entry, SessionOutput& out) {
  if (!entry.is_object()) return Error{ErrorCode::bad_message, "presence must be an object"};
  if (status_ == RoomStatus::left) return Error{ErrorCode::not_joined, "no room " + room_};
  own_presence_ = Presence{entry, presence::PositionFields(entry)};
  send_presence(out);
  return {};
}

void RoomSession::leave(SessionOutput& out) {
  if (status_ == RoomStatus::joined || status_ == RoomStatus::joining)
    out.messages.push_back(protocol::LeaveMessage{room_, options_.user_id});
  in_flight_.clear();
  set_status(RoomStatus::left, out);
}

// ---- reading ----

RoomSnapshot RoomSession::snapshot() const {
  RoomSnapshot s;
  s.room = room_;
  s.status = status_;
  s.loaded = loaded_;
  s.doc = collab_.doc;
  s.version = collab_.version;
  s.unconfirmed = collab_.unconfirmed.size();
  s.in_flight = in_flight_steps();
  if (own_presence_) s.own_presence = own_presence_->current();
  settle_presence();
  for (const auto& [user, p] : presence_) s.presence.emplace(user, p.current());
  s.server_rebase = rebase_;
  return s;
}

size_t RoomSession::in_flight_steps() const {
  size_t n = 0;
  for (const auto& b : in_flight_) n += b.steps;
  return n;
}

// ---- incoming messages ----

void RoomSession::on(const protocol::ServerState& m, SessionOutput& out) {
  if (status_ != RoomStatus::joining) return;
  set_status(RoomStatus::joined, out);
  paused_ = false;
  join_refused_ = false;
  in_flight_.clear();
  wait_for_ = -1;
  batch_limit_ = 0;
  rebase_ = options_.server_rebase && m.rebase;
  if (m.doc) {
    if (!load_doc(m, out)) return;
  } else {
    const auto& steps = *m.steps;
    if (!loaded_ || collab_.version + static_cast<int64_t>(steps.size()) != m.version) {
      resync(true, out);
      return;
    }
    // Every step sent before this join was answered before this state: those
    // the server took are listed here under our userId, the rest were refused.
    if (rebase_ || sent_batch_) {
      // A batch of the `rebase` extension may have been rebased, and others'
      // steps may come before it: its run of own steps settles it.
      if (!apply_incoming(steps, m.user_ids, out)) return;
      settle_unapplied(false, out);  // no own step there: it was not applied
    } else if (!steps.empty() && !apply_remote(steps, m.user_ids, out)) {
      return;
    }
    unknown_ = 0;
  }
  reset_presence(m.users, m.version, out);
  flush(out);
  send_presence(out);
}

// The server cannot give us the steps since our version: the unconfirmed
// steps can no longer be rebased. Steps sent without an answer may be in the
// new document already: they are dropped. The others are reapplied to the
// new document as they are; those that fail are dropped.
// False (nothing changed) when the document does not parse.
bool RoomSession::load_doc(const protocol::ServerState& m, SessionOutput& out) {
  Result<model::NodeRef> parsed = catch_port(ErrorCode::bad_message, "state: bad doc: ", [&] {
    return model::Node::from_json(*options_.schema, *m.doc);
  });
  if (!parsed) {
    error(parsed.error().code, parsed.error().message, out);
    return false;
  }
  model::NodeRef doc = std::move(*parsed);
  model::NodeRef before = collab_.doc;
  auto& unconfirmed = collab_.unconfirmed;
  size_t unknown = std::min(unknown_, unconfirmed.size());
  std::vector<Value> maybe_applied, failed;
  for (size_t i = 0; i < unknown; ++i) maybe_applied.push_back(unconfirmed[i].step->to_json());
  if (sent_batch_) {
    // Steps of the last batch that no longer applied here: the server may hold them too.
    for (auto& held : sent_batch_->held) maybe_applied.push_back(std::move(held));
    sent_batch_.reset();
  }
  transform::Transform tr(doc);
  std::vector<collab::Rebaseable> kept;
  for (size_t i = unknown; i < unconfirmed.size(); ++i) {
    const auto& u = unconfirmed[i];
    model::NodeRef at = tr.doc();
    Result<bool> applied =
        catch_port(ErrorCode::invalid_steps, "", [&] { return tr.maybe_step(u.step).ok(); });
    if (applied && *applied)
      kept.push_back({u.step, u.step->invert(*at), at});
    else
      failed.push_back(u.step->to_json());
  }
  if (before && own_presence_) {
    // Own positions move as if the whole content had been replaced, then
    // through the reapplied steps.
    transform::Mapping mapping;
    mapping.append_map(transform::StepMap({0, content_size(before), content_size(doc)}));
    mapping.append_mapping(tr.mapping());
    own_presence_->positions.map(mapping, content_size(before));
  }
  collab_ = collab::CollabState{tr.doc(), m.version, std::move(kept)};
  sent_ = 0;
  unknown_ = 0;
  history_.clear();
  loaded_ = true;
  full_resync_ = false;
  out.events.push_back(
      DocumentChange{room_, ChangeOrigin::reset, nullptr, before, collab_.doc, m.version});
  if (!maybe_applied.empty())
    dropped(DropReason::doc_replaced, std::move(maybe_applied),
            "the server sent a whole document; these steps were sent without an answer and may "
            "already be in it",
            out, true);
  if (!failed.empty())
    dropped(DropReason::doc_replaced, std::move(failed),
            "the server sent a whole document; these steps no longer apply", out);
  return true;
}

// Applies steps from the server on top of the confirmed version. False (and
// a full resync) when they do not parse or apply here.
bool RoomSession::apply_remote(const std::vector<Value>& steps_json,
                               const std::vector<std::string>& user_ids, SessionOutput& out) {
  std::vector<transform::StepPtr> steps;
  // Another client of this process may have parsed these steps, and applied
  // them to the same confirmed document (SharedSteps): then only a client with
  // unconfirmed steps (or whose own steps these are) has work left.
  const std::shared_ptr<SharedSteps>& shared = options_.shared_steps;
  std::shared_ptr<const SharedSteps::Range> range =
      shared ? shared->find(room_, collab_.version, steps_json.size()) : nullptr;
  bool others = std::none_of(user_ids.begin(), user_ids.end(),
                             [&](const std::string& id) { return id == options_.user_id; });
  bool plain = others && collab_.unconfirmed.empty();
  // The transaction as a shared value: the one another client made, or ours.
  std::shared_ptr<const transform::Transform> tr;
  Result<collab::ReceiveResult> received =
      catch_port(ErrorCode::invalid_steps, "steps from the server do not apply here: ", [&] {
        std::shared_ptr<const transform::Transform> applied;
        if (range) {
          steps = range->steps;
          applied = range->transform;
          if (plain && applied) {
            tr = applied;
            return collab::ReceiveResult{
                collab::CollabState{
                    tr->doc(), collab_.version + static_cast<int64_t>(steps.size()), {}},
                transform::Transform(tr->doc()),
                0,
                {}};
          }
        } else {
          steps.reserve(steps_json.size());
          for (const Value& s : steps_json)
            steps.push_back(transform::Step::from_json(*options_.schema, s));
        }
        if (shared && others && !plain) {
          // Our unconfirmed steps are rebased over the room's steps as
          // applied to the confirmed document, once for every client of
          // the process: by us now, if no other client has yet.
          if (!applied) applied = apply_for_all(steps);
          collab::ReceiveResult r = collab::receive_applied(collab_, *applied);
          tr = std::make_shared<const transform::Transform>(std::move(r.transform));
          return r;
        }
        collab::ReceiveResult r =
            collab::receive_transaction(collab_, steps, user_ids, options_.user_id);
        tr = std::make_shared<const transform::Transform>(std::move(r.transform));
        if (shared && (!range || plain))
          shared->put(room_, collab_.version,
                      std::make_shared<const SharedSteps::Range>(
                          SharedSteps::Range{steps, plain ? tr : nullptr}));
        return r;
      });
  if (!received) {
    error(received.error().code, received.error().message, out);
    resync(true, out);
    return false;
  }
  collab::ReceiveResult& r = *received;
  size_t ours = 0;
  while (ours < user_ids.size() && user_ids[ours] == options_.user_id) ++ours;
  size_t confirmed = std::min(ours, collab_.unconfirmed.size());
  std::vector<Value> lost;
  for (size_t i = confirmed, k = 0; i < collab_.unconfirmed.size(); ++i) {
    if (k < r.kept.size() && r.kept[k] == i)
      ++k;
    else if (sent_batch_ && i < sent_batch_->steps)  // the server may apply it: see SentBatch
      sent_batch_->held.push_back(collab_.unconfirmed[i].step->to_json());
    else
      lost.push_back(collab_.unconfirmed[i].step->to_json());
  }
  record_confirmed(steps.size(), [&](size_t i) { return steps[i]; });
  model::NodeRef before = collab_.doc;
  keep_only(r.kept, confirmed);
  collab_ = std::move(r.state);
  if (confirmed) {
    stats_.steps_confirmed += static_cast<int64_t>(confirmed);
    out.events.push_back(Confirmation{room_, collab_.version});
  }
  if (!tr->steps().empty()) {
    map_presence(tr, content_size(before));
    out.events.push_back(
        DocumentChange{room_, ChangeOrigin::remote, tr, before, collab_.doc, collab_.version});
  }
  if (!lost.empty())
    dropped(DropReason::rebase, std::move(lost),
            "no longer applies after rebasing over remote steps", out);
  apply_pending_presence(out);
  return true;
}

// `kept`: the indices of the unconfirmed steps that remain, ascending; the
// first `confirmed` ones were confirmed. The batches in flight lose the steps
// that are gone; one whose steps were all confirmed is answered.
void RoomSession::keep_only(const std::vector<size_t>& kept, size_t confirmed) {
  sent_ = count_below(kept, sent_);
  unknown_ = count_below(kept, unknown_);
  if (sent_batch_) sent_batch_->steps = count_below(kept, sent_batch_->steps);
  size_t start = 0;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    size_t end = start + it->steps;
    size_t done = confirmed > start ? std::min(it->steps, confirmed - start) : 0;
    it->version += static_cast<int64_t>(done);
    it->steps = count_below(kept, end) - count_below(kept, start);
    start = end;
    if (!it->steps && done)
      it = in_flight_.erase(it);
    else
      ++it;
  }
}

// Steps from the server with their authors, under the `rebase` extension or
// with a batch of it unanswered: the others' steps go through
// receive_transaction, and each run of our own settles our batch (settle_own).
bool RoomSession::apply_incoming(const std::vector<Value>& steps_json,
                                 const std::vector<std::string>& user_ids, SessionOutput& out) {
  if (settle_frame(steps_json, user_ids, out)) return true;
  const std::string& me = options_.user_id;
  size_t size = std::min(steps_json.size(), user_ids.size());
  auto part = [&](const auto& v, size_t a, size_t b) {
    return std::decay_t<decltype(v)>(v.begin() + static_cast<long>(a),
                                     v.begin() + static_cast<long>(b));
  };
  for (size_t i = 0; i < size;) {
    size_t j = i;
    while (j < size && user_ids[j] != me) ++j;
    if (j > i && !apply_remote(part(steps_json, i, j), part(user_ids, i, j), out)) return false;
    size_t k = j;
    while (k < size && user_ids[k] == me) ++k;
    if (k > j && !settle_own(part(steps_json, j, k), out)) return false;
    i = k;
  }
  return true;
}

void RoomSession::on(const protocol::ServerSteps& m, SessionOutput& out) {
  if (!loaded_ || status_ != RoomStatus::joined) return;
  int64_t version = collab_.version;
  auto n = static_cast<int64_t>(m.steps.size());
  if (m.version + n <= version) return;                // already have them
  if (m.version > version) return resync(false, out);  // a gap: ask again
  auto skip = static_cast<size_t>(version - m.version);
  std::vector<Value> steps(m.steps.begin() + static_cast<long>(skip), m.steps.end());
  // `rebase` extension: each step's author; else all are `userId`'s.
  std::vector<std::string> ids(steps.size(), m.user_id);
  if (m.user_ids.size() == m.steps.size())
    ids.assign(m.user_ids.begin() + static_cast<long>(skip), m.user_ids.end());
  bool applied =
      rebase_ || sent_batch_ ? apply_incoming(steps, ids, out) : apply_remote(steps, ids, out);
  if (applied) flush(out);
}

void RoomSession::on(const protocol::ServerAck& m, SessionOutput& out) {
  if (status_ != RoomStatus::joined) return;  // joining: the state will settle it
  // An ack for no batch: what we think is in flight is not what the server
  // answered. A rejoin's state settles everything sent before it.
  if (in_flight_.empty()) return resync(false, out);
  if (m.steps && sent_batch_) {
    // `rebase` extension: the batch as the server applied it, on the version
    // we are at (every step before it came first).
    Batch batch = in_flight_.front();
    in_flight_.pop_front();
    ++stats_.server_rebased;
    if (batch.steps != sent_batch_->steps ||
        m.version - static_cast<int64_t>(m.steps->size()) != collab_.version)
      return resync(false, out);  // the rejoin's state settles it
    if (settle_own(*m.steps, out)) flush(out);
    return;
  }
  confirm_front(m.version, out);
}

// The front batch in flight was accepted: the room is at `version` after it.
void RoomSession::confirm_front(int64_t version, SessionOutput& out) {
  Batch batch = in_flight_.front();
  in_flight_.pop_front();
  size_t n = batch.steps;
  if (n > collab_.unconfirmed.size() || batch.version != collab_.version ||
      version != collab_.version + static_cast<int64_t>(n)) {
    // Our copy and the server disagree on what was confirmed: a rejoin sorts it out.
    return resync(false, out);
  }
  confirm_prefix(n, version);
  sent_batch_.reset();  // `rebase` extension: applied as sent (nothing was rebased)
  stats_.steps_confirmed += static_cast<int64_t>(n);
  out.events.push_back(Confirmation{room_, version});
  apply_pending_presence(out);
  if (!presence_exact_) send_presence(out);
  flush(out);
}

// The first `n` unconfirmed steps are confirmed as they are: the room is at
// `version` after them.
void RoomSession::confirm_prefix(size_t n, int64_t version) {
  record_confirmed(n, [&](size_t i) { return collab_.unconfirmed[i].step; });
  collab_.unconfirmed.erase(collab_.unconfirmed.begin(),
                            collab_.unconfirmed.begin() + static_cast<long>(n));
  sent_ -= std::min(sent_, n);
  unknown_ -= std::min(unknown_, n);
  collab_.version = version;
  batch_limit_ = 0;
}

// `rebase` extension: our batch (sent_batch_) was applied as `applied_json`,
// on top of the confirmed version. Equal to the batch as held here, that is
// version 1's confirmation; otherwise collab::confirm_rebased puts the
// server's steps in its place. The steps the server dropped are reported.
// Without a sent batch (a run of own steps that nothing here waits for, such
// as a batch sent under version 1), the run confirms as many unconfirmed
// steps, as receive_transaction does. False (and a full resync) when the
// steps do not parse or apply here.
bool RoomSession::settle_own(const std::vector<Value>& applied_json, SessionOutput& out) {
  auto& unconfirmed = collab_.unconfirmed;
  size_t n = std::min(sent_batch_ ? sent_batch_->steps : applied_json.size(), unconfirmed.size());
  std::vector<transform::StepPtr> applied;
  std::vector<Value> canonical;
  Result<void> parsed =
      catch_port(ErrorCode::invalid_steps, "steps from the server do not apply here: ", [&] {
        for (const Value& s : applied_json) {
          applied.push_back(transform::Step::from_json(*options_.schema, s));
          canonical.push_back(applied.back()->to_json());
        }
      });
  if (!parsed) {
    error(parsed.error().code, parsed.error().message, out);
    resync(true, out);
    return false;
  }
  if (sent_batch_ && !in_flight_.empty()) {
    // Answered by a broadcast (`echo`, or a state's run): rebased when applied on a later
    // version than the one it was made on.
    if (in_flight_.front().version != collab_.version) ++stats_.server_rebased;
    in_flight_.pop_front();
  }
  // The steps of the batch as sent that the server did not apply. Which ones
  // they are is told by content (align_steps); when that fails, the count is
  // still right.
  std::vector<Value> lost;
  if (sent_batch_) {
    const std::vector<Value>& sent = sent_batch_->sent;
    std::vector<int> pairs = collab::align_steps(sent, canonical);
    std::vector<bool> paired(sent.size(), false);
    bool all = true;
    for (int j : pairs) {
      if (j < 0)
        all = false;
      else
        paired[static_cast<size_t>(j)] = true;
    }
    if (all) {
      for (size_t j = 0; j < sent.size(); ++j)
        if (!paired[j]) lost.push_back(sent[j]);
    } else if (sent.size() > applied.size()) {
      lost.assign(sent.end() - static_cast<long>(sent.size() - applied.size()), sent.end());
    }
  }
  bool same = applied.size() == n;
  for (size_t i = 0; same && i < n; ++i) same = canonical[i] == unconfirmed[i].step->to_json();
  if (same) {
    confirm_prefix(n, collab_.version + static_cast<int64_t>(n));
  } else {
    model::NodeRef before = collab_.doc;
    Result<collab::ReceiveResult> rebased =
        catch_port(ErrorCode::invalid_steps, "steps from the server do not apply here: ", [&] {
          return collab::confirm_rebased(collab_, n, applied);
        });
    if (!rebased) {
      error(rebased.error().code, rebased.error().message, out);
      resync(true, out);
      return false;
    }
    collab::ReceiveResult& r = *rebased;
    std::vector<Value> after_lost;
    for (size_t i = n, k = 0; i < unconfirmed.size(); ++i) {
      if (k < r.kept.size() && r.kept[k] == i)
        ++k;
      else
        after_lost.push_back(unconfirmed[i].step->to_json());
    }
    record_confirmed(applied.size(), [&](size_t i) { return applied[i]; });
    keep_only(r.kept, n);
    collab_ = std::move(r.state);
    auto tr = std::make_shared<transform::Transform>(std::move(r.transform));
    // Own positions with assoc -1: a caret right after the text just typed
    // is inside the batch's insertion and follows it to the server's place.
    map_presence(tr, content_size(before), -1);
    presence_exact_ = false;  // the server mapped our last presence otherwise: send it again
    out.events.push_back(
        DocumentChange{room_, ChangeOrigin::remote, tr, before, collab_.doc, collab_.version});
    if (!after_lost.empty())
      dropped(DropReason::rebase, std::move(after_lost),
              "no longer applies after the server rebased an earlier batch", out);
  }
  sent_batch_.reset();
  stats_.steps_confirmed += static_cast<int64_t>(applied.size());
  out.events.push_back(Confirmation{room_, collab_.version});
  if (!lost.empty())
    dropped(DropReason::rebase, std::move(lost),
            "the server dropped it when it rebased the batch (it no longer applied)", out);
  apply_pending_presence(out);
  if (!presence_exact_) send_presence(out);
  return true;
}

// The room's `steps` from the confirmed version applied to the confirmed
// document, recorded for every client of the process (SharedSteps).
std::shared_ptr<const transform::Transform> RoomSession::apply_for_all(
    const std::vector<transform::StepPtr>& steps) {
  auto made = std::make_shared<transform::Transform>(collab::confirmed_doc(collab_));
  for (const auto& step : steps) made->step(step);
  options_.shared_steps->put(
      room_, collab_.version,
      std::make_shared<const SharedSteps::Range>(SharedSteps::Range{steps, made}));
  return made;
}

bool RoomSession::settle_frame(const std::vector<Value>& steps_json,
                               const std::vector<std::string>& user_ids, SessionOutput& out) {
  const std::shared_ptr<SharedSteps>& shared = options_.shared_steps;
  if (!shared || !rebase_ || !sent_batch_ || in_flight_.size() != 1) return false;
  size_t k = sent_batch_->steps;  // the batch: the first k unconfirmed steps
  size_t u = collab_.unconfirmed.size();
  size_t n = steps_json.size();
  if (k == 0 || k > u || sent_batch_->sent.size() != k || !sent_batch_->held.empty() ||
      in_flight_.front().steps != k || sent_ != k || unknown_ > k || user_ids.size() != n)
    return false;
  // Exactly one run of our steps: [a, b).
  const std::string& me = options_.user_id;
  size_t a = 0;
  while (a < n && user_ids[a] != me) ++a;
  size_t b = a;
  while (b < n && user_ids[b] == me) ++b;
  if (a == n ||
      std::find(user_ids.begin() + static_cast<long>(b), user_ids.end(), me) != user_ids.end())
    return false;
  // The room's transaction over the frame: another client's, or made here for all.
  std::shared_ptr<const SharedSteps::Range> range = shared->find(room_, collab_.version, n);
  std::vector<Value> canonical;
  std::vector<int> pairs;
  std::optional<collab::ReceiveResult> result;
  Result<void> done =
      catch_port(ErrorCode::invalid_steps, "steps from the server do not apply here: ", [&] {
        std::shared_ptr<const transform::Transform> room = range ? range->transform : nullptr;
        if (!room) {
          std::vector<transform::StepPtr> steps;
          if (range) {
            steps = range->steps;
          } else {
            steps.reserve(n);
            for (const Value& step : steps_json)
              steps.push_back(transform::Step::from_json(*options_.schema, step));
          }
          room = apply_for_all(steps);
        }
        for (size_t i = a; i < b; ++i) canonical.push_back(room->steps()[i]->to_json());
        // Every step of the run is one of the batch's (else settle_own sorts it out).
        pairs = collab::align_steps(sent_batch_->sent, canonical);
        if (std::find(pairs.begin(), pairs.end(), -1) != pairs.end()) return;
        result = collab::confirm_in_frame(collab_, k, *room, a, b - a);
      });
  if (!done) {
    error(done.error().code, done.error().message, out);
    resync(true, out);
    return false;
  }
  if (!result) return false;
  collab::ReceiveResult& r = *result;
  const std::vector<transform::StepPtr>& steps = r.transform.steps();
  // The batch's steps the server did not apply, and the later ones that no longer apply.
  std::vector<Value> lost, after_lost;
  std::vector<bool> paired(k, false);
  for (int j : pairs) paired[static_cast<size_t>(j)] = true;
  for (size_t j = 0; j < k; ++j)
    if (!paired[j]) lost.push_back(sent_batch_->sent[j]);
  for (size_t i = k, x = 0; i < u; ++i) {
    if (x < r.kept.size() && r.kept[x] == i)
      ++x;
    else
      after_lost.push_back(collab_.unconfirmed[i].step->to_json());
  }
  bool as_sent = canonical == sent_batch_->sent;
  if (in_flight_.front().version != collab_.version + static_cast<int64_t>(a) || !as_sent)
    ++stats_.server_rebased;
  in_flight_.pop_front();
  record_confirmed(n, [&](size_t i) { return steps[u + i]; });
  model::NodeRef before = collab_.doc;
  collab_ = std::move(r.state);
  sent_ = 0;
  unknown_ = 0;
  batch_limit_ = 0;
  sent_batch_.reset();
  stats_.steps_confirmed += static_cast<int64_t>(b - a);
  auto tr = std::make_shared<transform::Transform>(std::move(r.transform));
  if (as_sent) {
    map_presence(tr, content_size(before));
  } else {
    // As settle_own: a caret right after the text just typed follows it to the server's place.
    map_presence(tr, content_size(before), -1);
    presence_exact_ = false;
  }
  out.events.push_back(
      DocumentChange{room_, ChangeOrigin::remote, tr, before, collab_.doc, collab_.version});
  if (!after_lost.empty())
    dropped(DropReason::rebase, std::move(after_lost),
            "no longer applies after the server rebased an earlier batch", out);
  out.events.push_back(Confirmation{room_, collab_.version});
  if (!lost.empty())
    dropped(DropReason::rebase, std::move(lost),
            "the server dropped it when it rebased the batch (it no longer applied)", out);
  apply_pending_presence(out);
  if (!presence_exact_) send_presence(out);
  return true;
}

// `rebase` extension: the last batch was not applied. Its steps that no
// longer applied here are gone for good: reported.
void RoomSession::settle_unapplied(bool maybe_applied, SessionOutput& out) {
  if (!sent_batch_) return;
  std::vector<Value> held = std::move(sent_batch_->held);
  sent_batch_.reset();
  if (!held.empty())
    dropped(DropReason::rebase, std::move(held),
            "no longer applies after rebasing over remote steps", out, maybe_applied);
}

void RoomSession::on(const protocol::ServerPresence& m, SessionOutput& out) {
  if (!loaded_ || status_ != RoomStatus::joined || !options_.remote_presence) return;
  std::optional<Localizer> l = localizer(m.version);  // the same maps for every entry
  for (const auto& [user, entry] : m.users) set_remote_presence(user, entry, m.version, out, l);
}

void RoomSession::on(const protocol::ServerJoin& m, SessionOutput& out) {
  if (!loaded_ || m.user_id == options_.user_id) return;
  out.events.push_back(MemberEvent{room_, m.user_id, true});
  set_remote_presence(m.user_id, m.presence ? *m.presence : Value(json::Object{}), collab_.version,
                      out);
}

void RoomSession::on(const protocol::ServerLeave& m, SessionOutput& out) {
  if (m.user_id == options_.user_id) return;
  out.events.push_back(MemberEvent{room_, m.user_id, false});
  pending_presence_.erase(m.user_id);
  if (presence_.erase(m.user_id)) out.events.push_back(PresenceChange{room_, m.user_id, {}});
}

void RoomSession::on(const protocol::ServerError& m, SessionOutput& out) {
  if (m.room != room_) return;
  ErrorCode code = m.known_code.value_or(ErrorCode::internal);
  switch (code) {
    case ErrorCode::version_conflict:
      if (rebase_) {
        // The version left the server's history (a batch or a presence): rejoin.
        if (!in_flight_.empty()) ++stats_.version_conflicts;
        return resync(false, out);
      }
      // Errors do not say which message they answer. A batch conflicts only
      // with a room that is past its version (ours is never ahead of the
      // room's), so a conflict naming a version at or below the batch's
      // answers a presence (its version fell out of the server's history).
      if (!in_flight_.empty() && m.version.value_or(-1) > in_flight_.front().version) {
        // Others' steps came first; they are on their way to us.
        ++stats_.version_conflicts;
        in_flight_.clear();
        wait_for_ = m.version.value_or(-1);
        flush(out);
      } else {
        send_presence(out);  // a presence whose version the server did not accept
      }
      return;
    case ErrorCode::message_too_large:
      if (in_flight_steps() > 1) {  // send smaller batches
        batch_limit_ = std::max<size_t>(1, in_flight_steps() / 2);
        in_flight_.clear();
        settle_unapplied(false, out);
        flush(out);
        return;
      }
      [[fallthrough]];  // a single step too large can never go: dropped like an invalid one
    case ErrorCode::invalid_steps: {
      size_t n = in_flight_steps();
      if (!n && code == ErrorCode::invalid_steps && status_ == RoomStatus::joined) {
        // Refused steps we do not think are in flight: see on(ServerAck).
        error(code, m.message, out);
        return resync(false, out);
      }
      in_flight_.clear();
      if (n) ++stats_.rejections;
      error(code, m.message, out);
      drop_unconfirmed(n, m.message, out);
      settle_unapplied(false, out);
      flush(out);
      return;
    }
    case ErrorCode::not_joined: return resync(false, out);
    case ErrorCode::rate_limited:
    case ErrorCode::internal:
      // The refused message may be the batch in flight or a presence: its
      // answer may still come, so the batch stays in flight, and nothing more
      // goes out until the rejoin (a bit later) answers with a state that
      // settles everything sent before it. (Forgetting the batch here let a
      // late invalid_steps for it drop the next batch, which the server took.)
      paused_ = true;
      // While joining, the refused message is the join (or a batch sent before it, whose
      // join's state then comes before the retry and clears this).
      if (status_ == RoomStatus::joining) join_refused_ = true;
      error(code, m.message, out);
      out.retry_later = true;
      return;
    case ErrorCode::session_replaced:
      error(code, m.message, out);
      in_flight_.clear();
      presence_.clear();
      set_status(RoomStatus::left, out);
      return;
    default:
      // forbidden, room_full, unauthorized, invalid_room, bad_message: nothing to
      // fix by retrying. A refused join leaves the room.
      error(code, m.message, out);
      if (status_ == RoomStatus::joining) set_status(RoomStatus::left, out);
  }
}

// Drops the first `count` unconfirmed steps: the document is rebuilt as the
// confirmed document plus the remaining unconfirmed steps, each mapped over
// the removal (prosemirror-collab's rebaseSteps with mirrors, over nothing).
void RoomSession::drop_unconfirmed(size_t count, const std::string& message, SessionOutput& out) {
  auto& unconfirmed = collab_.unconfirmed;
  count = std::min(count, unconfirmed.size());
  if (!count) return;
  model::NodeRef before = collab_.doc;
  auto tr = std::make_shared<transform::Transform>(collab_.doc);
  std::vector<Value> lost;
  std::vector<collab::Rebaseable> kept;
  std::vector<size_t> kept_index;
  Result<void> reverted = catch_port(ErrorCode::internal, "revert failed: ", [&] {
    collab::undo(unconfirmed, *tr);
    int map_from = static_cast<int>(unconfirmed.size());
    for (size_t i = 0; i < unconfirmed.size(); ++i) {
      const auto& item = unconfirmed[i];
      transform::StepPtr mapped = item.step->map(tr->mapping().slice(map_from));
      --map_from;
      if (i < count) {
        lost.push_back(item.step->to_json());
        continue;
      }
      if (mapped && tr->maybe_step(mapped).ok()) {
        tr->mutable_mapping().set_mirror(map_from, static_cast<int>(tr->steps().size()) - 1);
        kept.push_back({mapped, mapped->invert(*tr->docs().back()), tr->docs().back()});
        kept_index.push_back(i);
      } else {
        lost.push_back(item.step->to_json());
      }
    }
  });
  if (!reverted) {
    // Cannot happen for consistent state; start over from the server's document.
    error(reverted.error().code, reverted.error().message, out);
    resync(true, out);
    return;
  }
  keep_only(kept_index);
  collab_.unconfirmed = std::move(kept);
  collab_.doc = tr->doc();
  map_presence(tr, content_size(before));
  out.events.push_back(
      DocumentChange{room_, ChangeOrigin::revert, tr, before, collab_.doc, collab_.version});
  dropped(DropReason::invalid_steps, std::move(lost), message, out);
}

// ---- outgoing messages ----

void RoomSession::send_join(SessionOutput& out) {
  if (status_ == RoomStatus::joining || status_ == RoomStatus::joined) ++stats_.resyncs;
  protocol::JoinMessage m{room_, options_.user_id, std::nullopt, std::nullopt};
  m.rebase = options_.server_rebase;
  m.echo = options_.server_rebase;  // own steps in broadcasts: settled by apply_incoming
  bool rejoin = loaded_ && !full_resync_;
  if (own_presence_) m.presence = rejoin ? presence_for_confirmed() : own_presence_->current();
  if (rejoin) m.version = collab_.version;
  out.messages.push_back(std::move(m));
  in_flight_.clear();
  wait_for_ = -1;
  join_refused_ = false;
  set_status(RoomStatus::joining, out);
}

void RoomSession::send_presence(SessionOutput& out) {
  if (status_ != RoomStatus::joined || !loaded_ || !own_presence_) return;
  out.messages.push_back(protocol::PresenceMessage{room_, options_.user_id,
                                                   presence_for_confirmed(), collab_.version});
}

// Sends the unconfirmed steps when the room is joined and nothing is in flight.
void RoomSession::flush(SessionOutput& out) {
  if (status_ != RoomStatus::joined || !loaded_ || paused_ || !in_flight_.empty() ||
      collab_.unconfirmed.empty() || collab_.version < wait_for_)
    return;
  size_t limit = batch_limit_ ? batch_limit_ : options_.max_batch_steps;
  size_t n = std::min(collab_.unconfirmed.size(), limit);
  json::Array steps;
  steps.reserve(n);
  for (size_t i = 0; i < n; ++i) steps.push_back(collab_.unconfirmed[i].step->to_json());
  if (rebase_) sent_batch_ = SentBatch{n, steps, {}};
  out.messages.push_back(
      protocol::StepsMessage{room_, collab_.version, Value(std::move(steps)), options_.user_id});
  in_flight_.push_back(Batch{collab_.version, n});
  ++stats_.batches_sent;
  stats_.steps_sent += static_cast<int64_t>(n);
  if (sent_) ++stats_.resends;
  sent_ = std::max(sent_, n);
  unknown_ = std::max(unknown_, n);
}

// Join again on this connection; with `full` ask for the whole document.
// While a join is unanswered, its `state` settles everything sent before it:
// a second join would only be answered later, and its older `state` would be
// taken for the answer to the newer join (then answers to what was sent in
// between are taken for answers to what is sent after it).
void RoomSession::resync(bool full, SessionOutput& out) {
  if (full) full_resync_ = true;
  if (status_ == RoomStatus::joined) send_join(out);
}

// ---- presence ----

// Own presence with positions mapped back to the confirmed version.
Value RoomSession::presence_for_confirmed() {
  presence_exact_ = true;
  if (collab_.unconfirmed.empty() || !collab_.doc) return own_presence_->current();
  std::vector<transform::StepMap> back;
  const auto& maps = unconfirmed_maps();
  back.reserve(maps.size());
  for (auto it = maps.rbegin(); it != maps.rend(); ++it) back.push_back(it->invert());
  presence::PositionFields positions = own_presence_->positions;
  positions.map(transform::Mapping(std::move(back)), content_size(collab_.doc), -1);
  Value sent = positions.apply(own_presence_->entry);
  // Exact when the server, mapping the sent entry through these steps once it
  // accepts them, gets our positions back; otherwise it is sent again after the ack.
  transform::MapChain forward;
  for (const auto& m : maps) forward.add(m);
  presence_exact_ =
      presence::map_positions(sent, forward, forward.size_before(content_size(collab_.doc))) ==
      own_presence_->current();
  return sent;
}

// Maps own and remote presence through a change of the local document, which
// had content size `doc_size` before it.
void RoomSession::map_presence(std::shared_ptr<const transform::Transform> tr, int doc_size,
                               int own_assoc) {
  if (own_presence_) own_presence_->positions.map(tr->mapping(), doc_size, own_assoc);
  if (presence_.empty()) return;  // an entry that comes later is localized to the new document
  int low = transform::unchanged_below(tr->mapping());
  pending_maps_.push_back(PendingMaps{std::move(tr), doc_size, low});
  if (pending_maps_.size() >= 32) settle_presence();
}

void RoomSession::settle_presence() const {
  if (pending_maps_.empty()) return;
  int64_t end = maps_end();
  for (auto& [user, p] : presence_) {
    for (int64_t k = std::max(p.mapped_to, pending_base_); k < end; ++k) {
      const PendingMaps& m = pending_maps_[static_cast<size_t>(k - pending_base_)];
      if (!p.positions.empty()) p.positions.map(m.tr->mapping(), m.doc_size, 1, m.low);
    }
    p.mapped_to = end;
  }
  pending_maps_.clear();
  pending_base_ = end;
}

// The unconfirmed steps' maps, made again only when the steps changed.
const std::vector<transform::StepMap>& RoomSession::unconfirmed_maps() {
  const auto& steps = collab_.unconfirmed;
  bool same = steps.size() == unconfirmed_mapped_.size();
  for (size_t i = 0; same && i < steps.size(); ++i) same = steps[i].step == unconfirmed_mapped_[i];
  if (!same) {
    unconfirmed_maps_.clear();
    unconfirmed_mapped_.clear();
    for (const auto& s : steps) {
      unconfirmed_maps_.push_back(s.step->get_map());
      unconfirmed_mapped_.push_back(s.step);
    }
  }
  return unconfirmed_maps_;
}

void RoomSession::record_confirmed(size_t n, FunctionRef<transform::StepPtr(size_t)> step) {
  if (!options_.remote_presence) return;  // the history only localizes others' presence
  for (size_t i = 0; i < n; ++i) history_.push_back(step(i)->get_map());
  while (history_.size() > kPresenceHistory) history_.pop_front();
}

// A remote entry whose positions refer to `version`, in local document
// positions; nullopt when `version` is ahead of the confirmed one (kept until
// it is reached).
std::optional<RoomSession::Localizer> RoomSession::localizer(int64_t version) {
  int64_t confirmed = collab_.version;
  if (version > confirmed) return std::nullopt;
  std::optional<Localizer> l(std::in_place);
  l->version = version;
  int64_t behind = confirmed - version;
  if (behind > 0) {
    size_t take = static_cast<size_t>(std::min<int64_t>(behind, std::ssize(history_)));
    for (auto it = history_.end() - static_cast<long>(take); it != history_.end(); ++it)
      l->chain.add(*it);
  }
  for (const auto& m : unconfirmed_maps()) l->chain.add(m);
  l->size_before = l->chain.size_before(content_size(collab_.doc));
  return l;
}

void RoomSession::set_remote_presence(const std::string& user, const Value& entry, int64_t version,
                                      SessionOutput& out) {
  if (!options_.remote_presence) return;
  set_remote_presence(user, entry, version, out, localizer(version));
}

void RoomSession::set_remote_presence(const std::string& user, const Value& entry, int64_t version,
                                      SessionOutput& out, const std::optional<Localizer>& l) {
  if (user == options_.user_id || !options_.remote_presence) return;
  if (!l) {
    pending_presence_[user] = PendingPresence{version, entry};
    return;
  }
  std::optional<Presence> local(std::in_place, Presence{entry, presence::PositionFields(entry)});
  local->positions.map(l->chain, l->size_before);
  if (!pending_presence_.empty()) pending_presence_.erase(user);
  Value current = local->current();
  local->mapped_to = maps_end();  // localized into the current local document
  presence_[user] = std::move(*local);
  out.events.push_back(PresenceChange{room_, user, std::move(current)});
}

void RoomSession::apply_pending_presence(SessionOutput& out) {
  auto pending = std::move(pending_presence_);
  pending_presence_.clear();
  for (auto& [user, p] : pending) set_remote_presence(user, p.entry, p.version, out);
}

void RoomSession::reset_presence(const std::vector<std::pair<std::string, Value>>& users,
                                 int64_t version, SessionOutput& out) {
  std::map<std::string, Presence> old = std::move(presence_);
  presence_.clear();
  pending_presence_.clear();
  for (const auto& [user, entry] : users) set_remote_presence(user, entry, version, out);
  for (const auto& [user, entry] : old)
    if (!presence_.count(user) && !pending_presence_.count(user))
      out.events.push_back(PresenceChange{room_, user, {}});
}

// ---- events ----

void RoomSession::set_status(RoomStatus status, SessionOutput& out) {
  if (status_ == status) return;
  status_ = status;
  out.events.push_back(RoomStatusChange{room_, status});
}

void RoomSession::error(ErrorCode code, std::string message, SessionOutput& out) {
  out.events.push_back(ClientError{room_, code, std::move(message)});
}

void RoomSession::dropped(DropReason reason, std::vector<Value> steps, std::string message,
                          SessionOutput& out, bool maybe_applied) {
  stats_.dropped_steps += static_cast<int64_t>(steps.size());
  out.events.push_back(
      DroppedSteps{room_, reason, std::move(steps), std::move(message), maybe_applied});
}

}  // namespace rtpm::client
