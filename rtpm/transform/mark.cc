// Port of prosemirror-transform src/mark.ts (1.12.6).
#include "rtpm/transform/mark.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "rtpm/transform/mark_step.h"
#include "rtpm/transform/replace_step.h"
#include "rtpm/transform/transform.h"

namespace rtpm::transform {

using model::Fragment;
using model::Mark;
using model::MarkSet;
using model::Node;
using model::NodeRef;
using model::Slice;

void add_mark(Transform& tr, int from, int to, const Mark& mark) {
  // Port note: upstream collects AddMarkStep objects with pushMarkStep,
  // which extends the last step when the new range starts where it ends.
  // Here the ranges are collected and the steps made afterwards.
  struct Range {
    int from, to;
  };
  std::vector<Range> added;
  NodeRef doc = tr.doc();
  doc->nodes_between(from, to, [&](const NodeRef& node, int pos, const Node* parent, int) {
    if (!node->is_inline()) return true;
    const MarkSet& marks = node->marks();
    if (!mark.is_in_set(marks) && parent->type()->allows_mark_type(mark.type())) {
      int start = std::max(pos, from), end = std::min(pos + node->node_size(), to);
      if (!added.empty() && added.back().to == start)
        added.back().to = end;
      else
        added.push_back(Range{start, end});
    }
    return true;
  });
  for (const Range& r : added) tr.step(std::make_shared<AddMarkStep>(r.from, r.to, mark));
}

void remove_mark(Transform& tr, int from, int to, const Mark* mark, const model::MarkType* type) {
  struct Matched {
    Mark style;
    int from, to, step;
  };
  std::vector<Matched> matched;
  int step = 0;
  NodeRef doc = tr.doc();
  doc->nodes_between(from, to, [&](const NodeRef& node, int pos, const Node*, int) {
    if (!node->is_inline() || !node->is_atom()) return true;
    step++;
    MarkSet to_remove;
    if (type) {
      MarkSet set = node->marks();
      while (const Mark* found = type->is_in_set(set)) {
        Mark m = *found;
        to_remove.push_back(m);
        set = m.remove_from_set(set);
      }
    } else if (mark) {
      if (mark->is_in_set(node->marks())) to_remove.push_back(*mark);
    } else {
      to_remove = node->marks();
    }
    if (!to_remove.empty()) {
      int end = std::min(pos + node->node_size(), to);
      for (const Mark& style : to_remove) {
        Matched* found = nullptr;
        for (Matched& m : matched)
          if (m.step == step - 1 && style.eq(m.style)) found = &m;
        if (found) {
          found->to = end;
          found->step = step;
        } else {
          matched.push_back(Matched{style, std::max(pos, from), end, step});
        }
      }
    }
    return true;
  });
  for (const Matched& m : matched) tr.step(std::make_shared<RemoveMarkStep>(m.from, m.to, m.style));
}

void clear_incompatible(Transform& tr, int pos, const model::NodeType* parent_type,
                        const model::ContentMatch* match, bool clear_newlines) {
  if (!match) match = &parent_type->content_match();
  NodeRef doc = tr.doc();
  const Node* node = doc->node_at(pos);
  // Port note: upstream dereferences a missing node (a TypeError in JavaScript).
  if (!node) throw TypeError("Cannot read properties of null (reading 'childCount')");
  std::vector<StepPtr> repl_steps;
  int cur = pos + 1;
  for (int i = 0; i < node->child_count(); i++) {
    const NodeRef& child = node->child(i);
    int end = cur + child->node_size();
    const model::ContentMatch* allowed = match->match_type(child->type());
    if (!allowed) {
      repl_steps.push_back(std::make_shared<ReplaceStep>(cur, end, Slice::empty()));
    } else {
      match = allowed;
      for (const Mark& m : child->marks())
        if (!parent_type->allows_mark_type(m.type()))
          tr.step(std::make_shared<RemoveMarkStep>(cur, end, m));

      if (clear_newlines && child->is_text() && parent_type->whitespace() != "pre") {
        const std::u16string& text = child->text();
        std::optional<Slice> slice;
        for (size_t k = 0; k < text.size(); k++) {
          int len = 0;
          if (text[k] == u'\r')
            len = k + 1 < text.size() && text[k + 1] == u'\n' ? 2 : 1;
          else if (text[k] == u'\n')
            len = 1;
          if (!len) continue;
          if (!slice)
            slice = Slice(Fragment::from(parent_type->schema().text(
                              std::u16string(u" "), parent_type->allowed_marks(child->marks()))),
                          0, 0);
          int index = static_cast<int>(k);
          repl_steps.push_back(
              std::make_shared<ReplaceStep>(cur + index, cur + index + len, *slice));
          k += len - 1;
        }
      }
    }
    cur = end;
  }
  if (!match->valid_end()) {
    std::optional<Fragment> fill = match->fill_before(Fragment::empty(), true);
    // Port note: upstream passes a null fill on to Slice (a crash later);
    // an empty fragment is used instead.
    tr.replace(cur, cur, Slice(fill ? *fill : Fragment::empty(), 0, 0));
  }
  for (int i = static_cast<int>(repl_steps.size()) - 1; i >= 0; i--) tr.step(repl_steps[i]);
}

}  // namespace rtpm::transform
