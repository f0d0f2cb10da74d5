// Port of prosemirror-model src/replace.ts (1.25.13): the replace algorithm.
#include "rtpm/model/replace.h"

#include <algorithm>
#include <vector>

#include "rtpm/model/internal/child_list.h"
#include "rtpm/model/node.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"

namespace rtpm::model {

namespace {

NodeRef replace_outer(const ResolvedPos& from, const ResolvedPos& to, const Slice& slice,
                      int depth);

void check_join(const Node& main, const Node& sub) {
  if (!sub.type()->compatible_content(*main.type())) {
    throw ReplaceError("Cannot join " + sub.type()->name() + " onto " + main.type()->name());
  }
}

const Node* joinable(const ResolvedPos& before, const ResolvedPos& after, int depth) {
  const Node& node = before.node(depth);
  check_join(node, after.node(depth));
  return &node;
}

using internal::Chunk;
using internal::ChunkRef;

// Collects the children of a new fragment. Port note: replace.ts pushes onto
// an array (addNode joins adjacent text with the same markup); here a long
// run of children is taken as a slice of the source's chunk tree, and text
// that is joined is concatenated once, when the node is complete.
class ChildBuilder {
 public:
  /// Appends `child`; with `join`, joins it onto the last node when both are
  /// text with the same markup (addNode).
  void add(const NodeRef& child, bool join = true) {
    // Port note: upstream pushes a missing node (a nodeAfter/nodeBefore that
    // is null) and fails later reading its nodeSize; fail here.
    if (!child) throw TypeError("Cannot read properties of null (reading 'nodeSize')");
    if (join && child->is_text() && joins(*child)) {
      pending_text() += child->text();
      return;
    }
    push(child);
  }
  /// Appends `src` cut to the text [from, to) (src.cut(from, to)).
  void add_text(const NodeRef& src, int from, int to, bool join) {
    std::u16string_view piece =
        std::u16string_view(src->text())
            .substr(static_cast<size_t>(from), static_cast<size_t>(to - from));
    if (join && joins(*src)) {
      pending_text() += piece;
      return;
    }
    push(src);
    if (static_cast<int>(piece.size()) != src->node_size()) pending_text().assign(piece);
  }
  /// Appends the children [from, to) of `frag`, each as add(child, join).
  void add_children(const Fragment& frag, int from, int to, bool join) {
    if (from >= to) return;
    // Upstream's loop calls frag.child(i), which throws RangeError at the
    // first index outside the fragment: throw that one.
    if (from < 0 || to > frag.child_count())
      frag.child(from < 0 ? from : std::max(from, frag.child_count()));
    const ChunkRef& tree = frag.chunks();
    // Without text in the range no child can join (only text joins); the
    // first may still join onto a text node before it, so it goes alone.
    if (to - from > Chunk::kFanout && (!join || !tree->has_text())) {
      add(tree->at(from), join);
      flush();
      tree_ = Chunk::concat(tree_, Chunk::range(tree, from + 1, to));
      return;
    }
    for (int i = from; i < to; ++i) add(tree->at(i), join);
  }
  Fragment finish() {
    flush();
    return Fragment::from_chunks(std::move(tree_));
  }

 private:
  bool joins(const Node& child) {
    if (nodes_.empty()) {
      if (!tree_) return false;
      // The last node sits in the tree: take it back out if it joins.
      const NodeRef& last = tree_->at(tree_->count() - 1);
      if (!(last->is_text() && child.same_markup(*last))) return false;
      nodes_.push_back(last);
      tree_ = Chunk::prefix(tree_, tree_->count() - 1);
      return true;
    }
    return nodes_.back()->is_text() && child.same_markup(*nodes_.back());
  }
  std::u16string& pending_text() {
    if (!pending_) {
      text_ = nodes_.back()->text();
      pending_ = true;
    }
    return text_;
  }
  void settle() {
    if (!pending_) return;
    nodes_.back() = nodes_.back()->with_text(std::move(text_));
    text_.clear();
    pending_ = false;
  }
  void push(const NodeRef& node) {
    settle();
    nodes_.push_back(node);
  }
  void flush() {
    settle();
    if (nodes_.empty()) return;
    ChunkRef built = Chunk::build(nodes_.data(), static_cast<int>(nodes_.size()));
    tree_ = tree_ ? Chunk::concat(tree_, built) : std::move(built);
    nodes_.clear();
  }

