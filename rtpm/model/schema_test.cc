// Tests of the schema port (schema.ts): every conformance schema builds, a
// malformed spec names the bad field, upstream's own errors keep their text,
// and mark sets, exclusions and attribute validation behave as in JavaScript.
#include "rtpm/model/schema.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "rtpm/json/json.h"

namespace rtpm::model {
namespace {

const std::string kSchemaDir = std::string(RTPM_SHARED_DIR) + "/conformance/schemas";

json::Value parse_or_die(const std::string& text) {
  Result<json::Value> v = json::parse(text);
  if (!v) throw std::runtime_error("bad JSON in test: " + v.error().message + "\n" + text);
  return *v;
}

json::Value read_schema_file(const std::string& name) {
  std::ifstream in(kSchemaDir + "/" + name + ".json", std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_or_die(buf.str());
}

std::shared_ptr<const Schema> load(const std::string& name) {
  return Schema::from_json(read_schema_file(name));
}

std::vector<std::string> names(const std::vector<const MarkType*>& types) {
  std::vector<std::string> out;
  for (const MarkType* type : types) out.push_back(type->name());
  return out;
}

std::vector<std::string> excluded_names(const Schema& schema, const MarkType* type) {
  std::vector<std::string> out;
  for (const auto& other : schema.mark_types()) {
    if (type->excludes(other.get())) out.push_back(other->name());
  }
  return out;
}

/// The message of the error `f` throws, prefixed with its class name; "no error" otherwise.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const JsError& e) {
    return std::string(e.name()) + ": " + e.what();
  }
  return "no error";
}

std::string build_error(const std::string& spec) {
  return error_of([&] { Schema::from_json(parse_or_die(spec)); });
}

// A minimal valid node list to extend in the error cases.
const std::string kDocText = R"(["doc", {"content": "text*"}], ["text", {}])";

TEST(SchemaFromJson, BuildsEveryConformanceSchema) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSchemaDir)) {
    if (entry.path().extension() != ".json") continue;
    std::string name = entry.path().stem().string();
    SCOPED_TRACE(name);
    json::Value spec = read_schema_file(name);
    std::shared_ptr<const Schema> schema;
    ASSERT_NO_THROW(schema = Schema::from_json(spec));
    count++;
    EXPECT_EQ(schema->node_types().size(), spec.find("nodes")->as_array().size());
    EXPECT_EQ(schema->mark_types().size(), spec.find("marks")->as_array().size());
    ASSERT_NE(schema->top_node_type(), nullptr);
    EXPECT_EQ(schema->top_node_type()->name(), spec.find("topNode")->as_string());
    EXPECT_TRUE(schema->text_type()->is_text());
    for (size_t i = 0; i < schema->mark_types().size(); i++)
      EXPECT_EQ(schema->mark_types()[i]->rank(), static_cast<int>(i));
    // Every type can be filled with default content unless it has required attrs.
    for (const auto& type : schema->node_types()) {
      if (type->is_text() || type->has_required_attrs()) continue;
      EXPECT_TRUE(type->create_and_fill()) << type->name();
    }
  }
  EXPECT_EQ(count, 16);
}

TEST(SchemaFromJson, KeepsTheSpecAndExtraFields) {
  auto schema = Schema::from_json(parse_or_die(
      R"({"nodes": [["doc", {"content": "text*", "toolbar": {"icon": "d"}}], ["text", {}]]})"));
  const json::Value* extra = schema->node_type("doc")->spec().find("toolbar");
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(json::stringify(*extra), R"({"icon":"d"})");
  EXPECT_EQ(schema->top_node_type()->name(), "doc");
  EXPECT_TRUE(schema->mark_types().empty());
}

