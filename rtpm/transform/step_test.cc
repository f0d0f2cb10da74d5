// Tests of the step types (step, replace_step, mark_step, attr_step): every
// `apply`, `invert`, `merge` and `stepmap` vector of ../shared/conformance
// (produced by the JavaScript libraries, checked by the conformance runner),
// plus unit tests of the JSON entry points.
#include "rtpm/transform/step.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "rtpm/conformance/expect.h"
#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/transform/attr_step.h"
#include "rtpm/transform/map.h"
#include "rtpm/transform/mark_step.h"
#include "rtpm/transform/replace_step.h"

namespace rtpm::transform {
namespace {

// The conformance vectors of the step kinds, through the conformance runner.
TEST(StepConformance, Apply) { conformance::expect_kind_passes("apply", 2465); }
TEST(StepConformance, Invert) { conformance::expect_kind_passes("invert", 647); }
TEST(StepConformance, Merge) { conformance::expect_kind_passes("merge", 369); }
TEST(StepConformance, StepMap) { conformance::expect_kind_passes("stepmap", 602); }

// --- Unit tests of the JSON entry points -----------------------------------

std::shared_ptr<const model::Schema> basic() {
  static conformance::SchemaCache schemas(std::string(RTPM_SHARED_DIR) + "/conformance/schemas");
  return schemas.get("basic");
}

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
