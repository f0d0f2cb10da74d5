// Tests of the port's guards against hostile input (no upstream equivalent):
// the bound on nesting (kMaxDepth) at parse, construction and replace; the
// recursions over a tree of that depth on a 1 MiB stack; ResolvedPos
// accessors past the position's depth; and the replace cases that crashed
// the server (a slice opened into a leaf), which fail with a TypeError as
// they do in JavaScript.
#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <pthread.h>

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

json::Value parse(const std::string& text) {
  Result<json::Value> parsed = json::parse(text);
  if (!parsed) throw std::runtime_error(parsed.error().message);
  return std::move(parsed).value();
}

/// JSON of `levels` blockquotes around a paragraph holding "x": that node is
/// levels + 2 high.
std::string quotes_json(int levels) {
  std::string out;
  for (int i = 0; i < levels; i++) out += R"({"type":"blockquote","content":[)";
  out += R"({"type":"paragraph","content":[{"type":"text","text":"x"}]})";
  for (int i = 0; i < levels; i++) out += "]}";
  return out;
}

/// A document whose height() is `height` (at least 3): doc, blockquotes, a paragraph, text.
std::string doc_json(int height) {
  return R"({"type":"doc","content":[)" + quotes_json(height - 3) + "]}";
}

template <typename F>
void expect_too_deep(F f) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const RangeError& e) {
    EXPECT_EQ(e.what(), max_depth_message());
  }
}

TEST(DepthBound, MessageNamesTheBound) {
  EXPECT_EQ(max_depth_message(), "Nodes nested deeper than 256 levels are not supported");
}

TEST(DepthBound, HeightCountsTheLongestPath) {
  EXPECT_EQ(schema().text("x")->height(), 1);
  EXPECT_EQ(p().node()->height(), 1);
  EXPECT_EQ(p("x").node()->height(), 2);
  EXPECT_EQ(doc(p("x"), blockquote(blockquote(p())), p()).node()->height(), 4);
}

TEST(DepthBound, FromJsonAcceptsKMaxDepth) {
  NodeRef node = Node::from_json(schema(), parse(doc_json(kMaxDepth)));
  EXPECT_EQ(node->height(), kMaxDepth);
  EXPECT_EQ(node->to_json_string(), json::stringify(parse(doc_json(kMaxDepth))));
}

TEST(DepthBound, FromJsonRefusesDeeperNodes) {
  expect_too_deep([] { Node::from_json(schema(), parse(doc_json(kMaxDepth + 1))); });
  // Issue 10's message nested 490 blockquotes per step (JSON about 980 levels deep).
  expect_too_deep([] { Node::from_json(schema(), parse(doc_json(493))); });
  // The bound holds per thread: a refused parse leaves the count at zero.
  EXPECT_EQ(Node::from_json(schema(), parse(doc_json(kMaxDepth)))->height(), kMaxDepth);
}

TEST(DepthBound, SliceFromJsonRefusesDeeperNodes) {
  // A slice's nodes are bounded like documents: kMaxDepth levels from each top node.
  Slice ok = Slice::from_json(
      schema(), parse(R"({"content":[)" + quotes_json(kMaxDepth - 2) + R"(],"openStart":1})"));
  EXPECT_EQ(ok.content().first_child()->height(), kMaxDepth);
  expect_too_deep([] {
    Slice::from_json(schema(), parse(R"({"content":[)" + quotes_json(kMaxDepth - 1) + "]}"));
  });
}

TEST(DepthBound, CreateRefusesDeeperNodes) {
  NodeRef inner = Node::from_json(schema(), parse(quotes_json(kMaxDepth - 2)));
  ASSERT_EQ(inner->height(), kMaxDepth);
  const NodeType* quote = schema().node_type("blockquote");
  expect_too_deep([&] { quote->create(nullptr, Fragment::from(inner)); });
  expect_too_deep([&] { quote->create_checked(nullptr, Fragment::from(inner)); });
  expect_too_deep([&] { inner->copy(Fragment::from(inner)); });
}

