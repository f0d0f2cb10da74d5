// Port of prosemirror-transform src/replace_step.ts (1.12.6).
//
// Replace steps: ReplaceStep replaces a range with a slice; ReplaceAroundStep
// does the same but keeps a range (the gap) of the replaced content by moving
// it into the slice. Both are immutable values shared as StepPtr.
#pragma once

#include <string_view>

#include "rtpm/model/slice.h"
#include "rtpm/transform/step.h"

namespace rtpm::transform {

/// Replace a part of the document with a slice of new content.
class ReplaceStep final : public Step {
 public:
  /// The given `slice` should fit the 'gap' between `from` and
  /// `to`—the depths must line up, and the surrounding nodes must be
  /// able to be joined with the open sides of the slice. When
  /// `structure` is true, the step will fail if the content between
  /// from and to is not just a sequence of closing and then opening
  /// tokens (this is to guard against rebased replace steps
  /// overwriting something they weren't supposed to).
  ReplaceStep(int from, int to, model::Slice slice, bool structure = false);

  /// The start position of the replaced range.
  int from() const { return from_; }
  /// The end position of the replaced range.
  int to() const { return to_; }
  /// The slice to insert.
  const model::Slice& slice() const { return slice_; }
  bool structure() const { return structure_; }

  std::string_view step_type() const override { return "replace"; }
  StepResult apply(const model::Node& doc) const override;
  StepMap get_map() const override;
  StepPtr invert(const model::Node& doc) const override;
  StepPtr map(const Mappable& mapping) const override;
  StepPtr merge(const Step& other) const override;
  void write_json(json::Writer& w) const override;

  /// Throws RangeError "Invalid input for ReplaceStep.fromJSON" and whatever
  /// Slice::from_json throws.
  static StepPtr from_json(const model::Schema& schema, const json::Value& json);

  /// By default, for backwards compatibility, an inserting step
  /// mapped over an insertion at that same position fill move after
  /// the inserted content. In a collaborative editing situation, that
  /// can make redone insertions appear in unexpected places. You can
  /// set this to -1 to make such mapping keep the step before the
  /// insertion instead.
  /// Port note: a compile-time constant (upstream's default, 1), so that
  /// steps may be mapped from several threads.
  static constexpr int kMapBias = 1;

 private:
  int from_;
  int to_;
  model::Slice slice_;
  bool structure_;
};

/// Replace a part of the document with a slice of content, but
/// preserve a range of the replaced content by moving it into the
/// slice.
class ReplaceAroundStep final : public Step {
 public:
  /// Create a replace-around step with the given range and gap.
  /// `insert` should be the point in the slice into which the content
  /// of the gap should be moved. `structure` has the same meaning as
  /// it has in the ReplaceStep class.
  ReplaceAroundStep(int from, int to, int gap_from, int gap_to, model::Slice slice, int insert,
                    bool structure = false);

  /// The start position of the replaced range.
  int from() const { return from_; }
  /// The end position of the replaced range.
  int to() const { return to_; }
  /// The start of preserved range.
  int gap_from() const { return gap_from_; }
  /// The end of preserved range.
  int gap_to() const { return gap_to_; }
  /// The slice to insert.
  const model::Slice& slice() const { return slice_; }
  /// The position in the slice where the preserved range should be inserted.
  int insert() const { return insert_; }
  bool structure() const { return structure_; }

  std::string_view step_type() const override { return "replaceAround"; }
  StepResult apply(const model::Node& doc) const override;
  StepMap get_map() const override;
  StepPtr invert(const model::Node& doc) const override;
  StepPtr map(const Mappable& mapping) const override;
  void write_json(json::Writer& w) const override;

  /// Throws RangeError "Invalid input for ReplaceAroundStep.fromJSON" and
  /// whatever Slice::from_json throws.
  static StepPtr from_json(const model::Schema& schema, const json::Value& json);

 private:
  int from_;
  int to_;
  int gap_from_;
  int gap_to_;
  model::Slice slice_;
  int insert_;
  bool structure_;
};

}  // namespace rtpm::transform
