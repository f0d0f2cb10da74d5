#include <filesystem>
#include <memory>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "rtpm/store/memory_store.h"
#include "rtpm/store/redis_client.h"
#include "rtpm/store/redis_store.h"
#include "rtpm/store/sqlite_store.h"
#include "rtpm/testing/redis_process.h"

namespace rtpm::store {
namespace {

namespace fs = std::filesystem;

// True when every batch of an append landed.
bool all_ok(const std::vector<Result<void>>& results) {
  for (const auto& r : results)
    if (!r) return false;
  return !results.empty();
}

// One redis-server for the process's Redis cases (ctest runs each case in a process of its
// own), started at the first; each case starts from an empty database.
testing::RedisProcess& shared_redis() {
  static std::unique_ptr<testing::RedisProcess> redis = [] {
    auto r = std::make_unique<testing::RedisProcess>();
    r->start();
    return r;
  }();
  return *redis;
}

void flush(const std::string& url) {
  RedisClient client(*parse_redis_url(url));
  auto r = client.command({"FLUSHALL"});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_FALSE(r->is_error()) << r->str;
}

std::unique_ptr<Store> open_redis(const std::string& url) {
  auto s = RedisStore::open(url);
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

// Runs each case against every store; SQLite on a real file in a fresh folder, Redis on a real
// redis-server.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") flush(shared_redis().url());
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
    if (GetParam() == "redis") return open_redis(shared_redis().url());
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
  // Snapshot at 3 keeping one step of history: the history starts at 2, and the newest kept
  // snapshot at or before it is the first (version 0), so every step stays to rebuild from it.
  ASSERT_TRUE(store_->save_snapshot("r", 3, "{\"v\":3}", 1, 0));
  auto after = store_->load_room("r", 100);
  ASSERT_TRUE(after && *after);
  EXPECT_EQ((*after)->snapshot_version, 3);
  EXPECT_EQ((*after)->snapshot_doc, "{\"v\":3}");
  ASSERT_EQ((*after)->steps.size(), 3u);
  auto limited = store_->load_room("r", 0);
  EXPECT_TRUE((*limited)->steps.empty());
  // A snapshot at 5 keeping one step: the history starts at 4; the snapshot at 3 is the oldest
  // kept, with the steps after it; 0 and steps 1 to 3 go.
  ASSERT_TRUE(all_ok(store_->append({{"r", {{4, "u", "E"}, {5, "u", "F"}}}})));
  ASSERT_TRUE(store_->save_snapshot("r", 5, "{\"v\":5}", 1, 0));
  auto pruned = store_->load_room("r", 100);
  ASSERT_TRUE(pruned && *pruned);
  ASSERT_EQ((*pruned)->steps.size(), 2u);
  EXPECT_EQ((*pruned)->steps[0].version, 4);
  auto one = store_->load_room("r", 1);
  ASSERT_EQ((*one)->steps.size(), 1u);
  EXPECT_EQ((*one)->steps[0].version, 5);
}

TEST_P(StoreTest, HistoryAuthorshipVersionsAndDeletion) {
  ASSERT_TRUE(store_->create_room("doc/b", "{\"v\":0}"));
  ASSERT_TRUE(store_->create_room("doc/a", "{\"v\":0}"));
  ASSERT_TRUE(store_->create_room("docs", "{}"));
  ASSERT_TRUE(store_->create_room("other", "{}"));
  ASSERT_TRUE(all_ok(store_->append(
      {{"doc/a", {{1, "ann", "S1", 1000}, {2, "bob", "S2", 2000}, {3, "ann", "S3", 3000}}}})));

  // Listing: name order, by prefix, paged by `after`.
  auto all = store_->list_rooms("", "", 10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].room, "doc/a");
  EXPECT_EQ((*all)[0].version, 3);
  EXPECT_EQ((*all)[1].room, "doc/b");
  EXPECT_EQ((*all)[1].version, 0);
  EXPECT_GT((*all)[0].created_ms, 0);
  auto doc = store_->list_rooms("doc/", "", 10);
  ASSERT_EQ(doc->size(), 2u);
  auto page = store_->list_rooms("doc", "", 2);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[1].room, "doc/b");
  auto next = store_->list_rooms("doc", "doc/b", 2);
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].room, "docs");
  EXPECT_TRUE(store_->list_rooms("doc", "docs", 2)->empty());
  EXPECT_EQ(store_->list_rooms("docs", "", 5)->size(), 1u);  // a prefix that is a whole name

  // Steps with their authors and times.
  auto steps = store_->read_steps("doc/a", 1, 10);
  ASSERT_TRUE(steps && *steps);
  EXPECT_EQ((*steps)->version, 3);
  EXPECT_EQ((*steps)->first, 0);
  ASSERT_EQ((*steps)->steps.size(), 2u);
  EXPECT_EQ((*steps)->steps[0].user_id, "bob");
  EXPECT_EQ((*steps)->steps[0].time_ms, 2000);
  EXPECT_EQ((*steps)->steps[1].step_json, "S3");
  EXPECT_EQ(store_->read_steps("doc/a", 0, 1)->value().steps.size(), 1u);
  EXPECT_FALSE(store_->read_steps("nope", 0, 10)->has_value());

  // The document at a version: snapshot plus the steps up to it.
  ASSERT_TRUE(store_->save_snapshot("doc/a", 2, "{\"v\":2}", 100, 0));
  auto at1 = store_->load_version("doc/a", 1);
  ASSERT_TRUE(at1 && *at1);
  EXPECT_EQ((*at1)->snapshot_version, 0);
  ASSERT_EQ((*at1)->steps.size(), 1u);
  auto at3 = store_->load_version("doc/a", 3);
  EXPECT_EQ((*at3)->snapshot_version, 2);
  EXPECT_EQ((*at3)->snapshot_doc, "{\"v\":2}");
  ASSERT_EQ((*at3)->steps.size(), 1u);
  EXPECT_EQ((*at3)->steps[0].version, 3);
  // History kept from version 2 on only: version 1 is no longer answerable.
  ASSERT_TRUE(store_->save_snapshot("doc/a", 3, "{\"v\":3}", 1, 0));
  auto gone = store_->load_version("doc/a", 1);
  ASSERT_TRUE(gone && *gone);
  EXPECT_GT((*gone)->snapshot_version, 1);
  EXPECT_EQ(store_->read_steps("doc/a", 2, 10)->value().first, 2);
  EXPECT_TRUE(store_->read_steps("doc/a", 1, 10)->value().steps.empty());
  EXPECT_FALSE(store_->load_version("nope", 0)->has_value());

  // Named versions keep their documents, names unique per room, bounded.
  EXPECT_EQ(*store_->add_named_version("doc/a", {"draft", 1, 10}, "{\"d\":1}", 2),
            AddVersion::added);
  EXPECT_EQ(*store_->add_named_version("doc/a", {"draft", 3, 11}, "{}", 2), AddVersion::name_taken);
  EXPECT_EQ(*store_->add_named_version("doc/a", {"final", 3, 12}, "{\"d\":3}", 2),
            AddVersion::added);
  EXPECT_EQ(*store_->add_named_version("doc/a", {"more", 3, 13}, "{}", 2), AddVersion::full);
  EXPECT_EQ(*store_->add_named_version("nope", {"x", 0, 0}, "{}", 2), AddVersion::no_room);
  auto named = store_->named_versions("doc/a");
  ASSERT_EQ(named->size(), 2u);
  EXPECT_EQ((*named)[0].name, "draft");
  EXPECT_EQ((*named)[1].version, 3);
  EXPECT_EQ((*named)[1].time_ms, 12);
  EXPECT_EQ(store_->named_version_doc("doc/a", 1)->value(), "{\"d\":1}");
  EXPECT_FALSE(store_->named_version_doc("doc/a", 2)->has_value());

  // Deleting removes everything; the name can be used again.
  EXPECT_TRUE(*store_->delete_room("doc/a"));
  EXPECT_FALSE(*store_->delete_room("doc/a"));
  EXPECT_FALSE(*store_->room_exists("doc/a"));
  EXPECT_TRUE(store_->named_versions("doc/a")->empty());
  EXPECT_FALSE(store_->read_steps("doc/a", 0, 10)->has_value());
  ASSERT_TRUE(store_->create_room("doc/a", "{\"new\":1}"));
  auto fresh = store_->load_room("doc/a", 100);
  EXPECT_EQ((*fresh)->snapshot_doc, "{\"new\":1}");
  EXPECT_TRUE((*fresh)->steps.empty());
  EXPECT_EQ(store_->list_rooms("doc/a", "", 5)->front().version, 0);
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
  if (GetParam() != "redis") return;
  // Redis: what a store on the same server sees is the data; a restart of the server keeps
  // what it fsynced to its AOF before answering (appendfsync always), even after SIGKILL.
  testing::RedisProcess aof({"--appendonly", "yes", "--appendfsync", "always"});
  aof.start();
  auto durable = open_redis(aof.url());
  ASSERT_TRUE(durable);
  ASSERT_TRUE(durable->create_room("r", "{}"));
  ASSERT_TRUE(all_ok(durable->append({{"r", {{1, "u", "A", 7}, {2, "v", "B", 8}}}})));
  ASSERT_TRUE(durable->save_snapshot("r", 1, "{\"v\":1}", 10, 0));
  durable.reset();
  aof.kill9();
  aof.restart();
  durable = open_redis(aof.url());
  ASSERT_TRUE(durable);
  auto back = durable->load_room("r", 10);
  ASSERT_TRUE(back && *back);
  EXPECT_EQ((*back)->snapshot_version, 1);
  EXPECT_EQ((*back)->snapshot_doc, "{\"v\":1}");
  ASSERT_EQ((*back)->steps.size(), 2u);
  EXPECT_EQ((*back)->steps[1].user_id, "v");
  EXPECT_EQ((*back)->steps[1].time_ms, 8);
  // The log continues where it was.
  EXPECT_TRUE(all_ok(durable->append({{"r", {{3, "u", "C"}}}})));
  EXPECT_FALSE(all_ok(durable->append({{"r", {{3, "u", "C"}}}})));
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("memory", "sqlite", "redis"));

