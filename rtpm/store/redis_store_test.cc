// What only the Redis store has: the fence, concurrent writers, the leases, reconnection and
// the script cache, WAIT. Against a real redis-server (rtpm/testing/redis_process.h); the
// Store contract itself is store_test.cc's, which runs against RedisStore too.
#include "rtpm/store/redis_store.h"

#include <atomic>
#include <latch>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "rtpm/store/redis_client.h"
#include "rtpm/store/redis_leases.h"
#include "rtpm/testing/redis_process.h"

namespace rtpm::store {
namespace {

using namespace std::chrono_literals;

bool all_ok(const std::vector<Result<void>>& results) {
  for (const auto& r : results)
    if (!r) return false;
  return !results.empty();
}

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { redis_.start(); }
  std::unique_ptr<RedisStore> open(RedisStoreOptions options = {}) {
    auto s = RedisStore::open(redis_.url(), std::move(options));
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }
  RedisClient client() { return RedisClient(*parse_redis_url(redis_.url())); }
  testing::RedisProcess redis_;
};

TEST(RedisStoreUrl, ParsesGoodAndRefusesBad) {
  auto plain = parse_redis_url("redis://127.0.0.1:6390");
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 6390);
  EXPECT_EQ(plain->db, 0);
  EXPECT_EQ(plain->password, "");
  auto full = parse_redis_url("redis://:s3cr@t/x@redis.internal:7000/3");
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(full->host, "redis.internal");
  EXPECT_EQ(full->port, 7000);
  EXPECT_EQ(full->db, 3);
  EXPECT_EQ(full->password, "s3cr@t/x");
  auto defaults = parse_redis_url("redis://localhost");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->port, 6379);
  auto v6 = parse_redis_url("redis://[::1]:6380/");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6380);
  EXPECT_EQ(v6->db, 0);
  for (const char* bad : {"", "127.0.0.1:6379", "http://h:1", "redis://", "redis://:6379",
                          "redis://h:", "redis://h:0", "redis://h:65536", "redis://h:12x",
                          "redis://h:1/db", "redis://h:1/-1", "redis://user:pw@h:1",
                          "redis://:@h:1", "redis://[::1", "redis://[::1]x"}) {
    auto r = parse_redis_url(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::internal);
      EXPECT_NE(r.error().message.find("Redis URL"), std::string::npos) << r.error().message;
    }
  }
}

TEST_F(RedisStoreTest, ClientRepliesPipelineAndServerErrors) {
  RedisClient c = client();
  EXPECT_FALSE(c.connected());  // lazily
  auto set = c.command({"SET", std::string("k\0ey", 4), std::string("v\0\r\n", 4)});
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_TRUE(c.connected());
  EXPECT_EQ(set->kind, Reply::Kind::status);
  EXPECT_GT(c.last_round_trip_us(), 0);
  auto replies = c.pipeline({{"GET", std::string("k\0ey", 4)},
                             {"INCR", std::string("k\0ey", 4)},
                             {"GET", "missing"},
                             {"RPUSH", "l", "a", "b"},
                             {"LRANGE", "l", "0", "-1"}});
  ASSERT_EQ(replies.size(), 5u);
  for (const auto& r : replies) ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(replies[0]->str, std::string("v\0\r\n", 4));  // binary-safe both ways
  EXPECT_TRUE(replies[1]->is_error());                    // a reply, not a failed call
  EXPECT_TRUE(replies[2]->is_nil());
  EXPECT_EQ(replies[3]->integer, 2);
  ASSERT_EQ(replies[4]->elements.size(), 2u);
  EXPECT_EQ(replies[4]->elements[1].str, "b");
  // A script's error reply is a Reply too.
  auto err = c.eval("return redis.error_reply('NOPE ' .. ARGV[1])", {}, {"x"});
  ASSERT_TRUE(err);
  EXPECT_TRUE(err->is_error());
  EXPECT_EQ(err->str, "NOPE x");
}

TEST_F(RedisStoreTest, ClientReconnectsAfterRestart) {
  RedisClient c = client();
  ASSERT_TRUE(c.command({"SET", "k", "1"}));
  redis_.stop();
  auto down = c.command({"GET", "k"});
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::internal);
  EXPECT_NE(down.error().message.find("redis"), std::string::npos) << down.error().message;
  EXPECT_FALSE(c.connected());
  auto still_down = c.command({"GET", "k"});  // a new connection, refused
  ASSERT_FALSE(still_down);
  EXPECT_NE(still_down.error().message.find("connect"), std::string::npos)
      << still_down.error().message;
  redis_.restart();
  auto up = c.command({"SET", "k", "2"});
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_FALSE(up->is_error());
  EXPECT_TRUE(c.connected());
}

