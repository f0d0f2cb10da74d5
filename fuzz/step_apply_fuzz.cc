// libFuzzer target: Step.fromJSON and Step.apply on documents built from
// the input (structure-aware). The input bytes drive a generator that builds
// a valid document of a built-in schema (sometimes nested to the depth
// bound) and a batch of steps, written as JSON as a client would send them:
// every step type, positions at and past the edges and at the ends of int,
// good and bad open depths, slices of generated nodes with unknown node and
// mark types and missing attributes mixed in. An input that starts with '{'
// is read as literal JSON instead, {"schema", "doc", "steps"}, so that the
// seed corpus can hold the steps of issue 10 as they were sent.
//
// Each step is parsed and applied as the room's authority does, and these
// must hold:
// - only JavaScript's errors (rtpm::JsError) are thrown;
// - collab::Authority::decide accepts the step exactly when it parses,
//   applies, and passes the check of the nodes it inserts;
// - a document a step produces is at most model::kMaxDepth deep, its JSON
//   round-trips, and when the authority accepted the step (on a document that
//   passed check()) it passes Node::check();
// - the step's JSON round-trips (after one round, see run_step);
// - for a step whose ranges are in order, its map sends every position of
//   doc into the result, and on a doc that passes check(),
//   step.invert(doc).apply(result) gives back doc (unless an addNodeMark
//   replaced another mark: inverse_restores).
#include <climits>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_support.h"
#include <fuzzer/FuzzedDataProvider.h>

#include "rtpm/base/error.h"
#include "rtpm/collab/authority.h"
#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/transform/attr_step.h"
#include "rtpm/transform/mark_step.h"
#include "rtpm/transform/replace_step.h"
#include "rtpm/transform/step.h"

