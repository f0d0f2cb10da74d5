// libFuzzer target: a whole room (room::RoomCore over a MemoryStore) fed a
// random sequence of events read from the input: joins (with and without a
// version and presence), steps (client JSON from the input, decoded as the
// server decodes it, or steps built from the input's numbers: valid and
// hostile), presence, leaves, disconnects, document reads, edits through the
// document API (steps or a document to become, by a member's userId or
// another), deletions, time passing, and the store's answers (ok, failed, or
// left for later). After every event:
// every message the core writes decodes with decode_server_message; every
// member saw every durable step once and in order (its version is the
// room's durable version); no ack or step broadcast before the store
// confirmed that batch; presence versions are never above the durable
// version; an API edit is answered ok only once durable; and the durable
// document passes Node::check().
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <variant>

#include "fuzz/fuzz_support.h"
#include <fuzzer/FuzzedDataProvider.h>

#include "rtpm/protocol/server_messages.h"
#include "rtpm/room/room_core.h"
#include "rtpm/store/memory_store.h"

namespace {

using namespace rtpm;
using room::ConnId;

constexpr int kConns = 4;
const char* const kRoom = "r";
const char* const kInitialDoc =
    R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"hello"}]}]})";
const char* const kOtherDoc =
    R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"help"}]},)"
    R"({"type":"paragraph"}]})";

class RoomFuzz {
 public:
  explicit RoomFuzz(FuzzedDataProvider& in) : in_(in) {}

  void run() {
    for (int events = 0; events < 200 && in_.remaining_bytes() > 0; ++events) {
      now_.mono += std::chrono::milliseconds(in_.ConsumeIntegralInRange(0, 40));
      now_.wall_ms += 7;
      event();
      check_room();
    }
  }

 private:
  room::RoomCore& core() {
    if (!core_ || core_->closed()) {
      if (core_) retired_.push_back(std::move(core_));
      core_ = std::make_unique<room::RoomCore>(kRoom,
                                               room::RoomConfig{.schema = fuzz::builtin_schema(0),
                                                                .initial_doc_json = kInitialDoc,
                                                                .max_members = 3,
                                                                .history_steps = 20,
                                                                .history_bytes = 2000,
                                                                .snapshot_every = 10,
                                                                .presence_interval_ms = 50,
                                                                .unload_grace_ms = 100});
      for (auto& v : views_) v = View{};
      wake_.reset();
    }
    return *core_;
  }

  void event() {
    int conn = in_.ConsumeIntegralInRange(0, kConns - 1);
    ConnId id = static_cast<ConnId>(conn + kConns * generation_[conn]);
    std::string user = "u" + std::to_string(conn % 3);  // connections 0 and 3 share a userId
    switch (in_.ConsumeIntegralInRange(0, 10)) {
      case 0: {  // a client message as JSON text, decoded as the server does
        auto decoded = protocol::decode_client_message(in_.ConsumeRandomLengthString(600));
        if (decoded) dispatch(conn, id, *decoded);
        break;
      }
      case 1:
      case 2: {
        protocol::JoinMessage m{kRoom, user, std::nullopt, std::nullopt};
        if (in_.ConsumeBool()) m.version = in_.ConsumeIntegralInRange<int64_t>(0, 40);
        if (in_.ConsumeBool()) m.presence = presence_entry();
        m.rebase = in_.ConsumeBool();  // the rebase extension: late batches are rebased
        dispatch(conn, id, m);
        break;
      }
      case 3:
      case 4: {
        protocol::StepsMessage m{kRoom, views_[conn].version, json::Value(json::Array{}), user};
        if (in_.ConsumeBool()) m.version = in_.ConsumeIntegralInRange<int64_t>(0, 40);
        json::Array steps;
        int n = in_.ConsumeIntegralInRange(1, 3);
        for (int i = 0; i < n; ++i) steps.push_back(step());
        m.steps = json::Value(std::move(steps));
        dispatch(conn, id, m);
        break;
      }
      case 5: {
        protocol::PresenceMessage m{kRoom, user, presence_entry(), std::nullopt};
        if (in_.ConsumeBool()) m.version = in_.ConsumeIntegralInRange<int64_t>(0, 40);
        dispatch(conn, id, m);
        break;
      }
      case 6: dispatch(conn, id, protocol::LeaveMessage{kRoom, user}); break;
      case 7:
        apply(core().disconnect(id, now_));
        views_[conn] = View{};
        ++generation_[conn];
        break;
      case 8:
        switch (in_.ConsumeIntegralInRange(0, 3)) {
          case 0:
          case 1: apply(core().read_document(next_read_++, now_)); break;
          case 2: api_edit(); break;
          default: apply(core().delete_room(next_read_++, now_)); break;
        }
        break;
      case 9:
        if (wake_ && *wake_ <= now_.mono) {
          wake_.reset();
          apply(core().tick(now_));
        }
        break;
      default: answer_store(); break;
    }
  }

