// Forward declarations and small shared types of the document model.
//
// Ownership: a `Schema` owns its `NodeType`s, `MarkType`s and `ContentMatch`
// states; everything else refers to them by `const T*`, so a schema must
// outlive every node and mark made from it (hold it by
// std::shared_ptr<const Schema>). Nodes are immutable and intrusively
// counted (`NodeRef`); fragments, marks, attrs and slices are cheap values.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rtpm/base/ref.h"
#include "rtpm/json/json.h"

namespace rtpm::model {

class Schema;
class NodeType;
class MarkType;
class ContentMatch;
class Node;
class Fragment;
class Mark;
class Slice;
class ResolvedPos;
class NodeRange;

/// Handle to an immutable node.
using NodeRef = Ref<const Node>;

/// A set of marks, sorted by rank (see Mark::add_to_set).
using MarkSet = std::vector<Mark>;

/// Attribute values keyed by name. As given by a caller (partial, any order)
/// this is a plain json::Object; a node's or mark's computed attrs are an
/// `Attrs` (complete, in the type's attribute order, shared).
using AttrMap = json::Object;

/// The computed attributes of a node or mark: every attribute of the type, in
/// the order of the type's spec, shared between copies.
class Attrs {
 public:
  Attrs();  // empty
  explicit Attrs(AttrMap items);
  const AttrMap& items() const { return *p_; }
  bool empty() const { return p_->empty(); }
  /// The value of `name`, or nullptr when the type has no such attribute.
  const json::Value* get(std::string_view name) const;
  /// Deep equality of values (compareDeep).
  friend bool operator==(const Attrs& a, const Attrs& b);
  /// Writes {"name": value, ...} in order.
  void write_json(json::Writer& w) const;

 private:
  std::shared_ptr<const AttrMap> p_;
};

}  // namespace rtpm::model
