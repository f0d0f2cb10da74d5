// Port of prosemirror-model src/mark.ts (1.25.13).
//
// A mark is a piece of information attached to inline content (emphasis, a
// link). Marks are small values: a type pointer and shared attrs.
#pragma once

#include "rtpm/model/forward.h"

namespace rtpm::model {

class Mark {
 public:
  Mark(const MarkType* type, Attrs attrs) : type_(type), attrs_(std::move(attrs)) {}

  const MarkType* type() const { return type_; }
  const Attrs& attrs() const { return attrs_; }

  /// Given a set of marks, create a new set which contains this one as well,
  /// in the right position. If this mark is already in the set, the set itself
  /// is returned. If any marks that are set to be exclusive with this mark are
  /// present, those are replaced by this one.
  MarkSet add_to_set(const MarkSet& set) const;
  /// Remove this mark from the given set, returning a new set.
  MarkSet remove_from_set(const MarkSet& set) const;
  /// Test whether this mark is in the given set of marks.
  bool is_in_set(const MarkSet& set) const;
  /// Test whether this mark has the same type and attributes as another mark.
  bool eq(const Mark& other) const;

  /// Convert this mark to a JSON-serializeable representation.
  json::Value to_json() const;
  void write_json(json::Writer& w) const;
  /// Throws RangeError for unknown mark types and bad attrs, as JS does.
  static Mark from_json(const Schema& schema, const json::Value& json);

  /// Test whether two sets of marks are identical.
  static bool same_set(const MarkSet& a, const MarkSet& b);
  /// Create a properly sorted mark set from an unsorted list of marks.
  static MarkSet set_from(const MarkSet& marks);

 private:
  const MarkType* type_;
  Attrs attrs_;
};

}  // namespace rtpm::model