  void dispatch(int conn, ConnId id, const protocol::ClientMessage& message) {
    room::RoomCore& room = core();
    if (auto* j = std::get_if<protocol::JoinMessage>(&message)) {
      apply(room.join(id, "s" + std::to_string(conn % 3), "a", *j, now_));
    } else if (auto* s = std::get_if<protocol::StepsMessage>(&message)) {
      apply(room.steps(id, *s, now_));
    } else if (auto* p = std::get_if<protocol::PresenceMessage>(&message)) {
      apply(room.presence(id, *p, now_));
    } else if (auto* l = std::get_if<protocol::LeaveMessage>(&message)) {
      apply(room.leave(id, *l, now_));
    }
  }

  // An edit through the document API: steps on a version (often the durable one), or a
  // document to become; by "bot" or by a member's userId.
  void api_edit() {
    room::RoomCore& room = core();
    room::ApiEdit e;
    e.user_id = in_.ConsumeBool() ? "bot" : "u" + std::to_string(in_.ConsumeIntegralInRange(0, 2));
    e.create = in_.ConsumeBool();
    e.creator = "api";
    if (in_.ConsumeIntegralInRange(0, 3) == 0) {
      auto parsed = json::parse(in_.ConsumeBool() ? std::string(kInitialDoc) : kOtherDoc);
      e.become = model::Node::from_json(*fuzz::builtin_schema(0), *parsed);
    } else {
      e.version =
          in_.ConsumeBool() ? room.durable_version() : in_.ConsumeIntegralInRange<int64_t>(0, 40);
      json::Array steps;
      int n = in_.ConsumeIntegralInRange(0, 3);
      for (int i = 0; i < n; ++i) steps.push_back(step());
      e.steps = json::Value(std::move(steps));
    }
    apply(room.edit(next_read_++, std::move(e), now_));
  }

  json::Value number() {
    switch (in_.ConsumeIntegralInRange(0, 7)) {
      case 0: return json::Value(static_cast<double>(in_.ConsumeIntegral<int32_t>()));
      case 1: return json::Value(-1.0);
      case 2: return json::Value(1e12);
      default: return json::Value(static_cast<double>(in_.ConsumeIntegralInRange(0, 30)));
    }
  }

  json::Value presence_entry() {
    return json::Value(json::Object{
        {"cursor", json::Value(json::Object{{"pos", number()}})},
        {"selection", json::Value(json::Object{{"anchor", number()}, {"head", number()}})}});
  }

