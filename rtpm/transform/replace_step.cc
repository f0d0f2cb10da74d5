// Port of prosemirror-transform src/replace_step.ts (1.12.6).

#include "rtpm/transform/replace_step.h"

#include <algorithm>
#include <cstdint>

#include "rtpm/model/internal/js.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/transform/internal/step_json.h"

namespace rtpm::transform {

namespace {

bool content_between(const model::Node& doc, int from, int to);

}  // namespace

ReplaceStep::ReplaceStep(int from, int to, model::Slice slice, bool structure)
    : from_(from), to_(to), slice_(std::move(slice)), structure_(structure) {}

StepResult ReplaceStep::apply(const model::Node& doc) const {
  if (structure_ && content_between(doc, from_, to_))
    return StepResult::fail("Structure replace would overwrite content");
  return StepResult::from_replace(doc, from_, to_, slice_);
}

StepMap ReplaceStep::get_map() const { return StepMap::one(from_, to_ - from_, slice_.size()); }

StepPtr ReplaceStep::invert(const model::Node& doc) const {
  return std::make_shared<ReplaceStep>(from_, from_ + slice_.size(), doc.slice(from_, to_));
}

StepPtr ReplaceStep::map(const Mappable& mapping) const {
  MapResult to = mapping.map_result(to_, -1);
  MapResult from = from_ == to_ && kMapBias < 0 ? to : mapping.map_result(from_, 1);
  if (from.deleted_across() && to.deleted_across()) return nullptr;
  return std::make_shared<ReplaceStep>(from.pos, std::max(from.pos, to.pos), slice_, structure_);
}

StepPtr ReplaceStep::merge(const Step& other_step) const {
  const auto* other = dynamic_cast<const ReplaceStep*>(&other_step);
  if (!other || other->structure_ || structure_) return nullptr;

  if (from_ + slice_.size() == other->from_ && !slice_.open_end() && !other->slice_.open_start()) {
    model::Slice slice = slice_.size() + other->slice_.size() == 0
                             ? model::Slice::empty()
                             : model::Slice(slice_.content().append(other->slice_.content()),
                                            slice_.open_start(), other->slice_.open_end());
    return std::make_shared<ReplaceStep>(from_, to_ + (other->to_ - other->from_), std::move(slice),
                                         structure_);
  } else if (other->to_ == from_ && !slice_.open_start() && !other->slice_.open_end()) {
    model::Slice slice = slice_.size() + other->slice_.size() == 0
                             ? model::Slice::empty()
                             : model::Slice(other->slice_.content().append(slice_.content()),
                                            other->slice_.open_start(), slice_.open_end());
    return std::make_shared<ReplaceStep>(other->from_, to_, std::move(slice), structure_);
  } else {
    return nullptr;
  }
}

void ReplaceStep::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("stepType");
  w.string("replace");
  w.key("from");
  w.number(from_);
  w.key("to");
  w.number(to_);
  if (slice_.size()) {
    w.key("slice");
    slice_.write_json(w);
  }
  if (structure_) {
    w.key("structure");
    w.boolean(true);
  }
  w.end_object();
}

StepPtr ReplaceStep::from_json(const model::Schema& schema, const json::Value& json) {
  int from = 0, to = 0;
  if (!internal::read_position(json, "from", from) || !internal::read_position(json, "to", to))
    throw RangeError("Invalid input for ReplaceStep.fromJSON");
  return std::make_shared<ReplaceStep>(
      from, to, model::Slice::from_json(schema, internal::member_or_null(json, "slice")),
      model::internal::js_truthy(json.find("structure")));
}

ReplaceAroundStep::ReplaceAroundStep(int from, int to, int gap_from, int gap_to, model::Slice slice,
                                     int insert, bool structure)
    : from_(from),
      to_(to),
      gap_from_(gap_from),
      gap_to_(gap_to),
      slice_(std::move(slice)),
      insert_(insert),
      structure_(structure) {}

