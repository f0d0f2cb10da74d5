// Port of prosemirror-model src/replace.ts (1.25.13): the replace algorithm.
#include "rtpm/model/replace.h"

#include <vector>

#include "rtpm/model/node.h"
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

void add_node(NodeRef child, std::vector<NodeRef>& target) {
  if (!target.empty() && child->is_text() && child->same_markup(*target.back())) {
    target.back() = child->with_text(target.back()->text() + child->text());
  } else {
    target.push_back(std::move(child));
  }
}

void add_range(const ResolvedPos* start, const ResolvedPos* end, int depth,
               std::vector<NodeRef>& target) {
  const Node& node = (end ? end : start)->node(depth);
  int start_index = 0, end_index = end ? end->index(depth) : node.child_count();
  if (start) {
    start_index = start->index(depth);
    if (start->depth() > depth) {
      ++start_index;
    } else if (start->text_offset()) {
      add_node(start->node_after(), target);
      ++start_index;
    }
  }
  for (int i = start_index; i < end_index; ++i) add_node(node.child(i), target);
  if (end && end->depth() == depth && end->text_offset()) add_node(end->node_before(), target);
}

NodeRef close(const Node& node, const Fragment& content) {
  if (!node.type()->valid_content(content)) {
    throw ReplaceError("Invalid content for node " + node.type()->name());
  }
  return node.copy(content);
}

Fragment replace_two_way(const ResolvedPos& from, const ResolvedPos& to, int depth) {
  std::vector<NodeRef> content;
  add_range(nullptr, &from, depth, content);
  if (from.depth() > depth) {
    const Node* type = joinable(from, to, depth + 1);
    add_node(close(*type, replace_two_way(from, to, depth + 1)), content);
  }
  add_range(&to, nullptr, depth, content);
  // Port note: add_node already joined adjacent text, so from_array only sums sizes.
  return Fragment::from_array(std::move(content));
}

Fragment replace_three_way(const ResolvedPos& from, const ResolvedPos& start,
                           const ResolvedPos& end, const ResolvedPos& to, int depth) {
  const Node* open_start = from.depth() > depth ? joinable(from, start, depth + 1) : nullptr;
  const Node* open_end = to.depth() > depth ? joinable(end, to, depth + 1) : nullptr;

  std::vector<NodeRef> content;
  add_range(nullptr, &from, depth, content);
  if (open_start && open_end && start.index(depth) == end.index(depth)) {
    check_join(*open_start, *open_end);
    add_node(close(*open_start, replace_three_way(from, start, end, to, depth + 1)), content);
  } else {
    if (open_start) add_node(close(*open_start, replace_two_way(from, start, depth + 1)), content);
    add_range(&start, &end, depth, content);
    if (open_end) add_node(close(*open_end, replace_two_way(end, to, depth + 1)), content);
  }
  add_range(&to, nullptr, depth, content);
  return Fragment::from_array(std::move(content));
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
    const Node& parent = from.parent();
    const Fragment& content = parent.content();
    return close(parent, content.cut(0, from.parent_offset())
                             .append(slice.content())
                             .append(content.cut(to.parent_offset())));
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
