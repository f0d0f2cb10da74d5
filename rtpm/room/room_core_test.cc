// RoomCore: focused cases the model test does not reach on purpose (the
// storage worker keeps each room's order, so the model never confirms a
// later batch first), and the loader's answers to reads.
#include "rtpm/room/room_core.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "rtpm/protocol/binary_codec.h"
#include "rtpm/protocol/server_messages.h"
#include "rtpm/testing/builder.h"

namespace rtpm::room {
namespace {

const char* const kDoc =
    R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"hello"}]}]})";

RoomConfig config() { return {.schema = testing::load_schema("basic"), .initial_doc_json = kDoc}; }

template <typename T>
std::vector<T> all_of(const Effects& fx) {
  std::vector<T> out;
  for (const Effect& e : fx)
    if (auto* x = std::get_if<T>(&e)) out.push_back(*x);
  return out;
}

// The types of the messages sent to `conn` (Send and Broadcast), in order.
std::vector<std::string> sent_to(const Effects& fx, ConnId conn) {
  std::vector<std::string> out;
  auto type_of = [](const std::string& text) {
    return json::parse(text)->find("type")->as_string();
  };
  for (const Effect& e : fx) {
    if (auto* s = std::get_if<effect::Send>(&e); s && s->to == conn)
      out.push_back(type_of(s->text));
    if (auto* b = std::get_if<effect::Broadcast>(&e))
      for (ConnId to : b->to)
        if (to == conn) out.push_back(type_of(b->text));
  }
  return out;
}

json::Value insert_step(int pos, const std::string& text) {
  return *json::parse(R"({"stepType":"replace","from":)" + std::to_string(pos) + R"(,"to":)" +
                      std::to_string(pos) + R"(,"slice":{"content":[{"type":"text","text":")" +
                      text + R"("}]}})");
}

// A ready room with connections 1 (u1) and 2 (u2) in it.
struct Ready {
  RoomCore core{"r", config()};
  Now now{Time{}, 1};
  Ready() {
    auto fx = core.join(1, "", "a", {"r", "u1", std::nullopt, std::nullopt}, now);
    EXPECT_EQ(all_of<effect::Load>(fx).size(), 1u);
    fx = core.loaded(std::optional<store::RoomData>(store::RoomData{0, kDoc, {}}), now);
    EXPECT_EQ(sent_to(fx, 1), std::vector<std::string>{"state"});
    core.join(2, "", "a", {"r", "u2", std::nullopt, std::nullopt}, now);
  }
  uint64_t send_steps(ConnId conn, const std::string& user, int64_t version, int pos) {
    auto fx = core.steps(
        conn, {"r", version, json::Value(json::Array{insert_step(pos, "x")}), user}, now);
    auto persist = all_of<effect::Persist>(fx);
    EXPECT_EQ(persist.size(), 1u);
    return persist.empty() ? 0 : persist[0].id;
  }
};

TEST(RoomCore, ALaterBatchConfirmedFirstWaitsForTheEarlierOne) {
  Ready r;
  uint64_t first = r.send_steps(1, "u1", 0, 1);
  uint64_t second = r.send_steps(2, "u2", 1, 2);
  ASSERT_LT(first, second);
  auto fx = r.core.stored(second, {}, r.now);
  EXPECT_TRUE(sent_to(fx, 1).empty());
  EXPECT_TRUE(sent_to(fx, 2).empty());
  EXPECT_EQ(r.core.durable_version(), 0);
  fx = r.core.stored(first, {}, r.now);
  // u1: its ack, then u2's steps; u2: u1's steps, then its ack.
  EXPECT_EQ(sent_to(fx, 1), (std::vector<std::string>{"ack", "steps"}));
  EXPECT_EQ(sent_to(fx, 2), (std::vector<std::string>{"steps", "ack"}));
  EXPECT_EQ(r.core.durable_version(), 2);
  EXPECT_EQ(json::to_wtf8(r.core.durable_doc()->text_content()), "xxhello");
}

TEST(RoomCore, AFailedBatchIsNeitherAckedNorBroadcastAndDropsTheMembers) {
  Ready r;
  uint64_t first = r.send_steps(1, "u1", 0, 1);
  auto fx = r.core.stored(first, Error{ErrorCode::internal, "disk"}, r.now);
  for (ConnId c : {1, 2}) EXPECT_EQ(sent_to(fx, c), std::vector<std::string>{"error"});
  EXPECT_EQ(all_of<effect::Left>(fx).size(), 2u);
  EXPECT_EQ(all_of<effect::Unload>(fx).size(), 1u);
  EXPECT_TRUE(all_of<effect::Snapshot>(fx).empty());  // nothing written after a failure
  EXPECT_TRUE(r.core.closed());
}

TEST(RoomCore, AReadOfAMissingRoomNeverCreatesIt) {
  RoomCore core("r", config());
  Now now{Time{}, 1};
  auto fx = core.read_document(7, now);
  ASSERT_EQ(all_of<effect::Load>(fx).size(), 1u);
  fx = core.loaded(std::optional<store::RoomData>(), now);
  EXPECT_TRUE(all_of<effect::Create>(fx).empty());
  auto reads = all_of<effect::ReadDone>(fx);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].request, 7u);
  EXPECT_FALSE(reads[0].doc);
  EXPECT_EQ(all_of<effect::Unload>(fx).size(), 1u);
}

TEST(RoomCore, ARoomLoadedForAReadUnloadsRightAfterIt) {
  RoomCore core("r", config());
  Now now{Time{}, 1};
  core.read_document(1, now);
  auto fx = core.loaded(std::optional<store::RoomData>(store::RoomData{0, kDoc, {}}), now);
  auto reads = all_of<effect::ReadDone>(fx);
  ASSERT_EQ(reads.size(), 1u);
  ASSERT_TRUE(reads[0].doc);
  EXPECT_EQ(reads[0].doc->first, 0);
  EXPECT_EQ(all_of<effect::Unload>(fx).size(), 1u);
  EXPECT_TRUE(all_of<effect::Snapshot>(fx).empty());
}

TEST(RoomCore, AJoinOfAMissingRoomCreatesItUnlessRefused) {
  RoomCore core("r", config());
  Now now{Time{}, 1};
  core.join(1, "", "addr", {"r", "u1", std::nullopt, std::nullopt}, now);
  auto fx = core.loaded(std::optional<store::RoomData>(), now);
  auto create = all_of<effect::Create>(fx);
  ASSERT_EQ(create.size(), 1u);
  EXPECT_EQ(create[0].creator, "addr");
  fx = core.created(Created::rate_limited, now);
  EXPECT_EQ(sent_to(fx, 1), std::vector<std::string>{"error"});
  EXPECT_NE(std::get<effect::Send>(fx[0]).text.find("rate_limited"), std::string::npos);
  EXPECT_EQ(all_of<effect::Left>(fx).size(), 1u);
  EXPECT_EQ(all_of<effect::Unload>(fx).size(), 1u);
}

