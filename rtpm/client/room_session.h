// RoomSession: one client's collaboration in one room, without I/O -- the
// loop of prosemirror-collab's central-authority example spoken in
// PROTOCOL.md's messages, as clients/ts/src/session.ts runs it in the browser.
//
// Inputs are decoded server messages (receive()), the connection's ups and
// downs (connection_opened(), connection_lost()), local edits (edit()) and
// presence (set_presence()); outputs are appended to a SessionOutput: client
// messages to send, in order, and events (document changes, presence,
// members, drops, errors, status, confirmations). RealtimeClient
// (realtime_client.h) runs one session per room over its Connection
// (connection.h); tests drive sessions directly against an in-process
// authority.
//
// The loop. Local steps apply at once and pile up as unconfirmed
// (collab::CollabState). When the room is joined and no batch is in flight,
// the unconfirmed steps on top of the confirmed version go out as one
// `steps` message (at most max_batch_steps). `ack` confirms the batch;
// steps of others go through collab::receive_transaction, which rebases the
// unconfirmed ones (a step that no longer applies is dropped and reported).
// `version_conflict` means others' steps are on their way: the session waits
// until its confirmed version reaches the one the server named, then sends
// its rebased steps again. `invalid_steps` drops the batch (the document is
// rebuilt without it); `message_too_large` halves the batch;
// `rate_limited`/`internal` (which may answer a presence as well as the
// batch) stop sending and ask the owner to call retry() a little later,
// which rejoins: the `state` settles everything sent before it.
//
// Rejoin. After connection_opened() (and on a resync) the session sends
// `join` with its confirmed version; the `state` answer lists the steps since
// with their userIds, its own accepted steps included, which confirms them:
// a batch whose `ack` was lost is never applied twice. A `state` with a
// whole document replaces the local one: unconfirmed steps that were never
// sent are reapplied to it as they are (those that no longer apply are
// dropped); steps that were sent without an answer may already be in that
// document, so they are dropped too (DroppedSteps::maybe_applied), never
// applied twice.
//
// Presence. Own presence is kept in local-document positions, mapped through
// every change, sent mapped back to the confirmed version (and sent again
// after the `ack` when that mapping was lossy) and with every join. Remote
// entries are mapped from the version they refer to into the local
// document. Positions are what presence/positions.h says; other values pass
// through unchanged.
//
// The `rebase` extension (docs/protocol.md, issue 12; SessionOptions::
// server_rebase asks for it at every join, and a `state` with `rebase: true`
// turns it on for that membership, else the session speaks version 1 as
// above). The unconfirmed steps go out on top of the confirmed version
// without waiting to be current (still one batch in flight); the server
// rebases them. Its `ack` carries the steps as applied when it rebased them:
// equal to the batch as held here (rebased locally over the same steps), it
// confirms as in version 1; otherwise collab::confirm_rebased replaces the
// batch with them and rebases what was typed since. `version_conflict` means
// the version left the server's history: the session rejoins. Broadcasts name
// each step's author (`userIds`). A rejoin's `state` lists a batch whose
// `ack` was lost as a run of our own steps, maybe after others' steps: it is
// settled like an `ack` with those steps, and when no own step is there the
// batch was not applied and goes out again. A step of the batch in flight
// that no longer applies here is reported only once the answer says that the
// server did not apply it either (it may have).
//
// Not thread-safe: the owner serialises calls (RealtimeClient holds a lock).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "rtpm/base/error.h"
#include "rtpm/base/function_ref.h"
#include "rtpm/client/shared_steps.h"
#include "rtpm/collab/rebase.h"
#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/presence/positions.h"
#include "rtpm/protocol/client_messages.h"
#include "rtpm/protocol/server_messages.h"
#include "rtpm/transform/map.h"
#include "rtpm/transform/transform.h"

