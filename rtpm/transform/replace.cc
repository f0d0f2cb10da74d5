// Port of prosemirror-transform src/replace.ts (1.12.6).
#include "rtpm/transform/replace.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

#include "rtpm/model/content_match.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/transform/internal/expect.h"
#include "rtpm/transform/replace_step.h"
#include "rtpm/transform/structure.h"
#include "rtpm/transform/transform.h"

namespace rtpm::transform {

using model::ContentMatch;
using model::Fragment;
using model::Node;
using model::NodeRef;
using model::NodeType;
using model::ResolvedPos;
using model::Slice;

namespace {

using internal::expect;

bool fits_trivially(const ResolvedPos& from, const ResolvedPos& to, const Slice& slice) {
  return !slice.open_start() && !slice.open_end() && from.start() == to.start() &&
         from.parent().can_replace(from.index(), to.index(), slice.content());
}

struct Fittable {
  int slice_depth;
  int frontier_depth;
  NodeRef parent;  // null when placing from the slice's top level
  std::optional<Fragment> inject;
  std::optional<std::vector<const NodeType*>> wrap;
};

Fragment drop_from_fragment(const Fragment& fragment, int depth, int count);
Fragment add_to_fragment(const Fragment& fragment, int depth, const Fragment& content);
Fragment content_at(Fragment fragment, int depth);
NodeRef close_node_start(const NodeRef& node, int open_start, int open_end);
std::optional<Fragment> content_after_fits(const ResolvedPos& to, int depth, const NodeType* type,
                                           const ContentMatch* match, bool open);
int max_open(Fragment frag, int side);

// Algorithm for 'placing' the elements of a slice into a gap:
//
// We consider the content of each node that is open to the left to be
// independently placeable. I.e. in <p("foo"), p("bar")>, when the
// paragraph on the left is open, "foo" can be placed (somewhere on
// the left side of the replacement gap) independently from p("bar").
//
// This class tracks the state of the placement progress in the
// following properties:
//
//  - `frontier` holds a stack of `{type, match}` objects that
//    represent the open side of the replacement. It starts at
//    `$from`, then moves forward as content is placed, and is finally
//    reconciled with `$to`.
//
//  - `unplaced` is a slice that represents the content that hasn't
//    been placed yet.
//
//  - `placed` is a fragment of placed content. Its open-start value
//    is implicit in `$from`, and its open-end value in `frontier`.
class Fitter {
 public:
  Fitter(ResolvedPos from, ResolvedPos to, Slice unplaced)
      : from_(std::move(from)), to_(std::move(to)), unplaced_(std::move(unplaced)) {
    for (int i = 0; i <= from_.depth(); i++) {
      const Node& node = from_.node(i);
      frontier_.push_back(Frontier{node.type(), &node.content_match_at(from_.index_after(i))});
    }

    for (int i = from_.depth(); i > 0; i--) placed_ = Fragment::from(from_.node(i).copy(placed_));
  }

  StepPtr fit() {
    // As long as there's unplaced content, try to place some of it.
    // If that fails, either increase the open score of the unplaced
    // slice, or drop nodes from it, and then try again.
    while (unplaced_.size()) {
      std::optional<Fittable> fit = find_fittable();
      if (fit)
        place_nodes(*fit);
      else if (!open_more())
        drop_node();
    }
    // When there's inline content directly after the frontier _and_
    // directly after `this.$to`, we must generate a `ReplaceAround`
    // step that pulls that content into the node after the frontier.
    // That means the fitting must be done to the end of the textblock
    // node after `this.$to`, not `this.$to` itself.
    int move_inline = must_move_inline();
    int placed_size = placed_.size() - depth() - from_.depth();
    std::optional<ResolvedPos> to = close(move_inline < 0 ? to_ : from_.doc().resolve(move_inline));
    if (!to) return nullptr;

    // If closing to `$to` succeeded, create a step
    Fragment content = placed_;
    int open_start = from_.depth(), open_end = to->depth();
    while (open_start && open_end && content.child_count() == 1) {
      // Normalize by dropping open parent nodes
      Fragment inner = content.first_child()->content();
      content = std::move(inner);
      open_start--;
      open_end--;
    }
    Slice slice(content, open_start, open_end);
    if (move_inline > -1)
      return std::make_shared<ReplaceAroundStep>(from_.pos(), move_inline, to_.pos(), to_.end(),
                                                 slice, placed_size);
    if (slice.size() || from_.pos() != to_.pos())  // Don't generate no-op steps
      return std::make_shared<ReplaceStep>(from_.pos(), to->pos(), slice);
    return nullptr;
  }