// The first error code sent to `conn`, or "".
std::string error_code_to(const Effects& fx, ConnId conn) {
  for (const Effect& e : fx)
    if (auto* s = std::get_if<effect::Send>(&e); s && s->to == conn && s->error) {
      auto v = json::parse(s->text);
      return v->find("code")->as_string();
    }
  return "";
}

json::Value cursor_at(int pos) {
  return *json::parse(R"({"cursor":{"pos":)" + std::to_string(pos) + "}}");
}

TEST(RoomCoreAccess, AReadOnlyMemberReadsButItsStepsAreForbidden) {
  Ready r;
  auto fx = r.core.join(3, "reader", "a", {"r", "u3", std::nullopt, std::nullopt}, r.now,
                        Access{.write = false, .presence = true});
  EXPECT_EQ(sent_to(fx, 3), std::vector<std::string>{"state"});
  fx = r.core.steps(3, {"r", 0, json::Value(json::Array{insert_step(1, "x")}), "u3"}, r.now);
  EXPECT_EQ(error_code_to(fx, 3), "forbidden");
  EXPECT_TRUE(all_of<effect::Persist>(fx).empty());
  EXPECT_TRUE(sent_to(fx, 1).empty());
  EXPECT_EQ(r.core.speculative_version(), 0);
  // It still receives the steps of writers.
  uint64_t batch = r.send_steps(1, "u1", 0, 1);
  fx = r.core.stored(batch, {}, r.now);
  EXPECT_EQ(sent_to(fx, 3), std::vector<std::string>{"steps"});
  // Its presence is allowed here.
  fx = r.core.presence(3, {"r", "u3", cursor_at(1), std::nullopt}, r.now);
  EXPECT_EQ(error_code_to(fx, 3), "");
  ASSERT_NE(r.core.presence_of("u3"), nullptr);
}

TEST(RoomCoreAccess, PresenceOfAMemberWithoutItIsForbiddenAndDroppedFromItsJoin) {
  Ready r;
  Access read_only{.write = false, .presence = false};
  auto fx =
      r.core.join(3, "reader", "a", {"r", "u3", cursor_at(1), std::nullopt}, r.now, read_only);
  EXPECT_EQ(sent_to(fx, 3), std::vector<std::string>{"state"});
  // The others hear of the join, without presence.
  for (const auto& b : all_of<effect::Broadcast>(fx))
    EXPECT_EQ(b.text.find("cursor"), std::string::npos) << b.text;
  const json::Value* entry = r.core.presence_of("u3");
  EXPECT_TRUE(!entry || entry->as_object().empty());
  fx = r.core.presence(3, {"r", "u3", cursor_at(1), std::nullopt}, r.now);
  EXPECT_EQ(error_code_to(fx, 3), "forbidden");
  entry = r.core.presence_of("u3");
  EXPECT_TRUE(!entry || entry->as_object().empty());
}

TEST(RoomCoreAccess, AResyncTakesTheAccessOfTheNewJoin) {
  Ready r;
  // u1 joins again (a resync) read-only: its steps are refused from then on.
  r.core.join(1, "", "a", {"r", "u1", std::nullopt, std::nullopt}, r.now, Access{.write = false});
  auto fx = r.core.steps(1, {"r", 0, json::Value(json::Array{insert_step(1, "x")}), "u1"}, r.now);
  EXPECT_EQ(error_code_to(fx, 1), "forbidden");
}

TEST(RoomCoreAccess, AnAdministratorRemovesOneMemberOrAll) {
  Ready r;
  size_t removed = 0;
  auto fx = r.core.remove_members(std::string("u1"), removed, r.now);
  EXPECT_EQ(removed, 1u);
  EXPECT_EQ(error_code_to(fx, 1), "forbidden");
  EXPECT_EQ(sent_to(fx, 2), std::vector<std::string>{"leave"});
  ASSERT_EQ(all_of<effect::Left>(fx).size(), 1u);
  EXPECT_EQ(all_of<effect::Left>(fx)[0].conn, 1u);
  EXPECT_EQ(r.core.member(1), nullptr);
  // Its steps now get not_joined.
  fx = r.core.steps(1, {"r", 0, json::Value(json::Array{insert_step(1, "x")}), "u1"}, r.now);
  EXPECT_EQ(error_code_to(fx, 1), "not_joined");
  // Nobody by that name: nothing happens.
  fx = r.core.remove_members(std::string("nobody"), removed, r.now);
  EXPECT_EQ(removed, 0u);
  EXPECT_TRUE(all_of<effect::Send>(fx).empty());
  // Everyone.
  r.core.join(1, "", "a", {"r", "u1", std::nullopt, std::nullopt}, r.now);
  fx = r.core.remove_members(std::nullopt, removed, r.now);
  EXPECT_EQ(removed, 2u);
  EXPECT_EQ(r.core.member_count(), 0u);
  EXPECT_EQ(all_of<effect::Left>(fx).size(), 2u);
}

ApiEdit api_steps(const std::string& user, int64_t version, int pos, const std::string& text) {
  return {.user_id = user,
          .version = version,
          .steps = json::Value(json::Array{insert_step(pos, text)}),
          .become = nullptr,
          .create = false,
          .creator = {}};
}

TEST(RoomCore, AnApiEditIsAnsweredWhenDurableAndBroadcastToEveryMember) {
  Ready r;
  auto fx = r.core.edit(5, api_steps("bot", 0, 1, "api "), r.now);
  auto persist = all_of<effect::Persist>(fx);
  ASSERT_EQ(persist.size(), 1u);
  EXPECT_EQ(persist[0].batch.steps[0].user_id, "bot");
  EXPECT_EQ(persist[0].batch.steps[0].time_ms, 1);    // the wall clock of the event
  EXPECT_TRUE(all_of<effect::EditDone>(fx).empty());  // not before it is durable
  // A member's batch on the old version conflicts: the edit is taken.
  auto conflict =
      r.core.steps(1, {"r", 0, json::Value(json::Array{insert_step(1, "x")}), "u1"}, r.now);
  EXPECT_EQ(sent_to(conflict, 1), std::vector<std::string>{"error"});
  fx = r.core.stored(persist[0].id, {}, r.now);
  auto done = all_of<effect::EditDone>(fx);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].request, 5u);
  EXPECT_EQ(done[0].result.status, EditResult::Status::ok);
  EXPECT_EQ(done[0].result.version, 1);
  EXPECT_EQ(sent_to(fx, 1), std::vector<std::string>{"steps"});
  EXPECT_EQ(sent_to(fx, 2), std::vector<std::string>{"steps"});
  EXPECT_EQ(json::to_wtf8(r.core.durable_doc()->text_content()), "api hello");
  ASSERT_EQ(all_of<effect::Durable>(fx).size(), 1u);
  EXPECT_EQ(all_of<effect::Durable>(fx)[0].version, 1);
}