namespace rtpm::client {

/// The state of one room on a client.
enum class RoomStatus {
  offline,  ///< not joined because the connection is not open (edits are buffered)
  joining,  ///< a `join` went out; its `state` has not arrived
  joined,   ///< the `state` arrived; steps and presence flow
  left,     ///< left (leave(), session_replaced, or a refusal such as forbidden)
};

/// Where a document change came from.
enum class ChangeOrigin {
  local,   ///< edit() on this client
  remote,  ///< steps of others (incoming `steps` or a `state` with steps), rebasing ours
  reset,   ///< a `state` with a whole document replaced the local one
  revert,  ///< local steps were dropped (invalid_steps): the document was rebuilt without them
};

/// A change of a room's local document.
struct DocumentChange {
  std::string room;
  ChangeOrigin origin = ChangeOrigin::local;
  /// The steps that took `before` to `doc`: for `local` the edit's steps;
  /// for `remote` prosemirror-collab's transaction (inverses of the
  /// unconfirmed steps, the received steps, the rebased steps); for `revert`
  /// the inverses of all unconfirmed steps and the kept ones reapplied. Null
  /// for `reset`.
  std::shared_ptr<const transform::Transform> transform;
  model::NodeRef before;
  model::NodeRef doc;
  /// The confirmed version after the change.
  int64_t version = 0;
};

/// A remote user's presence changed (`entry` set) or the user is gone
/// (`entry` empty). Positions (cursor.pos, selection.from/to/anchor/head)
/// refer to the room's current local document; values there that are not
/// positions (presence/positions.h) are passed on as the sender wrote them.
struct PresenceChange {
  std::string room;
  std::string user_id;
  std::optional<json::Value> entry;
};

/// Someone else entered (`joined` true) or left the room.
struct MemberEvent {
  std::string room;
  std::string user_id;
  bool joined = true;
};

/// Why local steps were dropped.
enum class DropReason {
  invalid_steps,  ///< the server refused the batch (`invalid_steps`); it was reverted locally
  doc_replaced,   ///< a `state` with a whole document came; these steps no longer applied to it
                  ///< (or may already be in it: see DroppedSteps::maybe_applied)
  rebase,         ///< a step no longer applied after rebasing over remote steps
                  ///< (prosemirror-collab drops such steps silently)
};

/// Local steps that will never reach the server (from this client).
struct DroppedSteps {
  std::string room;
  DropReason reason = DropReason::invalid_steps;
  /// The dropped steps' JSON (for `rebase` as they were before rebasing).
  std::vector<json::Value> steps;
  /// The server's message (invalid_steps) or a description.
  std::string message;
  /// doc_replaced only: the steps had been sent and no answer said whether
  /// the server took them; the new document may already contain them.
  bool maybe_applied = false;
};

/// An error the server sent, or a client-side failure (a step from the
/// server that does not parse or apply here, a failed TLS handshake...).
struct ClientError {
  /// The room it concerns, if any.
  std::optional<std::string> room;
  ErrorCode code = ErrorCode::internal;
  std::string message;
};

/// A room's status changed.
struct RoomStatusChange {
  std::string room;
  RoomStatus status = RoomStatus::offline;
};

/// Own steps were confirmed: `version` is the new confirmed version.
struct Confirmation {
  std::string room;
  int64_t version = 0;
};

/// What a session reports, in order.
using SessionEvent = std::variant<DocumentChange, PresenceChange, MemberEvent, DroppedSteps,
                                  ClientError, RoomStatusChange, Confirmation>;

/// A snapshot of one room.
struct RoomSnapshot {
  std::string room;
  RoomStatus status = RoomStatus::offline;
  /// True once a `state` was applied (before that `doc` is null).
  bool loaded = false;
  /// The local document: confirmed document plus unconfirmed steps.
  model::NodeRef doc;
  /// The version of the last confirmed step.
  int64_t version = 0;
  /// Local steps not confirmed yet (including the in-flight batch).
  size_t unconfirmed = 0;
  /// Steps of the batch in flight (0: none).
  size_t in_flight = 0;
  /// Our own presence entry (positions in `doc`), if set.
  std::optional<json::Value> own_presence;
  /// Other members' presence by userId (`{}` when they have none), positions in `doc`.
  std::map<std::string, json::Value> presence;
  /// The current membership speaks the `rebase` extension (docs/protocol.md).
  bool server_rebase = false;
};

/// Counters of one session (RealtimeClient::stats() sums them over its rooms).
struct SessionStats {
  int64_t batches_sent = 0;       ///< `steps` messages sent
  int64_t steps_sent = 0;         ///< steps in them (a step sent again counts again)
  int64_t resends = 0;            ///< batches repeating steps sent before (after a conflict,
                                  ///< a halving, a rejoin)
  int64_t steps_confirmed = 0;    ///< own steps confirmed (by `ack` or by a rejoin's `state`)
  int64_t version_conflicts = 0;  ///< `version_conflict` answers to a batch in flight
  int64_t rejections = 0;         ///< batches refused (`invalid_steps`, a single step too large)
  int64_t dropped_steps = 0;      ///< local steps dropped (each reported in a DroppedSteps)
  int64_t resyncs = 0;            ///< joins sent again on an open connection (gap, disagreement)
  int64_t server_rebased = 0;     ///< `rebase` extension: batches the server rebased (an `ack`
                                  ///< with steps), whether or not they differed from ours

