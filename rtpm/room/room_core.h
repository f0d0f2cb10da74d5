// RoomCore: everything one room decides, without I/O.
//
// The core takes events (a connection joins, sends steps, presence or leave,
// disconnects; a document read; the store loaded, created, stored a batch or
// wrote a snapshot; time passed) and returns effects (send this text to this
// connection, to these members, persist batch N, load, create, snapshot, wake
// me at T, this connection is no longer in the room, the read is done, unload
// me), which the adapter (rtpm/server/room.cc) executes in order. It has no
// sockets, threads, timers or clocks: time comes in with each event. Not
// thread-safe: one caller at a time (the server's room strand).
//
// What it owns:
// - Membership, the one source of truth: connections are opaque ids the
//   adapter assigns, each with its authenticated subject; one member per
//   userId (a second connection with the same userId and subject replaces the
//   first, `session_replaced`; another subject is `forbidden`), at most
//   `max_members`; each member with its Access (without write its steps are
//   `forbidden`, without presence its presence), and removal by an
//   administrator (remove_members).
// - The loader: unloaded -> loading -> ready | missing; missing -> creating
//   (a join asks to create; the adapter applies the creation limits and
//   answers created()) -> ready; any -> unloaded again (closed) after
//   unload(). Requests that need the document wait for it. A read of a
//   missing room never creates it; a room loaded only for a read unloads
//   right after it.
// - Two versions: the speculative one (the authority's; new batches are
//   checked against it) and the durable one (what joins, acks, broadcasts,
//   presence and reads see). An accepted batch gets a batch id (monotonic per
//   room) and a Persist effect; it is acknowledged to its sender and
//   broadcast to every other member only when stored() confirms that batch id,
//   and batches become durable in id order.
// - Hot rooms: a room that makes at least `broadcast_hot_steps` steps durable
//   a second (over the current or the previous tenth of a second, so that a
//   room is hot within ~100 ms of its members typing fast) holds durable
//   steps and acks back
//   and sends them at most once per `broadcast_interval_ms` (the first group
//   after a quiet interval at once); a presence or a join sends what is held
//   first, so that every member has been sent the same versions (sent_version)
//   and nothing gets ahead of them.
// - A failed batch (or a failed load of the store's answer): it is neither
//   acknowledged nor broadcast; every member gets `internal` and leaves the
//   room, later batches in flight are dropped with it, and the room unloads
//   (Unload effect, then closed()): the next join reloads exactly what is
//   durable. (The same as the server before this core.)
// - Presence: entries kept at the durable version (mapped through every
//   durable step), every entry in a `state`'s `users`. The room sends
//   presence at most once per `presence_interval_ms`: the first change after
//   a quiet interval goes out at once (one entry); later changes are held
//   (one per user, its latest entry) and go out together when the interval
//   ends, one `presence` per member with every held entry but its own (the
//   members not held share one encoded text).
// - Unloading after `unload_grace_ms` without members and with nothing in
//   flight (a snapshot first when steps came since the load and the last
//   snapshot), and a snapshot every `snapshot_every` durable steps or
//   `history_bytes` of step JSON.
// Errors are decided here and written with protocol::encode_error (the only
// wire encoding the core does is through rtpm/protocol's encoders).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "rtpm/base/error.h"
#include "rtpm/collab/authority.h"
#include "rtpm/model/schema.h"
#include "rtpm/presence/presence_store.h"
#include "rtpm/protocol/messages.h"
#include "rtpm/store/store.h"

