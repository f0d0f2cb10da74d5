// Who may do what in which room: the permissions a credential grants, sans-I/O.
//
// A Grant is what the server knows about a connection after its token was checked (from the
// --auth-file, a JSON Web Token, or per join from the --auth-url callback): the subject (the
// only userId the connection may use), the rooms it may read or write, when it expires and its
// token id (`jti`, for revocation). RoomRules maps room names and patterns to permissions.
//
// Patterns: a rule's key is a room name, or a name with `*` wildcards, each standing for any
// run of characters (`/` included): `docs/*`, `*`, `team-*-notes`. A room's permission is the
// exact rule's when there is one; otherwise the permission of the longest matching pattern
// (the most specific; among patterns of equal length the higher permission); none when no rule
// matches. So `{"*": "read", "docs/mine": "write"}` lets its holder read every room and write
// one, and `{"docs/*": "write", "docs/archive/*": "read"}` makes the archive read-only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtpm/base/error.h"

namespace rtpm::json {
class Value;
}

namespace rtpm::auth {

enum class Permission { none, read, write };

/// "read", "write" or "none".
std::string_view permission_name(Permission p);

class RoomRules {
 public:
  /// Every room, writable (the rules of an --auth-file token given as a plain subject string).
  static RoomRules all_writable();
  /// From a JSON object {"ROOM or PATTERN": "read" | "write", ...}. Errors (ErrorCode::
  /// unauthorized): not an object, a value other than "read"/"write", an empty key, a key
  /// longer than 256 bytes, more than 1,000 rules.
  static Result<RoomRules> from_json(const json::Value& rules);

  /// The permission for `room` (see the file comment).
  Permission permission_for(std::string_view room) const;
  size_t size() const { return rules_.size(); }

  /// Whether `pattern` (with `*` wildcards) matches all of `name`. Linear in their lengths
  /// times the number of `*` at worst (no backtracking blow-up).
  static bool matches(std::string_view pattern, std::string_view name);

 private:
  std::vector<std::pair<std::string, Permission>> rules_;
};

/// What a checked credential grants.
struct Grant {
  /// The token's subject: the only userId the connection may join as.
  std::string subject;
  RoomRules rooms;
  /// Unix milliseconds after which the grant is void (the token's `exp`, plus the configured
  /// leeway); nullopt: it does not expire.
  std::optional<int64_t> expires_at_ms;
  /// The token id (`jti`), "" when the token has none.
  std::string token_id;
};

}  // namespace rtpm::auth
