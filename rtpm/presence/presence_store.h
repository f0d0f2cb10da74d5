// PresenceStore: the cursors and selections of the members of one room.
//
// Each member has one entry, a JSON object chosen by its client. The store
// keeps entries at the room's current version: it maps their positions
// (`cursor.pos`, `selection.from|to|anchor|head`, when they are integers
// within the document; positions.h) through every applied step with
// Mapping::map(pos, 1) and passes every other field through unchanged
// (PROTOCOL.md "Presence positions"). It records which
// entries changed since the last flush so that the room can coalesce
// broadcasts. Sans-I/O and not thread-safe: a room uses it from its strand.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "rtpm/json/json.h"
#include "rtpm/transform/map.h"

namespace rtpm::presence {

class PresenceStore {
 public:
  /// Adds a member without presence ({}), or keeps its entry when present.
  void add_member(const std::string& user_id);
  /// Sets a member's entry (positions already at the current version) and marks it changed.
  void set(const std::string& user_id, json::Value entry);
  /// Removes a member; returns false when it was not there.
  bool remove(const std::string& user_id);
  bool contains(const std::string& user_id) const { return entries_.count(user_id) > 0; }
  size_t size() const { return entries_.size(); }
  /// The member's entry ({} when it set none); nullptr when not a member.
  const json::Value* get(const std::string& user_id) const;

  /// Maps every stored position through `mapping` (steps just applied to a
  /// document of content size `doc_size`; see presence::map_positions). Entries
  /// are not marked changed by this: clients map positions through the same steps.
  void map_through(const transform::Mappable& mapping, int doc_size);

  /// `users` of a `state`: every member's entry, as a JSON object text.
  std::string all_json() const;
  /// True when some entry changed since the last take_changes().
  bool has_changes() const { return !changed_.empty(); }
  /// The changed entries as a JSON object text; clears the change set.
  std::string take_changes();

 private:
  /// The entries (all, or the changed ones) as a JSON object text, in join order.
  std::string entries_json(bool only_changed) const;

  std::unordered_map<std::string, json::Value> entries_;
  std::vector<std::string> order_;  // join order, for stable output
  std::unordered_set<std::string> changed_;
};

}  // namespace rtpm::presence