namespace {

using namespace rtpm;
using json::Value;
using model::NodeRef;

// ---- the checks ----

/// Whether a slice is well formed: open no deeper than its content on
/// either side (so its size is not negative).
bool well_formed(const model::Slice& slice) {
  model::Slice max = model::Slice::max_open(slice.content());
  return slice.open_start() >= 0 && slice.open_end() >= 0 &&
         slice.open_start() <= max.open_start() && slice.open_end() <= max.open_end();
}

/// Whether the step's ranges are in order (from <= to, a gap inside its
/// range, an insert point inside its slice), its slice well formed, and it
/// is not a `structure` step, so that invert and map describe it;
/// JavaScript's invert is not meant for the others either (a replace of 1 to
/// 1 by an empty slice open 1 deep on each side applies, and its inverse
/// replaces 1 to -1; the inverse of a structure step keeps the flag, and its
/// check fails when the slice has content before the insert point).
bool in_order(const transform::Step& step) {
  if (auto* r = dynamic_cast<const transform::ReplaceStep*>(&step))
    return r->from() <= r->to() && well_formed(r->slice()) && !r->structure();
  if (auto* a = dynamic_cast<const transform::ReplaceAroundStep*>(&step))
    return a->from() <= a->gap_from() && a->gap_from() <= a->gap_to() && a->gap_to() <= a->to() &&
           well_formed(a->slice()) && a->insert() >= 0 && a->insert() <= a->slice().size() &&
           !a->structure();
  if (auto* m = dynamic_cast<const transform::AddMarkStep*>(&step)) return m->from() <= m->to();
  if (auto* m = dynamic_cast<const transform::RemoveMarkStep*>(&step)) return m->from() <= m->to();
  if (auto* s = dynamic_cast<const transform::MarkSetStep*>(&step)) {
    for (const transform::StepPtr& inner : s->steps())
      if (!in_order(*inner)) return false;
  }
  return true;
}

/// Whether step.invert(doc) applied to the result must give doc back. Not
/// for an addNodeMark whose mark replaces another mark of the node (one that
/// excludes others, as Tiptap's `code`): its inverse adds the replaced mark
/// again, which the new one excludes, so the node keeps the new mark, in
/// JavaScript too (prosemirror-transform 1.12.6; an addMark's inverse does
/// give the text back its marks).
bool inverse_restores(const transform::Step& step, const model::Node& doc) {
  auto* add = dynamic_cast<const transform::AddNodeMarkStep*>(&step);
  if (!add) return true;
  const model::Node* node = doc.node_at(add->pos());
  if (!node) return true;
  for (const model::Mark& other : node->marks())
    if (!other.eq(add->mark()) && add->mark().type()->excludes(other.type())) return false;
  return true;
}

bool passes_check(const model::Node& doc) {
  try {
    doc.check();
    return true;
  } catch (const JsError&) {
    return false;
  }
}

/// Parses and applies `step_json` to `doc`; returns the new document (null
/// when the step does not parse or apply) after checking every invariant.
NodeRef run_step(const std::shared_ptr<const model::Schema>& schema, const NodeRef& doc,
                 bool doc_valid, const Value& step_json) {
  collab::Authority authority(schema, doc, 0);
  collab::Authority::Decision decision = authority.decide(0, json::Array{step_json}, "fuzz");
  bool accepted = std::holds_alternative<collab::Authority::Accepted>(decision);
  fuzz::check(accepted || std::holds_alternative<collab::Authority::Rejected>(decision),
              "decide answered a conflict");
  if (auto* r = std::get_if<collab::Authority::Rejected>(&decision))
    // Only the prefix: the message quotes the document, which may contain the words.
    fuzz::check(r->message.rfind("step " + std::to_string(r->index) + ": internal error: ", 0) != 0,
                "a step failed with an exception that is not JavaScript's: " + r->message);

  transform::StepPtr step;
  try {
    step = transform::Step::from_json(*schema, step_json);
  } catch (const JsError&) {
    fuzz::check(!accepted, "the authority accepted a step that does not parse");
    return nullptr;
  }
  // The step's JSON reads back to a step that writes it again (the empty
  // slice of a step with open depths but no content is written as null, in
  // JavaScript too, and reads back as the empty slice: one round first).
  std::string text = step->to_json_string();
  Result<Value> reparsed = json::parse(text);
  fuzz::check(reparsed.ok(), "step JSON does not parse: " + text);
  std::string twice = transform::Step::from_json(*schema, *reparsed)->to_json_string();
  fuzz::check(transform::Step::from_json(*schema, *json::parse(twice))->to_json_string() == twice,
              "step JSON does not round-trip: " + text);

  transform::StepResult result;
  try {
    result = step->apply(*doc);
  } catch (const JsError&) {
    fuzz::check(!accepted, "the authority accepted a step that throws: " + text);
    return nullptr;
  }
  if (!result.ok()) {
    fuzz::check(!accepted, "the authority accepted a step that fails: " + text);
    return nullptr;
  }
  const NodeRef& after = result.doc;
  bool inserted_ok = true;
  try {
    collab::check_inserted_nodes(*step, *after);
  } catch (const JsError&) {
    inserted_ok = false;
  }
  fuzz::check(accepted == inserted_ok, "decide and apply disagree on " + text);
  if (accepted)
    fuzz::check(std::get<collab::Authority::Accepted>(decision).doc->to_json_string() ==
                    after->to_json_string(),
                "decide and apply give different documents for " + text);

  fuzz::check(after->height() <= model::kMaxDepth, "a document deeper than kMaxDepth");
  std::string after_json = after->to_json_string();
  Result<Value> after_value = json::parse(after_json);
  fuzz::check(after_value.ok(), "the document's JSON does not parse");
  fuzz::check(model::Node::from_json(*schema, *after_value)->to_json_string() == after_json,
              "the document's JSON does not round-trip after " + text);
  if (accepted && doc_valid)
    fuzz::check(passes_check(*after), "an accepted step made an invalid document: " + text +
                                          " gave " + after_json.substr(0, 300));

  if (in_order(*step)) {
    // Only a valid document comes back: a replace checks the content of the
    // nodes it closes, so deleting what a step inserted into an invalid one
    // (a doc without content) fails with "Invalid content for node doc", in
    // JavaScript too. Nor does a mark that another replaced (inverse_restores).
    if (doc_valid && inverse_restores(*step, *doc)) {
      transform::StepPtr inverted = step->invert(*doc);
      transform::StepResult back;
      try {
        back = inverted->apply(*after);
      } catch (const JsError& e) {
        fuzz::check(false, "the inverse of " + text + " throws: " + e.what());
      }
      fuzz::check(back.ok(), "the inverse of " + text + " fails: " + back.failed);
      fuzz::check(back.doc->to_json_string() == doc->to_json_string(),
                  "the inverse of " + text +
                      " does not give back the document: " + doc->to_json_string().substr(0, 500) +
                      " became " + back.doc->to_json_string().substr(0, 500));
    }
    transform::StepMap map = step->get_map();
    int size = doc->content().size(), new_size = after->content().size();
    // Every position of a small document, about 64 spread over a larger one.
    for (int pos = 0; pos <= size; pos += 1 + size / 64) {
      for (int assoc : {-1, 1}) {
        int mapped = map.map(pos, assoc);
        fuzz::check(mapped >= 0 && mapped <= new_size,
                    "the map of " + text + " sends " + std::to_string(pos) + " outside");
      }
    }
  }
  return after;
}

// ---- the generator ----

class Generator {
 public:
  Generator(FuzzedDataProvider& in, const model::Schema& schema) : in_(in), schema_(schema) {}