namespace rtpm::room {

/// A connection, as the adapter numbers them (unique among live connections).
using ConnId = uint64_t;
using Time = std::chrono::steady_clock::time_point;

/// When an event happens: a monotonic time for the room's timers and the wall
/// clock's milliseconds since the epoch for the `timestamp` of messages.
struct Now {
  Time mono;
  int64_t wall_ms = 0;
};

struct RoomConfig {
  std::shared_ptr<const model::Schema> schema;
  /// A new room's document (JSON text).
  std::string initial_doc_json;
  size_t max_members = 1000;
  int64_t history_steps = 10000;
  size_t history_bytes = 32 << 20;
  int64_t snapshot_every = 1000;
  int presence_interval_ms = 50;
  /// A hot room (one that makes at least `broadcast_hot_steps` steps durable a second, measured
  /// over the current or the previous 100 ms) sends durable steps and acks at most once per
  /// `broadcast_interval_ms`, the first at once and later ones together when the interval ends
  /// (docs/protocol.md "Hot rooms"). 0 for either: every group commit goes out at once.
  int broadcast_interval_ms = 10;
  int broadcast_hot_steps = 1000;
  int unload_grace_ms = 30000;
  /// Offer the `rebase` extension (docs/protocol.md) to members that ask for it.
  bool server_rebase = true;
};

/// An edit through the HTTP API (docs/api.md): `steps` (a JSON array) made on `version` by
/// `user_id`, or, with `become` set, whatever steps make the document equal to `become`
/// (computed against the current document: a restore, a PUT).
struct ApiEdit {
  std::string user_id;
  int64_t version = 0;
  json::Value steps;
  model::NodeRef become;
  /// A missing room is created first (the creation limits of `creator` apply).
  bool create = false;
  std::string creator;
};

/// How an edit ended.
struct EditResult {
  enum class Status {
    ok,                // durable: `version` is the version after it
    not_found,         // no such room
    version_conflict,  // `version` is the room's current version
    invalid_steps,     // `index` and `message` say which step failed and why
    forbidden,         // `message` says why (the userId is a member's)
    unavailable,       // the room could not be loaded or stored (`message`), or is busy
    rate_limited,      // creating the room was refused by the creation limits
  };
  Status status = Status::ok;
  int64_t version = 0;
  int index = 0;
  std::string message;
};

namespace effect {
/// Send `text` to one connection; `error` is set for an `error` message (for metrics).
struct Send {
  ConnId to = 0;
  std::string text;
  std::optional<ErrorCode> error;
};
/// Send one text to several members (a broadcast; the sender excluded): encode it once.
struct Broadcast {
  std::vector<ConnId> to;
  std::string text;
};
/// Append batch `id` to the store; answer with stored(id, result).
struct Persist {
  uint64_t id = 0;
  store::AppendBatch batch;
};
/// Load the room (keeping up to `history_before` steps before its snapshot); answer loaded().
struct Load {
  int64_t history_before = 0;
};
/// Create the room (the adapter applies `creator`'s creation limits first); answer created().
struct Create {
  std::string creator;
};
/// Write a snapshot; answer snapshot_done().
struct Snapshot {
  int64_t version = 0;
  std::string doc_json;
  int64_t keep_history = 0;
  /// Store::save_snapshot's keep_every: kept snapshots (for reads of old versions) at least
  /// this many versions apart.
  int64_t keep_every = 0;
};
/// Call tick() at `at` (replaces the previous wake-up); nullopt: no wake-up needed.
struct WakeAt {
  std::optional<Time> at;
};
/// The connection is no longer in the room (left, refused, replaced, dropped).
struct Left {
  ConnId conn = 0;
};
/// The answer to read_document(request): the durable version and document JSON, or nullopt
/// when the room does not exist or could not be loaded.
struct ReadDone {
  uint64_t request = 0;
  std::optional<std::pair<int64_t, std::string>> doc;
};
/// `steps` steps became durable (acknowledged and broadcast); they arrived at `received`, and
/// the room is now at `version`.
struct Durable {
  size_t steps = 0;
  Time received;
  int64_t version = 0;
};
/// A member joined (`joined`) or left the room, now at `version` (for webhooks).
struct Membership {
  std::string user_id;
  bool joined = false;
  int64_t version = 0;
};
/// The answer to edit(request).
struct EditDone {
  uint64_t request = 0;
  EditResult result;
};
/// delete_room(request) is done in memory: delete the room from the store, then answer
/// (the Unload effect follows).
struct Delete {
  uint64_t request = 0;
};
/// Something for the log.
struct Log {
  bool error = false;
  std::string message;
};
/// The room is closed for good (this core takes no more events; a fresh one reloads the
/// room): forget it. `large` when its content was large (the adapter may return freed memory).
struct Unload {
  bool large = false;
};
}  // namespace effect

using Effect =
    std::variant<effect::Send, effect::Broadcast, effect::Persist, effect::Load, effect::Create,
                 effect::Snapshot, effect::WakeAt, effect::Left, effect::ReadDone, effect::Durable,
                 effect::Membership, effect::EditDone, effect::Delete, effect::Log, effect::Unload>;
using Effects = std::vector<Effect>;

/// The result of a Create effect.
enum class Created { ok, failed, rate_limited, too_many_rooms };

/// What a member may do besides reading (docs/security.md): send steps, and set presence.
struct Access {
  bool write = true;
  bool presence = true;
};

class RoomCore {
 public:
  RoomCore(std::string name, RoomConfig config);
  ~RoomCore();
  RoomCore(const RoomCore&) = delete;
  RoomCore& operator=(const RoomCore&) = delete;