  ChunkRef tree_;               // the first children
  std::vector<NodeRef> nodes_;  // the children after tree_
  std::u16string text_;         // when pending_, the text of nodes_.back()
  bool pending_ = false;
};

void add_range(const ResolvedPos* start, const ResolvedPos* end, int depth, ChildBuilder& target) {
  const Node& node = (end ? end : start)->node(depth);
  int start_index = 0, end_index = end ? end->index(depth) : node.child_count();
  if (start) {
    start_index = start->index(depth);
    if (start->depth() > depth) {
      ++start_index;
    } else if (start->text_offset()) {
      target.add(start->node_after());
      ++start_index;
    }
  }
  target.add_children(node.content(), start_index, end_index, true);
  if (end && end->depth() == depth && end->text_offset()) target.add(end->node_before());
}

NodeRef close(const Node& node, const Fragment& content) {
  if (!node.type()->valid_content(content)) {
    throw ReplaceError("Invalid content for node " + node.type()->name());
  }
  return node.copy(content);
}

Fragment replace_two_way(const ResolvedPos& from, const ResolvedPos& to, int depth) {
  ChildBuilder content;
  add_range(nullptr, &from, depth, content);
  if (from.depth() > depth) {
    const Node* type = joinable(from, to, depth + 1);
    content.add(close(*type, replace_two_way(from, to, depth + 1)));
  }
  add_range(&to, nullptr, depth, content);
  return content.finish();
}

Fragment replace_three_way(const ResolvedPos& from, const ResolvedPos& start,
                           const ResolvedPos& end, const ResolvedPos& to, int depth) {
  const Node* open_start = from.depth() > depth ? joinable(from, start, depth + 1) : nullptr;
  const Node* open_end = to.depth() > depth ? joinable(end, to, depth + 1) : nullptr;

  ChildBuilder content;
  add_range(nullptr, &from, depth, content);
  if (open_start && open_end && start.index(depth) == end.index(depth)) {
    check_join(*open_start, *open_end);
    content.add(close(*open_start, replace_three_way(from, start, end, to, depth + 1)));
  } else {
    if (open_start) content.add(close(*open_start, replace_two_way(from, start, depth + 1)));
    add_range(&start, &end, depth, content);
    if (open_end) content.add(close(*open_end, replace_two_way(end, to, depth + 1)));
  }
  add_range(&to, nullptr, depth, content);
  return content.finish();
}

struct PreparedSlice {
  ResolvedPos start;
  ResolvedPos end;
};

PreparedSlice prepare_slice_for_replace(const Slice& slice, const ResolvedPos& along) {
  int extra = along.depth() - slice.open_start();
  const Node& parent = along.node(extra);
  NodeRef node = parent.copy(slice.content());
  for (int i = extra - 1; i >= 0; --i) node = along.node(i).copy(Fragment::from(std::move(node)));
  return {node->resolve_no_cache(slice.open_start() + extra),
          node->resolve_no_cache(node->content().size() - slice.open_end() - extra)};
}

NodeRef replace_outer(const ResolvedPos& from, const ResolvedPos& to, const Slice& slice,
                      int depth) {
  int index = from.index(depth);
  const Node& node = from.node(depth);
  if (index == to.index(depth) && depth < from.depth() - slice.open_start()) {
    NodeRef inner = replace_outer(from, to, slice, depth + 1);
    return node.copy(node.content().replace_child(index, std::move(inner)));
  } else if (!slice.content().size()) {
    return close(node, replace_two_way(from, to, depth));
  } else if (!slice.open_start() && !slice.open_end() && from.depth() == depth &&
             to.depth() == depth) {  // Simple, flat case
    // Port note: builds content.cut(0, from).append(slice.content).append(
    // content.cut(to)) directly: the same children (append joins text only at
    // the two seams), without the intermediate fragments and text nodes.
    const Node& parent = from.parent();
    const Fragment& content = parent.content();
    const Fragment& inserted = slice.content();
    ChildBuilder result;
    int from_index = from.index(), from_text = from.text_offset();
    result.add_children(content, 0, from_index, false);
    if (from_text) result.add_text(content.child(from_index), 0, from_text, false);
    if (inserted.child_count()) {
      result.add(inserted.child(0), true);
      result.add_children(inserted, 1, inserted.child_count(), false);
    }
    int to_index = to.index(), to_text = to.text_offset();
    if (to_index < content.child_count()) {
      const NodeRef& after = content.child(to_index);
      if (to_text) {
        result.add_text(after, to_text, after->node_size(), true);
      } else {
        result.add(after, true);
      }
      result.add_children(content, to_index + 1, content.child_count(), false);
    }
    return close(parent, result.finish());
  } else {
    PreparedSlice prepared = prepare_slice_for_replace(slice, from);
    return close(node, replace_three_way(from, prepared.start, prepared.end, to, depth));
  }
}

}  // namespace

NodeRef replace(const ResolvedPos& from, const ResolvedPos& to, const Slice& slice) {
  if (slice.open_start() > from.depth()) {
    throw ReplaceError("Inserted content deeper than insertion position");
  }
  if (from.depth() - slice.open_start() != to.depth() - slice.open_end()) {
    throw ReplaceError("Inconsistent open depths");
  }
  return replace_outer(from, to, slice, 0);
}

}  // namespace rtpm::model
