// Tests of the step types (step, replace_step, mark_step, attr_step) against
// the conformance vectors of ../shared/conformance produced by the JavaScript
// libraries: every `apply`, `invert`, `merge` and `stepmap` vector, plus unit
// tests of the JSON entry points.
#include "rtpm/transform/step.h"

#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/transform/attr_step.h"
#include "rtpm/transform/map.h"
#include "rtpm/transform/mark_step.h"
#include "rtpm/transform/replace_step.h"

namespace rtpm::transform {
namespace {

const std::string kDir = std::string(RTPM_SHARED_DIR) + "/conformance/";

std::shared_ptr<const model::Schema> schema_named(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const model::Schema>> cache;
  auto found = cache.find(name);
  if (found != cache.end()) return found->second;
  std::ifstream in(kDir + "schemas/" + name + ".json", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Result<json::Value> spec = json::parse(text);
  if (!spec) throw std::runtime_error("bad schema file " + name);
  auto schema = model::Schema::from_json(*spec);
  cache.emplace(name, schema);
  return schema;
}

std::vector<json::Value> vectors_of(const std::string& kind, std::vector<std::string> files) {
  std::vector<json::Value> out;
  for (const std::string& file : files) {
    std::ifstream in(kDir + file, std::ios::binary);
    EXPECT_TRUE(in) << "cannot open " << kDir + file;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      Result<json::Value> v = json::parse(line);
      EXPECT_TRUE(v) << file << ": " << (v ? "" : v.error().message);
      if (!v) continue;
      const json::Value* k = v->find("kind");
      if (k && k->is_string() && k->as_string() == kind) out.push_back(std::move(*v));
    }
  }
  return out;
}

const json::Value& field(const json::Value& v, std::string_view key) {
  static const json::Value kNull;
  const json::Value* f = v.find(key);
  return f ? *f : kNull;
}

std::string str(const json::Value& v) { return json::stringify(v); }

/// What happened when a step was applied: a doc (its JSON), a failure
/// message, or a thrown error.
struct Outcome {
  enum Kind { doc, failed, error } kind;
  std::string text;        // doc JSON, failure message, or error message
  std::string error_name;  // for errors
  model::NodeRef node;     // for docs
};

Outcome apply_step(const Step& step, const model::Node& doc) {
  try {
    StepResult r = step.apply(doc);
    if (r.ok()) return {Outcome::doc, r.doc->to_json_string(), {}, r.doc};
    return {Outcome::failed, r.failed, {}, nullptr};
  } catch (const JsError& e) {
    return {Outcome::error, e.what(), e.name(), nullptr};
  }
}

/// Tallies per kind; a message-only mismatch of a thrown error is informative.
struct Tally {
  int passed = 0;
  int failed = 0;
  int message_mismatches = 0;
  std::vector<std::string> shown;
  void fail(const std::string& id, const std::string& why) {
    failed++;
    if (shown.size() < 15) shown.push_back(id + ": " + why);
  }
  void report(const std::string& kind) {
    std::cout << "[step_test] " << kind << ": " << passed << " passed, " << failed << " failed"
              << " (error messages differing, informative: " << message_mismatches << ")\n";
    for (const std::string& s : shown) ADD_FAILURE() << kind << " " << s;
    EXPECT_EQ(failed, 0);
  }
};

/// Compares an outcome with an expected `result` object; empty when equal.
std::string compare_outcome(const Outcome& got, const json::Value& expected, Tally& tally) {
  if (const json::Value* doc = expected.find("doc")) {
    if (got.kind != Outcome::doc)
      return "expected a doc, got " +
             std::string(got.kind == Outcome::failed ? "failed: " : "error: ") + got.text;
    if (got.text != str(*doc))
      return "doc differs\n  expected " + str(*doc) + "\n  actual   " + got.text;
    return {};
  }
  if (const json::Value* failed = expected.find("failed")) {
    if (got.kind != Outcome::failed)
      return "expected failed " + str(*failed) + ", got " +
             (got.kind == Outcome::doc ? "doc " : "error ") + got.text;
    if (got.text != failed->as_string())
      return "failure message differs: expected " + str(*failed) + ", got " + got.text;
    return {};
  }
  if (const json::Value* error = expected.find("error")) {
    if (got.kind != Outcome::error)
      return "expected error " + str(*error) + ", got " +
             (got.kind == Outcome::doc ? "doc " : "failed ") + got.text;
    const json::Value& name = field(expected, "errorName");
    if (name.is_string() && name.as_string() != got.error_name)
      return "error name differs: expected " + name.as_string() + ", got " + got.error_name + " (" +
             got.text + ")";
    if (error->is_string() && error->as_string() != got.text) tally.message_mismatches++;
    return {};
  }
  return "vector has no known result";
}

TEST(StepConformance, Apply) {
  Tally tally;
  for (const json::Value& v :
       vectors_of("apply", {"apply.jsonl", "official.jsonl", "utf16.jsonl"})) {
    std::string id = field(v, "id").as_string();
    try {
      auto schema = schema_named(field(v, "schema").as_string());
      model::NodeRef doc = model::Node::from_json(*schema, field(v, "doc"));
      const json::Value& result = field(v, "result");
      const json::Value& stage = field(result, "stage");
      StepPtr step;
      if (stage.is_string() && stage.as_string() == "Step.fromJSON") {
        try {
          Step::from_json(*schema, field(v, "step"));
          tally.fail(id, "Step::from_json did not throw");
        } catch (const JsError&) {
          tally.passed++;
        }
        continue;
      }
      step = Step::from_json(*schema, field(v, "step"));
      std::string why = compare_outcome(apply_step(*step, *doc), result, tally);
      if (why.empty())
        tally.passed++;
      else
        tally.fail(id, why);
    } catch (const std::exception& e) {
      tally.fail(id, std::string("unexpected exception: ") + e.what());
    }
  }
  tally.report("apply");
}

TEST(StepConformance, Invert) {
  Tally tally;
  for (const json::Value& v :
       vectors_of("invert", {"invert.jsonl", "official.jsonl", "utf16.jsonl"})) {
    std::string id = field(v, "id").as_string();
    try {
      auto schema = schema_named(field(v, "schema").as_string());
      model::NodeRef doc = model::Node::from_json(*schema, field(v, "doc"));
      StepPtr step = Step::from_json(*schema, field(v, "step"));
      StepPtr inverted = step->invert(*doc);
      std::string expected = str(field(v, "inverted"));
      if (inverted->to_json_string() != expected) {
        tally.fail(id, "inverted differs\n  expected " + expected + "\n  actual   " +
                           inverted->to_json_string());
        continue;
      }
      const json::Value& parses = field(v, "invertedParses");
      StepPtr reparsed;
      try {
        reparsed = Step::from_json(*schema, inverted->to_json());
      } catch (const JsError& e) {
        if (parses.is_bool() && !parses.as_bool()) {
          tally.passed++;
        } else {
          tally.fail(id, std::string("inverted JSON does not parse: ") + e.what());
        }
        continue;
      }
      if (parses.is_bool() && !parses.as_bool()) {
        tally.fail(id, "inverted JSON parses, expected it to be rejected");
        continue;
      }
      Outcome after = apply_step(*step, *doc);
      bool restores = false;
      if (after.kind == Outcome::doc) {
        Outcome back = apply_step(*reparsed, *after.node);
        restores = back.kind == Outcome::doc && back.text == doc->to_json_string();
      }
      if (restores != field(v, "restores").as_bool()) {
        tally.fail(id, std::string("restores: expected ") + str(field(v, "restores")));
        continue;
      }
      tally.passed++;
    } catch (const std::exception& e) {
      tally.fail(id, std::string("unexpected exception: ") + e.what());
    }
  }
  tally.report("invert");
}

TEST(StepConformance, Merge) {
  Tally tally;
  for (const json::Value& v : vectors_of("merge", {"merge.jsonl", "official.jsonl"})) {
    std::string id = field(v, "id").as_string();
    try {
      auto schema = schema_named(field(v, "schema").as_string());
      StepPtr step = Step::from_json(*schema, field(v, "step"));
      StepPtr other = Step::from_json(*schema, field(v, "other"));
      StepPtr merged = step->merge(*other);
      std::string expected = str(field(v, "merged"));
      std::string actual = merged ? merged->to_json_string() : "null";
      if (actual != expected) {
        tally.fail(id, "merged differs\n  expected " + expected + "\n  actual   " + actual);
        continue;
      }
      const json::Value& equivalent = field(v, "equivalent");
      if (merged && equivalent.is_bool() && !field(v, "doc").is_null()) {
        model::NodeRef doc = model::Node::from_json(*schema, field(v, "doc"));
        Outcome first = apply_step(*step, *doc);
        Outcome both = first.kind == Outcome::doc ? apply_step(*other, *first.node) : first;
        Outcome at_once = apply_step(*merged, *doc);
        bool same =
            both.kind == Outcome::doc && at_once.kind == Outcome::doc && both.text == at_once.text;
        if (same != equivalent.as_bool()) {
          tally.fail(id, "equivalent: expected " + str(equivalent));
          continue;
        }
      }
      tally.passed++;
    } catch (const std::exception& e) {
      tally.fail(id, std::string("unexpected exception: ") + e.what());
    }
  }
  tally.report("merge");
}

Mapping mapping_from_json(const json::Value& m) {
  std::vector<StepMap> maps;
  for (const json::Value& map : field(m, "maps").as_array()) {
    std::vector<int> ranges;
    for (const json::Value& r : field(map, "ranges").as_array())
      ranges.push_back(static_cast<int>(r.as_number()));
    const json::Value& inverted = field(map, "inverted");
    maps.emplace_back(std::move(ranges), inverted.is_bool() && inverted.as_bool());
  }
  std::vector<int> mirror;
  if (const json::Value* mir = m.find("mirror"))
    for (const json::Value& n : mir->as_array()) mirror.push_back(static_cast<int>(n.as_number()));
  int from = m.find("from") ? static_cast<int>(m.find("from")->as_number()) : 0;
  int to =
      m.find("to") ? static_cast<int>(m.find("to")->as_number()) : static_cast<int>(maps.size());
  return Mapping(std::move(maps), std::move(mirror), from, to);
}

TEST(StepConformance, StepMap) {
  Tally tally;
  for (const json::Value& v :
       vectors_of("stepmap", {"stepmap.jsonl", "official.jsonl", "utf16.jsonl"})) {
    std::string id = field(v, "id").as_string();
    try {
      auto schema = schema_named(field(v, "schema").as_string());
      StepPtr step = Step::from_json(*schema, field(v, "step"));
      Mapping mapping = mapping_from_json(field(v, "mapping"));
      StepPtr mapped = step->map(mapping);
      std::string expected = str(field(v, "mapped"));
      std::string actual = mapped ? mapped->to_json_string() : "null";
      if (actual != expected) {
        tally.fail(id, "mapped differs\n  expected " + expected + "\n  actual   " + actual);
        continue;
      }
      if (const json::Value* target = v.find("target"); target && mapped) {
        model::NodeRef doc = model::Node::from_json(*schema, field(*target, "doc"));
        std::string why =
            compare_outcome(apply_step(*mapped, *doc), field(*target, "result"), tally);
        if (!why.empty()) {
          tally.fail(id, "target: " + why);
          continue;
        }
      }
      tally.passed++;
    } catch (const std::exception& e) {
      tally.fail(id, std::string("unexpected exception: ") + e.what());
    }
  }
  tally.report("stepmap");
}

// --- Unit tests of the JSON entry points -----------------------------------

std::shared_ptr<const model::Schema> basic() { return schema_named("basic"); }

json::Value parse(std::string_view text) {
  Result<json::Value> v = json::parse(text);
  EXPECT_TRUE(v);
  return v ? *v : json::Value();
}

std::string from_json_error(std::string_view text) {
  try {
    Step::from_json(*basic(), parse(text));
  } catch (const JsError& e) {
    return std::string(e.name()) + ": " + e.what();
  }
  return "no error";
}

TEST(StepFromJson, RejectsBadInput) {
  EXPECT_EQ(from_json_error("null"), "RangeError: Invalid input for Step.fromJSON");
  EXPECT_EQ(from_json_error("5"), "RangeError: Invalid input for Step.fromJSON");
  EXPECT_EQ(from_json_error("{}"), "RangeError: Invalid input for Step.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":""})"), "RangeError: Invalid input for Step.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":"nope"})"), "RangeError: No step type nope defined");
  EXPECT_EQ(from_json_error(R"({"stepType":1})"), "RangeError: No step type 1 defined");
  EXPECT_EQ(from_json_error(R"({"stepType":"replace","from":"1","to":2})"),
            "RangeError: Invalid input for ReplaceStep.fromJSON");
  EXPECT_EQ(
      from_json_error(R"({"stepType":"replaceAround","from":1,"to":2,"gapFrom":1,"gapTo":2})"),
      "RangeError: Invalid input for ReplaceAroundStep.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":"addMark","from":1,"mark":{"type":"em"}})"),
            "RangeError: Invalid input for AddMarkStep.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":"removeMark","to":1,"mark":{"type":"em"}})"),
            "RangeError: Invalid input for RemoveMarkStep.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":"addNodeMark","mark":{"type":"em"}})"),
            "RangeError: Invalid input for AddNodeMarkStep.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":"removeNodeMark","pos":null,"mark":{"type":"em"}})"),
            "RangeError: Invalid input for RemoveNodeMarkStep.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":"attr","pos":1,"attr":2})"),
            "RangeError: Invalid input for AttrStep.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":"docAttr"})"),
            "RangeError: Invalid input for DocAttrStep.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":"markSet","steps":{}})"),
            "RangeError: Invalid JSON for MarkSetStep");
  EXPECT_EQ(
      from_json_error(R"({"stepType":"markSet","steps":[{"stepType":"markSet","steps":[]}]})"),
      "RangeError: Invalid JSON for MarkSetStep");
  EXPECT_EQ(from_json_error(R"({"stepType":"markSet","steps":[null]})").rfind("TypeError", 0), 0u);
}

