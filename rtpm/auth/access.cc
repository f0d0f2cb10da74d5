#include "rtpm/auth/access.h"

#include "rtpm/json/json.h"

namespace rtpm::auth {

namespace {

constexpr size_t kMaxRules = 1000;
constexpr size_t kMaxKeyBytes = 256;

Error refuse(std::string message) { return Error{ErrorCode::unauthorized, std::move(message)}; }

}  // namespace

std::string_view permission_name(Permission p) {
  switch (p) {
    case Permission::read: return "read";
    case Permission::write: return "write";
    case Permission::none: return "none";
  }
  return "none";
}

RoomRules RoomRules::all_writable() {
  RoomRules rules;
  rules.rules_.emplace_back("*", Permission::write);
  return rules;
}

Result<RoomRules> RoomRules::from_json(const json::Value& rules) {
  if (!rules.is_object()) return refuse("the rooms are not a JSON object");
  const json::Object& members = rules.as_object();
  if (members.size() > kMaxRules) return refuse("more than 1000 room rules");
  RoomRules out;
  out.rules_.reserve(members.size());
  // Keys are not quoted in the messages: they come from the credential.
  for (const auto& [key, value] : members) {
    if (key.empty()) return refuse("a room rule has an empty name");
    if (key.size() > kMaxKeyBytes) return refuse("a room rule's name is longer than 256 bytes");
    if (!value.is_string()) return refuse("a room rule's permission is not \"read\" or \"write\"");
    const std::string& name = value.as_string();
    Permission p;
    if (name == "read") {
      p = Permission::read;
    } else if (name == "write") {
      p = Permission::write;
    } else {
      return refuse("a room rule's permission is not \"read\" or \"write\"");
    }
    out.rules_.emplace_back(key, p);
  }
  return out;
}

Permission RoomRules::permission_for(std::string_view room) const {
  Permission best = Permission::none;
  size_t best_length = 0;
  bool matched = false;
  for (const auto& [key, permission] : rules_) {
    if (key == room) return permission;  // the exact rule wins over every pattern
    if (key.find('*') == std::string::npos || !matches(key, room)) continue;
    if (!matched || key.size() > best_length || (key.size() == best_length && permission > best)) {
      best = permission;
      best_length = key.size();
      matched = true;
    }
  }
  return best;
}

// The greedy two-pointer match: a literal run after the last `*` seen is tried at each start
// position in turn, and a later `*` replaces the saved one (what the earlier star swallowed can
// never need to grow again), so no state is revisited more than once per star.
bool RoomRules::matches(std::string_view pattern, std::string_view name) {
  constexpr size_t kNoStar = std::string_view::npos;
  size_t p = 0;
  size_t n = 0;
  size_t star = kNoStar;  // the position in `pattern` of the last `*` seen
  size_t resume = 0;      // where in `name` the text that `*` swallows ends so far
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != kNoStar) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace rtpm::auth
