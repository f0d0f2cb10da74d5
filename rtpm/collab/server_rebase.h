// The server side of the `rebase` protocol extension (docs/protocol.md):
// a batch of steps made on an older version is rebased over the steps that
// came since, exactly as prosemirror-collab 1.3.1's receiveTransaction
// rebases a client's unconfirmed steps over steps it receives (rebaseSteps).
//
// The client undoes its steps with their inverses, which need the document
// they applied to. The server does not keep old documents; it needs only the
// inverses' maps, and a step's inverse has the inverted map of the step
// (StepMap::invert), so the mapping is the same without any document. The
// vectors in rtpm/conformance/testdata/server_rebase.jsonl (made by the real
// prosemirror-collab) check that the result is the same, byte for byte.
#pragma once

#include <cstddef>
#include <vector>

#include "rtpm/model/node.h"
#include "rtpm/transform/map.h"
#include "rtpm/transform/step.h"

namespace rtpm::collab {

struct ServerRebase {
  /// The steps as applied to `doc`, in batch order.
  std::vector<transform::StepPtr> steps;
  /// The index in the batch of each applied step (the others were dropped).
  std::vector<size_t> kept;
  /// The document after them.
  model::NodeRef doc;
};

/// Whether the positions of `step` lie within a document of content size `size`, as those of
/// any step made on such a document do. The server cannot apply a late batch to the document
/// it was made on (it does not keep old documents), so it checks this before it maps the
/// batch: mapping positions far outside the document would overflow.
bool positions_within(const transform::Step& step, int64_t size);

/// Rebases `batch` (made on the document that `over` starts from) over
/// `over` (the maps of the steps since, oldest first) onto `doc` (the
/// document after `over`). Step i is mapped through the inverted maps of
/// batch steps i-1..0, `over`, and the steps reapplied before it (each
/// mirrored with its inverse), and applied; a step that maps to nothing,
/// fails to apply or throws, or inserts a node that fails Node::check()
/// (check_inserted_nodes) is dropped.
ServerRebase rebase_batch(const std::vector<transform::StepPtr>& batch,
                          const std::vector<const transform::StepMap*>& over, model::NodeRef doc);

}  // namespace rtpm::collab
