// apply_bench: the workloads of ../shared/bench/apply-bench.workloads.json,
// doing exactly the work apply-bench.mjs does with prosemirror-transform:
// the same documents, xorshift32 sequences, steps, timed regions (median of
// --repeat runs) and checksums, so that scripts/bench.sh can check that both
// sides did the same work and print the ratios.
//
//   apply_bench [--only NAME,...] [--repeat N] [--json] [--shared DIR]
//
// --json prints one JSON line per workload with apply-bench.mjs's field names
// (name, what, ops, seconds, runs_seconds, ops_per_s, us_per_op, checksum,
// complete, and steps_per_s or step_maps_per_s) plus cpu_us_per_op, the
// process CPU time per operation (the JS has no such field). --shared defaults to the
// RTPM_SHARED_DIR the build was configured with.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "rtpm/json/json.h"
#include "rtpm/model/fragment.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"
#include "rtpm/transform/map.h"
#include "rtpm/transform/replace_step.h"
#include "rtpm/transform/step.h"

namespace {

using rtpm::json::Value;
using rtpm::model::NodeRef;
using rtpm::transform::StepPtr;

// The workloads' PRNG: xorshift32 on a uint32 state, as the JSON file defines it.
class Xorshift32 {
 public:
  explicit Xorshift32(uint32_t seed) : x_(seed) {}
  uint32_t next() {
    x_ ^= x_ << 13;
    x_ ^= x_ >> 17;
    x_ ^= x_ << 5;
    return x_;
  }

 private:
  uint32_t x_;
};

// Prefix sums of paragraph sizes, for the position of paragraph k (as the JS).
class Fenwick {
 public:
  explicit Fenwick(int n) : t_(static_cast<size_t>(n) + 1, 0) {}
  void add(int i, int64_t v) {
    for (size_t j = static_cast<size_t>(i) + 1; j < t_.size(); j += j & (~j + 1)) t_[j] += v;
  }
  // Sum over [0, i).
  int64_t prefix(int i) const {
    int64_t s = 0;
    for (size_t j = static_cast<size_t>(i); j > 0; j -= j & (~j + 1)) s += t_[j];
    return s;
  }

 private:
  std::vector<int64_t> t_;
};

// FNV-1a 32-bit over UTF-16 code units, as 8 lowercase hex digits.
std::string fnv1a(std::u16string_view text) {
  uint32_t h = 2166136261u;
  for (char16_t c : text) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

std::string doc_checksum(const rtpm::model::Node& doc) {
  return fnv1a(doc.text_between(0, doc.content().size(), u"\n"));
}

Value read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = rtpm::json::parse(text.str());
  if (!parsed) throw std::runtime_error(path + ": " + parsed.error().message);
  return std::move(parsed).value();
}

const Value& member(const Value& object, std::string_view key) {
  const Value* v = object.find(key);
  if (!v) throw std::runtime_error("workloads file: missing \"" + std::string(key) + "\"");
  return *v;
}

int int_member(const Value& object, std::string_view key) {
  return static_cast<int>(member(object, key).as_number());
}

// One workload's figures, named as in apply-bench.mjs's results.
struct WorkloadResult {
  std::string name;
  std::string what;
  int64_t ops = 0;
  double seconds = 0;  // the median run
  std::vector<double> runs_seconds;
  double cpu_seconds = 0;  // the median of the runs' process CPU time
  std::string checksum;
  const char* extra_key = nullptr;  // "steps_per_s" or "step_maps_per_s"
  double extra_per_s = 0;
};

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[(xs.size() - 1) / 2];  // the lower middle one for an even count, as the JS
}

// Runs `run` `repeat` times (it resets its own state) and records the wall
// seconds of each run in r.runs_seconds, the median in r.seconds, and the
// median CPU seconds (steadier than wall time on a busy machine) in r.cpu_seconds.
template <typename Run>
void time_median(int repeat, WorkloadResult& r, Run run) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> cpu;
  for (int i = 0; i < repeat; ++i) {
    const double cpu0 = process_cpu_seconds();
    const Clock::time_point t0 = Clock::now();
    run();
    r.runs_seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    cpu.push_back(process_cpu_seconds() - cpu0);
  }
  r.seconds = median(r.runs_seconds);
  r.cpu_seconds = median(cpu);
}

