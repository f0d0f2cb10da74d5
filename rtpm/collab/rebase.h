// Port of prosemirror-collab src/collab.ts (1.3.1): the client side of the
// central-authority algorithm, without EditorState.
//
// A client keeps its confirmed version and the local steps the authority has
// not confirmed yet (with their inverses). When steps arrive from the
// authority, receive_transaction confirms the client's own steps (the prefix
// of the received steps that carries its client id) and rebases the remaining
// unconfirmed steps over the others, exactly as prosemirror-collab does: undo
// them, apply the received steps, and map and reapply them with mirror
// information so positions round-trip.
#pragma once

#include <string>
#include <vector>

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/transform/step.h"
#include "rtpm/transform/transform.h"

namespace rtpm::collab {

/// A local step and its inverse against the document it applied to.
/// Port note: `before` is that document, when known (not in prosemirror-collab):
/// undoing the step then takes it instead of applying the inverse (undo()).
struct Rebaseable {
  transform::StepPtr step;
  transform::StepPtr inverted;
  model::NodeRef before;
};

/// Undoes `steps` on `transform`, last first, as prosemirror-collab does with
/// each one's inverse: a step whose `before` is known adds its inverse with
/// that document, one without has its inverse applied. Throws TransformError
/// when an inverse does not apply (a broken state).
void undo(const std::vector<Rebaseable>& steps, transform::Transform& transform);

/// The collab state of one client: its document (confirmed steps plus the
/// unconfirmed ones applied), the version of the last confirmed step, and the
/// unconfirmed steps in order.
struct CollabState {
  model::NodeRef doc;
  int64_t version = 0;
  std::vector<Rebaseable> unconfirmed;
};

/// Undo `steps` on `transform` (last first), apply `over`, then map each of
/// `steps` through the changes and reapply it; steps that no longer apply are
/// dropped. Returns the rebased steps with their new inverses.
/// Port note: `kept`, when given, receives the index in `steps` of each step
/// returned (upstream does not say which steps it dropped).
std::vector<Rebaseable> rebase_steps(const std::vector<Rebaseable>& steps,
                                     const std::vector<transform::StepPtr>& over,
                                     transform::Transform& transform,
                                     std::vector<size_t>* kept = nullptr);

/// Wraps the steps of a local transform as unconfirmed steps.
std::vector<Rebaseable> unconfirmed_from(const transform::Transform& transform);

struct ReceiveResult {
  /// The new state (version advanced by the number of received steps).
  CollabState state;
  /// The transaction applied to the old document: the inverses, the received
  /// steps and the rebased steps (empty when everything received was ours).
  transform::Transform transform;
  /// How many unconfirmed steps were rebased (prosemirror-collab's "rebased" meta).
  int rebased = 0;
  /// Port note: the index in the old state's `unconfirmed` of each step of
  /// the new state's `unconfirmed`, in order. Own steps confirmed by the
  /// received ones are not listed, nor steps that no longer apply after the
  /// rebase (prosemirror-collab drops those silently).
  std::vector<size_t> kept;
};

/// Push steps received from the authority into a client's state.
/// `client_ids[i]` names the client that made `steps[i]`; ids compare as strings.
/// Throws TransformError when a received step does not apply (a broken stream).
ReceiveResult receive_transaction(const CollabState& state,
                                  const std::vector<transform::StepPtr>& steps,
                                  const std::vector<std::string>& client_ids,
                                  const std::string& our_id);

// ---- for clients that share work (not in prosemirror-collab) ----

/// The document before the unconfirmed steps (the confirmed one at
/// `state.version`): `state.doc` with their inverses applied, last first.
/// Throws TransformError when an inverse does not apply (a broken state).
model::NodeRef confirmed_doc(const CollabState& state);

/// receive_transaction for received steps none of which is ours, when
/// `applied` already applied them to confirmed_doc(state) (another client of
/// the same room, with nothing unconfirmed, did). Its steps and documents are
/// taken instead of applying the received steps again: only the unconfirmed
/// steps are undone and rebased. The result is receive_transaction's (the
/// caller vouches that `applied` starts at the confirmed document).
ReceiveResult receive_applied(const CollabState& state, const transform::Transform& applied);

// ---- the `rebase` protocol extension (docs/protocol.md); not in prosemirror-collab ----

/// Pairs the steps an authority applied with the steps of the batch they came
/// from, in order: `result[i]` is the index in `batch` of `applied[i]`'s
/// step, or -1. Rebasing moves a step's positions (from, to, pos, gapFrom,
/// gapTo) and keeps everything else (type, slice, mark, attribute), and it
/// keeps the order while it may drop steps; so each applied step is paired
/// with the next batch step that equals it without its positions. A batch
/// step paired with none was dropped by the authority. Values only.
std::vector<int> align_steps(const std::vector<json::Value>& batch,
                             const std::vector<json::Value>& applied);

/// The client's side of an `ack` with steps: the authority rebased the
/// batch in flight over steps the client has already received, and applied
/// it as `applied` (made on `state.version`). `n` is the batch's length as
/// the client holds it now (its first `n` unconfirmed steps, rebased here
/// over what arrived meanwhile). Undoes every unconfirmed step (last first),
/// applies `applied` as confirmed steps, and maps each unconfirmed step after
/// the batch through the changes since its inverse, with mirrors, and
/// reapplies it, as rebase_steps does; steps that no longer apply are
/// dropped. Each applied step paired with a batch step (align_steps) whose
/// map has the same shape (the same number of ranges, of the same old and new
/// sizes) mirrors that step's inverse, so positions inside the batch's own
/// insertions (a caret after the text just typed, mapped with assoc -1) and
/// the steps typed after it follow the text to where the authority put it.
/// The result's `state.version` is `state.version + applied.size()`; `kept`
/// lists the indices (all >= n) of the steps after the batch that remain.
/// Throws TransformError when an applied step does not apply (a broken stream).
ReceiveResult confirm_rebased(const CollabState& state, size_t n,
                              const std::vector<transform::StepPtr>& applied);

/// confirm_rebased for a frame of the room's steps with the batch's among
/// others' (an `echo` broadcast): `applied` is the whole frame applied to
/// confirmed_doc(state) (another client of the same room made it, say; its
/// documents are taken), and the batch's steps as the authority applied them
/// are its steps [from, from + count). Undoes every unconfirmed step, adds the
/// frame's steps, mirrors the batch's inverses with the steps paired with
/// them, and maps and reapplies the unconfirmed steps after the batch, as
/// confirm_rebased does. The result's `state.version` is `state.version`
/// plus the frame's length.
ReceiveResult confirm_in_frame(const CollabState& state, size_t n,
                               const transform::Transform& applied, size_t from, size_t count);

}  // namespace rtpm::collab
