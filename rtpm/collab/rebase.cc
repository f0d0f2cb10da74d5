// Port of prosemirror-collab src/collab.ts (1.3.1).
#include "rtpm/collab/rebase.h"

#include <algorithm>

namespace rtpm::collab {

std::vector<Rebaseable> rebase_steps(const std::vector<Rebaseable>& steps,
                                     const std::vector<transform::StepPtr>& over,
                                     transform::Transform& transform, std::vector<size_t>* kept) {
  for (size_t i = steps.size(); i-- > 0;) transform.step(steps[i].inverted);
  for (const auto& step : over) transform.step(step);
  std::vector<Rebaseable> result;
  int map_from = static_cast<int>(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    transform::StepPtr mapped = steps[i].step->map(transform.mapping().slice(map_from));
    --map_from;
    if (mapped && transform.maybe_step(mapped).failed.empty()) {
      transform.mutable_mapping().set_mirror(map_from,
                                             static_cast<int>(transform.steps().size()) - 1);
      result.push_back({mapped, mapped->invert(*transform.docs().back())});
      if (kept) kept->push_back(i);
    }
  }
  return result;
}

std::vector<Rebaseable> unconfirmed_from(const transform::Transform& transform) {
  std::vector<Rebaseable> result;
  result.reserve(transform.steps().size());
  for (size_t i = 0; i < transform.steps().size(); ++i)
    result.push_back({transform.steps()[i], transform.steps()[i]->invert(*transform.docs()[i])});
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

}  // namespace rtpm::collab
