#include "rtpm/presence/presence_store.h"

#include <gtest/gtest.h>

namespace rtpm::presence {
namespace {

json::Value parse(const char* text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::Value();
}

TEST(PresenceStore, MembersWithoutPresenceAreEmptyObjects) {
  PresenceStore s;
  s.add_member("a");
  s.set("b", parse(R"({"cursor":{"pos":1}})"));
  EXPECT_EQ(s.all_json(), R"({"a":{},"b":{"cursor":{"pos":1}}})");
  EXPECT_TRUE(s.remove("a"));
  EXPECT_FALSE(s.remove("a"));
  EXPECT_EQ(s.all_json(), R"({"b":{"cursor":{"pos":1}}})");
}

TEST(PresenceStore, MapsOnlyPositionFields) {
  PresenceStore s;
  s.set(
      "u",
      parse(
          R"({"name":"x","cursor":{"pos":5,"coords":{"x":5}},"selection":{"from":2,"to":6,"anchor":6,"head":2,"pos":5},"pos":5})"));
  s.take_changes();
  // Insert 3 positions at 4.
  s.map_through(transform::StepMap({4, 0, 3}), 10);
  EXPECT_EQ(
      s.all_json(),
      R"({"u":{"name":"x","cursor":{"pos":8,"coords":{"x":5}},"selection":{"from":2,"to":9,"anchor":9,"head":2,"pos":5},"pos":5}})");
  // Mapping alone does not schedule a broadcast.
  EXPECT_FALSE(s.has_changes());
}

TEST(PresenceStore, TakeChangesCoalesces) {
  PresenceStore s;
  s.set("a", parse(R"({"cursor":{"pos":1}})"));
  s.set("a", parse(R"({"cursor":{"pos":2}})"));
  s.set("b", parse(R"({})"));
  ASSERT_TRUE(s.has_changes());
  EXPECT_EQ(s.take_changes(), R"({"a":{"cursor":{"pos":2}},"b":{}})");
  EXPECT_FALSE(s.has_changes());
  EXPECT_EQ(s.take_changes(), "{}");
}

}  // namespace
}  // namespace rtpm::presence
