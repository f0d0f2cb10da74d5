#include "rtpm/collab/authority.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "rtpm/testing/hostile_steps.h"
#include "rtpm/transform/step.h"

namespace rtpm::collab {
namespace {

std::shared_ptr<const model::Schema> basic_schema() {
  std::ifstream in(std::string(RTPM_SHARED_DIR) + "/conformance/schemas/basic.json");
  std::stringstream buf;
  buf << in.rdbuf();
  auto spec = json::parse(buf.str());
  EXPECT_TRUE(spec);
  return model::Schema::from_json(*spec);
}

json::Array steps(const char* text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v) << text;
  return v->as_array();
}

class AuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    schema_ = basic_schema();
    auto doc = json::parse(
        R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"hello"}]}]})");
    authority_ = std::make_unique<Authority>(schema_, model::Node::from_json(*schema_, *doc), 0,
                                             AuthorityOptions{.max_history = 3});
  }
  std::shared_ptr<const model::Schema> schema_;
  std::unique_ptr<Authority> authority_;
};

TEST_F(AuthorityTest, AcceptsAndCommits) {
  auto d = authority_->decide(
      0,
      steps(
          R"([{"stepType":"replace","from":6,"to":6,"slice":{"content":[{"type":"text","text":"!"}]}}])"),
      "u");
  auto* a = std::get_if<Authority::Accepted>(&d);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_version, 1);
  // decide changes nothing
  EXPECT_EQ(authority_->version(), 0);
  authority_->commit(*a);
  EXPECT_EQ(authority_->version(), 1);
  EXPECT_EQ(authority_->doc()->text_content(), u"hello!");
  auto since = authority_->steps_since(0);
  ASSERT_TRUE(since);
  ASSERT_EQ(since->size(), 1u);
  EXPECT_EQ((*since)[0]->user_id, "u");
}

TEST_F(AuthorityTest, ConflictOnStaleVersion) {
  auto d = authority_->decide(3, steps(R"([{"stepType":"replace","from":1,"to":1}])"), "u");
  auto* c = std::get_if<Authority::Conflict>(&d);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->current_version, 0);
}

TEST_F(AuthorityTest, RejectsWholeBatchNamingTheStep) {
  auto d = authority_->decide(
      0,
      steps(
          R"([{"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":"a"}]}},
                {"stepType":"replace","from":50,"to":51}])"),
      "u");
  auto* r = std::get_if<Authority::Rejected>(&d);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->index, 1);
  EXPECT_EQ(r->message.rfind("step 1: ", 0), 0u) << r->message;
  EXPECT_EQ(authority_->doc()->text_content(), u"hello");
}

TEST_F(AuthorityTest, RejectsUnknownStepTypesAndFailedSteps) {
  auto d1 = authority_->decide(0, steps(R"([{"stepType":"nope"}])"), "u");
  ASSERT_TRUE(std::holds_alternative<Authority::Rejected>(d1));
  // A heading inside a paragraph: replace fails.
  auto d2 = authority_->decide(
      0,
      steps(R"([{"stepType":"replace","from":2,"to":2,"slice":{"content":[{"type":"heading"}]}}])"),
      "u");
  ASSERT_TRUE(std::holds_alternative<Authority::Rejected>(d2));
}

TEST_F(AuthorityTest, ChecksNodesInsertedWhole) {
  // JS accepts a closed list with a heading as its first child (list_item needs a paragraph
  // first), since it does not check inside inserted slices; the authority must not.
  auto d = authority_->decide(
      0,
      steps(
          R"([{"stepType":"replace","from":7,"to":7,"slice":{"content":[{"type":"bullet_list","content":[{"type":"list_item","content":[{"type":"heading","attrs":{"level":1}}]}]}]}}])"),
      "u");
  auto* r = std::get_if<Authority::Rejected>(&d);
  ASSERT_TRUE(r);
  EXPECT_NE(r->message.find("Invalid content for node list_item"), std::string::npos) << r->message;
  // The same list with valid content is accepted.
  auto ok = authority_->decide(
      0,
      steps(
          R"([{"stepType":"replace","from":7,"to":7,"slice":{"content":[{"type":"bullet_list","content":[{"type":"list_item","content":[{"type":"paragraph"}]}]}]}}])"),
      "u");
  EXPECT_TRUE(std::holds_alternative<Authority::Accepted>(ok));
}