TEST_F(RedisStoreTest, AConnectionRedisDroppedWhileIdleIsReplacedWithinTheCall) {
  // A restart between two calls: the open connection is dead, and the next call finds out
  // only when it sends; it goes once more on a new connection instead of failing.
  RedisClient c = client();
  ASSERT_TRUE(c.command({"SET", "k", "1"}));
  redis_.stop();
  redis_.restart();
  EXPECT_TRUE(c.connected());  // as far as it knows
  auto after = c.command({"SET", "k", "2"});
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_FALSE(after->is_error());
}

TEST_F(RedisStoreTest, ScriptsAreLoadedAgainAfterRedisForgotThem) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_room("r", "{}"));
  ASSERT_TRUE(all_ok(store->append({{"r", {{1, "u", "A"}}}})));
  // SCRIPT FLUSH: the store's next EVALSHA gets NOSCRIPT, loads the script and runs it.
  RedisClient other = client();
  ASSERT_TRUE(other.command({"SCRIPT", "FLUSH"}));
  ASSERT_TRUE(all_ok(store->append({{"r", {{2, "u", "B"}}}, {"r", {{3, "u", "C"}}}})));
  EXPECT_EQ(store->load_room("r", 10)->value().steps.size(), 3u);
  // A restart without persistence forgets the data and the scripts; the store's first call
  // finds its connection closed, the next ones work on a new one.
  redis_.stop();
  redis_.restart();
  (void)store->room_exists("r");
  EXPECT_FALSE(*store->room_exists("r"));
  ASSERT_TRUE(store->create_room("r", "{}"));
  auto again = store->append({{"r", {{1, "u", "A2"}}}});
  ASSERT_TRUE(all_ok(again)) << again[0].error().message;
  EXPECT_EQ(store->load_room("r", 10)->value().steps[0].step_json, "A2");
}

TEST_F(RedisStoreTest, FenceRefusesWritesOfANodeThatDoesNotOwnTheRoom) {
  std::map<std::string, std::string> tokens;  // what this node believes it holds
  RedisStoreOptions options;
  options.fence = [&](const std::string& room) -> std::optional<std::string> {
    auto it = tokens.find(room);
    if (it == tokens.end()) return std::nullopt;
    return it->second;
  };
  auto store = open(options);
  ASSERT_TRUE(store);
  RedisClient leases = client();
  ASSERT_TRUE(store->create_room("r", "{}"));  // creation is not fenced

  // No lease: nothing is written.
  auto none = store->append({{"r", {{1, "u", "A"}}}});
  ASSERT_FALSE(none[0]);
  EXPECT_TRUE(is_fenced(none[0].error())) << none[0].error().message;
  EXPECT_EQ(none[0].error().code, ErrorCode::internal);

  auto mine = acquire(leases, "r", "node-a", 60000);
  ASSERT_TRUE(mine) << mine.error().message;
  EXPECT_TRUE(mine->mine);
  // A token that is not the owner's: fenced, nothing written.
  tokens["r"] = "node-a|999";
  auto wrong = store->append({{"r", {{1, "u", "A"}}}});
  ASSERT_FALSE(wrong[0]);
  EXPECT_TRUE(is_fenced(wrong[0].error())) << wrong[0].error().message;
  EXPECT_EQ(store->read_steps("r", 0, 10)->value().version, 0);

  tokens["r"] = mine->token;
  ASSERT_TRUE(all_ok(store->append({{"r", {{1, "u", "A"}}}})));
  ASSERT_TRUE(store->save_snapshot("r", 1, "{\"v\":1}", 10, 0));
  EXPECT_EQ(*store->add_named_version("r", {"one", 1, 5}, "{\"v\":1}", 10), AddVersion::added);

  // The lease moves to another node (this one paused past its TTL, the key expired): a
  // higher epoch.
  ASSERT_TRUE(leases.command({"DEL", redis_room_key("r", "owner")}));
  auto theirs = acquire(leases, "r", "node-b", 60000);
  ASSERT_TRUE(theirs);
  EXPECT_TRUE(theirs->mine);  // node-b's
  EXPECT_EQ(theirs->node, "node-b");
  EXPECT_GT(theirs->epoch, mine->epoch);
  auto late = store->append({{"r", {{2, "u", "late"}}}, {"r", {{3, "u", "later"}}}});
  ASSERT_EQ(late.size(), 2u);
  EXPECT_TRUE(!late[0] && is_fenced(late[0].error()));
  EXPECT_FALSE(late[1]);
  auto snap = store->save_snapshot("r", 2, "{\"stale\":1}", 10, 0);
  ASSERT_FALSE(snap);
  EXPECT_TRUE(is_fenced(snap.error())) << snap.error().message;
  auto named = store->add_named_version("r", {"two", 1, 6}, "{}", 10);
  EXPECT_TRUE(!named && is_fenced(named.error()));
  auto deleted = store->delete_room("r");
  EXPECT_TRUE(!deleted && is_fenced(deleted.error()));

  // The new owner writes; what the old one tried is nowhere.
  std::map<std::string, std::string> their_tokens = {{"r", theirs->token}};
  RedisStoreOptions their_options;
  their_options.fence = [&](const std::string& room) -> std::optional<std::string> {
    return their_tokens.at(room);
  };
  auto owner = open(their_options);
  ASSERT_TRUE(owner);
  ASSERT_TRUE(all_ok(owner->append({{"r", {{2, "v", "B"}}}})));
  auto room = owner->load_room("r", 10);
  ASSERT_TRUE(room && *room);
  EXPECT_EQ((*room)->snapshot_doc, "{\"v\":1}");
  ASSERT_EQ((*room)->steps.size(), 2u);
  EXPECT_EQ((*room)->steps[1].step_json, "B");
  EXPECT_EQ(owner->named_versions("r")->size(), 1u);
  EXPECT_TRUE(*owner->delete_room("r"));
  // Deletion keeps the epoch: the next owner's token is newer still.
  ASSERT_TRUE(release(leases, "r", theirs->token));
  auto next = acquire(leases, "r", "node-a", 60000);
  ASSERT_TRUE(next);
  EXPECT_GT(next->epoch, theirs->epoch);
}

