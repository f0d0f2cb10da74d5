// Micro-benchmarks of the model: resolve, nodeAt, a one-character replace,
// fromJSON and toJSON of a document of 1,000 and 10,000 top-level paragraphs.
// bench/js/model-bench.mjs does the same work with the real prosemirror-model;
// scripts/bench.sh runs both and prints the ratios.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"

namespace {

using namespace rtpm;

const char* kText = "The quick brown fox jumps over the lazy dog.";

std::shared_ptr<const model::Schema> schema() {
  static auto s = [] {
    std::ifstream in(std::string(RTPM_SHARED_DIR) + "/conformance/schemas/basic.json");
    std::stringstream buf;
    buf << in.rdbuf();
    return model::Schema::from_json(*json::parse(buf.str()));
  }();
  return s;
}

model::NodeRef make_doc(int paragraphs) {
  auto s = schema();
  model::NodeRef para =
      s->node_type("paragraph")->create(nullptr, model::Fragment::from(s->text(kText)));
  return s->node_type("doc")->create(
      nullptr, model::Fragment::from_array(std::vector<model::NodeRef>(paragraphs, para)));
}

// Positions inside paragraph text, from a fixed xorshift sequence.
std::vector<int> positions(int paragraphs, int count) {
  uint32_t x = 12345;
  std::vector<int> out(count);
  int size = static_cast<int>(std::string(kText).size()) + 2;
  for (int& p : out) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    int k = static_cast<int>(x % static_cast<uint32_t>(paragraphs));
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    p = k * size + 1 + static_cast<int>(x % static_cast<uint32_t>(size - 1));
  }
  return out;
}

void BM_Resolve(benchmark::State& state) {
  auto doc = make_doc(static_cast<int>(state.range(0)));
  auto pos = positions(static_cast<int>(state.range(0)), 4096);
  size_t i = 0;
  for (auto _ : state) {
    auto r = doc->resolve(pos[i++ & 4095]);
    benchmark::DoNotOptimize(r.parent_offset());
  }
}

void BM_NodeAt(benchmark::State& state) {
  auto doc = make_doc(static_cast<int>(state.range(0)));
  auto pos = positions(static_cast<int>(state.range(0)), 4096);
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(doc->node_at(pos[i++ & 4095]));
}

void BM_ReplaceOneChar(benchmark::State& state) {
  auto doc = make_doc(static_cast<int>(state.range(0)));
  auto pos = positions(static_cast<int>(state.range(0)), 4096);
  model::Slice slice(model::Fragment::from(schema()->text("x")), 0, 0);
  size_t i = 0;
  for (auto _ : state) {
    int p = pos[i++ & 4095];
    benchmark::DoNotOptimize(doc->replace(p, p, slice));
  }
}

void BM_FromJSON(benchmark::State& state) {
  auto json = *json::parse(make_doc(static_cast<int>(state.range(0)))->to_json_string());
  auto s = schema();
  for (auto _ : state) benchmark::DoNotOptimize(model::Node::from_json(*s, json));
}

void BM_ToJSON(benchmark::State& state) {
  auto doc = make_doc(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(doc->to_json_string());
}

BENCHMARK(BM_Resolve)->Arg(1000)->Arg(10000);
BENCHMARK(BM_NodeAt)->Arg(1000)->Arg(10000);
BENCHMARK(BM_ReplaceOneChar)->Arg(1000)->Arg(10000);
BENCHMARK(BM_FromJSON)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ToJSON)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
