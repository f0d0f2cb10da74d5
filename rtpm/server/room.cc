#include "rtpm/server/room.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "rtpm/server/payload.h"
#include "rtpm/server/room_registry.h"
#include "rtpm/server/webhooks.h"
#include "rtpm/server/websocket_session.h"

namespace rtpm::server {

namespace net = boost::asio;

namespace {

room::RoomConfig room_config(const ServerContext& ctx) {
  const ServerOptions& o = ctx.options;
  return {.schema = ctx.schema,
          .initial_doc_json = ctx.initial_doc_json,
          .max_members = o.max_room_members,
          .history_steps = o.history_steps,
          .history_bytes = o.history_bytes,
          .snapshot_every = o.snapshot_every,
          .presence_interval_ms = o.presence_interval_ms,
          .broadcast_interval_ms = o.broadcast_interval_ms,
          .broadcast_hot_steps = o.broadcast_hot_steps,
          .unload_grace_ms = o.unload_grace_ms,
          .server_rebase = o.server_rebase};
}

}  // namespace

Room::Room(ServerContext& ctx, std::string name)
    : ctx_(ctx),
      strand_(net::make_strand(ctx.ioc)),
      core_(std::move(name), room_config(ctx)),
      timer_(strand_) {}

room::Now Room::now() { return {Clock::now(), protocol::now_ms()}; }

// ---- entry points (any thread) ----

void Room::join(SessionPtr session, protocol::JoinMessage message, room::Access access,
                std::string subject) {
  net::post(strand_, [self = shared_from_this(), s = std::move(session), m = std::move(message),
                      access, subject = std::move(subject)]() mutable {
    // Unloaded meanwhile: the registry has (or makes) the fresh room.
    if (self->core_.closed())
      return self->ctx_.rooms->get_or_create(self->name())
          ->join(s, std::move(m), access, std::move(subject));
    self->handle(s, [self, s, m = std::move(m), access, subject = std::move(subject)] {
      return self->core_.join(s->id(), subject, s->client_key(), m, now(), access);
    });
  });
}

void Room::remove_members(std::optional<std::string> user_id, std::function<void(size_t)> done) {
  net::post(strand_,
            [self = shared_from_this(), user_id = std::move(user_id), done = std::move(done)] {
              size_t removed = 0;
              if (!self->core_.closed())
                self->run(self->core_.remove_members(user_id, removed, now()));
              done(removed);
            });
}

void Room::steps(SessionPtr session, protocol::StepsMessage message, Clock::time_point received) {
  net::dispatch(strand_, [self = shared_from_this(), s = std::move(session), m = std::move(message),
                          received]() mutable {
    self->handle(s, [self, s, m = std::move(m), received] {
      return self->core_.steps(s->id(), m, {received, protocol::now_ms()});
    });
  });
}

void Room::presence(SessionPtr session, protocol::PresenceMessage message) {
  net::dispatch(strand_, [self = shared_from_this(), s = std::move(session),
                          m = std::move(message)]() mutable {
    self->handle(s,
                 [self, s, m = std::move(m)] { return self->core_.presence(s->id(), m, now()); });
  });
}

void Room::leave(SessionPtr session, protocol::LeaveMessage message) {
  net::dispatch(strand_, [self = shared_from_this(), s = std::move(session),
                          m = std::move(message)]() mutable {
    self->handle(s, [self, s, m = std::move(m)] { return self->core_.leave(s->id(), m, now()); });
  });
}

void Room::disconnect(SessionPtr session) {
  net::post(strand_, [self = shared_from_this(), s = std::move(session)] {
    self->handle(s, [self, s] { return self->core_.disconnect(s->id(), now()); });
  });
}

void Room::read_document(ReadDone done) {
  net::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
    if (self->core_.closed())
      return self->ctx_.rooms->get_or_create(self->name())->read_document(std::move(done));
    uint64_t request = self->next_read_++;
    self->reads_.emplace(request, std::move(done));
    self->run(self->core_.read_document(request, now()));
  });
}