TEST_P(StoreTest, KeptSnapshotsAreAtLeastKeepEveryApart) {
  // A room that unloads after every step writes a snapshot each time: only those at least
  // keep_every versions after the last kept one stay readable (a bounded number per room).
  ASSERT_TRUE(store_->create_room("r", "{\"v\":0}"));
  for (int v = 1; v <= 12; ++v) {
    ASSERT_TRUE(all_ok(store_->append({{"r", {{v, "u", "S" + std::to_string(v), v}}}})));
    ASSERT_TRUE(store_->save_snapshot("r", v, "{\"v\":" + std::to_string(v) + "}", 100, 5));
  }
  // Kept: 0, 5, 10. The document at 7 is the snapshot at 5 plus steps 6 and 7.
  auto at7 = store_->load_version("r", 7);
  ASSERT_TRUE(at7 && *at7);
  EXPECT_EQ((*at7)->snapshot_version, 5);
  ASSERT_EQ((*at7)->steps.size(), 2u);
  EXPECT_EQ((*at7)->snapshot_doc, "{\"v\":5}");
  EXPECT_EQ(store_->load_version("r", 12)->value().snapshot_version, 10);
  // The latest snapshot, kept or not, is what a load starts from.
  EXPECT_EQ(store_->load_room("r", 0)->value().snapshot_version, 12);
  // Pruning to a 3-step history: it starts at 12 - 3 = 9, and the newest kept snapshot at or
  // before it is 5, which stays with the steps after it; 0 and steps 1 to 5 go.
  ASSERT_TRUE(store_->save_snapshot("r", 12, "{\"v\":12}", 3, 5));
  EXPECT_EQ(store_->load_version("r", 4)->value().snapshot_version, 5);  // too old: above 4
  EXPECT_EQ(store_->read_steps("r", 5, 100)->value().steps.size(), 7u);
}

