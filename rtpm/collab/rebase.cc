// Port of prosemirror-collab src/collab.ts (1.3.1).
#include "rtpm/collab/rebase.h"

#include <algorithm>
#include <string_view>

namespace rtpm::collab {

namespace {

// rebase_steps' last part: `transform` holds the inverses of `steps` (last
// first) and then the steps rebased over; each of `steps` is mapped through
// what follows its inverse, and reapplied with a mirror, or dropped.
std::vector<Rebaseable> reapply(const std::vector<Rebaseable>& steps,
                                transform::Transform& transform, std::vector<size_t>* kept) {
  std::vector<Rebaseable> result;
  int map_from = static_cast<int>(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    transform::StepPtr mapped = steps[i].step->map(transform.mapping().slice(map_from));
    --map_from;
    if (mapped && transform.maybe_step(mapped).failed.empty()) {
      transform.mutable_mapping().set_mirror(map_from,
                                             static_cast<int>(transform.steps().size()) - 1);
      result.push_back({mapped, mapped->invert(*transform.docs().back()), transform.docs().back()});
      if (kept) kept->push_back(i);
    }
  }
  return result;
}

}  // namespace

std::vector<Rebaseable> rebase_steps(const std::vector<Rebaseable>& steps,
                                     const std::vector<transform::StepPtr>& over,
                                     transform::Transform& transform, std::vector<size_t>* kept) {
  undo(steps, transform);
  for (const auto& step : over) transform.step(step);
  return reapply(steps, transform, kept);
}

std::vector<Rebaseable> unconfirmed_from(const transform::Transform& transform) {
  std::vector<Rebaseable> result;
  result.reserve(transform.steps().size());
  for (size_t i = 0; i < transform.steps().size(); ++i)
    result.push_back({transform.steps()[i], transform.steps()[i]->invert(*transform.docs()[i]),
                      transform.docs()[i]});
  return result;
}

ReceiveResult receive_transaction(const CollabState& state,
                                  const std::vector<transform::StepPtr>& steps,
                                  const std::vector<std::string>& client_ids,
                                  const std::string& our_id) {
  int64_t version = state.version + static_cast<int64_t>(steps.size());
  // Find out which prefix of the steps originated with us.
  size_t ours = 0;
  while (ours < client_ids.size() && client_ids[ours] == our_id) ++ours;
  std::vector<Rebaseable> unconfirmed(
      state.unconfirmed.begin() + std::min(ours, state.unconfirmed.size()),
      state.unconfirmed.end());
  std::vector<transform::StepPtr> remaining(steps.begin() + std::min(ours, steps.size()),
                                            steps.end());
  ReceiveResult out{CollabState{state.doc, version, {}}, transform::Transform(state.doc), 0, {}};
  size_t first = std::min(ours, state.unconfirmed.size());
  // If all steps originated with us, we're done.
  if (remaining.empty()) {
    out.state.unconfirmed = std::move(unconfirmed);
    for (size_t i = first; i < state.unconfirmed.size(); ++i) out.kept.push_back(i);
    return out;
  }
  out.rebased = static_cast<int>(unconfirmed.size());
  if (!unconfirmed.empty()) {
    out.state.unconfirmed = rebase_steps(unconfirmed, remaining, out.transform, &out.kept);
    for (size_t& i : out.kept) i += first;
  } else {
    for (const auto& step : remaining) out.transform.step(step);
  }
  out.state.doc = out.transform.doc();
  return out;
}

void undo(const std::vector<Rebaseable>& steps, transform::Transform& transform) {
  for (size_t i = steps.size(); i-- > 0;) {
    if (steps[i].before)
      transform.add_step(steps[i].inverted, steps[i].before);
    else
      transform.step(steps[i].inverted);
  }
}

model::NodeRef confirmed_doc(const CollabState& state) {
  if (!state.unconfirmed.empty() && state.unconfirmed.front().before)
    return state.unconfirmed.front().before;
  model::NodeRef doc = state.doc;
  for (size_t i = state.unconfirmed.size(); i-- > 0;) {
    transform::StepResult r = state.unconfirmed[i].inverted->apply(*doc);
    if (!r.ok()) throw transform::TransformError(r.failed);
    doc = r.doc;
  }
  return doc;
}

ReceiveResult receive_applied(const CollabState& state, const transform::Transform& applied) {
  const std::vector<transform::StepPtr>& steps = applied.steps();
  ReceiveResult out{CollabState{state.doc, state.version + static_cast<int64_t>(steps.size()), {}},
                    transform::Transform(state.doc),
                    static_cast<int>(state.unconfirmed.size()),
                    {}};
  transform::Transform& tr = out.transform;
  undo(state.unconfirmed, tr);
  for (size_t j = 0; j < steps.size(); ++j)
    tr.add_step(steps[j], j + 1 < steps.size() ? applied.docs()[j + 1] : applied.doc());
  out.state.unconfirmed = reapply(state.unconfirmed, tr, &out.kept);
  out.state.doc = tr.doc();
  return out;
}

// ---- the `rebase` protocol extension ----

namespace {

// A step's JSON without the fields that rebasing moves.
json::Value without_positions(const json::Value& step) {
  if (!step.is_object()) return step;
  json::Object kept;
  for (const auto& [key, value] : step.as_object()) {
    if (key == "from" || key == "to" || key == "pos" || key == "gapFrom" || key == "gapTo")
      continue;
    kept.emplace_back(key, value);
  }
  return json::Value(std::move(kept));
}

// The same number of ranges, each of the same old and new size: a position
// recovered through one (StepMap::recover) lies inside the other's range.
bool same_shape(const transform::StepMap& a, const transform::StepMap& b) {
  const auto& ra = a.ranges();
  const auto& rb = b.ranges();
  if (ra.size() != rb.size()) return false;
  for (size_t i = 0; i < ra.size(); i += 3)
    if (ra[i + 1] != rb[i + 1] || ra[i + 2] != rb[i + 2]) return false;
  return true;
}

}  // namespace

std::vector<int> align_steps(const std::vector<json::Value>& batch,
                             const std::vector<json::Value>& applied) {
  std::vector<json::Value> keys;
  keys.reserve(batch.size());
  for (const auto& step : batch) keys.push_back(without_positions(step));
  std::vector<int> out;
  out.reserve(applied.size());
  size_t next = 0;
  for (const auto& step : applied) {
    json::Value key = without_positions(step);
    size_t j = next;
    while (j < keys.size() && !(keys[j] == key)) ++j;
    if (j == keys.size()) {
      out.push_back(-1);
      continue;
    }
    out.push_back(static_cast<int>(j));
    next = j + 1;
  }
  return out;
}

ReceiveResult confirm_in_frame(const CollabState& state, size_t n,
                               const transform::Transform& applied, size_t from, size_t count) {
  const std::vector<Rebaseable>& steps = state.unconfirmed;
  const std::vector<transform::StepPtr>& frame = applied.steps();
  n = std::min(n, steps.size());
  from = std::min(from, frame.size());
  count = std::min(count, frame.size() - from);
  ReceiveResult out{CollabState{state.doc, state.version + static_cast<int64_t>(frame.size()), {}},
                    transform::Transform(state.doc),
                    static_cast<int>(steps.size() - n),
                    {}};
  transform::Transform& tr = out.transform;
  // The inverses, last step first: the inverse of steps[k] is map total - 1 - k.
  const int total = static_cast<int>(steps.size());
  undo(steps, tr);
  std::vector<json::Value> batch_json, own_json;
  for (size_t i = 0; i < n; ++i) batch_json.push_back(steps[i].step->to_json());
  for (size_t i = from; i < from + count; ++i) own_json.push_back(frame[i]->to_json());
  std::vector<int> pairs = align_steps(batch_json, own_json);
  for (size_t i = 0; i < frame.size(); ++i) {
    tr.add_step(frame[i], i + 1 < frame.size() ? applied.docs()[i + 1] : applied.doc());
    int j = i >= from && i < from + count ? pairs[i - from] : -1;
    if (j >= 0 && same_shape(steps[static_cast<size_t>(j)].step->get_map(), frame[i]->get_map()))
      tr.mutable_mapping().set_mirror(total - 1 - j, static_cast<int>(tr.steps().size()) - 1);
  }
  // The steps after the batch, as rebase_steps reapplies them.
  for (size_t k = n; k < steps.size(); ++k) {
    int inverse = total - 1 - static_cast<int>(k);
    transform::StepPtr mapped = steps[k].step->map(tr.mapping().slice(inverse + 1));
    if (mapped && tr.maybe_step(mapped).failed.empty()) {
      tr.mutable_mapping().set_mirror(inverse, static_cast<int>(tr.steps().size()) - 1);
      out.state.unconfirmed.push_back(
          {mapped, mapped->invert(*tr.docs().back()), tr.docs().back()});
      out.kept.push_back(k);
    }
  }
  out.state.doc = tr.doc();
  return out;
}

ReceiveResult confirm_rebased(const CollabState& state, size_t n,
                              const std::vector<transform::StepPtr>& applied) {
  transform::Transform made(confirmed_doc(state));
  for (const auto& step : applied) made.step(step);
  return confirm_in_frame(state, n, made, 0, applied.size());
}

}  // namespace rtpm::collab
