// Port of prosemirror-transform src/attr_step.ts (1.12.6).

#include "rtpm/transform/attr_step.h"

#include "rtpm/model/fragment.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"
#include "rtpm/transform/internal/step_json.h"

namespace rtpm::transform {

namespace {

// A copy of `attrs` with `attr` set to `value`. Port note: a nullopt value is
// JavaScript's undefined; it removes the key, since computeAttrs treats an
// undefined value as not given.
model::AttrMap with_attr(const model::Attrs& attrs, const std::string& attr,
                         const std::optional<json::Value>& value) {
  model::AttrMap result;
  result.reserve(attrs.items().size() + 1);
  bool found = false;
  for (const json::Member& member : attrs.items()) {
    if (member.first == attr) {
      found = true;
      if (value) result.emplace_back(member.first, *value);
    } else {
      result.push_back(member);
    }
  }
  if (!found && value) result.emplace_back(attr, *value);
  return result;
}

void write_value(json::Writer& w, const std::optional<json::Value>& value) {
  // JSON.stringify leaves out a key whose value is undefined.
  if (!value) return;
  w.key("value");
  w.value(*value);
}

std::optional<json::Value> value_of(const json::Value& json) {
  const json::Value* value = json.find("value");
  if (!value) return std::nullopt;
  return *value;
}

}  // namespace

AttrStep::AttrStep(int pos, std::string attr, std::optional<json::Value> value)
    : pos_(pos), attr_(std::move(attr)), value_(std::move(value)) {}

StepResult AttrStep::apply(const model::Node& doc) const {
  const model::Node* node = doc.node_at(pos_);
  if (!node) return StepResult::fail("No node at attribute step's position");
  model::AttrMap attrs = with_attr(node->attrs(), attr_, value_);
  model::NodeRef updated = node->type()->create(&attrs, model::Fragment(), node->marks());
  return StepResult::from_replace(
      doc, pos_, pos_ + 1,
      model::Slice(model::Fragment::from(std::move(updated)), 0, node->is_leaf() ? 0 : 1));
}

StepMap AttrStep::get_map() const { return StepMap::empty(); }

StepPtr AttrStep::invert(const model::Node& doc) const {
  const model::Node* node = doc.node_at(pos_);
  // Port note: upstream dereferences `doc.nodeAt(pos)!`, a TypeError in
  // JavaScript when there is no node there.
  if (!node) throw TypeError("Cannot read properties of null (reading 'attrs')");
  const json::Value* old = node->attrs().get(attr_);
  return std::make_shared<AttrStep>(pos_, attr_,
                                    old ? std::optional<json::Value>(*old) : std::nullopt);
}

StepPtr AttrStep::map(const Mappable& mapping) const {
  MapResult pos = mapping.map_result(pos_, 1);
  return pos.deleted_after() ? nullptr : std::make_shared<AttrStep>(pos.pos, attr_, value_);
}

void AttrStep::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("stepType");
  w.string("attr");
  w.key("pos");
  w.number(pos_);
  w.key("attr");
  w.string(attr_);
  write_value(w, value_);
  w.end_object();
}

StepPtr AttrStep::from_json(const model::Schema&, const json::Value& json) {
  int pos = 0;
  const json::Value* attr = json.find("attr");
  if (!internal::read_position(json, "pos", pos) || !attr || !attr->is_string())
    throw RangeError("Invalid input for AttrStep.fromJSON");
  return std::make_shared<AttrStep>(pos, attr->as_string(), value_of(json));
}

DocAttrStep::DocAttrStep(std::string attr, std::optional<json::Value> value)
    : attr_(std::move(attr)), value_(std::move(value)) {}

StepResult DocAttrStep::apply(const model::Node& doc) const {
  model::AttrMap attrs = with_attr(doc.attrs(), attr_, value_);
  model::NodeRef updated = doc.type()->create(&attrs, doc.content(), doc.marks());
  return StepResult::ok(std::move(updated));
}

StepMap DocAttrStep::get_map() const { return StepMap::empty(); }

StepPtr DocAttrStep::invert(const model::Node& doc) const {
  const json::Value* old = doc.attrs().get(attr_);
  return std::make_shared<DocAttrStep>(attr_,
                                       old ? std::optional<json::Value>(*old) : std::nullopt);
}

StepPtr DocAttrStep::map(const Mappable&) const { return shared_from_this(); }

void DocAttrStep::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("stepType");
  w.string("docAttr");
  w.key("attr");
  w.string(attr_);
  write_value(w, value_);
  w.end_object();
}

StepPtr DocAttrStep::from_json(const model::Schema&, const json::Value& json) {
  const json::Value* attr = json.find("attr");
  if (!attr || !attr->is_string()) throw RangeError("Invalid input for DocAttrStep.fromJSON");
  return std::make_shared<DocAttrStep>(attr->as_string(), value_of(json));
}

}  // namespace rtpm::transform