TEST(SchemaFromJson, NamesTheMalformedField) {
  const std::string prefix = R"({"nodes": [)" + kDocText;
  EXPECT_EQ(build_error(R"([])"), "RangeError: schema spec must be an object");
  EXPECT_EQ(build_error(R"({})"),
            "RangeError: schema spec: nodes must be an array of [name, spec] pairs");
  EXPECT_EQ(build_error(R"({"nodes": {"doc": {}}})"),
            "RangeError: schema spec: nodes must be an array of [name, spec] pairs");
  EXPECT_EQ(build_error(R"({"topNode": 1, "nodes": []})"),
            "RangeError: schema spec: topNode must be a string");
  EXPECT_EQ(build_error(prefix + R"(, ["p"]]})"),
            "RangeError: schema spec: nodes[2] must be a [name, spec] pair");
  EXPECT_EQ(build_error(prefix + R"(, [3, {}]]})"),
            "RangeError: schema spec: nodes[2][0] must be a string");
  EXPECT_EQ(build_error(prefix + R"(, ["p", "x"]]})"),
            "RangeError: schema spec: nodes[2][1] must be an object");
  EXPECT_EQ(build_error(prefix + R"(, ["p", {"content": 5}]]})"),
            "RangeError: schema spec: nodes[2][1].content must be a string");
  EXPECT_EQ(build_error(prefix + R"(, ["p", {"inline": "yes"}]]})"),
            "RangeError: schema spec: nodes[2][1].inline must be a boolean");
  EXPECT_EQ(build_error(prefix + R"(, ["p", {"group": ["a"]}]]})"),
            "RangeError: schema spec: nodes[2][1].group must be a string");
  EXPECT_EQ(build_error(prefix + R"(, ["p", {"whitespace": "keep"}]]})"),
            "RangeError: schema spec: nodes[2][1].whitespace must be \"pre\" or \"normal\"");
  EXPECT_EQ(build_error(prefix + R"(, ["p", {"attrs": []}]]})"),
            "RangeError: schema spec: nodes[2][1].attrs must be an object");
  EXPECT_EQ(build_error(prefix + R"(, ["p", {"attrs": {"level": 1}}]]})"),
            "RangeError: schema spec: nodes[2][1].attrs.level must be an object");
  EXPECT_EQ(build_error(prefix + R"(, ["p", {"attrs": {"level": {"validate": true}}}]]})"),
            "RangeError: schema spec: nodes[2][1].attrs.level.validate must be a string");
  EXPECT_EQ(build_error(prefix + R"(, ["doc", {}]]})"),
            "RangeError: schema spec: nodes[2][0] repeats the name 'doc'");
  EXPECT_EQ(build_error(prefix + R"(], "marks": [["em", {"inclusive": 0}]]})"),
            "RangeError: schema spec: marks[0][1].inclusive must be a boolean");
  EXPECT_EQ(build_error(prefix + R"(], "marks": [["em", {"excludes": null}], ["em", {}]]})"),
            "RangeError: schema spec: marks[1][0] repeats the name 'em'");
  EXPECT_EQ(build_error(prefix + R"(], "marks": "em"})"),
            "RangeError: schema spec: marks must be an array of [name, spec] pairs");
}

TEST(SchemaFromJson, ThrowsUpstreamErrors) {
  EXPECT_EQ(build_error(R"({"nodes": [["text", {}]]})"),
            "RangeError: Schema is missing its top node type ('doc')");
  EXPECT_EQ(build_error(R"({"topNode": "page", "nodes": [["doc", {}], ["text", {}]]})"),
            "RangeError: Schema is missing its top node type ('page')");
  EXPECT_EQ(build_error(R"({"nodes": [["doc", {}]]})"),
            "RangeError: Every schema needs a 'text' type");
  EXPECT_EQ(build_error(R"({"nodes": [["doc", {}], ["text", {"attrs": {"a": {}}}]]})"),
            "RangeError: The text node type should not have attributes");
  EXPECT_EQ(build_error(R"({"nodes": [)" + kDocText + R"(, ["em", {}]], "marks": [["em", {}]]})"),
            "RangeError: em can not be both a node and a mark");
  EXPECT_EQ(
      build_error(R"({"nodes": [["doc", {"content": "inline*"}], ["text", {"group": "inline"}],
      ["br", {"inline": true, "group": "inline", "linebreakReplacement": true}],
      ["br2", {"inline": true, "group": "inline", "linebreakReplacement": true}]]})"),
      "RangeError: Multiple linebreak nodes defined");
  EXPECT_EQ(
      build_error(R"({"nodes": [)" + kDocText + R"(, ["br", {"linebreakReplacement": true}]]})"),
      "RangeError: Linebreak replacement nodes must be inline leaf nodes");
  EXPECT_EQ(
      build_error(
          R"({"nodes": [)" + kDocText +
          R"(, ["br", {"inline": true, "content": "text*", "linebreakReplacement": true}]]})"),
      "RangeError: Linebreak replacement nodes must be inline leaf nodes");
  EXPECT_EQ(
      build_error(R"({"nodes": [["doc", {"content": "text*", "marks": "em bold"}], ["text", {}]],
      "marks": [["em", {}]]})"),
      "SyntaxError: Unknown mark type: 'bold'");
  EXPECT_EQ(
      build_error(R"({"nodes": [)" + kDocText + R"(], "marks": [["em", {"excludes": "x"}]]})"),
      "SyntaxError: Unknown mark type: 'x'");
  EXPECT_EQ(build_error(R"({"nodes": [["doc", {"content": "para"}], ["text", {}]]})"),
            "SyntaxError: No node type or group 'para' found (in content expression 'para')");
}

