// Port of prosemirror-transform src/transform.ts (1.12.6).
//
// A Transform builds up and tracks a list of steps representing a document
// transformation, together with the documents before each step and a Mapping
// of all step maps. It is a mutable, single-threaded builder; the documents
// and steps it holds are immutable and may be shared once taken out of it.
// Most methods return the transform itself so calls can be chained. The
// algorithms behind the helper methods live in replace.h, structure.h and
// mark.h.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "rtpm/base/error.h"
#include "rtpm/model/node.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"
#include "rtpm/transform/map.h"
#include "rtpm/transform/step.h"
#include "rtpm/transform/structure.h"

namespace rtpm::transform {

/// Thrown by Transform::step when a step fails to apply; the message is the
/// step's failure message. Port note: upstream's class reports the name
/// "TransformError"; ours is a GenericError (JavaScript name "Error").
class TransformError : public GenericError {
 public:
  explicit TransformError(const std::string& m) : GenericError(m) {}
};

/// Abstraction to build up and track an array of steps representing a
/// document transformation.
///
/// Most transforming methods return the `Transform` object itself, so that
/// they can be chained.
class Transform {
 public:
  /// Create a transform that starts with the given document.
  explicit Transform(model::NodeRef doc) : doc_(std::move(doc)) {}
  virtual ~Transform() = default;
  // Declared, since the virtual destructor would leave a Transform without
  // its moves: every move (a result returned, a transform shared) copied its
  // steps, documents and maps.
  Transform(const Transform&) = default;
  Transform& operator=(const Transform&) = default;
  Transform(Transform&&) noexcept = default;
  Transform& operator=(Transform&&) noexcept = default;

  /// The current document (the result of applying the steps in the transform).
  const model::NodeRef& doc() const { return doc_; }
  /// The steps in this transform.
  const std::vector<StepPtr>& steps() const { return steps_; }
  /// The documents before each of the steps.
  const std::vector<model::NodeRef>& docs() const { return docs_; }
  /// A mapping with the maps for each of the steps in this transform.
  const Mapping& mapping() const { return mapping_; }
  Mapping& mutable_mapping() { return mapping_; }

  /// The starting document.
  const model::NodeRef& before() const { return docs_.empty() ? doc_ : docs_.front(); }

  /// Apply a new step in this transform, saving the result. Throws
  /// TransformError when the step fails.
  Transform& step(StepPtr step);

  /// Try to apply a step in this transformation, ignoring it if it fails.
  /// Returns the step result.
  StepResult maybe_step(StepPtr step);

  /// True when the document has been changed (when there are any steps).
  bool doc_changed() const { return !steps_.empty(); }

  struct Range {
    int from;
    int to;
  };
  /// Return a single range, in post-transform document positions, that
  /// covers all content changed by this transform. Returns nullopt if no
  /// replacements are made. Note that this will ignore changes that
  /// add/remove marks without replacing the underlying content.
  std::optional<Range> changed_range() const;

  /// Record a step that has been applied, with the document it produced.
  virtual void add_step(StepPtr step, model::NodeRef doc);

  /// Replace the part of the document between `from` and `to` with the given `slice`.
  Transform& replace(int from, int to, const model::Slice& slice = model::Slice::empty());
  Transform& replace(int from) { return replace(from, from); }

  /// Replace the given range with the given content, which may be a
  /// fragment, node, or array of nodes.
  Transform& replace_with(int from, int to, const model::Fragment& content);
  Transform& replace_with(int from, int to, const model::NodeRef& node);
  Transform& replace_with(int from, int to, const std::vector<model::NodeRef>& nodes);

  /// Delete the content between the given positions. Port note: upstream's
  /// `delete` (a C++ keyword).
  Transform& del(int from, int to);

  /// Insert the given content at the given position.
  Transform& insert(int pos, const model::Fragment& content);
  Transform& insert(int pos, const model::NodeRef& node);
  Transform& insert(int pos, const std::vector<model::NodeRef>& nodes);

  /// Replace a range of the document with a given slice, using `from`,
  /// `to`, and the slice's openStart property as hints, rather than fixed
  /// start and end points. This method may grow the replaced area or close
  /// open nodes in the slice in order to get a fit that is more in line with
  /// WYSIWYG expectations, by dropping fully covered parent nodes of the
  /// replaced region when they are marked non-defining as context, or
  /// including an open parent node from the slice that _is_ marked as
  /// defining its content.
  ///
  /// This is the method, for example, to handle paste. The similar
  /// `replace` method is a more primitive tool which will _not_ move the
  /// start and end of its given range, and is useful in situations where
  /// you need more precise control over what happens.
  Transform& replace_range(int from, int to, const model::Slice& slice);