TEST(RoomCore, AnApiEditIsCheckedLikeAMembersSteps) {
  Ready r;
  using Status = EditResult::Status;
  auto status = [&](Effects fx) {
    auto done = all_of<effect::EditDone>(fx);
    EXPECT_EQ(done.size(), 1u);
    EXPECT_TRUE(all_of<effect::Persist>(fx).empty());
    return done.empty() ? EditResult{} : done[0].result;
  };
  EditResult stale = status(r.core.edit(1, api_steps("bot", 3, 1, "x"), r.now));
  EXPECT_EQ(stale.status, Status::version_conflict);
  EXPECT_EQ(stale.version, 0);
  ApiEdit bad = api_steps("bot", 0, 1, "x");
  bad.steps = json::Value(json::Array{insert_step(1, "x"), insert_step(99, "y")});
  EditResult invalid = status(r.core.edit(2, bad, r.now));
  EXPECT_EQ(invalid.status, Status::invalid_steps);
  EXPECT_EQ(invalid.index, 1);
  // A member's userId: its client would take the steps for its own.
  EXPECT_EQ(status(r.core.edit(3, api_steps("u1", 0, 1, "x"), r.now)).status, Status::forbidden);
  ApiEdit not_array = api_steps("bot", 0, 1, "x");
  not_array.steps = json::Value("steps");
  EXPECT_EQ(status(r.core.edit(4, not_array, r.now)).status, Status::invalid_steps);
  EXPECT_EQ(r.core.durable_version(), 0);
  EXPECT_EQ(json::to_wtf8(r.core.durable_doc()->text_content()), "hello");
}

TEST(RoomCore, BecomeMakesTheDocumentEqualToAnother) {
  Ready r;
  const char* target =
      R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"help"}]},)"
      R"({"type":"paragraph"}]})";
  auto doc = model::Node::from_json(*config().schema, *json::parse(target));
  ApiEdit become{.user_id = "restore", .become = doc};
  auto fx = r.core.edit(9, become, r.now);
  auto persist = all_of<effect::Persist>(fx);
  ASSERT_EQ(persist.size(), 1u);
  r.core.stored(persist[0].id, {}, r.now);
  EXPECT_EQ(r.core.durable_doc()->to_json_string(), doc->to_json_string());
  // Already equal: nothing to do, answered at once with the current version.
  auto same = all_of<effect::EditDone>(r.core.edit(10, become, r.now));
  ASSERT_EQ(same.size(), 1u);
  EXPECT_EQ(same[0].result.status, EditResult::Status::ok);
  EXPECT_EQ(same[0].result.version, r.core.durable_version());
}

TEST(RoomCore, AnApiEditOfAnUnloadedRoomLoadsItAndUnloadsItAfter) {
  RoomCore core("r", config());
  Now now{Time{}, 1};
  auto fx = core.edit(1, api_steps("bot", 0, 1, "x"), now);
  ASSERT_EQ(all_of<effect::Load>(fx).size(), 1u);
  fx = core.loaded(std::optional<store::RoomData>(store::RoomData{0, kDoc, {}}), now);
  auto persist = all_of<effect::Persist>(fx);
  ASSERT_EQ(persist.size(), 1u);
  EXPECT_TRUE(all_of<effect::Unload>(fx).empty());  // not while the edit is in flight
  fx = core.stored(persist[0].id, {}, now);
  EXPECT_EQ(all_of<effect::EditDone>(fx).size(), 1u);
  EXPECT_EQ(all_of<effect::Snapshot>(fx).size(), 1u);  // unloading writes what changed
  EXPECT_EQ(all_of<effect::Unload>(fx).size(), 1u);
  // A missing room: not found, never created, unless the edit asks to create it.
  RoomCore missing("m", config());
  missing.edit(2, api_steps("bot", 0, 1, "x"), now);
  fx = missing.loaded(std::optional<store::RoomData>(), now);
  EXPECT_TRUE(all_of<effect::Create>(fx).empty());
  ASSERT_EQ(all_of<effect::EditDone>(fx).size(), 1u);
  EXPECT_EQ(all_of<effect::EditDone>(fx)[0].result.status, EditResult::Status::not_found);
  RoomCore made("n", config());
  ApiEdit create = api_steps("bot", 0, 1, "x");
  create.create = true;
  create.creator = "10.0.0.1";
  made.edit(3, create, now);
  fx = made.loaded(std::optional<store::RoomData>(), now);
  auto creates = all_of<effect::Create>(fx);
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].creator, "10.0.0.1");
  fx = made.created(Created::ok, now);
  EXPECT_EQ(all_of<effect::Persist>(fx).size(), 1u);
}

TEST(RoomCore, DeletingWaitsForBatchesInFlightAndRemovesTheMembers) {
  Ready r;
  uint64_t batch = r.send_steps(1, "u1", 0, 1);
  auto fx = r.core.delete_room(4, r.now);
  for (ConnId c : {1, 2}) EXPECT_EQ(sent_to(fx, c), std::vector<std::string>{"error"});
  EXPECT_EQ(all_of<effect::Left>(fx).size(), 2u);
  EXPECT_EQ(all_of<effect::Membership>(fx).size(), 2u);
  EXPECT_TRUE(all_of<effect::Delete>(fx).empty());  // the batch is still being written
  // Joins, reads and edits meanwhile are refused.
  EXPECT_EQ(sent_to(r.core.join(3, "", "a", {"r", "u3", std::nullopt, std::nullopt}, r.now), 3),
            std::vector<std::string>{"error"});
  auto edit = all_of<effect::EditDone>(r.core.edit(6, api_steps("bot", 1, 1, "x"), r.now));
  ASSERT_EQ(edit.size(), 1u);
  EXPECT_EQ(edit[0].result.status, EditResult::Status::not_found);
  fx = r.core.stored(batch, {}, r.now);
  auto deleted = all_of<effect::Delete>(fx);
  ASSERT_EQ(deleted.size(), 1u);
  EXPECT_EQ(deleted[0].request, 4u);
  EXPECT_TRUE(all_of<effect::Snapshot>(fx).empty());
  EXPECT_EQ(all_of<effect::Unload>(fx).size(), 1u);
  EXPECT_TRUE(r.core.closed());
}

TEST(RoomCore, MembershipEffectsNameWhoJoinedAndLeft) {
  RoomCore core("r", config());
  Now now{Time{}, 1};
  core.join(1, "", "a", {"r", "u1", std::nullopt, std::nullopt}, now);
  auto fx = core.loaded(std::optional<store::RoomData>(store::RoomData{0, kDoc, {}}), now);
  auto joined = all_of<effect::Membership>(fx);
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(joined[0].user_id, "u1");
  EXPECT_TRUE(joined[0].joined);
  // A replacement of the same userId is no new member.
  EXPECT_TRUE(all_of<effect::Membership>(
                  core.join(2, "", "a", {"r", "u1", std::nullopt, std::nullopt}, now))
                  .empty());
  auto left = all_of<effect::Membership>(core.disconnect(2, now));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_FALSE(left[0].joined);
}

// ---- the `rebase` extension (docs/protocol.md) ----

