// Tests of document_edits.h: restore (steps_to_become) and revert by author
// (revert_steps).
//
// The oracle is testdata/document_edit_vectors.json, made by
// scripts/gen-document-edit-vectors.mjs with the real prosemirror-model
// 1.25.13 and prosemirror-transform 1.12.6 on the conformance `basic` schema
// (regenerate as its header says). `revert` cases: two or three users edit one
// document (typing, deleting, splitting paragraphs, adding and removing
// marks, deleting what another just changed); the JavaScript computes the
// revert of one user's steps on a range of versions with the same algorithm
// (Step.invert, Step.map through a Mapping with mirrors, Transform.maybeStep);
// each case must give the same steps (toJSON), the same skipped versions and
// the same document, byte for byte. `become` cases: pairs of documents (one
// edited from the other, or two random ones); the one step must be the one
// prosemirror-view's findDiff gives, and applying it must give the target.
// The hand-written cases below cover what the random ones reach rarely.
#include "rtpm/collab/document_edits.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "rtpm/json/json.h"
#include "rtpm/model/slice.h"
#include "rtpm/testing/builder.h"
#include "rtpm/transform/replace_step.h"

namespace rtpm::collab {
namespace {

using model::NodeRef;
using rtpm::testing::doc;
using rtpm::testing::em;
using rtpm::testing::hr;
using rtpm::testing::p;
using rtpm::testing::schema;
using transform::ReplaceStep;
using transform::StepPtr;

StepPtr insert(int pos, const char* text) {
  return std::make_shared<ReplaceStep>(
      pos, pos, model::Slice(model::Fragment::from(schema().text(std::string_view(text))), 0, 0));
}

StepPtr del(int from, int to) { return std::make_shared<ReplaceStep>(from, to, model::Slice()); }

/// `doc` after `steps`, in order (each must apply).
NodeRef apply_all(NodeRef doc, const std::vector<StepPtr>& steps) {
  for (const StepPtr& step : steps) {
    transform::StepResult result = step->apply(*doc);
    if (!result.ok()) throw std::runtime_error("step failed: " + result.failed);
    doc = result.doc;
  }
  return doc;
}

NodeRef apply_log(NodeRef doc, const std::vector<AuthoredStep>& log) {
  for (const AuthoredStep& s : log) doc = apply_all(doc, {s.step});
  return doc;
}

const ReplaceStep& only_replace(const std::vector<StepPtr>& steps) {
  EXPECT_EQ(steps.size(), 1u);
  const auto* replace = dynamic_cast<const ReplaceStep*>(steps.at(0).get());
  if (!replace) throw std::runtime_error("not a ReplaceStep: " + steps.at(0)->to_json_string());
  return *replace;
}

// ---- revert_steps -----------------------------------------------------------

TEST(RevertSteps, RevertsAWordTypedByAAndKeepsWhatBTypedAfterIt) {
  NodeRef start = doc(p("hello")).node();
  // A types " wor" letter by letter at the end (versions 10-13), B types "!" after it (14).
  std::vector<AuthoredStep> log = {{insert(6, " "), "a"},
                                   {insert(7, "w"), "a"},
                                   {insert(8, "o"), "a"},
                                   {insert(9, "r"), "a"},
                                   {insert(10, "!"), "b"}};
  ASSERT_TRUE(apply_log(start, log)->eq(*doc(p("hello wor!")).node()));
  Result<Reverted> r = revert_steps(start, 10, log, "a", 10, 15);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->steps.size(), 4u);
  EXPECT_TRUE(r->skipped.empty());
  EXPECT_TRUE(apply_all(apply_log(start, log), r->steps)->eq(*doc(p("hello!")).node()));
}

TEST(RevertSteps, RevertsOwnStepsThatOverlap) {
  NodeRef start = doc(p("12")).node();
  // A inserts "abc", then deletes its "b"; B types "Z" at the start.
  std::vector<AuthoredStep> log = {
      {insert(2, "abc"), "a"}, {del(3, 4), "a"}, {insert(1, "Z"), "b"}};
  ASSERT_TRUE(apply_log(start, log)->eq(*doc(p("Z1ac2")).node()));
  Result<Reverted> r = revert_steps(start, 0, log, "a", 0, 3);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->skipped.empty());
  EXPECT_TRUE(apply_all(apply_log(start, log), r->steps)->eq(*doc(p("Z12")).node()));
}