  /// Replace the given range with a node, but use `from` and `to` as hints,
  /// rather than precise positions. When from and to are the same and are
  /// at the start or end of a parent node in which the given node doesn't
  /// fit, this method may _move_ them out towards a parent that does allow
  /// the given node to be placed. When the given range completely covers a
  /// parent node, this method may completely replace that parent node.
  Transform& replace_range_with(int from, int to, const model::NodeRef& node);

  /// Delete the given range, expanding it to cover fully covered parent
  /// nodes until a valid replace is found.
  Transform& delete_range(int from, int to);

  /// Split the content in the given range off from its parent, if there is
  /// sibling content before or after it, and move it up the tree to the
  /// depth specified by `target`. You'll probably want to use lift_target
  /// to compute `target`, to make sure the lift is valid.
  Transform& lift(const model::NodeRange& range, int target);

  /// Join the blocks around the given position. If depth is 2, their last
  /// and first siblings are also joined, and so on.
  Transform& join(int pos, int depth = 1);

  /// Wrap the given range in the given set of wrappers. The wrappers are
  /// assumed to be valid in this position, and should probably be computed
  /// with find_wrapping.
  Transform& wrap(const model::NodeRange& range, const std::vector<Wrapper>& wrappers);

  /// Set the type of all textblocks (partly) between `from` and `to` to the
  /// given node type with the given attributes (nullptr: the defaults).
  Transform& set_block_type(int from, int to, const model::NodeType* type,
                            const model::AttrMap* attrs = nullptr);
  /// Same, computing the attributes from each old node.
  Transform& set_block_type(int from, int to, const model::NodeType* type,
                            const std::function<model::AttrMap(const model::Node&)>& attrs);

  /// Change the type, attributes, and/or marks of the node at `pos`. When
  /// `type` is null, the existing node type is preserved; when `marks` is
  /// null, the node's marks are kept.
  Transform& set_node_markup(int pos, const model::NodeType* type,
                             const model::AttrMap* attrs = nullptr,
                             const model::MarkSet* marks = nullptr);

  /// Set a single attribute on a given node to a new value. The `pos`
  /// addresses the document content. Use set_doc_attribute to set
  /// attributes on the document itself. nullopt stands for `undefined`.
  Transform& set_node_attribute(int pos, std::string attr, std::optional<json::Value> value);

  /// Set a single attribute on the document to a new value.
  Transform& set_doc_attribute(std::string attr, std::optional<json::Value> value);

  /// Add a mark to the node at position `pos`.
  Transform& add_node_mark(int pos, const model::Mark& mark);

  /// Remove a mark (or all marks of the given type) from the node at
  /// position `pos`. Throws RangeError "No node at position N".
  Transform& remove_node_mark(int pos, const model::Mark& mark);
  Transform& remove_node_mark(int pos, const model::MarkType* type);

  /// Split the node at the given position, and optionally, if `depth` is
  /// greater than one, any number of nodes above that. By default, the
  /// parts split off will inherit the node type of the original node. This
  /// can be changed by passing an array of types and attributes to use
  /// after the split (with the outermost nodes coming first).
  Transform& split(int pos, int depth = 1,
                   const std::vector<std::optional<Wrapper>>* types_after = nullptr);

  /// Add the given mark to the inline content between `from` and `to`.
  Transform& add_mark(int from, int to, const model::Mark& mark);

  /// Remove marks from inline nodes between `from` and `to`. When `mark` is
  /// a single mark, remove precisely that mark. When it is a mark type,
  /// remove all marks of that type. When it is null, remove all marks of any
  /// type.
  Transform& remove_mark(int from, int to, const model::Mark& mark);
  Transform& remove_mark(int from, int to, const model::MarkType* type = nullptr);

  /// Removes all marks and nodes from the content of the node at `pos` that
  /// don't match the given new parent node type. Accepts an optional
  /// starting content match as third argument (nullptr: the type's start).
  Transform& clear_incompatible(int pos, const model::NodeType* parent_type,
                                const model::ContentMatch* match = nullptr);

 private:
  model::NodeRef doc_;
  std::vector<StepPtr> steps_;
  std::vector<model::NodeRef> docs_;
  Mapping mapping_;
};

}  // namespace rtpm::transform