  const std::string& name() const { return name_; }

  // ---- events; each returns the effects to execute, in order ----

  /// `conn` (authenticated as `subject`, from client address `creator`) joins with `access`.
  /// A room the store does not hold is created for it. A member without `access.write` gets
  /// `forbidden` for its steps; without `access.presence`, for its presence, and the presence
  /// of its join is dropped.
  Effects join(ConnId conn, const std::string& subject, const std::string& creator,
               const protocol::JoinMessage& message, Now now, Access access = {});
  Effects steps(ConnId conn, const protocol::StepsMessage& message, Now now);
  Effects presence(ConnId conn, const protocol::PresenceMessage& message, Now now);
  Effects leave(ConnId conn, const protocol::LeaveMessage& message, Now now);
  /// The connection closed: it leaves (with a `leave` notice) if it is a member.
  Effects disconnect(ConnId conn, Now now);
  /// An administrator removes the member `user_id` (nullopt: every member) now: each gets
  /// `forbidden` and leaves; the others get `leave`. `removed` is set to how many left.
  Effects remove_members(const std::optional<std::string>& user_id, size_t& removed, Now now);
  /// Reads the durable document (answered by a ReadDone with `request`).
  Effects read_document(uint64_t request, Now now);
  /// An edit through the HTTP API, answered by an EditDone with `request` once it is durable
  /// (or refused). It is checked like a member's steps against the current version, and
  /// broadcast as a `steps` message from `edit.user_id` to every member; a userId that is a
  /// member's is refused (its client would take the steps for its own). An edit that changes
  /// nothing answers ok with the current version.
  Effects edit(uint64_t request, ApiEdit edit, Now now);
  /// Deletes the room: every member gets `forbidden` and leaves, waiting joins and edits are
  /// refused, and once nothing is in flight a Delete effect and an Unload follow (no snapshot).
  /// A room that is loading or being created answers EditDone `unavailable` instead.
  Effects delete_room(uint64_t request, Now now);
  Effects loaded(Result<std::optional<store::RoomData>> data, Now now);
  Effects created(Created result, Now now);
  Effects stored(uint64_t batch, Result<void> result, Now now);
  /// Several stored() answers at once (the adapter gathers those of one group commit): what
  /// becomes durable goes to each member as one `steps` message where the protocol allows
  /// (docs/protocol.md "Broadcasts").
  Effects stored(std::vector<std::pair<uint64_t, Result<void>>> results, Now now);
  Effects snapshot_done(Result<void> result, Now now);
  /// The room can no longer be served from here (its node lost the room's lease, docs/
  /// scaling.md): as after a failed batch, what is durable goes out, every member gets
  /// `internal` and leaves, and the room unloads without writing anything more.
  Effects fail(const std::string& why, Now now);
  /// Time passed (after a WakeAt).
  Effects tick(Now now);

  // ---- state, for the adapter and tests ----