void Room::edit(room::ApiEdit edit, std::function<void(room::EditResult)> done) {
  net::post(
      strand_, [self = shared_from_this(), e = std::move(edit), done = std::move(done)]() mutable {
        if (self->core_.closed())
          return self->ctx_.rooms->get_or_create(self->name())->edit(std::move(e), std::move(done));
        uint64_t request = self->next_read_++;
        self->edits_.emplace(request, std::move(done));
        self->run(self->core_.edit(request, std::move(e), now()));
      });
}

void Room::delete_room(std::function<void(Result<bool>)> done) {
  net::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
    if (self->core_.closed())
      return self->ctx_.rooms->get_or_create(self->name())->delete_room(std::move(done));
    uint64_t request = self->next_read_++;
    self->deletes_.emplace(request, std::move(done));
    self->run(self->core_.delete_room(request, now()));
  });
}

void Room::fail(std::string why) {
  net::post(strand_, [self = shared_from_this(), why = std::move(why)] {
    self->run(self->core_.fail(why, now()));
  });
}

// ---- the strand ----

void Room::handle(const SessionPtr& session, std::function<room::Effects()> event) {
  room::ConnId id = session->id();
  conns_.emplace(id, session);
  run(event());
  // Route only to the connections the core knows.
  if (!core_.member(id) && !core_.joining(id)) conns_.erase(id);
}

void Room::post_event(std::function<room::Effects()> event) {
  net::post(strand_, [self = shared_from_this(), event = std::move(event)] { self->run(event()); });
}

void Room::run(room::Effects effects) {
  for (room::Effect& e : effects) queue_.push_back(std::move(e));
  if (running_) return;  // an effect caused this event: the running loop executes its effects
  running_ = true;
  while (!queue_.empty()) {
    room::Effect e = std::move(queue_.front());
    queue_.pop_front();
    execute(e);
  }
  running_ = false;
}

