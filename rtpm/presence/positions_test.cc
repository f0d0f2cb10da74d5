#include "rtpm/presence/positions.h"

#include <climits>

#include <gtest/gtest.h>

namespace rtpm::presence {
namespace {

json::Value parse(const std::string& text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::Value();
}

std::string mapped(const std::string& entry, const transform::Mappable& mapping, int doc_size,
                   int assoc = 1) {
  return json::stringify(map_positions(parse(entry), mapping, doc_size, assoc));
}

// Inserting 3 positions at 4 of a document of content size 10.
const transform::StepMap kInsert3At4({4, 0, 3});

TEST(PresencePositions, MapsOnlyCursorAndSelectionPositions) {
  EXPECT_EQ(
      mapped(
          R"({"name":"x","cursor":{"pos":5,"coords":{"x":5}},"selection":{"from":2,"to":6,"anchor":6,"head":2,"pos":5},"pos":5})",
          kInsert3At4, 10),
      R"({"name":"x","cursor":{"pos":8,"coords":{"x":5}},"selection":{"from":2,"to":9,"anchor":9,"head":2,"pos":5},"pos":5})");
}

TEST(PresencePositions, AssocPicksTheSideOfAnInsertion) {
  EXPECT_EQ(mapped(R"({"cursor":{"pos":4}})", kInsert3At4, 10), R"({"cursor":{"pos":7}})");
  EXPECT_EQ(mapped(R"({"cursor":{"pos":4}})", kInsert3At4, 10, -1), R"({"cursor":{"pos":4}})");
}

// Issue 10 finding 9 and issue 11: none of these is a position; each passes
// through exactly as it came (never cast to int), in the cursor and in every
// selection field.
TEST(PresencePositions, ValuesThatAreNotPositionsPassThroughUnchanged) {
  for (const char* bad : {"1e12", "-1", "1.5", "\"3\"", "null", "true", "{}", "[4]", "2147483647",
                          "-2147483649", "1e308", "4294967296", "11", "-0.5"}) {
    std::string v(bad);
    std::string entry = R"({"cursor":{"pos":)" + v + R"(},"selection":{"from":)" + v + R"(,"to":)" +
                        v + R"(,"anchor":)" + v + R"(,"head":)" + v + "}}";
    bool moved = true;
    json::Value out = map_positions(parse(entry), kInsert3At4, 10, 1, &moved);
    EXPECT_EQ(json::stringify(out), json::stringify(parse(entry))) << bad;
    EXPECT_FALSE(moved) << bad;
  }
}

// The largest int, one insertion before it: not a position of a 10-long
// document, so it comes back as it went (it once came back as -2147483648).
TEST(PresencePositions, LargestIntIsNotMappedAndNeverOverflows) {
  EXPECT_EQ(mapped(R"({"cursor":{"pos":2147483647}})", transform::StepMap({0, 0, 1}), 10),
            R"({"cursor":{"pos":2147483647}})");
  EXPECT_EQ(mapped(R"({"cursor":{"pos":9007199254740991}})", transform::StepMap({0, 0, 1}), 10),
            R"({"cursor":{"pos":9007199254740991}})");
}

TEST(PresencePositions, TheDocumentEndIsAPositionAndOneBeyondIsNot) {
  EXPECT_EQ(mapped(R"({"cursor":{"pos":10}})", kInsert3At4, 10), R"({"cursor":{"pos":13}})");
  EXPECT_EQ(mapped(R"({"cursor":{"pos":11}})", kInsert3At4, 10), R"({"cursor":{"pos":11}})");
  EXPECT_EQ(mapped(R"({"cursor":{"pos":0}})", transform::StepMap({0, 0, 2}), 0),
            R"({"cursor":{"pos":2}})");
  // Integer-valued doubles are integers, as Number.isInteger says.
  EXPECT_EQ(mapped(R"({"cursor":{"pos":5.0}})", kInsert3At4, 10), R"({"cursor":{"pos":8}})");
}

TEST(PresencePositions, MixedEntryMapsTheGoodFieldsOnly) {
  EXPECT_EQ(mapped(R"({"selection":{"anchor":1e12,"head":6,"from":-1,"to":"7"}})", kInsert3At4, 10),
            R"({"selection":{"anchor":1000000000000,"head":9,"from":-1,"to":"7"}})");
}

TEST(PresencePositions, NonObjectsPassThrough) {
  EXPECT_EQ(mapped(R"([1,2])", kInsert3At4, 10), "[1,2]");
  EXPECT_EQ(mapped(R"({"cursor":5,"selection":[5]})", kInsert3At4, 10),
            R"({"cursor":5,"selection":[5]})");
  bool moved = true;
  map_positions(parse(R"({"cursor":{"pos":2}})"), kInsert3At4, 10, 1, &moved);
  EXPECT_FALSE(moved);  // before the insertion: unchanged
}

TEST(PresencePositions, DeletionsMapIntoTheResultingDocument) {
  // Delete 4..8 of a 10-long document: positions inside collapse to 4, after shift back.
  transform::StepMap del({4, 4, 0});
  EXPECT_EQ(mapped(R"({"selection":{"from":5,"to":10}})", del, 10),
            R"({"selection":{"from":4,"to":6}})");
}

// PositionFields keeps the values as numbers across many changes and gives
// what map_positions() applied change by change gives, rebuilding the JSON
// only when read.
TEST(PresencePositions, FieldsMappedManyTimesMatchMapPositions) {
  json::Value entry = parse(
      R"({"cursor":{"pos":4,"x":1},"selection":{"from":9,"to":"2","anchor":12,"head":1.5},"n":4})");
  // Insert 3 at 4 (size 10 -> 13), delete 0..2 (-> 11), insert 5 at 11 (-> 16).
  std::vector<std::pair<transform::StepMap, int>> changes = {{transform::StepMap({4, 0, 3}), 10},
                                                             {transform::StepMap({0, 2, 0}), 13},
                                                             {transform::StepMap({11, 0, 5}), 11}};
  PositionFields fields(entry);
  json::Value step_by_step = entry;
  for (const auto& [map, size] : changes) {
    fields.map(map, size);
    step_by_step = map_positions(step_by_step, map, size);
    EXPECT_EQ(json::stringify(fields.apply(entry)), json::stringify(step_by_step));
  }
  // 12 was past the end of the 10-long document, and inside the 13-long one
  // after the first insertion: from then on it is a position, as on the server.
  EXPECT_EQ(
      json::stringify(fields.apply(entry)),
      R"({"cursor":{"pos":5,"x":1},"selection":{"from":10,"to":"2","anchor":10,"head":1.5},"n":4})");
  // Unchanged fields give back the very same value.
  PositionFields none(entry);
  EXPECT_EQ(json::stringify(none.apply(entry)), json::stringify(entry));
  EXPECT_FALSE(none.map(transform::StepMap({20, 0, 1}), 30));
}

TEST(PresencePositions, SizeBeforeUndoesEachMapsSizeChange) {
  transform::Mapping m;
  m.append_map(transform::StepMap({4, 0, 3}));           // +3
  m.append_map(transform::StepMap({1, 2, 0}));           // -2
  m.append_map(transform::StepMap({0, 1, 5, 8, 2, 2}));  // +4, 0
  EXPECT_EQ(size_before(m, 20), 20 - 3 + 2 - 4);
  EXPECT_EQ(size_before(m.slice(1), 20), 20 + 2 - 4);
  EXPECT_EQ(size_before(m.invert(), 15), 20);
  EXPECT_EQ(size_before(transform::Mapping(), 7), 7);
}

}  // namespace
}  // namespace rtpm::presence