// The texts sent to `conn` (Send and Broadcast), in order, parsed.
std::vector<json::Value> texts_to(const Effects& fx, ConnId conn) {
  std::vector<json::Value> out;
  for (const Effect& e : fx) {
    if (auto* s = std::get_if<effect::Send>(&e); s && s->to == conn)
      out.push_back(*json::parse(s->text));
    if (auto* b = std::get_if<effect::Broadcast>(&e))
      for (ConnId to : b->to)
        if (to == conn) out.push_back(*json::parse(b->text));
  }
  return out;
}

std::string field(const json::Value& v, const char* key) {
  const json::Value* f = v.find(key);
  return f ? json::stringify(*f) : "";
}

// A ready room: 1 (u1, version 1), 2 (u2, rebase), 3 (u3, rebase), 4 (u4, version 1).
struct Mixed {
  RoomCore core;
  Now now{Time{}, 1};
  std::vector<Effects> joins;
  explicit Mixed(RoomConfig c = config()) : core("r", std::move(c)) {
    core.join(1, "", "a", {"r", "u1", std::nullopt, std::nullopt}, now);
    joins.push_back(core.loaded(std::optional<store::RoomData>(store::RoomData{0, kDoc, {}}), now));
    joins.push_back(core.join(2, "", "a", {"r", "u2", std::nullopt, std::nullopt, true}, now));
    joins.push_back(core.join(3, "", "a", {"r", "u3", std::nullopt, std::nullopt, true}, now));
    joins.push_back(core.join(4, "", "a", {"r", "u4", std::nullopt, std::nullopt}, now));
  }
  Effects steps(ConnId conn, const std::string& user, int64_t version, json::Array steps) {
    return core.steps(conn, {"r", version, json::Value(std::move(steps)), user}, now);
  }
};

uint64_t persisted(const Effects& fx) {
  auto p = all_of<effect::Persist>(fx);
  EXPECT_EQ(p.size(), 1u);
  return p.empty() ? 0 : p[0].id;
}

TEST(RoomCoreRebase, OfferedInTheStateOfAMemberThatAsks) {
  Mixed m;
  EXPECT_EQ(field(texts_to(m.joins[0], 1).at(0), "rebase"), "");
  EXPECT_EQ(field(texts_to(m.joins[1], 2).at(0), "rebase"), "true");
  EXPECT_EQ(field(texts_to(m.joins[3], 4).at(0), "rebase"), "");
  // Not offered when the server turns it off: the member speaks version 1.
  RoomConfig off = config();
  off.server_rebase = false;
  Mixed n(off);
  EXPECT_EQ(field(texts_to(n.joins[1], 2).at(0), "rebase"), "");
  n.steps(1, "u1", 0, {insert_step(1, "x")});
  auto fx = n.steps(2, "u2", 0, {insert_step(6, "y")});
  EXPECT_TRUE(all_of<effect::Persist>(fx).empty());
  EXPECT_EQ(field(texts_to(fx, 2).at(0), "code"), R"("version_conflict")");
}

TEST(RoomCoreRebase, ALateBatchIsRebasedAndAcknowledgedWithTheStepsAsApplied) {
  Mixed m;
  uint64_t first = persisted(m.steps(1, "u1", 0, {insert_step(1, "x")}));
  // u2 typed at the end of "hello" on version 0; u1's "x" moved it by one.
  uint64_t second = persisted(m.steps(2, "u2", 0, {insert_step(6, "y")}));
  // A version 1 member still gets version_conflict for a late batch.
  auto late = m.steps(4, "u4", 0, {insert_step(1, "z")});
  EXPECT_TRUE(all_of<effect::Persist>(late).empty());
  EXPECT_EQ(field(texts_to(late, 4).at(0), "code"), R"("version_conflict")");

  std::vector<std::pair<uint64_t, Result<void>>> results;
  results.emplace_back(first, Result<void>());
  results.emplace_back(second, Result<void>());
  auto fx = m.core.stored(std::move(results), m.now);
  EXPECT_EQ(json::to_wtf8(m.core.durable_doc()->text_content()), "xhelloy");
  EXPECT_EQ(m.core.durable_version(), 2);

  // u1 (version 1, sent the first batch): its ack, then u2's steps in a version 1 message.
  auto u1 = texts_to(fx, 1);
  ASSERT_EQ(u1.size(), 2u);
  EXPECT_EQ(field(u1[0], "type"), R"("ack")");
  EXPECT_EQ(field(u1[0], "steps"), "");
  EXPECT_EQ(field(u1[1], "type"), R"("steps")");
  EXPECT_EQ(field(u1[1], "userId"), R"("u2")");
  EXPECT_EQ(field(u1[1], "userIds"), "");
  // u2 (rebase, sent the second): u1's steps, then the ack with its step as applied.
  auto u2 = texts_to(fx, 2);
  ASSERT_EQ(u2.size(), 2u);
  EXPECT_EQ(field(u2[0], "type"), R"("steps")");
  EXPECT_EQ(field(u2[0], "userIds"), R"(["u1"])");
  EXPECT_EQ(field(u2[1], "type"), R"("ack")");
  EXPECT_EQ(field(u2[1], "version"), "2");
  EXPECT_EQ(
      field(u2[1], "steps"),
      R"([{"stepType":"replace","from":7,"to":7,"slice":{"content":[{"type":"text","text":"y"}]}}])");
  // u3 (rebase, sent nothing): both batches in one message, each step with its author.
  auto u3 = texts_to(fx, 3);
  ASSERT_EQ(u3.size(), 1u);
  EXPECT_EQ(field(u3[0], "version"), "0");
  EXPECT_EQ(field(u3[0], "userId"), R"("u1")");
  EXPECT_EQ(field(u3[0], "userIds"), R"(["u1","u2"])");
  EXPECT_EQ(u3[0].find("steps")->as_array().size(), 2u);
  // u4 (version 1, sent nothing): one message per author.
  auto u4 = texts_to(fx, 4);
  ASSERT_EQ(u4.size(), 2u);
  EXPECT_EQ(field(u4[0], "userId"), R"("u1")");
  EXPECT_EQ(field(u4[1], "userId"), R"("u2")");
  EXPECT_EQ(field(u4[1], "version"), "1");
  // The shared messages are written once for all their members.
  EXPECT_EQ(all_of<effect::Broadcast>(fx).size(), 3u);
}

TEST(RoomCoreRebase, ABatchWhoseEveryStepDroppedIsAcknowledgedAfterWhatCameBefore) {
  Mixed m;
  // u1 deletes "hello"; u2, on version 0, marks "el" bold: nothing is left to mark.
  auto del = *json::parse(R"({"stepType":"replace","from":1,"to":6})");
  auto mark = *json::parse(R"({"stepType":"addMark","from":2,"to":4,"mark":{"type":"strong"}})");
  uint64_t first = persisted(m.steps(1, "u1", 0, {del}));
  auto fx = m.steps(2, "u2", 0, {mark});
  EXPECT_TRUE(all_of<effect::Persist>(fx).empty());
  EXPECT_TRUE(texts_to(fx, 2).empty());  // waits for the deletion to be durable
  fx = m.core.stored(first, {}, m.now);
  auto u2 = texts_to(fx, 2);
  ASSERT_EQ(u2.size(), 2u);
  EXPECT_EQ(field(u2[0], "type"), R"("steps")");
  EXPECT_EQ(field(u2[1], "type"), R"("ack")");
  EXPECT_EQ(field(u2[1], "version"), "1");
  EXPECT_EQ(field(u2[1], "steps"), "[]");
  EXPECT_EQ(m.core.speculative_version(), 1);
  // With nothing in flight the answer comes at once.
  fx = m.steps(2, "u2", 0, {mark});
  u2 = texts_to(fx, 2);
  ASSERT_EQ(u2.size(), 1u);
  EXPECT_EQ(field(u2[0], "steps"), "[]");
}