StepResult ReplaceAroundStep::apply(const model::Node& doc) const {
  if (structure_ && (content_between(doc, from_, gap_from_) || content_between(doc, gap_to_, to_)))
    return StepResult::fail("Structure gap-replace would overwrite content");

  model::Slice gap = doc.slice(gap_from_, gap_to_);
  if (gap.open_start() || gap.open_end()) return StepResult::fail("Gap is not a flat range");
  std::optional<model::Slice> inserted = slice_.insert_at(insert_, gap.content());
  if (!inserted) return StepResult::fail("Content does not fit in gap");
  return StepResult::from_replace(doc, from_, to_, *inserted);
}

StepMap ReplaceAroundStep::get_map() const {
  return StepMap(
      {from_, gap_from_ - from_, insert_, gap_to_, to_ - gap_to_, slice_.size() - insert_});
}

StepPtr ReplaceAroundStep::invert(const model::Node& doc) const {
  int gap = gap_to_ - gap_from_;
  return std::make_shared<ReplaceAroundStep>(
      from_, from_ + slice_.size() + gap, from_ + insert_, from_ + insert_ + gap,
      doc.slice(from_, to_).remove_between(gap_from_ - from_, gap_to_ - from_), gap_from_ - from_,
      structure_);
}

StepPtr ReplaceAroundStep::map(const Mappable& mapping) const {
  MapResult from = mapping.map_result(from_, 1), to = mapping.map_result(to_, -1);
  int gap_from = from_ == gap_from_ ? from.pos : mapping.map(gap_from_, -1);
  int gap_to = to_ == gap_to_ ? to.pos : mapping.map(gap_to_, 1);
  if ((from.deleted_across() && to.deleted_across()) || gap_from < from.pos || gap_to > to.pos ||
      gap_from > gap_to)
    return nullptr;
  return std::make_shared<ReplaceAroundStep>(from.pos, to.pos, gap_from, gap_to, slice_, insert_,
                                             structure_);
}

void ReplaceAroundStep::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("stepType");
  w.string("replaceAround");
  w.key("from");
  w.number(from_);
  w.key("to");
  w.number(to_);
  w.key("gapFrom");
  w.number(gap_from_);
  w.key("gapTo");
  w.number(gap_to_);
  w.key("insert");
  w.number(insert_);
  if (slice_.size()) {
    w.key("slice");
    slice_.write_json(w);
  }
  if (structure_) {
    w.key("structure");
    w.boolean(true);
  }
  w.end_object();
}

StepPtr ReplaceAroundStep::from_json(const model::Schema& schema, const json::Value& json) {
  int from = 0, to = 0, gap_from = 0, gap_to = 0, insert = 0;
  if (!internal::read_position(json, "from", from) || !internal::read_position(json, "to", to) ||
      !internal::read_position(json, "gapFrom", gap_from) ||
      !internal::read_position(json, "gapTo", gap_to) ||
      !internal::read_position(json, "insert", insert))
    throw RangeError("Invalid input for ReplaceAroundStep.fromJSON");
  return std::make_shared<ReplaceAroundStep>(
      from, to, gap_from, gap_to,
      model::Slice::from_json(schema, internal::member_or_null(json, "slice")), insert,
      model::internal::js_truthy(json.find("structure")));
}

namespace {

bool content_between(const model::Node& doc, int from, int to) {
  model::ResolvedPos rfrom = doc.resolve(from);
  // Port note: `to` is not checked yet (a gap's end, or a `to` below `from`):
  // the distance is taken in 64 bits, as JavaScript's numbers would hold it.
  int64_t dist = static_cast<int64_t>(to) - from;
  int depth = rfrom.depth();
  while (dist > 0 && depth > 0 && rfrom.index_after(depth) == rfrom.node(depth).child_count()) {
    depth--;
    dist--;
  }
  if (dist > 0) {
    const model::Node* next = rfrom.node(depth).maybe_child(rfrom.index_after(depth));
    while (dist > 0) {
      if (!next || next->is_leaf()) return true;
      next = next->first_child();
      dist--;
    }
  }
  return false;
}

}  // namespace

}  // namespace rtpm::transform
