// Room: one document's collaboration session, on its own strand.
//
// A thin adapter around room::RoomCore (rtpm/room/room_core.h), which makes
// every decision: membership, loading, the durable and speculative versions,
// batches in flight, presence, unloading. The adapter runs the core on the
// room's strand, executes its effects in order (sends to sessions, storage
// worker calls, one timer for the core's "wake me at", the creation limits
// of ClientLimits, metrics, logs) and feeds the results back as events.
// Every public method may be called from any thread: it posts to the strand.
// The messages of members (steps, presence, leave) are dispatched instead: run
// at once when the caller's thread may enter the strand, one trip through the
// event loop (and one epoll_wait) fewer per message. With a store whose jobs
// run inline (the memory store) an append's answer reaches the core at once.
//
// Connections are numbered by WebSocketSession::id(); the adapter keeps the
// sessions of the connections the core knows (members and waiting joins),
// only to route the core's sends. When the core unloads, the room leaves the
// registry; a join or read that reaches an unloaded room goes to the fresh one
// the registry hands out.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "rtpm/protocol/messages.h"
#include "rtpm/room/room_core.h"
#include "rtpm/server/context.h"

namespace rtpm::server {

class WebSocketSession;
using SessionPtr = std::shared_ptr<WebSocketSession>;

class Room : public std::enable_shared_from_this<Room> {
 public:
  using Clock = std::chrono::steady_clock;
  /// The durable version and document JSON, or nullopt when the room does not exist.
  using ReadDone = std::function<void(std::optional<std::pair<int64_t, std::string>>)>;

  Room(ServerContext& ctx, std::string name);
  const std::string& name() const { return core_.name(); }

  /// `session` joins as `subject` (its token's; "" without authentication) with `access`.
  void join(SessionPtr session, protocol::JoinMessage message, room::Access access = {},
            std::string subject = {});
  void steps(SessionPtr session, protocol::StepsMessage message, Clock::time_point received);
  void presence(SessionPtr session, protocol::PresenceMessage message);
  void leave(SessionPtr session, protocol::LeaveMessage message);
  /// The session closed: it leaves the room if it is a member.
  void disconnect(SessionPtr session);
  /// An administrator removes `user_id` (nullopt: every member); `done` gets how many left.
  void remove_members(std::optional<std::string> user_id, std::function<void(size_t)> done);
  /// Reads the durable document. A room loaded only for this read is unloaded right after it
  /// (no grace period), so that reads of many rooms do not pin their memory.
  void read_document(ReadDone done);
  /// An edit through the document API (room::RoomCore::edit); `done` gets its result, on the
  /// room's strand.
  void edit(room::ApiEdit edit, std::function<void(room::EditResult)> done);
  /// Deletes the room (room::RoomCore::delete_room), then from the store; `done` gets whether
  /// the store held it, or the store's error (unavailable: the room is busy; try again).
  void delete_room(std::function<void(Result<bool>)> done);
  /// The room cannot be served here any more (room::RoomCore::fail): its members rejoin.
  void fail(std::string why);

 private:
  /// Runs `event` (a call of the core returning its effects) on the strand for `session`.
  void handle(const SessionPtr& session, std::function<room::Effects()> event);
  /// Executes effects in order; effects of events they cause synchronously queue behind them.
  void run(room::Effects effects);
  void execute(room::Effect& effect);
  /// Posts an event of the storage worker's thread to the strand.
  void post_event(std::function<room::Effects()> event);
  static room::Now now();

  ServerContext& ctx_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  room::RoomCore core_;
  boost::asio::steady_timer timer_;
  std::unordered_map<room::ConnId, SessionPtr> conns_;
  std::unordered_map<uint64_t, ReadDone> reads_;
  std::unordered_map<uint64_t, std::function<void(room::EditResult)>> edits_;
  std::unordered_map<uint64_t, std::function<void(Result<bool>)>> deletes_;
  uint64_t next_read_ = 1;
  std::deque<room::Effect> queue_;
  /// Store answers not yet given to the core (written by the storage thread).
  std::mutex stored_mutex_;
  std::vector<std::pair<uint64_t, Result<void>>> stored_;
  bool running_ = false;
};

}  // namespace rtpm::server
