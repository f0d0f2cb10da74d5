// Port of prosemirror-model src/schema.ts (1.25.13).
//
// A schema holds the node and mark types that may occur in conforming
// documents. Here it is built from the JSON schema spec format of
// ../shared/conformance/schemas/*.json: {"topNode", "nodes": [[name, spec],
// ...], "marks": [[name, spec], ...]}, ordered. Specs are ProseMirror
// NodeSpec/MarkSpec objects without their function-valued fields; attribute
// `validate` is upstream's string form ("string|null").
//
// A Schema is immutable once built and may be shared between threads. It
// owns its types and content-match states; nodes and marks point to them, so
// keep the schema (std::shared_ptr<const Schema>) alive as long as any of its
// documents.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rtpm/model/content_match.h"
#include "rtpm/model/forward.h"
#include "rtpm/model/fragment.h"
#include "rtpm/model/mark.h"
#include "rtpm/model/node.h"

namespace rtpm::model {

/// An attribute of a node or mark type.
class Attribute {
 public:
  Attribute(std::string type_name, std::string name, const json::Value& spec);
  const std::string& name() const { return name_; }
  bool has_default() const { return has_default_; }
  const json::Value& default_value() const { return default_; }
  bool is_required() const { return !has_default_; }
  /// Throws RangeError "Expected value of type <list> for attribute <attr> on
  /// type <type>, got <type>" when a `validate` list is set and rejects the value.
  void validate(const json::Value& value) const;

 private:
  std::string type_name_;
  std::string name_;
  bool has_default_ = false;
  json::Value default_;
  std::optional<std::vector<std::string>> validate_;  // allowed typeof names
};

class NodeType {
 public:
  NodeType(std::string name, const Schema* schema, json::Value spec);
  NodeType(const NodeType&) = delete;

  /// The name the node type has in this schema.
  const std::string& name() const { return name_; }
  /// A link back to the Schema the node type belongs to.
  const Schema& schema() const { return *schema_; }
  /// The spec that this type is based on (a JSON object).
  const json::Value& spec() const { return spec_; }
  const std::vector<std::string>& groups() const { return groups_; }
  const std::vector<Attribute>& attrs() const { return attrs_; }

  /// True if this node type has inline content.
  bool inline_content() const { return inline_content_; }
  /// True if this is a block type.
  bool is_block() const { return is_block_; }
  /// True if this is the text node type.
  bool is_text() const { return is_text_; }
  /// True if this is an inline type.
  bool is_inline() const { return !is_block_; }
  /// True if this is a textblock type, a block that contains inline content.
  bool is_textblock() const { return is_block_ && inline_content_; }
  /// True for node types that allow no content.
  bool is_leaf() const;
  /// True when this node is an atom, i.e. when it does not have directly editable content.
  bool is_atom() const;
  /// Return true when this node type is part of the given group.
  bool is_in_group(std::string_view group) const;
  /// The starting match of the node type's content expression.
  const ContentMatch& content_match() const { return *content_match_; }
  /// The set of marks allowed in this node. nullopt means all marks are allowed.
  const std::optional<std::vector<const MarkType*>>& mark_set() const { return mark_set_; }
  /// "pre" or "normal".
  std::string_view whitespace() const;
  /// Tells you whether this node type has any required attributes.
  bool has_required_attrs() const;
  /// Indicates whether this node allows some of the same content as the given node type.
  bool compatible_content(const NodeType& other) const;

  // Spec flags the transform code reads (false when absent).
  bool spec_atom() const { return spec_atom_; }
  bool defining() const { return defining_; }
  bool defining_as_context() const { return defining_as_context_; }
  bool defining_for_content() const { return defining_for_content_; }
  bool isolating() const { return isolating_; }
  bool code() const { return code_; }
  bool linebreak_replacement() const { return linebreak_replacement_; }

