// RoomCore against a model of its clients and its store, without sockets:
// a seeded randomized test. Two rooms over one real MemoryStore, six
// connections (two with the same userId and subject, one with a taken userId
// and another subject), random events: joins with and without a version and
// presence, steps made with the Transform API on each member's own view of
// the document (on its version, which may be stale), hostile steps,
// presence with good and bad positions and versions, leaves, disconnects,
// document reads, time passing, and the store's answers delivered late, out
// of order across rooms (and now and then within a room), or failed.
//
// After every event it checks what the protocol promises:
// - every message the core writes decodes (decode_server_message);
// - no ack before the store confirmed that batch, and acks in batch order;
// - every member receives every accepted step exactly once and in version
//   order: each connection replays what it received into its own document,
//   which must equal the durable document at the durable version;
// - a failed batch is neither acknowledged nor broadcast; the members get
//   `internal`, leave, and the room reloads exactly what is durable;
// - a connection that left (or never joined) receives nothing but answers
//   to its own messages; the core's membership is the clients';
// - presence versions are never above the durable version (they are the
//   recipient's version), a room sends presence at most once per interval
//   (at most one message per member then, never with the member's own
//   entry), and the durable document passes Node::check();
// - a hot room (two seeds in three make every room hot) may hold steps and acks
//   back, but every member is then at the version of its last flush, a wake-up
//   is armed, and presence and `state` never get ahead of the steps sent;
// - edits through the document API (steps on the durable document, stale,
//   hostile, by a member's userId, or a document to become) are answered once,
//   ok only when durable, and reach every member like a member's steps;
//   deletions remove every member and reach the store only after the room
//   closed (the clients then forget what they held of the room).
// A failure prints the seed and the event index.
//
// RTPM_ROOM_MODEL_SEEDS=A-B sets the seeds (default 1-20), RTPM_ROOM_MODEL_EVENTS
// the events per seed (default 5,000: 100,000 events per run; 2,500 under
// ASan, RTPM_ROOM_MODEL_ASAN). scripts/soak.sh runs more.
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "rtpm/protocol/server_messages.h"
#include "rtpm/room/room_core.h"
#include "rtpm/store/memory_store.h"
#include "rtpm/testing/builder.h"
#include "rtpm/transform/transform.h"

namespace rtpm::room {
namespace {

#ifdef RTPM_ROOM_MODEL_ASAN
constexpr int kDefaultEvents = 2500;
#else
constexpr int kDefaultEvents = 5000;
#endif

const char* const kInitialDoc =
    R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"hello world"}]}]})";
constexpr int kPresenceIntervalMs = 50;

std::shared_ptr<const model::Schema> basic() { return testing::load_schema("basic"); }

struct Failure {
  std::string what;
};

// What one connection knows of one room, rebuilt only from what it received.
struct View {
  bool member = false;
  // What its last join asked for (the core applies it when it answers the join).
  Access access;
  // Its last join asked for the `rebase` extension (which this server offers).
  bool rebase = false;
  // ...and `echo` (its own steps come in the broadcasts instead of acks): what the last state
  // answered (messages before a state are under the terms of the membership before it), and
  // what the last join asked for.
  bool echo = false;
  bool asked_echo = false;
  model::NodeRef doc;  // its durable view (null before a state)
  int64_t version = 0;
  // The documents it held at earlier versions (for joins that name one).
  std::map<int64_t, model::NodeRef> past;
  // Batches of its own the core accepted (a Persist followed), oldest first.
  struct Batch {
    const RoomCore* core;
    uint64_t id;
    std::vector<json::Value> steps;
  };
  std::deque<Batch> accepted;
};

struct Conn {
  std::string user;
  std::string subject;
  std::map<int, View> rooms;
  int generation = 0;  // a disconnect makes a new connection (a new ConnId)
};

// A store operation the core asked for, answered later.
struct StoreOp {
  std::shared_ptr<RoomCore> core;
  int room = 0;
  Effect effect;
};

class Model {
 public:
  Model(uint32_t seed, int events) : seed_(seed), events_(events), rng_(seed) {
    // Two seeds in three run hot rooms that hold broadcasts back (every step counts as hot, or
    // five a second), with intervals from 1 to 37 ms; the third keeps the defaults.
    if (seed % 3 != 0) {
      broadcast_hot_steps_ = seed % 3 == 1 ? 1 : 5;
      broadcast_interval_ms_ = 1 + static_cast<int>(seed % 37);
    }
    conns_ = {{"u0", "s0", {}, 0}, {"u1", "s1", {}, 0}, {"u2", "s2", {}, 0},
              {"u0", "s0", {}, 0}, {"u1", "sX", {}, 0}, {"u3", "s3", {}, 0}};
    for (int r = 0; r < 2; ++r) cores_.push_back(fresh(r));
  }

  void run() {
    for (index_ = 0; index_ < events_; ++index_) {
      now_ += std::chrono::milliseconds(draw(0, 12));
      wall_ += draw(0, 12);
      event();
      check_all();
    }
  }

  std::string where() const {
    return "seed " + std::to_string(seed_) + " event " + std::to_string(index_) + ": ";
  }