TEST_F(AuthorityTest, ReplaceAroundWithAnEmptyGapAtTheEndOfIntIsChecked) {
  // The gap is empty (gapFrom = gapTo), so the step applies wherever it is,
  // as in JavaScript; the inserted range was computed as from + slice size +
  // gapTo - gapFrom in int, past 2^31-1 (UBSan, step_apply fuzz).
  auto d = authority_->decide(
      0,
      steps(
          R"([{"stepType":"replaceAround","from":0,"to":7,"gapFrom":2147483647,"gapTo":2147483647,"insert":0,"slice":{"content":[{"type":"paragraph"}]}}])"),
      "u");
  auto* accepted = std::get_if<Authority::Accepted>(&d);
  ASSERT_TRUE(accepted);
  authority_->commit(*accepted);
  EXPECT_EQ(authority_->doc()->to_json_string(),
            R"({"type":"doc","content":[{"type":"paragraph"}]})");
}

TEST_F(AuthorityTest, ReplayReportsAStoredStepThatDoesNotApply) {
  // The fixture's document is testing::kHelloDoc: one paragraph, "hello".
  auto step = [&](const char* text) {
    std::string json = text;
    return LoggedStep{transform::Step::from_json(*schema_, *json::parse(json)), "u", json};
  };
  std::vector<LoggedStep> log = {
      step(
          R"({"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":"x"}]}})"),
      step(R"({"stepType":"replace","from":50,"to":60})")};
  auto r = authority_->replay(log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::internal);
  EXPECT_EQ(r.error().message.rfind("stored step at version 1 does not apply: ", 0), 0u)
      << r.error().message;
  // The step before it stays applied.
  EXPECT_EQ(authority_->version(), 1);
  EXPECT_EQ(authority_->doc()->text_content(), u"xhello");
  EXPECT_TRUE(authority_->replay({}));
}

TEST_F(AuthorityTest, HistoryIsBounded) {
  for (int i = 0; i < 5; ++i) {
    std::string s =
        R"([{"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":"x"}]}}])";
    auto d = authority_->decide(i, steps(s.c_str()), "u");
    ASSERT_TRUE(std::holds_alternative<Authority::Accepted>(d));
    authority_->commit(std::get<Authority::Accepted>(d));
  }
  EXPECT_EQ(authority_->version(), 5);
  EXPECT_EQ(authority_->history_start(), 2);
  EXPECT_FALSE(authority_->steps_since(1));
  EXPECT_TRUE(authority_->steps_since(2));
  EXPECT_FALSE(authority_->steps_since(6));
  auto m = authority_->mapping_since(3);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->map(1, 1), 3);
  EXPECT_EQ(m->map(1, -1), 1);
}

TEST_F(AuthorityTest, HistoryIsBoundedInBytes) {
  const std::string step =
      R"({"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":"x"}]}})";
  authority_ = std::make_unique<Authority>(
      schema_, authority_->doc(), 0,
      AuthorityOptions{.max_history = 100, .max_history_bytes = 2 * step.size() + 1});
  for (int i = 0; i < 5; ++i) {
    auto d = authority_->decide(i, steps(("[" + step + "]").c_str()), "u");
    ASSERT_TRUE(std::holds_alternative<Authority::Accepted>(d));
    authority_->commit(std::get<Authority::Accepted>(d));
  }
  // Two steps' JSON fit in the bound, three do not.
  EXPECT_EQ(authority_->history_start(), 3);
  EXPECT_EQ(authority_->history_bytes(), 2 * step.size());
  auto since = authority_->steps_since(3);
  ASSERT_TRUE(since);
  ASSERT_EQ(since->size(), 2u);
  EXPECT_EQ((*since)[1]->json, step);
  EXPECT_FALSE(authority_->steps_since(2));
  ASSERT_TRUE(authority_->mapping_since(3));
  EXPECT_EQ(authority_->mapping_since(3)->map(1, 1), 3);
  // A step larger than the bound leaves no history, and the document is still right.
  std::string big =
      R"([{"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":")" +
      std::string(3 * step.size(), 'y') + R"("}]}}])";
  auto d = authority_->decide(5, steps(big.c_str()), "u");
  ASSERT_TRUE(std::holds_alternative<Authority::Accepted>(d));
  authority_->commit(std::get<Authority::Accepted>(d));
  EXPECT_EQ(authority_->history_start(), 6);
  EXPECT_EQ(authority_->history_bytes(), 0u);
  EXPECT_TRUE(authority_->steps_since(6));
  EXPECT_EQ(authority_->doc()->text_content(),
            std::u16string(3 * step.size(), u'y') + u"xxxxxhello");
}

// Issue 10: hostile steps fail alone, as what JavaScript throws, and change nothing.

