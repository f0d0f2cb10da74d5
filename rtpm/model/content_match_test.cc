// Tests of the content expression automaton (content.ts): every vector of
// ../shared/conformance/contentexpr.jsonl, one TEST_P case per vector, plus
// small cases for the parts the vectors do not show (toString, edge()).
#include "rtpm/model/content_match.h"

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "rtpm/json/json.h"
#include "rtpm/model/schema.h"

namespace rtpm::model {
namespace {

const std::string kVectors = std::string(RTPM_SHARED_DIR) + "/conformance/contentexpr.jsonl";

std::vector<json::Value> load_vectors() {
  std::vector<json::Value> out;
  std::ifstream in(kVectors, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Result<json::Value> parsed = json::parse(line);
    if (!parsed) throw std::runtime_error("bad vector line: " + parsed.error().message);
    out.push_back(std::move(*parsed));
  }
  return out;
}

const std::vector<json::Value>& vectors() {
  static const std::vector<json::Value> all = load_vectors();
  return all;
}

std::string str(const json::Value& v) { return json::stringify(v); }

/// `{validEnd, defaultType, edges, inlineContent}` of a match, as the vectors record it.
json::Value match_info(const ContentMatch& m) {
  json::Array edges;
  for (int i = 0; i < m.edge_count(); i++) edges.emplace_back(m.edge(i).type->name());
  const NodeType* def = m.default_type();
  return json::Value(json::Object{
      {"validEnd", m.valid_end()},
      {"defaultType", def ? json::Value(def->name()) : json::Value()},
      {"edges", json::Value(std::move(edges))},
      {"inlineContent", m.inline_content()},
  });
}

std::string node_json(const NodeRef& node) { return node ? node->to_json_string() : "null"; }

std::string fragment_json(const std::optional<Fragment>& frag) {
  if (!frag) return "null";
  std::string out = "[";
  for (int i = 0; i < frag->child_count(); i++) {
    if (i) out += ",";
    out += frag->child(i)->to_json_string();
  }
  return out + "]";
}

/// Nodes named by `names` as the generator built them: createAndFill(), text "x";
/// Fragment.from joins adjacent text nodes.
Fragment build_nodes(const Schema& schema, const json::Value& names) {
  std::vector<NodeRef> nodes;
  for (const json::Value& name : names.as_array()) {
    const NodeType* type = schema.node_type(name.as_string());
    nodes.push_back(type->is_text() ? schema.text("x") : type->create_and_fill());
  }
  return Fragment::from_array(std::move(nodes));
}

/// Runs one vector; returns the differences, one per line (empty when it passes).
std::string run_vector(const json::Value& v) {
  std::string diffs;
  auto differ = [&](const std::string& what, const std::string& got, const std::string& want) {
    if (got != want)
      diffs += "  " + what + ":\n    got      " + got + "\n    expected " + want + "\n";
  };

  const json::Value* schema_error = v.find("schemaError");
  std::shared_ptr<const Schema> schema;
  try {
    schema = Schema::from_json(*v.find("schemaSpec"));
  } catch (const JsError& e) {
    if (!schema_error) return "  schema: threw " + std::string(e.name()) + ": " + e.what() + "\n";
    differ("schemaError", e.what(), schema_error->as_string());
    return diffs;
  }
  if (schema_error) return "  schema: built, expected error " + schema_error->as_string() + "\n";

  const NodeType* probe = schema->node_type(v.find("type")->as_string());
  const ContentMatch& start = probe->content_match();

  differ("createAndFill", node_json(probe->create_and_fill()), str(*v.find("createAndFill")));
  differ("start", str(match_info(start)), str(*v.find("start")));

  const json::Array& sequences = v.find("sequences")->as_array();
  for (size_t i = 0; i < sequences.size(); i++) {
    const json::Value& seq = sequences[i];
    std::string at = "sequences[" + std::to_string(i) + "] " + str(*seq.find("types"));
    const json::Array& types = seq.find("types")->as_array();
    const ContentMatch* cur = &start;
    int matched = 0;
    for (const json::Value& name : types) {
      const ContentMatch* next = cur->match_type(schema->node_type(name.as_string()));
      if (!next) break;
      cur = next;
      matched++;
    }
    bool all = matched == static_cast<int>(types.size());
    differ(at + " matched", std::to_string(matched), str(*seq.find("matched")));
    differ(at + " validEnd", all && cur->valid_end() ? "true" : "false",
           str(*seq.find("validEnd")));
    const json::Value* state = seq.find("state");
    differ(at + " state", all ? str(match_info(*cur)) : "absent", state ? str(*state) : "absent");

    Fragment frag = build_nodes(*schema, *seq.find("types"));
    const ContentMatch* fragment_match = start.match_fragment(frag);
    differ(at + " matchFragment",
           fragment_match
               ? str(json::Value(json::Object{{"validEnd", fragment_match->valid_end()}}))
               : "null",
           str(*seq.find("matchFragment")));
    differ(at + " validContent", probe->valid_content(frag) ? "true" : "false",
           str(*seq.find("validContent")));
  }

  const json::Array& fills = v.find("fills")->as_array();
  for (size_t i = 0; i < fills.size(); i++) {
    const json::Value& fill = fills[i];
    bool to_end = fill.find("toEnd")->as_bool();
    std::string at = "fills[" + std::to_string(i) + "] " + str(*fill.find("before")) + " + " +
                     str(*fill.find("after")) + (to_end ? " toEnd" : "");
    Fragment after = build_nodes(*schema, *fill.find("after"));
    differ(at + " afterNodes", fragment_json(after), str(*fill.find("afterNodes")));
    const ContentMatch* match = start.match_fragment(build_nodes(*schema, *fill.find("before")));
    std::optional<Fragment> result;
    if (match) result = match->fill_before(after, to_end);
    differ(at + " result", fragment_json(result), str(*fill.find("result")));
  }

  const json::Array& wrappings = v.find("wrappings")->as_array();
  for (size_t i = 0; i < wrappings.size(); i++) {
    const json::Value& wrapping = wrappings[i];
    const std::string& target = wrapping.find("target")->as_string();
    std::optional<std::vector<const NodeType*>> found =
        start.find_wrapping(schema->node_type(target));
    std::string got = "null";
    if (found) {
      json::Array names;
      for (const NodeType* type : *found) names.emplace_back(type->name());
      got = str(json::Value(std::move(names)));
    }
    differ("wrappings[" + std::to_string(i) + "] " + target, got, str(*wrapping.find("result")));
    // A second call answers from the cache, with the same result.
    std::optional<std::vector<const NodeType*>> again =
        start.find_wrapping(schema->node_type(target));
    if (again != found) diffs += "  wrappings[" + std::to_string(i) + "]: cached result differs\n";
  }
  return diffs;
}

class ContentExprVector : public ::testing::TestWithParam<size_t> {};

TEST_P(ContentExprVector, MatchesJavaScript) {
  const json::Value& v = vectors()[GetParam()];
  std::string diffs;
  try {
    diffs = run_vector(v);
  } catch (const std::exception& e) {
    diffs = std::string("  threw: ") + e.what() + "\n";
  }
  EXPECT_TRUE(diffs.empty()) << v.find("id")->as_string() << " (expr '"
                             << v.find("expr")->as_string() << "'):\n"
                             << diffs;
}

std::vector<size_t> vector_indices() {
  std::vector<size_t> out;
  for (size_t i = 0; i < vectors().size(); i++) out.push_back(i);
  return out;
}

std::string vector_name(const ::testing::TestParamInfo<size_t>& info) {
  std::string name = vectors()[info.param].find("id")->as_string();
  for (char& c : name) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Conformance, ContentExprVector, ::testing::ValuesIn(vector_indices()),
                         vector_name);

TEST(ContentExprVectors, AllPresent) {
  // A missing or truncated file would otherwise silently run zero cases.
  EXPECT_EQ(vectors().size(), 220u) << kVectors;
}

// Small cases beyond the vectors.

std::shared_ptr<const Schema> schema_with(const std::string& probe_content) {
  std::string text = R"({"nodes": [["doc", {"content": "block+"}],
    ["paragraph", {"content": "inline*", "group": "block"}],
    ["heading", {"content": "inline*", "group": "block", "attrs": {"level": {"default": 1}}}],
    ["blockquote", {"content": "block+", "group": "block"}],
    ["text", {"group": "inline"}],
    ["image", {"inline": true, "group": "inline"}],
    ["probe", {"content": ")" +
                     probe_content + R"("}]]})";
  Result<json::Value> spec = json::parse(text);
  EXPECT_TRUE(spec.ok());
  return Schema::from_json(*spec);
}

