// Port of prosemirror-transform src/structure.ts (1.12.6).
//
// Structural helpers: finding and performing lifts, wraps, splits and joins,
// changing block types and node markup, and finding insertion points. The
// query functions are pure; the others add steps to a Transform (and are
// normally called through its methods).
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "rtpm/model/node.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"

namespace rtpm::transform {

class Transform;

/// A node type with optional attributes, used to describe wrappers and the
/// node types to use after a split (upstream's `{type, attrs}` objects).
struct Wrapper {
  const model::NodeType* type;
  std::optional<model::AttrMap> attrs;
};

/// Try to find a target depth to which the content in the given range can
/// be lifted. Will not go across isolating parent nodes.
std::optional<int> lift_target(const model::NodeRange& range);

void lift(Transform& tr, const model::NodeRange& range, int target);

/// Try to find a valid way to wrap the content in the given range in a node
/// of the given type. May introduce extra nodes around and inside the
/// wrapper node, if necessary. Returns nullopt if no valid wrapping could be
/// found. When `inner_range` is given, that range's content is used as the
/// content to fit into the wrapping, instead of the content of `range`.
std::optional<std::vector<Wrapper>> find_wrapping(const model::NodeRange& range,
                                                  const model::NodeType* node_type,
                                                  const model::AttrMap* attrs = nullptr,
                                                  const model::NodeRange* inner_range = nullptr);

/// Throws RangeError "Wrapper type given to Transform.wrap does not form
/// valid content of its parent wrapper".
void wrap(Transform& tr, const model::NodeRange& range, const std::vector<Wrapper>& wrappers);

/// The attributes for setBlockType, computed from the old node; nullopt
/// means none given (upstream's null).
using AttrsFor = std::function<std::optional<model::AttrMap>(const model::Node&)>;

/// Throws RangeError "Type given to setBlockType should be a textblock".
void set_block_type(Transform& tr, int from, int to, const model::NodeType* type,
                    const AttrsFor& attrs);

/// Change the type, attributes, and/or marks of the node at `pos`. When
/// `type` isn't given, the existing node type is preserved. Throws
/// RangeError "No node at given position" and "Invalid content for node type X".
void set_node_markup(Transform& tr, int pos, const model::NodeType* type,
                     const model::AttrMap* attrs, const model::MarkSet* marks);

/// Check whether splitting at the given position is allowed.
bool can_split(const model::Node& doc, int pos, int depth = 1,
               const std::vector<std::optional<Wrapper>>* types_after = nullptr);

void split(Transform& tr, int pos, int depth = 1,
           const std::vector<std::optional<Wrapper>>* types_after = nullptr);

/// Test whether the blocks before and after a given position can be joined.
bool can_join(const model::Node& doc, int pos);

/// Find an ancestor of the given position that can be joined to the block
/// before (or after if `dir` is positive). Returns the joinable point, if any.
std::optional<int> join_point(const model::Node& doc, int pos, int dir = -1);

void join(Transform& tr, int pos, int depth);

/// Try to find a point where a node of the given type can be inserted near
/// `pos`, by searching up the node hierarchy when `pos` itself isn't a valid
/// place but is at the start or end of a node. Return nullopt if no
/// position was found.
std::optional<int> insert_point(const model::Node& doc, int pos, const model::NodeType* node_type);

/// Finds a position at or around the given position where the given slice
/// can be inserted. Will look at parent nodes' nearest boundary and try
/// there, even if the original position wasn't directly at the start or end
/// of that node. Returns nullopt when no position was found.
std::optional<int> drop_point(const model::Node& doc, int pos, const model::Slice& slice);

}  // namespace rtpm::transform
