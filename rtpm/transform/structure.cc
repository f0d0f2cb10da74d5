// Port of prosemirror-transform src/structure.ts (1.12.6).
#include "rtpm/transform/structure.h"

#include <algorithm>
#include <memory>
#include <string>

#include "rtpm/model/content_match.h"
#include "rtpm/transform/internal/expect.h"
#include "rtpm/transform/mark.h"
#include "rtpm/transform/replace_step.h"
#include "rtpm/transform/transform.h"

namespace rtpm::transform {

using model::ContentMatch;
using model::Fragment;
using model::Node;
using model::NodeRange;
using model::NodeRef;
using model::NodeType;
using model::ResolvedPos;
using model::Slice;

namespace {

bool can_cut(const Node& node, int start, int end) {
  return (start == 0 || node.can_replace(start, node.child_count())) &&
         (end == node.child_count() || node.can_replace(0, end));
}

/// The wrapper at `i` of an optional typesAfter array (upstream reads
/// `typesAfter[i]`, which is undefined out of range).
const Wrapper* type_after(const std::vector<std::optional<Wrapper>>* types_after, int i) {
  if (!types_after || i < 0 || i >= static_cast<int>(types_after->size())) return nullptr;
  const std::optional<Wrapper>& w = (*types_after)[i];
  return w ? &*w : nullptr;
}

const model::AttrMap* attrs_of(const Wrapper& w) { return w.attrs ? &*w.attrs : nullptr; }

}  // namespace

std::optional<int> lift_target(const NodeRange& range) {
  const Node& parent = range.parent();
  Fragment content = parent.content().cut_by_index(range.start_index(), range.end_index());
  for (int depth = range.depth(), content_before = 0, content_after = 0;; --depth) {
    const Node& node = range.from().node(depth);
    int index = range.from().index(depth) + content_before,
        end_index = range.to().index_after(depth) - content_after;
    if (depth < range.depth() && node.can_replace(index, end_index, content)) return depth;
    if (depth == 0 || node.type()->isolating() || !can_cut(node, index, end_index)) break;
    if (index) content_before = 1;
    if (end_index < node.child_count()) content_after = 1;
  }
  return std::nullopt;
}

void lift(Transform& tr, const NodeRange& range, int target) {
  const ResolvedPos& from = range.from();
  const ResolvedPos& to = range.to();
  int depth = range.depth();

  int gap_start = from.before(depth + 1), gap_end = to.after(depth + 1);
  int start = gap_start, end = gap_end;

  Fragment before = Fragment::empty();
  int open_start = 0;
  for (int d = depth, splitting = false; d > target; d--) {
    if (splitting || from.index(d) > 0) {
      splitting = true;
      before = Fragment::from(from.node(d).copy(before));
      open_start++;
    } else {
      start--;
    }
  }
  Fragment after = Fragment::empty();
  int open_end = 0;
  for (int d = depth, splitting = false; d > target; d--) {
    if (splitting || to.after(d + 1) < to.end(d)) {
      splitting = true;
      after = Fragment::from(to.node(d).copy(after));
      open_end++;
    } else {
      end++;
    }
  }

  tr.step(std::make_shared<ReplaceAroundStep>(start, end, gap_start, gap_end,
                                              Slice(before.append(after), open_start, open_end),
                                              before.size() - open_start, true));
}

namespace {

std::optional<std::vector<const NodeType*>> find_wrapping_outside(const NodeRange& range,
                                                                  const NodeType* type) {
  const Node& parent = range.parent();
  int start_index = range.start_index(), end_index = range.end_index();
  auto around = parent.content_match_at(start_index).find_wrapping(type);
  if (!around) return std::nullopt;
  const NodeType* outer = around->empty() ? type : (*around)[0];
  if (parent.can_replace_with(start_index, end_index, outer)) return around;
  return std::nullopt;
}

std::optional<std::vector<const NodeType*>> find_wrapping_inside(const NodeRange& range,
                                                                 const NodeType* type) {
  const Node& parent = range.parent();
  int start_index = range.start_index(), end_index = range.end_index();
  const Node& inner = *parent.child(start_index);
  auto inside = type->content_match().find_wrapping(inner.type());
  if (!inside) return std::nullopt;
  const NodeType* last_type = inside->empty() ? type : inside->back();
  const ContentMatch* inner_match = &last_type->content_match();
  for (int i = start_index; inner_match && i < end_index; i++)
    inner_match = inner_match->match_type(parent.child(i)->type());
  if (!inner_match || !inner_match->valid_end()) return std::nullopt;
  return inside;
}

}  // namespace

std::optional<std::vector<Wrapper>> find_wrapping(const NodeRange& range, const NodeType* node_type,
                                                  const model::AttrMap* attrs,
                                                  const NodeRange* inner_range) {
  auto around = find_wrapping_outside(range, node_type);
  if (!around) return std::nullopt;
  auto inner = find_wrapping_inside(inner_range ? *inner_range : range, node_type);
  if (!inner) return std::nullopt;
  std::vector<Wrapper> result;
  for (const NodeType* t : *around) result.push_back(Wrapper{t, std::nullopt});
  result.push_back(Wrapper{
      node_type, attrs ? std::optional<model::AttrMap>(*attrs) : std::optional<model::AttrMap>()});
  for (const NodeType* t : *inner) result.push_back(Wrapper{t, std::nullopt});
  return result;
}

void wrap(Transform& tr, const NodeRange& range, const std::vector<Wrapper>& wrappers) {
  Fragment content = Fragment::empty();
  for (int i = static_cast<int>(wrappers.size()) - 1; i >= 0; i--) {
    if (content.size()) {
      const ContentMatch* match = wrappers[i].type->content_match().match_fragment(content);
      if (!match || !match->valid_end())
        throw RangeError(
            "Wrapper type given to Transform.wrap does not form valid content of its parent "
            "wrapper");
    }
    content = Fragment::from(wrappers[i].type->create(attrs_of(wrappers[i]), content));
  }

  int start = range.start(), end = range.end();
  tr.step(std::make_shared<ReplaceAroundStep>(start, end, start, end, Slice(content, 0, 0),
                                              static_cast<int>(wrappers.size()), true));
}

namespace {

/// Calls f(index, length) for each match of /\r?\n|\r/g in `text`.
template <typename F>
void for_each_newline(const std::u16string& text, F f) {
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == u'\r') {
      int len = i + 1 < text.size() && text[i + 1] == u'\n' ? 2 : 1;
      f(static_cast<int>(i), len);
      i += len - 1;
    } else if (text[i] == u'\n') {
      f(static_cast<int>(i), 1);
    }
  }
}