 private:
  struct Frontier {
    const NodeType* type;
    const ContentMatch* match;  // null only after close() (see open_frontier_node)
  };
  struct CloseLevel {
    int depth;
    Fragment fit;
    ResolvedPos move;
  };

  int depth() const { return static_cast<int>(frontier_.size()) - 1; }

  // Find a position on the start spine of `this.unplaced` that has
  // content that can be moved somewhere on the frontier. Returns two
  // depths, one for the slice and one for the frontier.
  std::optional<Fittable> find_fittable() const {
    int start_depth = unplaced_.open_start();
    {
      Fragment cur = unplaced_.content();
      for (int d = 0, open_end = unplaced_.open_end(); d < start_depth; d++) {
        NodeRef node(expect(cur.first_child()));
        if (cur.child_count() > 1) open_end = 0;
        if (node->type()->isolating() && open_end <= d) {
          start_depth = d;
          break;
        }
        cur = node->content();
      }
    }

    // Only try wrapping nodes (pass 2) after finding a place without
    // wrapping failed.
    for (int pass = 1; pass <= 2; pass++) {
      for (int slice_depth = pass == 1 ? start_depth : unplaced_.open_start(); slice_depth >= 0;
           slice_depth--) {
        Fragment fragment;
        NodeRef parent;
        if (slice_depth) {
          parent = NodeRef(expect(content_at(unplaced_.content(), slice_depth - 1).first_child()));
          fragment = parent->content();
        } else {
          fragment = unplaced_.content();
        }
        const Node* first = fragment.first_child();
        for (int frontier_depth = depth(); frontier_depth >= 0; frontier_depth--) {
          const NodeType* type = frontier_[frontier_depth].type;
          const ContentMatch* match = frontier_[frontier_depth].match;
          // In pass 1, if the next node matches, or there is no next
          // node but the parents look compatible, we've found a
          // place.
          if (pass == 1) {
            std::optional<Fragment> inject;
            bool found;
            if (first) {
              found = match->match_type(first->type()) != nullptr;
              if (!found) {
                inject = match->fill_before(Fragment::from(NodeRef(first)), false);
                found = inject.has_value();
              }
            } else {
              found = parent && type->compatible_content(*parent->type());
            }
            if (found) return Fittable{slice_depth, frontier_depth, parent, inject, std::nullopt};
          } else if (first) {
            // In pass 2, look for a set of wrapping nodes that make
            // `first` fit here.
            if (auto wrap = match->find_wrapping(first->type()))
              return Fittable{slice_depth, frontier_depth, parent, std::nullopt, std::move(wrap)};
          }
          // Don't continue looking further up if the parent node
          // would fit here.
          if (parent && match->match_type(parent->type())) break;
        }
      }
    }
    return std::nullopt;
  }

  bool open_more() {
    Fragment content = unplaced_.content();
    int open_start = unplaced_.open_start(), open_end = unplaced_.open_end();
    if (max_open(content, -1) <= open_start) return false;
    if (unplaced_.size() > 1 && max_open(content, 1) > open_end) open_end++;
    unplaced_ = Slice(content, open_start + 1, open_end);
    return true;
  }

  void drop_node() {
    Fragment content = unplaced_.content();
    int open_start = unplaced_.open_start(), open_end = unplaced_.open_end();
    Fragment inner = content_at(content, open_start);
    if (inner.child_count() <= 1 && open_start > 0) {
      bool open_at_end = content.size() - open_start <= open_start + inner.size();
      unplaced_ = Slice(drop_from_fragment(content, open_start - 1, 1), open_start - 1,
                        open_at_end ? open_start - 1 : open_end);
    } else {
      unplaced_ = Slice(drop_from_fragment(content, open_start, 1), open_start, open_end);
    }
  }

