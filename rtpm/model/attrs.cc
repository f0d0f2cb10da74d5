// Port of prosemirror-model src/comparedeep.ts (1.25.13).
//
// Attrs: the computed attributes of a node or mark, shared between copies.
// Equality is upstream's compareDeep: same attribute names, deeply equal
// values, order ignored.
#include <utility>

#include "rtpm/model/forward.h"

namespace rtpm::model {

namespace {

const std::shared_ptr<const AttrMap>& empty_map() {
  static const std::shared_ptr<const AttrMap> empty = std::make_shared<const AttrMap>();
  return empty;
}

}  // namespace

Attrs::Attrs() : p_(empty_map()) {}

Attrs::Attrs(AttrMap items)
    : p_(items.empty() ? empty_map() : std::make_shared<const AttrMap>(std::move(items))) {}

const json::Value* Attrs::get(std::string_view name) const {
  for (const auto& [key, value] : *p_) {
    if (key == name) return &value;
  }
  return nullptr;
}

bool operator==(const Attrs& a, const Attrs& b) {
  if (a.p_ == b.p_) return true;
  const AttrMap& x = *a.p_;
  const AttrMap& y = *b.p_;
  // Port note: keys are unique in both maps, so equal counts plus every key
  // of `x` found in `y` with a deeply equal value is compareDeep's test.
  if (x.size() != y.size()) return false;
  for (const auto& [key, value] : x) {
    const json::Value* other = b.get(key);
    if (!other || !(value == *other)) return false;
  }
  return true;
}

void Attrs::write_json(json::Writer& w) const {
  w.begin_object();
  for (const auto& [key, value] : *p_) {
    w.key(key);
    w.value(value);
  }
  w.end_object();
}

}  // namespace rtpm::model