TEST(SchemaMarkSet, DefaultsAndExpressions) {
  auto schema = load("extended");
  // "_": all marks.
  EXPECT_FALSE(schema->node_type("doc")->mark_set().has_value());
  // Inline content and no `marks`: all marks.
  EXPECT_FALSE(schema->node_type("paragraph")->mark_set().has_value());
  // "": none.
  ASSERT_TRUE(schema->node_type("code_block")->mark_set().has_value());
  EXPECT_TRUE(schema->node_type("code_block")->mark_set()->empty());
  // Block content and no `marks`: none.
  ASSERT_TRUE(schema->node_type("blockquote")->mark_set().has_value());
  EXPECT_TRUE(schema->node_type("blockquote")->mark_set()->empty());
  // Names.
  ASSERT_TRUE(schema->node_type("caption")->mark_set().has_value());
  EXPECT_EQ(names(*schema->node_type("caption")->mark_set()), std::vector<std::string>{"em"});

  const MarkType* em = schema->find_mark_type("em");
  const MarkType* strong = schema->find_mark_type("strong");
  EXPECT_TRUE(schema->node_type("caption")->allows_mark_type(em));
  EXPECT_FALSE(schema->node_type("caption")->allows_mark_type(strong));
  EXPECT_TRUE(schema->node_type("paragraph")->allows_mark_type(strong));
  MarkSet set = {schema->mark("em"), schema->mark("strong")};
  EXPECT_FALSE(schema->node_type("caption")->allows_marks(set));
  EXPECT_TRUE(schema->node_type("paragraph")->allows_marks(set));
  MarkSet allowed = schema->node_type("caption")->allowed_marks(set);
  ASSERT_EQ(allowed.size(), 1u);
  EXPECT_EQ(allowed[0].type(), em);
  EXPECT_TRUE(schema->node_type("code_block")->allowed_marks(set).empty());
  EXPECT_EQ(schema->node_type("paragraph")->allowed_marks(set).size(), 2u);
}

TEST(SchemaMarkSet, GroupsAndAll) {
  auto schema = Schema::from_json(parse_or_die(R"({"nodes": [
      ["doc", {"content": "block+"}],
      ["p", {"content": "text*", "group": "block", "marks": "font link"}],
      ["all", {"content": "text*", "group": "block", "marks": "_"}],
      ["text", {}]],
    "marks": [["link", {}], ["em", {"group": "font"}], ["strong", {"group": "font style"}],
              ["code", {"group": "style", "excludes": "font _"}],
              ["note", {"excludes": "style"}], ["free", {"excludes": ""}]]})"));
  EXPECT_EQ(names(*schema->node_type("p")->mark_set()),
            (std::vector<std::string>{"em", "strong", "link"}));
  EXPECT_FALSE(schema->node_type("all")->mark_set().has_value());
  // Default: only itself; "": nothing; groups and "_" through gatherMarks.
  EXPECT_EQ(excluded_names(*schema, schema->find_mark_type("link")),
            std::vector<std::string>{"link"});
  EXPECT_TRUE(excluded_names(*schema, schema->find_mark_type("free")).empty());
  EXPECT_EQ(excluded_names(*schema, schema->find_mark_type("note")),
            (std::vector<std::string>{"strong", "code"}));
  EXPECT_EQ(excluded_names(*schema, schema->find_mark_type("code")).size(), 6u);
  EXPECT_EQ(schema->find_mark_type("strong")->groups(),
            (std::vector<std::string>{"font", "style"}));
}