  /// A valid document, its blocks nested in up to ~kMaxDepth blockquotes sometimes.
  NodeRef document() {
    NodeRef doc = node(schema_.top_node_type(), in_.ConsumeIntegralInRange(1, 3));
    // One document in eight nests its first block up to just past the bound
    // (deep documents are slow to check, so not more often).
    int nest =
        in_.ConsumeIntegralInRange(0, 7) ? 0 : in_.ConsumeIntegralInRange(0, model::kMaxDepth + 2);
    const model::NodeType* quote = schema_.find_node_type("blockquote");
    if (nest && quote && doc->child_count()) {
      NodeRef inner = doc->child(0);
      for (int i = 0; i < nest; i++) {
        try {
          NodeRef wrapped = quote->create(nullptr, model::Fragment::from(inner));
          NodeRef candidate = doc->copy(doc->content().replace_child(0, wrapped));
          inner = wrapped;
          doc = candidate;
        } catch (const RangeError&) {
          break;  // the depth bound
        }
      }
    }
    return doc;
  }

  /// One step as JSON, aimed at `doc`.
  Value step(const model::Node& doc) {
    int size = doc.content().size();
    json::Object s;
    switch (in_.ConsumeIntegralInRange(0, 9)) {
      case 0:
      case 1:
      case 2:
        s = {{"stepType", "replace"}, {"from", pos(size)}, {"to", pos(size)}};
        if (in_.ConsumeBool()) s.emplace_back("slice", slice());
        if (in_.ConsumeIntegralInRange(0, 7) == 0) s.emplace_back("structure", true);
        break;
      case 3:
        s = {{"stepType", "replaceAround"}, {"from", pos(size)},  {"to", pos(size)},
             {"gapFrom", pos(size)},        {"gapTo", pos(size)}, {"insert", small()}};
        if (in_.ConsumeBool()) s.emplace_back("slice", slice());
        if (in_.ConsumeIntegralInRange(0, 7) == 0) s.emplace_back("structure", true);
        break;
      case 4:
        s = {{"stepType", in_.ConsumeBool() ? "addMark" : "removeMark"},
             {"mark", mark()},
             {"from", pos(size)},
             {"to", pos(size)}};
        break;
      case 5:
        s = {{"stepType", in_.ConsumeBool() ? "addNodeMark" : "removeNodeMark"},
             {"pos", pos(size)},
             {"mark", mark()}};
        break;
      case 6:
        s = {{"stepType", "attr"}, {"pos", pos(size)}, {"attr", attr_name()}};
        if (in_.ConsumeBool()) s.emplace_back("value", value());
        break;
      case 7:
        s = {{"stepType", "docAttr"}, {"attr", attr_name()}};
        if (in_.ConsumeBool()) s.emplace_back("value", value());
        break;
      case 8: {
        json::Array steps;
        for (int i = in_.ConsumeIntegralInRange(0, 3); i > 0; i--)
          steps.push_back(
              Value(json::Object{{"stepType", in_.ConsumeBool() ? "addMark" : "removeMark"},
                                 {"mark", mark()},
                                 {"from", pos(size)},
                                 {"to", pos(size)}}));
        s = {{"stepType", "markSet"}, {"steps", Value(std::move(steps))}};
        break;
      }
      default:
        s = {{"stepType", in_.ConsumeBool() ? "nope" : "replace"},
             {"from", value()},
             {"to", value()},
             {"slice", value()}};
        break;
    }
    return Value(std::move(s));
  }

