// Port of prosemirror-transform src/mark_step.ts (1.12.6).

#include "rtpm/transform/mark_step.h"

#include <algorithm>

#include "rtpm/model/fragment.h"
#include "rtpm/model/internal/js.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"
#include "rtpm/transform/internal/step_json.h"

namespace rtpm::transform {

namespace {

// `f(child, parent)` gives the replacement of each inline node.
template <typename F>
model::Fragment map_fragment(const model::Fragment& fragment, const F& f,
                             const model::Node& parent) {
  std::vector<model::NodeRef> mapped;
  mapped.reserve(static_cast<size_t>(fragment.child_count()));
  for (int i = 0; i < fragment.child_count(); i++) {
    model::NodeRef child = fragment.child(i);
    if (child->content().size()) child = child->copy(map_fragment(child->content(), f, *child));
    if (child->is_inline()) child = f(child, parent);
    mapped.push_back(std::move(child));
  }
  return model::Fragment::from_array(std::move(mapped));
}

const json::Value& mark_json(const json::Value& json) {
  return internal::member_or_null(json, "mark");
}

}  // namespace

AddMarkStep::AddMarkStep(int from, int to, model::Mark mark)
    : from_(from), to_(to), mark_(std::move(mark)) {}

StepResult AddMarkStep::apply(const model::Node& doc) const {
  model::Slice old_slice = doc.slice(from_, to_);
  model::ResolvedPos rfrom = doc.resolve(from_);
  const model::Node& parent = rfrom.node(rfrom.shared_depth(to_));
  model::Slice slice(
      map_fragment(
          old_slice.content(),
          [this](const model::NodeRef& node, const model::Node& node_parent) {
            if (!node->is_atom() || !node_parent.type()->allows_mark_type(mark_.type()))
              return node;
            return node->mark(mark_.add_to_set(node->marks()));
          },
          parent),
      old_slice.open_start(), old_slice.open_end());
  return StepResult::from_replace(doc, from_, to_, slice);
}

StepPtr AddMarkStep::invert(const model::Node& doc) const {
  std::vector<StepPtr> steps;
  doc.nodes_between(from_, to_, [&](const model::NodeRef& node, int pos, const model::Node*, int) {
    if (node->is_inline() && node->is_atom()) {
      model::MarkSet added = mark_.add_to_set(node->marks());
      if (!model::Mark::same_set(added, node->marks())) {
        int from = std::max(from_, pos), to = std::min(to_, pos + node->node_size());
        push_mark_step(false, from, to, mark_, steps);
        for (const model::Mark& mark : node->marks())
          if (!mark.is_in_set(added)) push_mark_step(true, from, to, mark, steps);
      }
    }
    return true;
  });
  return steps.size() == 1 ? steps[0] : std::make_shared<MarkSetStep>(std::move(steps));
}

StepPtr AddMarkStep::map(const Mappable& mapping) const {
  int from = mapping.map(from_, 1), to = mapping.map(to_, -1);
  if (from >= to) return nullptr;
  return std::make_shared<AddMarkStep>(from, to, mark_);
}

StepPtr AddMarkStep::merge(const Step& other_step) const {
  const auto* other = dynamic_cast<const AddMarkStep*>(&other_step);
  if (other && other->mark_.eq(mark_) && from_ <= other->to_ && to_ >= other->from_)
    return std::make_shared<AddMarkStep>(std::min(from_, other->from_), std::max(to_, other->to_),
                                         mark_);
  return nullptr;
}

void AddMarkStep::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("stepType");
  w.string("addMark");
  w.key("mark");
  mark_.write_json(w);
  w.key("from");
  w.number(from_);
  w.key("to");
  w.number(to_);
  w.end_object();
}

StepPtr AddMarkStep::from_json(const model::Schema& schema, const json::Value& json) {
  int from = 0, to = 0;
  if (!internal::read_position(json, "from", from) || !internal::read_position(json, "to", to))
    throw RangeError("Invalid input for AddMarkStep.fromJSON");
  return std::make_shared<AddMarkStep>(from, to, model::Mark::from_json(schema, mark_json(json)));
}

RemoveMarkStep::RemoveMarkStep(int from, int to, model::Mark mark)
    : from_(from), to_(to), mark_(std::move(mark)) {}

StepResult RemoveMarkStep::apply(const model::Node& doc) const {
  model::Slice old_slice = doc.slice(from_, to_);
  model::Slice slice(map_fragment(
                         old_slice.content(),
                         [this](const model::NodeRef& node, const model::Node&) {
                           return node->mark(mark_.remove_from_set(node->marks()));
                         },
                         doc),
                     old_slice.open_start(), old_slice.open_end());
  return StepResult::from_replace(doc, from_, to_, slice);
}

