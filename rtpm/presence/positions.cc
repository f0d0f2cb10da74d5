#include "rtpm/presence/positions.h"

#include <cmath>
#include <initializer_list>
#include <optional>
#include <string_view>

namespace rtpm::presence {

namespace {

// `obj` with the position members named `keys` mapped; nullopt when none moved.
std::optional<json::Value> map_members(const json::Value& obj,
                                       std::initializer_list<std::string_view> keys,
                                       const transform::Mappable& mapping, int doc_size,
                                       int assoc) {
  if (!obj.is_object()) return std::nullopt;
  json::Object copy;
  bool moved = false;
  for (const auto& [k, v] : obj.as_object()) {
    bool named = false;
    for (std::string_view key : keys) named = named || k == key;
    if (named && is_position(v, doc_size)) {
      int pos = static_cast<int>(v.as_number());
      int mapped = mapping.map(pos, assoc);
      if (mapped != pos) moved = true;
      copy.emplace_back(k, json::Value(mapped));
    } else {
      copy.emplace_back(k, v);
    }
  }
  if (!moved) return std::nullopt;
  return json::Value(std::move(copy));
}

}  // namespace

bool is_position(const json::Value& value, int doc_size) {
  if (!value.is_number()) return false;
  double d = value.as_number();
  // Compared as doubles first: an out-of-range double is never cast to int.
  return d >= 0 && d <= static_cast<double>(doc_size) && std::floor(d) == d;
}

json::Value map_positions(const json::Value& entry, const transform::Mappable& mapping,
                          int doc_size, int assoc, bool* moved) {
  if (moved) *moved = false;
  if (!entry.is_object()) return entry;
  const json::Value* cursor = entry.find("cursor");
  const json::Value* selection = entry.find("selection");
  std::optional<json::Value> new_cursor, new_selection;
  if (cursor) new_cursor = map_members(*cursor, {"pos"}, mapping, doc_size, assoc);
  if (selection)
    new_selection =
        map_members(*selection, {"from", "to", "anchor", "head"}, mapping, doc_size, assoc);
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

int size_before(const transform::Mapping& mapping, int size_after) {
  int64_t size = size_after;
  const auto& maps = mapping.maps();
  for (int i = mapping.from(); i < mapping.to(); ++i)
    maps[static_cast<size_t>(i)].for_each(
        [&](int old_start, int old_end, int new_start, int new_end) {
          size -= static_cast<int64_t>(new_end - new_start) - (old_end - old_start);
        });
  return static_cast<int>(size);
}

}  // namespace rtpm::presence