TEST(ContentMatchToString, DescribesTheAutomaton) {
  auto schema = schema_with("paragraph heading* blockquote?");
  EXPECT_EQ(schema->node_type("probe")->content_match().to_string(),
            "0  paragraph->1\n1* blockquote->2, heading->1\n2* ");
}

TEST(ContentMatchEdge, ThrowsPastTheLastEdge) {
  auto schema = schema_with("paragraph | heading");
  const ContentMatch& start = schema->node_type("probe")->content_match();
  EXPECT_EQ(start.edge_count(), 2);
  EXPECT_EQ(start.edge(1).type->name(), "heading");
  try {
    start.edge(2);
    FAIL() << "no error";
  } catch (const RangeError& e) {
    EXPECT_STREQ(e.what(), "There's no 2th edge in this content match");
  }
}

TEST(ContentMatchParse, SharesStatesOfEqualExpressions) {
  // contentExprCache: paragraph and heading both say "inline*".
  auto schema = schema_with("block+");
  EXPECT_EQ(&schema->node_type("paragraph")->content_match(),
            &schema->node_type("heading")->content_match());
  EXPECT_EQ(&schema->node_type("doc")->content_match(),
            &schema->node_type("probe")->content_match());
  EXPECT_EQ(&schema->node_type("text")->content_match(), &ContentMatch::empty());
  EXPECT_TRUE(schema->node_type("image")->is_leaf());
}