// `echo`: the members that ask get every durable step, their own included, as one message
// they all share; a batch of theirs gets no ack unless every step was dropped.
TEST(RoomCoreRebase, EchoMembersShareOneBroadcastWithTheirOwnStepsInsteadOfAcks) {
  Mixed m;
  protocol::JoinMessage echo{"r", "u5", std::nullopt, std::nullopt, true, true};
  auto joined = m.core.join(5, "", "a", echo, m.now);
  EXPECT_EQ(field(texts_to(joined, 5).at(0), "echo"), "true");
  EXPECT_EQ(field(texts_to(m.joins[1], 2).at(0), "echo"), "");  // u2 did not ask
  protocol::JoinMessage v1_echo{"r", "u6", std::nullopt, std::nullopt, false, true};
  joined = m.core.join(6, "", "a", v1_echo, m.now);  // no echo without rebase
  EXPECT_EQ(field(texts_to(joined, 6).at(0), "echo"), "");
  EXPECT_EQ(field(texts_to(joined, 6).at(0), "rebase"), "");
  // u5 (echo) and u1 (version 1) type on version 0; u5's batch is rebased.
  uint64_t a = persisted(m.steps(1, "u1", 0, {insert_step(1, "x")}));
  uint64_t b = persisted(m.steps(5, "u5", 0, {insert_step(6, "y")}));
  auto fx = m.core.stored({{a, Result<void>()}, {b, Result<void>()}}, m.now);
  auto to5 = texts_to(fx, 5);
  ASSERT_EQ(to5.size(), 1u);
  EXPECT_EQ(field(to5[0], "type"), R"("steps")");
  EXPECT_EQ(field(to5[0], "userIds"), R"(["u1","u5"])");
  EXPECT_EQ(field(to5[0], "steps"), "[" + json::stringify(insert_step(1, "x")) + "," +
                                        json::stringify(insert_step(7, "y")) + "]");
  // u2 and u3 (rebase members without a batch here) get the same bytes: one Broadcast.
  bool shared = false;
  for (const auto& br : all_of<effect::Broadcast>(fx)) {
    std::vector<ConnId> to = br.to;
    std::sort(to.begin(), to.end());
    if (std::find(to.begin(), to.end(), ConnId{5}) != to.end()) {
      EXPECT_EQ(to, (std::vector<ConnId>{2, 3, 5}));
      shared = true;
    }
  }
  EXPECT_TRUE(shared);
  // u1 (version 1, no echo) gets its ack and then u5's steps.
  EXPECT_EQ(sent_to(fx, 1), (std::vector<std::string>{"ack", "steps"}));
  // A batch of u5's whose every step drops: an empty ack at the version it has.
  auto del = *json::parse(R"({"stepType":"replace","from":1,"to":8})");
  auto mark = *json::parse(R"({"stepType":"addMark","from":2,"to":4,"mark":{"type":"strong"}})");
  uint64_t c = persisted(m.steps(1, "u1", 2, {del}));
  fx = m.steps(5, "u5", 2, {mark});
  EXPECT_TRUE(texts_to(fx, 5).empty());
  fx = m.core.stored(c, {}, m.now);
  to5 = texts_to(fx, 5);
  ASSERT_EQ(to5.size(), 2u);
  EXPECT_EQ(field(to5[0], "type"), R"("steps")");
  EXPECT_EQ(field(to5[1], "type"), R"("ack")");
  EXPECT_EQ(field(to5[1], "version"), "3");
  EXPECT_EQ(field(to5[1], "steps"), "[]");
}

TEST(RoomCoreRebase, OnlyVersionsInTheHistoryAreRebasedAndStepsMustParse) {
  RoomConfig c = config();
  c.history_steps = 2;
  Mixed m(c);
  for (int v = 0; v < 3; ++v) {
    uint64_t id = persisted(m.steps(1, "u1", v, {insert_step(1, "x")}));
    m.core.stored(id, {}, m.now);
  }
  // The history keeps versions 1..3: version 0 is too old, 4 is above the room's.
  for (int64_t version : {0, 4}) {
    auto fx = m.steps(2, "u2", version, {insert_step(1, "y")});
    EXPECT_TRUE(all_of<effect::Persist>(fx).empty());
    ASSERT_EQ(texts_to(fx, 2).size(), 1u);
    EXPECT_EQ(field(texts_to(fx, 2)[0], "code"), R"("version_conflict")");
    EXPECT_EQ(field(texts_to(fx, 2)[0], "version"), "3");
  }
  // A step that does not parse rejects the batch, as in version 1.
  auto fx = m.steps(2, "u2", 1, {insert_step(1, "y"), *json::parse(R"({"stepType":"nope"})")});
  EXPECT_TRUE(all_of<effect::Persist>(fx).empty());
  auto error = texts_to(fx, 2).at(0);
  EXPECT_EQ(field(error, "code"), R"("invalid_steps")");
  EXPECT_EQ(field(error, "index"), "1");
  // Positions outside the document of the version named cannot be mapped (they could
  // overflow): invalid_steps, where version 1 would fail to apply them.
  auto far = *json::parse(R"({"stepType":"replace","from":-2147483648,"to":1820287557})");
  for (const json::Value& bad : {far, insert_step(10, "y")}) {
    fx = m.steps(2, "u2", 1, {insert_step(1, "y"), bad});
    EXPECT_TRUE(all_of<effect::Persist>(fx).empty());
    error = texts_to(fx, 2).at(0);
    EXPECT_EQ(field(error, "code"), R"("invalid_steps")");
    EXPECT_EQ(field(error, "index"), "1");
  }
  // Version 1 of the history is still fine ("xhello" and "y": 8 is the end of the text,
  // 9 of the document; 10 is beyond it).
  persisted(m.steps(2, "u2", 1, {insert_step(1, "y"), insert_step(8, "z")}));
}