TEST(StepFromJson, RejectsPositionsThatAreNotInts) {
  // Port note: JavaScript would accept these numbers; positions are ints here.
  EXPECT_EQ(from_json_error(R"({"stepType":"replace","from":0.5,"to":1})"),
            "RangeError: Invalid input for ReplaceStep.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":"replace","from":0,"to":4294967296})"),
            "RangeError: Invalid input for ReplaceStep.fromJSON");
  EXPECT_EQ(from_json_error(R"({"stepType":"attr","pos":1e300,"attr":"x"})"),
            "RangeError: Invalid input for AttrStep.fromJSON");
}

TEST(StepFromJson, RoundTripsInUpstreamKeyOrder) {
  for (
      std::string_view text : {
          R"({"stepType":"replace","from":1,"to":2})",
          R"({"stepType":"replace","from":0,"to":0,"slice":{"content":[{"type":"paragraph"}]},"structure":true})",
          R"({"stepType":"replaceAround","from":0,"to":4,"gapFrom":1,"gapTo":3,"insert":1,"slice":{"content":[{"type":"blockquote"}]}})",
          R"({"stepType":"addMark","mark":{"type":"em"},"from":1,"to":3})",
          R"({"stepType":"removeMark","mark":{"type":"strong"},"from":1,"to":3})",
          R"({"stepType":"addNodeMark","pos":1,"mark":{"type":"em"}})",
          R"({"stepType":"removeNodeMark","pos":1,"mark":{"type":"em"}})",
          R"({"stepType":"attr","pos":0,"attr":"level","value":2})",
          R"({"stepType":"attr","pos":0,"attr":"level"})",
          R"({"stepType":"docAttr","attr":"x","value":null})",
          R"({"stepType":"markSet","steps":[]})",
          R"({"stepType":"markSet","steps":[{"stepType":"addMark","mark":{"type":"em"},"from":1,"to":3}]})",
      }) {
    StepPtr step = Step::from_json(*basic(), parse(text));
    EXPECT_EQ(step->to_json_string(), text);
    EXPECT_EQ(json::stringify(step->to_json()), text);
  }
}

