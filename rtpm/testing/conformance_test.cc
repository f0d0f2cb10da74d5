// Every conformance vector of ../shared/conformance as its own test case,
// named after the vector's id. A vector of a kind this build cannot run fails.
#include "rtpm/testing/conformance.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

namespace rtpm::testing {
namespace {

namespace fs = std::filesystem;

struct Vector {
  std::string id;
  std::string file;
  std::string line;
};

std::vector<Vector> load_vectors() {
  std::vector<Vector> out;
  fs::path dir = fs::path(RTPM_SHARED_DIR) / "conformance";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".jsonl") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      auto v = json::parse(line);
      std::string id = f.stem().string() + "_line" + std::to_string(n);
      if (v)
        if (const json::Value* i = v->find("id"); i && i->is_string()) id = i->as_string();
      out.push_back({id, f.string(), std::move(line)});
    }
  }
  return out;
}

const std::vector<Vector>& vectors() {
  static const std::vector<Vector> all = load_vectors();
  return all;
}

class Conformance : public ::testing::TestWithParam<size_t> {};

TEST_P(Conformance, MatchesJavaScript) {
  static SchemaCache schemas((fs::path(RTPM_SHARED_DIR) / "conformance" / "schemas").string());
  const Vector& v = vectors()[GetParam()];
  auto parsed = json::parse(v.line);
  ASSERT_TRUE(parsed) << v.file << ": " << parsed.error().message;
  auto problem = check_vector(*parsed, schemas);
  EXPECT_FALSE(problem) << v.id << " (" << v.file << ")\n" << *problem;
}

TEST(ConformanceSet, IsComplete) {
  // The shared set has 5681 vectors (README.md); losing some silently would hide failures.
  EXPECT_GE(vectors().size(), 5681u);
}

INSTANTIATE_TEST_SUITE_P(Vectors, Conformance, ::testing::Range<size_t>(0, vectors().size()),
                         [](const ::testing::TestParamInfo<size_t>& param) {
                           std::string name = vectors()[param.param].id;
                           for (char& c : name)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

}  // namespace
}  // namespace rtpm::testing