StepPtr RemoveMarkStep::invert(const model::Node& doc) const {
  std::vector<StepPtr> steps;
  doc.nodes_between(from_, to_, [&](const model::NodeRef& node, int pos, const model::Node*, int) {
    if (node->is_inline() && node->is_atom() && mark_.is_in_set(node->marks()))
      push_mark_step(true, std::max(from_, pos), std::min(to_, pos + node->node_size()), mark_,
                     steps);
    return true;
  });
  return steps.size() == 1 ? steps[0] : std::make_shared<MarkSetStep>(std::move(steps));
}

StepPtr RemoveMarkStep::map(const Mappable& mapping) const {
  int from = mapping.map(from_, 1), to = mapping.map(to_, -1);
  if (from >= to) return nullptr;
  return std::make_shared<RemoveMarkStep>(from, to, mark_);
}

StepPtr RemoveMarkStep::merge(const Step& other_step) const {
  const auto* other = dynamic_cast<const RemoveMarkStep*>(&other_step);
  if (other && other->mark_.eq(mark_) && from_ <= other->to_ && to_ >= other->from_)
    return std::make_shared<RemoveMarkStep>(std::min(from_, other->from_),
                                            std::max(to_, other->to_), mark_);
  return nullptr;
}

void RemoveMarkStep::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("stepType");
  w.string("removeMark");
  w.key("mark");
  mark_.write_json(w);
  w.key("from");
  w.number(from_);
  w.key("to");
  w.number(to_);
  w.end_object();
}

StepPtr RemoveMarkStep::from_json(const model::Schema& schema, const json::Value& json) {
  int from = 0, to = 0;
  if (!internal::read_position(json, "from", from) || !internal::read_position(json, "to", to))
    throw RangeError("Invalid input for RemoveMarkStep.fromJSON");
  return std::make_shared<RemoveMarkStep>(from, to,
                                          model::Mark::from_json(schema, mark_json(json)));
}

void push_mark_step(bool add, int from, int to, const model::Mark& mark,
                    std::vector<StepPtr>& target) {
  const Step* last = target.empty() ? nullptr : target.back().get();
  if (add) {
    const auto* prev = dynamic_cast<const AddMarkStep*>(last);
    if (prev && prev->to() == from && prev->mark().eq(mark))
      target.back() = std::make_shared<AddMarkStep>(prev->from(), to, mark);
    else
      target.push_back(std::make_shared<AddMarkStep>(from, to, mark));
  } else {
    const auto* prev = dynamic_cast<const RemoveMarkStep*>(last);
    if (prev && prev->to() == from && prev->mark().eq(mark))
      target.back() = std::make_shared<RemoveMarkStep>(prev->from(), to, mark);
    else
      target.push_back(std::make_shared<RemoveMarkStep>(from, to, mark));
  }
}

MarkSetStep::MarkSetStep(std::vector<StepPtr> steps) : steps_(std::move(steps)) {}

StepResult MarkSetStep::apply(const model::Node& doc) const {
  model::NodeRef current(&doc);
  for (const StepPtr& step : steps_) {
    StepResult result = step->apply(*current);
    if (!result.doc) return result;
    current = std::move(result.doc);
  }
  return StepResult::ok(std::move(current));
}

StepPtr MarkSetStep::invert(const model::Node& doc) const {
  std::vector<StepPtr> inverted;
  inverted.reserve(steps_.size());
  for (const StepPtr& step : steps_) inverted.push_back(step->invert(doc));
  return std::make_shared<MarkSetStep>(std::move(inverted));
}

StepPtr MarkSetStep::map(const Mappable& mapping) const {
  std::vector<StepPtr> result;
  for (const StepPtr& step : steps_) {
    StepPtr mapped = step->map(mapping);
    if (mapped) result.push_back(std::move(mapped));
  }
  return result.size() ? std::make_shared<MarkSetStep>(std::move(result)) : nullptr;
}

void MarkSetStep::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("stepType");
  w.string("markSet");
  w.key("steps");
  w.begin_array();
  for (const StepPtr& step : steps_) step->write_json(w);
  w.end_array();
  w.end_object();
}