TEST(RevertSteps, MirrorsRecoverTextALaterOwnStepDeleted) {
  NodeRef start = doc(p("12")).node();
  // A inserts "abc" and deletes it again: the first inverse maps through the
  // delete only because the delete's inverse, its mirror, restores the range.
  std::vector<AuthoredStep> log = {
      {insert(2, "abc"), "a"}, {del(1, 6), "a"}, {insert(1, "Z"), "b"}};
  ASSERT_TRUE(apply_log(start, log)->eq(*doc(p("Z")).node()));
  Result<Reverted> r = revert_steps(start, 0, log, "a", 0, 3);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->skipped.empty());
  ASSERT_EQ(r->steps.size(), 2u);
  EXPECT_TRUE(apply_all(apply_log(start, log), r->steps)->eq(*doc(p("Z12")).node()));
  // Only the newest: the deleted text comes back.
  Result<Reverted> newest = revert_steps(start, 0, log, "a", 1, 2);
  ASSERT_TRUE(newest) << newest.error().message;
  EXPECT_EQ(newest->steps.size(), 1u);
}

TEST(RevertSteps, SkipsAStepWhoseTextAnotherUserDeleted) {
  NodeRef start = doc(p("12"), p("3")).node();
  // A inserts "abc" (version 5) and "x" in the second paragraph (6); B
  // deletes the first paragraph's text with A's insertion (7).
  std::vector<AuthoredStep> log = {
      {insert(2, "abc"), "a"}, {insert(9, "x"), "a"}, {del(1, 6), "b"}};
  ASSERT_TRUE(apply_log(start, log)->eq(*doc(p(), p("3x")).node()));
  Result<Reverted> r = revert_steps(start, 5, log, "a", 5, 8);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->skipped, std::vector<int64_t>{5});
  EXPECT_TRUE(apply_all(apply_log(start, log), r->steps)->eq(*doc(p(), p("3")).node()));
}

TEST(RevertSteps, OnlyTheRangeAndTheUser) {
  NodeRef start = doc(p("12")).node();
  std::vector<AuthoredStep> log = {
      {insert(1, "a"), "a"}, {insert(2, "b"), "b"}, {insert(3, "c"), "a"}};
  Result<Reverted> first = revert_steps(start, 0, log, "a", 0, 1);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(apply_all(apply_log(start, log), first->steps)->eq(*doc(p("bc12")).node()));
  Result<Reverted> none = revert_steps(start, 0, log, "carol", 0, 3);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->steps.empty());
  Result<Reverted> empty = revert_steps(start, 0, log, "a", 2, 2);
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->steps.empty());
}

TEST(RevertSteps, RejectsABadRangeAndALogThatDoesNotApply) {
  NodeRef start = doc(p("12")).node();
  std::vector<AuthoredStep> log = {{insert(1, "a"), "a"}};
  for (auto [from, to] : {std::pair<int64_t, int64_t>{2, 4}, {3, 5}, {4, 3}, {3, 3}}) {
    Result<Reverted> r = revert_steps(start, 3, log, "a", from, to);
    if (from == 3 && to == 3) {
      EXPECT_TRUE(r);
      continue;
    }
    ASSERT_FALSE(r) << from << ".." << to;
    EXPECT_EQ(r.error().code, ErrorCode::bad_message);
  }
  std::vector<AuthoredStep> bad = {{insert(1, "a"), "a"}, {del(2, 40), "b"}};
  Result<Reverted> r = revert_steps(start, 0, bad, "a", 0, 2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::invalid_steps);
  EXPECT_NE(r.error().message.find("version 1"), std::string::npos) << r.error().message;
}

