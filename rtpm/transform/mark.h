// Port of prosemirror-transform src/mark.ts (1.12.6).
//
// The mark helpers behind Transform::add_mark, remove_mark and
// clear_incompatible. Each adds steps to the given transform.
#pragma once

#include "rtpm/model/content_match.h"
#include "rtpm/model/mark.h"
#include "rtpm/model/schema.h"

namespace rtpm::transform {

class Transform;

/// Add the given mark to the inline content between `from` and `to`.
void add_mark(Transform& tr, int from, int to, const model::Mark& mark);

/// Remove marks from inline nodes between `from` and `to`: precisely `mark`
/// when given, else all marks of `type` when given, else all marks.
/// Port note: upstream's single `mark?: Mark | MarkType | null` argument is
/// split into the two pointers; pass at most one.
void remove_mark(Transform& tr, int from, int to, const model::Mark* mark,
                 const model::MarkType* type);

/// Removes all marks and nodes from the content of the node at `pos` that
/// don't match the given new parent node type. `match` (nullptr: the type's
/// start match) is where matching starts; `clear_newlines` replaces newlines
/// in text with spaces when the type isn't `whitespace: "pre"`.
void clear_incompatible(Transform& tr, int pos, const model::NodeType* parent_type,
                        const model::ContentMatch* match = nullptr, bool clear_newlines = true);

}  // namespace rtpm::transform
