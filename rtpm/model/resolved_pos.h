// Port of prosemirror-model src/resolvedpos.ts (1.25.13).
//
// A resolved position: a document position with its context (ancestors,
// indices and offsets at each level). A ResolvedPos keeps its document alive
// (it holds a NodeRef to the root); the ancestor pointers in its path point
// into that document.
//
// Methods that take a `depth` interpret kNoDepth as `this.depth` and negative
// numbers as `this.depth + value`, as upstream does with undefined/negative.
// Port note: upstream reads its path array past either end for a depth
// outside the position's (undefined, or NaN after arithmetic), and the caller
// then fails with a TypeError on the missing node. Here every accessor checks
// the depth and throws TypeError("Cannot read properties of undefined ...")
// itself, so a bad depth never reads outside the path.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "rtpm/base/function_ref.h"
#include "rtpm/model/forward.h"
#include "rtpm/model/node.h"

namespace rtpm::model {

/// Stands for upstream's `undefined` depth argument.
inline constexpr int kNoDepth = 1 << 30;

class ResolvedPos {
 public:
  struct PathEntry {
    const Node* node;
    int index;
    int offset;  // start position of the node's content... as upstream: pos before entering
  };

  ResolvedPos(NodeRef doc, int pos, std::vector<PathEntry> path, int parent_offset);

  /// The position that was resolved.
  int pos() const { return pos_; }
  /// The number of levels the parent node is from the root.
  int depth() const { return path_size_ - 1; }
  /// The offset this position has into its parent node.
  int parent_offset() const { return parent_offset_; }

  int resolve_depth(int val) const {
    if (val == kNoDepth) return depth();
    if (val < 0) return depth() + val;
    return val;
  }
  /// The parent node that the position points into.
  const Node& parent() const { return node(kNoDepth); }
  /// The root node in which the position was resolved.
  const Node& doc() const { return *doc_; }
  const NodeRef& doc_ref() const { return doc_; }
  /// The ancestor node at the given level. Throws TypeError outside 0..depth().
  const Node& node(int depth = kNoDepth) const { return *entry(resolve_depth(depth)).node; }
  /// The index into the ancestor at the given level. Throws TypeError outside 0..depth().
  int index(int depth = kNoDepth) const { return entry(resolve_depth(depth)).index; }
  /// The index pointing after this position into the ancestor at the given level.
  int index_after(int depth = kNoDepth) const;
  /// The (absolute) position at the start of the node at the given level
  /// (0..depth() + 1; TypeError outside).
  int start(int depth = kNoDepth) const;
  /// The (absolute) position at the end of the node at the given level
  /// (0..depth(); TypeError outside).
  int end(int depth = kNoDepth) const;
  /// The (absolute) position directly before the wrapping node at the given
  /// level. Throws RangeError "There is no position before the top-level node" at depth 0,
  /// TypeError past depth() + 1.
  int before(int depth = kNoDepth) const;
  /// The (absolute) position directly after the wrapping node at the given
  /// level (RangeError at depth 0, TypeError past depth() + 1).
  int after(int depth = kNoDepth) const;
  /// When this position points into a text node, the distance between the
  /// position and the start of the text node.
  int text_offset() const;
  /// Get the node directly after the position, if any (a cut text node when inside text).
  NodeRef node_after() const;
  /// Get the node directly before the position, if any.
  NodeRef node_before() const;
  /// Get the position at the given index in the parent node at the given depth.
  int pos_at_index(int index, int depth = kNoDepth) const;
  /// Get the marks at this position, factoring in the surrounding marks' inclusive property.
  MarkSet marks() const;
  /// Get the marks after the current position, if any, except those that are
  /// non-inclusive and not present at position $end. nullopt when there is no
  /// node after the position.
  std::optional<MarkSet> marks_across(const ResolvedPos& end) const;
  /// The depth up to which this position and the given (non-resolved) position share ancestors.
  int shared_depth(int pos) const;
  /// Returns a range based on the place where this position and the given
  /// position diverge around block content.
  std::optional<NodeRange> block_range(const ResolvedPos& other) const;
  std::optional<NodeRange> block_range(const ResolvedPos& other,
                                       FunctionRef<bool(const Node&)> pred) const;
  std::optional<NodeRange> block_range() const;
  /// Query whether the given position shares the same parent node.
  bool same_parent(const ResolvedPos& other) const;
  /// Return the greater of this and the given position.
  const ResolvedPos& max(const ResolvedPos& other) const;
  /// Return the smaller of this and the given position.
  const ResolvedPos& min(const ResolvedPos& other) const;
  std::string to_string() const;

  /// Resolve without the cache. Throws RangeError "Position N out of range".
  static ResolvedPos resolve(const NodeRef& doc, int pos);
  /// Resolve through a small per-thread cache keyed by document.
  static ResolvedPos resolve_cached(const NodeRef& doc, int pos);

 private:
  NodeRef doc_;
  int pos_;
  // Upstream's path, one entry per depth: node, index, offset. Port note:
  // paths up to kInlineDepth entries live inline (no allocation per resolve
  // or per copy); deeper ones in path_heap_.
  static constexpr int kInlineDepth = 6;
  void push_entry(const PathEntry& entry);
  /// The path entry at a resolved depth; TypeError outside 0..depth().
  const PathEntry& entry(int depth) const {
    if (depth < 0 || depth >= path_size_) throw_no_depth(depth);
    return path()[depth];
  }
  [[noreturn]] void throw_no_depth(int depth) const;
  const PathEntry* path() const {
    return path_size_ <= kInlineDepth ? path_inline_ : path_heap_.data();
  }
  int path_size_ = 0;
  PathEntry path_inline_[kInlineDepth] = {};
  std::vector<PathEntry> path_heap_;
  int parent_offset_;
};

/// Represents a flat range of content, i.e. one that starts and ends in the same node.
class NodeRange {
 public:
  NodeRange(ResolvedPos from, ResolvedPos to, int depth)
      : from_(std::move(from)), to_(std::move(to)), depth_(depth) {}
  /// A resolved position along the start of the content.
  const ResolvedPos& from() const { return from_; }
  /// A position along the end of the content.
  const ResolvedPos& to() const { return to_; }
  /// The depth of the node that this range points into.
  int depth() const { return depth_; }
  /// The position at the start of the range.
  int start() const { return from_.before(depth_ + 1); }
  /// The position at the end of the range.
  int end() const { return to_.after(depth_ + 1); }
  /// The parent node that the range points into.
  const Node& parent() const { return from_.node(depth_); }
  /// The start index of the range in the parent node.
  int start_index() const { return from_.index(depth_); }
  /// The end index of the range in the parent node.
  int end_index() const { return to_.index_after(depth_); }

 private:
  ResolvedPos from_;
  ResolvedPos to_;
  int depth_;
};

}  // namespace rtpm::model
