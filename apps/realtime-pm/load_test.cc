// `realtime-pm load` against the real `realtime-pm serve`: short runs of the
// typing and idle modes over both subprotocols and several source addresses;
// the JSON line keeps every field it has always had, adds the new ones, and
// says the run was valid (every client equal to the server). Figures are not
// checked: tests never time anything.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "apps/realtime-pm/serve_test_support.h"
#include <gtest/gtest.h>
#include <sys/wait.h>

namespace rtpm::testing {
namespace {

struct LoadRun {
  int status = -1;  // the exit status
  std::string out;  // standard output
  json::Value result;
};

class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(
        RTPM_BINARY, std::vector<std::string>{"--rate-limit", "100000", "--rate-burst", "100000"});
    server_->start();
  }
  std::string target() const { return "ws://127.0.0.1:" + std::to_string(server_->port()) + "/ws"; }
  // Runs `realtime-pm load ARGS` (stdout to a file of the server's data folder).
  LoadRun load(const std::string& args) {
    std::string out_file = server_->data_dir() + "/load.out";
    std::string command = std::string(RTPM_BINARY) + " load " + args + " > " + out_file;
    int raw = std::system(command.c_str());
    LoadRun run;
    run.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    std::ifstream in(out_file);
    std::stringstream text;
    text << in.rdbuf();
    run.out = text.str();
    auto parsed = json::parse(run.out);
    if (parsed) run.result = *parsed;
    return run;
  }
  static void expect_fields(const json::Value& v, std::initializer_list<const char*> keys,
                            const std::string& where) {
    for (const char* k : keys) EXPECT_TRUE(v.find(k)) << where << " has no " << k;
  }

  std::unique_ptr<ServerProcess> server_;
};

TEST_F(LoadTest, TypingRunReportsEveryFieldAndEndsValid) {
  auto run = load(
      "--rooms 2 --clients-per-room 3 --rate 10 --duration 2 --warmup 0.5 --drain 15 "
      "--room-prefix typing --server-pid " +
      std::to_string(server_->pid()) + " --target " + target());
  EXPECT_EQ(run.status, 0) << run.out;
  const json::Value& r = run.result;
  ASSERT_TRUE(r.is_object()) << run.out;
  // Every field the load tool has always written, then the new ones.
  expect_fields(r,
                {"scenario",
                 "rooms",
                 "clients_per_room",
                 "connections",
                 "joined",
                 "failed",
                 "joins_per_s",
                 "ops",
                 "latency_ms",
                 "latency_incomplete",
                 "conflicts",
                 "conflicts_per_s",
                 "rejections",
                 "resyncs",
                 "errors",
                 "server",
                 "mismatched_clients",
                 "valid",
                 "load_cpu_share",
                 "resends",
                 "dropped_steps",
                 "reconnects",
                 "subprotocol",
                 "server_rebase",
                 "rebased_batches"},
                "result");
  expect_fields(*r.find("ops"), {"offered_per_s", "sent_per_s", "accepted_per_s"}, "ops");
  expect_fields(*r.find("latency_ms"), {"p50", "p95", "p99", "max", "mean", "samples"},
                "latency_ms");
  expect_fields(*r.find("server"),
                {"cpu_s", "cpu_share", "cpu_ms_per_op", "rss_kib", "peak_rss_kib"}, "server");
  EXPECT_EQ(num_field(r, "connections"), 6);
  EXPECT_EQ(num_field(r, "joined"), 6);
  EXPECT_EQ(num_field(r, "failed"), 0);
  EXPECT_EQ(num_field(r, "mismatched_clients"), 0);
  EXPECT_TRUE(r.find("valid")->as_bool());
  EXPECT_EQ(str_field(r, "subprotocol"), "json");
  EXPECT_TRUE(r.find("server_rebase")->as_bool());  // the server offers it by default
  EXPECT_GT(r.find("ops")->find("accepted_per_s")->as_number(), 0);
  EXPECT_GT(r.find("latency_ms")->find("samples")->as_number(), 0);
  EXPECT_GT(r.find("server")->find("rss_kib")->as_number(), 0);
  double share = r.find("load_cpu_share")->as_number();
  EXPECT_GT(share, 0);
  EXPECT_LE(share, 1.5);
  // The clients' documents were compared with these.
  for (const char* room : {"typing-0", "typing-1"})
    EXPECT_GT(num_field(room_doc(server_->port(), room), "version"), 0) << room;
}

