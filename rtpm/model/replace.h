// Port of prosemirror-model src/replace.ts (1.25.13): the replace algorithm
// behind Node::replace.
#pragma once

#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/slice.h"

namespace rtpm::model {

/// Replace the range between $from and $to (in the same document) with the
/// slice; returns the new document. Throws ReplaceError with upstream's
/// messages ("Inserted content deeper than insertion position", "Inconsistent
/// open depths", "Cannot join X onto Y", "Invalid content for node X").
NodeRef replace(const ResolvedPos& from, const ResolvedPos& to, const Slice& slice);

}  // namespace rtpm::model