  // Move content from the unplaced slice at `sliceDepth` to the
  // frontier node at `frontierDepth`. Close that frontier node when
  // applicable.
  void place_nodes(const Fittable& fittable) {
    int slice_depth = fittable.slice_depth, frontier_depth = fittable.frontier_depth;
    const NodeRef& parent = fittable.parent;
    while (depth() > frontier_depth) close_frontier_node();
    if (fittable.wrap)
      for (const NodeType* type : *fittable.wrap)
        open_frontier_node(type, std::nullopt, Fragment());

    Slice slice = unplaced_;
    Fragment fragment = parent ? parent->content() : slice.content();
    int open_start = slice.open_start() - slice_depth;
    int taken = 0;
    std::vector<NodeRef> add;
    const ContentMatch* match = frontier_[frontier_depth].match;
    const NodeType* type = frontier_[frontier_depth].type;
    if (fittable.inject) {
      for (int i = 0; i < fittable.inject->child_count(); i++)
        add.push_back(fittable.inject->child(i));
      match = expect(match->match_fragment(*fittable.inject));
    }
    // Computes the amount of (end) open nodes at the end of the
    // fragment. When 0, the parent is open, but no more. When
    // negative, nothing is open.
    int open_end_count =
        (fragment.size() + slice_depth) - (slice.content().size() - slice.open_end());
    // Scan over the fragment, fitting as many child nodes as
    // possible.
    while (taken < fragment.child_count()) {
      const NodeRef& next = fragment.child(taken);
      const ContentMatch* matches = match->match_type(next->type());
      if (!matches) break;
      taken++;
      if (taken > 1 || open_start == 0 || next->content().size()) {  // Drop empty open nodes
        match = matches;
        add.push_back(close_node_start(next->mark(type->allowed_marks(next->marks())),
                                       taken == 1 ? open_start : 0,
                                       taken == fragment.child_count() ? open_end_count : -1));
      }
    }
    bool to_end = taken == fragment.child_count();
    if (!to_end) open_end_count = -1;

    placed_ = add_to_fragment(placed_, frontier_depth, Fragment::from_array(add));
    frontier_[frontier_depth].match = match;

    // If the parent types match, and the entire node was moved, and
    // it's not open, close this frontier node right away.
    if (to_end && open_end_count < 0 && parent && parent->type() == frontier_[depth()].type &&
        frontier_.size() > 1)
      close_frontier_node();

    // Add new frontier nodes for any open nodes at the end.
    NodeRef cur = add.empty() ? NodeRef() : add.back();
    for (int i = 0; cur && i < open_end_count; i++) {
      frontier_.push_back(Frontier{cur->type(), &cur->content_match_at(cur->child_count())});
      cur = NodeRef(cur->last_child());
    }

    // Update `this.unplaced`. Drop the entire node from which we
    // placed it we got to its end, otherwise just drop the placed
    // nodes.
    unplaced_ = !to_end            ? Slice(drop_from_fragment(slice.content(), slice_depth, taken),
                                           slice_depth, slice.open_end())
                : slice_depth == 0 ? Slice::empty()
                                   : Slice(drop_from_fragment(slice.content(), slice_depth - 1, 1),
                                           slice_depth - 1,
                                           open_end_count < 0 ? slice.open_end() : slice_depth - 1);
  }

  int must_move_inline() const {
    if (!to_.parent().is_textblock()) return -1;
    const Frontier& top = frontier_[depth()];
    if (!top.type->is_textblock() ||
        !content_after_fits(to_, to_.depth(), top.type, top.match, false))
      return -1;
    if (to_.depth() == depth()) {
      std::optional<CloseLevel> level = find_close_level(to_);
      if (level && level->depth == depth()) return -1;
    }

    int d = to_.depth(), after = to_.after(d);
    while (d > 1 && after == to_.end(--d)) ++after;
    return after;
  }

  std::optional<CloseLevel> find_close_level(const ResolvedPos& to) const {
    for (int i = std::min(depth(), to.depth()); i >= 0; i--) {
      const NodeType* type = frontier_[i].type;
      const ContentMatch* match = frontier_[i].match;
      bool drop_inner = i < to.depth() && to.end(i + 1) == to.pos() + (to.depth() - (i + 1));
      std::optional<Fragment> fit = content_after_fits(to, i, type, match, drop_inner);
      if (!fit) continue;
      bool ok = true;
      for (int d = i - 1; d >= 0; d--) {
        std::optional<Fragment> matches =
            content_after_fits(to, d, frontier_[d].type, frontier_[d].match, true);
        if (!matches || matches->child_count()) {
          ok = false;  // continue scan
          break;
        }
      }
      if (!ok) continue;
      return CloseLevel{i, *fit, drop_inner ? to.doc().resolve(to.after(i + 1)) : to};
    }
    return std::nullopt;
  }

