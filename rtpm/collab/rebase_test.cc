// The client side of the collab protocol (rebase.h, prosemirror-collab's
// receiveTransaction): every `rebase` vector of ../shared/conformance, produced
// by the JavaScript library and checked by the conformance runner; and the
// `rebase` protocol extension's confirm_rebased and align_steps, which have
// no JavaScript counterpart.
#include "rtpm/collab/rebase.h"

#include <functional>
#include <type_traits>

#include <gtest/gtest.h>

#include "rtpm/conformance/expect.h"
#include "rtpm/testing/builder.h"
#include "rtpm/transform/replace_step.h"

namespace rtpm::collab {
namespace {

using testing::doc;
using testing::p;
using transform::StepPtr;
using transform::Transform;

TEST(RebaseConformance, MatchesJavaScript) { conformance::expect_kind_passes("rebase", 220); }

StepPtr insert(int pos, const std::string& text) {
  return std::make_shared<transform::ReplaceStep>(
      pos, pos, model::Slice(model::Fragment::from(testing::schema().text(text)), 0, 0));
}

// `hello` confirmed at version 0, with `edit`'s steps unconfirmed on top.
CollabState hello_with(const std::function<void(Transform&)>& edit) {
  Transform tr(doc(p("hello")).node());
  edit(tr);
  return CollabState{tr.doc(), 0, unconfirmed_from(tr)};
}

std::string text(const model::NodeRef& d) { return json::to_wtf8(d->text_content()); }

TEST(ConfirmRebased, StepsAppliedAsHeldChangeNothing) {
  CollabState s = hello_with([](Transform& tr) {
    tr.step(insert(1, "abc"));
    tr.step(insert(4, "d"));
  });
  ReceiveResult r = confirm_rebased(s, 1, {insert(1, "abc")});
  EXPECT_EQ(text(r.state.doc), "abcdhello");
  EXPECT_TRUE(r.state.doc->eq(*s.doc));
  EXPECT_EQ(r.state.version, 1);
  ASSERT_EQ(r.state.unconfirmed.size(), 1u);
  EXPECT_EQ(r.state.unconfirmed[0].step->to_json_string(), insert(4, "d")->to_json_string());
  EXPECT_EQ(r.kept, std::vector<size_t>{1});
  EXPECT_EQ(r.rebased, 1);
}

// The server put the batch's text elsewhere: positions inside it, and its end
// with assoc -1, follow it through the mirror of the batch step's inverse.
TEST(ConfirmRebased, TheAppliedStepsTakeTheBatchsPlace) {
  CollabState s = hello_with([](Transform& tr) { tr.step(insert(1, "abc")); });
  ReceiveResult r = confirm_rebased(s, 1, {insert(3, "abc")});
  EXPECT_EQ(text(r.state.doc), "heabcllo");
  EXPECT_EQ(r.state.version, 1);
  EXPECT_TRUE(r.state.unconfirmed.empty());
  const auto& m = r.transform.mapping();
  EXPECT_EQ(m.map(4, -1), 6);  // abc| -> heabc|
  EXPECT_EQ(m.map(2, 1), 4);   // a|bc -> hea|bc
  EXPECT_EQ(m.map(7, 1), 7);   // abchel|lo -> heabcl|lo
}

TEST(ConfirmRebased, StepsAfterTheBatchFollowItsText) {
  CollabState s = hello_with([](Transform& tr) {
    tr.step(insert(1, "abc"));
    tr.step(insert(2, "X"));  // aX|bc
  });
  ReceiveResult r = confirm_rebased(s, 1, {insert(3, "abc")});
  EXPECT_EQ(text(r.state.doc), "heaXbcllo");
  ASSERT_EQ(r.state.unconfirmed.size(), 1u);
  EXPECT_EQ(r.state.unconfirmed[0].step->to_json_string(), insert(4, "X")->to_json_string());
  // Its inverse undoes it in the new document.
  auto undone = r.state.unconfirmed[0].inverted->apply(*r.state.doc);
  ASSERT_TRUE(undone.ok());
  EXPECT_EQ(text(undone.doc), "heabcllo");
}

TEST(ConfirmRebased, FewerAppliedStepsAndNone) {
  CollabState s = hello_with([](Transform& tr) {
    tr.step(insert(1, "a"));
    tr.step(insert(7, "b"));
  });
  ReceiveResult fewer = confirm_rebased(s, 2, {insert(6, "b")});
  EXPECT_EQ(text(fewer.state.doc), "hellob");
  EXPECT_EQ(fewer.state.version, 1);
  ReceiveResult none = confirm_rebased(s, 2, {});
  EXPECT_EQ(text(none.state.doc), "hello");
  EXPECT_EQ(none.state.version, 0);
}

// A later step that lay inside the batch's text, whose text the server did
// not apply, no longer applies: dropped, and not listed in `kept`.
TEST(ConfirmRebased, DropsLaterStepsThatNoLongerApply) {
  CollabState s = hello_with([](Transform& tr) {
    tr.step(insert(1, "abc"));
    tr.add_mark(2, 4, testing::schema().mark("em"));  // on "bc"
    tr.step(insert(9, "!"));
  });
  ReceiveResult r = confirm_rebased(s, 1, {});
  EXPECT_EQ(text(r.state.doc), "hello!");
  EXPECT_EQ(r.kept, std::vector<size_t>{2});
  EXPECT_EQ(r.rebased, 2);
}

// Steps are paired by content only: an applied step with other content
// mirrors nothing, so a step inside the batch's text does not jump into it;
// its place was deleted, and it is dropped.
TEST(ConfirmRebased, OnlyPairedStepsAreMirrored) {
  CollabState s = hello_with([](Transform& tr) {
    tr.step(insert(1, "abc"));
    tr.step(insert(2, "X"));
  });
  ReceiveResult r = confirm_rebased(s, 1, {insert(3, "xy")});
  EXPECT_EQ(text(r.state.doc), "hexyllo");
  EXPECT_TRUE(r.kept.empty());
}

TEST(ConfirmRebased, ThrowsWhenAnAppliedStepDoesNotApply) {
  CollabState s = hello_with([](Transform& tr) { tr.step(insert(1, "abc")); });
  EXPECT_THROW(confirm_rebased(s, 1, {insert(40, "abc")}), std::exception);
}

TEST(AlignSteps, PairsStepsByEverythingButTheirPositions) {
  auto j = [](const StepPtr& step) { return step->to_json(); };
  Transform tr(doc(p("hello")).node());
  tr.add_mark(2, 3, testing::schema().mark("em"));
  json::Value mark = j(tr.steps()[0]);
  Transform moved(doc(p("hello")).node());
  moved.add_mark(4, 5, testing::schema().mark("em"));
  json::Value mark_moved = j(moved.steps()[0]);
  std::vector<json::Value> batch{j(insert(1, "a")), mark, j(insert(5, "b"))};
  EXPECT_EQ(align_steps(batch, {mark_moved, j(insert(9, "b"))}), (std::vector<int>{1, 2}));
  EXPECT_EQ(align_steps(batch, {j(insert(1, "c"))}), std::vector<int>{-1});
  EXPECT_EQ(align_steps(batch, {}), std::vector<int>{});
  // In order: the first unpaired step of equal content.
  std::vector<json::Value> twice{j(insert(1, "a")), j(insert(3, "a"))};
  EXPECT_EQ(align_steps(twice, {j(insert(7, "a"))}), std::vector<int>{0});
  EXPECT_EQ(align_steps(twice, {j(insert(7, "a")), j(insert(8, "a"))}), (std::vector<int>{0, 1}));
}

// receive_applied takes the received steps as another client applied them to
// the confirmed document, and must give exactly what receive_transaction
// gives: the document, the rebased steps and their inverses, which were kept,
// and a mapping that maps every position the same way (mirrors included).
void expect_same_receive(const CollabState& s, const std::vector<StepPtr>& over) {
  Transform applied(confirmed_doc(s));
  for (const auto& step : over) applied.step(step);
  ReceiveResult want =
      receive_transaction(s, over, std::vector<std::string>(over.size(), "other"), "me");
  ReceiveResult got = receive_applied(s, applied);
  EXPECT_TRUE(got.state.doc->eq(*want.state.doc)) << text(got.state.doc);
  EXPECT_EQ(got.state.version, want.state.version);
  EXPECT_EQ(got.kept, want.kept);
  EXPECT_EQ(got.rebased, want.rebased);
  ASSERT_EQ(got.state.unconfirmed.size(), want.state.unconfirmed.size());
  for (size_t i = 0; i < want.state.unconfirmed.size(); ++i) {
    EXPECT_EQ(got.state.unconfirmed[i].step->to_json_string(),
              want.state.unconfirmed[i].step->to_json_string());
    EXPECT_EQ(got.state.unconfirmed[i].inverted->to_json_string(),
              want.state.unconfirmed[i].inverted->to_json_string());
  }
  ASSERT_EQ(got.transform.steps().size(), want.transform.steps().size());
  for (size_t i = 0; i < want.transform.steps().size(); ++i)
    EXPECT_TRUE(got.transform.docs()[i]->eq(*want.transform.docs()[i])) << i;
  // The documents after the received steps are the ones `applied` made, not copies.
  std::vector<model::NodeRef> docs = got.transform.docs(), made = applied.docs();
  docs.push_back(got.transform.doc());
  made.push_back(applied.doc());
  for (size_t j = 1; j <= over.size(); ++j) EXPECT_EQ(docs[s.unconfirmed.size() + j], made[j]) << j;
  int size = static_cast<int>(s.doc->content().size());
  for (int pos = 0; pos <= size; ++pos)
    for (int assoc : {-1, 1})
      EXPECT_EQ(got.transform.mapping().map(pos, assoc), want.transform.mapping().map(pos, assoc))
          << pos << " " << assoc;
}

TEST(ReceiveApplied, RebasesLikeReceiveTransaction) {
  CollabState s = hello_with([](Transform& tr) {
    tr.step(insert(3, "ab"));
    tr.step(insert(5, "c"));  // heabc|llo
  });
  expect_same_receive(s, {insert(1, "X"), insert(7, "YZ")});
  expect_same_receive(s, {insert(3, "Q")});  // at our own position
  EXPECT_EQ(text(confirmed_doc(s)), "hello");
}

TEST(ReceiveApplied, DropsTheStepsThatNoLongerApplyLikeReceiveTransaction) {
  CollabState s = hello_with([](Transform& tr) {
    tr.step(insert(1, "A"));
    tr.step(insert(5, "B"));  // Ahel|Blo: its place is deleted below
  });
  Transform del(confirmed_doc(s));
  del.del(2, 5);  // h|ell|o
  expect_same_receive(s, del.steps());
  ReceiveResult r = receive_applied(s, del);
  EXPECT_EQ(text(r.state.doc), "Aho");
  EXPECT_EQ(r.kept, std::vector<size_t>{0});
}

TEST(ReceiveApplied, WithNothingUnconfirmedIsTheAppliedTransaction) {
  CollabState s = hello_with([](Transform&) {});
  expect_same_receive(s, {insert(6, "!")});
}

// undo takes the documents the steps applied to (no inverse applied); without them it
// applies the inverses, to the same documents.
TEST(Undo, TakesTheDocumentsTheStepsAppliedTo) {
  CollabState s = hello_with([](Transform& tr) {
    tr.step(insert(1, "ab"));
    tr.step(insert(3, "c"));
  });
  Transform known(s.doc);
  undo(s.unconfirmed, known);
  ASSERT_EQ(known.steps().size(), 2u);
  EXPECT_EQ(known.docs()[1], s.unconfirmed[1].before);
  EXPECT_EQ(known.doc(), s.unconfirmed[0].before);
  EXPECT_EQ(confirmed_doc(s), s.unconfirmed[0].before);
  std::vector<Rebaseable> bare = s.unconfirmed;
  for (auto& r : bare) r.before = nullptr;
  Transform applied(s.doc);
  undo(bare, applied);
  EXPECT_NE(applied.doc(), s.unconfirmed[0].before);
  EXPECT_TRUE(applied.doc()->eq(*known.doc()));
  EXPECT_EQ(text(applied.doc()), "hello");
  EXPECT_EQ(applied.mapping().map(4), known.mapping().map(4));
}

// A ReceiveResult (and its Transform) moves: its steps and documents go along, not copies.
TEST(ReceiveResult, MovesItsTransaction) {
  static_assert(std::is_nothrow_move_constructible_v<Transform>);
  CollabState s = hello_with([](Transform& tr) { tr.step(insert(1, "ab")); });
  ReceiveResult r = receive_transaction(s, {insert(6, "!")}, {"other"}, "me");
  const StepPtr* steps = r.transform.steps().data();
  const model::NodeRef* docs = r.transform.docs().data();
  ReceiveResult moved(std::move(r));
  EXPECT_EQ(moved.transform.steps().data(), steps);
  EXPECT_EQ(moved.transform.docs().data(), docs);
}

}  // namespace
}  // namespace rtpm::collab
