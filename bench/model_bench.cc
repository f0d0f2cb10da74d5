// Micro-benchmarks of the document model on documents of 1,000 and 10,000
// top-level paragraphs in the `basic` schema (../shared/conformance/schemas/basic.json):
// resolve, nodeAt, a one-character replace, fromJSON and toJSON.
// bench/js/model-bench.mjs runs the same work with the real prosemirror-model
// (same documents, same xorshift32 positions); scripts/bench.sh prints the ratios.
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "rtpm/json/json.h"
#include "rtpm/model/fragment.h"
#include "rtpm/model/node.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"

namespace {

using rtpm::model::NodeRef;

constexpr char kParagraphText[] = "The quick brown fox jumps over the lazy dog.";
constexpr int kParagraphSize = sizeof kParagraphText - 1 + 2;  // text + open and close tokens
constexpr uint32_t kPositionSeed = 7;
constexpr size_t kPositions = 4096;  // a power of two: the loops index with `& (kPositions - 1)`

const rtpm::model::Schema& basic_schema() {
  static const std::shared_ptr<const rtpm::model::Schema> schema = [] {
    const std::string path = std::string(RTPM_SHARED_DIR) + "/conformance/schemas/basic.json";
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    auto spec = rtpm::json::parse(text.str());
    if (!spec) throw std::runtime_error("cannot read the schema " + path);
    return rtpm::model::Schema::from_json(*spec);
  }();
  return *schema;
}

// doc(paragraph("The quick brown fox jumps over the lazy dog.") x paragraphs)
NodeRef make_doc(int paragraphs) {
  const rtpm::model::Schema& schema = basic_schema();
  std::vector<NodeRef> children;
  children.reserve(static_cast<size_t>(paragraphs));
  for (int i = 0; i < paragraphs; ++i)
    children.push_back(schema.node("paragraph", nullptr,
                                   rtpm::model::Fragment::from(schema.text(kParagraphText))));
  return schema.node("doc", nullptr, rtpm::model::Fragment::from_array(std::move(children)));
}

// Positions inside paragraphs' text (1..text length + 1 past a paragraph's
// start), picked with xorshift32 from a fixed seed exactly as model-bench.mjs does.
std::vector<int> text_positions(int paragraphs) {
  uint32_t x = kPositionSeed;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  std::vector<int> out(kPositions);
  for (int& pos : out) {
    const int k = static_cast<int>(next() % static_cast<uint32_t>(paragraphs));
    const int offset = static_cast<int>(next() % static_cast<uint32_t>(kParagraphSize - 1));
    pos = k * kParagraphSize + 1 + offset;
  }
  return out;
}

void BM_Resolve(benchmark::State& state) {
  const NodeRef doc = make_doc(static_cast<int>(state.range(0)));
  const std::vector<int> positions = text_positions(static_cast<int>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    rtpm::model::ResolvedPos pos = doc->resolve(positions[i++ & (kPositions - 1)]);
    benchmark::DoNotOptimize(pos.parent_offset());
  }
}

void BM_NodeAt(benchmark::State& state) {
  const NodeRef doc = make_doc(static_cast<int>(state.range(0)));
  const std::vector<int> positions = text_positions(static_cast<int>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(doc->node_at(positions[i++ & (kPositions - 1)]));
}

// One typed character: Node::replace of an empty range with a one-character
// slice, each time on the unchanged document (the result is dropped).
void BM_ReplaceOneChar(benchmark::State& state) {
  const NodeRef doc = make_doc(static_cast<int>(state.range(0)));
  const std::vector<int> positions = text_positions(static_cast<int>(state.range(0)));
  const rtpm::model::Slice slice(rtpm::model::Fragment::from(basic_schema().text("x")), 0, 0);
  size_t i = 0;
  for (auto _ : state) {
    const int pos = positions[i++ & (kPositions - 1)];
    NodeRef result = doc->replace(pos, pos, slice);
    benchmark::DoNotOptimize(result.get());
  }
}

// Node::from_json of an already parsed value (JS: Node.fromJSON of an object).
void BM_FromJSON(benchmark::State& state) {
  const rtpm::json::Value json = make_doc(static_cast<int>(state.range(0)))->to_json();
  const rtpm::model::Schema& schema = basic_schema();
  for (auto _ : state) {
    NodeRef doc = rtpm::model::Node::from_json(schema, json);
    benchmark::DoNotOptimize(doc.get());
  }
}

// The document's JSON text (JS: JSON.stringify(doc.toJSON())), as a server
// sends a document.
void BM_ToJSON(benchmark::State& state) {
  const NodeRef doc = make_doc(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::string text = doc->to_json_string();
    benchmark::DoNotOptimize(text.data());
  }
}

BENCHMARK(BM_Resolve)->Arg(1000)->Arg(10000);
BENCHMARK(BM_NodeAt)->Arg(1000)->Arg(10000);
BENCHMARK(BM_ReplaceOneChar)->Arg(1000)->Arg(10000);
BENCHMARK(BM_FromJSON)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ToJSON)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
