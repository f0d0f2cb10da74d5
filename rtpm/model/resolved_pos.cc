// Port of prosemirror-model src/resolvedpos.ts (1.25.13).
#include "rtpm/model/resolved_pos.h"

#include <algorithm>
#include <array>
#include <optional>

#include "rtpm/base/error.h"
#include "rtpm/model/schema.h"

namespace rtpm::model {

ResolvedPos::ResolvedPos(NodeRef doc, int pos, std::vector<PathEntry> path, int parent_offset)
    : doc_(std::move(doc)),
      pos_(pos),
      path_size_(static_cast<int>(path.size())),
      parent_offset_(parent_offset) {
  if (path_size_ <= kInlineDepth) {
    std::copy(path.begin(), path.end(), path_inline_);
  } else {
    path_heap_ = std::move(path);
  }
}

/// The index pointing after this position into the ancestor at the
/// given level.
int ResolvedPos::index_after(int depth) const {
  depth = resolve_depth(depth);
  return index(depth) + (depth == this->depth() && !text_offset() ? 0 : 1);
}

/// The (absolute) position at the start of the node at the given
/// level.
int ResolvedPos::start(int depth) const {
  depth = resolve_depth(depth);
  return depth == 0 ? 0 : entry(depth - 1).offset + 1;
}

/// The (absolute) position at the end of the node at the given
/// level.
int ResolvedPos::end(int depth) const {
  depth = resolve_depth(depth);
  const Node* parent = entry(depth).node;
  return start(depth) + parent->content().size();
}

/// The (absolute) position directly before the wrapping node at the
/// given level, or, when `depth` is `this.depth + 1`, the original
/// position.
int ResolvedPos::before(int depth) const {
  depth = resolve_depth(depth);
  if (!depth) throw RangeError("There is no position before the top-level node");
  return depth == this->depth() + 1 ? pos_ : entry(depth - 1).offset;
}

/// The (absolute) position directly after the wrapping node at the
/// given level, or the original position when `depth` is `this.depth + 1`.
int ResolvedPos::after(int depth) const {
  depth = resolve_depth(depth);
  if (!depth) throw RangeError("There is no position after the top-level node");
  return depth == this->depth() + 1 ? pos_
                                    : entry(depth - 1).offset + entry(depth).node->node_size();
}

/// When this position points into a text node, this returns the
/// distance between the position and the start of the text node.
/// Will be zero for positions that point between nodes.
int ResolvedPos::text_offset() const { return pos_ - path()[path_size_ - 1].offset; }

/// Get the node directly after the position, if any. If the position
/// points into a text node, only the part of that node after the
/// position is returned.
NodeRef ResolvedPos::node_after() const {
  const Node& parent = this->parent();
  int index = this->index(depth());
  if (index == parent.child_count()) return nullptr;
  int d_off = pos_ - path()[path_size_ - 1].offset;
  const NodeRef& child = parent.child(index);
  return d_off ? child->cut(d_off) : child;
}

/// Get the node directly before the position, if any. If the
/// position points into a text node, only the part of that node
/// before the position is returned.
NodeRef ResolvedPos::node_before() const {
  int index = this->index(depth());
  int d_off = pos_ - path()[path_size_ - 1].offset;
  if (d_off) return parent().child(index)->cut(0, d_off);
  return index == 0 ? nullptr : parent().child(index - 1);
}

/// Get the position at the given index in the parent node at the
/// given depth (which defaults to `this.depth`).
int ResolvedPos::pos_at_index(int index, int depth) const {
  depth = resolve_depth(depth);
  const Node* node = entry(depth).node;
  int pos = depth == 0 ? 0 : path()[depth - 1].offset + 1;
  for (int i = 0; i < index; ++i) pos += node->child(i)->node_size();
  return pos;
}

/// Get the marks at this position, factoring in the surrounding
/// marks' [`inclusive`](#model.MarkSpec.inclusive) property. If the
/// position is at the start of a non-empty node, the marks of the
/// node after it (if any) are returned.
MarkSet ResolvedPos::marks() const {
  const Node& parent = this->parent();
  int index = this->index();

  // In an empty parent, return the empty array
  if (parent.content().size() == 0) return {};

  // When inside a text node, just return the text node's marks
  if (text_offset()) return parent.child(index)->marks();

  const Node* main = parent.maybe_child(index - 1);
  const Node* other = parent.maybe_child(index);
  // If the `after` flag is true of there is no node before, make
  // the node after this position the main reference.
  if (!main) std::swap(main, other);

  // Use all marks in the main node, except those that have
  // `inclusive` set to false and are not present in the other node.
  MarkSet marks = main->marks();
  for (size_t i = 0; i < marks.size(); ++i) {
    if (!marks[i].type()->inclusive() && (!other || !marks[i].is_in_set(other->marks()))) {
      marks = marks[i].remove_from_set(marks);
      --i;
    }
  }
  return marks;
}

/// Get the marks after the current position, if any, except those
/// that are non-inclusive and not present at position `$end`. This
/// is mostly useful for getting the set of marks to preserve after a
/// deletion. Will return `null` if this position is at the end of
/// its parent node or its parent node isn't a textblock (in which
/// case no marks should be preserved).
std::optional<MarkSet> ResolvedPos::marks_across(const ResolvedPos& end) const {
  const Node* after = parent().maybe_child(index());
  if (!after || !after->is_inline()) return std::nullopt;

  MarkSet marks = after->marks();
  const Node* next = end.parent().maybe_child(end.index());
  for (size_t i = 0; i < marks.size(); ++i) {
    if (!marks[i].type()->inclusive() && (!next || !marks[i].is_in_set(next->marks()))) {
      marks = marks[i].remove_from_set(marks);
      --i;
    }
  }
  return marks;
}

/// The depth up to which this position and the given (non-resolved)
/// position share the same parent nodes.
int ResolvedPos::shared_depth(int pos) const {
  for (int depth = this->depth(); depth > 0; --depth) {
    if (start(depth) <= pos && end(depth) >= pos) return depth;
  }
  return 0;
}

/// Returns a range based on the place where this position and the
/// given position diverge around block content. If both point into
/// the same textblock, for example, a range around that textblock
/// will be returned. If they point into different blocks, the range
/// around those blocks in their shared ancestor is returned. You can
/// pass in an optional predicate that will be called with a parent
/// node to see if a range into that parent is acceptable.
std::optional<NodeRange> ResolvedPos::block_range(const ResolvedPos& other) const {
  if (other.pos_ < pos_) return other.block_range(*this);
  for (int d = depth() - (parent().inline_content() || pos_ == other.pos_ ? 1 : 0); d >= 0; --d) {
    if (other.pos_ <= end(d)) return NodeRange(*this, other, d);
  }
  return std::nullopt;
}

std::optional<NodeRange> ResolvedPos::block_range(const ResolvedPos& other,
                                                  FunctionRef<bool(const Node&)> pred) const {
  // As upstream, the predicate is not passed on when the positions are swapped.
  if (other.pos_ < pos_) return other.block_range(*this);
  for (int d = depth() - (parent().inline_content() || pos_ == other.pos_ ? 1 : 0); d >= 0; --d) {
    if (other.pos_ <= end(d) && pred(node(d))) return NodeRange(*this, other, d);
  }
  return std::nullopt;
}

std::optional<NodeRange> ResolvedPos::block_range() const { return block_range(*this); }

/// Query whether the given position shares the same parent node.
bool ResolvedPos::same_parent(const ResolvedPos& other) const {
  return pos_ - parent_offset_ == other.pos_ - other.parent_offset_;
}

/// Return the greater of this and the given position.
const ResolvedPos& ResolvedPos::max(const ResolvedPos& other) const {
  return other.pos_ > pos_ ? other : *this;
}

/// Return the smaller of this and the given position.
const ResolvedPos& ResolvedPos::min(const ResolvedPos& other) const {
  return other.pos_ < pos_ ? other : *this;
}

std::string ResolvedPos::to_string() const {
  std::string str;
  for (int i = 1; i <= depth(); ++i) {
    if (!str.empty()) str += "/";
    str += node(i).type()->name() + "_" + std::to_string(index(i - 1));
  }
  return str + ":" + std::to_string(parent_offset_);
}

ResolvedPos ResolvedPos::resolve(const NodeRef& doc, int pos) {
  if (!(pos >= 0 && pos <= doc->content().size())) {
    throw RangeError("Position " + std::to_string(pos) + " out of range");
  }
  ResolvedPos result(doc, pos, {}, 0);
  int start = 0, parent_offset = pos;
  for (const Node* node = doc.get();;) {
    Fragment::IndexInfo found = node->content().find_index(parent_offset);
    int rem = parent_offset - found.offset;
    result.push_entry({node, found.index, start + found.offset});
    if (!rem) break;
    node = node->child(found.index).get();
    if (node->is_text()) break;
    parent_offset = rem - 1;
    start += found.offset + 1;
  }
  result.parent_offset_ = parent_offset;
  return result;
}

void ResolvedPos::throw_no_depth(int depth) const {
  throw TypeError("Cannot read properties of undefined (position " + std::to_string(pos_) +
                  " has no node at depth " + std::to_string(depth) + ", its depth is " +
                  std::to_string(this->depth()) + ")");
}

void ResolvedPos::push_entry(const PathEntry& entry) {
  if (path_size_ < kInlineDepth) {
    path_inline_[path_size_++] = entry;
    return;
  }
  if (path_size_ == kInlineDepth) path_heap_.assign(path_inline_, path_inline_ + kInlineDepth);
  path_heap_.push_back(entry);
  ++path_size_;
}

namespace {

constexpr int kResolveCacheSize = 12;

/// Port note: upstream keeps 12 positions per document in a WeakMap; here
/// each thread keeps its 12 most recent positions over all documents. The
/// cached ResolvedPos holds its document, so a pointer cannot be reused
/// while it is cached (the cache keeps up to 12 documents alive).
struct ResolveCache {
  std::array<std::optional<ResolvedPos>, kResolveCacheSize> elts;
  int i = 0;
};

}  // namespace

ResolvedPos ResolvedPos::resolve_cached(const NodeRef& doc, int pos) {
  thread_local ResolveCache cache;
  for (const std::optional<ResolvedPos>& elt : cache.elts) {
    if (elt && elt->pos_ == pos && elt->doc_ == doc) return *elt;
  }
  ResolvedPos result = resolve(doc, pos);
  cache.elts[cache.i] = result;
  cache.i = (cache.i + 1) % kResolveCacheSize;
  return result;
}

}  // namespace rtpm::model
