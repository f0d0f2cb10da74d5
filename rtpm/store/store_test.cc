#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "rtpm/store/memory_store.h"
#include "rtpm/store/sqlite_store.h"

namespace rtpm::store {
namespace {

namespace fs = std::filesystem;

// True when every batch of an append landed.
bool all_ok(const std::vector<Result<void>>& results) {
  for (const auto& r : results)
    if (!r) return false;
  return !results.empty();
}

// Runs each case against both stores; SQLite on a real file in a fresh folder.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name)
      if (c == '/') c = '_';  // parameterized names: "Case/0"
    dir_ =
        fs::temp_directory_path() / ("rtpm-store-test-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = open();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  std::unique_ptr<Store> open() {
    if (GetParam() == "memory") return std::make_unique<MemoryStore>();
    auto s = SqliteStore::open((dir_ / "rtpm.db").string());
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return std::move(*s);
  }
  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, CreateLoadAppendSnapshot) {
  EXPECT_FALSE(*store_->room_exists("r"));
  auto none = store_->load_room("r", 100);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  ASSERT_TRUE(store_->create_room("r", "{\"type\":\"doc\"}"));
  ASSERT_TRUE(store_->create_room("r", "{\"ignored\":1}"));  // exists: unchanged
  EXPECT_TRUE(*store_->room_exists("r"));
  ASSERT_TRUE(store_->create_room("s", "{}"));
  ASSERT_TRUE(
      all_ok(store_->append({{"r", {{1, "u", "A"}, {2, "v", "B"}}}, {"s", {{1, "w", "C"}}}})));
  ASSERT_TRUE(all_ok(store_->append({{"r", {{3, "u", "D"}}}})));
  auto r = store_->load_room("r", 100);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->snapshot_version, 0);
  EXPECT_EQ((*r)->snapshot_doc, "{\"type\":\"doc\"}");
  ASSERT_EQ((*r)->steps.size(), 3u);
  EXPECT_EQ((*r)->steps[1].version, 2);
  EXPECT_EQ((*r)->steps[1].user_id, "v");
  EXPECT_EQ((*r)->steps[2].step_json, "D");
  // Snapshot at 3 keeping one step of history: step 3 stays, 1 and 2 go.
  ASSERT_TRUE(store_->save_snapshot("r", 3, "{\"v\":3}", 1));
  auto after = store_->load_room("r", 100);
  ASSERT_TRUE(after && *after);
  EXPECT_EQ((*after)->snapshot_version, 3);
  EXPECT_EQ((*after)->snapshot_doc, "{\"v\":3}");
  ASSERT_EQ((*after)->steps.size(), 1u);
  EXPECT_EQ((*after)->steps[0].version, 3);
  auto limited = store_->load_room("r", 0);
  EXPECT_TRUE((*limited)->steps.empty());
}

TEST_P(StoreTest, EachBatchLandsWholeOrNotAtAllOnItsOwn) {
  ASSERT_TRUE(store_->create_room("r", "{}"));
  ASSERT_TRUE(store_->create_room("s", "{}"));
  ASSERT_TRUE(all_ok(store_->append({{"r", {{1, "u", "A"}}}})));
  // The second batch repeats version 1 (after a good first step): it fails whole, and the
  // batches around it, of r and of s, land with the same commit.
  auto results = store_->append({{"r", {{2, "u", "B"}}},
                                 {"r", {{3, "u", "X"}, {2, "u", "Y"}}},
                                 {"s", {{1, "w", "C"}}},
                                 {"missing", {{1, "u", "M"}}}});
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0]);
  EXPECT_FALSE(results[1]);
  EXPECT_TRUE(results[2]);
  EXPECT_FALSE(results[3]);
  auto r = store_->load_room("r", 100);
  ASSERT_EQ((*r)->steps.size(), 2u);
  EXPECT_EQ((*r)->steps[0].step_json, "A");
  EXPECT_EQ((*r)->steps[1].step_json, "B");
  auto other = store_->load_room("s", 100);
  ASSERT_EQ((*other)->steps.size(), 1u);
  EXPECT_EQ((*other)->steps[0].step_json, "C");
  // A later batch of a room whose earlier batch failed fails too: its log would have a gap.
  auto gap = store_->append({{"r", {{3, "u", "D"}, {3, "u", "dup"}}}, {"r", {{4, "u", "E"}}}});
  EXPECT_FALSE(gap[0]);
  EXPECT_FALSE(gap[1]);
  EXPECT_EQ((*store_->load_room("r", 100))->steps.size(), 2u);
}

TEST_P(StoreTest, AppendRefusesGaps) {
  ASSERT_TRUE(store_->create_room("r", "{}"));
  EXPECT_FALSE(all_ok(store_->append({{"r", {{2, "u", "B"}}}})));
  EXPECT_FALSE(all_ok(store_->append({{"missing", {{1, "u", "B"}}}})));
  ASSERT_TRUE(all_ok(store_->append({{"r", {{1, "u", "A"}}}, {"r", {{2, "u", "B"}}}})));
  EXPECT_EQ((*store_->load_room("r", 10))->steps.size(), 2u);
}

TEST_P(StoreTest, SurvivesReopen) {
  ASSERT_TRUE(store_->create_room("r", "{}"));
  ASSERT_TRUE(all_ok(store_->append({{"r", {{1, "u", "A"}}}})));
  if (GetParam() == "memory") return;
  store_.reset();
  store_ = open();
  auto r = store_->load_room("r", 10);
  ASSERT_TRUE(r && *r);
  ASSERT_EQ((*r)->steps.size(), 1u);
  EXPECT_EQ((*r)->steps[0].step_json, "A");
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("memory", "sqlite"));

}  // namespace
}  // namespace rtpm::store