  /// Compute the complete attrs from partial ones (nullptr = none given):
  /// defaults filled in, `validate` run on given values, unknown names
  /// dropped. Throws RangeError "No value supplied for attribute X".
  Attrs compute_attrs(const AttrMap* attrs) const;
  /// The same for the `attrs` member of a node's JSON (nullptr when absent),
  /// with JavaScript's semantics for values that are not objects: null or
  /// absent gives every attribute null, another falsy value (0, false, "")
  /// gives every attribute that value (both unless all have defaults), and a
  /// truthy non-object is an object without members.
  Attrs compute_attrs_from_json(const json::Value* attrs) const;
  /// The shared default attrs when every attribute has a default.
  const std::optional<Attrs>& default_attrs() const { return default_attrs_; }

  /// Create a Node of this type. Throws GenericError "NodeType.create can't
  /// construct text nodes" for the text type.
  NodeRef create(const AttrMap* attrs = nullptr, Fragment content = Fragment(),
                 MarkSet marks = {}) const;
  /// Same, with already computed attrs.
  NodeRef create(Attrs attrs, Fragment content = Fragment(), MarkSet marks = {}) const;
  /// Like create, but check the given content against the node type's content restrictions.
  NodeRef create_checked(const AttrMap* attrs = nullptr, Fragment content = Fragment(),
                         MarkSet marks = {}) const;
  /// Like create, but add nodes to the start or end of the given fragment to
  /// make it fit the node. Returns null if no fitting wrapping can be found.
  NodeRef create_and_fill(const AttrMap* attrs = nullptr, Fragment content = Fragment(),
                          MarkSet marks = {}) const;
  NodeRef create_and_fill(Attrs attrs, Fragment content = Fragment(), MarkSet marks = {}) const;
  /// Returns true if the given fragment is valid content for this node type.
  bool valid_content(const Fragment& content) const;
  /// Throws RangeError "Invalid content for node X: <...>" when not valid_content.
  void check_content(const Fragment& content) const;
  /// Check whether the given mark type is allowed in this node.
  bool allows_mark_type(const MarkType* mark_type) const;
  /// Test whether the given set of marks are allowed in this node.
  bool allows_marks(const MarkSet& marks) const;
  /// Removes the marks that are not allowed in this node from the given set.
  MarkSet allowed_marks(const MarkSet& marks) const;

  // Construction (used by Schema).
  void set_content_match(const ContentMatch* m);
  void set_mark_set(std::optional<std::vector<const MarkType*>> s) { mark_set_ = std::move(s); }
  int index() const { return index_; }
  void set_index(int i) { index_ = i; }

 private:
  std::string name_;
  const Schema* schema_;
  json::Value spec_;
  std::vector<std::string> groups_;
  std::vector<Attribute> attrs_;
  std::optional<Attrs> default_attrs_;
  const ContentMatch* content_match_ = nullptr;
  std::optional<std::vector<const MarkType*>> mark_set_;
  bool inline_content_ = false, is_block_ = true, is_text_ = false;
  bool spec_atom_ = false, defining_ = false, defining_as_context_ = false,
       defining_for_content_ = false, isolating_ = false, code_ = false,
       linebreak_replacement_ = false;
  int index_ = 0;
};

class MarkType {
 public:
  MarkType(std::string name, int rank, const Schema* schema, json::Value spec);
  MarkType(const MarkType&) = delete;

  /// The name of the mark type.
  const std::string& name() const { return name_; }
  int rank() const { return rank_; }
  const Schema& schema() const { return *schema_; }
  /// The spec on which the type is based.
  const json::Value& spec() const { return spec_; }
  const std::vector<Attribute>& attrs() const { return attrs_; }
  /// Whether this mark is active at its end (spec.inclusive, default true).
  bool inclusive() const { return inclusive_; }
  /// spec.spanning, default true.
  bool spanning() const { return spanning_; }
  bool code() const { return code_; }
  const std::vector<std::string>& groups() const { return groups_; }