  SessionStats& operator+=(const SessionStats& o);
};

/// How a session behaves.
struct SessionOptions {
  /// The schema of the server's documents. Required.
  std::shared_ptr<const model::Schema> schema;
  /// This client's userId (prosemirror-collab's clientID). Required.
  std::string user_id;
  /// The most unconfirmed local steps kept; an edit() beyond fails with
  /// rate_limited and changes nothing.
  size_t max_unconfirmed_steps = 10000;
  /// The most steps sent in one `steps` message (at least 1).
  size_t max_batch_steps = 200;
  /// Ask for the server-side rebase extension (`rebase: true` in every
  /// `join`); a server without it answers as version 1. Default true.
  bool server_rebase = true;
  /// See ClientOptions::shared_steps. Null: none.
  std::shared_ptr<SharedSteps> shared_steps;
  /// See ClientOptions::remote_presence.
  bool remote_presence = true;
};

/// What one call into a session produced.
struct SessionOutput {
  /// Client messages to send on the connection, in order.
  std::vector<protocol::ClientMessage> messages;
  /// Events, in order.
  std::vector<SessionEvent> events;
  /// The server answered `rate_limited` or `internal`: whether a batch was
  /// taken is unknown, and the session sends no batch until it has rejoined;
  /// call retry() after a short pause (RealtimeClient waits 0.5-1.5 s).
  bool retry_later = false;
};

class RoomSession {
 public:
  /// A session for `room` (a valid room name), offline until
  /// connection_opened(). `presence`, when given, is announced with the
  /// first join; its positions refer to the document the server will send.
  RoomSession(std::string room, SessionOptions options,
              std::optional<json::Value> presence = std::nullopt);

  const std::string& room() const { return room_; }
  RoomStatus status() const { return status_; }
  /// True once a `state` was applied.
  bool loaded() const { return loaded_; }

  // ---- the connection ----

  /// The connection is open: sends `join` (unless left).
  void connection_opened(SessionOutput& out);
  /// The connection is gone: the session goes offline; the batch in flight
  /// is forgotten (its fate is learnt from the next `state`); remote presence
  /// is cleared.
  void connection_lost(SessionOutput& out);
  /// A message the server sent for this room. Messages for other rooms and
  /// messages that do not fit the session's state (a `state` nobody asked
  /// for, an `ack` with nothing in flight) are ignored.
  void receive(const protocol::ServerMessage& message, SessionOutput& out);
  /// After SessionOutput::retry_later's pause: rejoins when still joined, or joins again when
  /// the join itself was answered `internal`.
  void retry(SessionOutput& out);

  // ---- local ----