void replace_newlines(Transform& tr, const Node& node, int pos, int map_from) {
  node.for_each([&](const NodeRef& child, int offset, int) {
    if (child->is_text()) {
      for_each_newline(child->text(), [&](int index, int) {
        int start = tr.mapping().slice(map_from).map(pos + 1 + offset + index);
        tr.replace_with(start, start + 1, node.type()->schema().linebreak_replacement()->create());
      });
    }
  });
}

void replace_linebreaks(Transform& tr, const Node& node, int pos, int map_from) {
  node.for_each([&](const NodeRef& child, int offset, int) {
    if (child->type() == child->type()->schema().linebreak_replacement()) {
      int start = tr.mapping().slice(map_from).map(pos + 1 + offset);
      tr.replace_with(start, start + 1, node.type()->schema().text(std::u16string(u"\n")));
    }
  });
}

bool can_change_type(const Node& doc, int pos, const NodeType* type) {
  ResolvedPos rpos = doc.resolve(pos);
  int index = rpos.index();
  return rpos.parent().can_replace_with(index, index + 1, type);
}

/// Upstream's node.hasMarkup(type, attrs) with attrs as given (possibly
/// partial), compared deeply against the node's complete attrs.
bool has_markup(const Node& node, const NodeType* type,
                const std::optional<model::AttrMap>& attrs) {
  if (!attrs) return node.has_markup(type);
  model::Attrs given(*attrs);
  return node.has_markup(type, &given);
}

}  // namespace