 private:
  /// A valid node of `type`, nested at most `budget` levels below it.
  NodeRef node(const model::NodeType* type, int budget) {
    if (type->is_text()) return text();
    model::AttrMap attrs = required_attrs(type->attrs());
    std::vector<NodeRef> children;
    if (!type->is_leaf()) {
      const model::ContentMatch* match = &type->content_match();
      for (int n = 0;; n++) {
        bool stop = budget <= 0 || n >= 4 || match->edge_count() == 0 || in_.remaining_bytes() == 0;
        if (match->valid_end() && (stop || in_.ConsumeIntegralInRange(0, 2) == 0)) break;
        if (stop) {
          std::optional<model::Fragment> fill = match->fill_before(model::Fragment::empty(), true);
          if (fill)
            fill->for_each([&](const NodeRef& child, int, int) { children.push_back(child); });
          break;
        }
        const model::ContentMatch::Edge& edge =
            match->edge(in_.ConsumeIntegralInRange(0, match->edge_count() - 1));
        if (edge.type->has_required_attrs() && required_attrs(edge.type->attrs()).empty()) break;
        NodeRef child = node(edge.type, budget - 1);
        if (child->is_inline()) child = child->mark(type->allowed_marks(child->marks()));
        children.push_back(child);
        match = edge.next;
      }
    }
    return type->create(attrs.empty() ? nullptr : &attrs,
                        model::Fragment::from_array(std::move(children)));
  }

  NodeRef text() {
    std::string t = in_.ConsumeRandomLengthString(8);
    if (t.empty()) t = "x";
    model::MarkSet marks;
    for (int i = in_.ConsumeIntegralInRange(0, 2); i > 0; i--) {
      const auto& types = schema_.mark_types();
      if (types.empty()) break;
      const model::MarkType* type =
          types[in_.ConsumeIntegralInRange<size_t>(0, types.size() - 1)].get();
      model::AttrMap attrs = required_attrs(type->attrs());
      marks = type->create(attrs.empty() ? nullptr : &attrs).add_to_set(marks);
    }
    return schema_.text(std::string_view(t), std::move(marks));
  }

  /// Values for the required attributes (the first that each `validate` accepts).
  model::AttrMap required_attrs(const std::vector<model::Attribute>& attrs) {
    model::AttrMap out;
    for (const model::Attribute& attr : attrs) {
      if (!attr.is_required()) continue;
      for (const Value& v : {Value("x"), Value(1), Value(true), Value()}) {
        try {
          attr.validate(v);
          out.emplace_back(attr.name(), v);
          break;
        } catch (const RangeError&) {
        }
      }
    }
    return out;
  }

  /// A position: mostly inside the document, sometimes at or past its edges or int's.
  Value pos(int size) {
    switch (in_.ConsumeIntegralInRange(0, 15)) {
      case 0: return Value(-1);
      case 1: return Value(size + 1);
      case 2: return Value(INT_MAX);
      case 3: return Value(INT_MIN);
      case 4: return Value(size);
      case 5: return Value(0);
      case 6: return value();
      default: return Value(in_.ConsumeIntegralInRange(0, size));
    }
  }

  /// A small integer (open depths, insert points), sometimes a huge or odd number.
  Value small() {
    switch (in_.ConsumeIntegralInRange(0, 15)) {
      case 0: return Value(1e9);
      case 1: return Value(-1e9);
      case 2: return Value(INT_MIN);
      case 3: return Value(1.5);
      default: return Value(in_.ConsumeIntegralInRange(-2, 6));
    }
  }

  /// Any JSON value (the odd fields of malformed steps).
  Value value() {
    switch (in_.ConsumeIntegralInRange(0, 7)) {
      case 0: return Value();
      case 1: return Value(in_.ConsumeBool());
      case 2: return Value(in_.ConsumeRandomLengthString(6));
      case 3: return Value(json::Array{Value(1)});
      case 4: return Value(json::Object{{"type", "text"}});
      case 5: return Value(in_.ConsumeIntegralInRange(-3, 3) + 0.5);
      default: return Value(in_.ConsumeIntegralInRange(-1000, 1000));
    }
  }

  Value slice() {
    json::Array content;
    for (int i = in_.ConsumeIntegralInRange(0, 3); i > 0; i--) content.push_back(slice_node());
    json::Object s{{"content", Value(std::move(content))}};
    if (in_.ConsumeBool()) s.emplace_back("openStart", small());
    if (in_.ConsumeBool()) s.emplace_back("openEnd", small());
    return Value(std::move(s));
  }