TEST(ContentMatchParse, RangesAndWhitespace) {
  auto schema = schema_with("  paragraph{2,3}   heading{1,}  ");
  const ContentMatch* m = &schema->node_type("probe")->content_match();
  const NodeType* para = schema->node_type("paragraph");
  const NodeType* heading = schema->node_type("heading");
  m = m->match_type(para);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->match_type(heading), nullptr);
  m = m->match_type(para);
  ASSERT_NE(m, nullptr);
  EXPECT_FALSE(m->valid_end());
  const ContentMatch* third = m->match_type(para);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->match_type(para), nullptr);
  m = m->match_type(heading);
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->valid_end());
  EXPECT_EQ(m->match_type(heading), m);
}

TEST(ContentMatchParse, ReportsSyntaxErrors) {
  auto expect_error = [](const std::string& expr, const std::string& message) {
    try {
      schema_with(expr);
      ADD_FAILURE() << expr << ": no error";
    } catch (const SyntaxError& e) {
      EXPECT_EQ(e.what(), message + " (in content expression '" + expr + "')");
    }
  };
  expect_error("paragraph{2", "Unclosed braced range");
  expect_error("paragraph{", "Expected number, got 'undefined'");
  expect_error("paragraph image", "Mixing inline and block content");
  expect_error("paragraph é", "Unexpected token 'é'");
  expect_error("()", "Unexpected token ')'");
}

// Port note cases: the bounds on what a content expression may ask for
// (content_match.cc, kMaxExprNesting, kMaxNfaStates, kMaxDfaStates).
void expect_too_large(const std::string& expr, const std::string& message) {
  try {
    schema_with(expr);
    ADD_FAILURE() << expr.substr(0, 40) << ": no error";
  } catch (const SyntaxError& e) {
    EXPECT_EQ(e.what(), message + " (in content expression '" + expr + "')");
  }
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; i++) out += s;
  return out;
}

TEST(ContentMatchBounds, NestingUpTo64Levels) {
  EXPECT_NO_THROW(schema_with(repeat("(", 64) + "paragraph" + repeat(")", 64)));
  expect_too_large(repeat("(", 65) + "paragraph" + repeat(")", 65), "Expression nested too deeply");
  // Operators nest as deeply as parentheses do: paragraph*** is star(star(star(paragraph))).
  EXPECT_NO_THROW(schema_with("paragraph" + repeat("*", 63)));
  expect_too_large("paragraph" + repeat("*", 64), "Expression nested too deeply");
  expect_too_large("paragraph" + repeat("?", 5000), "Expression nested too deeply");
  expect_too_large(repeat("(", 3000) + "paragraph" + repeat(")", 3000),
                   "Expression nested too deeply");
}