  std::optional<ResolvedPos> close(const ResolvedPos& to_in) {
    std::optional<CloseLevel> close = find_close_level(to_in);
    if (!close) return std::nullopt;

    while (depth() > close->depth) close_frontier_node();
    if (close->fit.child_count()) placed_ = add_to_fragment(placed_, close->depth, close->fit);
    ResolvedPos to = close->move;
    for (int d = close->depth + 1; d <= to.depth(); d++) {
      const Node& node = to.node(d);
      std::optional<Fragment> add =
          node.type()->content_match().fill_before(node.content(), true, to.index(d));
      open_frontier_node(node.type(), node.attrs(), add ? *add : Fragment());
    }
    return to;
  }

  void open_frontier_node(const NodeType* type, const std::optional<model::Attrs>& attrs,
                          const Fragment& content) {
    Frontier& top = frontier_[depth()];
    // Port note: upstream asserts this match with `!`, but it can be null
    // when closing to a $to whose ancestors don't match the frontier; the
    // frontier is then never used again, so null is kept as upstream does.
    top.match = top.match->match_type(type);
    NodeRef node = attrs ? type->create(*attrs, content) : type->create(nullptr, content);
    placed_ = add_to_fragment(placed_, depth(), Fragment::from(node));
    frontier_.push_back(Frontier{type, &type->content_match()});
  }

  void close_frontier_node() {
    Frontier open = frontier_.back();
    frontier_.pop_back();
    std::optional<Fragment> add = open.match->fill_before(Fragment::empty(), true);
    if (add && add->child_count())
      placed_ = add_to_fragment(placed_, static_cast<int>(frontier_.size()), *add);
  }

