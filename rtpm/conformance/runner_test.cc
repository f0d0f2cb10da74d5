// Every conformance vector of ../shared/conformance as its own test case,
// named after the vector's id. A vector of a kind this build cannot run fails.
#include "rtpm/conformance/runner.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

namespace rtpm::conformance {
namespace {

namespace fs = std::filesystem;

std::vector<Vector> load_vectors(const std::vector<fs::path>& files) {
  std::vector<Vector> out;
  for (const auto& f : files) {
    auto read = read_vectors(f.string());
    if (!read) throw std::runtime_error(read.error().message);
    for (Vector& v : *read) out.push_back(std::move(v));
  }
  return out;
}

const std::string kSharedDir = std::string(RTPM_SHARED_DIR) + "/conformance";

const std::vector<Vector>& vectors() {
  static const std::vector<Vector> all = [] {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(kSharedDir))
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
      {fs::path(RTPM_SOURCE_DIR) / "rtpm/conformance/testdata/diff_fuzz_regressions.jsonl"});
  return all;
}

// rtpm::collab::rebase_batch against prosemirror-collab 1.3.1's client-side
// rebase of the same steps (scripts/gen-server-rebase-vectors.mjs).
const std::vector<Vector>& server_rebase_vectors() {
  static const std::vector<Vector> all =
      load_vectors({fs::path(RTPM_SOURCE_DIR) / "rtpm/conformance/testdata/server_rebase.jsonl"});
  return all;
}

void expect_passes(const Vector& v) {
  static SchemaCache schemas(kSharedDir + "/schemas");
  ASSERT_TRUE(v.value) << v.file << ":" << v.line << ": " << v.value.error().message;
  auto problem = check_vector(*v.value, schemas);
  EXPECT_FALSE(problem) << v.id << " (" << v.file << ":" << v.line << ")\n" << *problem;
}

class Conformance : public ::testing::TestWithParam<size_t> {};

TEST_P(Conformance, MatchesJavaScript) { expect_passes(vectors()[GetParam()]); }

class DiffFuzz : public ::testing::TestWithParam<size_t> {};

TEST_P(DiffFuzz, MatchesJavaScript) { expect_passes(regression_vectors()[GetParam()]); }

class ServerRebase : public ::testing::TestWithParam<size_t> {};

TEST_P(ServerRebase, MatchesProsemirrorCollab) {
  expect_passes(server_rebase_vectors()[GetParam()]);
}

// The checks the differential fuzzer (scripts/diff-fuzz.sh) relies on: a
// thrown error's class and message, the stage that threw, and `stepJSON`.
std::optional<std::string> check_text(const std::string& text) {
  static SchemaCache schemas(kSharedDir + "/schemas");
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

// A scratch folder of vector files with the shared schemas beside them.
class VectorFolder {
 public:
  VectorFolder() {
    dir_ = fs::temp_directory_path() /
           ("rtpm_conformance_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "schemas");
    fs::copy_file(kSharedDir + "/schemas/basic.json", dir_ / "schemas/basic.json");
  }
  ~VectorFolder() { fs::remove_all(dir_); }
  void write(const std::string& name, const std::vector<std::string>& lines) {
    std::ofstream out(dir_ / name, std::ios::binary);
    for (const auto& l : lines) out << l << "\n";
  }
  std::string path() const { return dir_.string(); }

 private:
  fs::path dir_;
};

const std::string kInsertX = R"({"stepType":"replace","from":1,"to":1,"slice":{"content":[)"
                             R"({"type":"text","text":"x"}]}})";
const std::string kDocXab =
    R"({"doc":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text",)"
    R"("text":"xab"}]}]}})";
const std::string kDocAb =
    R"({"doc":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text",)"
    R"("text":"ab"}]}]}})";

TEST(ConformanceRunner, CheckKindCountsOneKindAndReportsEachFailure) {
  VectorFolder folder;
  std::string good = apply_vector(kInsertX, kDocXab);
  std::string wrong = apply_vector(kInsertX, kDocAb);
  wrong.replace(wrong.find(R"("id":"t")"), 8, R"("id":"wrong")");
  folder.write("a.jsonl", {good, "", wrong});
  folder.write("b.jsonl", {R"({"id":"c","kind":"check","schema":"basic","doc":{"type":"doc"},)"
                           R"("valid":false,"stage":"check","error":"x"})"});
  KindReport apply = check_kind(folder.path(), "apply");
  EXPECT_EQ(apply.total, 2);
  ASSERT_EQ(apply.failures.size(), 1u);
  EXPECT_EQ(apply.failures[0].rfind("wrong (a.jsonl:3): ", 0), 0u) << apply.failures[0];
  KindReport check = check_kind(folder.path(), "check");
  EXPECT_EQ(check.total, 1);
  EXPECT_EQ(check.failures.size(), 1u);  // the document is valid; the vector says not
  EXPECT_EQ(check_kind(folder.path(), "merge").total, 0);
  // A line that is not JSON fails every kind's check; so does a folder without vectors.
  folder.write("c.jsonl", {"{not json"});
  EXPECT_EQ(check_kind(folder.path(), "merge").failures.size(), 1u);
  EXPECT_EQ(check_kind(folder.path() + "/schemas", "apply").failures.size(), 1u);
}

TEST(ConformanceRunner, RunExitsOneOnFailuresAndTwoOnUnreadableInput) {
  VectorFolder folder;
  folder.write("a.jsonl", {apply_vector(kInsertX, kDocXab), apply_vector(kInsertX, kDocAb)});
  std::ostringstream out;
  EXPECT_EQ(run(RunOptions{.paths = {folder.path()}}, out), 1);
  EXPECT_NE(out.str().find("apply: 1 passed, 1 failed\n"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("FAIL t (apply, a.jsonl:2)"), std::string::npos) << out.str();
  folder.write("b.jsonl", {"{not json"});
  std::ostringstream bad;
  EXPECT_EQ(run(RunOptions{.paths = {folder.path()}}, bad), 2);
  std::ostringstream missing;
  EXPECT_EQ(run(RunOptions{.paths = {folder.path() + "/none.jsonl"}}, missing), 2);
}

TEST(ConformanceSet, IsComplete) {
  // The shared set has 5681 vectors (README.md); losing some silently would hide failures.
  EXPECT_GE(vectors().size(), 5681u);
}

TEST(DiffFuzzRegressions, AreAllThere) { EXPECT_GE(regression_vectors().size(), 15u); }

TEST(ServerRebaseVectors, AreAllThere) { EXPECT_GE(server_rebase_vectors().size(), 400u); }

TEST(ServerRebaseVectors, AnotherKeptStepOrDocumentFails) {
  // The first vector that keeps a step, with one more index kept, and with
  // another document after the other steps.
  const Vector* found = nullptr;
  for (const Vector& v : server_rebase_vectors())
    if (v.text.find(R"("expected":{"kept":[0)") != std::string::npos) {
      found = &v;
      break;
    }
  ASSERT_TRUE(found);
  EXPECT_FALSE(check_text(found->text));
  std::string kept = found->text;
  kept.replace(kept.find(R"("expected":{"kept":[0)"), 21, R"("expected":{"kept":[7,0)");
  auto problem = check_text(kept);
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("kept (indices of the batch steps applied) differs"), std::string::npos)
      << *problem;
  std::string other_doc = found->text;
  other_doc.replace(other_doc.find(R"("otherDoc":{"type":"doc")"), 24,
                    R"("otherDoc":{"type":"dox")");
  problem = check_text(other_doc);
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("document after the other steps differs"), std::string::npos) << *problem;
}

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
INSTANTIATE_TEST_SUITE_P(Vectors, ServerRebase,
                         ::testing::Range<size_t>(0, server_rebase_vectors().size()),
                         [](const ::testing::TestParamInfo<size_t>& param) {
                           return test_name(server_rebase_vectors(), param.param);
                         });
INSTANTIATE_TEST_SUITE_P(Regressions, DiffFuzz,
                         ::testing::Range<size_t>(0, regression_vectors().size()),
                         [](const ::testing::TestParamInfo<size_t>& param) {
                           return "v" + test_name(regression_vectors(), param.param);
                         });

}  // namespace
}  // namespace rtpm::conformance