  /// Create a mark of this type. `attrs` may be nullptr or contain only some of the attributes.
  Mark create(const AttrMap* attrs = nullptr) const;
  /// When there is a mark of this type in the given set, a new set without it
  /// is returned. Otherwise, the input set is returned.
  MarkSet remove_from_set(const MarkSet& set) const;
  /// Tests whether there is a mark of this type in the given set.
  const Mark* is_in_set(const MarkSet& set) const;
  /// Queries whether a given mark type is excluded by this one.
  bool excludes(const MarkType* other) const;

  // Construction (used by Schema).
  void set_excluded(std::vector<const MarkType*> e) { excluded_ = std::move(e); }
  Attrs compute_attrs(const AttrMap* attrs) const;
  /// As NodeType::compute_attrs_from_json, for the `attrs` member of a mark's JSON.
  Attrs compute_attrs_from_json(const json::Value* attrs) const;

 private:
  std::string name_;
  int rank_;
  const Schema* schema_;
  json::Value spec_;
  std::vector<Attribute> attrs_;
  std::vector<std::string> groups_;
  std::vector<const MarkType*> excluded_;
  std::optional<Attrs> default_attrs_;
  bool inclusive_ = true, spanning_ = true, code_ = false;
};

class Schema {
 public:
  /// Build a schema from a JSON schema spec. Throws RangeError/SyntaxError with
  /// upstream's messages for what upstream rejects (unknown names in content
  /// expressions, missing top node or text type, ...), and RangeError naming
  /// the field for a malformed spec ("schema spec: nodes[3][1].content must be a string").
  static std::shared_ptr<const Schema> from_json(const json::Value& spec);

  Schema(const Schema&) = delete;
  Schema& operator=(const Schema&) = delete;

  /// The spec the schema was built from, as given.
  const json::Value& spec() const { return spec_; }
  /// Node types in spec order.
  const std::vector<std::unique_ptr<NodeType>>& node_types() const { return nodes_; }
  /// Mark types in spec order (their rank).
  const std::vector<std::unique_ptr<MarkType>>& mark_types() const { return marks_; }
  /// The node type of that name, or nullptr.
  const NodeType* find_node_type(std::string_view name) const;
  /// The mark type of that name, or nullptr.
  const MarkType* find_mark_type(std::string_view name) const;
  /// The node type of that name; throws RangeError "Unknown node type: X".
  const NodeType* node_type(std::string_view name) const;
  /// The type of the default top node for this schema.
  const NodeType* top_node_type() const { return top_node_type_; }
  /// The linebreak replacement node defined in this schema, if any.
  const NodeType* linebreak_replacement() const { return linebreak_replacement_; }
  const NodeType* text_type() const { return text_type_; }

  /// Create a node in this schema (create_checked).
  NodeRef node(std::string_view type, const AttrMap* attrs = nullptr, Fragment content = Fragment(),
               MarkSet marks = {}) const;
  /// Create a text node in the schema. Empty text nodes are not allowed (not checked here).
  NodeRef text(std::u16string text, MarkSet marks = {}) const;
  NodeRef text(std::string_view utf8, MarkSet marks = {}) const;
  /// Create a mark with the given type and attributes. Throws RangeError for an unknown type.
  Mark mark(std::string_view type, const AttrMap* attrs = nullptr) const;

 private:
  Schema() = default;
  json::Value spec_;
  std::vector<std::unique_ptr<NodeType>> nodes_;
  std::vector<std::unique_ptr<MarkType>> marks_;
  std::unordered_map<std::string, const NodeType*> node_by_name_;
  std::unordered_map<std::string, const MarkType*> mark_by_name_;
  std::vector<std::unique_ptr<ContentMatch>> match_pool_;
  const NodeType* top_node_type_ = nullptr;
  const NodeType* text_type_ = nullptr;
  const NodeType* linebreak_replacement_ = nullptr;
};

}  // namespace rtpm::model