  /// A node of a random type as JSON (valid content, not necessarily valid
  /// where it goes), sometimes made invalid: an unknown type or mark,
  /// missing attributes, empty text, nesting past the bound.
  Value slice_node() {
    const auto& types = schema_.node_types();
    const model::NodeType* type =
        types[in_.ConsumeIntegralInRange<size_t>(0, types.size() - 1)].get();
    NodeRef n = node(type, in_.ConsumeIntegralInRange(0, 3));
    Value v = n->to_json();
    switch (in_.ConsumeIntegralInRange(0, 11)) {
      case 0: return Value(json::Object{{"type", "nope"}});
      case 1: return Value(json::Object{{"type", "text"}, {"text", ""}});
      case 2:
        return Value(
            json::Object{{"type", "text"},
                         {"text", "m"},
                         {"marks", Value(json::Array{Value(json::Object{{"type", "nope"}})})}});
      case 3: {
        const model::NodeType* image = schema_.find_node_type("image");
        if (image) return Value(json::Object{{"type", "image"}});
        return v;
      }
      case 4: {
        // Blockquotes nested to just past the bound.
        std::string deep;
        int levels = in_.ConsumeIntegralInRange(model::kMaxDepth - 3, model::kMaxDepth + 1);
        for (int i = 0; i < levels; i++) deep += R"({"type":"blockquote","content":[)";
        deep += R"({"type":"paragraph"})";
        for (int i = 0; i < levels; i++) deep += "]}";
        return *json::parse(deep);
      }
      default: return v;
    }
  }

  Value mark() {
    const auto& types = schema_.mark_types();
    if (types.empty() || in_.ConsumeIntegralInRange(0, 7) == 0)
      return Value(json::Object{{"type", "nope"}});
    const model::MarkType* type =
        types[in_.ConsumeIntegralInRange<size_t>(0, types.size() - 1)].get();
    json::Object m{{"type", type->name()}};
    if (in_.ConsumeBool()) {
      json::Object attrs;
      for (const model::Attribute& attr : type->attrs()) attrs.emplace_back(attr.name(), value());
      m.emplace_back("attrs", Value(std::move(attrs)));
    } else {
      model::AttrMap attrs = required_attrs(type->attrs());
      if (!attrs.empty()) m.emplace_back("attrs", Value(std::move(attrs)));
    }
    return Value(std::move(m));
  }

  std::string attr_name() {
    static const char* kNames[] = {"level", "src", "alt", "order", "language", "start", "nope"};
    return kNames[in_.ConsumeIntegralInRange<size_t>(0, std::size(kNames) - 1)];
  }

  FuzzedDataProvider& in_;
  const model::Schema& schema_;
};

/// Literal mode: {"schema": "basic"|"tiptap", "doc": ..., "steps": [...]}.
void run_literal(std::string_view text) {
  Result<Value> input = json::parse(text);
  if (!input || !input->is_object()) return;
  const Value* name = input->find("schema");
  auto schema = fuzz::builtin_schema(name && name->is_string() && name->as_string() == "tiptap");
  const Value* doc_json = input->find("doc");
  const Value* steps = input->find("steps");
  if (!doc_json || !steps || !steps->is_array()) return;
  NodeRef doc;
  try {
    doc = model::Node::from_json(*schema, *doc_json);
  } catch (const JsError&) {
    return;
  }
  bool valid = passes_check(*doc);
  for (const Value& step : steps->as_array()) {
    NodeRef next = run_step(schema, doc, valid, step);
    if (next) {
      doc = next;
      valid = passes_check(*doc);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0 && data[0] == '{') {
    run_literal(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
  }
  FuzzedDataProvider in(data, size);
  auto schema = fuzz::builtin_schema(in.ConsumeIntegral<uint8_t>());
  Generator gen(in, *schema);
  NodeRef doc = gen.document();
  bool valid = passes_check(*doc);
  fuzz::check(valid,
              "the generator built an invalid document: " + doc->to_json_string().substr(0, 300));
  for (int i = in.ConsumeIntegralInRange(1, 3); i > 0 && in.remaining_bytes() > 0; i--) {
    NodeRef next = run_step(schema, doc, valid, gen.step(*doc));
    if (next) {
      doc = next;
      valid = passes_check(*doc);
    }
  }
  return 0;
}
