// `realtime-pm backup` against the real server binary: copies taken while
// clients keep writing are consistent (each room exactly as it was at one
// version, at least every step acknowledged before the copy began), pass
// PRAGMA integrity_check, and a server started on a copy serves them. Bad
// input (no database, not a database, the server's own file as OUT) fails
// with a message and leaves every file as it was.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "apps/realtime-pm/serve_test_support.h"
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "rtpm/testing/server_process.h"

namespace rtpm::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kBinary = RTPM_BINARY;

// Each step appends one token: "000001," for version 1, and so on, so the text
// of a room at version V is exactly the tokens 1..V.
constexpr int kTokenSize = 7;
std::string token(int64_t version) {
  std::string digits = std::to_string(version);
  return std::string(6 - std::min<size_t>(6, digits.size()), '0') + digits + ",";
}
std::string tokens(int64_t up_to) {
  std::string text;
  for (int64_t v = 1; v <= up_to; ++v) text += token(v);
  return text;
}

// The paragraph text of a room document of the basic schema ("" when empty).
std::string paragraph_text(const json::Value& doc) {
  const json::Value* paragraphs = doc.find("content");
  if (!paragraphs || paragraphs->as_array().empty()) return "?";
  const json::Value* inline_content = paragraphs->as_array()[0].find("content");
  if (!inline_content) return "";
  std::string text;
  for (const auto& node : inline_content->as_array()) text += str_field(node, "text");
  return text;
}

// One client appending tokens to one room, a step at a time, each after the
// previous one's ack, until stopped. acked() is the last acknowledged version.
class Writer {
 public:
  Writer(uint16_t port, std::string room) : room_(std::move(room)) {
    thread_ = std::thread([this, port] { run(port); });
  }
  ~Writer() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t acked() const { return acked_; }
  const std::string& room() const { return room_; }
  /// What went wrong in the writer thread ("" when nothing).
  std::string error() {
    stop();
    return error_;
  }

 private:
  void run(uint16_t port) {
    try {
      WsClient client(port);
      client.send(join_msg(room_, "writer"));
      auto state = client.recv_type("state", 10s);
      if (!state) throw std::runtime_error("no state");
      int64_t version = num_field(*state, "version");
      while (!stop_) {
        std::string step =
            insert_step(static_cast<int>(1 + kTokenSize * version), token(version + 1));
        client.send(steps_msg(room_, "writer", version, "[" + step + "]"));
        auto ack = client.recv_type("ack", 10s);
        if (!ack) throw std::runtime_error("no ack after version " + std::to_string(version));
        version = num_field(*ack, "version");
        acked_ = version;
      }
    } catch (const std::exception& e) {
      error_ = room_ + ": " + e.what();
    }
  }

  std::string room_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> acked_{0};
  std::string error_;
  std::thread thread_;
};

// PRAGMA integrity_check on `path`, opened read-only by this process.
std::string integrity(const std::string& path) {
  sqlite3* db = nullptr;
  std::string answer = "cannot open";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    answer = "no answer";
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
      answer = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return answer;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rtpm-backup-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  CommandResult backup(const std::string& data, const std::string& out) {
    return run_command(kBinary + " backup --data '" + data + "' '" + out + "' 2>&1");
  }

  // Starts a server on a copy of `backup_file` and checks every room of
  // `acked_before`: at a version V no older than the acked one, with exactly
  // the text of tokens 1..V (the room as it was at one moment).
  void check_restored(const std::string& backup_file,
                      const std::map<std::string, int64_t>& acked_before) {
    std::string data = dir_ + "/restored-" + std::to_string(restores_++);
    fs::create_directories(data);
    fs::copy_file(backup_file, data + "/realtime-pm.db");
    ServerProcess restored(kBinary, {}, data);
    restored.start();
    for (const auto& [room, acked] : acked_before) {
      json::Value answer = room_doc(restored.port(), room);
      int64_t version = num_field(answer, "version");
      EXPECT_GE(version, acked) << room << ": a step acknowledged before the backup is missing";
      EXPECT_EQ(paragraph_text(*answer.find("doc")), tokens(version)) << room;
    }
    EXPECT_EQ(restored.stop(), 0);
  }

  std::string dir_;
  int restores_ = 0;
};

