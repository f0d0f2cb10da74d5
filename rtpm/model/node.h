// Port of prosemirror-model src/node.ts (1.25.13).
//
// This class represents a node in the tree that makes up a ProseMirror
// document. A document is a persistent data structure: a change builds a new
// tree that shares every untouched node with the old one, so nodes are
// immutable and handled through `NodeRef` (intrusively counted).
//
// Port note: text nodes are the same class as other nodes (upstream
// subclasses TextNode); their text is held in UTF-16, so positions and sizes
// count UTF-16 code units exactly as in JavaScript.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rtpm/base/function_ref.h"
#include "rtpm/model/fragment.h"
#include "rtpm/model/mark.h"

namespace rtpm::model {

/// The deepest nesting of nodes that the model builds or parses: a node's
/// height() (the nodes on the longest path from it down to a leaf, itself
/// included) is at most kMaxDepth, so a document has positions at depths 0 to
/// kMaxDepth - 1. Port note: prosemirror-model has no such bound; JavaScript
/// fails with "Maximum call stack size exceeded" (a RangeError) somewhere
/// around 10,000 levels, and the port, whose recursions over a tree (parsing,
/// toJSON, check, eq, replace, cut, destruction) use the C stack as well,
/// would crash instead. Real documents stay far below: nested lists and
/// blockquotes in editors reach a few dozen levels. At 256 levels the
/// recursions over a tree need about 0.25 MiB of stack in the release build
/// (0.6 MiB in the debug build, 1.4 MiB under AddressSanitizer, whose frames
/// are larger): a wide margin on a 1 MiB thread stack, and more so on the
/// server's and the client's threads (glibc's default, `ulimit -s`, usually
/// 8 MiB). depth_test.cc's
/// DepthBound.RecursionsAtKMaxDepthFitA1MiBStack runs them all at this depth
/// on a 1 MiB stack (2 MiB under ASan).
inline constexpr int kMaxDepth = 256;

/// The message of the RangeError thrown for nesting deeper than kMaxDepth.
std::string max_depth_message();

class Node : public RefCounted<Node> {
 public:
  /// Use NodeType::create / Schema::text; this is for the model's factories.
  /// Throws RangeError (max_depth_message()) when the node would be higher
  /// than kMaxDepth.
  Node(const NodeType* type, Attrs attrs, Fragment content, MarkSet marks);
  /// Text node constructor (for Schema::text and with_text).
  Node(const NodeType* type, Attrs attrs, std::u16string text, MarkSet marks);

  /// Nodes come from a per-thread pool (rtpm/model/internal/pool.h).
  static void* operator new(size_t bytes);
  static void operator delete(void* block, size_t bytes) noexcept;

  /// The type of node that this is.
  const NodeType* type() const { return type_; }
  /// The attributes of this node (every attribute of its type).
  const Attrs& attrs() const { return attrs_; }
  /// A container holding the node's children.
  const Fragment& content() const { return content_; }
  /// The marks (things like whether it is emphasized or part of a link) applied to this node.
  const MarkSet& marks() const { return marks_; }
  /// For text nodes, the text (UTF-16). Empty for other nodes.
  const std::u16string& text() const { return text_; }

  /// The size of this node: text length for text nodes, 1 for leaves,
  /// content size + 2 otherwise. Computed once at construction.
  int node_size() const { return node_size_; }
  /// The number of nodes on the longest path from this node down to a leaf,
  /// itself included: 1 for text and childless nodes. At most kMaxDepth.
  /// Computed once at construction (from the child list's cached heights).
  int height() const { return height_; }
  /// The number of children that the node has.
  int child_count() const { return content_.child_count(); }
  /// Get the child node at the given index. Throws RangeError when out of range.
  const NodeRef& child(int index) const { return content_.child(index); }
  /// Get the child node at the given index, if it exists.
  const Node* maybe_child(int index) const { return content_.maybe_child(index); }
  /// Call `f` for every child node.
  void for_each(FunctionRef<void(const NodeRef& node, int offset, int index)> f) const {
    content_.for_each(f);
  }
  /// Invoke a callback for all descendant nodes recursively overlapping the
  /// given two positions that are relative to start of this node's content.
  void nodes_between(
      int from, int to,
      FunctionRef<bool(const NodeRef& node, int pos, const Node* parent, int index)> f,
      int start_pos = 0) const;
  /// Call the given callback for every descendant node.
  void descendants(
      FunctionRef<bool(const NodeRef& node, int pos, const Node* parent, int index)> f) const;
  /// Concatenates all the text nodes found in this fragment and its children.
  std::u16string text_content() const;
  /// Get all text between positions from and to.
  std::u16string text_between(int from, int to, std::u16string_view block_separator = {},
                              std::u16string_view leaf_text = {}) const;
  /// Returns this node's first child, or nullptr if there are no children.
  const Node* first_child() const { return content_.first_child(); }
  /// Returns this node's last child, or nullptr if there are no children.
  const Node* last_child() const { return content_.last_child(); }

