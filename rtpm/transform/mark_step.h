// Port of prosemirror-transform src/mark_step.ts (1.12.6).
//
// Mark steps: add or remove a mark on the inline content of a range
// (AddMarkStep, RemoveMarkStep), on one node (AddNodeMarkStep,
// RemoveNodeMarkStep), and MarkSetStep, a sequence of range mark steps that
// upstream produces when inverting a range mark step does not give exactly
// one step. All are immutable values shared as StepPtr.
#pragma once

#include <string_view>
#include <vector>

#include "rtpm/model/mark.h"
#include "rtpm/transform/step.h"

namespace rtpm::transform {

/// Add a mark to all inline content between two positions.
class AddMarkStep final : public Step {
 public:
  /// Create a mark step.
  AddMarkStep(int from, int to, model::Mark mark);

  /// The start of the marked range.
  int from() const { return from_; }
  /// The end of the marked range.
  int to() const { return to_; }
  /// The mark to add.
  const model::Mark& mark() const { return mark_; }

  std::string_view step_type() const override { return "addMark"; }
  StepResult apply(const model::Node& doc) const override;
  /// A single RemoveMarkStep/AddMarkStep, or a MarkSetStep (possibly empty)
  /// when the inverse is not exactly one step.
  StepPtr invert(const model::Node& doc) const override;
  StepPtr map(const Mappable& mapping) const override;
  StepPtr merge(const Step& other) const override;
  void write_json(json::Writer& w) const override;

  /// Throws RangeError "Invalid input for AddMarkStep.fromJSON" and whatever
  /// Mark::from_json throws.
  static StepPtr from_json(const model::Schema& schema, const json::Value& json);

 private:
  int from_;
  int to_;
  model::Mark mark_;
};

/// Remove a mark from all inline content between two positions.
class RemoveMarkStep final : public Step {
 public:
  /// Create a mark-removing step.
  RemoveMarkStep(int from, int to, model::Mark mark);

  /// The start of the unmarked range.
  int from() const { return from_; }
  /// The end of the unmarked range.
  int to() const { return to_; }
  /// The mark to remove.
  const model::Mark& mark() const { return mark_; }

  std::string_view step_type() const override { return "removeMark"; }
  StepResult apply(const model::Node& doc) const override;
  /// A single AddMarkStep, or a MarkSetStep (possibly empty).
  StepPtr invert(const model::Node& doc) const override;
  StepPtr map(const Mappable& mapping) const override;
  StepPtr merge(const Step& other) const override;
  void write_json(json::Writer& w) const override;

  /// Throws RangeError "Invalid input for RemoveMarkStep.fromJSON" and
  /// whatever Mark::from_json throws.
  static StepPtr from_json(const model::Schema& schema, const json::Value& json);

 private:
  int from_;
  int to_;
  model::Mark mark_;
};

/// Append a range mark step (an AddMarkStep when `add`, else a
/// RemoveMarkStep) to `target`, extending the last one when it is of the same
/// class, ends at `from` and has an equal mark.
/// Port note: upstream passes the class; here `add` selects it.
void push_mark_step(bool add, int from, int to, const model::Mark& mark,
                    std::vector<StepPtr>& target);

/// A sequence of AddMarkStep/RemoveMarkStep steps applied in order
/// (upstream's unexported MarkSetStep, JSON id "markSet").
class MarkSetStep final : public Step {
 public:
  /// `steps` must hold only AddMarkStep and RemoveMarkStep steps.
  explicit MarkSetStep(std::vector<StepPtr> steps);

  const std::vector<StepPtr>& steps() const { return steps_; }

  std::string_view step_type() const override { return "markSet"; }
  StepResult apply(const model::Node& doc) const override;
  StepPtr invert(const model::Node& doc) const override;
  /// Null when every step was deleted by the mapping.
  StepPtr map(const Mappable& mapping) const override;
  void write_json(json::Writer& w) const override;

  /// Throws RangeError "Invalid JSON for MarkSetStep" unless "steps" is an
  /// array of addMark/removeMark step JSON, and whatever their from_json throws.
  static StepPtr from_json(const model::Schema& schema, const json::Value& json);

 private:
  std::vector<StepPtr> steps_;
};

/// Add a mark to a specific node.
class AddNodeMarkStep final : public Step {
 public:
  /// Create a node mark step.
  AddNodeMarkStep(int pos, model::Mark mark);

  /// The position of the target node.
  int pos() const { return pos_; }
  /// The mark to add.
  const model::Mark& mark() const { return mark_; }

  std::string_view step_type() const override { return "addNodeMark"; }
  StepResult apply(const model::Node& doc) const override;
  StepPtr invert(const model::Node& doc) const override;
  StepPtr map(const Mappable& mapping) const override;
  void write_json(json::Writer& w) const override;

  /// Throws RangeError "Invalid input for AddNodeMarkStep.fromJSON" and
  /// whatever Mark::from_json throws.
  static StepPtr from_json(const model::Schema& schema, const json::Value& json);

 private:
  int pos_;
  model::Mark mark_;
};

/// Remove a mark from a specific node.
class RemoveNodeMarkStep final : public Step {
 public:
  /// Create a mark-removing step.
  RemoveNodeMarkStep(int pos, model::Mark mark);

  /// The position of the target node.
  int pos() const { return pos_; }
  /// The mark to remove.
  const model::Mark& mark() const { return mark_; }

  std::string_view step_type() const override { return "removeNodeMark"; }
  StepResult apply(const model::Node& doc) const override;
  /// This step itself when the node lacks the mark (the step must then be
  /// owned by a StepPtr), else an AddNodeMarkStep.
  StepPtr invert(const model::Node& doc) const override;
  StepPtr map(const Mappable& mapping) const override;
  void write_json(json::Writer& w) const override;

  /// Throws RangeError "Invalid input for RemoveNodeMarkStep.fromJSON" and
  /// whatever Mark::from_json throws.
  static StepPtr from_json(const model::Schema& schema, const json::Value& json);

 private:
  int pos_;
  model::Mark mark_;
};

}  // namespace rtpm::transform
