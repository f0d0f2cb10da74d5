// The hostile steps of issue 10, for the tests that feed them to each layer
// (the authority, the server over a socket, the C++ client from a server)
// and for the fuzz targets' seed corpora. Header-only.
//
// Finding 1: replace steps whose slice is opened into a leaf or into text.
// prosemirror-transform throws a TypeError on each (checkJoin reads the type
// of a node past the depth of a position in the prepared slice); the port
// used to read outside that position's path and the server died.
//
// Finding 2: one `steps` message, under 1 MiB and nested fewer than 1,000
// JSON levels, whose replace steps each nest hundreds of blockquotes inside
// the innermost one of the step before: the document grows deeper with each
// step until recursion over it overflows the stack. The model refuses
// nesting deeper than model::kMaxDepth.
#pragma once

#include <string>
#include <vector>

namespace rtpm::testing {

/// A fresh room's document in the basic schema.
inline constexpr const char* kEmptyParagraphDoc =
    R"({"type":"doc","content":[{"type":"paragraph"}]})";

/// The first step of finding 1, on kEmptyParagraphDoc (version 0 of a fresh room).
inline constexpr const char* kTextOpenedIntoEmptyParagraph =
    R"({"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":"a"}],"openStart":1,"openEnd":1}})";

/// The document the other steps of finding 1 apply to: one paragraph "hello".
inline constexpr const char* kHelloDoc =
    R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"hello"}]}]})";

/// A step turning kEmptyParagraphDoc into kHelloDoc.
inline constexpr const char* kInsertHello =
    R"({"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":"hello"}]}})";

struct HostileStep {
  const char* name;
  const char* json;
};

/// The rest of finding 1, each of which JavaScript answers with a TypeError on kHelloDoc:
/// text inside the paragraph, over a range, and the leaves (hard_break, image,
/// horizontal_rule) opened at both ends.
inline const std::vector<HostileStep>& crashing_steps() {
  static const std::vector<HostileStep> steps = {
      {"text inside the paragraph",
       R"({"stepType":"replace","from":3,"to":3,"slice":{"content":[{"type":"text","text":"a"}],"openStart":1,"openEnd":1}})"},
      {"text over a range",
       R"({"stepType":"replace","from":1,"to":3,"slice":{"content":[{"type":"text","text":"a"}],"openStart":1,"openEnd":1}})"},
      {"hard_break",
       R"({"stepType":"replace","from":1,"to":3,"slice":{"content":[{"type":"hard_break"}],"openStart":1,"openEnd":1}})"},
      {"image",
       R"({"stepType":"replace","from":1,"to":3,"slice":{"content":[{"type":"image","attrs":{"src":"x"}}],"openStart":1,"openEnd":1}})"},
      {"horizontal_rule",
       R"({"stepType":"replace","from":1,"to":3,"slice":{"content":[{"type":"horizontal_rule"}],"openStart":1,"openEnd":1}})"},
      {"negative open depths",
       R"({"stepType":"replace","from":1,"to":3,"slice":{"content":[{"type":"paragraph"}],"openStart":-1,"openEnd":-1}})"},
  };
  return steps;
}

/// Finding 2's `steps` array, as JSON text, for a document that starts as
/// kEmptyParagraphDoc: `count` replace steps, step i inserting `levels`
/// blockquotes around an empty paragraph at position i * levels (inside the
/// innermost blockquote of the step before), so that step i makes the
/// document (i + 1) * levels + 2 nodes deep. 40 steps of 490 levels are
/// issue 10's 670 KB message.
inline std::string deep_nesting_steps(int count, int levels) {
  std::string quotes;
  for (int i = 0; i < levels; i++) quotes += R"({"type":"blockquote","content":[)";
  quotes += R"({"type":"paragraph"})";
  for (int i = 0; i < levels; i++) quotes += "]}";
  std::string out = "[";
  for (int i = 0; i < count; i++) {
    if (i) out += ",";
    std::string pos = std::to_string(i * levels);
    out += R"({"stepType":"replace","from":)" + pos + R"(,"to":)" + pos +
           R"(,"slice":{"content":[)" + quotes + "]}}";
  }
  return out + "]";
}

}  // namespace rtpm::testing