  // Statistics, so that the test can fail when a seed did too little.
  int acks = 0, broadcasts = 0, failures = 0, conflicts = 0, rejected = 0, reloads = 0;
  int api_edits = 0, deletions = 0;
  int held = 0;  // checks that found a hot room holding broadcasts back

 private:
  int draw(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(int percent) { return draw(0, 99) < percent; }
  Now now() const { return {now_, wall_}; }
  std::string room_name(int r) const { return "room" + std::to_string(r); }
  ConnId id(int c) const {
    return static_cast<ConnId>(c + 100 * conns_[static_cast<size_t>(c)].generation);
  }
  // The connection of an id; fails for a connection that closed.
  int conn_of(ConnId id) const {
    int c = static_cast<int>(id % 100);
    if (c >= static_cast<int>(conns_.size()) || this->id(c) != id)
      fail("an effect names a closed or unknown connection " + std::to_string(id));
    return c;
  }

  [[noreturn]] void fail(const std::string& what) const { throw Failure{where() + what}; }

  std::shared_ptr<RoomCore> fresh(int r) {
    return std::make_shared<RoomCore>(room_name(r),
                                      RoomConfig{.schema = basic(),
                                                 .initial_doc_json = kInitialDoc,
                                                 .max_members = 4,
                                                 .history_steps = 40,
                                                 .history_bytes = 4000,
                                                 .snapshot_every = 25,
                                                 .presence_interval_ms = kPresenceIntervalMs,
                                                 .broadcast_interval_ms = broadcast_interval_ms_,
                                                 .broadcast_hot_steps = broadcast_hot_steps_,
                                                 .unload_grace_ms = 300});
  }

  // The room's core; a fresh one after it unloaded (as the registry hands out).
  RoomCore& core(int r) {
    if (cores_[static_cast<size_t>(r)]->closed()) {
      // Kept alive, so that no later core has its address (the checks key by core).
      retired_.push_back(cores_[static_cast<size_t>(r)]);
      cores_[static_cast<size_t>(r)] = fresh(r);
      wake_[r].reset();
      ++reloads;
    }
    return *cores_[static_cast<size_t>(r)];
  }

  // ---- events ----

  void event() {
    int what = draw(0, 99);
    int c = draw(0, static_cast<int>(conns_.size()) - 1);
    int r = draw(0, 1);
    if (what < 12) return join(c, r);
    if (what < 42) return steps(c, r);
    if (what < 54) return presence(c, r);
    if (what < 57) return leave(c, r);
    if (what < 60) return disconnect(c);
    if (what < 62) return read(r);
    if (what == 62 && chance(25)) return remove(r);
    if (what == 63) return api_edit(r);
    if (what == 64 && chance(8)) return delete_room(r);
    if (what < 70) return tick();
    return deliver();
  }

  void join(int c, int r) {
    Conn& conn = conns_[static_cast<size_t>(c)];
    View& v = conn.rooms[r];
    // A client waits for the answer to its join before it joins again.
    if (core(r).joining(id(c))) return;
    protocol::JoinMessage m{room_name(r), conn.user, std::nullopt, std::nullopt};
    // A version it holds (its current one or an older one), or one above the room's.
    if (v.doc && chance(60)) m.version = v.version;
    if (!v.past.empty() && chance(20)) {
      auto it = v.past.begin();
      std::advance(it, draw(0, static_cast<int>(v.past.size()) - 1));
      m.version = it->first;
    }
    if (chance(5)) m.version = 100000 + draw(0, 5);
    if (chance(50)) m.presence = presence_entry(v);
    // u2 and u3 usually ask for the `rebase` extension (docs/protocol.md).
    if ((c == 2 || c == 5) && chance(70)) m.rebase = true;
    if (m.rebase && chance(60)) m.echo = true;
    v.rebase = m.rebase;  // the core applies it when it answers the join, like the access
    v.asked_echo = m.echo;
    // Some joins are read-only (docs/security.md), with or without presence.
    v.access = chance(15) ? Access{.write = false, .presence = chance(50)} : Access{};
    if (m.version)
      joined_at_[{c, r}] = *m.version;
    else
      joined_at_.erase({c, r});
    auto& room = core(r);
    on_effects(
        r, room.join(id(c), conn.subject, "addr" + std::to_string(c % 3), m, now(), v.access), c);
  }

  json::Value presence_entry(const View& v) {
    int size = v.doc ? v.doc->content().size() : 10;
    auto pos = [&]() -> json::Value {
      switch (draw(0, 9)) {
        case 0: return json::Value(1e12);
        case 1: return json::Value(-1.0);
        case 2: return json::Value(1.5);
        case 3: return json::Value("3");
        case 4: return json::Value(nullptr);
        default: return json::Value(static_cast<double>(draw(0, size)));
      }
    };
    return json::Value(
        json::Object{{"cursor", json::Value(json::Object{{"pos", pos()}})},
                     {"selection", json::Value(json::Object{{"anchor", pos()}, {"head", pos()}})}});
  }

  void steps(int c, int r) {
    Conn& conn = conns_[static_cast<size_t>(c)];
    View& v = conn.rooms[r];
    protocol::StepsMessage m{room_name(r), v.version, json::Value(json::Array{}), conn.user};
    std::vector<json::Value> made;
    if (v.doc && !chance(8)) {
      made = edit(v.doc);
      if (made.empty()) return;
      if (chance(5)) m.version = v.version - 1;  // stale
      // A rebase member sends late batches as a matter of course (and is never refused them).
      if (v.rebase && chance(40)) m.version = std::max<int64_t>(0, v.version - draw(1, 4));
    } else {
      made = hostile_steps(v);
      m.version = v.doc && chance(80) ? v.version : draw(0, 60);
    }
    if (chance(2)) m.user_id = conns_[static_cast<size_t>((c + 1) % 6)].user;  // forbidden
    m.steps = json::Value(json::Array(made.begin(), made.end()));
    auto& room = core(r);
    int64_t current = room.ready() ? room.speculative_version() : -1;
    Effects fx = room.steps(id(c), m, now());
    for (const Effect& e : fx) {
      if (const auto* p = std::get_if<effect::Persist>(&e)) {
        if (!v.access.write) fail("a read-only member's steps were accepted");
        if (p->batch.steps.front().version != current + 1) fail("a batch on the wrong version");
        if (m.version == current) {
          if (p->batch.steps.size() != made.size()) fail("a persisted batch lost steps");
          v.accepted.push_back({&room, p->id, made});
        } else {
          // Rebased: the steps as applied (some may have been dropped).
          if (!v.rebase) fail("a late batch of a version 1 member was accepted");
          if (p->batch.steps.size() > made.size()) fail("a rebased batch grew");
          std::vector<json::Value> applied;
          for (const auto& s : p->batch.steps) applied.push_back(*json::parse(s.step_json));
          v.accepted.push_back({&room, p->id, std::move(applied)});
        }
      }
    }
    on_effects(r, std::move(fx), c);
  }

  // Valid steps made with the Transform API on this view.
  std::vector<json::Value> edit(const model::NodeRef& doc) {
    transform::Transform tr(doc);
    auto text_pos = [&](const model::Node& d) {
      int k = draw(0, d.child_count() - 1);
      int start = 0;
      for (int j = 0; j < k; ++j) start += d.child(j)->node_size();
      return start + 1 + draw(0, d.child(k)->content().size());
    };
    try {
      int kind = draw(0, 9);
      if (kind <= 4 || doc->content().size() < 8) {
        tr.insert(text_pos(*doc), basic()->text("ab" + std::to_string(index_ % 10)));
        if (kind == 0) tr.insert(text_pos(*tr.doc()), basic()->text("c"));
      } else if (kind <= 6) {
        int from = text_pos(*doc);
        int to = std::min(from + draw(1, 6), doc->resolve(from).end());
        if (to > from) tr.del(from, to);
      } else if (kind == 7) {
        int pos = text_pos(*doc);
        if (doc->child_count() < 6) tr.split(pos);
      } else {
        int from = text_pos(*doc);
        int to = std::min(from + draw(1, 5), doc->resolve(from).end());
        if (to > from) tr.add_mark(from, to, basic()->mark(chance(50) ? "em" : "strong"));
      }
    } catch (const std::exception&) {
      return {};
    }
    std::vector<json::Value> out;
    for (const auto& s : tr.steps()) out.push_back(s->to_json());
    return out;
  }

  std::vector<json::Value> hostile_steps(const View& v) {
    int size = v.doc ? v.doc->content().size() : 10;
    std::string text;
    switch (draw(0, 5)) {
      case 0:
        text = R"({"stepType":"replace","from":)" + std::to_string(size + draw(1, 5)) +
               R"(,"to":)" + std::to_string(size + 6) +
               R"(,"slice":{"content":[{"type":"text","text":"x"}]}})";
        break;
      case 1: text = R"({"stepType":"nope"})"; break;
      case 2:
        text = R"({"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"bogus"}]}})";
        break;
      case 3: text = R"({"stepType":"addMark","from":3,"to":1,"mark":{"type":"em"}})"; break;
      case 4:
        text =
            R"({"stepType":"replace","from":0,"to":0,"slice":{"content":[{"type":"text","text":"x"}]}})";
        break;
      default: text = R"({"stepType":"replace","from":-1,"to":1e12})"; break;
    }
    return {*json::parse(text)};
  }

  void presence(int c, int r) {
    Conn& conn = conns_[static_cast<size_t>(c)];
    View& v = conn.rooms[r];
    protocol::PresenceMessage m{room_name(r), conn.user, presence_entry(v), std::nullopt};
    if (chance(60)) m.version = v.version;
    if (chance(10)) m.version = draw(0, 200);
    if (chance(2)) m.user_id = "u9";
    auto& room = core(r);
    const json::Value* before = room.presence_of(conn.user);
    std::string was = before ? json::stringify(*before) : "";
    Effects fx = room.presence(id(c), m, now());
    if (!v.access.presence) {
      const json::Value* after = room.presence_of(conn.user);
      if ((after ? json::stringify(*after) : "") != was)
        fail("presence changed by a member that may not set it");
    }
    on_effects(r, std::move(fx), c);
  }

  // An edit through the document API: steps made on the durable document (what a backend
  // read), sometimes stale, hostile or by a member's userId, or a document to become.
  void api_edit(int r) {
    auto& room = core(r);
    uint64_t request = next_read_++;
    edits_.insert(request);
    ApiEdit e;
    e.user_id = chance(10) ? conns_[static_cast<size_t>(draw(0, 5))].user : "bot";
    e.create = chance(30);
    e.creator = "api";
    model::NodeRef base = room.ready()
                              ? room.durable_doc()
                              : model::Node::from_json(*basic(), *json::parse(kInitialDoc));
    if (chance(30)) {
      // A restore: the initial document, or this one edited.
      transform::Transform tr(base);
      std::vector<json::Value> made = edit(base);
      model::NodeRef target = base;
      for (const json::Value& step : made) {
        auto applied = transform::Step::from_json(*basic(), step)->apply(*target);
        if (applied.ok()) target = applied.doc;
      }
      e.become = chance(50) ? model::Node::from_json(*basic(), *json::parse(kInitialDoc)) : target;
    } else {
      std::vector<json::Value> made = chance(10) ? hostile_steps(View{}) : edit(base);
      e.version = room.ready() ? room.durable_version() : 0;
      if (chance(10)) e.version = std::max<int64_t>(0, e.version - 1);
      e.steps = json::Value(json::Array(made.begin(), made.end()));
    }
    Effects fx = room.edit(request, e, now());
    for (const Effect& x : fx)
      if (const auto* p = std::get_if<effect::Persist>(&x))
        for (const store::StoredStep& st : p->batch.steps)
          if (st.user_id != e.user_id) fail("an API batch under another userId");
    on_effects(r, std::move(fx), -1);
  }

  // The room is deleted: its members leave; the clients forget what they held of it.
  void delete_room(int r) {
    auto& room = core(r);
    uint64_t request = next_read_++;
    deletes_.insert(request);
    Effects fx = room.delete_room(request, now());
    bool refused = false;
    for (const Effect& e : fx)
      if (const auto* d = std::get_if<effect::EditDone>(&e); d && d->request == request)
        refused = true;
    on_effects(r, std::move(fx), -1);
    if (refused) return;
    if (room.member_count() != 0) fail("a member stayed in a deleted room");
    for (int c = 0; c < static_cast<int>(conns_.size()); ++c) {
      if (room.joining(id(c))) continue;  // its join waits for the fresh room
      conns_[static_cast<size_t>(c)].rooms[r] = View{};
      joined_at_.erase({c, r});
    }
    expected_after_failure_.erase(r);
    ++deletions;
  }

  // An administrator removes one user (or everyone) from the room.
  void remove(int r) {
    auto& room = core(r);
    std::optional<std::string> user;
    if (chance(70)) user = conns_[static_cast<size_t>(draw(0, 5))].user;
    size_t before = room.member_count(), removed = 0;
    Effects fx = room.remove_members(user, removed, now());
    if (room.member_count() != before - removed) fail("remove_members miscounted");
    if (!user && room.member_count() != 0) fail("a member stayed after everyone was removed");
    on_effects(r, std::move(fx), -1);
  }

  void leave(int c, int r) {
    Conn& conn = conns_[static_cast<size_t>(c)];
    protocol::LeaveMessage m{room_name(r), chance(95) ? conn.user : "u9"};
    auto& room = core(r);
    on_effects(r, room.leave(id(c), m, now()), c);
  }

  void disconnect(int c) {
    for (int r = 0; r < 2; ++r) {
      auto& room = core(r);
      on_effects(r, room.disconnect(id(c), now()), c);
      View& v = conns_[static_cast<size_t>(c)].rooms[r];
      if (v.member) fail("a disconnected connection is still a member");
      v = View{};
    }
    // The next connection of this client is another one, knowing nothing of the rooms.
    ++conns_[static_cast<size_t>(c)].generation;
  }

  void read(int r) {
    uint64_t request = next_read_++;
    reads_.insert(request);
    auto& room = core(r);
    on_effects(r, room.read_document(request, now()), -1);
  }

  void tick() {
    for (int r = 0; r < 2; ++r) {
      if (!wake_[r] || *wake_[r] > now_) continue;
      wake_[r].reset();
      on_effects(r, cores_[static_cast<size_t>(r)]->tick(now()), -1);
    }
  }

  // Answers the oldest store operation of a random room (the storage worker keeps each room's
  // order; rooms interleave freely).
  void deliver() {
    int r = draw(0, 1);
    auto it = std::find_if(ops_.begin(), ops_.end(), [&](const StoreOp& o) { return o.room == r; });
    if (it == ops_.end()) return;
    StoreOp op = std::move(*it);
    ops_.erase(it);
    RoomCore& target = *op.core;
    if (std::holds_alternative<effect::Persist>(op.effect))
      return answer_persist(r, std::move(op), op.core == cores_[static_cast<size_t>(r)]);
    if (auto* l = std::get_if<effect::Load>(&op.effect)) {
      Result<std::optional<store::RoomData>> data =
          chance(4) ? Result<std::optional<store::RoomData>>(Error{ErrorCode::internal, "disk"})
                    : store_.load_room(room_name(r), l->history_before);
      return on_effects(r, target.loaded(std::move(data), now()), -1);
    }
    if (std::get_if<effect::Create>(&op.effect)) {
      int how = draw(0, 99);
      Created result = how < 3 ? Created::failed : how < 6 ? Created::rate_limited : Created::ok;
      if (result == Created::ok && !store_.create_room(room_name(r), kInitialDoc))
        fail("create failed");
      return on_effects(r, target.created(result, now()), -1);
    }
    if (auto* s = std::get_if<effect::Snapshot>(&op.effect)) {
      Result<void> res = store_.save_snapshot(room_name(r), s->version, s->doc_json,
                                              s->keep_history, s->keep_every);
      return on_effects(r, target.snapshot_done(res, now()), -1);
    }
    if (auto* d = std::get_if<effect::Delete>(&op.effect)) {
      if (!deletes_.erase(d->request)) fail("a deletion done twice or never asked");
      if (!target.closed()) fail("a room deleted from the store while still open");
      if (!store_.delete_room(room_name(r))) fail("the store failed to delete");
    }
  }

  void answer_persist(int r, StoreOp op, bool current) {
    auto& p = std::get<effect::Persist>(op.effect);
    // A core that failed or unloaded already dropped its batches: the store never sees them.
    if (!current || op.core->closed()) {
      on_effects(r, op.core->stored(p.id, Error{ErrorCode::internal, "late"}, now()), -1);
      return;
    }
    if (chance(3)) {
      ++failures;
      expected_after_failure_[r] = op.core->durable_doc()->to_json_string();
      durable_at_failure_[r] = op.core->durable_version();
      Effects fx = op.core->stored(p.id, Error{ErrorCode::internal, "disk full"}, now());
      // The errors; before them only what a hot room held back of earlier, durable batches
      // (steps and acks: on_effects checks that the store confirmed each).
      bool errors = false;
      for (const Effect& e : fx) {
        const std::string* text = nullptr;
        if (const auto* s = std::get_if<effect::Send>(&e)) text = &s->text;
        if (const auto* b = std::get_if<effect::Broadcast>(&e)) text = &b->text;
        if (!text) continue;
        auto m = protocol::decode_server_message(*text);
        if (!m) fail("a failed batch sent something that does not decode: " + *text);
        bool error = std::holds_alternative<protocol::ServerError>(*m);
        if (error && std::holds_alternative<effect::Send>(e)) {
          errors = true;
          continue;
        }
        if (errors || (!std::holds_alternative<protocol::ServerSteps>(*m) &&
                       !std::holds_alternative<protocol::ServerAck>(*m)))
          fail("a failed batch sent something else than an error: " + *text);
      }
      if (!op.core->closed()) fail("a failed batch left the room open");
      // A room being deleted goes from the store next: nothing to reload.
      for (const Effect& e : fx)
        if (std::holds_alternative<effect::Delete>(e)) expected_after_failure_.erase(r);
      // Every later batch of this core is dropped with it.
      for (auto it = ops_.begin(); it != ops_.end();)
        it = it->core == op.core && std::holds_alternative<effect::Persist>(it->effect)
                 ? ops_.erase(it)
                 : it + 1;
      on_effects(r, std::move(fx), -1);
      return;
    }
    if (!store_.append({p.batch}).at(0)) fail("the store refused a batch (a gap?)");
    confirmed_.insert({op.core.get(), p.id});
    on_effects(r, op.core->stored(p.id, Result<void>(), now()), -1);
  }

  // ---- effects ----

  // Executes and checks the effects of one event of room r (caused by connection `by`, -1 for
  // none): the messages go to the connections' views.
  void on_effects(int r, Effects fx, int by) {
    RoomCore& room = *cores_[static_cast<size_t>(r)];
    for (Effect& e : fx) {
      if (auto* s = std::get_if<effect::Send>(&e)) {
        throttled(room, s->text, {s->to});
        receive(conn_of(s->to), r, s->text, false, by);
      } else if (auto* b = std::get_if<effect::Broadcast>(&e)) {
        throttled(room, b->text, b->to);
        std::set<ConnId> seen;
        for (ConnId to : b->to) {
          if (!seen.insert(to).second) fail("a broadcast names a connection twice");
          receive(conn_of(to), r, b->text, true, by);
        }
      } else if (auto* done = std::get_if<effect::EditDone>(&e)) {
        if (!edits_.erase(done->request) && !deletes_.erase(done->request))
          fail("an edit answered twice or never asked");
        if (done->result.status == EditResult::Status::ok && room.ready() &&
            done->result.version > room.durable_version())
          fail("an edit answered ok before it was durable");
        if (done->result.status == EditResult::Status::ok) ++api_edits;
      } else if (std::holds_alternative<effect::Persist>(e) ||
                 std::holds_alternative<effect::Load>(e) ||
                 std::holds_alternative<effect::Create>(e) ||
                 std::holds_alternative<effect::Snapshot>(e) ||
                 std::holds_alternative<effect::Delete>(e)) {
        if (auto* p = std::get_if<effect::Persist>(&e)) {
          if (p->id <= last_batch_[&room]) fail("batch ids are not increasing");
          last_batch_[&room] = p->id;
          batch_ending_[{&room, p->batch.steps.back().version}] = p->id;
        }
        ops_.push_back({cores_[static_cast<size_t>(r)], r, std::move(e)});
      } else if (auto* w = std::get_if<effect::WakeAt>(&e)) {
        wake_[r] = w->at;
      } else if (auto* l = std::get_if<effect::Left>(&e)) {
        conns_[static_cast<size_t>(conn_of(l->conn))].rooms[r].member = false;
      } else if (auto* d = std::get_if<effect::ReadDone>(&e)) {
        if (!reads_.erase(d->request)) fail("a read answered twice or never asked");
        if (d->doc) {
          auto parsed = json::parse(d->doc->second);
          if (!parsed) fail("a read gave bad JSON");
          model::Node::from_json(*basic(), *parsed)->check();
        }
      } else if (std::holds_alternative<effect::Unload>(e)) {
        for (auto& conn : conns_)
          if (conn.rooms[r].member) fail("unloaded with members");
      }
    }
  }

  // The member's batch that ends at `version` was answered (an ack, or with `echo` the run of
  // its own steps in a broadcast) with `steps` as applied (`as_sent`: an ack without steps,
  // the batch applied as sent). Returns the batch's steps.
  std::vector<json::Value> settle_batch(RoomCore& room, View& v, int64_t version,
                                        const std::vector<json::Value>& steps,
                                        const std::string& text, bool as_sent = false) {
    uint64_t batch = batch_of(room, version);
    if (!confirmed_.count({&room, batch})) fail("an ack before the store confirmed the batch");
    // Earlier batches of this connection were made durable while it was not in the
    // room (no ack then; its state had them), or died with an older core.
    while (!v.accepted.empty() &&
           (v.accepted.front().core != &room || v.accepted.front().id < batch))
      v.accepted.pop_front();
    if (v.accepted.empty() || v.accepted.front().id != batch)
      fail("an ack for a batch this connection did not send: " + text);
    std::vector<json::Value> mine = std::move(v.accepted.front().steps);
    v.accepted.pop_front();
    // (The member may have joined again without the extension since it sent them.)
    if (!as_sent && steps != mine) fail("an ack's steps are not the batch as applied: " + text);
    return mine;
  }

  void receive(int c, int r, const std::string& text, bool broadcast, int by) {
    auto decoded = protocol::decode_server_message(text);
    if (!decoded) fail("a message does not decode: " + text);
    Conn& conn = conns_[static_cast<size_t>(c)];
    View& v = conn.rooms[r];
    RoomCore& room = *cores_[static_cast<size_t>(r)];
    auto reject_outsider = [&] {
      if (!v.member) fail("connection " + std::to_string(c) + " is not in the room: " + text);
    };
    std::visit(
        [&](auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, protocol::ServerError>) {
            if (broadcast) fail("an error was broadcast");
            if (c != by && m.known_code != ErrorCode::session_replaced &&
                m.known_code != ErrorCode::internal && m.known_code != ErrorCode::rate_limited &&
                m.known_code != ErrorCode::forbidden)
              fail("an error to a connection that did not ask: " + text);
            if (m.known_code == ErrorCode::version_conflict) ++conflicts;
            if (m.known_code == ErrorCode::invalid_steps) ++rejected;
          } else if constexpr (std::is_same_v<T, protocol::ServerState>) {
            if (broadcast) fail("a state was broadcast");
            if (m.version != room.durable_version()) fail("a state not at the durable version");
            if (m.doc) {
              v.doc = model::Node::from_json(*basic(), *m.doc);
            } else {
              // Steps since the version the join named, which the connection holds.
              auto since = joined_at_.find({c, r});
              if (since == joined_at_.end())
                fail("a state with steps for a join without a version: " + text);
              if (since->second != v.version) {
                auto held = v.past.find(since->second);
                if (held == v.past.end()) fail("a state with steps since an unknown version");
                v.doc = held->second;
                v.version = held->first;
              }
              if (static_cast<int64_t>(m.steps->size()) != m.version - v.version)
                fail("a state with the wrong number of steps: " + text);
              apply(v, *m.steps);
            }
            v.version = m.version;
            v.member = true;
            if (m.rebase != v.rebase) fail("a state that does not answer the join's rebase");
            if (m.echo != v.asked_echo) fail("a state that does not answer the join's echo");
            v.echo = m.echo;
            remember(v);
            for (const auto& [user, entry] : m.users)
              if (!entry.is_object()) fail("a presence entry that is not an object");
          } else if constexpr (std::is_same_v<T, protocol::ServerSteps>) {
            reject_outsider();
            // (Steps may be sent alone: around a member's own ack in a group, flush_durable.)
            if (m.version != v.version)
              fail("steps on version " + std::to_string(m.version) + " to a connection at " +
                   std::to_string(v.version) + " (lost or repeated)");
            if (!confirmed_.count(
                    {&room, batch_of(room, m.version + static_cast<int64_t>(m.steps.size()))}))
              fail("steps broadcast before the store confirmed them");
            // Runs of the member's own steps: only to an `echo` member, where each is the ack
            // of its next batch, as applied.
            const std::string& me = conns_[static_cast<size_t>(c)].user;
            for (size_t i = 0; i < m.user_ids.size();) {
              if (m.user_ids[i] != me) {
                ++i;
                continue;
              }
              size_t end = i;
              while (end < m.user_ids.size() && m.user_ids[end] == me) ++end;
              if (!v.echo) fail("a member's own steps broadcast to it: " + text);
              // (This model does not wait for acks: a run may hold several batches.)
              while (i < end) {
                size_t stop = i + 1;
                while (stop < end &&
                       !batch_ending_.count({&room, m.version + static_cast<int64_t>(stop)}))
                  ++stop;
                std::vector<json::Value> run(m.steps.begin() + static_cast<long>(i),
                                             m.steps.begin() + static_cast<long>(stop));
                settle_batch(room, v, m.version + static_cast<int64_t>(stop), run, text);
                ++acks;
                i = stop;
              }
            }
            apply(v, m.steps);
            v.version += static_cast<int64_t>(m.steps.size());
            remember(v);
            ++broadcasts;
          } else if constexpr (std::is_same_v<T, protocol::ServerAck>) {
            reject_outsider();
            if (m.steps && m.steps->empty()) {
              // A rebased batch whose every step was dropped: after everything before it.
              if (m.version != v.version) fail("an empty ack at another version: " + text);
              ++acks;
              return;
            }
            if (v.echo) fail("an ack with steps to an echo member: " + text);
            std::vector<json::Value> mine =
                settle_batch(room, v, m.version, m.steps ? *m.steps : std::vector<json::Value>(),
                             text, !m.steps.has_value());
            if (v.version + static_cast<int64_t>(mine.size()) != m.version)
              fail("an ack for version " + std::to_string(m.version) + " at version " +
                   std::to_string(v.version));
            apply(v, mine);
            v.version = m.version;
            remember(v);
            ++acks;
          } else if constexpr (std::is_same_v<T, protocol::ServerPresence>) {
            reject_outsider();
            if (m.version > room.durable_version()) fail("presence above the durable version");
            if (m.version != v.version) fail("presence at another version than the recipient's");
            for (const auto& [user, entry] : m.users)
              if (!entry.is_object()) fail("a presence entry that is not an object");
          } else if constexpr (std::is_same_v<T, protocol::ServerJoin> ||
                               std::is_same_v<T, protocol::ServerLeave>) {
            reject_outsider();
            if (!broadcast) fail("a join or leave notice sent alone");
          } else {
            fail("an unknown message: " + text);
          }
        },
        *decoded);
  }

  // The room sends presence at most once per interval (all of it while handling one event),
  // each member at most one message then, and never a member's own entry.
  void throttled(RoomCore& room, const std::string& text, const std::vector<ConnId>& to) {
    auto m = protocol::decode_server_message(text);
    if (!m || !std::holds_alternative<protocol::ServerPresence>(*m)) return;
    auto& last = presence_seen_[&room];
    if (last.event != index_) {
      if (last.at && now_ - *last.at < std::chrono::milliseconds(kPresenceIntervalMs))
        fail("presence broadcast twice within the room's interval");
      last = {index_, now_, {}};
    }
    for (ConnId c : to) {
      if (!last.to.insert(c).second) fail("two presence messages to one member at once");
      const std::string* user = room.member(c);
      for (const auto& [u, entry] : std::get<protocol::ServerPresence>(*m).users)
        if (user && u == *user) fail("a member received its own presence: " + text);
    }
  }

  uint64_t batch_of(RoomCore& room, int64_t end_version) {
    auto it = batch_ending_.find({&room, end_version});
    if (it == batch_ending_.end()) fail("no batch ends at version " + std::to_string(end_version));
    return it->second;
  }

  void apply(View& v, const std::vector<json::Value>& steps) {
    for (const json::Value& s : steps) {
      auto r = transform::Step::from_json(*basic(), s)->apply(*v.doc);
      if (!r.ok()) fail("a received step does not apply to the connection's document: " + r.failed);
      v.doc = r.doc;
    }
  }

  // Keeps the connection's document at its version for later joins (the last 60).
  void remember(View& v) {
    v.past[v.version] = v.doc;
    while (v.past.size() > 60) v.past.erase(v.past.begin());
  }

  // ---- after every event ----

  void check_all() {
    for (int r = 0; r < 2; ++r) {
      RoomCore& room = *cores_[static_cast<size_t>(r)];
      if (room.closed()) {
        for (auto& conn : conns_)
          if (conn.rooms[r].member) fail("a closed room has members");
        continue;
      }
      if (expected_after_failure_.count(r) && room.ready()) {
        // The first load after a failed batch: exactly what was durable.
        if (room.durable_version() != durable_at_failure_[r] ||
            room.durable_doc()->to_json_string() != expected_after_failure_[r])
          fail("the room reloaded another document than the durable one after a failure");
        expected_after_failure_.erase(r);
      }
      if (!room.ready()) continue;
      if (room.speculative_version() < room.durable_version()) fail("speculative < durable");
      if (room.member_count() == 0 && room.in_flight() == 0 && !wake_[r])
        fail("an empty room with nothing in flight never unloads");
      bool compare = room.in_flight() == 0 || index_ % 50 == 0;
      model::NodeRef durable = compare ? room.durable_doc() : nullptr;
      if (compare) durable->check();
      for (int c = 0; c < static_cast<int>(conns_.size()); ++c) {
        View& v = conns_[static_cast<size_t>(c)].rooms[r];
        const std::string* user = room.member(id(c));
        if (v.member != (user != nullptr))
          fail("membership differs for connection " + std::to_string(c));
        if (!v.member) continue;
        if (*user != conns_[static_cast<size_t>(c)].user) fail("a member under another userId");
        // Every member has been sent the same versions: the durable one, or, while a hot room
        // holds its broadcasts back, the one of its last flush.
        if (v.version != room.sent_version())
          fail("connection " + std::to_string(c) + " is at version " + std::to_string(v.version) +
               ", the room sent " + std::to_string(room.sent_version()) + " (durably at " +
               std::to_string(room.durable_version()) + ")");
        bool held = room.sent_version() < room.durable_version();
        if (held && !wake_[r]) fail("broadcasts held back without a wake-up");
        if (held) ++this->held;
        if (compare && !held && !v.doc->eq(*durable))
          fail("connection " + std::to_string(c) + "'s document differs from the durable one");
        const json::Value* p = room.presence_of(*user);
        if (!p) fail("a member without a presence entry");
      }
    }
  }

  uint32_t seed_;
  int events_;
  int broadcast_interval_ms_ = 10;
  int broadcast_hot_steps_ = 1000;
  std::mt19937 rng_;
  int index_ = 0;
  Time now_{};
  int64_t wall_ = 1'700'000'000'000;
  store::MemoryStore store_;
  std::vector<std::shared_ptr<RoomCore>> cores_;
  std::vector<Conn> conns_;
  std::deque<StoreOp> ops_;
  std::map<int, std::optional<Time>> wake_;
  std::set<std::pair<const RoomCore*, uint64_t>> confirmed_;
  std::map<std::pair<const RoomCore*, int64_t>, uint64_t> batch_ending_;  // -> batch id
  std::vector<std::shared_ptr<RoomCore>> retired_;
  std::map<const RoomCore*, uint64_t> last_batch_;
  std::map<std::pair<int, int>, int64_t> joined_at_;
  struct PresenceSent {
    int event = -1;
    std::optional<Time> at;
    std::set<ConnId> to;
  };
  std::map<const RoomCore*, PresenceSent> presence_seen_;  // the last presence each room sent
  std::map<int, std::string> expected_after_failure_;
  std::map<int, int64_t> durable_at_failure_;
  std::set<uint64_t> reads_;
  std::set<uint64_t> edits_;
  std::set<uint64_t> deletes_;
  uint64_t next_read_ = 1;
};

