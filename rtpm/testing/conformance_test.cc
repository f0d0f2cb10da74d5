// Every conformance vector of ../shared/conformance as its own test case,
// named after the vector's id. A vector of a kind this build cannot run fails.
#include "rtpm/testing/conformance.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace rtpm::testing {
namespace {

namespace fs = std::filesystem;

struct Vector {
  std::string id;
  std::string file;
  std::string line;
};

std::vector<Vector> load_vectors(const std::vector<fs::path>& files) {
  std::vector<Vector> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      auto v = parse_vector(line);
      std::string id = f.stem().string() + "_line" + std::to_string(n);
      if (v)
        if (const json::Value* i = v->find("id"); i && i->is_string()) id = i->as_string();
      out.push_back({id, f.string(), std::move(line)});
    }
  }
  return out;
}

const std::vector<Vector>& vectors() {
  static const std::vector<Vector> all = [] {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(fs::path(RTPM_SHARED_DIR) / "conformance"))
      if (e.path().extension() == ".jsonl") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return load_vectors(files);
  }();
  return all;
}

// What scripts/diff-fuzz.sh found (each failed before its fix) and one vector
// of each documented difference, as the fuzzer wrote them.
const std::vector<Vector>& regression_vectors() {
  static const std::vector<Vector> all = load_vectors(
      {fs::path(RTPM_SOURCE_DIR) / "rtpm/testing/testdata/diff_fuzz_regressions.jsonl"});
  return all;
}

void expect_passes(const Vector& v) {
  static SchemaCache schemas((fs::path(RTPM_SHARED_DIR) / "conformance" / "schemas").string());
  auto parsed = parse_vector(v.line);
  ASSERT_TRUE(parsed) << v.file << ": " << parsed.error().message;
  auto problem = check_vector(*parsed, schemas);
  EXPECT_FALSE(problem) << v.id << " (" << v.file << ")\n" << *problem;
}

class Conformance : public ::testing::TestWithParam<size_t> {};

TEST_P(Conformance, MatchesJavaScript) { expect_passes(vectors()[GetParam()]); }

class DiffFuzz : public ::testing::TestWithParam<size_t> {};

TEST_P(DiffFuzz, MatchesJavaScript) { expect_passes(regression_vectors()[GetParam()]); }

// The checks the differential fuzzer (scripts/diff-fuzz.sh) relies on: a
// thrown error's class and message, the stage that threw, and `stepJSON`.
std::optional<std::string> check_text(const std::string& text) {
  static SchemaCache schemas((fs::path(RTPM_SHARED_DIR) / "conformance" / "schemas").string());
  auto parsed = parse_vector(text);
  if (!parsed) return "bad JSON in the test: " + parsed.error().message;
  return check_vector(*parsed, schemas);
}

std::string apply_vector(const std::string& step, const std::string& result,
                         const std::string& extra = "") {
  return R"({"id":"t","kind":"apply","schema":"basic","doc":{"type":"doc","content":[)"
         R"({"type":"paragraph","content":[{"type":"text","text":"ab"}]}]},"step":)" +
         step + R"(,"result":)" + result + extra + "}";
}