// ---- steps_to_become --------------------------------------------------------

TEST(StepsToBecome, EqualDocumentsNeedNoSteps) {
  Result<std::vector<StepPtr>> r =
      steps_to_become(doc(p("a", em("b"))).node(), doc(p("a", em("b"))).node());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->empty());
}

TEST(StepsToBecome, OneCharacterGivesOneSmallReplace) {
  NodeRef current = doc(p("hello"), p("world")).node();
  NodeRef target = doc(p("hello"), p("wOrld")).node();
  Result<std::vector<StepPtr>> r = steps_to_become(current, target);
  ASSERT_TRUE(r) << r.error().message;
  const ReplaceStep& step = only_replace(*r);
  EXPECT_EQ(step.from(), 9);
  EXPECT_EQ(step.to(), 10);
  EXPECT_EQ(step.slice().size(), 1);
  EXPECT_TRUE(apply_all(current, *r)->eq(*target));
}

TEST(StepsToBecome, RepeatedTextMovesTheEndsForwardByTheOverlap) {
  NodeRef current = doc(p("aa")).node();
  NodeRef target = doc(p("aaa")).node();
  Result<std::vector<StepPtr>> r = steps_to_become(current, target);
  ASSERT_TRUE(r) << r.error().message;
  const ReplaceStep& step = only_replace(*r);
  EXPECT_EQ(step.from(), 3);
  EXPECT_EQ(step.to(), 3);
  EXPECT_TRUE(apply_all(current, *r)->eq(*target));
  Result<std::vector<StepPtr>> back = steps_to_become(target, current);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(only_replace(*back).from(), 3);
  EXPECT_EQ(only_replace(*back).to(), 4);
  EXPECT_TRUE(apply_all(target, *back)->eq(*current));
}

TEST(StepsToBecome, MarksOnlyChange) {
  NodeRef current = doc(p("hello")).node();
  NodeRef target = doc(p("he", em("ll"), "o")).node();
  Result<std::vector<StepPtr>> r = steps_to_become(current, target);
  ASSERT_TRUE(r) << r.error().message;
  const ReplaceStep& step = only_replace(*r);
  EXPECT_EQ(step.from(), 3);
  EXPECT_EQ(step.to(), 5);
  EXPECT_TRUE(apply_all(current, *r)->eq(*target));
}

TEST(StepsToBecome, ParagraphSplit) {
  NodeRef current = doc(p("hello")).node();
  NodeRef target = doc(p("he"), p("llo")).node();
  Result<std::vector<StepPtr>> r = steps_to_become(current, target);
  ASSERT_TRUE(r) << r.error().message;
  const ReplaceStep& step = only_replace(*r);
  EXPECT_EQ(step.from(), 3);
  EXPECT_EQ(step.to(), 3);
  EXPECT_EQ(step.slice().open_start(), 1);
  EXPECT_EQ(step.slice().open_end(), 1);
  EXPECT_TRUE(apply_all(current, *r)->eq(*target));
  Result<std::vector<StepPtr>> joined = steps_to_become(target, current);
  ASSERT_TRUE(joined) << joined.error().message;
  EXPECT_TRUE(apply_all(target, *joined)->eq(*current));
}

TEST(StepsToBecome, FallsBackToTheWholeContent) {
  // A horizontal rule inside a paragraph breaks the schema (the builder does
  // not check): replacing text in that paragraph rebuilds it and fails its
  // content check; replacing the whole content checks the doc's children only.
  NodeRef current = doc(p("x"), p("a", hr(), "b")).node();
  NodeRef target = doc(p("x"), p("a", hr(), "c")).node();
  Result<std::vector<StepPtr>> r = steps_to_become(current, target);
  ASSERT_TRUE(r) << r.error().message;
  const ReplaceStep& step = only_replace(*r);
  EXPECT_EQ(step.from(), 0);
  EXPECT_EQ(step.to(), current->content().size());
  EXPECT_EQ(step.slice().open_start(), 0);
  EXPECT_EQ(step.slice().open_end(), 0);
  EXPECT_TRUE(apply_all(current, *r)->eq(*target));
}