TEST(StepRegistry, RejectsDuplicateIds) {
  try {
    Step::json_id("replace", &ReplaceStep::from_json);
    FAIL() << "no error";
  } catch (const RangeError& e) {
    EXPECT_STREQ(e.what(), "Duplicate use of step JSON ID replace");
  }
  Step::json_id("stepTestCustom", [](const model::Schema& s, const json::Value&) -> StepPtr {
    return std::make_shared<DocAttrStep>("custom", json::Value(&s == basic().get()));
  });
  StepPtr custom = Step::from_json(*basic(), parse(R"({"stepType":"stepTestCustom"})"));
  EXPECT_EQ(custom->to_json_string(), R"({"stepType":"docAttr","attr":"custom","value":true})");
  EXPECT_THROW(Step::json_id("stepTestCustom", &ReplaceStep::from_json), RangeError);
}

model::NodeRef doc_of_paragraphs(int n) {
  std::string text = R"({"type":"doc","content":[)";
  for (int i = 0; i < n; i++) {
    if (i) text += ',';
    text += R"({"type":"paragraph","content":[{"type":"text","text":"hello world"}]})";
  }
  text += "]}";
  return model::Node::from_json(*basic(), parse(text));
}

TEST(ReplaceStepTest, InsertsOneCharacterInALargeDocument) {
  model::NodeRef doc = doc_of_paragraphs(10000);
  int pos = 13 * 5000 + 3;  // inside paragraph 5000
  StepPtr step =
      Step::from_json(*basic(), parse(R"({"stepType":"replace","from":)" + std::to_string(pos) +
                                      R"(,"to":)" + std::to_string(pos) +
                                      R"(,"slice":{"content":[{"type":"text","text":"X"}]}})"));
  StepResult result = step->apply(*doc);
  ASSERT_TRUE(result.ok()) << result.failed;
  EXPECT_EQ(result.doc->content().size(), doc->content().size() + 1);
  EXPECT_EQ(result.doc->child(5000)->text_content(), u"heXllo world");
  EXPECT_EQ(result.doc->child(4999).get(), doc->child(4999).get());  // shared, not copied
  StepPtr inverted = step->invert(*doc);
  EXPECT_EQ(inverted->to_json_string(), R"({"stepType":"replace","from":)" + std::to_string(pos) +
                                            R"(,"to":)" + std::to_string(pos + 1) + "}");
  StepResult back = inverted->apply(*result.doc);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back.doc->eq(*doc));
}