TEST(DepthBound, ReplaceThatWouldNestDeeperThrows) {
  // A document of kMaxDepth - 1 levels takes one more blockquote around its
  // deepest paragraph, but not two.
  NodeRef d = Node::from_json(schema(), parse(doc_json(kMaxDepth - 1)));
  int inner = kMaxDepth - 4;  // the position before the innermost paragraph
  ASSERT_EQ(d->resolve(inner).node_after()->type()->name(), "paragraph");
  Slice one = Slice::from_json(schema(), parse(R"({"content":[)" + quotes_json(0) + "]}"));
  Slice wrapped = Slice::from_json(schema(), parse(R"({"content":[)" + quotes_json(1) + "]}"));
  Slice twice = Slice::from_json(schema(), parse(R"({"content":[)" + quotes_json(2) + "]}"));
  EXPECT_EQ(d->replace(inner, inner + one.size(), one)->height(), kMaxDepth - 1);
  EXPECT_EQ(d->replace(inner, inner + one.size(), wrapped)->height(), kMaxDepth);
  expect_too_deep([&] { d->replace(inner, inner + one.size(), twice); });
}

// The stack of on_small_stack: 1 MiB, or 2 MiB under AddressSanitizer,
// whose redzones make every frame larger. Measured for this test (the
// smallest stack it passes on): about 0.25 MiB in the release build, 0.6 MiB
// in the debug build, 1.4 MiB under ASan.
#if defined(__SANITIZE_ADDRESS__)
#define RTPM_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RTPM_TEST_ASAN 1
#endif
#endif
#ifdef RTPM_TEST_ASAN
constexpr size_t kSmallStack = 2 << 20;
#else
constexpr size_t kSmallStack = 1 << 20;
#endif

/// Runs `f` on a new thread whose stack is kSmallStack.
void on_small_stack(const std::function<void()>& f) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, kSmallStack), 0);
  pthread_t thread;
  auto run = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, run, const_cast<std::function<void()>*>(&f)), 0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  pthread_attr_destroy(&attr);
}

TEST(DepthBound, RecursionsAtKMaxDepthFitA1MiBStack) {
  // Every recursion over a tree, at the deepest nesting the model allows, on
  // a thread with a 1 MiB stack (2 MiB under ASan; a crash here means
  // kMaxDepth is too large for the stack the recursions need, or a recursion
  // grew); the answers must equal those computed on the main thread.
  std::string text = doc_json(kMaxDepth);
  auto summary = [&] {
    NodeRef d = Node::from_json(schema(), parse(text));
    NodeRef copy = Node::from_json(schema(), d->to_json());
    d->check();
    int deepest = kMaxDepth - 2;  // inside the innermost paragraph, before "x"
    ResolvedPos pos = d->resolve(deepest);
    NodeRef inserted =
        d->replace(deepest, deepest, Slice(Fragment::from(schema().text("y")), 0, 0));
    NodeRef joined = d->replace(deepest - 1, deepest + 2, d->slice(deepest - 1, deepest + 2));
    NodeRef cut = d->cut(1, d->content().size() - 1);
    Slice slice = d->slice(deepest, d->content().size());
    int nodes = 0;
    d->descendants([&](const NodeRef&, int, const Node*, int) { return ++nodes > 0; });
    return std::to_string(pos.depth()) + (d->eq(*copy) ? " eq " : " ne ") +
           json::to_wtf8(inserted->text_content()) + " " + std::to_string(joined->height()) + " " +
           std::to_string(cut->height()) + " " + std::to_string(slice.open_start()) + " " +
           std::to_string(nodes) + " " + d->to_string() + " " + d->to_json_string();
  };
  std::string small;
  on_small_stack([&] {
    try {
      small = summary();
    } catch (const std::exception& e) {
      small = e.what();
    }
  });
  std::string main = summary();
  EXPECT_EQ(small, main);
  EXPECT_EQ(main.substr(0, 23), "254 eq yx 256 256 254 2");
}

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