TEST_F(RedisStoreTest, TwoStoresAppendingTheSameVersionOneWins) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->create_room("r", "{}"));
  constexpr int kRounds = 50;
  std::atomic<int> wins_a = 0, wins_b = 0;
  for (int v = 1; v <= kRounds; ++v) {
    std::latch go(2);
    std::vector<Result<void>> ra, rb;
    std::thread ta([&] {
      go.arrive_and_wait();
      ra = a->append({{"r", {{v, "a", "A" + std::to_string(v)}}}});
    });
    std::thread tb([&] {
      go.arrive_and_wait();
      rb = b->append({{"r", {{v, "b", "B" + std::to_string(v)}}}});
    });
    ta.join();
    tb.join();
    ASSERT_EQ(ra.size(), 1u);
    ASSERT_EQ(rb.size(), 1u);
    ASSERT_NE(ra[0].ok(), rb[0].ok()) << "round " << v;
    const Result<void>& lost = ra[0] ? rb[0] : ra[0];
    EXPECT_NE(lost.error().message.find("version conflict"), std::string::npos)
        << lost.error().message;
    EXPECT_FALSE(is_fenced(lost.error()));
    (ra[0] ? wins_a : wins_b)++;
  }
  auto page = a->read_steps("r", 0, 1000);
  ASSERT_TRUE(page && *page);
  EXPECT_EQ((*page)->version, kRounds);
  ASSERT_EQ((*page)->steps.size(), static_cast<size_t>(kRounds));
  for (int v = 1; v <= kRounds; ++v) EXPECT_EQ((*page)->steps[v - 1].version, v);
  EXPECT_EQ(wins_a + wins_b, kRounds);
}