void set_block_type(Transform& tr, int from, int to, const NodeType* type, const AttrsFor& attrs) {
  if (!type->is_textblock()) throw RangeError("Type given to setBlockType should be a textblock");
  int map_from = static_cast<int>(tr.steps().size());
  // Port note: iterate over the document as it was when the call started
  // (upstream's nodesBetween also walks that document while steps are added).
  NodeRef doc = tr.doc();
  doc->nodes_between(from, to, [&](const NodeRef& node, int pos, const Node*, int) {
    std::optional<model::AttrMap> attrs_here = attrs ? attrs(*node) : std::nullopt;
    if (node->is_textblock() && !has_markup(*node, type, attrs_here) &&
        can_change_type(*tr.doc(), tr.mapping().slice(map_from).map(pos), type)) {
      std::optional<bool> convert_newlines;
      if (const NodeType* lb = type->schema().linebreak_replacement()) {
        bool pre = type->whitespace() == "pre";
        bool support_linebreak = type->content_match().match_type(lb) != nullptr;
        if (pre && !support_linebreak)
          convert_newlines = false;
        else if (!pre && support_linebreak)
          convert_newlines = true;
      }
      // Ensure all markup that isn't allowed in the new node type is cleared
      if (convert_newlines == false) replace_linebreaks(tr, *node, pos, map_from);
      clear_incompatible(tr, tr.mapping().slice(map_from).map(pos, 1), type, nullptr,
                         !convert_newlines.has_value());
      Mapping mapping = tr.mapping().slice(map_from);
      int start_m = mapping.map(pos, 1), end_m = mapping.map(pos + node->node_size(), 1);
      const model::AttrMap* attrs_ptr = attrs_here ? &*attrs_here : nullptr;
      tr.step(std::make_shared<ReplaceAroundStep>(
          start_m, end_m, start_m + 1, end_m - 1,
          Slice(Fragment::from(type->create(attrs_ptr, Fragment(), node->marks())), 0, 0), 1,
          true));
      if (convert_newlines == true) replace_newlines(tr, *node, pos, map_from);
      return false;
    }
    return true;
  });
}

void set_node_markup(Transform& tr, int pos, const NodeType* type, const model::AttrMap* attrs,
                     const model::MarkSet* marks) {
  const Node* node = tr.doc()->node_at(pos);
  if (!node) throw RangeError("No node at given position");
  if (!type) type = node->type();
  NodeRef new_node = type->create(attrs, Fragment(), marks ? *marks : node->marks());
  if (node->is_leaf()) {
    tr.replace_with(pos, pos + node->node_size(), new_node);
    return;
  }

  if (!type->valid_content(node->content()))
    throw RangeError("Invalid content for node type " + type->name());

  tr.step(std::make_shared<ReplaceAroundStep>(pos, pos + node->node_size(), pos + 1,
                                              pos + node->node_size() - 1,
                                              Slice(Fragment::from(new_node), 0, 0), 1, true));
}

bool can_split(const Node& doc, int pos, int depth,
               const std::vector<std::optional<Wrapper>>* types_after) {
  ResolvedPos rpos = doc.resolve(pos);
  int base = rpos.depth() - depth;
  const Wrapper* inner = types_after && !types_after->empty()
                             ? type_after(types_after, static_cast<int>(types_after->size()) - 1)
                             : nullptr;
  const NodeType* inner_type = inner ? inner->type : rpos.parent().type();
  if (base < 0 || rpos.parent().type()->isolating() ||
      !rpos.parent().can_replace(rpos.index(), rpos.parent().child_count()) ||
      !inner_type->valid_content(
          rpos.parent().content().cut_by_index(rpos.index(), rpos.parent().child_count())))
    return false;
  for (int d = rpos.depth() - 1, i = depth - 2; d > base; d--, i--) {
    const Node& node = rpos.node(d);
    int index = rpos.index(d);
    if (node.type()->isolating()) return false;
    Fragment rest = node.content().cut_by_index(index, node.child_count());
    if (const Wrapper* override_child = type_after(types_after, i + 1))
      rest = rest.replace_child(0, override_child->type->create(attrs_of(*override_child)));
    const Wrapper* after = type_after(types_after, i);
    const NodeType* after_type = after ? after->type : node.type();
    if (!node.can_replace(index + 1, node.child_count()) || !after_type->valid_content(rest))
      return false;
  }
  int index = rpos.index_after(base);
  const Wrapper* base_type = type_after(types_after, 0);
  return rpos.node(base).can_replace_with(index, index,
                                          base_type ? base_type->type : rpos.node(base + 1).type());
}