  json::Value step() {
    json::Object s;
    switch (in_.ConsumeIntegralInRange(0, 3)) {
      case 0:
        s = {{"stepType", "replace"}, {"from", number()}, {"to", number()}};
        if (in_.ConsumeBool())
          s.emplace_back(
              "slice",
              json::Value(json::Object{{"content", json::Value(json::Array{json::Value(json::Object{
                                                       {"type", "text"}, {"text", "ab"}})})}}));
        break;
      case 1:
        s = {{"stepType", "addMark"},
             {"from", number()},
             {"to", number()},
             {"mark", json::Value(json::Object{{"type", in_.ConsumeBool() ? "em" : "strong"}})}};
        break;
      case 2:
        s = {{"stepType", "replace"},
             {"from", number()},
             {"to", number()},
             {"slice",
              json::Value(json::Object{{"content", json::Value(json::Array{json::Value(
                                                       json::Object{{"type", "paragraph"}})})},
                                       {"openStart", number()},
                                       {"openEnd", number()}})}};
        break;
      default: {
        // Any JSON object (the decoder lets only objects through as steps).
        auto parsed = json::parse(in_.ConsumeRandomLengthString(200));
        return parsed && parsed->is_object() ? *parsed : json::Value(json::Object{});
      }
    }
    return json::Value(std::move(s));
  }

  // Answers the oldest store operation: ok, failed, or (for a batch) left for later.
  void answer_store() {
    if (ops_.empty()) return;
    int how = in_.ConsumeIntegralInRange(0, 9);
    Op op = std::move(ops_.front());
    ops_.pop_front();
    room::RoomCore& target = *op.core;
    bool fail = how == 0;
    if (auto* p = std::get_if<room::effect::Persist>(&op.effect)) {
      Result<void> r = Error{ErrorCode::internal, "fuzz"};
      if (!fail && &target == core_.get()) {
        std::vector<Result<void>> results = store_.append({p->batch});
        r = std::move(results.at(0));
        if (r) confirmed_.insert(p->batch.steps.back().version);
      }
      return apply(target.stored(p->id, std::move(r), now_), &target);
    }
    if (auto* l = std::get_if<room::effect::Load>(&op.effect)) {
      Result<std::optional<store::RoomData>> data =
          fail ? Result<std::optional<store::RoomData>>(Error{ErrorCode::internal, "fuzz"})
               : store_.load_room(kRoom, l->history_before);
      return apply(target.loaded(std::move(data), now_), &target);
    }
    if (std::holds_alternative<room::effect::Create>(op.effect)) {
      room::Created result = fail       ? room::Created::failed
                             : how == 1 ? room::Created::rate_limited
                                        : room::Created::ok;
      if (result == room::Created::ok)
        fuzz::check(store_.create_room(kRoom, kInitialDoc).ok(), "create");
      return apply(target.created(result, now_), &target);
    }
    if (std::holds_alternative<room::effect::Delete>(op.effect)) {
      fuzz::check(target.closed(), "a room deleted from the store while open");
      fuzz::check(store_.delete_room(kRoom).ok(), "delete");
      confirmed_.clear();  // a new room of the name counts its versions from 0 again
      return;
    }
    if (auto* s = std::get_if<room::effect::Snapshot>(&op.effect)) {
      Result<void> r = fail ? Result<void>(Error{ErrorCode::internal, "fuzz"})
                            : store_.save_snapshot(kRoom, s->version, s->doc_json, s->keep_history,
                                                   s->keep_every);
      return apply(target.snapshot_done(std::move(r), now_), &target);
    }
  }

  // Checks and executes the effects of one event.
  void apply(room::Effects effects, room::RoomCore* from = nullptr) {
    room::RoomCore* room = from ? from : core_.get();
    bool current = room == core_.get();
    for (room::Effect& e : effects) {
      if (auto* s = std::get_if<room::effect::Send>(&e)) {
        receive(s->to, s->text, current);
      } else if (auto* b = std::get_if<room::effect::Broadcast>(&e)) {
        for (ConnId to : b->to) receive(to, b->text, current);
      } else if (auto* w = std::get_if<room::effect::WakeAt>(&e)) {
        if (current) wake_ = w->at;
      } else if (auto* l = std::get_if<room::effect::Left>(&e)) {
        if (current) views_[l->conn % kConns].member = false;
      } else if (auto* r = std::get_if<room::effect::ReadDone>(&e)) {
        if (r->doc) {
          auto parsed = json::parse(r->doc->second);
          fuzz::check(parsed.ok(), "a read gave bad JSON");
        }
      } else if (auto* done = std::get_if<room::effect::EditDone>(&e)) {
        if (current && done->result.status == room::EditResult::Status::ok && room->ready())
          fuzz::check(done->result.version <= room->durable_version(),
                      "an API edit answered before it was durable");
      } else if (std::holds_alternative<room::effect::Persist>(e) ||
                 std::holds_alternative<room::effect::Load>(e) ||
                 std::holds_alternative<room::effect::Create>(e) ||
                 std::holds_alternative<room::effect::Snapshot>(e) ||
                 std::holds_alternative<room::effect::Delete>(e)) {
        if (current) ops_.push_back({core_.get(), std::move(e)});
      }
    }
  }