TEST(SchemaMarkType, ExclusionInConformanceSchema) {
  auto schema = load("extended");
  const MarkType* comment = schema->find_mark_type("comment");
  const MarkType* code = schema->find_mark_type("code");
  const MarkType* link = schema->find_mark_type("link");
  EXPECT_TRUE(excluded_names(*schema, comment).empty());
  EXPECT_EQ(excluded_names(*schema, code).size(), schema->mark_types().size());
  EXPECT_EQ(excluded_names(*schema, link), std::vector<std::string>{"link"});
  EXPECT_FALSE(link->inclusive());
  EXPECT_TRUE(code->inclusive());
  EXPECT_TRUE(code->code());
  EXPECT_FALSE(schema->find_mark_type("highlight")->spanning());
  EXPECT_TRUE(link->spanning());

  // Two comments with different ids coexist; a second link replaces the first.
  AttrMap c1{{"id", 1}}, c2{{"id", 2}};
  MarkSet set = schema->mark("comment", &c1).add_to_set({});
  set = schema->mark("comment", &c2).add_to_set(set);
  EXPECT_EQ(set.size(), 2u);
  AttrMap h1{{"href", "a"}}, h2{{"href", "b"}};
  MarkSet links = schema->mark("link", &h2).add_to_set(schema->mark("link", &h1).add_to_set({}));
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].attrs().get("href")->as_string(), "b");

  EXPECT_EQ(link->remove_from_set(links).size(), 0u);
  EXPECT_EQ(link->is_in_set(links), &links[0]);
  EXPECT_EQ(code->is_in_set(links), nullptr);
}

TEST(SchemaNodeType, FlagsAndGroups) {
  auto schema = load("extended");
  const NodeType* code_block = schema->node_type("code_block");
  EXPECT_EQ(code_block->whitespace(), "pre");
  EXPECT_TRUE(code_block->code());
  EXPECT_TRUE(code_block->defining());
  EXPECT_TRUE(code_block->is_textblock());
  EXPECT_EQ(schema->node_type("paragraph")->whitespace(), "normal");
  EXPECT_TRUE(schema->node_type("callout")->isolating());
  EXPECT_TRUE(schema->node_type("mention")->is_atom());
  EXPECT_TRUE(schema->node_type("mention")->is_leaf());
  EXPECT_TRUE(schema->node_type("mention")->is_inline());
  EXPECT_TRUE(schema->node_type("mention")->has_required_attrs());
  EXPECT_FALSE(schema->node_type("blockquote")->is_atom());
  EXPECT_TRUE(schema->node_type("bullet_list")->is_in_group("list"));
  EXPECT_TRUE(schema->node_type("bullet_list")->is_in_group("block"));
  EXPECT_FALSE(schema->node_type("bullet_list")->is_in_group("inline"));
  EXPECT_EQ(schema->linebreak_replacement(), schema->node_type("hard_break"));
  EXPECT_TRUE(schema->node_type("paragraph")->inline_content());
  EXPECT_FALSE(schema->node_type("doc")->inline_content());
  EXPECT_EQ(schema->find_node_type("nope"), nullptr);
  EXPECT_EQ(error_of([&] { schema->node_type("nope"); }), "RangeError: Unknown node type: nope");
}

