// Port of prosemirror-model src/fragment.ts (1.25.13).
//
// A fragment is the (immutable, shared) list of a node's children, with its
// total size in UTF-16 positions. Port note: the children live in an
// internal::Chunk tree (rtpm/model/internal/child_list.h), a persistent
// B-tree whose lookup by index or by position and whose replace_child cost
// O(log n); upstream copies the array on every change and scans it to find a
// position. fragment.cc uses only Chunk's API (build, at, find, replace,
// each_from, collect).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "rtpm/base/function_ref.h"
#include "rtpm/model/forward.h"
#include "rtpm/model/internal/child_list.h"

namespace rtpm::model {

class Fragment {
 public:
  /// The empty fragment.
  Fragment();

  /// The size of the fragment: the total of the size of its content nodes.
  int size() const { return size_; }
  /// The number of child nodes in this fragment.
  int child_count() const;
  /// Get the child node at the given index. Raises a RangeError when the index is out of range.
  const NodeRef& child(int index) const;
  /// Get the child node at the given index, if it exists (else nullptr).
  const Node* maybe_child(int index) const;
  /// The first child of the fragment, or nullptr if it is empty.
  const Node* first_child() const;
  /// The last child of the fragment, or nullptr if it is empty.
  const Node* last_child() const;

  /// Call `f` for every child node, passing the node, its offset into this
  /// parent node, and its index.
  void for_each(FunctionRef<void(const NodeRef& node, int offset, int index)> f) const;

  /// Invoke a callback for all descendant nodes between the given two
  /// positions (relative to start of this fragment). Doesn't descend into a
  /// node when the callback returns false.
  void nodes_between(
      int from, int to,
      FunctionRef<bool(const NodeRef& node, int pos, const Node* parent, int index)> f,
      int node_start = 0, const Node* parent = nullptr) const;
  /// Call the given callback for every descendant node.
  void descendants(
      FunctionRef<bool(const NodeRef& node, int pos, const Node* parent, int index)> f) const;

  /// Extract the text between `from` and `to`. See Node::text_between.
  std::u16string text_between(int from, int to, std::u16string_view block_separator = {},
                              std::u16string_view leaf_text = {}) const;

  /// Create a new fragment containing the combined content of this fragment and the other.
  Fragment append(const Fragment& other) const;
  /// Cut out the sub-fragment between the two given positions.
  Fragment cut(int from) const { return cut(from, size_); }
  Fragment cut(int from, int to) const;
  /// Cut out the sub-fragment between the two given child indices.
  Fragment cut_by_index(int from, int to) const;
  /// Create a new fragment in which the node at the given index is replaced by the given node.
  Fragment replace_child(int index, NodeRef node) const;
  /// Create a new fragment by prepending the given node to this fragment.
  Fragment add_to_start(NodeRef node) const;
  /// Create a new fragment by appending the given node to this fragment.
  Fragment add_to_end(NodeRef node) const;

  /// Compare this fragment to another one.
  bool eq(const Fragment& other) const;

  struct IndexInfo {
    int index;
    int offset;
  };
  /// Find the index and inner offset corresponding to a given relative
  /// position in this fragment. Throws RangeError "Position N outside of
  /// fragment (...)" when out of range. `round` as upstream (-1 or 1).
  IndexInfo find_index(int pos, int round = -1) const;

  /// Return a debugging string that describes this fragment: "<a, b>".
  std::string to_string() const;
  /// The children joined by ", " without brackets (upstream toStringInner).
  std::string to_string_inner() const;

  /// Writes the JSON array of children. Precondition: size() > 0 or child_count() > 0;
  /// upstream's toJSON gives null for an empty fragment, which callers handle.
  void write_json(json::Writer& w) const;
  /// Deserialize a fragment from its JSON representation (an array or null).
  static Fragment from_json(const Schema& schema, const json::Value& value);

  /// Build a fragment from an array of nodes. Ensures that adjacent text nodes
  /// with the same marks are joined together.
  static Fragment from_array(std::vector<NodeRef> nodes);
  /// A fragment holding exactly one node.
  static Fragment from(NodeRef node);
  /// The shared empty fragment.
  static const Fragment& empty();

  /// The children as a vector (a copy of the handles).
  std::vector<NodeRef> to_vector() const;

  /// Internal: the chunk tree holding the children (null when empty).
  const internal::ChunkRef& chunks() const { return data_; }
  /// Internal: a fragment over the given chunk tree (null for empty).
  static Fragment from_chunks(internal::ChunkRef tree);

 private:
  /// Build directly from children that are already normalized; size is their total.
  Fragment(std::vector<NodeRef> children, int size);
  friend class Node;

  internal::ChunkRef data_;  // null when empty
  int size_ = 0;
};

}  // namespace rtpm::model