  ResolvedPos from_;
  ResolvedPos to_;
  Slice unplaced_;
  std::vector<Frontier> frontier_;
  Fragment placed_;
};

Fragment drop_from_fragment(const Fragment& fragment, int depth, int count) {
  if (depth == 0) return fragment.cut_by_index(count, fragment.child_count());
  const Node* first = expect(fragment.first_child());
  return fragment.replace_child(
      0, first->copy(drop_from_fragment(first->content(), depth - 1, count)));
}

Fragment add_to_fragment(const Fragment& fragment, int depth, const Fragment& content) {
  if (depth == 0) return fragment.append(content);
  const Node* last = expect(fragment.last_child());
  return fragment.replace_child(fragment.child_count() - 1,
                                last->copy(add_to_fragment(last->content(), depth - 1, content)));
}

Fragment content_at(Fragment fragment, int depth) {
  for (int i = 0; i < depth; i++) {
    Fragment inner = expect(fragment.first_child())->content();
    fragment = std::move(inner);
  }
  return fragment;
}

NodeRef close_node_start(const NodeRef& node, int open_start, int open_end) {
  if (open_start <= 0) return node;
  Fragment frag = node->content();
  if (open_start > 1)
    frag =
        frag.replace_child(0, close_node_start(NodeRef(expect(frag.first_child())), open_start - 1,
                                               frag.child_count() == 1 ? open_end - 1 : 0));
  if (open_start > 0) {
    const ContentMatch& start = node->type()->content_match();
    frag = expect(start.fill_before(frag)).append(frag);
    if (open_end <= 0)
      frag = frag.append(
          expect(expect(start.match_fragment(frag))->fill_before(Fragment::empty(), true)));
  }
  return node->copy(frag);
}

bool invalid_marks(const NodeType* type, const Fragment& fragment, int start) {
  for (int i = start; i < fragment.child_count(); i++)
    if (!type->allows_marks(fragment.child(i)->marks())) return true;
  return false;
}

std::optional<Fragment> content_after_fits(const ResolvedPos& to, int depth, const NodeType* type,
                                           const ContentMatch* match, bool open) {
  const Node& node = to.node(depth);
  int index = open ? to.index_after(depth) : to.index(depth);
  if (index == node.child_count() && !type->compatible_content(*node.type())) return std::nullopt;
  std::optional<Fragment> fit = match->fill_before(node.content(), true, index);
  if (fit && !invalid_marks(type, node.content(), index)) return fit;
  return std::nullopt;
}

bool defines_content(const NodeType* type) {
  return type->defining() || type->defining_for_content();
}

int max_open(Fragment frag, int side) {
  for (int count = 0;; count++) {
    const Node* ch = side < 0 ? frag.first_child() : frag.last_child();
    if (!ch || ch->is_atom()) return count;
    Fragment inner = ch->content();
    frag = std::move(inner);
  }
}

// Returns an array of all depths for which $from - $to spans the
// whole content of the nodes at that depth.
std::vector<int> covered_depths(const ResolvedPos& from, const ResolvedPos& to) {
  std::vector<int> result;
  int min_depth = std::min(from.depth(), to.depth());
  for (int d = min_depth; d >= 0; d--) {
    int start = from.start(d);
    if (start < from.pos() - (from.depth() - d) || to.end(d) > to.pos() + (to.depth() - d) ||
        from.node(d).type()->isolating() || to.node(d).type()->isolating())
      break;
    if (start == to.start(d) ||
        (d == from.depth() && d == to.depth() && from.parent().inline_content() &&
         to.parent().inline_content() && d && to.start(d - 1) == start - 1))
      result.push_back(d);
  }
  return result;
}

Fragment close_fragment(Fragment fragment, int depth, int old_open, int new_open,
                        const Node* parent) {
  if (depth < old_open) {
    NodeRef first(expect(fragment.first_child()));
    fragment = fragment.replace_child(
        0,
        first->copy(close_fragment(first->content(), depth + 1, old_open, new_open, first.get())));
  }
  if (depth > new_open) {
    const ContentMatch& match = expect(parent)->content_match_at(0);
    Fragment start = expect(match.fill_before(fragment)).append(fragment);
    fragment = start.append(
        expect(expect(match.match_fragment(start))->fill_before(Fragment::empty(), true)));
  }
  return fragment;
}

}  // namespace

StepPtr replace_step(const Node& doc, int from, int to, const Slice& slice) {
  if (from == to && !slice.size()) return nullptr;

  ResolvedPos rfrom = doc.resolve(from), rto = doc.resolve(to);
  // Optimization -- avoid work if it's obvious that it's not needed.
  if (fits_trivially(rfrom, rto, slice)) return std::make_shared<ReplaceStep>(from, to, slice);
  return Fitter(rfrom, rto, slice).fit();
}

void replace_range(Transform& tr, int from, int to, const Slice& slice) {
  if (!slice.size()) {
    tr.delete_range(from, to);
    return;
  }

  ResolvedPos rfrom = tr.doc()->resolve(from), rto = tr.doc()->resolve(to);
  if (fits_trivially(rfrom, rto, slice)) {
    tr.step(std::make_shared<ReplaceStep>(from, to, slice));
    return;
  }

  std::vector<int> target_depths = covered_depths(rfrom, rto);
  // Can't replace the whole document, so remove 0 if it's present
  if (!target_depths.empty() && target_depths.back() == 0) target_depths.pop_back();
  // Negative numbers represent not expansion over the whole node at
  // that depth, but replacing from $from.before(-D) to $to.pos.
  int preferred_target = -(rfrom.depth() + 1);
  target_depths.insert(target_depths.begin(), preferred_target);
  // This loop picks a preferred target depth, if one of the covering
  // depths is not outside of a defining node, and adds negative
  // depths for any depth that has $from at its start and does not
  // cross a defining node.
  for (int d = rfrom.depth(), pos = rfrom.pos() - 1; d > 0; d--, pos--) {
    const NodeType* type = rfrom.node(d).type();
    if (type->defining() || type->defining_as_context() || type->isolating()) break;
    if (std::find(target_depths.begin(), target_depths.end(), d) != target_depths.end())
      preferred_target = d;
    else if (rfrom.before(d) == pos)
      target_depths.insert(target_depths.begin() + 1, -d);
  }
  // Try to fit each possible depth of the slice into each possible
  // target depth, starting with the preferred depths.
  int preferred_target_index =
      static_cast<int>(std::find(target_depths.begin(), target_depths.end(), preferred_target) -
                       target_depths.begin());

  std::vector<const Node*> left_nodes;
  int preferred_depth = slice.open_start();
  {
    Fragment content = slice.content();
    for (int i = 0;; i++) {
      const Node* node = content.first_child();
      left_nodes.push_back(node);
      if (i == slice.open_start()) break;
      Fragment inner = expect(node)->content();
      content = std::move(inner);
    }
  }

  // Back up preferredDepth to cover defining textblocks directly
  // above it, possibly skipping a non-defining textblock.
  for (int d = preferred_depth - 1; d >= 0; d--) {
    const Node* left_node = left_nodes[d];
    bool def = defines_content(left_node->type());
    if (def && !left_node->same_markup(rfrom.node(std::abs(preferred_target) - 1)))
      preferred_depth = d;
    else if (def || !left_node->type()->is_textblock())
      break;
  }

  int n_targets = static_cast<int>(target_depths.size());
  for (int j = slice.open_start(); j >= 0; j--) {
    int open_depth = (j + preferred_depth + 1) % (slice.open_start() + 1);
    const Node* insert = left_nodes[open_depth];
    if (!insert) continue;
    for (int i = 0; i < n_targets; i++) {
      // Loop over possible expansion levels, starting with the
      // preferred one
      int target_depth = target_depths[(i + preferred_target_index) % n_targets];
      bool expand = true;
      if (target_depth < 0) {
        expand = false;
        target_depth = -target_depth;
      }
      const Node& parent = rfrom.node(target_depth - 1);
      int index = rfrom.index(target_depth - 1);
      if (parent.can_replace_with(index, index, insert->type(), &insert->marks())) {
        tr.replace(
            rfrom.before(target_depth), expand ? rto.after(target_depth) : to,
            Slice(close_fragment(slice.content(), 0, slice.open_start(), open_depth, nullptr),
                  open_depth, slice.open_end()));
        return;
      }
    }
  }

  size_t start_steps = tr.steps().size();
  for (int i = n_targets - 1; i >= 0; i--) {
    tr.replace(from, to, slice);
    if (tr.steps().size() > start_steps) break;
    int depth = target_depths[i];
    if (depth < 0) continue;
    from = rfrom.before(depth);
    to = rto.after(depth);
  }
}

void replace_range_with(Transform& tr, int from, int to, const NodeRef& node) {
  if (!node->is_inline() && from == to && tr.doc()->resolve(from).parent().content().size()) {
    std::optional<int> point = insert_point(*tr.doc(), from, node->type());
    if (point) from = to = *point;
  }
  tr.replace_range(from, to, Slice(Fragment::from(node), 0, 0));
}

void delete_range(Transform& tr, int from, int to) {
  ResolvedPos rfrom = tr.doc()->resolve(from), rto = tr.doc()->resolve(to);

  // When the deleted range spans from the start of one textblock to
  // the start of another one, move out of the start of both blocks.
  if (rfrom.parent().is_textblock() && rto.parent().is_textblock() &&
      rfrom.start() != rto.start() && rfrom.parent_offset() == 0 && rto.parent_offset() == 0) {
    int shared = rfrom.shared_depth(to);
    bool isolated = false;
    for (int d = rfrom.depth(); d > shared; d--)
      if (rfrom.node(d).type()->isolating()) isolated = true;
    for (int d = rto.depth(); d > shared; d--)
      if (rto.node(d).type()->isolating()) isolated = true;
    if (!isolated) {
      for (int d = rfrom.depth(); d > 0 && from == rfrom.start(d); d--) from = rfrom.before(d);
      for (int d = rto.depth(); d > 0 && to == rto.start(d); d--) to = rto.before(d);
      rfrom = tr.doc()->resolve(from);
      rto = tr.doc()->resolve(to);
    }
  }

  std::vector<int> covered = covered_depths(rfrom, rto);
  for (size_t i = 0; i < covered.size(); i++) {
    int depth = covered[i];
    bool last = i == covered.size() - 1;
    if ((last && depth == 0) || rfrom.node(depth).type()->content_match().valid_end()) {
      tr.del(rfrom.start(depth), rto.end(depth));
      return;
    }
    if (depth > 0 && (last || rfrom.node(depth - 1).can_replace(rfrom.index(depth - 1),
                                                                rto.index_after(depth - 1)))) {
      tr.del(rfrom.before(depth), rto.after(depth));
      return;
    }
  }
  for (int d = 1; d <= rfrom.depth() && d <= rto.depth(); d++) {
    if (from - rfrom.start(d) == rfrom.depth() - d && to > rfrom.end(d) &&
        rto.end(d) - to != rto.depth() - d && rfrom.start(d - 1) == rto.start(d - 1) &&
        rfrom.node(d - 1).can_replace(rfrom.index(d - 1), rto.index(d - 1))) {
      tr.del(rfrom.before(d), to);
      return;
    }
  }
  tr.del(from, to);
}

}  // namespace rtpm::transform