TEST(SchemaAttrs, DefaultsAndRequiredValues) {
  auto schema = load("extended");
  const NodeType* heading = schema->node_type("heading");
  ASSERT_TRUE(heading->default_attrs().has_value());
  EXPECT_EQ(json::stringify(json::Value(heading->compute_attrs(nullptr).items())),
            R"({"level":1})");
  // The defaults are shared.
  EXPECT_EQ(&heading->compute_attrs(nullptr).items(), &heading->default_attrs()->items());

  const NodeType* image = schema->node_type("image");
  EXPECT_FALSE(image->default_attrs().has_value());
  AttrMap given{{"src", "a.png"}, {"unknown", 5}};
  EXPECT_EQ(json::stringify(json::Value(image->compute_attrs(&given).items())),
            R"({"src":"a.png","alt":null})");
  AttrMap no_src{{"alt", "x"}};
  EXPECT_EQ(error_of([&] { image->compute_attrs(&no_src); }),
            "RangeError: No value supplied for attribute src");
  // `computeAttrs(attrs, null)`: `null && value[name]` is null, not undefined,
  // so with no attrs at all every attribute is null (and validated).
  EXPECT_EQ(error_of([&] { image->create(); }),
            "RangeError: Expected value of type string for attribute src on type image, got null");
  const NodeType* mention = schema->node_type("mention");
  EXPECT_EQ(error_of([&] { mention->create(); }),
            "RangeError: Expected value of type string for attribute id on type mention, got null");
  auto custom = Schema::from_json(parse_or_die(
      R"({"nodes": [["doc", {"content": "w*"}], ["w", {"attrs": {"a": {}, "b": {"default": 2}}}],
                    ["text", {}]]})"));
  EXPECT_EQ(custom->node_type("w")->create()->to_json_string(),
            R"({"type":"w","attrs":{"a":null,"b":null}})");
  AttrMap only_a{{"a", "x"}};
  EXPECT_EQ(custom->node_type("w")->create(&only_a)->to_json_string(),
            R"({"type":"w","attrs":{"a":"x","b":2}})");
}

TEST(SchemaAttrs, AttrsOfJsonThatAreNotObjects) {
  // `create(json.attrs)` with JavaScript's `value && value[name]`: a truthy
  // non-object has no members (defaults, or "No value supplied"); a falsy one
  // is every attribute's value unless all have defaults (found by
  // scripts/diff-fuzz.sh).
  auto schema = load("extended");
  const NodeType* image = schema->node_type("image");
  auto attrs_of = [&](const NodeType* type, const char* text) {
    return error_of([&] {
      json::Value v = parse_or_die(text);
      type->compute_attrs_from_json(&v);
    });
  };
  for (const char* truthy : {"5", "\"x\"", "true", "[]", "[1]"})
    EXPECT_EQ(attrs_of(image, truthy), "RangeError: No value supplied for attribute src") << truthy;
  EXPECT_EQ(
      attrs_of(image, "0"),
      "RangeError: Expected value of type string for attribute src on type image, got number");
  EXPECT_EQ(attrs_of(image, "false"),
            "RangeError: Expected value of type string for attribute src on type image, got "
            "boolean");
  EXPECT_EQ(attrs_of(image, "null"),
            "RangeError: Expected value of type string for attribute src on type image, got null");
  EXPECT_EQ(error_of([&] { image->compute_attrs_from_json(nullptr); }),
            "RangeError: Expected value of type string for attribute src on type image, got null");
  json::Value empty_string = parse_or_die("\"\"");
  EXPECT_EQ(json::stringify(json::Value(
                schema->node_type("figure_image")->compute_attrs_from_json(&empty_string).items())),
            R"({"src":""})");
  json::Value five = parse_or_die("5");
  EXPECT_EQ(json::stringify(
                json::Value(schema->node_type("heading")->compute_attrs_from_json(&five).items())),
            R"({"level":1})");
  auto custom = Schema::from_json(parse_or_die(
      R"({"nodes": [["doc", {"content": "w*"}], ["w", {"attrs": {"a": {}, "b": {"default": 2}}}],
                    ["text", {}]]})"));
  json::Value zero = parse_or_die("0");
  EXPECT_EQ(
      json::stringify(json::Value(custom->node_type("w")->compute_attrs_from_json(&zero).items())),
      R"({"a":0,"b":0})");
  EXPECT_EQ(attrs_of(schema->node_type("mention"), "7"),
            "RangeError: No value supplied for attribute id");
  EXPECT_EQ(error_of([&] {
              json::Value v = parse_or_die("\"x\"");
              schema->find_mark_type("link")->compute_attrs_from_json(&v);
            }),
            "RangeError: No value supplied for attribute href");
}

