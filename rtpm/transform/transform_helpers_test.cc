// Tests for the Transform helpers (transform.cc, replace.cc, structure.cc,
// mark.cc).
//
// The main oracle is testdata/transform_cases.json, produced by running the
// real prosemirror-transform 1.12.6 (see testdata/gen_transform_cases.mjs):
// each case is a start document and a list of helper calls with their
// arguments; the expected values are the steps the JavaScript transform
// recorded (toJSON), the resulting document, the results of query functions
// (canSplit, liftTarget, findWrapping, joinPoint, insertPoint, dropPoint, ...)
// and the error when a call threw. The cases reconstruct upstream's
// test/test-trans.ts and test/test-structure.ts by name, and add seeded
// random calls. Each replay is also checked as upstream's testTransform does:
// inverting the steps (last first) must give the start document back.
#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"
#include "rtpm/transform/replace.h"
#include "rtpm/transform/replace_step.h"
#include "rtpm/transform/structure.h"
#include "rtpm/transform/transform.h"

namespace rtpm::transform {
namespace {

using model::NodeRef;
using model::Schema;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json::Value parse_or_die(const std::string& text, const std::string& what) {
  Result<json::Value> v = json::parse(text);
  if (!v) throw std::runtime_error("bad JSON in " + what + ": " + v.error().message);
  return *v;
}

const json::Value& cases_file() {
  static const json::Value file =
      parse_or_die(read_text(RTPM_SOURCE_DIR "/rtpm/transform/testdata/transform_cases.json"),
                   "transform_cases.json");
  return file;
}

const json::Array& cases() { return cases_file().find("cases")->as_array(); }

/// The schema a case names: basic and extended from the conformance folder,
/// the others from the case file's inline specs.
std::shared_ptr<const Schema> schema_named(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const Schema>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  json::Value spec;
  if (const json::Value* inline_spec = cases_file().find("schemas")->find(name))
    spec = *inline_spec;
  else
    spec = parse_or_die(read_text(RTPM_SHARED_DIR "/conformance/schemas/" + name + ".json"), name);
  auto schema = Schema::from_json(spec);
  cache.emplace(name, schema);
  return schema;
}

int int_arg(const json::Value& op, const char* key) {
  return static_cast<int>(op.find(key)->as_number());
}

std::string str_arg(const json::Value& op, const char* key) { return op.find(key)->as_string(); }

json::Value opt_int(const std::optional<int>& v) { return v ? json::Value(*v) : json::Value(); }

json::Value wrappers_json(const std::optional<std::vector<Wrapper>>& ws) {
  if (!ws) return json::Value();
  json::Array out;
  for (const Wrapper& w : *ws) {
    json::Object o{{"type", json::Value(w.type->name())}};
    if (w.attrs) o.emplace_back("attrs", json::Value(*w.attrs));
    out.emplace_back(json::Value(std::move(o)));
  }
  return json::Value(std::move(out));
}

std::optional<std::vector<std::optional<Wrapper>>> types_after_arg(const Schema& s,
                                                                   const json::Value& op) {
  const json::Value* list = op.find("typesAfter");
  if (!list) return std::nullopt;
  std::vector<std::optional<Wrapper>> out;
  for (const json::Value& t : list->as_array()) {
    if (t.is_null()) {
      out.emplace_back(std::nullopt);
      continue;
    }
    Wrapper w{s.node_type(t.find("type")->as_string()), std::nullopt};
    if (const json::Value* attrs = t.find("attrs")) w.attrs = attrs->as_object();
    out.emplace_back(std::move(w));
  }
  return out;
}

std::optional<model::NodeRange> range_arg(const Transform& tr, const json::Value& op) {
  return tr.doc()->resolve(int_arg(op, "from")).block_range(tr.doc()->resolve(int_arg(op, "to")));
}

model::Slice slice_arg(const Schema& s, const json::Value& op) {
  const json::Value* v = op.find("slice");
  return v ? model::Slice::from_json(s, *v) : model::Slice::empty();
}

/// Runs one op record on `tr`; returns the value to compare with the
/// record's "result" (null json when the op has no result).
json::Value run_op(const Schema& s, Transform& tr, const json::Value& op) {
  const std::string name = str_arg(op, "op");
  auto nodes_arg = [&]() {
    std::vector<NodeRef> nodes;
    for (const json::Value& n : op.find("nodes")->as_array())
      nodes.push_back(model::Node::from_json(s, n));
    return nodes;
  };
  auto attrs_arg = [&]() -> std::optional<model::AttrMap> {
    const json::Value* a = op.find("attrs");
    if (!a || a->is_null()) return std::nullopt;
    return a->as_object();
  };
  if (name == "replace") {
    tr.replace(int_arg(op, "from"), int_arg(op, "to"), slice_arg(s, op));
  } else if (name == "replaceWith") {
    tr.replace_with(int_arg(op, "from"), int_arg(op, "to"), nodes_arg());
  } else if (name == "delete") {
    tr.del(int_arg(op, "from"), int_arg(op, "to"));
  } else if (name == "insert") {
    tr.insert(int_arg(op, "pos"), nodes_arg());
  } else if (name == "replaceRange") {
    tr.replace_range(int_arg(op, "from"), int_arg(op, "to"), slice_arg(s, op));
  } else if (name == "replaceRangeWith") {
    tr.replace_range_with(int_arg(op, "from"), int_arg(op, "to"),
                          model::Node::from_json(s, *op.find("node")));
  } else if (name == "deleteRange") {
    tr.delete_range(int_arg(op, "from"), int_arg(op, "to"));
  } else if (name == "lift" || name == "liftTarget") {
    std::optional<model::NodeRange> range = range_arg(tr, op);
    if (!range) return json::Value("norange");
    std::optional<int> target = lift_target(*range);
    if (name == "lift" && target) tr.lift(*range, *target);
    return opt_int(target);
  } else if (name == "wrap" || name == "findWrapping") {
    std::optional<model::NodeRange> range = range_arg(tr, op);
    if (!range) return json::Value("norange");
    std::optional<model::AttrMap> attrs = attrs_arg();
    auto wrapping =
        find_wrapping(*range, s.node_type(str_arg(op, "type")), attrs ? &*attrs : nullptr);
    if (name == "wrap" && wrapping) tr.wrap(*range, *wrapping);
    return wrappers_json(wrapping);
  } else if (name == "wrapWith") {
    std::optional<model::NodeRange> range = range_arg(tr, op);
    std::vector<Wrapper> wrappers;
    for (const json::Value& w : op.find("wrappers")->as_array()) {
      Wrapper wr{s.node_type(w.find("type")->as_string()), std::nullopt};
      if (const json::Value* a = w.find("attrs")) wr.attrs = a->as_object();
      wrappers.push_back(std::move(wr));
    }
    tr.wrap(*range, wrappers);
  } else if (name == "setBlockType") {
    std::optional<model::AttrMap> attrs = attrs_arg();
    tr.set_block_type(int_arg(op, "from"), int_arg(op, "to"), s.node_type(str_arg(op, "type")),
                      attrs ? &*attrs : nullptr);
  } else if (name == "setNodeMarkup") {
    const json::Value* type = op.find("type");
    std::optional<model::AttrMap> attrs = attrs_arg();
    std::optional<model::MarkSet> marks;
    if (const json::Value* m = op.find("marks")) {
      marks.emplace();
      for (const json::Value& mj : m->as_array()) marks->push_back(model::Mark::from_json(s, mj));
    }
    tr.set_node_markup(int_arg(op, "pos"),
                       type && !type->is_null() ? s.node_type(type->as_string()) : nullptr,
                       attrs ? &*attrs : nullptr, marks ? &*marks : nullptr);
  } else if (name == "setNodeAttribute") {
    const json::Value* v = op.find("value");
    tr.set_node_attribute(int_arg(op, "pos"), str_arg(op, "attr"),
                          v ? std::optional<json::Value>(*v) : std::nullopt);
  } else if (name == "setDocAttribute") {
    const json::Value* v = op.find("value");
    tr.set_doc_attribute(str_arg(op, "attr"), v ? std::optional<json::Value>(*v) : std::nullopt);
  } else if (name == "addNodeMark") {
    tr.add_node_mark(int_arg(op, "pos"), model::Mark::from_json(s, *op.find("mark")));
  } else if (name == "removeNodeMark") {
    if (const json::Value* m = op.find("mark"))
      tr.remove_node_mark(int_arg(op, "pos"), model::Mark::from_json(s, *m));
    else
      tr.remove_node_mark(int_arg(op, "pos"), s.find_mark_type(str_arg(op, "markType")));
  } else if (name == "split" || name == "canSplit") {
    auto types_after = types_after_arg(s, op);
    int depth = op.find("depth") ? int_arg(op, "depth") : 1;
    bool can =
        can_split(*tr.doc(), int_arg(op, "pos"), depth, types_after ? &*types_after : nullptr);
    if (name == "split") tr.split(int_arg(op, "pos"), depth, types_after ? &*types_after : nullptr);
    return json::Value(can);
  } else if (name == "join" || name == "canJoin") {
    bool can = can_join(*tr.doc(), int_arg(op, "pos"));
    if (name == "join") tr.join(int_arg(op, "pos"), int_arg(op, "depth"));
    return json::Value(can);
  } else if (name == "addMark") {
    tr.add_mark(int_arg(op, "from"), int_arg(op, "to"),
                model::Mark::from_json(s, *op.find("mark")));
  } else if (name == "removeMark") {
    if (const json::Value* m = op.find("mark"))
      tr.remove_mark(int_arg(op, "from"), int_arg(op, "to"), model::Mark::from_json(s, *m));
    else if (const json::Value* t = op.find("markType"))
      tr.remove_mark(int_arg(op, "from"), int_arg(op, "to"), s.find_mark_type(t->as_string()));
    else
      tr.remove_mark(int_arg(op, "from"), int_arg(op, "to"));
  } else if (name == "clearIncompatible") {
    tr.clear_incompatible(int_arg(op, "pos"), s.node_type(str_arg(op, "type")));
  } else if (name == "joinPoint") {
    return opt_int(join_point(*tr.doc(), int_arg(op, "pos"), int_arg(op, "dir")));
  } else if (name == "insertPoint") {
    return opt_int(insert_point(*tr.doc(), int_arg(op, "pos"), s.node_type(str_arg(op, "type"))));
  } else if (name == "dropPoint") {
    return opt_int(drop_point(*tr.doc(), int_arg(op, "pos"), slice_arg(s, op)));
  } else if (name == "mapPos") {
    return json::Value(tr.mapping().map(int_arg(op, "pos"), int_arg(op, "assoc")));
  } else {
    ADD_FAILURE() << "unknown op " << name;
  }
  return json::Value();
}

std::string test_name(int index, const std::string& name) {
  std::string out = "c" + std::to_string(index) + "_";
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

class TransformHelpersJs : public testing::TestWithParam<int> {};

TEST_P(TransformHelpersJs, MatchesJavaScript) {
  const json::Value& c = cases()[GetParam()];
  SCOPED_TRACE(c.find("name")->as_string());
  auto schema = schema_named(c.find("schema")->as_string());
  NodeRef start = model::Node::from_json(*schema, *c.find("doc"));
  Transform tr(start);

  const json::Value* expected_error = c.find("error");
  std::optional<std::string> thrown;
  for (const json::Value& op : c.find("ops")->as_array()) {
    SCOPED_TRACE(json::stringify(op).substr(0, 300));
    try {
      json::Value result = run_op(*schema, tr, op);
      if (const json::Value* expected = op.find("result")) {
        EXPECT_EQ(json::stringify(result), json::stringify(*expected));
      }
    } catch (const JsError& e) {
      thrown = e.what();
      break;
    }
  }
  if (expected_error) {
    ASSERT_TRUE(thrown.has_value()) << "expected an error: " << json::stringify(*expected_error);
    EXPECT_EQ(*thrown, expected_error->find("message")->as_string());
  } else {
    ASSERT_FALSE(thrown.has_value()) << "unexpected error: " << *thrown;
  }

  // The recorded steps, in order.
  const json::Array& steps = c.find("steps")->as_array();
  ASSERT_EQ(tr.steps().size(), steps.size());
  for (size_t i = 0; i < steps.size(); i++) {
    json::Value actual = tr.steps()[i]->to_json();
    EXPECT_TRUE(actual == steps[i]) << "step " << i << "\n  actual:   " << json::stringify(actual)
                                    << "\n  expected: " << json::stringify(steps[i]);
  }
  json::Value doc_after = tr.doc()->to_json();
  EXPECT_TRUE(doc_after == *c.find("doc_after"))
      << "\n  actual:   " << json::stringify(doc_after)
      << "\n  expected: " << json::stringify(*c.find("doc_after"));
  EXPECT_EQ(tr.mapping().maps().size(), tr.steps().size());
  EXPECT_EQ(tr.doc_changed(), !tr.steps().empty());
  EXPECT_TRUE(tr.before()->eq(*start));

  // testTransform's inverse check: undo the steps, last first.
  NodeRef cur = tr.doc();
  for (int i = static_cast<int>(tr.steps().size()) - 1; i >= 0; i--) {
    StepPtr inverted = tr.steps()[i]->invert(*tr.docs()[i]);
    StepResult r = inverted->apply(*cur);
    ASSERT_TRUE(r.ok()) << "inverse of step " << i << " failed: " << r.failed;
    cur = r.doc;
  }
  // JavaScript records the result when it is not the start document (mark
  // order can differ after undoing the removal of non-exclusive marks).
  if (const json::Value* inverse_doc = c.find("inverse_doc")) {
    EXPECT_TRUE(cur->to_json() == *inverse_doc)
        << "undoing the steps gives " << cur->to_json_string();
  } else {
    EXPECT_TRUE(cur->eq(*start)) << "undoing the steps gives " << cur->to_json_string();
  }
}

std::vector<int> case_indices() {
  std::vector<int> out;
  for (int i = 0; i < static_cast<int>(cases().size()); i++) out.push_back(i);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Cases, TransformHelpersJs, testing::ValuesIn(case_indices()),
                         [](const testing::TestParamInfo<int>& p) {
                           return test_name(p.param, cases()[p.param].find("name")->as_string());
                         });

// ---- Direct tests of the Transform object itself.

std::shared_ptr<const Schema> basic() { return schema_named("basic"); }

NodeRef doc_from(const std::string& text) {
  return model::Node::from_json(*basic(), parse_or_die(text, "doc"));
}

const char* kTwoParas =
    R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"hello"}]},)"
    R"({"type":"paragraph","content":[{"type":"text","text":"world"}]}]})";