class ApplyBench {
 public:
  ApplyBench(Value spec, std::shared_ptr<const rtpm::model::Schema> schema, int repeat)
      : spec_(std::move(spec)), schema_(std::move(schema)), repeat_(repeat) {}

  const Value& spec() const { return spec_; }

  WorkloadResult run(const Value& w) {
    const std::string& kind = member(w, "kind").as_string();
    if (kind == "insert_chars") return insert_chars(w);
    if (kind == "map_positions") return map_positions(w);
    if (kind == "json_roundtrip") return roundtrip(w, false);
    if (kind == "wire_roundtrip") return roundtrip(w, true);
    throw std::runtime_error("unknown workload kind " + kind);
  }

 private:
  const Value& doc_spec(const Value& w) const {
    return member(member(spec_, "docs"), member(w, "doc").as_string());
  }

  const Value& workload(std::string_view name) const {
    for (const Value& w : member(spec_, "workloads").as_array())
      if (member(w, "name").as_string() == name) return w;
    throw std::runtime_error("workloads file: no workload " + std::string(name));
  }

  // doc(paragraph(text(paragraph_text)) x paragraphs)
  NodeRef build_doc(const Value& w) const {
    const Value& d = doc_spec(w);
    const std::string& text = member(d, "paragraph_text").as_string();
    std::vector<NodeRef> paragraphs;
    for (int i = 0, n = int_member(d, "paragraphs"); i < n; ++i)
      paragraphs.push_back(
          schema_->node("paragraph", nullptr, rtpm::model::Fragment::from(schema_->text(text))));
    return schema_->node("doc", nullptr, rtpm::model::Fragment::from_array(std::move(paragraphs)));
  }

  // The insert_chars steps, generated (not timed) as the workloads file says.
  std::vector<StepPtr> insert_steps(const Value& w) {
    const std::string& name = member(w, "name").as_string();
    for (auto& [cached_name, steps] : step_cache_)
      if (cached_name == name) return steps;
    const Value& d = doc_spec(w);
    const int n = int_member(d, "paragraphs");
    const int count = int_member(w, "steps");
    Xorshift32 rng(static_cast<uint32_t>(member(w, "seed").as_number()));
    const int text_len =
        static_cast<int>(rtpm::json::to_utf16(member(d, "paragraph_text").as_string()).size());
    std::vector<int> len(static_cast<size_t>(n), text_len);
    Fenwick sizes(n);
    for (int k = 0; k < n; ++k) sizes.add(k, len[k] + 2);
    std::vector<rtpm::model::Slice> slices;
    for (char c : member(w, "alphabet").as_string())
      slices.emplace_back(rtpm::model::Fragment::from(schema_->text(std::string(1, c))), 0, 0);
    std::vector<StepPtr> steps;
    steps.reserve(static_cast<size_t>(count));
    for (int j = 0; j < count; ++j) {
      const int k = static_cast<int>(rng.next() % static_cast<uint32_t>(n));
      const int o = static_cast<int>(rng.next() % static_cast<uint32_t>(len[k] + 1));
      const int pos = static_cast<int>(1 + sizes.prefix(k) + o);
      steps.push_back(std::make_shared<rtpm::transform::ReplaceStep>(
          pos, pos, slices[static_cast<size_t>(j) % slices.size()]));
      ++len[k];
      sizes.add(k, 1);
    }
    step_cache_.emplace_back(name, steps);
    return steps;
  }

  WorkloadResult insert_chars(const Value& w) {
    WorkloadResult r;
    r.name = member(w, "name").as_string();
    const NodeRef doc = build_doc(w);
    const std::vector<StepPtr> steps = insert_steps(w);
    // Warm-up: the first 10% (not timed).
    NodeRef d = doc;
    for (size_t i = 0; i < steps.size() / 10; ++i) d = steps[i]->apply(*d).doc;
    NodeRef final_doc;
    time_median(repeat_, r, [&] {
      NodeRef cur = doc;
      for (size_t i = 0; i < steps.size(); ++i) {
        rtpm::transform::StepResult res = steps[i]->apply(*cur);
        if (!res.ok())
          throw std::runtime_error(r.name + ": step " + std::to_string(i) +
                                   " failed: " + res.failed);
        cur = std::move(res.doc);
      }
      final_doc = std::move(cur);
    });
    r.ops = static_cast<int64_t>(steps.size());
    r.checksum = doc_checksum(*final_doc);
    r.what = std::to_string(r.ops) + " single-character ReplaceSteps applied to a " +
             std::to_string(doc->child_count()) + "-paragraph doc";
    return r;
  }

