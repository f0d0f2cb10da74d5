// Port of prosemirror-transform src/replace.ts (1.12.6).
//
// Fitting a slice into a document position (replace_step, with the Fitter
// algorithm), and the "hinted" replace helpers behind Transform's
// replace_range, replace_range_with and delete_range.
#pragma once

#include "rtpm/model/node.h"
#include "rtpm/model/slice.h"
#include "rtpm/transform/step.h"

namespace rtpm::transform {

class Transform;

/// ‘Fit’ a slice into a given position in the document, producing a step
/// that inserts it. Will return null if there's no meaningful way to insert
/// the slice here, or inserting it would be a no-op (an empty slice over an
/// empty range). `doc` must be held by a NodeRef (it is resolved).
StepPtr replace_step(const model::Node& doc, int from, int to,
                     const model::Slice& slice = model::Slice::empty());
inline StepPtr replace_step(const model::Node& doc, int from) {
  return replace_step(doc, from, from);
}

void replace_range(Transform& tr, int from, int to, const model::Slice& slice);

void replace_range_with(Transform& tr, int from, int to, const model::NodeRef& node);

void delete_range(Transform& tr, int from, int to);

}  // namespace rtpm::transform
