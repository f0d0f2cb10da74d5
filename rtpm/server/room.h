// Room: one document's collaboration session, on its own strand.
//
// The room owns the Authority (the document and its history) and the
// PresenceStore, and talks to its members' sessions. Every public method may
// be called from any thread: it posts to the room's strand. A batch of steps
// is decided and made current at once (so the next batch builds on it), but
// acknowledged and broadcast only after the store has made it durable, in
// version order; joins and the HTTP document API see only durable versions.
// If the store fails, the room drops its members (error `internal`) and is
// unloaded, so that the next join reloads exactly what is durable. Creating
// the room (a join of a room the store does not hold) is subject to the
// client's address limits (ClientLimits::create_room): a refused join gets
// `rate_limited` or `forbidden` and nothing is stored.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "rtpm/collab/authority.h"
#include "rtpm/presence/presence_store.h"
#include "rtpm/protocol/messages.h"
#include "rtpm/server/context.h"
#include "rtpm/server/payload.h"
#include "rtpm/server/storage_worker.h"

namespace rtpm::server {

class WebSocketSession;
using SessionPtr = std::shared_ptr<WebSocketSession>;

class Room : public std::enable_shared_from_this<Room> {
 public:
  using Clock = std::chrono::steady_clock;

  Room(ServerContext& ctx, std::string name);
  const std::string& name() const { return name_; }

  void join(SessionPtr session, protocol::JoinMessage message);
  void steps(SessionPtr session, protocol::StepsMessage message, Clock::time_point received);
  void presence(SessionPtr session, protocol::PresenceMessage message);
  void leave(SessionPtr session, protocol::LeaveMessage message);
  /// The session closed: it leaves the room if it is a member.
  void disconnect(SessionPtr session);
  /// The durable version and document JSON, or nullopt when the room does not exist. A room
  /// loaded only for this read is unloaded right after it (no grace period), so that reads of
  /// many rooms do not pin their memory.
  void read_document(std::function<void(std::optional<std::pair<int64_t, std::string>>)> done);

 private:
  enum class State { unloaded, loading, missing, creating, ready, closed };
  /// What with_ready's callback learns: ready; missing (not created); failed (the store
  /// failed); rate_limited / too_many_rooms (creation refused by ClientLimits).
  enum class Avail { ready, missing, failed, rate_limited, too_many_rooms };
  struct Member {
    SessionPtr session;
    std::string user_id;
  };
  /// A batch the authority has taken, waiting for the store. It keeps no
  /// document: accepted.doc is dropped once committed (see durable_doc()).
  struct InFlight {
    collab::Authority::Accepted accepted;
    SessionPtr sender;
    Clock::time_point received;
  };

  /// Runs `fn` once the room is loaded; `creator` (a client address key), when given, creates
  /// the room if the store does not hold it.
  void with_ready(const std::string* creator, std::function<void(Avail)> fn);
  void start_load();
  void loaded(Result<std::optional<store::RoomData>> data);
  void start_create();
  void run_pending(Avail avail);
  void persisted(Result<void> result);
  void fail_room(const std::string& why);
  /// The document at durable_version_ (for joins, the HTTP API and snapshots).
  const model::NodeRef& durable_doc();
  /// Queues a snapshot of the durable document.
  void save_snapshot(StorageWorker::Done done);
  collab::AuthorityOptions authority_options() const;
  /// About how many bytes the document's text and the history take.
  size_t content_bytes() const;
  /// A room at least this large gives its memory back to the system when it unloads.
  static constexpr size_t kTrimAfterUnloadBytes = 8 << 20;
  /// Unloads the room when it has no members and nothing in flight: after the grace period,
  /// or at once (`now`).
  void maybe_unload(bool now = false);
  /// The durable mapping from version `v` to durable_version_, or nullopt when v is outside it.
  std::optional<transform::Mapping> mapping_to_durable(int64_t v) const;
  // A presence entry of the version `mapping` starts from, at the durable version.
  json::Value map_presence_to_durable(const json::Value& entry,
                                      const transform::Mapping& mapping) const;

  void do_join(const SessionPtr& session, const protocol::JoinMessage& m);
  void do_steps(const SessionPtr& session, const protocol::StepsMessage& m, Clock::time_point at);
  void do_presence(const SessionPtr& session, const protocol::PresenceMessage& m);
  void do_leave(const SessionPtr& session, const protocol::LeaveMessage& m);

  /// The member of `session`, or nullptr.
  Member* member_of(const WebSocketSession* session);
  void send_error(const SessionPtr& s, ErrorCode code, std::string message,
                  std::optional<int64_t> version = std::nullopt, std::optional<int> index = {});
  void broadcast(const PayloadPtr& payload, const WebSocketSession* except);
  std::string state_message(std::optional<int64_t> since);
  void queue_presence(const std::string& user_id);
  void flush_presence();
  void remove_member(std::string user_id, bool notify);

  ServerContext& ctx_;
  std::string name_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  State state_ = State::unloaded;
  std::vector<std::function<void(Avail)>> pending_;
  bool create_requested_ = false;
  bool loaded_for_read_ = false;  // loaded by GET /api/rooms/ROOM, no join since
  std::string creator_key_;       // the address that asked first to create the room

  std::unique_ptr<collab::Authority> authority_;
  /// What has been made durable (and broadcast).
  int64_t durable_version_ = 0;
  /// The content size of the document at durable_version_ (known without
  /// bringing durable_doc_ up to date: presence is mapped with it).
  int durable_size_ = 0;
  /// The durable document, brought up to date lazily: applying durable_lag_
  /// to durable_doc_ gives the document at durable_version_. Pipelined batches
  /// used to keep one whole document each until they were durable, and with
  /// a large text node each is a copy of it (issue 10, finding 8: 1.9 GB for
  /// 200 pipelined 50 KB insertions). Now a batch that becomes durable while
  /// later ones are in flight only adds its steps to the lag; when none is in
  /// flight the durable document is the authority's. The lag is applied when
  /// a read needs the document, at the latest at the next snapshot, so it
  /// holds fewer than snapshot_every steps (shared with the history).
  model::NodeRef durable_doc_;
  std::vector<transform::StepPtr> durable_lag_;
  int64_t snapshot_version_ = 0;
  /// Bytes of step JSON made durable since the last snapshot.
  size_t bytes_since_snapshot_ = 0;
  /// The version the room was loaded or created at: unloading writes a snapshot only when
  /// steps came since (a room loaded for a read never writes).
  int64_t loaded_version_ = 0;
  std::deque<InFlight> in_flight_;

  std::unordered_map<std::string, Member> members_;  // by user id
  std::unordered_map<const WebSocketSession*, std::string> by_session_;
  presence::PresenceStore presence_;
  std::unordered_map<std::string, Clock::time_point> presence_sent_;  // last broadcast per user
  std::vector<std::string> presence_pending_;
  boost::asio::steady_timer presence_timer_;
  bool presence_timer_armed_ = false;
  boost::asio::steady_timer unload_timer_;
};

}  // namespace rtpm::server