  WorkloadResult map_positions(const Value& w) {
    WorkloadResult r;
    r.name = member(w, "name").as_string();
    const NodeRef doc = build_doc(w);
    const std::vector<StepPtr> steps = insert_steps(workload("insert_1k"));
    rtpm::transform::Mapping mapping;
    for (size_t i = 0; i < 1000; ++i) mapping.append_map(steps[i]->get_map());
    Xorshift32 rng(static_cast<uint32_t>(member(w, "seed").as_number()));
    const uint32_t size = static_cast<uint32_t>(doc->content().size());
    const int assoc = int_member(w, "assoc");
    std::vector<int> positions(static_cast<size_t>(int_member(w, "positions")));
    for (int& p : positions) p = static_cast<int>(rng.next() % (size + 1));
    uint32_t warm = 0;
    for (size_t i = 0; i < 2000; ++i)
      warm += static_cast<uint32_t>(mapping.map(positions[i], assoc));
    volatile uint32_t sink = warm;
    (void)sink;
    uint32_t sum = 0;
    time_median(repeat_, r, [&] {
      uint32_t s = 0;
      for (int p : positions) s += static_cast<uint32_t>(mapping.map(p, assoc));
      sum = s;
    });
    r.ops = static_cast<int64_t>(positions.size());
    r.checksum = std::to_string(sum);
    r.extra_key = "step_maps_per_s";
    r.extra_per_s = static_cast<double>(r.ops) * 1000 / r.seconds;
    r.what = std::to_string(r.ops) + " positions mapped through a Mapping of 1000 steps";
    return r;
  }

  // batch10_json: Step::from_json + apply + each step's JSON. batch10_wire adds
  // json::parse of the message text and the broadcast's text, as a server does.
  // Port note: JS's toJSON builds objects; here each step writes its JSON text
  // with json::Writer (Step::to_json would build a Value by parsing that text).
  WorkloadResult roundtrip(const Value& w, bool wire) {
    WorkloadResult r;
    r.name = member(w, "name").as_string();
    const NodeRef doc = build_doc(w);
    const Value* batch_value = w.find("batch");
    const Value& batch = batch_value ? *batch_value : member(workload("batch10_json"), "batch");
    const std::string message = rtpm::json::stringify(Value(rtpm::json::Object{
        {"type", "steps"},
        {"room", "bench"},
        {"version", 0},
        {"steps", batch},
        {"userId", "u1"},
        {"timestamp", 0},
    }));
    const int iterations = int_member(w, "iterations");
    const rtpm::model::Schema& schema = *schema_;
    NodeRef last;
    std::string out;
    auto one = [&] {
      Value msg;
      const Value* steps_json = &batch;
      if (wire) {
        auto parsed = rtpm::json::parse(message);
        if (!parsed) throw std::runtime_error(r.name + ": " + parsed.error().message);
        msg = std::move(parsed).value();
        steps_json = &member(msg, "steps");
      }
      std::vector<StepPtr> steps;
      steps.reserve(steps_json->as_array().size());
      for (const Value& s : steps_json->as_array())
        steps.push_back(rtpm::transform::Step::from_json(schema, s));
      NodeRef d = doc;
      for (const StepPtr& s : steps) {
        rtpm::transform::StepResult res = s->apply(*d);
        if (!res.ok()) throw std::runtime_error(r.name + ": " + res.failed);
        d = std::move(res.doc);
      }
      out.clear();
      rtpm::json::Writer writer(out);
      if (wire) {
        writer.begin_object();
        writer.key("type");
        writer.string(std::string_view("steps"));
        writer.key("room");
        writer.value(member(msg, "room"));
        writer.key("version");
        writer.value(member(msg, "version"));
        writer.key("steps");
      }
      writer.begin_array();
      for (const StepPtr& s : steps) s->write_json(writer);
      writer.end_array();
      if (wire) {
        writer.key("userId");
        writer.value(member(msg, "userId"));
        writer.key("timestamp");
        writer.number(0);
        writer.end_object();
      }
      last = std::move(d);
    };
    for (int i = 0; i < iterations / 10; ++i) one();  // warm-up
    time_median(repeat_, r, [&] {
      for (int i = 0; i < iterations; ++i) one();
    });
    const size_t batch_size = batch.as_array().size();
    r.ops = iterations;
    r.checksum = doc_checksum(*last);
    r.extra_key = "steps_per_s";
    r.extra_per_s = static_cast<double>(iterations) * static_cast<double>(batch_size) / r.seconds;
    r.what = std::to_string(iterations) +
             (wire ? " JSON.parse + fromJSON + apply + toJSON + JSON.stringify"
                   : " Step.fromJSON + apply + toJSON") +
             " of a " + std::to_string(batch_size) + "-step batch on a " +
             std::to_string(doc->child_count()) + "-paragraph doc";
    return r;
  }

