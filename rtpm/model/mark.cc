// Port of prosemirror-model src/mark.ts (1.25.13).
#include "rtpm/model/mark.h"

#include <algorithm>

#include "rtpm/base/error.h"
#include "rtpm/model/internal/js.h"
#include "rtpm/model/schema.h"

namespace rtpm::model {

/// Given a set of marks, create a new set which contains this one as
/// well, in the right position. If this mark is already in the set,
/// the set itself is returned. If any marks that are set to be
/// [exclusive](#model.MarkSpec.excludes) with this mark are present,
/// those are replaced by this one.
MarkSet Mark::add_to_set(const MarkSet& set) const {
  MarkSet copy;
  bool copied = false, placed = false;
  for (size_t i = 0; i < set.size(); ++i) {
    const Mark& other = set[i];
    if (eq(other)) return set;
    if (type_->excludes(other.type_)) {
      if (!copied) {
        copy.assign(set.begin(), set.begin() + static_cast<std::ptrdiff_t>(i));
        copied = true;
      }
    } else if (other.type_->excludes(type_)) {
      return set;
    } else {
      if (!placed && other.type_->rank() > type_->rank()) {
        if (!copied) {
          copy.assign(set.begin(), set.begin() + static_cast<std::ptrdiff_t>(i));
          copied = true;
        }
        copy.push_back(*this);
        placed = true;
      }
      if (copied) copy.push_back(other);
    }
  }
  if (!copied) copy = set;
  if (!placed) copy.push_back(*this);
  return copy;
}

/// Remove this mark from the given set, returning a new set. If this
/// mark is not in the set, the set itself is returned.
MarkSet Mark::remove_from_set(const MarkSet& set) const {
  for (size_t i = 0; i < set.size(); ++i) {
    if (eq(set[i])) {
      MarkSet copy;
      copy.reserve(set.size() - 1);
      for (size_t j = 0; j < set.size(); ++j) {
        if (j != i) copy.push_back(set[j]);
      }
      return copy;
    }
  }
  return set;
}

/// Test whether this mark is in the given set of marks.
bool Mark::is_in_set(const MarkSet& set) const {
  for (const Mark& m : set) {
    if (eq(m)) return true;
  }
  return false;
}

/// Test whether this mark has the same type and attributes as
/// another mark.
bool Mark::eq(const Mark& other) const {
  return this == &other || (type_ == other.type_ && attrs_ == other.attrs_);
}

/// Convert this mark to a JSON-serializeable representation.
json::Value Mark::to_json() const {
  json::Object obj;
  obj.emplace_back("type", type_->name());
  if (!attrs_.empty()) obj.emplace_back("attrs", json::Value(attrs_.items()));
  return json::Value(std::move(obj));
}

void Mark::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("type");
  w.string(type_->name());
  if (!attrs_.empty()) {
    w.key("attrs");
    attrs_.write_json(w);
  }
  w.end_object();
}

/// Deserialize a mark from JSON.
Mark Mark::from_json(const Schema& schema, const json::Value& json) {
  if (!internal::js_truthy(&json)) throw RangeError("Invalid input for Mark.fromJSON");
  std::string name = internal::js_to_string(json.find("type"));
  const MarkType* type = schema.find_mark_type(name);
  if (!type) throw RangeError("There is no mark type " + name + " in this schema");
  return Mark(type, type->compute_attrs_from_json(json.find("attrs")));
}

/// Test whether two sets of marks are identical.
bool Mark::same_set(const MarkSet& a, const MarkSet& b) {
  if (&a == &b) return true;
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].eq(b[i])) return false;
  }
  return true;
}

/// Create a properly sorted mark set from null, a single mark, or an
/// unsorted array of marks.
MarkSet Mark::set_from(const MarkSet& marks) {
  if (marks.empty()) return {};
  MarkSet copy = marks;
  // Array.prototype.sort is stable.
  std::stable_sort(copy.begin(), copy.end(),
                   [](const Mark& a, const Mark& b) { return a.type_->rank() < b.type_->rank(); });
  return copy;
}

}  // namespace rtpm::model