  /// After an Unload effect: the core takes no more events (a fresh core reloads the room).
  bool closed() const { return state_ == State::closed; }
  bool ready() const { return state_ == State::ready; }
  int64_t durable_version() const { return durable_version_; }
  /// The authority's version (durable + in flight); the durable one when not loaded.
  int64_t speculative_version() const;
  size_t in_flight() const { return in_flight_.size(); }
  size_t member_count() const { return members_.size(); }
  /// The version every member has been sent (steps and acks): below the durable version while
  /// a hot room holds its broadcasts back.
  int64_t sent_version() const {
    return durable_now_.empty() ? durable_version_ : durable_now_.front().from_version;
  }
  /// The member's userId, or nullptr.
  const std::string* member(ConnId conn) const;
  /// True when a join of `conn` waits for the loader.
  bool joining(ConnId conn) const;
  /// The durable document (null when not loaded).
  model::NodeRef durable_doc();
  /// The member's presence entry at the durable version, or nullptr.
  const json::Value* presence_of(const std::string& user_id) const;

 private:
  enum class State { unloaded, loading, missing, creating, ready, closed };
  struct Member {
    ConnId conn = 0;
    std::string subject;
    Access access;
    /// Speaks the `rebase` extension (asked for at its join, and offered).
    bool rebase = false;
    /// ...and its `echo`: its own steps come in the broadcasts instead of acks.
    bool echo = false;
    /// In presence_pending_.
    bool presence_held = false;
  };
  struct PendingJoin {
    ConnId conn;
    std::string subject;
    protocol::JoinMessage message;
    Access access;
  };
  /// A batch the authority took, waiting for the store.
  struct InFlight {
    uint64_t id = 0;
    collab::Authority::Accepted accepted;  // its doc dropped (the authority holds it)
    ConnId sender = 0;                     // 0: an edit through the API
    Time received;
    bool stored = false;  // confirmed, waiting for an earlier batch
    std::optional<uint64_t> api_request;
    /// Edits that changed nothing, made on this batch's version: answered when it is durable.
    std::vector<uint64_t> then_answer;
    /// Rebased batches of these members whose every step was dropped: acknowledged (with no
    /// steps) when this batch is durable, after it.
    std::vector<ConnId> then_ack;
  };
  /// A batch made durable by the event being handled, for the broadcasts (flush_durable).
  struct DurableBatch {
    ConnId sender = 0;  // 0: an edit through the API (every member gets its steps)
    std::string user_id;
    int64_t from_version = 0;
    int64_t to_version = 0;
    std::vector<std::string> step_json;
    bool rebased = false;
    std::vector<ConnId> then_ack;
  };
  /// The effects of the event being handled, and its time.
  struct Out {
    Effects effects;
    Now now;
  };

  Effects finish(Out& out);
  void start_load(Out& out);
  void start_create(Out& out);
  enum class Avail { ready, missing, failed, rate_limited, too_many_rooms };
  /// The loader is done (ready, missing, failed or creation refused): answers the waiting
  /// requests, and unloads a room that nobody joined.
  void run_pending(Out& out, Avail avail);
  void do_join(Out& out, ConnId conn, const std::string& subject, const protocol::JoinMessage& m,
               Access access);
  void refuse_join(Out& out, ConnId conn, ErrorCode code, std::string message);
  /// A batch of `user_id` sent by a connection other than `conn` (or through the API) is in
  /// flight.
  bool batch_of_user_in_flight(const std::string& user_id, ConnId conn) const;
  void do_edit(Out& out, uint64_t request, const ApiEdit& edit);
  void edit_done(Out& out, uint64_t request, EditResult result);
  void make_durable(Out& out, InFlight done);
  /// Sends what make_durable() gathered: acks, and the steps to each member in as few
  /// messages as its protocol allows.
  void flush_durable(Out& out);
  /// After batches became durable: flush_durable() now, or when the interval ends in a hot room.
  void release_durable(Out& out);
  /// Counts durable steps for the hot-room rate (per second).
  void count_durable_steps(Time now, size_t steps);
  bool hot() const;
  std::chrono::milliseconds broadcast_interval() const {
    return std::chrono::milliseconds(config_.broadcast_interval_ms);
  }
  /// An ack for `to` (still the member `user_id`): with the steps as applied when rebased.
  void send_ack(Out& out, ConnId to, const std::string& user_id, int64_t version,
                const std::vector<std::string>* steps);
  void fail_room(Out& out, const std::string& why);
  void unload(Out& out, bool failed = false);
  void maybe_snapshot(Out& out);
  void snapshot(Out& out);
  void queue_presence(Out& out, const std::string& user_id);
  /// Sends every held-back entry (the room's interval ended): one message per member.
  void flush_presence(Out& out);
  std::chrono::milliseconds presence_interval() const {
    return std::chrono::milliseconds(config_.presence_interval_ms);
  }
  void remove_member(Out& out, const std::string& user_id, bool notify);
  /// Arms the unload deadline when the room may unload (grace, or at once).
  void maybe_unload(Out& out, bool at_once = false);

