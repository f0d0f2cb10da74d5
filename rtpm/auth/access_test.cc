#include "rtpm/auth/access.h"

#include <string>

#include <gtest/gtest.h>

#include "rtpm/json/json.h"

namespace rtpm::auth {
namespace {

RoomRules rules(std::string_view json_text) {
  Result<json::Value> value = json::parse(json_text);
  EXPECT_TRUE(value.ok()) << json_text;
  Result<RoomRules> parsed = RoomRules::from_json(*value);
  EXPECT_TRUE(parsed.ok()) << json_text << ": " << (parsed ? "" : parsed.error().message);
  return parsed ? *parsed : RoomRules{};
}

// The error of from_json on `json_text`, or "" when it succeeded.
std::string rules_error(std::string_view json_text) {
  Result<json::Value> value = json::parse(json_text);
  EXPECT_TRUE(value.ok()) << json_text;
  Result<RoomRules> parsed = RoomRules::from_json(*value);
  if (parsed) return "";
  EXPECT_EQ(parsed.error().code, ErrorCode::unauthorized);
  return parsed.error().message;
}

TEST(PermissionName, NamesEachPermission) {
  EXPECT_EQ(permission_name(Permission::none), "none");
  EXPECT_EQ(permission_name(Permission::read), "read");
  EXPECT_EQ(permission_name(Permission::write), "write");
}

TEST(RoomRulesMatches, LiteralPatterns) {
  EXPECT_TRUE(RoomRules::matches("docs", "docs"));
  EXPECT_FALSE(RoomRules::matches("docs", "doc"));
  EXPECT_FALSE(RoomRules::matches("docs", "docsx"));
  EXPECT_TRUE(RoomRules::matches("", ""));
  EXPECT_FALSE(RoomRules::matches("", "a"));
}

TEST(RoomRulesMatches, StarMatchesAnyRunIncludingSlashes) {
  EXPECT_TRUE(RoomRules::matches("*", ""));
  EXPECT_TRUE(RoomRules::matches("*", "anything/at/all"));
  EXPECT_TRUE(RoomRules::matches("docs/*", "docs/"));
  EXPECT_TRUE(RoomRules::matches("docs/*", "docs/a/b/c"));
  EXPECT_FALSE(RoomRules::matches("docs/*", "doc/a"));
  EXPECT_FALSE(RoomRules::matches("docs/*", "docs"));
  EXPECT_TRUE(RoomRules::matches("*/notes", "team/a/notes"));
  EXPECT_FALSE(RoomRules::matches("*/notes", "team/a/notes/x"));
}

TEST(RoomRulesMatches, SeveralStars) {
  EXPECT_TRUE(RoomRules::matches("team-*-notes", "team-red-notes"));
  EXPECT_TRUE(RoomRules::matches("team-*-notes", "team--notes"));
  EXPECT_FALSE(RoomRules::matches("team-*-notes", "team-notes"));
  EXPECT_TRUE(RoomRules::matches("a*b*c", "abc"));
  EXPECT_TRUE(RoomRules::matches("a*b*c", "axxbyybzc"));
  EXPECT_FALSE(RoomRules::matches("a*b*c", "axxcyyb"));
  EXPECT_TRUE(RoomRules::matches("**", "x"));
  EXPECT_TRUE(RoomRules::matches("*a*", "bab"));
  EXPECT_FALSE(RoomRules::matches("*a*", "bbb"));
  // The first `*` must give back what a greedy match of the literal took.
  EXPECT_TRUE(RoomRules::matches("*ab", "aab"));
  EXPECT_TRUE(RoomRules::matches("*aab*c", "aaabxaabyc"));
}

TEST(RoomRulesMatches, PathologicalPatternEnds) {
  const std::string name(10'000, 'a');
  EXPECT_FALSE(RoomRules::matches("*a*a*a*a*a*b", name));
  EXPECT_TRUE(RoomRules::matches("*a*a*a*a*a*", name));
  EXPECT_TRUE(RoomRules::matches("*a*a*a*a*a*b", name + "b"));
}

TEST(RoomRules, ExactRuleWinsOverPatterns) {
  RoomRules r = rules(R"({"*": "read", "docs/mine": "write"})");
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(r.permission_for("docs/mine"), Permission::write);
  EXPECT_EQ(r.permission_for("docs/other"), Permission::read);
  EXPECT_EQ(r.permission_for(""), Permission::read);

  // Also when the exact rule is lower than a longer pattern matching the room.
  RoomRules lower = rules(R"({"docs/archive/*": "write", "docs/archive/x": "read"})");
  EXPECT_EQ(lower.permission_for("docs/archive/x"), Permission::read);
  EXPECT_EQ(lower.permission_for("docs/archive/y"), Permission::write);
}

TEST(RoomRules, LongestPatternWins) {
  RoomRules r = rules(R"({"docs/*": "write", "docs/archive/*": "read"})");
  EXPECT_EQ(r.permission_for("docs/a"), Permission::write);
  EXPECT_EQ(r.permission_for("docs/archive/2020"), Permission::read);
  // Order in the object does not matter.
  RoomRules reversed = rules(R"({"docs/archive/*": "read", "docs/*": "write"})");
  EXPECT_EQ(reversed.permission_for("docs/archive/2020"), Permission::read);
  EXPECT_EQ(reversed.permission_for("docs/a"), Permission::write);
  // A longer pattern wins even with a lower permission than a shorter one.
  RoomRules star = rules(R"({"*": "write", "*-ro": "read"})");
  EXPECT_EQ(star.permission_for("x-ro"), Permission::read);
  EXPECT_EQ(star.permission_for("x-rw"), Permission::write);
}

TEST(RoomRules, EqualLengthPatternsGiveTheHigherPermission) {
  RoomRules r = rules(R"({"a*": "read", "*b": "write"})");
  EXPECT_EQ(r.permission_for("ab"), Permission::write);
  EXPECT_EQ(r.permission_for("ax"), Permission::read);
  RoomRules reversed = rules(R"({"*b": "write", "a*": "read"})");
  EXPECT_EQ(reversed.permission_for("ab"), Permission::write);
  RoomRules read_last = rules(R"({"a*": "write", "*b": "read"})");
  EXPECT_EQ(read_last.permission_for("ab"), Permission::write);
}

TEST(RoomRules, NoMatchIsNone) {
  RoomRules r = rules(R"({"docs/*": "write", "notes": "read"})");
  EXPECT_EQ(r.permission_for("other"), Permission::none);
  EXPECT_EQ(r.permission_for("notes/x"), Permission::none);
  EXPECT_EQ(r.permission_for("docs"), Permission::none);
  EXPECT_EQ(RoomRules{}.permission_for("x"), Permission::none);
  EXPECT_EQ(rules("{}").permission_for("x"), Permission::none);
}

TEST(RoomRules, AllWritable) {
  RoomRules r = RoomRules::all_writable();
  EXPECT_EQ(r.permission_for("a"), Permission::write);
  EXPECT_EQ(r.permission_for("docs/b/c"), Permission::write);
}

TEST(RoomRules, FromJsonErrors) {
  EXPECT_NE(rules_error(R"(["docs"])"), "");
  EXPECT_NE(rules_error(R"("docs")"), "");
  EXPECT_NE(rules_error("null"), "");
  EXPECT_NE(rules_error(R"({"docs": "admin"})"), "");
  EXPECT_NE(rules_error(R"({"docs": "none"})"), "");
  EXPECT_NE(rules_error(R"({"docs": true})"), "");
  EXPECT_NE(rules_error(R"({"docs": {"read": true}})"), "");
  EXPECT_NE(rules_error(R"({"": "read"})"), "");
  EXPECT_EQ(rules_error("{\"" + std::string(256, 'r') + "\": \"read\"}"), "");
  EXPECT_NE(rules_error("{\"" + std::string(257, 'r') + "\": \"read\"}"), "");

  std::string many = "{";
  for (int i = 0; i < 1000; ++i) many += "\"room" + std::to_string(i) + "\": \"read\",";
  EXPECT_EQ(rules_error(many.substr(0, many.size() - 1) + "}"), "");
  EXPECT_NE(rules_error(many + "\"one-more\": \"read\"}"), "");
}

TEST(RoomRules, MessagesDoNotQuoteTheRules) {
  const std::string message = rules_error(R"({"secret-room-name": "owner"})");
  EXPECT_EQ(message.find("secret-room-name"), std::string::npos) << message;
  EXPECT_EQ(message.find("owner"), std::string::npos) << message;
}

}  // namespace
}  // namespace rtpm::auth
