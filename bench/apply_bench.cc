// The workloads of ../shared/bench/apply-bench.workloads.json in C++: the same
// documents, PRNG, steps and timed regions as apply-bench.mjs, and the same
// checksums, so that scripts/bench.sh can put the two side by side.
//
//   apply_bench [--only NAME,...] [--repeat 3] [--json] [--shared DIR]
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/transform/map.h"
#include "rtpm/transform/replace_step.h"
#include "rtpm/transform/step.h"

using namespace rtpm;
using Clock = std::chrono::steady_clock;

namespace {

struct Xorshift32 {
  uint32_t x;
  uint32_t next() {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  }
};

std::string fnv1a(const std::u16string& s) {
  uint32_t h = 2166136261u;
  for (char16_t c : s) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

std::string checksum(const model::Node& doc) {
  return fnv1a(doc.text_between(0, doc.content().size(), u"\n"));
}

json::Value read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  auto v = json::parse(buf.str());
  if (!v) throw std::runtime_error("bad JSON in " + path);
  return *v;
}

struct BenchResult {
  std::string name, what, checksum;
  double seconds = 0;
  int64_t ops = 0;
  std::vector<double> runs;
  double extra_per_s = 0;  // steps/s or step-map lookups/s
  const char* extra_name = nullptr;
};

// Runs fn `repeat` times; keeps the median run's seconds.
template <typename F>
double time_median(int repeat, std::vector<double>& runs, F fn) {
  for (int i = 0; i < repeat; ++i) {
    auto t0 = Clock::now();
    fn();
    runs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::vector<double> sorted = runs;
  std::sort(sorted.begin(), sorted.end());
  return sorted[(sorted.size() - 1) / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string shared = RTPM_SHARED_DIR, only;
  int repeat = 3;
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
    else if (a == "--shared" && i + 1 < argc) shared = argv[++i];
    else if (a == "--json") as_json = true;
    else {
      std::cerr << "usage: apply_bench [--only NAME,...] [--repeat N] [--json] [--shared DIR]\n";
      return 2;
    }
  }
  auto wanted = [&](const std::string& name) {
    if (only.empty()) return true;
    std::string list = "," + only + ",";
    return list.find("," + name + ",") != std::string::npos;
  };
  json::Value spec = read_json(shared + "/bench/apply-bench.workloads.json");
  auto schema = model::Schema::from_json(read_json(shared + "/conformance/schemas/basic.json"));
  const model::NodeType* paragraph = schema->node_type("paragraph");
  const model::NodeType* doc_type = schema->node_type("doc");

  auto build_doc = [&](const std::string& name) {
    const json::Value& d = *spec.find("docs")->find(name);
    int n = static_cast<int>(d.find("paragraphs")->as_number());
    model::NodeRef text = schema->text(d.find("paragraph_text")->as_string());
    std::vector<model::NodeRef> paras(n, paragraph->create(nullptr, model::Fragment::from(text)));
    return doc_type->create(nullptr, model::Fragment::from_array(std::move(paras)));
  };
  auto find_workload = [&](const std::string& name) -> const json::Value& {
    for (const json::Value& w : spec.find("workloads")->as_array())
      if (w.find("name")->as_string() == name) return w;
    throw std::runtime_error("no workload " + name);
  };
  auto insert_steps = [&](const json::Value& w) {
    const json::Value& d = *spec.find("docs")->find(w.find("doc")->as_string());
    int n = static_cast<int>(d.find("paragraphs")->as_number());
    int count = static_cast<int>(w.find("steps")->as_number());
    Xorshift32 rng{static_cast<uint32_t>(w.find("seed")->as_number())};
    std::vector<int> len(n, static_cast<int>(json::to_utf16(d.find("paragraph_text")->as_string()).size()));
    // Fenwick tree over paragraph sizes (len + 2).
    std::vector<int64_t> fw(n + 1, 0);
    auto add = [&](int i, int64_t v) {
      for (i++; i <= n; i += i & -i) fw[i] += v;
    };
    auto prefix = [&](int i) {
      int64_t s = 0;
      for (; i > 0; i -= i & -i) s += fw[i];
      return s;
    };
    for (int k = 0; k < n; ++k) add(k, len[k] + 2);
    std::string alphabet = w.find("alphabet")->as_string();
    std::vector<model::Slice> slices;
    for (char c : alphabet)
      slices.emplace_back(model::Fragment::from(schema->text(std::string(1, c))), 0, 0);
    std::vector<transform::StepPtr> steps;
    steps.reserve(count);
    for (int j = 0; j < count; ++j) {
      int k = static_cast<int>(rng.next() % static_cast<uint32_t>(n));
      int o = static_cast<int>(rng.next() % static_cast<uint32_t>(len[k] + 1));
      int pos = static_cast<int>(1 + prefix(k) + o);
      steps.push_back(std::make_shared<transform::ReplaceStep>(pos, pos, slices[j % 26]));
      len[k]++;
      add(k, 1);
    }
    return steps;
  };

  std::vector<BenchResult> results;
  for (const json::Value& w : spec.find("workloads")->as_array()) {
    std::string name = w.find("name")->as_string(), kind = w.find("kind")->as_string();
    if (!wanted(name)) continue;
    model::NodeRef doc = build_doc(w.find("doc")->as_string());
    BenchResult r;
    r.name = name;
    if (kind == "insert_chars") {
      auto steps = insert_steps(w);
      model::NodeRef d = doc;
      for (size_t i = 0; i < steps.size() / 10; ++i) d = steps[i]->apply(*d).doc;  // warm-up
      model::NodeRef final_doc;
      r.seconds = time_median(repeat, r.runs, [&] {
        model::NodeRef cur = doc;
        for (size_t i = 0; i < steps.size(); ++i) {
          auto res = steps[i]->apply(*cur);
          if (!res.ok()) throw std::runtime_error(name + ": step failed: " + res.failed);
          cur = std::move(res.doc);
        }
        final_doc = cur;
      });
      r.ops = static_cast<int64_t>(steps.size());
      r.checksum = checksum(*final_doc);
      r.what = std::to_string(r.ops) + " single-character ReplaceSteps applied to a " +
               std::to_string(doc->child_count()) + "-paragraph doc";
    } else if (kind == "map_positions") {
      auto steps = insert_steps(find_workload("insert_1k"));
      transform::Mapping mapping;
      for (int i = 0; i < 1000; ++i) mapping.append_map(steps[i]->get_map());
      Xorshift32 rng{static_cast<uint32_t>(w.find("seed")->as_number())};
      int size = doc->content().size();
      int count = static_cast<int>(w.find("positions")->as_number());
      int assoc = static_cast<int>(w.find("assoc")->as_number());
      std::vector<int> positions(count);
      for (int& p : positions) p = static_cast<int>(rng.next() % static_cast<uint32_t>(size + 1));
      uint32_t sum = 0;
      for (int i = 0; i < 2000; ++i) sum += static_cast<uint32_t>(mapping.map(positions[i], assoc));
      r.seconds = time_median(repeat, r.runs, [&] {
        uint32_t s = 0;
        for (int p : positions) s += static_cast<uint32_t>(mapping.map(p, assoc));
        sum = s;
      });
      r.ops = count;
      r.checksum = std::to_string(sum);
      r.extra_per_s = count * 1000.0 / r.seconds;
      r.extra_name = "step-map lookups/s";
      r.what = std::to_string(count) + " positions mapped through a Mapping of 1000 steps";
    } else {
      const json::Value& batch = *find_workload("batch10_json").find("batch");
      int iterations = static_cast<int>(w.find("iterations")->as_number());
      json::Object msg{{"type", "steps"}, {"room", "bench"}, {"version", 0},
                       {"steps", batch},  {"userId", "u1"}, {"timestamp", 0}};
      std::string wire = json::stringify(json::Value(std::move(msg)));
      bool on_wire = kind == "wire_roundtrip";
      model::NodeRef last;
      std::string out;
      auto one = [&] {
        json::Value parsed;
        const json::Array* steps_json = &batch.as_array();
        if (on_wire) {
          auto p = json::parse(wire);
          parsed = std::move(*p);
          steps_json = &parsed.find("steps")->as_array();
        }
        std::vector<transform::StepPtr> steps;
        steps.reserve(steps_json->size());
        for (const json::Value& s : *steps_json) steps.push_back(transform::Step::from_json(*schema, s));
        model::NodeRef d = doc;
        for (const auto& s : steps) {
          auto res = s->apply(*d);
          if (!res.ok()) throw std::runtime_error(name + ": " + res.failed);
          d = std::move(res.doc);
        }
        out.clear();
        json::Writer wr(out);
        if (on_wire) {
          wr.begin_object();
          wr.key("type");
          wr.string(std::string_view("steps"));
          wr.key("room");
          wr.value(*parsed.find("room"));
          wr.key("version");
          wr.value(*parsed.find("version"));
          wr.key("steps");
        }
        wr.begin_array();
        for (const auto& s : steps) s->write_json(wr);
        wr.end_array();
        if (on_wire) {
          wr.key("userId");
          wr.value(*parsed.find("userId"));
          wr.key("timestamp");
          wr.number(0);
          wr.end_object();
        }
        last = d;
      };
      for (int i = 0; i < iterations / 10; ++i) one();
      r.seconds = time_median(repeat, r.runs, [&] {
        for (int i = 0; i < iterations; ++i) one();
      });
      r.ops = iterations;
      r.checksum = checksum(*last);
      r.extra_per_s = iterations * static_cast<double>(batch.as_array().size()) / r.seconds;
      r.extra_name = "steps/s";
      r.what = std::to_string(iterations) +
               (on_wire ? " JSON.parse + fromJSON + apply + toJSON + JSON.stringify"
                        : " Step.fromJSON + apply + toJSON") +
               " of a " + std::to_string(batch.as_array().size()) +
               "-step batch on a 1000-paragraph doc";
    }
    results.push_back(std::move(r));
  }

  if (as_json) {
    json::Array arr;
    for (const auto& r : results) {
      json::Array runs;
      for (double s : r.runs) runs.emplace_back(s);
      arr.emplace_back(json::Object{{"name", r.name},
                                    {"ops", static_cast<double>(r.ops)},
                                    {"seconds", r.seconds},
                                    {"runs_seconds", json::Value(std::move(runs))},
                                    {"ops_per_s", std::round(r.ops / r.seconds)},
                                    {"us_per_op", r.seconds / r.ops * 1e6},
                                    {"checksum", r.checksum},
                                    {"complete", true}});
    }
    std::cout << json::stringify(json::Value(json::Object{
                     {"env", json::Object{{"impl", "rtpm C++"}}}, {"results", json::Value(std::move(arr))}}))
              << "\n";
  } else {
    std::printf("apply-bench (realtime-pm C++)\n");
    for (const auto& r : results) {
      std::printf("%-14s %12.0f ops/s  %9.3f us/op", r.name.c_str(), r.ops / r.seconds,
                  r.seconds / r.ops * 1e6);
      if (r.extra_name) std::printf("  (%.0f %s)", r.extra_per_s, r.extra_name);
      std::printf("  checksum %s\n%-14s %s\n", r.checksum.c_str(), "", r.what.c_str());
    }
  }
  return 0;
}