TEST(ConformanceRunner, ComparesThrownErrorsAndTheirStage) {
  const std::string out_of_range = R"({"stepType":"replace","from":9,"to":9})";
  EXPECT_FALSE(check_text(apply_vector(
      out_of_range,
      R"({"error":"Position 9 out of range","errorName":"RangeError","stage":"apply"})")));
  // Another message, another class, or another stage is a mismatch.
  EXPECT_TRUE(check_text(apply_vector(
      out_of_range, R"({"error":"Position 8 out of range","errorName":"RangeError"})")));
  EXPECT_TRUE(check_text(
      apply_vector(out_of_range, R"({"error":"Position 9 out of range","errorName":"Error"})")));
  EXPECT_TRUE(check_text(
      apply_vector(out_of_range, R"({"error":"Position 9 out of range","errorName":"RangeError",)"
                                 R"("stage":"Step.fromJSON"})")));
  // A TypeError's message is the engine's: only the class is compared.
  const std::string into_text =
      R"({"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":"a"}],)"
      R"("openStart":1,"openEnd":1}})";
  EXPECT_FALSE(check_text(apply_vector(
      into_text, R"x({"error":"Cannot read properties of undefined (reading 'type')",)x"
                 R"x("errorName":"TypeError","stage":"apply"})x")));
  EXPECT_TRUE(check_text(apply_vector(
      into_text, R"x({"error":"Cannot read properties of undefined","errorName":"RangeError",)x"
                 R"x("stage":"apply"})x")));
  const std::string bad_json = R"({"stepType":"replace","from":"1","to":1})";
  EXPECT_FALSE(check_text(apply_vector(bad_json, R"({"error":"Invalid input for )"
                                                 R"(ReplaceStep.fromJSON","errorName":)"
                                                 R"("RangeError","stage":"Step.fromJSON"})")));
  EXPECT_TRUE(check_text(apply_vector(bad_json, R"({"error":"Invalid input for )"
                                                R"(ReplaceStep.fromJSON","errorName":)"
                                                R"("RangeError","stage":"apply"})")));
}

TEST(ConformanceRunner, ComparesTheStepJsonRoundTrip) {
  // Step.fromJSON(step).toJSON(): `structure: false` and a zero openStart are left out.
  const std::string step =
      R"({"stepType":"replace","from":1,"to":2,"slice":{"content":[{"type":"text","text":"x"}],)"
      R"("openStart":0},"structure":false})";
  const std::string result =
      R"({"doc":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text",)"
      R"("text":"xb"}]}]}})";
  EXPECT_FALSE(check_text(apply_vector(
      step, result,
      R"(,"stepJSON":{"stepType":"replace","from":1,"to":2,"slice":{"content":[{"type":"text",)"
      R"("text":"x"}]}})")));
  EXPECT_TRUE(check_text(apply_vector(step, result, R"(,"stepJSON":)" + step)));
}

TEST(ConformanceRunner, ComparesTheResultCheckError) {
  // A closed paragraph holding a heading: the step applies, check() fails.
  const std::string step =
      R"({"stepType":"replace","from":0,"to":0,"slice":{"content":[{"type":"paragraph",)"
      R"("content":[{"type":"heading","attrs":{"level":1}}]}]}})";
  const std::string result =
      R"({"doc":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"heading",)"
      R"("attrs":{"level":1}}]},{"type":"paragraph","content":[{"type":"text","text":"ab"}]}]}})";
  EXPECT_FALSE(check_text(apply_vector(
      step, result, R"(,"resultCheckError":"Invalid content for node paragraph: <heading>")")));
  EXPECT_TRUE(check_text(apply_vector(step, result)));
  EXPECT_TRUE(check_text(apply_vector(step, result, R"(,"resultCheckError":"something else")")));
}

TEST(ConformanceSet, IsComplete) {
  // The shared set has 5681 vectors (README.md); losing some silently would hide failures.
  EXPECT_GE(vectors().size(), 5681u);
}

TEST(DiffFuzzRegressions, AreAllThere) { EXPECT_GE(regression_vectors().size(), 15u); }

std::string test_name(const std::vector<Vector>& all, size_t i) {
  std::string name = all[i].id;
  for (char& c : name)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Vectors, Conformance, ::testing::Range<size_t>(0, vectors().size()),
                         [](const ::testing::TestParamInfo<size_t>& param) {
                           return test_name(vectors(), param.param);
                         });
INSTANTIATE_TEST_SUITE_P(Regressions, DiffFuzz,
                         ::testing::Range<size_t>(0, regression_vectors().size()),
                         [](const ::testing::TestParamInfo<size_t>& param) {
                           return "v" + test_name(regression_vectors(), param.param);
                         });

}  // namespace
}  // namespace rtpm::testing
