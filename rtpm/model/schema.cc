// Port of prosemirror-model src/schema.ts (1.25.13).
#include "rtpm/model/schema.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "rtpm/base/error.h"
#include "rtpm/model/internal/depth_guard.h"
#include "rtpm/model/internal/js.h"

namespace rtpm::model {

namespace {

/// `str.split(sep)` for a one-character separator, as JavaScript splits.
std::vector<std::string> js_split(std::string_view str, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = str.find(sep, start);
    if (at == std::string_view::npos) {
      out.emplace_back(str.substr(start));
      return out;
    }
    out.emplace_back(str.substr(start, at - start));
    start = at + 1;
  }
}

/// A spec field; nullptr when absent or null (upstream treats both alike).
const json::Value* spec_field(const json::Value& spec, std::string_view key) {
  const json::Value* v = spec.find(key);
  return v && !v->is_null() ? v : nullptr;
}

/// The string value of a spec field, "" when absent (every use is `spec.x || ...`).
std::string_view spec_string(const json::Value& spec, std::string_view key) {
  const json::Value* v = spec_field(spec, key);
  return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

bool spec_flag(const json::Value& spec, std::string_view key) {
  return internal::js_truthy(spec.find(key));
}

/// `spec.group ? spec.group.split(" ") : []`.
std::vector<std::string> spec_groups(const json::Value& spec) {
  std::string_view group = spec_string(spec, "group");
  return group.empty() ? std::vector<std::string>() : js_split(group, ' ');
}

/// Whether `key` is an array index, which JavaScript objects enumerate first.
bool is_array_index(std::string_view key) {
  if (key.empty() || key.size() > 10) return false;
  if (key.size() > 1 && key[0] == '0') return false;
  for (char c : key) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoull(std::string(key)) < 4294967295ull;
}

/// The types in the order `for (let name in object)` visits an object keyed
/// by their names: array-index names first, ascending, then spec order.
template <typename T>
std::vector<T*> js_order(const std::vector<std::unique_ptr<T>>& types) {
  std::vector<T*> order;
  order.reserve(types.size());
  for (const auto& type : types) order.push_back(type.get());
  std::stable_sort(order.begin(), order.end(), [](const T* a, const T* b) {
    bool ia = is_array_index(a->name()), ib = is_array_index(b->name());
    if (ia != ib) return ia;
    if (ia) return std::stoull(a->name()) < std::stoull(b->name());
    return false;
  });
  return order;
}

// For node types where all attrs have a default value (or which don't
// have any attributes), build up a single reusable default attribute
// object, and use it for all nodes that don't specify specific
// attributes.
std::optional<Attrs> default_attrs(const std::vector<Attribute>& attrs) {
  AttrMap defaults;
  for (const Attribute& attr : attrs) {
    if (!attr.has_default()) return std::nullopt;
    defaults.emplace_back(attr.name(), attr.default_value());
  }
  return Attrs(std::move(defaults));
}

// The nesting of create_and_fill calls on this thread.
thread_local int create_and_fill_depth = 0;

// Port note: the nodes one outermost create_and_fill may create. Required
// content multiplies with its nesting (a type whose content is "b{200}",
// where b's content is "c{200}", ... fills with 200^levels nodes), which
// upstream creates until memory runs out; here a fill that needs more nodes
// than this throws a RangeError instead. Sensible schemas fill with a
// handful of nodes.
constexpr int kMaxFillNodes = 1 << 16;
thread_local int create_and_fill_nodes = 0;
thread_local const NodeType* create_and_fill_root = nullptr;  // of the outermost fill

std::string stack_exceeded() { return "Maximum call stack size exceeded"; }

// Up to this many node or mark types, a lookup by name scans them instead of
// hashing the name.
constexpr size_t kScanTypes = 16;

// `falsy` is the value of a falsy `value` (nullptr = null).
Attrs compute_attrs(const std::vector<Attribute>& attrs, const AttrMap* value,
                    const json::Value* falsy = nullptr) {
  AttrMap built;
  built.reserve(attrs.size());
  for (const Attribute& attr : attrs) {
    // Port note: `let given = value && value[name]` is `value` itself (not
    // undefined) when no attrs object is given at all (value == nullptr: null,
    // or the falsy JSON value `falsy`), so every attribute then gets that
    // value, validated, and defaults are not applied.
    json::Value given = falsy ? *falsy : json::Value();
    bool undefined = false;
    if (value) {
      const json::Value* found = nullptr;
      for (const auto& [key, v] : *value) {
        if (key == attr.name()) {
          found = &v;
          break;
        }
      }
      if (found)
        given = *found;
      else
        undefined = true;
    }
    if (undefined) {
      if (attr.has_default())
        given = attr.default_value();
      else
        throw RangeError("No value supplied for attribute " + attr.name());
    } else {
      attr.validate(given);
    }
    built.emplace_back(attr.name(), std::move(given));
  }
  return Attrs(std::move(built));
}

// `computeAttrs(attrs)` of NodeType and MarkType for the `attrs` member of a
// node's or mark's JSON (nullptr when absent), as `create(json.attrs)` passes it.
Attrs attrs_from_json(const std::vector<Attribute>& attrs, const std::optional<Attrs>& defaults,
                      const json::Value* value) {
  bool truthy = internal::js_truthy(value);
  if (!truthy && defaults) return *defaults;
  if (value && value->is_object()) return compute_attrs(attrs, &value->as_object());
  // Port note: a truthy value that is not an object (a number, a string, an
  // array) has none of the attributes as members: `value[name]` is undefined.
  // (JavaScript would find the members strings, arrays and numbers have, such
  // as `length`; no attribute of a schema here has such a name.)
  static const AttrMap kNoMembers;
  if (truthy) return compute_attrs(attrs, &kNoMembers);
  return compute_attrs(attrs, nullptr, value);
}

std::vector<Attribute> init_attrs(const std::string& type_name, const json::Value& spec) {
  std::vector<Attribute> result;
  if (const json::Value* attrs = spec_field(spec, "attrs")) {
    for (const auto& [name, attr_spec] : attrs->as_object())
      result.emplace_back(type_name, name, attr_spec);
  }
  return result;
}

}  // namespace

/// Node types are objects allocated once per `Schema` and used to
/// [tag](#model.Node.type) `Node` instances. They contain information
/// about the node type, such as its name and what kind of node it
/// represents.
NodeType::NodeType(std::string name, const Schema* schema, json::Value spec)
    : name_(std::move(name)), schema_(schema), spec_(std::move(spec)) {
  groups_ = spec_groups(spec_);
  attrs_ = init_attrs(name_, spec_);
  default_attrs_ = model::default_attrs(attrs_);
  is_block_ = !(spec_flag(spec_, "inline") || name_ == "text");
  is_text_ = name_ == "text";
  spec_atom_ = spec_flag(spec_, "atom");
  defining_ = spec_flag(spec_, "defining");
  defining_as_context_ = spec_flag(spec_, "definingAsContext");
  defining_for_content_ = spec_flag(spec_, "definingForContent");
  isolating_ = spec_flag(spec_, "isolating");
  code_ = spec_flag(spec_, "code");
  linebreak_replacement_ = spec_flag(spec_, "linebreakReplacement");
}

/// True for node types that allow no content.
bool NodeType::is_leaf() const { return content_match_ == &ContentMatch::empty(); }

/// True when this node is an atom, i.e. when it does not have
/// directly editable content.
bool NodeType::is_atom() const { return is_leaf() || spec_atom_; }

/// Return true when this node type is part of the given
/// [group](#model.NodeSpec.group).
bool NodeType::is_in_group(std::string_view group) const {
  return std::find(groups_.begin(), groups_.end(), group) != groups_.end();
}

/// The node type's [whitespace](#model.NodeSpec.whitespace) option.
std::string_view NodeType::whitespace() const {
  std::string_view ws = spec_string(spec_, "whitespace");
  if (!ws.empty()) return ws;
  return code_ ? "pre" : "normal";
}

/// Tells you whether this node type has any required attributes.
bool NodeType::has_required_attrs() const {
  for (const Attribute& attr : attrs_) {
    if (attr.is_required()) return true;
  }
  return false;
}

/// Indicates whether this node allows some of the same content as
/// the given node type.
bool NodeType::compatible_content(const NodeType& other) const {
  return this == &other || content_match_->compatible(*other.content_match_);
}

Attrs NodeType::compute_attrs(const AttrMap* attrs) const {
  if (!attrs && default_attrs_) return *default_attrs_;
  return model::compute_attrs(attrs_, attrs);
}

Attrs NodeType::compute_attrs_from_json(const json::Value* attrs) const {
  return attrs_from_json(attrs_, default_attrs_, attrs);
}

/// Create a `Node` of this type. The given attributes are
/// checked and defaulted (you can pass `null` to use the type's
/// defaults entirely, if no required attributes exist). `content`
/// may be a `Fragment`, a node, an array of nodes, or
/// `null`. Similarly `marks` may be `null` to default to the empty
/// set of marks.
NodeRef NodeType::create(const AttrMap* attrs, Fragment content, MarkSet marks) const {
  if (is_text_) throw GenericError("NodeType.create can't construct text nodes");
  return create(compute_attrs(attrs), std::move(content), std::move(marks));
}

NodeRef NodeType::create(Attrs attrs, Fragment content, MarkSet marks) const {
  if (is_text_) throw GenericError("NodeType.create can't construct text nodes");
  return make_ref<Node>(this, std::move(attrs), std::move(content), Mark::set_from(marks));
}

/// Like [`create`](#model.NodeType.create), but check the given content
/// against the node type's content restrictions, and throw an error
/// if it doesn't match.
NodeRef NodeType::create_checked(const AttrMap* attrs, Fragment content, MarkSet marks) const {
  check_content(content);
  return make_ref<Node>(this, compute_attrs(attrs), std::move(content), Mark::set_from(marks));
}

/// Like [`create`](#model.NodeType.create), but see if it is
/// necessary to add nodes to the start or end of the given fragment
/// to make it fit the node. If no fitting wrapping can be found,
/// return null. Note that, due to the fact that required nodes can
/// always be created, this will always succeed if you pass null or
/// `Fragment.empty` as content.
NodeRef NodeType::create_and_fill(const AttrMap* attrs, Fragment content, MarkSet marks) const {
  return create_and_fill(compute_attrs(attrs), std::move(content), std::move(marks));
}

NodeRef NodeType::create_and_fill(Attrs attrs, Fragment content, MarkSet marks) const {
  // Port note: content that requires itself (a: "b", b: "a") makes upstream
  // recurse through fillBefore until the stack overflows; here the recursion
  // stops at kMaxDepth levels with the same RangeError.
  internal::DepthGuard level(create_and_fill_depth, kMaxDepth, stack_exceeded);
  if (create_and_fill_depth == 1) {
    create_and_fill_nodes = 0;
    create_and_fill_root = this;
  }
  if (++create_and_fill_nodes > kMaxFillNodes)
    throw RangeError("Filling " + create_and_fill_root->name_ + " needs more than " +
                     std::to_string(kMaxFillNodes) + " nodes");
  if (content.size()) {
    std::optional<Fragment> before = content_match_->fill_before(content);
    if (!before) return NodeRef();
    content = before->append(content);
  }
  const ContentMatch* matched = content_match_->match_fragment(content);
  std::optional<Fragment> after;
  if (matched) after = matched->fill_before(Fragment::empty(), true);
  if (!after) return NodeRef();
  return make_ref<Node>(this, std::move(attrs), content.append(*after), Mark::set_from(marks));
}

/// Returns true if the given fragment is valid content for this node
/// type.
bool NodeType::valid_content(const Fragment& content) const {
  const ContentMatch* result = content_match_->match_fragment(content);
  if (!result || !result->valid_end()) return false;
  // Port note: a chunk tree without any marked child needs no mark check.
  if (!mark_set_ || !content.chunks() || !content.chunks()->has_marks()) return true;
  bool allowed = true;
  content.for_each(
      [&](const NodeRef& node, int, int) { allowed = allowed && allows_marks(node->marks()); });
  return allowed;
}

/// Throws a RangeError if the given fragment is not valid content for this
/// node type.
void NodeType::check_content(const Fragment& content) const {
  if (!valid_content(content)) {
    std::u16string str = json::to_utf16(content.to_string());
    throw RangeError("Invalid content for node " + name_ + ": " +
                     json::to_wtf8(internal::js_slice(str, 0, 50)));
  }
}

/// Check whether the given mark type is allowed in this node.
bool NodeType::allows_mark_type(const MarkType* mark_type) const {
  return !mark_set_ ||
         std::find(mark_set_->begin(), mark_set_->end(), mark_type) != mark_set_->end();
}

/// Test whether the given set of marks are allowed in this node.
bool NodeType::allows_marks(const MarkSet& marks) const {
  if (!mark_set_) return true;
  for (const Mark& mark : marks) {
    if (!allows_mark_type(mark.type())) return false;
  }
  return true;
}

/// Removes the marks that are not allowed in this node from the given set.
MarkSet NodeType::allowed_marks(const MarkSet& marks) const {
  if (!mark_set_) return marks;
  std::optional<MarkSet> copy;
  for (size_t i = 0; i < marks.size(); i++) {
    if (!allows_mark_type(marks[i].type())) {
      if (!copy) copy.emplace(marks.begin(), marks.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (copy) {
      copy->push_back(marks[i]);
    }
  }
  return !copy ? marks : *copy;
}

void NodeType::set_content_match(const ContentMatch* m) {
  content_match_ = m;
  inline_content_ = m->inline_content();
}

// Attribute descriptors

Attribute::Attribute(std::string type_name, std::string name, const json::Value& spec)
    : type_name_(std::move(type_name)), name_(std::move(name)) {
  const json::Value* def = spec.find("default");
  has_default_ = def != nullptr;
  if (def) default_ = *def;
  const json::Value* validate = spec.find("validate");
  if (validate && validate->is_string()) validate_ = js_split(validate->as_string(), '|');
}

void Attribute::validate(const json::Value& value) const {
  if (!validate_) return;
  std::string name = value.is_null() ? "null" : value.js_typeof();
  if (std::find(validate_->begin(), validate_->end(), name) != validate_->end()) return;
  // `${types}` joins the array with commas.
  std::string types;
  for (size_t i = 0; i < validate_->size(); i++) {
    if (i) types += ',';
    types += (*validate_)[i];
  }
  throw RangeError("Expected value of type " + types + " for attribute " + name_ + " on type " +
                   type_name_ + ", got " + name);
}

// Marks

/// Like nodes, marks (which are associated with nodes to signify
/// things like emphasis or being part of a link) are
/// [tagged](#model.Mark.type) with type objects, which are
/// instantiated once per `Schema`.
MarkType::MarkType(std::string name, int rank, const Schema* schema, json::Value spec)
    : name_(std::move(name)), rank_(rank), schema_(schema), spec_(std::move(spec)) {
  attrs_ = init_attrs(name_, spec_);
  default_attrs_ = model::default_attrs(attrs_);
  groups_ = spec_groups(spec_);
  // Upstream reads `spec.inclusive === false` and `spec.spanning !== false`.
  const json::Value* inclusive = spec_.find("inclusive");
  inclusive_ = !(inclusive && inclusive->is_bool() && !inclusive->as_bool());
  const json::Value* spanning = spec_.find("spanning");
  spanning_ = !(spanning && spanning->is_bool() && !spanning->as_bool());
  code_ = spec_flag(spec_, "code");
}

/// Create a mark of this type. `attrs` may be `null` or an object
/// containing only some of the mark's attributes. The others, if
/// they have defaults, will be added.
Mark MarkType::create(const AttrMap* attrs) const { return Mark(this, compute_attrs(attrs)); }

Attrs MarkType::compute_attrs(const AttrMap* attrs) const {
  // Port note: upstream keeps a shared `instance` mark for the defaults;
  // sharing the default Attrs gives the same.
  if (!attrs && default_attrs_) return *default_attrs_;
  return model::compute_attrs(attrs_, attrs);
}

Attrs MarkType::compute_attrs_from_json(const json::Value* attrs) const {
  return attrs_from_json(attrs_, default_attrs_, attrs);
}

/// When there is a mark of this type in the given set, a new set
/// without it is returned. Otherwise, the input set is returned.
MarkSet MarkType::remove_from_set(const MarkSet& set) const {
  MarkSet out;
  bool removed = false;
  for (const Mark& mark : set) {
    if (mark.type() == this)
      removed = true;
    else
      out.push_back(mark);
  }
  return removed ? out : set;
}

/// Tests whether there is a mark of this type in the given set.
const Mark* MarkType::is_in_set(const MarkSet& set) const {
  for (const Mark& mark : set) {
    if (mark.type() == this) return &mark;
  }
  return nullptr;
}

/// Queries whether a given mark type is
/// [excluded](#model.MarkSpec.excludes) by this one.
bool MarkType::excludes(const MarkType* other) const {
  return std::find(excluded_.begin(), excluded_.end(), other) != excluded_.end();
}

namespace {

// Port note: upstream's Schema takes a JavaScript spec object and trusts its
// shape; ours comes from JSON, so the shape is checked first and a
// malformed spec is a RangeError naming the field.

[[noreturn]] void bad_spec(const std::string& path, const char* expected) {
  throw RangeError("schema spec: " + path + " must be " + expected);
}

void expect_type(const json::Value& spec, std::string_view key, const std::string& path,
                 json::Type type) {
  const json::Value* v = spec_field(spec, key);
  if (!v || v->type() == type) return;
  std::string field = path.empty() ? std::string(key) : path + "." + std::string(key);
  switch (type) {
    case json::Type::string: bad_spec(field, "a string");
    case json::Type::boolean: bad_spec(field, "a boolean");
    case json::Type::object: bad_spec(field, "an object");
    default: bad_spec(field, "an array");
  }
}

void check_attrs_spec(const json::Value& spec, const std::string& path) {
  expect_type(spec, "attrs", path, json::Type::object);
  const json::Value* attrs = spec_field(spec, "attrs");
  if (!attrs) return;
  for (const auto& [name, attr] : attrs->as_object()) {
    std::string attr_path = path + ".attrs." + name;
    if (!attr.is_object()) bad_spec(attr_path, "an object");
    expect_type(attr, "validate", attr_path, json::Type::string);
  }
}

void check_node_spec(const json::Value& spec, const std::string& path) {
  for (const char* key : {"content", "marks", "group"})
    expect_type(spec, key, path, json::Type::string);
  for (const char* key :
       {"inline", "atom", "selectable", "draggable", "code", "defining", "definingAsContext",
        "definingForContent", "isolating", "linebreakReplacement"})
    expect_type(spec, key, path, json::Type::boolean);
  if (const json::Value* ws = spec_field(spec, "whitespace")) {
    if (!ws->is_string() || (ws->as_string() != "pre" && ws->as_string() != "normal"))
      bad_spec(path + ".whitespace", "\"pre\" or \"normal\"");
  }
  check_attrs_spec(spec, path);
}

void check_mark_spec(const json::Value& spec, const std::string& path) {
  for (const char* key : {"excludes", "group"}) expect_type(spec, key, path, json::Type::string);
  for (const char* key : {"inclusive", "spanning", "code"})
    expect_type(spec, key, path, json::Type::boolean);
  check_attrs_spec(spec, path);
}

/// Checks `[[name, spec], ...]` at `key`; returns the pairs (empty when absent).
const json::Array* check_pairs(const json::Value& spec, const char* key, bool required,
                               void (*check_spec)(const json::Value&, const std::string&)) {
  const json::Value* list = spec_field(spec, key);
  if (!list) {
    if (required) bad_spec(key, "an array of [name, spec] pairs");
    return nullptr;
  }
  if (!list->is_array()) bad_spec(key, "an array of [name, spec] pairs");
  std::unordered_set<std::string> names;
  const json::Array& pairs = list->as_array();
  for (size_t i = 0; i < pairs.size(); i++) {
    std::string path = std::string(key) + "[" + std::to_string(i) + "]";
    const json::Value& pair = pairs[i];
    if (!pair.is_array() || pair.as_array().size() != 2) bad_spec(path, "a [name, spec] pair");
    const json::Value& name = pair.as_array()[0];
    const json::Value& item = pair.as_array()[1];
    if (!name.is_string()) bad_spec(path + "[0]", "a string");
    if (!names.insert(name.as_string()).second)
      throw RangeError("schema spec: " + path + "[0] repeats the name '" + name.as_string() + "'");
    if (!item.is_object()) bad_spec(path + "[1]", "an object");
    check_spec(item, path + "[1]");
  }
  return &pairs;
}

/// Gathers the mark types named by `marks` (names, groups, or "_").
std::vector<const MarkType*> gather_marks(const Schema& schema,
                                          const std::vector<std::string>& marks) {
  std::vector<const MarkType*> found;
  for (const std::string& name : marks) {
    const MarkType* mark = schema.find_mark_type(name);
    const MarkType* ok = mark;
    if (mark) {
      found.push_back(mark);
    } else {
      for (const MarkType* other : js_order(schema.mark_types())) {
        if (name == "_" || std::find(other->groups().begin(), other->groups().end(), name) !=
                               other->groups().end())
          found.push_back(ok = other);
      }
    }
    if (!ok) throw SyntaxError("Unknown mark type: '" + name + "'");
  }
  return found;
}

}  // namespace

/// A document schema. Holds [node](#model.NodeType) and [mark
/// type](#model.MarkType) objects for the nodes and marks that may
/// occur in conforming documents, and provides functionality for
/// creating and deserializing such documents.

/// Construct a schema from a schema [specification](#model.SchemaSpec).
std::shared_ptr<const Schema> Schema::from_json(const json::Value& spec) {
  if (!spec.is_object()) throw RangeError("schema spec must be an object");
  for (const char* key : {"name", "description", "topNode"})
    expect_type(spec, key, "", json::Type::string);
  const json::Array* node_specs = check_pairs(spec, "nodes", true, check_node_spec);
  const json::Array* mark_specs = check_pairs(spec, "marks", false, check_mark_spec);

  std::shared_ptr<Schema> schema(new Schema());
  schema->spec_ = spec;

  // NodeType.compile
  for (const json::Value& pair : *node_specs) {
    const std::string& name = pair.as_array()[0].as_string();
    auto type = std::make_unique<NodeType>(name, schema.get(), pair.as_array()[1]);
    type->set_index(static_cast<int>(schema->nodes_.size()));
    schema->node_by_name_.emplace(name, type.get());
    schema->nodes_.push_back(std::move(type));
  }
  std::string top_type(spec_string(spec, "topNode"));
  if (top_type.empty()) top_type = "doc";
  if (!schema->find_node_type(top_type))
    throw RangeError("Schema is missing its top node type ('" + top_type + "')");
  const NodeType* text = schema->find_node_type("text");
  if (!text) throw RangeError("Every schema needs a 'text' type");
  if (!text->attrs().empty()) throw RangeError("The text node type should not have attributes");

  // MarkType.compile
  if (mark_specs) {
    int rank = 0;
    for (const json::Value& pair : *mark_specs) {
      const std::string& name = pair.as_array()[0].as_string();
      auto type = std::make_unique<MarkType>(name, rank++, schema.get(), pair.as_array()[1]);
      schema->mark_by_name_.emplace(name, type.get());
      schema->marks_.push_back(std::move(type));
    }
  }

  std::unordered_map<std::string, const ContentMatch*> content_expr_cache;
  for (NodeType* type : js_order(schema->nodes_)) {
    if (schema->find_mark_type(type->name()))
      throw RangeError(type->name() + " can not be both a node and a mark");
    std::string content_expr(spec_string(type->spec(), "content"));
    const json::Value* mark_expr = spec_field(type->spec(), "marks");
    auto cached = content_expr_cache.find(content_expr);
    const ContentMatch* match = cached != content_expr_cache.end()
                                    ? cached->second
                                    : (content_expr_cache[content_expr] = ContentMatch::parse(
                                           content_expr, *schema, schema->match_pool_));
    type->set_content_match(match);
    if (type->linebreak_replacement()) {
      if (schema->linebreak_replacement_) throw RangeError("Multiple linebreak nodes defined");
      if (!type->is_inline() || !type->is_leaf())
        throw RangeError("Linebreak replacement nodes must be inline leaf nodes");
      schema->linebreak_replacement_ = type;
    }
    if (mark_expr && mark_expr->as_string() == "_")
      type->set_mark_set(std::nullopt);
    else if (mark_expr && !mark_expr->as_string().empty())
      type->set_mark_set(gather_marks(*schema, js_split(mark_expr->as_string(), ' ')));
    else if (mark_expr || !type->inline_content())
      type->set_mark_set(std::vector<const MarkType*>());
    else
      type->set_mark_set(std::nullopt);
  }
  for (MarkType* type : js_order(schema->marks_)) {
    const json::Value* excl = spec_field(type->spec(), "excludes");
    if (!excl)
      type->set_excluded({type});
    else if (excl->as_string().empty())
      type->set_excluded({});
    else
      type->set_excluded(gather_marks(*schema, js_split(excl->as_string(), ' ')));
  }

  schema->top_node_type_ = schema->find_node_type(top_type);
  schema->text_type_ = text;
  return schema;
}

const NodeType* Schema::find_node_type(std::string_view name) const {
  // Port note: a short list is scanned (no string to build and hash).
  if (nodes_.size() <= kScanTypes) {
    for (const auto& type : nodes_)
      if (type->name() == name) return type.get();
    return nullptr;
  }
  auto it = node_by_name_.find(std::string(name));
  return it == node_by_name_.end() ? nullptr : it->second;
}

const MarkType* Schema::find_mark_type(std::string_view name) const {
  if (marks_.size() <= kScanTypes) {
    for (const auto& type : marks_)
      if (type->name() == name) return type.get();
    return nullptr;
  }
  auto it = mark_by_name_.find(std::string(name));
  return it == mark_by_name_.end() ? nullptr : it->second;
}

/// Create a node in this schema. The `type` may be a string or a
/// `NodeType` instance. Attributes will be extended with defaults,
/// `content` may be a `Fragment`, `null`, a `Node`, or an array of
/// nodes.
NodeRef Schema::node(std::string_view type, const AttrMap* attrs, Fragment content,
                     MarkSet marks) const {
  return node_type(type)->create_checked(attrs, std::move(content), std::move(marks));
}

/// Create a text node in the schema. Empty text nodes are not
/// allowed.
NodeRef Schema::text(std::u16string text, MarkSet marks) const {
  return make_ref<Node>(text_type_, *text_type_->default_attrs(), std::move(text),
                        Mark::set_from(marks));
}

NodeRef Schema::text(std::string_view utf8, MarkSet marks) const {
  return text(json::to_utf16(utf8), std::move(marks));
}

/// Create a mark with the given type and attributes.
Mark Schema::mark(std::string_view type, const AttrMap* attrs) const {
  const MarkType* found = find_mark_type(type);
  // Port note: upstream would fail with a TypeError on `undefined.create`.
  if (!found) throw RangeError("There is no mark type " + std::string(type) + " in this schema");
  return found->create(attrs);
}

const NodeType* Schema::node_type(std::string_view name) const {
  const NodeType* found = find_node_type(name);
  if (!found) throw RangeError("Unknown node type: " + std::string(name));
  return found;
}

}  // namespace rtpm::model