TEST(ContentMatchBounds, AutomatonOfAtMost256States) {
  // paragraph{n} has n + 2 NFA states.
  auto schema = schema_with("paragraph{254}");
  const ContentMatch* m = &schema->node_type("probe")->content_match();
  const NodeType* para = schema->node_type("paragraph");
  for (int i = 0; i < 254; i++) {
    ASSERT_FALSE(m->valid_end()) << i;
    m = m->match_type(para);
    ASSERT_NE(m, nullptr) << i;
  }
  EXPECT_TRUE(m->valid_end());
  EXPECT_EQ(m->match_type(para), nullptr);
  for (const char* expr : {"paragraph{255}", "paragraph{0,5000}", "paragraph{2147483647}",
                           "paragraph{99999999999}", "(paragraph{20}){20}", "paragraph{5,}{1000}"})
    expect_too_large(expr, "Expression too large");
  expect_too_large(repeat("paragraph? ", 300), "Expression too large");
  // A small NFA whose DFA has 2^9 states: the 9th paragraph or heading from the end.
  expect_too_large("(paragraph | heading)* paragraph (paragraph | heading){8}",
                   "Expression too large");
  EXPECT_NO_THROW(schema_with("(paragraph | heading)* paragraph (paragraph | heading){6}"));
}

TEST(ContentMatchBounds, CyclicRequiredContentFailsToFill) {
  // a needs a b, b needs an a: createAndFill recurses without end (JavaScript:
  // "Maximum call stack size exceeded"); the port stops at kMaxDepth levels.
  Result<json::Value> spec = json::parse(R"({"nodes": [["doc", {"content": "a"}],
    ["a", {"content": "b"}], ["b", {"content": "a"}], ["text", {}]]})");
  ASSERT_TRUE(spec.ok());
  auto schema = Schema::from_json(*spec);
  try {
    schema->top_node_type()->create_and_fill();
    FAIL() << "no error";
  } catch (const RangeError& e) {
    EXPECT_STREQ(e.what(), "Maximum call stack size exceeded");
  }
}

TEST(ContentMatchCompatible, SharesAnEdgeType) {
  auto schema = schema_with("heading");
  EXPECT_TRUE(schema->node_type("probe")->compatible_content(*schema->node_type("doc")));
  EXPECT_FALSE(schema->node_type("probe")->compatible_content(*schema->node_type("paragraph")));
  EXPECT_TRUE(schema->node_type("text")->compatible_content(*schema->node_type("text")));
}

TEST(ContentMatchFindWrapping, SharedBetweenThreads) {
  // The wrapping cache is the only mutable state of a schema; threads that
  // fill it at the same time must all get the single-threaded answers.
  std::ifstream in(std::string(RTPM_SHARED_DIR) + "/conformance/schemas/basic.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Result<json::Value> spec = json::parse(text);
  ASSERT_TRUE(spec.ok());
  auto describe = [](const Schema& schema) {
    std::string out;
    for (const auto& from : schema.node_types()) {
      for (const auto& target : schema.node_types()) {
        auto found = from->content_match().find_wrapping(target.get());
        out += found ? std::to_string(found->size()) : "-";
        if (found) {
          for (const NodeType* type : *found) out += type->name() + ",";
        }
        out += ";";
      }
    }
    return out;
  };
  std::string expected = describe(*Schema::from_json(*spec));
  EXPECT_NE(expected.find("1list_item,"), std::string::npos);  // bullet_list wraps paragraphs
  auto shared = Schema::from_json(*spec);
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); i++)
    threads.emplace_back([&, i] { results[i] = describe(*shared); });
  for (std::thread& t : threads) t.join();
  for (const std::string& r : results) EXPECT_EQ(r, expected);
}

}  // namespace
}  // namespace rtpm::model
