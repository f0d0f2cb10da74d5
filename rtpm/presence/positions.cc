#include "rtpm/presence/positions.h"

#include <cmath>
#include <string_view>

namespace rtpm::presence {

namespace {

// The entry members that hold positions, and their position keys.
constexpr std::string_view kObjects[] = {"cursor", "selection"};
constexpr std::string_view kCursorKeys[] = {"pos"};
constexpr std::string_view kSelectionKeys[] = {"from", "to", "anchor", "head"};

std::pair<const std::string_view*, size_t> keys_of(int object) {
  if (object == 0) return {kCursorKeys, std::size(kCursorKeys)};
  return {kSelectionKeys, std::size(kSelectionKeys)};
}

bool is_position(double d, int doc_size) {
  // Compared as doubles first: an out-of-range double is never cast to int.
  return d >= 0 && d <= static_cast<double>(doc_size) && std::floor(d) == d;
}

}  // namespace

bool is_position(const json::Value& value, int doc_size) {
  return value.is_number() && is_position(value.as_number(), doc_size);
}

PositionFields::PositionFields(const json::Value& entry) {
  if (!entry.is_object()) return;
  for (uint8_t object = 0; object < std::size(kObjects); ++object) {
    const json::Value* container = entry.find(kObjects[object]);
    if (!container || !container->is_object()) continue;
    auto [keys, n] = keys_of(object);
    for (uint8_t key = 0; key < n && size_ < fields_.size(); ++key) {
      const json::Value* v = container->find(keys[key]);
      if (v && v->is_number())
        fields_[size_++] = Field{object, key, v->as_number(), v->as_number()};
    }
  }
}

bool PositionFields::map(const transform::Mappable& mapping, int doc_size, int assoc,
                         int unchanged_below) {
  bool moved = false;
  for (uint8_t i = 0; i < size_; ++i) {
    Field& f = fields_[i];
    if (f.value < unchanged_below || !is_position(f.value, doc_size)) continue;
    auto pos = static_cast<int>(f.value);
    int mapped = mapping.map(pos, assoc);
    if (mapped == pos) continue;
    f.value = mapped;
    moved = true;
  }
  return moved;
}

json::Value PositionFields::apply(const json::Value& entry) const {
  bool changed = false;
  for (uint8_t i = 0; i < size_; ++i) changed = changed || fields_[i].value != fields_[i].original;
  if (!changed) return entry;
  json::Object copy;
  for (const auto& [k, v] : entry.as_object()) {
    int object = k == kObjects[0] ? 0 : k == kObjects[1] ? 1 : -1;
    if (object < 0 || !v.is_object()) {
      copy.emplace_back(k, v);
      continue;
    }
    auto [keys, n] = keys_of(object);
    json::Object inner;
    for (const auto& [ik, iv] : v.as_object()) {
      json::Value value = iv;
      for (uint8_t i = 0; i < size_; ++i) {
        const Field& f = fields_[i];
        if (f.object == object && f.key < n && ik == keys[f.key] && f.value != f.original)
          value = json::Value(f.value);
      }
      inner.emplace_back(ik, std::move(value));
    }
    copy.emplace_back(k, json::Value(std::move(inner)));
  }
  return json::Value(std::move(copy));
}

json::Value map_positions(const json::Value& entry, const transform::Mappable& mapping,
                          int doc_size, int assoc, bool* moved) {
  PositionFields fields(entry);
  bool changed = fields.map(mapping, doc_size, assoc);
  if (moved) *moved = changed;
  return changed ? fields.apply(entry) : entry;
}

int size_before(const transform::Mapping& mapping, int size_after) {
  int64_t size = size_after;
  const auto& maps = mapping.maps();
  for (int i = mapping.from(); i < mapping.to(); ++i)
    size -= transform::size_change(maps[static_cast<size_t>(i)]);
  return static_cast<int>(size);
}

}  // namespace rtpm::presence