// A lost ack: u2's connection drops with its batch in flight; its new connection's join waits
// until the batch is durable, so the state lists it (and the client does not send it again).
TEST(RoomCoreRebase, AJoinWaitsForTheBatchInFlightOfItsUserId) {
  Mixed m;
  uint64_t id = persisted(m.steps(2, "u2", 0, {insert_step(1, "y")}));
  m.core.disconnect(2, m.now);
  auto fx = m.core.join(9, "", "a", {"r", "u2", std::nullopt, 0, true}, m.now);
  EXPECT_TRUE(texts_to(fx, 9).empty());
  EXPECT_TRUE(m.core.joining(9));
  fx = m.core.stored(id, {}, m.now);
  auto u2 = texts_to(fx, 9);
  ASSERT_EQ(u2.size(), 1u);
  EXPECT_EQ(field(u2[0], "type"), R"("state")");
  EXPECT_EQ(field(u2[0], "version"), "1");
  EXPECT_EQ(field(u2[0], "userIds"), R"(["u2"])");
  EXPECT_EQ(field(u2[0], "rebase"), "true");
  EXPECT_TRUE(m.core.member(9));
  // A join that waits is refused when the room fails meanwhile.
  id = persisted(m.steps(9, "u2", 1, {insert_step(1, "z")}));
  m.core.disconnect(9, m.now);
  m.core.join(10, "", "a", {"r", "u2", std::nullopt, 1, true}, m.now);
  fx = m.core.stored(id, Error{ErrorCode::internal, "disk"}, m.now);
  EXPECT_EQ(field(texts_to(fx, 10).at(0), "code"), R"("internal")");
  EXPECT_FALSE(m.core.joining(10));
}

// ---- presence: one broadcast per interval for the whole room ----

using std::chrono::milliseconds;

// The texts of the `presence` messages sent to `conn` (Send and Broadcast), in order.
std::vector<std::string> presence_to(const Effects& fx, ConnId conn) {
  std::vector<std::string> out;
  auto is_presence = [](const std::string& text) {
    return json::parse(text)->find("type")->as_string() == "presence";
  };
  for (const Effect& e : fx) {
    if (auto* s = std::get_if<effect::Send>(&e); s && s->to == conn && is_presence(s->text))
      out.push_back(s->text);
    if (auto* b = std::get_if<effect::Broadcast>(&e))
      for (ConnId to : b->to)
        if (to == conn && is_presence(b->text)) out.push_back(b->text);
  }
  return out;
}

// The `users` of a presence text, as JSON text.
std::string users_of(const std::string& text) {
  return json::stringify(*json::parse(text)->find("users"));
}

int64_t version_of(const std::string& text) {
  return static_cast<int64_t>(json::parse(text)->find("version")->as_number());
}

// The wake-up the core asked for last in `fx` (nullopt: none asked, or cleared).
std::optional<Time> wake_in(const Effects& fx) {
  std::optional<Time> at;
  for (const auto& w : all_of<effect::WakeAt>(fx)) at = w.at;
  return at;
}

// Ready with u3 (connection 3) and u4 (connection 4) too; the room's interval is 50 ms.
struct Crowd : Ready {
  Crowd() {
    core.join(3, "", "a", {"r", "u3", std::nullopt, std::nullopt}, now);
    core.join(4, "", "a", {"r", "u4", std::nullopt, std::nullopt}, now);
  }
  Effects presence(ConnId conn, const std::string& user, int pos, int at_ms) {
    now.mono = Time{} + milliseconds(at_ms);
    return core.presence(conn, {"r", user, cursor_at(pos), std::nullopt}, now);
  }
  Effects tick(int at_ms) {
    now.mono = Time{} + milliseconds(at_ms);
    return core.tick(now);
  }
};

TEST(RoomCorePresence, ChangesWithinAnIntervalGoOutTogetherOncePerMember) {
  Crowd r;
  // The first change in a quiet room goes out at once, with one entry, to the others.
  auto fx = r.presence(1, "u1", 1, 1000);
  for (ConnId c : {2, 3, 4}) {
    auto got = presence_to(fx, c);
    ASSERT_EQ(got.size(), 1u) << c;
    EXPECT_EQ(users_of(got[0]), R"({"u1":{"cursor":{"pos":1}}})");
  }
  EXPECT_TRUE(presence_to(fx, 1).empty());
  // Within the interval: u2, then u3, then u2 again are held; nothing is sent.
  fx = r.presence(2, "u2", 2, 1010);
  EXPECT_EQ(wake_in(fx), Time{} + milliseconds(1050));
  auto more = r.presence(3, "u3", 3, 1020);
  auto again = r.presence(2, "u2", 4, 1030);
  for (ConnId c : {1, 2, 3, 4}) {
    EXPECT_TRUE(presence_to(fx, c).empty()) << c;
    EXPECT_TRUE(presence_to(more, c).empty()) << c;
    EXPECT_TRUE(presence_to(again, c).empty()) << c;
  }
  fx = r.tick(1049);
  for (ConnId c : {1, 2, 3, 4}) EXPECT_TRUE(presence_to(fx, c).empty()) << c;
  // When the interval ends: one message per member with every held entry (u2's latest) in the
  // order first held, a member's own left out.
  fx = r.tick(1050);
  for (ConnId c : {1, 4}) {
    auto got = presence_to(fx, c);
    ASSERT_EQ(got.size(), 1u) << c;
    EXPECT_EQ(users_of(got[0]), R"({"u2":{"cursor":{"pos":4}},"u3":{"cursor":{"pos":3}}})");
    EXPECT_EQ(version_of(got[0]), 0);
  }
  auto to2 = presence_to(fx, 2), to3 = presence_to(fx, 3);
  ASSERT_EQ(to2.size(), 1u);
  ASSERT_EQ(to3.size(), 1u);
  EXPECT_EQ(users_of(to2[0]), R"({"u3":{"cursor":{"pos":3}}})");
  EXPECT_EQ(users_of(to3[0]), R"({"u2":{"cursor":{"pos":4}}})");
  // The members not held share one text: one Broadcast to both.
  auto broadcasts = all_of<effect::Broadcast>(fx);
  ASSERT_EQ(broadcasts.size(), 1u);
  std::vector<ConnId> to = broadcasts[0].to;
  std::sort(to.begin(), to.end());
  EXPECT_EQ(to, (std::vector<ConnId>{1, 4}));
  EXPECT_FALSE(wake_in(fx).has_value());
  // Nothing is left to send.
  fx = r.tick(2000);
  for (ConnId c : {1, 2, 3, 4}) EXPECT_TRUE(presence_to(fx, c).empty()) << c;
}