TEST(Transform, StartsUnchanged) {
  NodeRef doc = doc_from(kTwoParas);
  Transform tr(doc);
  EXPECT_FALSE(tr.doc_changed());
  EXPECT_EQ(tr.before(), doc);
  EXPECT_EQ(tr.doc(), doc);
  EXPECT_FALSE(tr.changed_range().has_value());
}

TEST(Transform, StepThrowsTransformErrorWithTheFailureMessage) {
  Transform tr(doc_from(kTwoParas));
  // Replacing the first paragraph's opening token alone leaves invalid content.
  auto step = std::make_shared<ReplaceStep>(0, 1, model::Slice::empty());
  try {
    tr.step(step);
    FAIL() << "expected a TransformError";
  } catch (const TransformError& e) {
    EXPECT_FALSE(std::string(e.what()).empty());
  }
  EXPECT_FALSE(tr.doc_changed());
  StepResult r = tr.maybe_step(step);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(tr.doc_changed());
}

TEST(Transform, ChainsAndTracksDocsAndChangedRange) {
  NodeRef doc = doc_from(kTwoParas);
  Transform tr(doc);
  tr.del(2, 4).insert(1, basic()->text(std::u16string(u"ab")));
  ASSERT_EQ(tr.steps().size(), 2u);
  ASSERT_EQ(tr.docs().size(), 2u);
  EXPECT_EQ(tr.docs()[0], doc);
  EXPECT_EQ(tr.before(), doc);
  EXPECT_EQ(tr.doc()->first_child()->text_content(), u"abhlo");
  auto range = tr.changed_range();
  ASSERT_TRUE(range.has_value());
  // The deletion at 2 maps to 4 after inserting two characters at 1; the
  // insertion covers 1..3. Together: 1..4.
  EXPECT_EQ(range->from, 1);
  EXPECT_EQ(range->to, 4);
}