void Room::execute(room::Effect& effect) {
  namespace fx = room::effect;
  auto self = shared_from_this();
  if (auto* send = std::get_if<fx::Send>(&effect)) {
    if (send->error) ctx_.metrics.count_error(*send->error);
    auto it = conns_.find(send->to);
    if (it != conns_.end()) it->second->send(make_payload(std::move(send->text)));
  } else if (auto* b = std::get_if<fx::Broadcast>(&effect)) {
    PayloadPtr p = make_payload(std::move(b->text));
    for (room::ConnId to : b->to)
      if (auto it = conns_.find(to); it != conns_.end()) it->second->send(p);
  } else if (auto* persist = std::get_if<fx::Persist>(&effect)) {
    if (ctx_.storage->inline_jobs()) {
      // Stored before append returns: the answer goes to the core now, its effects behind the
      // ones still queued, instead of one more trip through the loop.
      std::optional<Result<void>> stored;
      ctx_.storage->append(std::move(persist->batch),
                           [&](Result<void> r) { stored = std::move(r); });
      if (!stored) return;  // the worker has stopped: the server is shutting down
      std::vector<std::pair<uint64_t, Result<void>>> results;
      results.emplace_back(persist->id, std::move(*stored));
      return run(core_.stored(std::move(results), now()));
    }
    ctx_.storage->append(std::move(persist->batch), [self, id = persist->id](Result<void> r) {
      // The answers of one group commit arrive one after another on the storage thread:
      // gathered, they reach the core as one event, so that what they make durable goes to
      // each member as one message (RoomCore::stored).
      bool post = false;
      {
        std::lock_guard<std::mutex> lock(self->stored_mutex_);
        post = self->stored_.empty();
        self->stored_.emplace_back(id, std::move(r));
      }
      if (post)
        self->post_event([self] {
          std::vector<std::pair<uint64_t, Result<void>>> results;
          {
            std::lock_guard<std::mutex> lock(self->stored_mutex_);
            results.swap(self->stored_);
          }
          return self->core_.stored(std::move(results), now());
        });
    });
  } else if (auto* load = std::get_if<fx::Load>(&effect)) {
    ctx_.storage->load(
        name(), load->history_before, [self](Result<std::optional<store::RoomData>> r) {
          auto data = std::make_shared<decltype(r)>(std::move(r));
          self->post_event([self, data] { return self->core_.loaded(std::move(*data), now()); });
        });
  } else if (auto* create = std::get_if<fx::Create>(&effect)) {
    switch (ctx_.limits.create_room(create->creator, Clock::now())) {
      case ClientLimits::Creation::allowed:
        ctx_.storage->create(name(), ctx_.initial_doc_json, [self](Result<void> r) {
          if (!r) {
            spdlog::error("room {}: create failed: {}", self->name(), r.error().message);
            self->ctx_.limits.room_not_created();
          }
          bool ok = r.ok();
          if (ok && self->ctx_.webhooks) self->ctx_.webhooks->room_created(self->name());
          self->post_event([self, ok] {
            return self->core_.created(ok ? room::Created::ok : room::Created::failed, now());
          });
        });
        break;
      case ClientLimits::Creation::rate_limited:
        run(core_.created(room::Created::rate_limited, now()));
        break;
      case ClientLimits::Creation::too_many_rooms:
        run(core_.created(room::Created::too_many_rooms, now()));
        break;
    }
  } else if (auto* snap = std::get_if<fx::Snapshot>(&effect)) {
    ctx_.storage->snapshot(name(), snap->version, std::move(snap->doc_json), snap->keep_history,
                           snap->keep_every, [self](Result<void> r) {
                             self->post_event([self, r = std::move(r)] {
                               return self->core_.snapshot_done(r, now());
                             });
                           });
  } else if (auto* wake = std::get_if<fx::WakeAt>(&effect)) {
    if (!wake->at) {
      timer_.cancel();
    } else {
      timer_.expires_at(*wake->at);
      timer_.async_wait([self](boost::system::error_code ec) {
        if (!ec) self->run(self->core_.tick(now()));
      });
    }
  } else if (auto* left = std::get_if<fx::Left>(&effect)) {
    if (auto it = conns_.find(left->conn); it != conns_.end()) {
      it->second->left_room(name());
      conns_.erase(it);
    }
  } else if (auto* read = std::get_if<fx::ReadDone>(&effect)) {
    if (auto it = reads_.find(read->request); it != reads_.end()) {
      ReadDone done = std::move(it->second);
      reads_.erase(it);
      done(std::move(read->doc));
    }
  } else if (auto* done = std::get_if<fx::EditDone>(&effect)) {
    if (auto it = edits_.find(done->request); it != edits_.end()) {
      auto answer = std::move(it->second);
      edits_.erase(it);
      answer(std::move(done->result));
    } else if (auto d = deletes_.find(done->request); d != deletes_.end()) {
      // delete_room refused: the room is busy.
      auto answer = std::move(d->second);
      deletes_.erase(d);
      answer(Error{ErrorCode::internal, done->result.message});
    }
  } else if (auto* del = std::get_if<fx::Delete>(&effect)) {
    if (auto it = deletes_.find(del->request); it != deletes_.end()) {
      ctx_.storage->call([room = name(), answer = std::move(it->second)](store::Store& store) {
        answer(store.delete_room(room));
      });
      deletes_.erase(it);
    }
  } else if (auto* member = std::get_if<fx::Membership>(&effect)) {
    if (ctx_.webhooks) {
      if (member->joined)
        ctx_.webhooks->member_joined(name(), member->user_id, member->version);
      else
        ctx_.webhooks->member_left(name(), member->user_id, member->version);
    }
  } else if (auto* durable = std::get_if<fx::Durable>(&effect)) {
    ctx_.metrics.steps_applied.fetch_add(static_cast<int64_t>(durable->steps),
                                         std::memory_order_relaxed);
    ctx_.metrics.observe_step_latency(
        std::chrono::duration<double>(Clock::now() - durable->received).count());
    if (ctx_.webhooks) ctx_.webhooks->room_changed(name(), durable->version);
  } else if (auto* log = std::get_if<fx::Log>(&effect)) {
    if (log->error)
      spdlog::error("{}", log->message);
    else
      spdlog::debug("{}", log->message);
  } else if (auto* unload = std::get_if<fx::Unload>(&effect)) {
    timer_.cancel();
    ctx_.rooms->remove(this);
    // A large room's memory goes back to the system from the storage thread, after the
    // snapshot queued before (whose JSON it frees). Small rooms leave theirs to be reused: a
    // trim costs time in proportion to the whole heap's free chunks, not to what was freed.
    if (unload->large) ctx_.storage->release_memory();
  }
}

}  // namespace rtpm::server
