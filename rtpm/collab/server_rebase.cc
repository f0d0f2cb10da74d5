#include "rtpm/collab/server_rebase.h"

#include <exception>

#include "rtpm/collab/authority.h"
#include "rtpm/transform/attr_step.h"
#include "rtpm/transform/mark_step.h"
#include "rtpm/transform/replace_step.h"

namespace rtpm::collab {

bool positions_within(const transform::Step& step, int64_t size) {
  auto ordered = [&](std::initializer_list<int64_t> positions) {
    int64_t last = 0;
    for (int64_t p : positions) {
      if (p < last) return false;
      last = p;
    }
    return last <= size;
  };
  if (auto* r = dynamic_cast<const transform::ReplaceStep*>(&step))
    return ordered({r->from(), r->to()});
  if (auto* a = dynamic_cast<const transform::ReplaceAroundStep*>(&step))
    return ordered({a->from(), a->gap_from(), a->gap_to(), a->to()}) && a->insert() >= 0 &&
           a->insert() <= a->slice().size();
  if (auto* m = dynamic_cast<const transform::AddMarkStep*>(&step))
    return ordered({m->from(), m->to()});
  if (auto* m = dynamic_cast<const transform::RemoveMarkStep*>(&step))
    return ordered({m->from(), m->to()});
  if (auto* n = dynamic_cast<const transform::AddNodeMarkStep*>(&step))
    return n->pos() >= 0 && n->pos() < size;
  if (auto* n = dynamic_cast<const transform::RemoveNodeMarkStep*>(&step))
    return n->pos() >= 0 && n->pos() < size;
  if (auto* n = dynamic_cast<const transform::AttrStep*>(&step))
    return n->pos() >= 0 && n->pos() < size;
  return true;  // docAttr, markSet: no positions
}

ServerRebase rebase_batch(const std::vector<transform::StepPtr>& batch,
                          const std::vector<const transform::StepMap*>& over, model::NodeRef doc) {
  ServerRebase out;
  out.doc = std::move(doc);
  // rebaseSteps: the inverses, last step first, then the steps received.
  transform::Mapping mapping;
  for (size_t i = batch.size(); i-- > 0;) mapping.append_map(batch[i]->get_map().invert());
  for (const transform::StepMap* map : over) mapping.append_map(*map);
  int map_from = static_cast<int>(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    // mapping.slice(map_from) without copying the maps (a slice copies them; the batch and
    // the history can hold thousands): map through a window of the one mapping.
    mapping.set_from(map_from);
    transform::StepPtr mapped = batch[i]->map(mapping);
    mapping.set_from(0);
    --map_from;
    if (!mapped) continue;
    // Transform.maybeStep, plus the server's check of inserted nodes; any
    // exception of the port (a JsError, a depth limit) drops the step too.
    model::NodeRef next;
    try {
      transform::StepResult result = mapped->apply(*out.doc);
      if (!result.ok()) continue;
      check_inserted_nodes(*mapped, *result.doc);
      next = std::move(result.doc);
    } catch (const std::exception&) {
      continue;
    }
    out.doc = std::move(next);
    mapping.append_map(mapped->get_map(), map_from);
    out.steps.push_back(std::move(mapped));
    out.kept.push_back(i);
  }
  return out;
}

}  // namespace rtpm::collab
