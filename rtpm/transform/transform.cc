// Port of prosemirror-transform src/transform.ts (1.12.6).
#include "rtpm/transform/transform.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "rtpm/transform/attr_step.h"
#include "rtpm/transform/mark.h"
#include "rtpm/transform/mark_step.h"
#include "rtpm/transform/replace.h"
#include "rtpm/transform/structure.h"

namespace rtpm::transform {

using model::Fragment;
using model::NodeRef;
using model::Slice;

Transform& Transform::step(StepPtr step) {
  StepResult result = maybe_step(std::move(step));
  if (!result.ok()) throw TransformError(result.failed);
  return *this;
}

StepResult Transform::maybe_step(StepPtr step) {
  StepResult result = step->apply(*doc_);
  if (result.ok()) add_step(std::move(step), result.doc);
  return result;
}

std::optional<Transform::Range> Transform::changed_range() const {
  constexpr int kNone = 1000000000;  // upstream's 1e9 sentinel
  int from = kNone, to = -kNone;
  const std::vector<StepMap>& maps = mapping_.maps();
  for (size_t i = 0; i < maps.size(); i++) {
    const StepMap& map = maps[i];
    if (i) {
      from = map.map(from, 1);
      to = map.map(to, -1);
    }
    map.for_each([&](int, int, int from_b, int to_b) {
      from = std::min(from, from_b);
      to = std::max(to, to_b);
    });
  }
  if (from == kNone) return std::nullopt;
  return Range{from, to};
}

void Transform::add_step(StepPtr step, NodeRef doc) {
  docs_.push_back(doc_);
  mapping_.append_map(step->get_map());
  steps_.push_back(std::move(step));
  doc_ = std::move(doc);
}

Transform& Transform::replace(int from, int to, const Slice& slice) {
  if (StepPtr step = replace_step(*doc_, from, to, slice)) this->step(std::move(step));
  return *this;
}

Transform& Transform::replace_with(int from, int to, const Fragment& content) {
  return replace(from, to, Slice(content, 0, 0));
}

Transform& Transform::replace_with(int from, int to, const NodeRef& node) {
  return replace_with(from, to, Fragment::from(node));
}

Transform& Transform::replace_with(int from, int to, const std::vector<NodeRef>& nodes) {
  return replace_with(from, to, Fragment::from_array(nodes));
}

Transform& Transform::del(int from, int to) { return replace(from, to, Slice::empty()); }

Transform& Transform::insert(int pos, const Fragment& content) {
  return replace_with(pos, pos, content);
}

Transform& Transform::insert(int pos, const NodeRef& node) { return replace_with(pos, pos, node); }

Transform& Transform::insert(int pos, const std::vector<NodeRef>& nodes) {
  return replace_with(pos, pos, nodes);
}

Transform& Transform::replace_range(int from, int to, const Slice& slice) {
  transform::replace_range(*this, from, to, slice);
  return *this;
}

Transform& Transform::replace_range_with(int from, int to, const NodeRef& node) {
  transform::replace_range_with(*this, from, to, node);
  return *this;
}

Transform& Transform::delete_range(int from, int to) {
  transform::delete_range(*this, from, to);
  return *this;
}

Transform& Transform::lift(const model::NodeRange& range, int target) {
  transform::lift(*this, range, target);
  return *this;
}

Transform& Transform::join(int pos, int depth) {
  transform::join(*this, pos, depth);
  return *this;
}

Transform& Transform::wrap(const model::NodeRange& range, const std::vector<Wrapper>& wrappers) {
  transform::wrap(*this, range, wrappers);
  return *this;
}

Transform& Transform::set_block_type(int from, int to, const model::NodeType* type,
                                     const model::AttrMap* attrs) {
  std::optional<model::AttrMap> given;
  if (attrs) given = *attrs;
  transform::set_block_type(*this, from, to, type, [&given](const model::Node&) { return given; });
  return *this;
}

Transform& Transform::set_block_type(
    int from, int to, const model::NodeType* type,
    const std::function<model::AttrMap(const model::Node&)>& attrs) {
  transform::set_block_type(
      *this, from, to, type,
      [&attrs](const model::Node& node) -> std::optional<model::AttrMap> { return attrs(node); });
  return *this;
}

Transform& Transform::set_node_markup(int pos, const model::NodeType* type,
                                      const model::AttrMap* attrs, const model::MarkSet* marks) {
  transform::set_node_markup(*this, pos, type, attrs, marks);
  return *this;
}

Transform& Transform::set_node_attribute(int pos, std::string attr,
                                         std::optional<json::Value> value) {
  step(std::make_shared<AttrStep>(pos, std::move(attr), std::move(value)));
  return *this;
}

Transform& Transform::set_doc_attribute(std::string attr, std::optional<json::Value> value) {
  step(std::make_shared<DocAttrStep>(std::move(attr), std::move(value)));
  return *this;
}

Transform& Transform::add_node_mark(int pos, const model::Mark& mark) {
  step(std::make_shared<AddNodeMarkStep>(pos, mark));
  return *this;
}

Transform& Transform::remove_node_mark(int pos, const model::Mark& mark) {
  const model::Node* node = doc_->node_at(pos);
  if (!node) throw RangeError("No node at position " + std::to_string(pos));
  if (mark.is_in_set(node->marks())) step(std::make_shared<RemoveNodeMarkStep>(pos, mark));
  return *this;
}

Transform& Transform::remove_node_mark(int pos, const model::MarkType* type) {
  NodeRef doc = doc_;
  const model::Node* node = doc->node_at(pos);
  if (!node) throw RangeError("No node at position " + std::to_string(pos));
  model::MarkSet set = node->marks();
  std::vector<StepPtr> steps;
  while (const model::Mark* found = type->is_in_set(set)) {
    model::Mark m = *found;
    steps.push_back(std::make_shared<RemoveNodeMarkStep>(pos, m));
    set = m.remove_from_set(set);
  }
  for (int i = static_cast<int>(steps.size()) - 1; i >= 0; i--) step(steps[i]);
  return *this;
}

Transform& Transform::split(int pos, int depth,
                            const std::vector<std::optional<Wrapper>>* types_after) {
  transform::split(*this, pos, depth, types_after);
  return *this;
}

Transform& Transform::add_mark(int from, int to, const model::Mark& mark) {
  transform::add_mark(*this, from, to, mark);
  return *this;
}

Transform& Transform::remove_mark(int from, int to, const model::Mark& mark) {
  transform::remove_mark(*this, from, to, &mark, nullptr);
  return *this;
}

Transform& Transform::remove_mark(int from, int to, const model::MarkType* type) {
  transform::remove_mark(*this, from, to, nullptr, type);
  return *this;
}

Transform& Transform::clear_incompatible(int pos, const model::NodeType* parent_type,
                                         const model::ContentMatch* match) {
  transform::clear_incompatible(*this, pos, parent_type, match);
  return *this;
}

}  // namespace rtpm::transform