TEST(RoomCorePresence, TheRoomsIntervalCountsFromItsLastBroadcast) {
  Crowd r;
  r.presence(1, "u1", 1, 1000);  // at once
  // Another user within the interval is held, though it sent nothing before.
  auto fx = r.presence(2, "u2", 2, 1049);
  EXPECT_TRUE(presence_to(fx, 1).empty());
  fx = r.tick(1050);
  EXPECT_EQ(presence_to(fx, 1).size(), 1u);
  EXPECT_TRUE(presence_to(fx, 2).empty());  // a lone held user has nothing to hear
  // The flush was a broadcast: a change 10 ms later waits for its interval to end.
  fx = r.presence(3, "u3", 3, 1060);
  EXPECT_TRUE(presence_to(fx, 1).empty());
  EXPECT_EQ(wake_in(fx), Time{} + milliseconds(1100));
  EXPECT_EQ(presence_to(r.tick(1100), 1).size(), 1u);
  // After a quiet interval the first change goes out at once again.
  fx = r.presence(2, "u2", 5, 1150);
  auto got = presence_to(fx, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(users_of(got[0]), R"({"u2":{"cursor":{"pos":5}}})");
}

TEST(RoomCorePresence, AHeldUserWhoLeavesIsNotSent) {
  Crowd r;
  r.presence(1, "u1", 1, 1000);
  r.presence(2, "u2", 2, 1010);
  r.presence(3, "u3", 3, 1020);
  r.core.leave(2, {"r", "u2"}, r.now);
  auto fx = r.tick(1050);
  EXPECT_TRUE(presence_to(fx, 2).empty());  // no longer a member
  for (ConnId c : {1, 4}) {
    auto got = presence_to(fx, c);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(users_of(got[0]), R"({"u3":{"cursor":{"pos":3}}})");
  }
  EXPECT_TRUE(presence_to(fx, 3).empty());
  // When every held user left (one disconnects, one is removed), nothing is sent.
  r.presence(1, "u1", 1, 1100);
  r.presence(3, "u3", 4, 1110);
  r.presence(4, "u4", 5, 1120);
  r.core.disconnect(3, r.now);
  size_t removed = 0;
  fx = r.core.remove_members("u4", removed, r.now);
  EXPECT_EQ(removed, 1u);
  EXPECT_FALSE(wake_in(fx).has_value());
  fx = r.tick(1150);
  EXPECT_TRUE(presence_to(fx, 1).empty());
  // A replaced session's held entry is not sent either: the new session's join carries its own.
  r.core.join(5, "", "a", {"r", "u5", std::nullopt, std::nullopt}, r.now);
  r.presence(1, "u1", 1, 1200);
  r.presence(5, "u5", 6, 1210);
  fx = r.core.join(6, "", "a", {"r", "u5", cursor_at(7), std::nullopt}, r.now);
  EXPECT_EQ(sent_to(fx, 5), std::vector<std::string>{"error"});
  EXPECT_TRUE(presence_to(r.tick(1250), 1).empty());
}

TEST(RoomCorePresence, HeldEntriesReferToTheDurableVersionWhenTheyGoOut) {
  Crowd r;
  r.presence(1, "u1", 1, 1000);
  r.presence(2, "u2", 3, 1010);  // held at version 0
  // A joiner between hold and flush gets the entry in its state and again in the flush.
  auto fx = r.core.join(5, "", "a", {"r", "u5", std::nullopt, std::nullopt}, r.now);
  auto sends = all_of<effect::Send>(fx);
  ASSERT_EQ(sends.size(), 1u);
  auto state = json::parse(sends[0].text);
  EXPECT_EQ(json::stringify(*state->find("users")->find("u2")), R"({"cursor":{"pos":3}})");
  // Two characters are inserted at 1 and become durable before the flush.
  uint64_t batch = r.send_steps(1, "u1", 0, 1);
  r.core.stored(batch, {}, r.now);
  batch = r.send_steps(1, "u1", 1, 1);
  fx = r.tick(1050);  // the second batch is still in flight: the durable version is 1
  ASSERT_EQ(presence_to(fx, 5).size(), 1u);
  EXPECT_EQ(users_of(presence_to(fx, 5)[0]), R"({"u2":{"cursor":{"pos":4}}})");
  EXPECT_EQ(version_of(presence_to(fx, 5)[0]), 1);
  r.core.stored(batch, {}, r.now);
  r.presence(2, "u2", 1, 1060);
  r.presence(3, "u3", 2, 1070);
  r.presence(3, "u3", 3, 1080);  // version 2's position 3
  fx = r.tick(1100);
  auto got = presence_to(fx, 4);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(version_of(got[0]), 2);
  EXPECT_EQ(users_of(got[0]), R"({"u2":{"cursor":{"pos":1}},"u3":{"cursor":{"pos":3}}})");
}

TEST(RoomCorePresence, ACoalescedMessageIsLosslessInTheBinarySubprotocol) {
  Crowd r;
  r.presence(1, "u1", 1, 1000);
  r.core.presence(2, {"r", "u2", *json::parse(R"({"name":"B\u00e9","n":1.5,"x":null})"), 0}, r.now);
  r.presence(3, "u3", 3, 1020);
  auto fx = r.tick(1050);
  std::vector<std::string> texts;
  for (ConnId c : {1, 2, 3, 4})
    for (const auto& t : presence_to(fx, c)) texts.push_back(t);
  ASSERT_EQ(texts.size(), 4u);
  for (const std::string& text : texts) {
    // What a binary member receives: the adapter's Payload encodes the JSON text.
    std::string bytes = protocol::encode_binary(*json::parse(text));
    auto back = protocol::decode_binary(bytes);
    ASSERT_TRUE(back.ok()) << text;
    EXPECT_EQ(json::stringify(*back), text);
    auto m = protocol::decode_server_message(text);
    ASSERT_TRUE(m.ok()) << text;
    ASSERT_TRUE(std::holds_alternative<protocol::ServerPresence>(*m));
  }
  EXPECT_EQ(users_of(presence_to(fx, 1)[0]),
            R"({"u2":{"name":"Bé","n":1.5,"x":null},"u3":{"cursor":{"pos":3}}})");
}

}  // namespace
// ---- hot rooms: broadcasts held back (docs/protocol.md "Hot rooms") ----

// u1 (1), u2 (2) and u3 (3) in a room that is hot from its second durable step on, with a
// 10 ms broadcast interval.
struct Hot {
  RoomCore core{"r", [] {
                  RoomConfig c = config();
                  c.broadcast_interval_ms = 10;
                  c.broadcast_hot_steps = 2;
                  return c;
                }()};
  Now now{Time{} + milliseconds(1000), 1};
  Hot() {
    core.join(1, "", "a", {"r", "u1", std::nullopt, std::nullopt}, now);
    core.loaded(std::optional<store::RoomData>(store::RoomData{0, kDoc, {}}), now);
    core.join(2, "", "a", {"r", "u2", std::nullopt, std::nullopt}, now);
    core.join(3, "", "a", {"r", "u3", std::nullopt, std::nullopt}, now);
  }
  void at(int ms) { now.mono = Time{} + milliseconds(ms); }
  // `user` (connection `conn`) types at `pos` on `version`; the store confirms it at once.
  Effects type(ConnId conn, const std::string& user, int64_t version, int pos) {
    auto fx = core.steps(
        conn, {"r", version, json::Value(json::Array{insert_step(pos, "x")}), user}, now);
    auto persist = all_of<effect::Persist>(fx);
    EXPECT_EQ(persist.size(), 1u);
    if (persist.empty()) return fx;
    return core.stored(persist[0].id, Result<void>(), now);
  }
};