void split(Transform& tr, int pos, int depth,
           const std::vector<std::optional<Wrapper>>* types_after) {
  ResolvedPos rpos = tr.doc()->resolve(pos);
  Fragment before = Fragment::empty(), after = Fragment::empty();
  for (int d = rpos.depth(), e = rpos.depth() - depth, i = depth - 1; d > e; d--, i--) {
    before = Fragment::from(rpos.node(d).copy(before));
    const Wrapper* t = type_after(types_after, i);
    after = Fragment::from(t ? t->type->create(attrs_of(*t), after) : rpos.node(d).copy(after));
  }
  tr.step(std::make_shared<ReplaceStep>(pos, pos, Slice(before.append(after), depth, depth), true));
}

namespace {

bool can_append_with_substituted_linebreaks(const Node& a, const Node& b) {
  // Port note: upstream evaluates a.type.compatibleContent(b.type) here for
  // an empty b and discards the result; it has no effect.
  const ContentMatch* match = &a.content_match_at(a.child_count());
  const NodeType* linebreak_replacement = a.type()->schema().linebreak_replacement();
  for (int i = 0; i < b.child_count(); i++) {
    const Node& child = *b.child(i);
    const NodeType* type =
        child.type() == linebreak_replacement ? a.type()->schema().text_type() : child.type();
    match = match->match_type(type);
    if (!match) return false;
    if (!a.type()->allows_marks(child.marks())) return false;
  }
  return match->valid_end();
}

bool joinable(const Node* a, const Node* b) {
  return a && b && !a->is_leaf() && can_append_with_substituted_linebreaks(*a, *b);
}

}  // namespace

bool can_join(const Node& doc, int pos) {
  ResolvedPos rpos = doc.resolve(pos);
  int index = rpos.index();
  NodeRef before = rpos.node_before(), after = rpos.node_after();
  return joinable(before.get(), after.get()) && rpos.parent().can_replace(index, index + 1);
}

std::optional<int> join_point(const Node& doc, int pos, int dir) {
  ResolvedPos rpos = doc.resolve(pos);
  for (int d = rpos.depth();; d--) {
    NodeRef before_ref, after_ref;
    const Node* before;
    const Node* after;
    int index = rpos.index(d);
    if (d == rpos.depth()) {
      before_ref = rpos.node_before();
      after_ref = rpos.node_after();
      before = before_ref.get();
      after = after_ref.get();
    } else if (dir > 0) {
      before = &rpos.node(d + 1);
      index++;
      after = rpos.node(d).maybe_child(index);
    } else {
      before = rpos.node(d).maybe_child(index - 1);
      after = &rpos.node(d + 1);
    }
    if (before && !before->is_textblock() && joinable(before, after) &&
        rpos.node(d).can_replace(index, index + 1))
      return pos;
    if (d == 0) break;
    pos = dir < 0 ? rpos.before(d) : rpos.after(d);
  }
  return std::nullopt;
}