  void receive(ConnId to, const std::string& text, bool current) {
    auto decoded = protocol::decode_server_message(text);
    fuzz::check(decoded.ok(), "a message does not decode: " + text);
    if (!current) return;
    int conn = static_cast<int>(to % kConns);
    fuzz::check(to == static_cast<ConnId>(conn + kConns * generation_[conn]),
                "a message to a closed connection: " + text);
    View& v = views_[conn];
    const room::RoomCore& room = *core_;
    if (auto* st = std::get_if<protocol::ServerState>(&*decoded)) {
      fuzz::check(st->version == room.durable_version(), "a state not at the durable version");
      v.member = true;
      v.version = st->version;
    } else if (auto* steps = std::get_if<protocol::ServerSteps>(&*decoded)) {
      fuzz::check(v.member, "steps to a connection outside the room");
      fuzz::check(steps->version == v.version, "steps lost or repeated: " + text);
      v.version += static_cast<int64_t>(steps->steps.size());
      fuzz::check(confirmed_.count(v.version) > 0, "steps broadcast before the store confirmed");
    } else if (auto* ack = std::get_if<protocol::ServerAck>(&*decoded)) {
      fuzz::check(v.member, "an ack to a connection outside the room");
      if (ack->steps && ack->steps->empty()) {
        // A rebased batch whose every step was dropped: it follows what came before it.
        fuzz::check(ack->version == v.version, "an empty ack not at the member's version");
      } else {
        fuzz::check(confirmed_.count(ack->version) > 0, "an ack before the store confirmed");
        fuzz::check(ack->version > v.version, "an ack that goes back");
        if (ack->steps)
          fuzz::check(ack->version == v.version + static_cast<int64_t>(ack->steps->size()),
                      "a rebased batch's ack does not follow what came before it: " + text);
      }
      v.version = ack->version;
    } else if (auto* p = std::get_if<protocol::ServerPresence>(&*decoded)) {
      fuzz::check(v.member, "presence to a connection outside the room");
      fuzz::check(p->version <= room.durable_version(), "presence above the durable version");
    }
  }

  void check_room() {
    if (!core_ || !core_->ready()) return;
    for (int c = 0; c < kConns; ++c) {
      ConnId id = static_cast<ConnId>(c + kConns * generation_[c]);
      fuzz::check(views_[c].member == (core_->member(id) != nullptr), "membership differs");
      if (views_[c].member)
        fuzz::check(views_[c].version == core_->durable_version(),
                    "a member is not at the durable version");
    }
    try {
      core_->durable_doc()->check();
    } catch (const std::exception& e) {
      fuzz::check(false, std::string("the durable document is invalid: ") + e.what());
    }
  }

  struct View {
    bool member = false;
    int64_t version = 0;
  };
  struct Op {
    room::RoomCore* core;
    room::Effect effect;
  };

  FuzzedDataProvider& in_;
  room::Now now_{room::Time{}, 1'700'000'000'000};
  store::MemoryStore store_;
  std::unique_ptr<room::RoomCore> core_;
  std::vector<std::unique_ptr<room::RoomCore>> retired_;  // ops may still name them
  View views_[kConns];
  int generation_[kConns] = {};
  std::deque<Op> ops_;
  std::set<int64_t> confirmed_;  // versions that end a batch the store took
  std::optional<room::Time> wake_;
  uint64_t next_read_ = 1;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  RoomFuzz(in).run();
  return 0;
}