TEST_F(BackupTest, CopiesARunningServerUnderWriteLoad) {
  // Snapshots every 25 steps, so copies also catch snapshot writes and pruning.
  ServerProcess server(kBinary, {"--rate-limit", "100000", "--rate-burst", "100000",
                                 "--snapshot-every", "25", "--history", "40"});
  server.start();
  std::vector<std::unique_ptr<Writer>> writers;
  for (const char* room : {"alpha", "beta", "gamma"})
    writers.push_back(std::make_unique<Writer>(server.port(), room));
  auto all_past = [&](int64_t version) {
    return eventually(
        [&] {
          for (auto& w : writers)
            if (w->acked() < version) return false;
          return true;
        },
        30s);
  };
  ASSERT_TRUE(all_past(30)) << writers[0]->error();

  std::string out = dir_ + "/backup.db";
  int64_t last_before = 0;
  for (int i = 0; i < 3; ++i) {
    std::map<std::string, int64_t> acked_before;
    for (auto& w : writers) {
      acked_before[w->room()] = w->acked();
      last_before = std::max(last_before, w->acked());
    }
    CommandResult r = backup(server.data_dir(), out);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("rooms: 3,"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("integrity: ok)"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out + ".tmp"));
    EXPECT_EQ(integrity(out), "ok");
    check_restored(out, acked_before);
  }
  // The server went on writing through the copies and after them.
  ASSERT_TRUE(all_past(last_before + 10));
  for (auto& w : writers) EXPECT_EQ(w->error(), "");

  // A stopped server (its WAL checkpointed and removed) is copied the same way.
  std::map<std::string, int64_t> final_versions;
  for (auto& w : writers) final_versions[w->room()] = w->acked();
  ASSERT_EQ(server.stop(), 0);
  CommandResult r = backup(server.data_dir(), out);
  ASSERT_EQ(r.status, 0) << r.output;
  check_restored(out, final_versions);
}

TEST_F(BackupTest, NoDatabaseInTheDataFolder) {
  std::string empty = dir_ + "/empty";
  fs::create_directories(empty);
  CommandResult r = backup(empty, dir_ + "/out.db");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no database at " + empty + "/realtime-pm.db"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/out.db"));
  EXPECT_TRUE(fs::is_empty(empty));  // nothing created where there was no database
}

TEST_F(BackupTest, NotADatabaseLeavesThePreviousBackup) {
  std::string data = dir_ + "/data";
  fs::create_directories(data);
  std::ofstream(data + "/realtime-pm.db") << "this is not a SQLite database, but long enough to "
                                             "have a header of one hundred bytes......... ........"
                                             "..........................................\n";
  std::string out = dir_ + "/out.db";
  std::ofstream(out) << "the previous backup";
  CommandResult r = backup(data, out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("realtime-pm backup: "), std::string::npos) << r.output;
  EXPECT_EQ(read_file(out), "the previous backup");
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

TEST_F(BackupTest, RefusesToWriteOverTheServersDatabase) {
  ServerProcess server(kBinary);
  server.start();
  WsClient client(server.port());
  client.send(join_msg("r", "u"));
  ASSERT_TRUE(client.recv_type("state"));
  client.send(steps_msg("r", "u", 0, "[" + insert_step(1, "kept") + "]"));
  ASSERT_TRUE(client.recv_type("ack"));

  std::string db = server.data_dir() + "/realtime-pm.db";
  for (const std::string& out :
       {db, server.data_dir() + "/../" + fs::path(server.data_dir()).filename().string() +
                "/realtime-pm.db-wal"}) {
    CommandResult r = backup(server.data_dir(), out);
    EXPECT_EQ(r.status, 1) << out;
    EXPECT_NE(r.output.find("is the server's database"), std::string::npos) << r.output;
  }
  // The server and its database carry on untouched.
  client.send(steps_msg("r", "u", 1, "[" + insert_step(5, "!") + "]"));
  auto ack = client.recv_type("ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(num_field(*ack, "version"), 2);
  EXPECT_EQ(paragraph_text(*room_doc(server.port(), "r").find("doc")), "kept!");
  EXPECT_EQ(integrity(db), "ok");
}

TEST_F(BackupTest, OutputFolderMustExist) {
  ServerProcess server(kBinary);
  server.start();
  WsClient client(server.port());
  client.send(join_msg("r", "u"));
  ASSERT_TRUE(client.recv_type("state"));
  CommandResult r = backup(server.data_dir(), dir_ + "/missing/out.db");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no folder " + dir_ + "/missing"), std::string::npos) << r.output;
  r = backup(server.data_dir(), dir_);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("is a folder"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace rtpm::testing