TEST(Transform, ReplaceStepReturnsNullForNoOps) {
  NodeRef doc = doc_from(kTwoParas);
  EXPECT_EQ(replace_step(*doc, 3, 3, model::Slice::empty()), nullptr);
  EXPECT_NE(replace_step(*doc, 3, 4, model::Slice::empty()), nullptr);
}

TEST(Transform, RemoveMarkWithoutMarksLeavesNoSteps) {
  Transform tr(doc_from(kTwoParas));
  tr.remove_mark(0, tr.doc()->content().size());
  EXPECT_FALSE(tr.doc_changed());
  tr.add_mark(1, 3, basic()->mark("em"));
  EXPECT_EQ(tr.steps().size(), 1u);
  tr.remove_mark(0, tr.doc()->content().size());
  EXPECT_EQ(tr.steps().size(), 2u);
  EXPECT_TRUE(tr.doc()->eq(*tr.before()));
}

TEST(Transform, SetBlockTypeWithAttrsFunction) {
  Transform tr(doc_from(kTwoParas));
  int n = 0;
  tr.set_block_type(1, 10, basic()->node_type("heading"), [&n](const model::Node&) {
    return model::AttrMap{{"level", json::Value(++n)}};
  });
  ASSERT_EQ(tr.doc()->child_count(), 2);
  EXPECT_EQ(tr.doc()->child(0)->type()->name(), "heading");
  EXPECT_EQ(*tr.doc()->child(0)->attrs().get("level"), json::Value(1));
  EXPECT_EQ(*tr.doc()->child(1)->attrs().get("level"), json::Value(2));
}

}  // namespace
}  // namespace rtpm::transform