void join(Transform& tr, int pos, int depth) {
  std::optional<bool> convert_newlines;
  const NodeType* linebreak_replacement = tr.doc()->type()->schema().linebreak_replacement();
  ResolvedPos before = tr.doc()->resolve(pos - depth);
  const NodeType* before_type = before.node().type();
  if (linebreak_replacement && before_type->inline_content()) {
    bool pre = before_type->whitespace() == "pre";
    bool support_linebreak = before_type->content_match().match_type(linebreak_replacement);
    if (pre && !support_linebreak)
      convert_newlines = false;
    else if (!pre && support_linebreak)
      convert_newlines = true;
  }
  int map_from = static_cast<int>(tr.steps().size());
  if (convert_newlines == false) {
    ResolvedPos after = tr.doc()->resolve(pos + depth);
    replace_linebreaks(tr, after.node(), after.before(), map_from);
  }
  if (before_type->inline_content())
    clear_incompatible(tr, pos + depth - 1, before_type,
                       &before.node().content_match_at(before.index()),
                       !convert_newlines.has_value());
  Mapping mapping = tr.mapping().slice(map_from);
  int start = mapping.map(pos - depth);
  tr.step(std::make_shared<ReplaceStep>(start, mapping.map(pos + depth, -1), Slice::empty(), true));
  if (convert_newlines == true) {
    ResolvedPos full = tr.doc()->resolve(start);
    replace_newlines(tr, full.node(), full.before(), static_cast<int>(tr.steps().size()));
  }
}

std::optional<int> insert_point(const Node& doc, int pos, const NodeType* node_type) {
  ResolvedPos rpos = doc.resolve(pos);
  if (rpos.parent().can_replace_with(rpos.index(), rpos.index(), node_type)) return pos;

  if (rpos.parent_offset() == 0)
    for (int d = rpos.depth() - 1; d >= 0; d--) {
      int index = rpos.index(d);
      if (rpos.node(d).can_replace_with(index, index, node_type)) return rpos.before(d + 1);
      if (index > 0) return std::nullopt;
    }
  if (rpos.parent_offset() == rpos.parent().content().size())
    for (int d = rpos.depth() - 1; d >= 0; d--) {
      int index = rpos.index_after(d);
      if (rpos.node(d).can_replace_with(index, index, node_type)) return rpos.after(d + 1);
      if (index < rpos.node(d).child_count()) return std::nullopt;
    }
  return std::nullopt;
}

std::optional<int> drop_point(const Node& doc, int pos, const Slice& slice) {
  ResolvedPos rpos = doc.resolve(pos);
  if (!slice.content().size()) return pos;
  Fragment content = slice.content();
  for (int i = 0; i < slice.open_start(); i++) {
    Fragment inner = internal::expect(content.first_child())->content();
    content = std::move(inner);
  }
  for (int pass = 1; pass <= (slice.open_start() == 0 && slice.size() ? 2 : 1); pass++) {
    for (int d = rpos.depth(); d >= 0; d--) {
      // Port note: upstream compares against a possibly fractional midpoint;
      // pos <= (a + b) / 2 is computed exactly as 2 * pos <= a + b.
      int bias = d == rpos.depth()                                       ? 0
                 : 2 * rpos.pos() <= rpos.start(d + 1) + rpos.end(d + 1) ? -1
                                                                         : 1;
      for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt) {
          if (!bias) break;
          bias = -bias;
        }
        int insert_pos = rpos.index(d) + (bias > 0 ? 1 : 0);
        const Node& parent = rpos.node(d);
        bool fits = false;
        if (pass == 1) {
          fits = parent.can_replace(insert_pos, insert_pos, content);
        } else {
          auto wrapping =
              parent.content_match_at(insert_pos).find_wrapping(content.first_child()->type());
          // Port note: upstream reads wrapping[0], undefined for an empty
          // wrapping, which canReplaceWith rejects.
          fits = wrapping && !wrapping->empty() &&
                 parent.can_replace_with(insert_pos, insert_pos, (*wrapping)[0]);
        }
        if (fits) return bias == 0 ? rpos.pos() : bias < 0 ? rpos.before(d + 1) : rpos.after(d + 1);
      }
    }
  }
  return std::nullopt;
}

}  // namespace rtpm::transform