  /// Test whether two nodes represent the same piece of document.
  bool eq(const Node& other) const;
  /// Compare the markup (type, attributes, and marks) of this node to those of another.
  bool same_markup(const Node& other) const;
  /// Check whether this node's markup correspond to the given type, attributes, and marks.
  bool has_markup(const NodeType* type, const Attrs* attrs = nullptr,
                  const MarkSet* marks = nullptr) const;

  /// Create a new node with the same markup as this node, containing the given content.
  NodeRef copy(Fragment content) const;
  /// Create a copy of this node, with the given set of marks instead of the node's own marks.
  NodeRef mark(MarkSet marks) const;
  /// Create a copy of this node with only the content between the given positions.
  NodeRef cut(int from) const;
  NodeRef cut(int from, int to) const;
  /// Cut out the part of the document between the given positions, and return it as a Slice.
  Slice slice(int from) const;
  Slice slice(int from, int to, bool include_parents = false) const;
  /// Replace the part of the document between the given positions with the
  /// given slice. Throws ReplaceError when the slice doesn't fit.
  NodeRef replace(int from, int to, const Slice& slice) const;
  /// Find the node directly after the given position (nullptr when none).
  const Node* node_at(int pos) const;

  struct ChildInfo {
    const Node* node;  // nullptr when none
    int index;
    int offset;
  };
  /// Find the (direct) child node after the given offset, if any, and return
  /// it along with its index and offset relative to this node.
  ChildInfo child_after(int pos) const;
  /// Find the (direct) child node before the given offset, if any.
  ChildInfo child_before(int pos) const;

  /// Resolve the given position in the document (cached per thread, as
  /// upstream caches it). Throws RangeError "Position N out of range".
  ResolvedPos resolve(int pos) const;
  ResolvedPos resolve_no_cache(int pos) const;

  /// Test whether a given mark or mark type occurs in this document between the two given
  /// positions.
  bool range_has_mark(int from, int to, const MarkType* type) const;
  bool range_has_mark(int from, int to, const Mark& mark) const;

  bool is_block() const;
  bool is_textblock() const;
  bool inline_content() const;
  bool is_inline() const;
  bool is_text() const;
  bool is_leaf() const;
  bool is_atom() const;

  /// Return a string representation of this node for debugging purposes.
  std::string to_string() const;

  /// Get the content match in this node at the given index.
  const ContentMatch& content_match_at(int index) const;
  /// Test whether replacing the range between from and to (by child index)
  /// with the given replacement fragment (which defaults to the empty
  /// fragment) would leave the node's content valid. `end` -1 means
  /// replacement.child_count().
  bool can_replace(int from, int to, const Fragment& replacement = Fragment::empty(), int start = 0,
                   int end = -1) const;
  /// Test whether replacing the range from to to (by index) with a node of
  /// the given type would leave the node's content valid.
  bool can_replace_with(int from, int to, const NodeType* type,
                        const MarkSet* marks = nullptr) const;
  /// Test whether the given node's content could be appended to this node.
  bool can_append(const Node& other) const;
  /// Check whether this node and its descendants conform to the schema, and
  /// throw RangeError if they do not.
  void check() const;

  /// Return a JSON-serializeable representation of this node.
  json::Value to_json() const;
  void write_json(json::Writer& w) const;
  /// JSON.stringify(node.toJSON()).
  std::string to_json_string() const;
  /// Deserialize a node from its JSON representation. Throws RangeError
  /// (unknown types, bad shape, missing required attrs, failed validate,
  /// empty text) with upstream's messages, and RangeError
  /// (max_depth_message()) for nodes nested deeper than kMaxDepth, before
  /// descending further.
  static NodeRef from_json(const Schema& schema, const json::Value& json);

  /// Text nodes only: a copy with other text (same marks); this when equal.
  NodeRef with_text(std::u16string text) const;

 private:
  friend class ResolvedPos;
  /// Port note: a number that names this node for the life of the process and,
  /// unlike its address, is never reused (a copy gets a new one). It lets
  /// ResolvedPos's cache recognise a document without holding it, as
  /// upstream's WeakMap does. Free in memory: Node stays in the same malloc size class.
  struct Serial {
    Serial();
    Serial(const Serial&) : Serial() {}
    Serial& operator=(const Serial&) { return *this; }
    uint64_t value;
  };

  const NodeType* type_;
  Attrs attrs_;
  Fragment content_;
  MarkSet marks_;
  std::u16string text_;
  int node_size_ = 0;
  Serial serial_;
  int height_ = 1;
};

}  // namespace rtpm::model