std::pair<uint32_t, uint32_t> seeds() {
  const char* s = std::getenv("RTPM_ROOM_MODEL_SEEDS");
  if (!s) return {1, 20};
  std::string text = s;
  auto dash = text.find('-');
  uint32_t a = static_cast<uint32_t>(std::stoul(text.substr(0, dash)));
  uint32_t b =
      dash == std::string::npos ? a : static_cast<uint32_t>(std::stoul(text.substr(dash + 1)));
  return {a, b};
}

int events_per_seed() {
  const char* s = std::getenv("RTPM_ROOM_MODEL_EVENTS");
  return s ? std::atoi(s) : kDefaultEvents;
}

TEST(RoomCoreModel, RandomEventsKeepEveryPromise) {
  auto [first, last] = seeds();
  int events = events_per_seed();
  long total = 0, acks = 0, broadcasts = 0, failures = 0, conflicts = 0, rejected = 0, reloads = 0;
  long api_edits = 0, deletions = 0, held = 0;
  for (uint32_t seed = first; seed <= last; ++seed) {
    Model model(seed, events);
    try {
      model.run();
    } catch (const Failure& f) {
      FAIL() << f.what << "\n(replay: RTPM_ROOM_MODEL_SEEDS=" << seed
             << " RTPM_ROOM_MODEL_EVENTS=" << events << ")";
    } catch (const std::exception& e) {
      FAIL() << model.where() << "exception: " << e.what();
    }
    total += events;
    acks += model.acks;
    broadcasts += model.broadcasts;
    failures += model.failures;
    conflicts += model.conflicts;
    rejected += model.rejected;
    reloads += model.reloads;
    api_edits += model.api_edits;
    deletions += model.deletions;
    held += model.held;
  }
  std::cout << "room core model: " << total << " events, " << acks << " acks, " << broadcasts
            << " step broadcasts received, " << conflicts << " conflicts, " << rejected
            << " rejected batches, " << failures << " failed batches, " << reloads << " reloads, "
            << api_edits << " API edits, " << deletions << " deletions, " << held
            << " checks with broadcasts held back\n";
  // A run that did too little proves nothing.
  EXPECT_GT(acks, total / 100);
  EXPECT_GT(failures, 0);
  EXPECT_GT(conflicts, 0);
  EXPECT_GT(rejected, 0);
  EXPECT_GT(api_edits, 0);
  EXPECT_GT(deletions, 0);
  if (last > first) {
    EXPECT_GT(held, 0);  // (seeds 1, 2, 4, 5, ... run hot rooms)
  }
}

}  // namespace
}  // namespace rtpm::room
