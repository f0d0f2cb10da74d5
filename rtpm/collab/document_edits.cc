#include "rtpm/collab/document_edits.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "rtpm/model/fragment.h"
#include "rtpm/model/slice.h"
#include "rtpm/transform/map.h"
#include "rtpm/transform/replace_step.h"

namespace rtpm::collab {
namespace {

using model::Fragment;
using model::NodeRef;
using transform::StepPtr;

bool surrogate_low(char16_t ch) { return ch >= 0xDC00 && ch < 0xE000; }
bool surrogate_high(char16_t ch) { return ch >= 0xD800 && ch < 0xDC00; }

// Port of prosemirror-model src/diff.ts (1.25.13), findDiffStart. Port note:
// the model does not offer Fragment::find_diff_start; it lives here, its only
// user. nullopt: the fragments are equal.
std::optional<int> find_diff_start(const Fragment& a, const Fragment& b, int pos) {
  for (int i = 0;; ++i) {
    if (i == a.child_count() || i == b.child_count()) {
      if (a.child_count() == b.child_count()) return std::nullopt;
      return pos;
    }
    const NodeRef& child_a = a.child(i);
    const NodeRef& child_b = b.child(i);
    if (child_a == child_b) {
      pos += child_a->node_size();
      continue;
    }
    if (!child_a->same_markup(*child_b)) return pos;
    if (child_a->is_text() && child_a->text() != child_b->text()) {
      const std::u16string& t_a = child_a->text();
      const std::u16string& t_b = child_b->text();
      size_t j = 0;
      while (j < t_a.size() && j < t_b.size() && t_a[j] == t_b[j]) {
        ++j;
        ++pos;
      }
      if (j > 0 && j < t_a.size() && j < t_b.size() && surrogate_high(t_a[j - 1]) &&
          surrogate_low(t_a[j]))
        --pos;
      return pos;
    }
    if (child_a->content().size() > 0 || child_b->content().size() > 0) {
      std::optional<int> inner = find_diff_start(child_a->content(), child_b->content(), pos + 1);
      if (inner) return inner;
    }
    pos += child_a->node_size();
  }
}

struct DiffEnd {
  int a;
  int b;
};

// Port of prosemirror-model src/diff.ts (1.25.13), findDiffEnd (see above).
std::optional<DiffEnd> find_diff_end(const Fragment& a, const Fragment& b, int pos_a, int pos_b) {
  for (int i_a = a.child_count(), i_b = b.child_count();;) {
    if (i_a == 0 || i_b == 0) {
      if (i_a == i_b) return std::nullopt;
      return DiffEnd{pos_a, pos_b};
    }
    const NodeRef& child_a = a.child(--i_a);
    const NodeRef& child_b = b.child(--i_b);
    int size = child_a->node_size();
    if (child_a == child_b) {
      pos_a -= size;
      pos_b -= size;
      continue;
    }
    if (!child_a->same_markup(*child_b)) return DiffEnd{pos_a, pos_b};
    if (child_a->is_text() && child_a->text() != child_b->text()) {
      const std::u16string& t_a = child_a->text();
      const std::u16string& t_b = child_b->text();
      size_t end_a = t_a.size(), end_b = t_b.size();
      while (end_a > 0 && end_b > 0 && t_a[end_a - 1] == t_b[end_b - 1]) {
        --end_a;
        --end_b;
        --pos_a;
        --pos_b;
      }
      if (end_a > 0 && end_b > 0 && end_a < t_a.size() && surrogate_high(t_a[end_a - 1]) &&
          surrogate_low(t_a[end_a])) {
        ++pos_a;
        ++pos_b;
      }
      return DiffEnd{pos_a, pos_b};
    }
    if (child_a->content().size() > 0 || child_b->content().size() > 0) {
      std::optional<DiffEnd> inner =
          find_diff_end(child_a->content(), child_b->content(), pos_a - 1, pos_b - 1);
      if (inner) return inner;
    }
    pos_a -= size;
    pos_b -= size;
  }
}

/// The document `step` makes of `doc`, or null when it fails or throws
/// (a mapped or computed step may name positions the document lacks).
NodeRef try_apply(const transform::Step& step, const model::Node& doc) {
  try {
    return step.apply(doc).doc;
  } catch (const JsError&) {
    return nullptr;
  }
}

/// `step` when it turns `current` into a document equal to `target`, else null.
StepPtr verified(StepPtr step, const NodeRef& current, const NodeRef& target) {
  NodeRef result = try_apply(*step, *current);
  return result && result->eq(*target) ? step : nullptr;
}

/// The one ReplaceStep of the differing range (prosemirror-view's findDiff
/// without a preferred position), unverified; null when it cannot be built.
StepPtr diff_step(const NodeRef& current, const NodeRef& target, int start) {
  const Fragment& a = current->content();
  const Fragment& b = target->content();
  std::optional<DiffEnd> end = find_diff_end(a, b, a.size(), b.size());
  if (!end) return nullptr;
  int end_a = end->a, end_b = end->b;
  // The common prefix and suffix overlap when the change repeats the text
  // around it ("aa" -> "aaa"): move both ends forward by the overlap.
  int overlap = start - std::min(end_a, end_b);
  if (overlap > 0) {
    end_a += overlap;
    end_b += overlap;
  }
  try {
    return std::make_shared<transform::ReplaceStep>(start, end_a, target->slice(start, end_b));
  } catch (const JsError&) {
    return nullptr;
  }
}

}  // namespace

Result<std::vector<StepPtr>> steps_to_become(const NodeRef& current, const NodeRef& target) {
  if (!current || !target) return Error{ErrorCode::invalid_steps, "no document"};
  if (current->eq(*target)) return std::vector<StepPtr>{};
  std::optional<int> start = find_diff_start(current->content(), target->content(), 0);
  if (start) {
    if (StepPtr step = diff_step(current, target, *start)) {
      if (StepPtr ok = verified(std::move(step), current, target)) return std::vector<StepPtr>{ok};
    }
  }
  StepPtr whole = std::make_shared<transform::ReplaceStep>(0, current->content().size(),
                                                           model::Slice(target->content(), 0, 0));
  if (StepPtr ok = verified(std::move(whole), current, target)) return std::vector<StepPtr>{ok};
  return Error{ErrorCode::invalid_steps,
               "the target document cannot be reached by replacing the current one's content"};
}

Result<Reverted> revert_steps(const NodeRef& doc, int64_t base,
                              const std::vector<AuthoredStep>& steps, const std::string& user_id,
                              int64_t from, int64_t to) {
  const auto count = static_cast<int64_t>(steps.size());
  if (!doc) return Error{ErrorCode::bad_message, "no document"};
  if (from < base || to > base + count || from > to)
    return Error{ErrorCode::bad_message, "versions " + std::to_string(from) + ".." +
                                             std::to_string(to) + " are not within " +
                                             std::to_string(base) + ".." +
                                             std::to_string(base + count)};
  for (int64_t i = 0; i < count; ++i) {
    if (!steps[i].step)
      return Error{ErrorCode::bad_message, "no step at version " + std::to_string(base + i)};
  }

  // Replay the log: docs[i] is the document before steps[i]; mapping holds
  // every step's map, then the map of each inverse appended below.
  std::vector<NodeRef> docs;
  docs.reserve(steps.size() + 1);
  docs.push_back(doc);
  transform::Mapping mapping;
  for (int64_t i = 0; i < count; ++i) {
    const transform::Step& step = *steps[i].step;
    Result<transform::StepResult> applied =
        catch_port(ErrorCode::invalid_steps, "step at version " + std::to_string(base + i) + ": ",
                   [&] { return step.apply(*docs.back()); });
    if (!applied) return applied.error();
    if (!applied->ok())
      return Error{ErrorCode::invalid_steps,
                   "step at version " + std::to_string(base + i) + ": " + applied->failed};
    docs.push_back(applied->doc);
    mapping.append_map(step.get_map());
  }

  Reverted out;
  NodeRef current = docs.back();
  for (int64_t i = to - base; i-- > from - base;) {
    if (steps[i].user_id != user_id) continue;
    // As prosemirror-history's popEvent: the inverse applies to the document
    // after steps[i], so it maps through everything after that map; the map
    // of the inverse, once applied, mirrors steps[i]'s.
    Result<StepPtr> inverse =
        catch_port(ErrorCode::invalid_steps, "step at version " + std::to_string(base + i) + ": ",
                   [&] { return steps[i].step->invert(*docs[i]); });
    if (!inverse) return inverse.error();
    StepPtr mapped = (*inverse)->map(mapping.slice(static_cast<int>(i) + 1));
    NodeRef next = mapped ? try_apply(*mapped, *current) : nullptr;
    if (!next) {
      out.skipped.push_back(base + i);
      continue;
    }
    mapping.append_map(mapped->get_map(), static_cast<int>(i));
    out.steps.push_back(std::move(mapped));
    current = std::move(next);
  }
  std::reverse(out.skipped.begin(), out.skipped.end());
  return out;
}

}  // namespace rtpm::collab