StepPtr MarkSetStep::from_json(const model::Schema& schema, const json::Value& json) {
  const json::Value* steps = json.find("steps");
  // `s.stepType == "addMark" || s.stepType == "removeMark"`, with JavaScript's
  // loose equality (an array or object compares by its string form).
  auto is_range_mark_step = [](const json::Value& s) {
    // Port note: `s.stepType` on a null element is a JavaScript TypeError.
    if (s.is_null()) throw TypeError("Cannot read properties of null (reading 'stepType')");
    const json::Value* type = s.find("stepType");
    if (!type || !(type->is_string() || type->is_array() || type->is_object())) return false;
    std::string name = model::internal::js_to_string(type);
    return name == "addMark" || name == "removeMark";
  };
  if (!steps || !steps->is_array() ||
      !std::all_of(steps->as_array().begin(), steps->as_array().end(), is_range_mark_step))
    throw RangeError("Invalid JSON for MarkSetStep");
  std::vector<StepPtr> result;
  result.reserve(steps->as_array().size());
  for (const json::Value& s : steps->as_array()) result.push_back(Step::from_json(schema, s));
  return std::make_shared<MarkSetStep>(std::move(result));
}

AddNodeMarkStep::AddNodeMarkStep(int pos, model::Mark mark) : pos_(pos), mark_(std::move(mark)) {}

StepResult AddNodeMarkStep::apply(const model::Node& doc) const {
  const model::Node* node = doc.node_at(pos_);
  if (!node) return StepResult::fail("No node at mark step's position");
  model::NodeRef updated =
      node->type()->create(node->attrs(), model::Fragment(), mark_.add_to_set(node->marks()));
  return StepResult::from_replace(
      doc, pos_, pos_ + 1,
      model::Slice(model::Fragment::from(std::move(updated)), 0, node->is_leaf() ? 0 : 1));
}

StepPtr AddNodeMarkStep::invert(const model::Node& doc) const {
  const model::Node* node = doc.node_at(pos_);
  if (node) {
    model::MarkSet new_set = mark_.add_to_set(node->marks());
    if (new_set.size() == node->marks().size()) {
      for (const model::Mark& mark : node->marks())
        if (!mark.is_in_set(new_set)) return std::make_shared<AddNodeMarkStep>(pos_, mark);
      return std::make_shared<AddNodeMarkStep>(pos_, mark_);
    }
  }
  return std::make_shared<RemoveNodeMarkStep>(pos_, mark_);
}

StepPtr AddNodeMarkStep::map(const Mappable& mapping) const {
  MapResult pos = mapping.map_result(pos_, 1);
  return pos.deleted_after() ? nullptr : std::make_shared<AddNodeMarkStep>(pos.pos, mark_);
}

void AddNodeMarkStep::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("stepType");
  w.string("addNodeMark");
  w.key("pos");
  w.number(pos_);
  w.key("mark");
  mark_.write_json(w);
  w.end_object();
}

StepPtr AddNodeMarkStep::from_json(const model::Schema& schema, const json::Value& json) {
  int pos = 0;
  if (!internal::read_position(json, "pos", pos))
    throw RangeError("Invalid input for AddNodeMarkStep.fromJSON");
  return std::make_shared<AddNodeMarkStep>(pos, model::Mark::from_json(schema, mark_json(json)));
}

RemoveNodeMarkStep::RemoveNodeMarkStep(int pos, model::Mark mark)
    : pos_(pos), mark_(std::move(mark)) {}

StepResult RemoveNodeMarkStep::apply(const model::Node& doc) const {
  const model::Node* node = doc.node_at(pos_);
  if (!node) return StepResult::fail("No node at mark step's position");
  model::NodeRef updated =
      node->type()->create(node->attrs(), model::Fragment(), mark_.remove_from_set(node->marks()));
  return StepResult::from_replace(
      doc, pos_, pos_ + 1,
      model::Slice(model::Fragment::from(std::move(updated)), 0, node->is_leaf() ? 0 : 1));
}

StepPtr RemoveNodeMarkStep::invert(const model::Node& doc) const {
  const model::Node* node = doc.node_at(pos_);
  if (!node || !mark_.is_in_set(node->marks())) return shared_from_this();
  return std::make_shared<AddNodeMarkStep>(pos_, mark_);
}

StepPtr RemoveNodeMarkStep::map(const Mappable& mapping) const {
  MapResult pos = mapping.map_result(pos_, 1);
  return pos.deleted_after() ? nullptr : std::make_shared<RemoveNodeMarkStep>(pos.pos, mark_);
}

void RemoveNodeMarkStep::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("stepType");
  w.string("removeNodeMark");
  w.key("pos");
  w.number(pos_);
  w.key("mark");
  mark_.write_json(w);
  w.end_object();
}

StepPtr RemoveNodeMarkStep::from_json(const model::Schema& schema, const json::Value& json) {
  int pos = 0;
  if (!internal::read_position(json, "pos", pos))
    throw RangeError("Invalid input for RemoveNodeMarkStep.fromJSON");
  return std::make_shared<RemoveNodeMarkStep>(pos, model::Mark::from_json(schema, mark_json(json)));
}

}  // namespace rtpm::transform
