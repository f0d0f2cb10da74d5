// Edits the HTTP document API computes from a room's documents and step log:
// the steps that turn the current document into another one (restore), and
// the steps that undo one person's changes (revert by author).
//
// Pure functions over immutable documents and steps: no I/O, no shared
// state, safe to call from any thread. The steps they return are new values
// (or steps given to them) that the caller submits as one change, on the
// current document, through the authority like any client's steps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rtpm/base/error.h"
#include "rtpm/model/node.h"
#include "rtpm/transform/step.h"

namespace rtpm::collab {

/// Steps that, applied in order to `current`, give a document equal
/// (Node::eq) to `target` (both of the same schema). Equal documents give no
/// steps. Otherwise one ReplaceStep over the range where the two differ, found
/// as prosemirror-view finds a DOM change: prosemirror-model's findDiffStart
/// and findDiffEnd on the documents' content (marks count as differences, so
/// a marks-only change is replaced too), with the ends moved forward by the
/// overlap when they come before the start. The step is verified by
/// applying it; when it fails or misses `target`, the result is one
/// ReplaceStep of the whole content (0..content size, `target`'s content as
/// a closed slice). Fails with ErrorCode::invalid_steps when even that does
/// not give `target` (another top node type or attributes, another schema).
Result<std::vector<transform::StepPtr>> steps_to_become(const model::NodeRef& current,
                                                        const model::NodeRef& target);

/// A step of the log with the user who made it.
struct AuthoredStep {
  transform::StepPtr step;
  std::string user_id;
};

/// What revert_steps gives.
struct Reverted {
  /// The steps to apply, in order, on the document at the end of the log.
  std::vector<transform::StepPtr> steps;
  /// The versions (as in revert_steps) of the steps whose inverse no longer
  /// applies or maps away (deleted by later changes), ascending.
  std::vector<int64_t> skipped;
};

/// Reverts one user's changes as prosemirror-history undoes an event while
/// others' changes stay. `doc` is the document at version `base`; `steps[i]`
/// is the step made on version base + i (the document after all of them is
/// the current one). The steps of `user_id` made on versions in [from, to)
/// are reverted newest first: each one's inverse (against the document
/// before it) is mapped through the map of every step after it, including the
/// inverses already appended, each paired as a mirror with the step it
/// reverts (so positions deleted by a step and restored by its inverse map
/// back exactly), and is kept when it maps (is not deleted) and applies;
/// otherwise its version goes to `skipped`. Steps of other users and outside
/// the range only map. No steps to revert give an empty result.
///
/// Fails with ErrorCode::bad_message when the range is not within the log
/// (from < base, to > base + steps.size(), from > to) or a step is null, and
/// with ErrorCode::invalid_steps when a step of the log does not apply to the
/// document replayed before it (the message names its version).
Result<Reverted> revert_steps(const model::NodeRef& doc, int64_t base,
                              const std::vector<AuthoredStep>& steps, const std::string& user_id,
                              int64_t from, int64_t to);

}  // namespace rtpm::collab