TEST(SchemaAttrs, ValidationMessages) {
  auto schema = load("extended");
  AttrMap level{{"level", "2"}};
  EXPECT_EQ(error_of([&] { schema->node_type("heading")->create(&level); }),
            "RangeError: Expected value of type number for attribute level on type heading, got "
            "string");
  AttrMap language{{"language", json::Value(json::Array{})}};
  EXPECT_EQ(error_of([&] { schema->node_type("code_block")->create(&language); }),
            "RangeError: Expected value of type string,null for attribute language on type "
            "code_block, got object");
  AttrMap lang_null{{"language", nullptr}};
  EXPECT_EQ(error_of([&] { schema->node_type("code_block")->create(&lang_null); }), "no error");
  AttrMap href{{"href", true}};
  EXPECT_EQ(error_of([&] { schema->mark("link", &href); }),
            "RangeError: Expected value of type string for attribute href on type link, got "
            "boolean");
  AttrMap no_href{{"title", "t"}};
  EXPECT_EQ(error_of([&] { schema->mark("link", &no_href); }),
            "RangeError: No value supplied for attribute href");
  // Attributes without `validate` accept anything.
  AttrMap label{{"id", "u1"}, {"label", json::Value(json::Object{{"k", 1}})}};
  EXPECT_EQ(error_of([&] { schema->node_type("mention")->create(&label); }), "no error");
  EXPECT_EQ(error_of([&] { schema->mark("nope"); }),
            "RangeError: There is no mark type nope in this schema");
}

TEST(SchemaNodeType, CreateCheckedAndFill) {
  auto schema = load("basic");
  const NodeType* doc = schema->node_type("doc");
  EXPECT_EQ(error_of([&] { doc->create_checked(); }),
            "RangeError: Invalid content for node doc: <>");
  Fragment content = Fragment::from_array(
      {schema->node_type("paragraph")->create(nullptr, Fragment::from(schema->text("x")))});
  EXPECT_EQ(doc->create_checked(nullptr, content)->to_string(), "doc(paragraph(\"x\"))");
  // The message cuts the fragment's rendering to its first 50 UTF-16 units,
  // here inside a surrogate pair (JavaScript's slice keeps the lone half).
  std::string emoji;
  for (int i = 0; i < 30; i++) emoji += "😀";
  Fragment long_text = Fragment::from(schema->text("a" + emoji));
  std::string cut = "<\"a";
  for (int i = 0; i < 23; i++) cut += "😀";
  cut += json::to_wtf8(u"\xd83d");
  EXPECT_EQ(error_of([&] { doc->create_checked(nullptr, long_text); }),
            "RangeError: Invalid content for node doc: " + cut);
  EXPECT_EQ(error_of([&] { schema->node_type("text")->create(); }),
            "Error: NodeType.create can't construct text nodes");
  EXPECT_EQ(error_of([&] { schema->text(""); }), "RangeError: Empty text nodes are not allowed");

  EXPECT_EQ(doc->create_and_fill()->to_json_string(),
            R"({"type":"doc","content":[{"type":"paragraph"}]})");
  EXPECT_EQ(
      schema->node_type("bullet_list")->create_and_fill()->to_json_string(),
      R"({"type":"bullet_list","content":[{"type":"list_item","content":[{"type":"paragraph"}]}]})");
  // Content that fits after filling before it.
  NodeRef item = schema->node_type("list_item")
                     ->create_and_fill(
                         nullptr, Fragment::from(schema->node_type("horizontal_rule")->create()));
  ASSERT_TRUE(item);
  EXPECT_EQ(item->to_string(), "list_item(paragraph, horizontal_rule)");
  // Content that cannot fit.
  EXPECT_FALSE(schema->node_type("code_block")
                   ->create_and_fill(
                       nullptr, Fragment::from(schema->node_type("horizontal_rule")->create())));
  EXPECT_TRUE(doc->valid_content(content));
  EXPECT_FALSE(doc->valid_content(Fragment::empty()));
  // Marks not allowed in the parent make content invalid.
  Fragment marked = Fragment::from(schema->text("x", {schema->mark("em")}));
  EXPECT_TRUE(schema->node_type("paragraph")->valid_content(marked));
  EXPECT_FALSE(schema->node_type("code_block")->valid_content(marked));
}

TEST(SchemaNodeType, CreateAndFillWithEmptyGivenAttrs) {
  auto schema = load("custom-base");
  AttrMap none;
  NodeRef doc = schema->node_type("doc")->create_and_fill(&none);
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->to_json_string(), R"({"type":"doc","content":[{"type":"paragraph"}]})");
}

}  // namespace
}  // namespace rtpm::model