// A database written by a release before authorship and kept snapshots: opening it adds both,
// and what it held stays readable.
TEST(SqliteStoreMigration, AddsStepTimesAndKeptSnapshots) {
  fs::path dir = fs::temp_directory_path() / ("rtpm-store-migrate-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string path = (dir / "old.db").string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE rooms(name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);"
                         "CREATE TABLE snapshots(room TEXT PRIMARY KEY, version INTEGER NOT NULL,"
                         " doc TEXT NOT NULL);"
                         "CREATE TABLE steps(room TEXT NOT NULL, version INTEGER NOT NULL,"
                         " user_id TEXT NOT NULL, step TEXT NOT NULL,"
                         " PRIMARY KEY(room, version)) WITHOUT ROWID;"
                         "INSERT INTO rooms VALUES('r', 5);"
                         "INSERT INTO snapshots VALUES('r', 2, '{\"v\":2}');"
                         "INSERT INTO steps VALUES('r', 3, 'ann', 'S3');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  for (int round = 0; round < 2; ++round) {  // the second open finds the new schema
    auto store = SqliteStore::open(path);
    ASSERT_TRUE(store) << store.error().message;
    auto steps = (*store)->read_steps("r", 2, 10);
    ASSERT_TRUE(steps && *steps);
    ASSERT_EQ((*steps)->steps.size(), round == 0 ? 1u : 2u);
    EXPECT_EQ((*steps)->steps[0].user_id, "ann");
    EXPECT_EQ((*steps)->steps[0].time_ms, 0);
    auto at3 = (*store)->load_version("r", 3);
    ASSERT_TRUE(at3 && *at3);
    EXPECT_EQ((*at3)->snapshot_version, 2);
    EXPECT_EQ((*at3)->snapshot_doc, "{\"v\":2}");
    if (round == 0) {
      ASSERT_TRUE(all_ok((*store)->append({{"r", {{4, "bob", "S4", 77}}}})));
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rtpm::store