TEST_F(AuthorityTest, CrashingStepsFailWithTypeError) {
  // The fixture's document is testing::kHelloDoc.
  for (const auto& [name, step] : testing::crashing_steps()) {
    std::string batch = std::string(R"([{"stepType":"replace","from":1,"to":1},)") + step + "]";
    auto d = authority_->decide(0, steps(batch.c_str()), "u");
    auto* r = std::get_if<Authority::Rejected>(&d);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->index, 1) << name;
    EXPECT_EQ(r->message.rfind("step 1: Cannot read properties of undefined", 0), 0u)
        << name << ": " << r->message;
  }
  EXPECT_EQ(authority_->doc()->to_json_string(), testing::kHelloDoc);
  EXPECT_EQ(authority_->version(), 0);
}

TEST(AuthorityHostile, TextOpenedIntoAnEmptyParagraph) {
  auto schema = basic_schema();
  Authority authority(
      schema, model::Node::from_json(*schema, *json::parse(testing::kEmptyParagraphDoc)), 0);
  std::string batch = std::string("[") + testing::kTextOpenedIntoEmptyParagraph + "]";
  auto d = authority.decide(0, steps(batch.c_str()), "u");
  auto* r = std::get_if<Authority::Rejected>(&d);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->index, 0);
  EXPECT_EQ(r->message.rfind("step 0: Cannot read properties of undefined", 0), 0u) << r->message;
}

TEST(AuthorityHostile, DeepNestingFailsAtTheBound) {
  auto schema = basic_schema();
  Authority authority(
      schema, model::Node::from_json(*schema, *json::parse(testing::kEmptyParagraphDoc)), 0);
  auto too_deep = [](int i) {
    return "step " + std::to_string(i) + ": " + model::max_depth_message();
  };
  // Issue 10's message: 40 steps of 490 levels. The first slice is refused while it is parsed.
  std::string issue = testing::deep_nesting_steps(40, 490);
  auto parsed = json::parse(issue);
  ASSERT_TRUE(parsed) << parsed.error().message;
  auto d = authority.decide(0, parsed->as_array(), "u");
  auto* r = std::get_if<Authority::Rejected>(&d);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->index, 0);
  EXPECT_EQ(r->message, too_deep(0));
  // Steps of 200 levels parse; the second would make the document 402 levels deep.
  auto d2 = authority.decide(0, json::parse(testing::deep_nesting_steps(2, 200))->as_array(), "u");
  auto* r2 = std::get_if<Authority::Rejected>(&d2);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->index, 1);
  EXPECT_EQ(r2->message, too_deep(1));
  // One step of 200 levels is accepted.
  auto d3 = authority.decide(0, json::parse(testing::deep_nesting_steps(1, 200))->as_array(), "u");
  auto* a = std::get_if<Authority::Accepted>(&d3);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->doc->height(), 202);
  EXPECT_EQ(authority.doc()->to_json_string(), testing::kEmptyParagraphDoc);
}

// A step type whose apply throws what JavaScript never would (a fake for the
// failures of the port itself: an allocation for an absurd size, a library's
// std::out_of_range).
class ThrowingStep final : public transform::Step {
 public:
  std::string_view step_type() const override { return "testThrowsBadAlloc"; }
  transform::StepResult apply(const model::Node&) const override { throw std::bad_alloc(); }
  transform::StepPtr invert(const model::Node&) const override { return nullptr; }
  transform::StepPtr map(const transform::Mappable&) const override { return nullptr; }
  void write_json(json::Writer& w) const override {
    w.begin_object();
    w.end_object();
  }
};

TEST_F(AuthorityTest, OtherExceptionsRejectTheStep) {
  transform::Step::json_id("testThrowsBadAlloc", [](const model::Schema&, const json::Value&) {
    return std::make_shared<const ThrowingStep>();
  });
  transform::Step::json_id("testThrowsOutOfRange",
                           [](const model::Schema&, const json::Value&) -> transform::StepPtr {
                             throw std::out_of_range("vector::at");
                           });
  auto d = authority_->decide(
      0, steps(R"([{"stepType":"replace","from":1,"to":1},{"stepType":"testThrowsBadAlloc"}])"),
      "u");
  auto* r = std::get_if<Authority::Rejected>(&d);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->index, 1);
  EXPECT_EQ(r->message, "step 1: internal error: std::bad_alloc");
  auto d2 = authority_->decide(0, steps(R"([{"stepType":"testThrowsOutOfRange"}])"), "u");
  auto* r2 = std::get_if<Authority::Rejected>(&d2);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->message, "step 0: internal error: vector::at");
  EXPECT_EQ(authority_->doc()->to_json_string(), testing::kHelloDoc);
}

}  // namespace
}  // namespace rtpm::collab