TEST_F(LoadTest, BinarySubprotocol) {
  auto run = load(
      "--rooms 1 --clients-per-room 3 --rate 10 --duration 1 --warmup 0.5 --binary "
      "--room-prefix bin --target " +
      target());
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_EQ(str_field(run.result, "subprotocol"), "binary") << run.out;
  EXPECT_TRUE(run.result.find("valid") && run.result.find("valid")->as_bool()) << run.out;
}

TEST_F(LoadTest, IdleConnectionsFromSeveralSourceAddresses) {
  auto run = load(
      "--idle --rooms 2 --clients-per-room 4 --hold 1 --source-addresses 3 "
      "--room-prefix idle --server-pid " +
      std::to_string(server_->pid()) + " --target " + target());
  EXPECT_EQ(run.status, 0) << run.out;
  const json::Value& r = run.result;
  ASSERT_TRUE(r.is_object()) << run.out;
  expect_fields(
      r, {"joined", "failed", "joins_per_s", "server", "valid", "load_cpu_share", "server_rebase"},
      "result");
  expect_fields(
      *r.find("server"),
      {"rss_before_kib", "rss_after_kib", "peak_rss_kib", "kib_per_connection", "idle_cpu_share"},
      "server");
  EXPECT_EQ(num_field(r, "joined"), 8);
  EXPECT_TRUE(r.find("valid")->as_bool());
}

// --no-server-rebase speaks protocol version 1 to a server that offers the
// extension; hot-room-2k and hot-room-5k are scenarios (cut short here).
TEST_F(LoadTest, NoServerRebaseSpeaksVersion1AndTheHotRoomScenariosExist) {
  auto v1 = load(
      "--rooms 1 --clients-per-room 3 --rate 10 --duration 1 --warmup 0.5 --no-server-rebase "
      "--room-prefix v1 --target " +
      target());
  EXPECT_EQ(v1.status, 0) << v1.out;
  ASSERT_TRUE(v1.result.find("server_rebase")) << v1.out;
  EXPECT_FALSE(v1.result.find("server_rebase")->as_bool());
  EXPECT_EQ(num_field(v1.result, "rebased_batches"), 0);
  for (const char* scenario : {"hot-room-2k", "hot-room-5k"}) {
    auto run = load(std::string("--scenario ") + scenario +
                    " --connections 4 --duration 0.5 --warmup 0.2 --room-prefix " + scenario +
                    " --target " + target());
    ASSERT_TRUE(run.result.is_object()) << scenario << ": " << run.out;
    EXPECT_EQ(str_field(run.result, "scenario"), scenario);
    EXPECT_EQ(num_field(run.result, "clients_per_room"), 100) << scenario;
    EXPECT_EQ(num_field(run.result, "connections"), 4) << scenario;
    ASSERT_TRUE(run.result.find("ops")) << run.out;
    EXPECT_EQ(num_field(*run.result.find("ops"), "offered_per_s"),
              std::string(scenario) == "hot-room-2k" ? 2000 : 5000);
    EXPECT_TRUE(run.result.find("server_rebase")->as_bool()) << scenario;
  }
}

TEST_F(LoadTest, ABadTargetOrRoomPrefixExitsWith2) {
  EXPECT_EQ(load("--duration 1 --target http://127.0.0.1:1/ws").status, 2);
  EXPECT_EQ(load("--duration 1 --room-prefix 'bad room' --target " + target()).status, 2);
}

}  // namespace
}  // namespace rtpm::testing
