#include "rtpm/presence/presence_store.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace rtpm::presence {

namespace {

const json::Value& empty_object() {
  static const json::Value v{json::Object{}};
  return v;
}

// Maps the numeric members `keys` of `obj`; returns the new object, or nullopt when none moved.
std::optional<json::Value> map_fields(const json::Value& obj,
                                      std::initializer_list<const char*> keys,
                                      const transform::Mappable& mapping) {
  if (!obj.is_object()) return std::nullopt;
  json::Object copy;
  bool moved = false;
  for (const auto& [k, v] : obj.as_object()) {
    bool positional = std::find_if(keys.begin(), keys.end(),
                                   [&](const char* key) { return k == key; }) != keys.end();
    if (positional && v.is_number()) {
      double d = v.as_number();
      // Only integer positions in int range are positions; anything else passes through.
      if (std::floor(d) == d && d >= 0 && d <= 2147483647.0) {
        int mapped = mapping.map(static_cast<int>(d), 1);
        if (mapped != static_cast<int>(d)) moved = true;
        copy.emplace_back(k, json::Value(mapped));
        continue;
      }
    }
    copy.emplace_back(k, v);
  }
  if (!moved) return std::nullopt;
  return json::Value(std::move(copy));
}

}  // namespace

json::Value PresenceStore::map_entry(const json::Value& entry, const transform::Mappable& mapping,
                                     bool* moved) {
  if (moved) *moved = false;
  if (!entry.is_object()) return entry;
  const json::Value* cursor = entry.find("cursor");
  const json::Value* selection = entry.find("selection");
  std::optional<json::Value> new_cursor, new_selection;
  if (cursor) new_cursor = map_fields(*cursor, {"pos"}, mapping);
  if (selection) new_selection = map_fields(*selection, {"from", "to", "anchor", "head"}, mapping);
  if (!new_cursor && !new_selection) return entry;
  if (moved) *moved = true;
  json::Object copy;
  for (const auto& [k, v] : entry.as_object()) {
    if (k == "cursor" && new_cursor)
      copy.emplace_back(k, *new_cursor);
    else if (k == "selection" && new_selection)
      copy.emplace_back(k, *new_selection);
    else
      copy.emplace_back(k, v);
  }
  return json::Value(std::move(copy));
}

void PresenceStore::add_member(const std::string& user_id) {
  if (entries_.emplace(user_id, empty_object()).second) order_.push_back(user_id);
}

void PresenceStore::set(const std::string& user_id, json::Value entry) {
  auto [it, inserted] = entries_.insert_or_assign(user_id, std::move(entry));
  (void)it;
  if (inserted) order_.push_back(user_id);
  changed_.insert(user_id);
}

bool PresenceStore::remove(const std::string& user_id) {
  if (!entries_.erase(user_id)) return false;
  order_.erase(std::find(order_.begin(), order_.end(), user_id));
  changed_.erase(user_id);
  return true;
}

const json::Value* PresenceStore::get(const std::string& user_id) const {
  auto it = entries_.find(user_id);
  return it == entries_.end() ? nullptr : &it->second;
}

void PresenceStore::map_through(const transform::Mappable& mapping) {
  for (auto& [user, entry] : entries_) {
    bool moved = false;
    json::Value mapped = map_entry(entry, mapping, &moved);
    // Not marked changed: every member maps positions through the same steps itself.
    if (moved) entry = std::move(mapped);
  }
}

std::string PresenceStore::all_json() const {
  std::string out = "{";
  bool first = true;
  for (const auto& user : order_) {
    if (!first) out += ',';
    first = false;
    json::write_string(user, out);
    out += ':';
    json::write(entries_.at(user), out);
  }
  out += '}';
  return out;
}

std::string PresenceStore::take_changes() {
  std::string out = "{";
  bool first = true;
  for (const auto& user : order_) {
    if (!changed_.count(user)) continue;
    if (!first) out += ',';
    first = false;
    json::write_string(user, out);
    out += ':';
    json::write(entries_.at(user), out);
  }
  out += '}';
  changed_.clear();
  return out;
}

}  // namespace rtpm::presence