  /// Applies `fn`'s changes to the local document at once and queues its
  /// steps (sent when joined and nothing is in flight). Returns the new
  /// document. Errors, with nothing changed: not_joined (left, or no `state`
  /// yet), invalid_steps (`fn` threw), rate_limited (more than
  /// max_unconfirmed_steps unconfirmed). An `fn` that makes no steps
  /// succeeds and sends nothing.
  Result<model::NodeRef> edit(const std::function<void(transform::Transform&)>& fn,
                              SessionOutput& out);
  /// Sets own presence: a JSON object whose positions refer to the local
  /// document. Errors: not_joined (left), bad_message (not an object).
  Result<void> set_presence(json::Value entry, SessionOutput& out);
  /// Leaves: sends `leave` when joined or joining; the session is then left
  /// for good.
  void leave(SessionOutput& out);

  // ---- reading ----

  RoomSnapshot snapshot() const;
  /// The collab state: document, confirmed version, unconfirmed steps.
  const collab::CollabState& collab() const { return collab_; }
  const SessionStats& stats() const { return stats_; }

 private:
  // A batch in flight: `steps` unconfirmed steps sent on top of `version`
  // (fewer once a local rebase dropped some of them).
  struct Batch {
    int64_t version = 0;
    size_t steps = 0;
  };
  // `rebase` extension: the last batch sent, until an answer (or a rejoin's
  // `state`) says what the server applied; it outlives the connection.
  struct SentBatch {
    size_t steps = 0;               // its steps at the front of the unconfirmed ones now
    std::vector<json::Value> sent;  // as sent
    std::vector<json::Value> held;  // of those, the ones that no longer applied here, as
                                    // they were: reported once the server did not apply them
  };
  // A remote entry whose version has not been reached yet.
  struct PendingPresence {
    int64_t version = 0;
    json::Value entry;
  };
  // A presence entry as it came, and its positions as they are now in the
  // local document (mapped without rebuilding the JSON; current() does).
  struct Presence {
    json::Value entry;
    presence::PositionFields positions;
    json::Value current() const { return positions.apply(entry); }
    int64_t mapped_to = 0;  // remote entries: the changes of the local document applied
  };

  void on(const protocol::ServerState& m, SessionOutput& out);
  void on(const protocol::ServerSteps& m, SessionOutput& out);
  void on(const protocol::ServerAck& m, SessionOutput& out);
  void on(const protocol::ServerPresence& m, SessionOutput& out);
  void on(const protocol::ServerJoin& m, SessionOutput& out);
  void on(const protocol::ServerLeave& m, SessionOutput& out);
  void on(const protocol::ServerError& m, SessionOutput& out);
  void on(const protocol::UnknownServerMessage&, SessionOutput&) {}

  bool load_doc(const protocol::ServerState& m, SessionOutput& out);
  bool apply_remote(const std::vector<json::Value>& steps_json,
                    const std::vector<std::string>& user_ids, SessionOutput& out);
  bool apply_incoming(const std::vector<json::Value>& steps_json,
                      const std::vector<std::string>& user_ids, SessionOutput& out);
  void confirm_front(int64_t version, SessionOutput& out);
  void confirm_prefix(size_t n, int64_t version);
  bool settle_own(const std::vector<json::Value>& applied_json, SessionOutput& out);
  void settle_unapplied(bool maybe_applied, SessionOutput& out);
  void drop_unconfirmed(size_t count, const std::string& message, SessionOutput& out);
  void keep_only(const std::vector<size_t>& kept, size_t confirmed = 0);

  void send_join(SessionOutput& out);
  void send_presence(SessionOutput& out);
  void flush(SessionOutput& out);
  void resync(bool full, SessionOutput& out);
  size_t in_flight_steps() const;