  Value spec_;
  std::shared_ptr<const rtpm::model::Schema> schema_;
  int repeat_;
  std::vector<std::pair<std::string, std::vector<StepPtr>>> step_cache_;
};

std::string json_line(const WorkloadResult& r) {
  std::string out;
  rtpm::json::Writer w(out);
  w.begin_object();
  w.key("name");
  w.string(r.name);
  w.key("what");
  w.string(r.what);
  w.key("ops");
  w.number(static_cast<double>(r.ops));
  w.key("seconds");
  w.number(r.seconds);
  w.key("runs_seconds");
  w.begin_array();
  for (double s : r.runs_seconds) w.number(s);
  w.end_array();
  w.key("ops_per_s");
  w.number(static_cast<double>(static_cast<int64_t>(static_cast<double>(r.ops) / r.seconds + 0.5)));
  if (r.extra_key) {
    w.key(r.extra_key);
    w.number(static_cast<double>(static_cast<int64_t>(r.extra_per_s + 0.5)));
  }
  w.key("us_per_op");
  w.number(r.seconds / static_cast<double>(r.ops) * 1e6);
  w.key("cpu_us_per_op");
  w.number(r.cpu_seconds / static_cast<double>(r.ops) * 1e6);
  w.key("checksum");
  w.string(r.checksum);
  w.key("complete");
  w.boolean(true);
  w.end_object();
  return out;
}

int usage() {
  std::cerr << "usage: apply_bench [--only NAME,...] [--repeat N] [--json] [--shared DIR]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string shared = RTPM_SHARED_DIR;
  std::string only;
  int repeat = 3;
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--json") {
      as_json = true;
    } else if (arg == "--only" && has_value) {
      only = argv[++i];
    } else if (arg == "--repeat" && has_value) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--shared" && has_value) {
      shared = argv[++i];
    } else {
      return usage();
    }
  }
  auto wanted = [&](const std::string& name) {
    return only.empty() || ("," + only + ",").find("," + name + ",") != std::string::npos;
  };

  try {
    Value spec = read_json_file(shared + "/bench/apply-bench.workloads.json");
    auto schema =
        rtpm::model::Schema::from_json(read_json_file(shared + "/conformance/schemas/basic.json"));
    ApplyBench bench(std::move(spec), std::move(schema), repeat);
    if (!as_json) std::printf("apply-bench (realtime-pm C++)\n");
    for (const Value& w : member(bench.spec(), "workloads").as_array()) {
      if (!wanted(member(w, "name").as_string())) continue;
      const WorkloadResult r = bench.run(w);
      if (as_json) {
        std::printf("%s\n", json_line(r).c_str());
      } else {
        std::printf("%-14s %12.0f ops/s  %9.3f us/op", r.name.c_str(),
                    static_cast<double>(r.ops) / r.seconds,
                    r.seconds / static_cast<double>(r.ops) * 1e6);
        std::printf(" (CPU %.3f us/op)", r.cpu_seconds / static_cast<double>(r.ops) * 1e6);
        if (r.extra_key) std::printf("  (%.0f %s)", r.extra_per_s, r.extra_key);
        std::printf("  checksum %s\n%-14s %s\n", r.checksum.c_str(), "", r.what.c_str());
      }
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::cerr << "apply_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
