// StorageWorker's group commit over the real SQLite store, with FaultyStore
// injecting the failures: one room's failed batch does not fail the other
// rooms of its commit, a failed commit fails every batch of it, and a later
// batch of a failed room fails too (no gap in its log).
#include "rtpm/server/storage_worker.h"

#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "rtpm/server/metrics.h"
#include "rtpm/store/faulty_store.h"
#include "rtpm/store/memory_store.h"
#include "rtpm/store/sqlite_store.h"

namespace rtpm::server {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class StorageWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rtpm-storage-worker-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto s = store::SqliteStore::open((dir_ / "rtpm.db").string());
    ASSERT_TRUE(s) << s.error().message;
    sqlite_ = std::move(*s);
    faulty_ = std::make_unique<store::FaultyStore>(*sqlite_);
    for (const char* room : {"a", "b", "c"}) ASSERT_TRUE(sqlite_->create_room(room, "{}"));
    worker_ = std::make_unique<StorageWorker>(*faulty_, metrics_);
  }
  void TearDown() override {
    worker_.reset();
    faulty_.reset();
    sqlite_.reset();
    fs::remove_all(dir_);
  }

  // Queues one batch of `room` with steps `from`..`to`; the future gets its result.
  std::future<Result<void>> append(const std::string& room, int64_t from, int64_t to) {
    auto done = std::make_shared<std::promise<Result<void>>>();
    store::AppendBatch batch{room, {}};
    for (int64_t v = from; v <= to; ++v) batch.steps.push_back({v, "u", "s" + std::to_string(v)});
    worker_->append(std::move(batch), [done](Result<void> r) { done->set_value(std::move(r)); });
    return done->get_future();
  }

  // Holds the worker in a slow append of room c, so that what is queued next forms one group.
  void hold_worker(int64_t c_version) {
    faulty_->delay_next_append(300ms);
    seen_before_hold_ = faulty_->batches_seen();
    held_ = append("c", c_version, c_version);
    while (faulty_->batches_seen() == seen_before_hold_) std::this_thread::sleep_for(1ms);
  }

  size_t steps_of(const std::string& room) {
    auto r = sqlite_->load_room(room, 1000);
    EXPECT_TRUE(r && *r);
    return (*r)->steps.size();
  }

  fs::path dir_;
  Metrics metrics_;
  std::unique_ptr<store::SqliteStore> sqlite_;
  std::unique_ptr<store::FaultyStore> faulty_;
  std::unique_ptr<StorageWorker> worker_;
  std::future<Result<void>> held_;
  int64_t seen_before_hold_ = 0;
};

TEST_F(StorageWorkerTest, OneRoomsFailedBatchDoesNotFailTheOthersOfItsCommit) {
  hold_worker(1);
  faulty_->fail_room("b");
  auto a1 = append("a", 1, 2);
  auto b1 = append("b", 1, 1);
  auto a2 = append("a", 3, 3);
  auto c2 = append("c", 2, 2);
  ASSERT_TRUE(held_.get());
  EXPECT_TRUE(a1.get());
  EXPECT_FALSE(b1.get());
  EXPECT_TRUE(a2.get());
  EXPECT_TRUE(c2.get());
  EXPECT_EQ(metrics_.store_commits.load(), 2);  // the held one, then the group of four
  EXPECT_EQ(steps_of("a"), 3u);
  EXPECT_EQ(steps_of("b"), 0u);
  EXPECT_EQ(steps_of("c"), 2u);
}

TEST_F(StorageWorkerTest, ALaterBatchOfAFailedRoomFailsTooAndTheOthersLand) {
  hold_worker(1);
  faulty_->fail_batch(2);  // the second batch queued below: a2
  auto a1 = append("a", 1, 1);
  auto a2 = append("a", 2, 2);
  auto b1 = append("b", 1, 1);
  auto a3 = append("a", 3, 3);  // would leave a gap after the failed a2
  ASSERT_TRUE(held_.get());
  EXPECT_TRUE(a1.get());
  EXPECT_FALSE(a2.get());
  EXPECT_TRUE(b1.get());
  EXPECT_FALSE(a3.get());
  EXPECT_EQ(steps_of("a"), 1u);
  EXPECT_EQ(steps_of("b"), 1u);
  // The room's log goes on from what landed.
  EXPECT_TRUE(append("a", 2, 2).get());
  EXPECT_EQ(steps_of("a"), 2u);
}

TEST_F(StorageWorkerTest, AFailedCommitFailsEveryBatchOfIt) {
  hold_worker(1);
  faulty_->fail_commit();
  auto a1 = append("a", 1, 1);
  auto b1 = append("b", 1, 1);
  ASSERT_TRUE(held_.get());
  EXPECT_FALSE(a1.get());
  EXPECT_FALSE(b1.get());
  EXPECT_EQ(steps_of("a"), 0u);
  EXPECT_EQ(steps_of("b"), 0u);
  EXPECT_TRUE(append("a", 1, 1).get());  // the next commit is fine
}

// With inline_jobs (the memory store), every job runs at once on the caller's thread, its
// callback before the call returns, in the order of the calls; a failed batch still fails
// alone, and after stop() nothing runs.
TEST(StorageWorkerInline, JobsRunOnTheCallersThreadAtOnceInOrder) {
  store::MemoryStore memory;
  store::FaultyStore faulty(memory);
  Metrics metrics;
  StorageWorker worker(faulty, metrics, /*inline_jobs=*/true);
  const auto caller = std::this_thread::get_id();
  std::vector<std::string> order;
  worker.create("a", "{}", [&](Result<void> r) {
    EXPECT_TRUE(r);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    order.push_back("create");
  });
  faulty.fail_batch(2);
  for (int64_t v = 1; v <= 3; ++v) {
    worker.append({"a", {{v, "u", "s" + std::to_string(v)}}}, [&, v](Result<void> r) {
      EXPECT_EQ(std::this_thread::get_id(), caller);
      order.push_back("append " + std::to_string(v) + (r ? " ok" : " failed"));
    });
    EXPECT_EQ(order.size(), static_cast<size_t>(v + 1))
        << "the callback ran before append returned";
  }
  worker.load("a", 100, [&](Result<std::optional<store::RoomData>> r) {
    ASSERT_TRUE(r && *r);
    order.push_back("load " + std::to_string((*r)->steps.size()));
  });
  // The second batch failed; the third, which would leave a gap, failed with it.
  EXPECT_EQ(order, (std::vector<std::string>{"create", "append 1 ok", "append 2 failed",
                                             "append 3 failed", "load 1"}));
  EXPECT_EQ(metrics.store_commits.load(), 3);
  EXPECT_EQ(worker.pending(), 0u);
  worker.stop();
  bool ran = false;
  worker.exists("a", [&](Result<bool>) { ran = true; });
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace rtpm::server