TEST(ReplaceStepTest, StructureCheckOfAFarNegativeEndDoesNotOverflow) {
  // contentBetween's `to - from` is negative, so the replace itself reports
  // the bad position (found by scripts/diff-fuzz.sh).
  model::NodeRef doc = doc_of_paragraphs(1);
  for (const char* type : {"replace", "replaceAround"}) {
    std::string text = std::string(R"({"stepType":")") + type +
                       R"(","from":2,"to":-2147483648,"gapFrom":2,"gapTo":2,"insert":0,)"
                       R"("structure":true})";
    StepPtr step = Step::from_json(*basic(), parse(text));
    try {
      StepResult result = step->apply(*doc);
      ADD_FAILURE() << type << ": no error, " << (result.ok() ? "ok" : result.failed);
    } catch (const RangeError& e) {
      EXPECT_STREQ(e.what(), "Position -2147483648 out of range") << type;
    }
  }
}

TEST(MarkStepTest, InvertGivesAnEmptyMarkSetWhenNothingChanges) {
  model::NodeRef doc = model::Node::from_json(
      *basic(),
      parse(
          R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","marks":[{"type":"em"}],"text":"ab"}]}]})"));
  StepPtr add = Step::from_json(
      *basic(), parse(R"({"stepType":"addMark","mark":{"type":"em"},"from":1,"to":3})"));
  StepPtr inverted = add->invert(*doc);
  EXPECT_EQ(inverted->to_json_string(), R"({"stepType":"markSet","steps":[]})");
  StepResult same = inverted->apply(*doc);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same.doc.get(), doc.get());
  EXPECT_EQ(inverted->map(Mapping()), nullptr);
  EXPECT_EQ(inverted->merge(*inverted), nullptr);
}

TEST(AttrStepTest, TextNodeTargetThrowsAndUnknownAttrIsANoOp) {
  model::NodeRef doc = model::Node::from_json(
      *basic(),
      parse(
          R"({"type":"doc","content":[{"type":"heading","attrs":{"level":1},"content":[{"type":"text","text":"ab"}]}]})"));
  AttrStep on_text(1, "level", json::Value(2));
  try {
    on_text.apply(*doc);
    FAIL() << "no error";
  } catch (const GenericError& e) {
    EXPECT_STREQ(e.what(), "NodeType.create can't construct text nodes");
  }
  auto bogus = std::make_shared<AttrStep>(0, "bogus", json::Value("x"));
  StepResult r = bogus->apply(*doc);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.doc->eq(*doc));
  StepPtr inverted = bogus->invert(*doc);
  EXPECT_EQ(inverted->to_json_string(), R"({"stepType":"attr","pos":0,"attr":"bogus"})");
  EXPECT_THROW(AttrStep(0, "level", json::Value("two")).apply(*doc), RangeError);
}

}  // namespace
}  // namespace rtpm::transform