TEST(RoomCoreBroadcast, AHotRoomSendsAtMostOncePerIntervalAndAcksInOrder) {
  Hot h;
  // Not hot yet: at once.
  auto fx = h.type(1, "u1", 0, 1);
  EXPECT_EQ(sent_to(fx, 1), std::vector<std::string>{"ack"});
  EXPECT_EQ(sent_to(fx, 2), std::vector<std::string>{"steps"});
  // Hot now (two steps this second), and within 10 ms of the last broadcast: held back, the
  // ack too, with a wake-up at the interval's end.
  h.at(1004);
  fx = h.type(2, "u2", 1, 1);
  for (ConnId c : {1, 2, 3}) EXPECT_TRUE(sent_to(fx, c).empty()) << c;
  EXPECT_EQ(wake_in(fx), Time{} + milliseconds(1010));
  EXPECT_EQ(h.core.durable_version(), 2);
  EXPECT_EQ(h.core.sent_version(), 1);
  h.at(1006);
  fx = h.type(3, "u3", 2, 1);
  h.at(1008);
  auto more = h.type(1, "u1", 3, 1);
  for (ConnId c : {1, 2, 3}) {
    EXPECT_TRUE(sent_to(fx, c).empty()) << c;
    EXPECT_TRUE(sent_to(more, c).empty()) << c;
  }
  h.at(1009);
  EXPECT_TRUE(all_of<effect::Send>(h.core.tick(h.now)).empty());
  // The interval ends: each member gets the steps before its own batch, its ack, the steps
  // after, as few messages as that allows.
  h.at(1010);
  fx = h.core.tick(h.now);
  // (Version 1 members: one `steps` message per run of one user's steps.)
  EXPECT_EQ(sent_to(fx, 1), (std::vector<std::string>{"steps", "steps", "ack"}));
  EXPECT_EQ(sent_to(fx, 2), (std::vector<std::string>{"ack", "steps", "steps"}));
  EXPECT_EQ(sent_to(fx, 3), (std::vector<std::string>{"steps", "ack", "steps"}));
  auto versions = [&](ConnId c) {
    std::vector<int64_t> out;
    for (const json::Value& m : texts_to(fx, c))
      out.push_back(static_cast<int64_t>(m.find("version")->as_number()));
    return out;
  };
  EXPECT_EQ(versions(1), (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(versions(2), (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(versions(3), (std::vector<int64_t>{1, 3, 3}));
  EXPECT_EQ(h.core.sent_version(), 4);
  EXPECT_FALSE(wake_in(fx).has_value());
}

TEST(RoomCoreBroadcast, AJoinAndPresenceNeverGetAheadOfTheStepsHeldBack) {
  Hot h;
  h.type(1, "u1", 0, 1);
  h.at(1002);
  h.type(1, "u1", 1, 1);  // held: hot, within the interval
  EXPECT_EQ(h.core.sent_version(), 1);
  // A presence change goes out at once (the room's first): the steps go out before it.
  auto fx = h.core.presence(3, {"r", "u3", cursor_at(1), std::nullopt}, h.now);
  EXPECT_EQ(sent_to(fx, 2), (std::vector<std::string>{"steps", "presence"}));
  EXPECT_EQ(sent_to(fx, 1), (std::vector<std::string>{"ack", "presence"}));
  EXPECT_EQ(h.core.sent_version(), 2);
  // Held again; a join then gets its state at the durable version after the others got the
  // steps up to it.
  h.at(1004);
  h.type(2, "u2", 2, 1);
  EXPECT_EQ(h.core.sent_version(), 2);
  fx = h.core.join(4, "", "a", {"r", "u4", std::nullopt, std::nullopt}, h.now);
  EXPECT_EQ(sent_to(fx, 1), (std::vector<std::string>{"steps", "join"}));
  EXPECT_EQ(sent_to(fx, 2), (std::vector<std::string>{"ack", "join"}));
  EXPECT_EQ(sent_to(fx, 4), std::vector<std::string>{"state"});
  EXPECT_EQ(texts_to(fx, 4).at(0).find("version")->as_number(), 3);
  EXPECT_EQ(h.core.sent_version(), 3);
}

TEST(RoomCoreBroadcast, AQuietRoomOrAZeroIntervalSendsAtOnce) {
  for (int variant = 0; variant < 2; ++variant) {
    RoomConfig c = config();
    c.broadcast_interval_ms = variant == 0 ? 10 : 0;
    c.broadcast_hot_steps = variant == 0 ? 1000 : 1;
    RoomCore core{"r", c};
    Now now{Time{} + milliseconds(1000), 1};
    core.join(1, "", "a", {"r", "u1", std::nullopt, std::nullopt}, now);
    core.loaded(std::optional<store::RoomData>(store::RoomData{0, kDoc, {}}), now);
    core.join(2, "", "a", {"r", "u2", std::nullopt, std::nullopt}, now);
    for (int i = 0; i < 20; ++i) {
      now.mono += milliseconds(1);
      auto fx = core.steps(1, {"r", i, json::Value(json::Array{insert_step(1, "x")}), "u1"}, now);
      fx = core.stored(all_of<effect::Persist>(fx).at(0).id, Result<void>(), now);
      EXPECT_EQ(sent_to(fx, 1), std::vector<std::string>{"ack"}) << variant << " " << i;
      EXPECT_EQ(sent_to(fx, 2), std::vector<std::string>{"steps"}) << variant << " " << i;
    }
  }
}

// The rate is measured over 100 ms: 100 steps a second is 10 steps in a tenth of a second.
// The tenth step makes the room hot and, within the interval, is held back; 200 ms
// without steps cools it down again.
TEST(RoomCoreBroadcast, ARoomIsHotWithinATenthOfASecondOfItsRate) {
  RoomConfig c = config();
  c.broadcast_interval_ms = 10;
  c.broadcast_hot_steps = 100;
  RoomCore core{"r", c};
  Now now{Time{} + milliseconds(1000), 1};
  core.join(1, "", "a", {"r", "u1", std::nullopt, std::nullopt}, now);
  core.loaded(std::optional<store::RoomData>(store::RoomData{0, kDoc, {}}), now);
  core.join(2, "", "a", {"r", "u2", std::nullopt, std::nullopt}, now);
  int64_t version = 0;
  auto type = [&](int ms) {
    now.mono = Time{} + milliseconds(ms);
    auto fx =
        core.steps(1, {"r", version++, json::Value(json::Array{insert_step(1, "x")}), "u1"}, now);
    return core.stored(all_of<effect::Persist>(fx).at(0).id, Result<void>(), now);
  };
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(sent_to(type(1001 + i), 2), std::vector<std::string>{"steps"}) << i;
  EXPECT_TRUE(sent_to(type(1010), 2).empty());  // hot: within 10 ms of the last broadcast
  now.mono = Time{} + milliseconds(1019);
  EXPECT_EQ(sent_to(core.tick(now), 2), std::vector<std::string>{"steps"});
  // Quiet for over two windows: cool again, two steps 1 ms apart both go out at once.
  EXPECT_EQ(sent_to(type(1300), 2), std::vector<std::string>{"steps"});
  EXPECT_EQ(sent_to(type(1301), 2), std::vector<std::string>{"steps"});
}

}  // namespace rtpm::room