  void send(Out& out, ConnId to, std::string text);
  void send_error(Out& out, ConnId to, ErrorCode code, std::string message,
                  std::optional<int64_t> version = std::nullopt,
                  std::optional<int> index = std::nullopt);
  void broadcast(Out& out, std::string text, std::optional<ConnId> except);
  /// The member of `conn` (its userId), checking it is `user_id`: else answers the error
  /// (not_joined or forbidden with `forbidden_message`) and returns false.
  bool check_member(Out& out, ConnId conn, const std::string& user_id,
                    const char* forbidden_message);
  /// The member's access (check_member passed).
  const Access& access_of(const std::string& user_id) const;
  std::string state_message(std::optional<int64_t> since, int64_t wall_ms, bool rebase = false,
                            bool echo = false);
  std::optional<transform::MapChain> mapping_to_durable(int64_t version) const;
  json::Value map_presence_to_durable(const json::Value& entry,
                                      const transform::MapChain& mapping) const;
  collab::AuthorityOptions authority_options() const;
  /// Sets up a ready room from a document at `version` (loaded or created).
  void become_ready(int64_t snapshot_version);
  size_t content_bytes() const;

  std::string name_;
  RoomConfig config_;
  State state_ = State::unloaded;

  // Waiting for the loader.
  std::vector<PendingJoin> pending_joins_;
  std::vector<uint64_t> pending_reads_;
  std::vector<std::pair<uint64_t, ApiEdit>> pending_edits_;
  /// delete_room's request, while it waits for the batches in flight.
  std::optional<uint64_t> deleting_;
  bool create_requested_ = false;
  std::string creator_;  // the first address that asked to create the room
  bool loaded_for_read_ = false;

  std::unique_ptr<collab::Authority> authority_;
  int64_t durable_version_ = 0;
  /// The durable document, brought up to date lazily: applying durable_lag_ to it gives the
  /// document at durable_version_ (a batch in flight keeps no document of its own; issue 10
  /// finding 8). When nothing is in flight the durable document is the authority's.
  model::NodeRef durable_doc_;
  std::vector<transform::StepPtr> durable_lag_;
  /// The content size of the document at durable_version_ (kept without applying the lag).
  int64_t durable_size_ = 0;
  int64_t snapshot_version_ = 0;
  size_t bytes_since_snapshot_ = 0;
  int64_t loaded_version_ = 0;
  uint64_t next_batch_ = 1;
  std::deque<InFlight> in_flight_;
  std::vector<DurableBatch> durable_now_;

  std::unordered_map<std::string, Member> members_;  // by userId
  std::unordered_map<ConnId, std::string> by_conn_;
  presence::PresenceStore presence_;
  std::optional<Time> presence_sent_;          // the room's last presence broadcast
  std::vector<std::string> presence_pending_;  // held back, in the order first held
  std::optional<Time> presence_due_;           // when they go out: presence_sent_ + interval
  std::optional<Time> broadcast_sent_;         // the room's last flush of durable steps
  std::optional<Time> broadcast_due_;          // when the held-back ones go out
  Time rate_window_start_{};  // the hot-room rate: steps in this 100 ms window and the last
  int64_t steps_this_window_ = 0;
  int64_t steps_last_window_ = 0;
  std::optional<Time> unload_at_;
  std::optional<Time> wake_;  // the last WakeAt asked for
};

/// A room larger than this (UTF-16 text and history) reports `large` when it unloads.
inline constexpr size_t kLargeRoomBytes = 8 << 20;

}  // namespace rtpm::room