  json::Value presence_for_confirmed();
  void map_presence(std::shared_ptr<const transform::Transform> tr, int doc_size,
                    int own_assoc = 1);
  /// `echo` with SharedSteps: a broadcast with one run of our steps, which answers our batch
  /// in flight, settles in one go on the room's transaction over the whole frame, made once
  /// for every client of the process (collab::confirm_in_frame). False when that does not
  /// apply (apply_incoming then goes run by run).
  bool settle_frame(const std::vector<json::Value>& steps_json,
                    const std::vector<std::string>& user_ids, SessionOutput& out);
  /// With SharedSteps: `steps` (the room's, from the confirmed version) applied to the
  /// confirmed document and recorded for every client of the process. Throws TransformError.
  std::shared_ptr<const transform::Transform> apply_for_all(
      const std::vector<transform::StepPtr>& steps);
  /// Keeps the maps of `n` steps just confirmed (step(i)), to localize presence at older versions.
  void record_confirmed(size_t n, FunctionRef<transform::StepPtr(size_t)> step);
  const std::vector<transform::StepMap>& unconfirmed_maps();
  // The maps from a version to the local document, and the content size there
  // (the same for every entry of one message: made once per message).
  struct Localizer {
    int64_t version = 0;
    transform::MapChain chain;
    int size_before = 0;
  };
  /// Nullopt when `version` is ahead of the confirmed one.
  std::optional<Localizer> localizer(int64_t version);
  void set_remote_presence(const std::string& user, const json::Value& entry, int64_t version,
                           SessionOutput& out, const std::optional<Localizer>& localized);
  void set_remote_presence(const std::string& user, const json::Value& entry, int64_t version,
                           SessionOutput& out);
  void apply_pending_presence(SessionOutput& out);
  void reset_presence(const std::vector<std::pair<std::string, json::Value>>& users,
                      int64_t version, SessionOutput& out);

  void set_status(RoomStatus status, SessionOutput& out);
  void error(ErrorCode code, std::string message, SessionOutput& out);
  void dropped(DropReason reason, std::vector<json::Value> steps, std::string message,
               SessionOutput& out, bool maybe_applied = false);

  std::string room_;
  SessionOptions options_;
  RoomStatus status_ = RoomStatus::offline;
  bool loaded_ = false;
  bool full_resync_ = false;  // the next join asks for the whole document
  collab::CollabState collab_;
  std::deque<Batch> in_flight_;          // at most one (v1 and `rebase`)
  bool rebase_ = false;                  // this membership speaks the `rebase` extension
  std::optional<SentBatch> sent_batch_;  // `rebase` only
  // Of the unconfirmed steps, the first `sent_` went out at least once, and
  // the first `unknown_` went out without an answer saying whether the server
  // took them (an `ack` or a `state` with steps settles them).
  size_t sent_ = 0;
  size_t unknown_ = 0;
  int64_t wait_for_ = -1;      // after version_conflict: send once the version reached this
  bool paused_ = false;        // after rate_limited / internal: no batch until the rejoin's state
  bool join_refused_ = false;  // the join was answered rate_limited / internal: retry() rejoins
  size_t batch_limit_ = 0;     // after message_too_large: smaller batches (0: max_batch_steps)
  std::optional<Presence> own_presence_;  // positions in the local document
  bool presence_exact_ = true;            // the server will map the last presence sent to ours
  // Remote entries. Their positions are mapped lazily: a change of the local
  // document is queued (pending_maps_), and an entry is brought up to date
  // when it is read (snapshot) or when the queue is full. A busy room maps
  // every remote cursor through every message, and touching each entry once
  // per message cost more than the mapping (cache misses). Mutable: reading
  // settles them.
  mutable std::map<std::string, Presence> presence_;
  struct PendingMaps {
    std::shared_ptr<const transform::Transform> tr;
    int doc_size = 0;
    int low = 0;  // transform::unchanged_below(tr->mapping())
  };
  mutable std::deque<PendingMaps> pending_maps_;
  mutable int64_t pending_base_ = 0;  // the number of changes before pending_maps_.front()
  int64_t maps_end() const { return pending_base_ + static_cast<int64_t>(pending_maps_.size()); }
  /// Maps every remote entry through the queued changes and empties the queue.
  void settle_presence() const;
  std::map<std::string, PendingPresence> pending_presence_;
  std::deque<transform::StepMap> history_;  // maps of the confirmed steps before `version`
  // The maps of the unconfirmed steps, and the steps they were made from
  // (held, so that a freed step's address cannot come back as another's).
  std::vector<transform::StepMap> unconfirmed_maps_;
  std::vector<transform::StepPtr> unconfirmed_mapped_;
  SessionStats stats_;
};

}  // namespace rtpm::client