TEST(StepsToBecome, FailsWhenNoReplaceReachesTheTarget) {
  Result<std::vector<StepPtr>> r = steps_to_become(doc(p("a")).node(), p("a").node());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::invalid_steps);
}

// ---- the JavaScript's vectors -----------------------------------------------

const json::Value& vectors() {
  static const json::Value file = [] {
    std::string path = RTPM_SOURCE_DIR "/rtpm/collab/testdata/document_edit_vectors.json";
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::ostringstream text;
    text << in.rdbuf();
    Result<json::Value> parsed = json::parse(text.str());
    if (!parsed) throw std::runtime_error(path + ": " + parsed.error().message);
    return *parsed;
  }();
  return file;
}

TEST(DocumentEditVectors, RevertMatchesJavaScript) {
  ASSERT_EQ(vectors().find("schema")->as_string(), "basic");
  const json::Array& cases = vectors().find("revert")->as_array();
  ASSERT_EQ(cases.size(), 130u);
  int skipped = 0;
  for (const json::Value& c : cases) {
    SCOPED_TRACE(c.find("name")->as_string());
    NodeRef start = model::Node::from_json(schema(), *c.find("doc"));
    std::vector<AuthoredStep> log;
    for (const json::Value& s : c.find("steps")->as_array())
      log.push_back(
          {transform::Step::from_json(schema(), *s.find("step")), s.find("user")->as_string()});
    auto num = [&](const char* key) { return static_cast<int64_t>(c.find(key)->as_number()); };
    Result<Reverted> r =
        revert_steps(start, num("base"), log, c.find("user")->as_string(), num("from"), num("to"));
    ASSERT_TRUE(r) << r.error().message;
    const json::Value& expected = *c.find("expected");
    const json::Array& expected_steps = expected.find("steps")->as_array();
    ASSERT_EQ(r->steps.size(), expected_steps.size());
    for (size_t i = 0; i < expected_steps.size(); ++i)
      EXPECT_EQ(r->steps[i]->to_json_string(), json::stringify(expected_steps[i])) << i;
    std::vector<int64_t> expected_skipped;
    for (const json::Value& v : expected.find("skipped")->as_array())
      expected_skipped.push_back(static_cast<int64_t>(v.as_number()));
    EXPECT_EQ(r->skipped, expected_skipped);
    skipped += static_cast<int>(expected_skipped.size());
    EXPECT_EQ(apply_all(apply_log(start, log), r->steps)->to_json_string(),
              json::stringify(*expected.find("doc")));
  }
  EXPECT_GT(skipped, 10);  // the vectors do reach the skipping path
}

TEST(DocumentEditVectors, StepsToBecomeMatchesJavaScript) {
  const json::Array& cases = vectors().find("become")->as_array();
  ASSERT_EQ(cases.size(), 70u);
  for (const json::Value& c : cases) {
    SCOPED_TRACE(c.find("name")->as_string());
    NodeRef current = model::Node::from_json(schema(), *c.find("current"));
    NodeRef target = model::Node::from_json(schema(), *c.find("target"));
    Result<std::vector<StepPtr>> r = steps_to_become(current, target);
    ASSERT_TRUE(r) << r.error().message;
    if (c.find("equal")->as_bool()) {
      EXPECT_TRUE(r->empty());
      continue;
    }
    ASSERT_EQ(r->size(), 1u);
    if (!c.find("step")->is_null()) {
      EXPECT_EQ(r->at(0)->to_json_string(), json::stringify(*c.find("step")));
    }
    EXPECT_EQ(apply_all(current, *r)->to_json_string(), json::stringify(*c.find("target")));
  }
}

}  // namespace
}  // namespace rtpm::collab
