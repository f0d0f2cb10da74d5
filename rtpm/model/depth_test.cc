// Tests of the port's guards against hostile input (no upstream equivalent):
// ResolvedPos accessors past the position's depth, and the replace cases
// that crashed the server (a slice opened into a leaf), which fail with a
// TypeError as they do in JavaScript.
#include <string>

#include <gtest/gtest.h>

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"
#include "rtpm/testing/builder.h"

namespace rtpm::model {
namespace {

using testing::blockquote;
using testing::doc;
using testing::p;
using testing::schema;

// ResolvedPos accessors outside the position's depth (upstream reads past
// its path array and the caller fails with a TypeError).

template <typename F>
void expect_type_error(F f) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const TypeError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("Cannot read properties of undefined", 0), 0u)
        << e.what();
  }
}

TEST(ResolvedPosBounds, DepthsPastThePathThrowTypeError) {
  NodeRef d = doc(blockquote(p("ab"))).node();
  ResolvedPos pos = d->resolve(3);  // inside the paragraph, depth 2
  ASSERT_EQ(pos.depth(), 2);
  EXPECT_EQ(pos.node(2).type()->name(), "paragraph");
  EXPECT_EQ(pos.start(3), 3);  // depth + 1: the position itself, as upstream
  EXPECT_EQ(pos.before(3), 3);
  EXPECT_EQ(pos.after(3), 3);
  expect_type_error([&] { pos.node(3); });
  expect_type_error([&] { pos.index(3); });
  expect_type_error([&] { pos.index_after(3); });
  expect_type_error([&] { pos.end(3); });
  expect_type_error([&] { pos.start(4); });
  expect_type_error([&] { pos.before(4); });
  expect_type_error([&] { pos.after(4); });
  expect_type_error([&] { pos.node(-3); });
  expect_type_error([&] { pos.start(-4); });
  expect_type_error([&] { pos.pos_at_index(0, 3); });
  EXPECT_EQ(pos.node(-1).type()->name(), "blockquote");
  try {
    pos.before(0);
    ADD_FAILURE() << "no error";
  } catch (const RangeError& e) {
    EXPECT_STREQ(e.what(), "There is no position before the top-level node");
  }
}

// Issue 10, finding 1: slices opened into a leaf or into text. Upstream's
// replace resolves a position in the prepared slice that lies inside the
// leaf, reads $start.node(depth) past its depth and throws a TypeError in
// checkJoin; the port threw nothing and read outside the path.

TEST(ReplaceOpenedLeaf, TextOpenedAtBothEnds) {
  NodeRef d = doc(p()).node();
  expect_type_error([&] { d->replace(1, 1, Slice(Fragment::from(schema().text("a")), 1, 1)); });
}

TEST(ReplaceOpenedLeaf, LeavesOpenedOverARange) {
  NodeRef d = doc(p("hello")).node();
  for (const char* type : {"hard_break", "horizontal_rule"}) {
    NodeRef leaf = schema().node_type(type)->create();
    expect_type_error([&] { d->replace(1, 3, Slice(Fragment::from(leaf), 1, 1)); });
  }
  json::Object attrs{{"src", "x"}};
  NodeRef image = schema().node_type("image")->create(&attrs);
  expect_type_error([&] { d->replace(1, 3, Slice(Fragment::from(image), 1, 1)); });
  expect_type_error([&] { d->replace(1, 3, Slice(Fragment::from(schema().text("a")), 1, 1)); });
}

TEST(ReplaceOpenedLeaf, NegativeOpenDepths) {
  // Upstream recurses past $from's depth and fails on the missing node.
  NodeRef d = doc(p("hello")).node();
  expect_type_error([&] { d->replace(1, 3, Slice(Fragment::from(p("a").node()), -1, -1)); });
  expect_type_error([&] { d->replace(1, 1, Slice(Fragment(), -1, -1)); });
}

}  // namespace
}  // namespace rtpm::model