TEST_F(RedisStoreTest, LeasesAcquireRenewReleaseAndOwners) {
  RedisClient c = client();
  // Node names are opaque: only the text after the last '|' is the epoch.
  const std::string a = "ws://127.0.0.1:8080/ws#a|b";
  const std::string b = "ws://127.0.0.1:8081/ws#x";
  auto first = acquire(c, "room/1", a, 200);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->mine);
  EXPECT_EQ(first->node, a);
  EXPECT_EQ(first->epoch, 1);
  EXPECT_EQ(first->token, a + "|1");
  auto taken = acquire(c, "room/1", b, 200);  // someone owns it: the owner comes back
  ASSERT_TRUE(taken);
  EXPECT_FALSE(taken->mine);
  EXPECT_EQ(taken->token, first->token);
  EXPECT_EQ(taken->node, a);
  auto again = acquire(c, "room/1", a, 200);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->mine);
  EXPECT_EQ(again->epoch, 1);

  auto renewed = renew(c, {{"room/1", first->token}, {"room/1", b + "|1"}, {"room/2", "x|1"}}, 200);
  ASSERT_TRUE(renewed) << renewed.error().message;
  EXPECT_EQ(*renewed, (std::vector<bool>{true, false, false}));
  EXPECT_TRUE(renew(c, {}, 200)->empty());

  auto who = owners(c, {"room/1", "room/2"});
  ASSERT_TRUE(who);
  ASSERT_EQ(who->size(), 2u);
  EXPECT_EQ((*who)[0], first->token);
  EXPECT_FALSE((*who)[1]);

  // Expiry: nobody owns it; the renewal comes too late; the next owner gets a new epoch.
  std::this_thread::sleep_for(350ms);
  EXPECT_FALSE(owners(c, {"room/1"})->front());
  EXPECT_EQ(*renew(c, {{"room/1", first->token}}, 200), std::vector<bool>{false});
  auto second = acquire(c, "room/1", b, 60000);
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->mine);
  EXPECT_EQ(second->epoch, 2);
  EXPECT_EQ(second->node, b);

  // Only the holder releases.
  ASSERT_TRUE(release(c, "room/1", first->token));
  EXPECT_EQ(owners(c, {"room/1"})->front(), second->token);
  ASSERT_TRUE(release(c, "room/1", second->token));
  EXPECT_FALSE(owners(c, {"room/1"})->front());
  auto third = acquire(c, "room/1", a, 60000);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->epoch, 3);

  auto parsed = parse_lease_token("a|b|42", "a|b");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->node, "a|b");
  EXPECT_EQ(parsed->epoch, 42);
  EXPECT_TRUE(parsed->mine);
  EXPECT_FALSE(parse_lease_token("no-epoch", "x"));
  EXPECT_FALSE(parse_lease_token("node|", "x"));
  EXPECT_FALSE(parse_lease_token("node|4x", "x"));
}

TEST_F(RedisStoreTest, LeasesFailWhileRedisIsDown) {
  RedisClient c = client();
  redis_.stop();
  auto lease = acquire(c, "r", "n", 1000);
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error().code, ErrorCode::internal);
  EXPECT_FALSE(renew(c, {{"r", "n|1"}}, 1000));
  EXPECT_FALSE(owners(c, {"r"}));
  redis_.restart();
  EXPECT_TRUE(acquire(c, "r", "n", 1000));
}

TEST_F(RedisStoreTest, WaitForAReplicaThatIsNotThereFailsTheAppend) {
  RedisStoreOptions options;
  options.wait_replicas = 1;
  options.wait_timeout_ms = 50;
  auto store = open(options);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_room("r", "{}"));
  ASSERT_TRUE(store->create_room("s", "{}"));
  auto results = store->append({{"r", {{1, "u", "A"}}}, {"s", {{1, "u", "B"}}}});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("WAIT"), std::string::npos) << r.error().message;
  }
  // On the primary, not acknowledged: the room's log holds the step.
  EXPECT_EQ(store->read_steps("r", 0, 10)->value().version, 1);
}

TEST_F(RedisStoreTest, OpenFailsWithoutRedis) {
  std::string url = redis_.url();
  redis_.stop();
  auto store = RedisStore::open(url);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::internal);
  EXPECT_NE(store.error().message.find("redis"), std::string::npos);
  auto bad = RedisStore::open("redis://h:x");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("Redis URL"), std::string::npos);
}

TEST_F(RedisStoreTest, KeyLayout) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_room("doc/a", "{}"));
  ASSERT_TRUE(all_ok(store->append({{"doc/a", {{1, "ann", "S1", 42}, {2, "bob", "S2", 43}}}})));
  EXPECT_GE(store->last_round_trip_us(), 0);
  RedisClient c = client();
  auto meta = c.command({"HGET", "rtpm:{doc/a}:meta", "version"});
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->str, "2");
  auto entries = c.command({"XRANGE", "rtpm:{doc/a}:log", "2-0", "2-0"});
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->elements.size(), 1u);
  EXPECT_EQ(entries->elements[0].elements[0].str, "2-0");
  auto fields = entries->elements[0].elements[1].elements;
  ASSERT_EQ(fields.size(), 6u);
  EXPECT_EQ(fields[0].str, "u");
  EXPECT_EQ(fields[1].str, "bob");
  EXPECT_EQ(fields[3].str, "S2");
  EXPECT_EQ(fields[5].str, "43");
  auto rooms = c.command({"ZRANGE", "rtpm:rooms", "0", "-1"});
  ASSERT_TRUE(rooms);
  ASSERT_EQ(rooms->elements.size(), 1u);
  EXPECT_EQ(rooms->elements[0].str, "doc/a");
}

}  // namespace
}  // namespace rtpm::store
