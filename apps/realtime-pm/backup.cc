#include "backup.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include "rtpm/base/error.h"
#include "rtpm/server/options.h"
#include "rtpm/store/sqlite_store.h"

namespace rtpm::apps {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct BackupFlags {
  std::string data_dir = server::ServerOptions{}.data_dir;
  std::string out;
};

// How long the copy waits for a database that another connection holds busy
// (e.g. recovering its WAL after a crash) before it gives up.
constexpr auto kBusyWait = 10s;

Error failure(std::string message) { return Error{ErrorCode::internal, std::move(message)}; }

// A SQLite connection, closed at scope exit.
struct Connection {
  sqlite3* db = nullptr;
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close(); }
  int close() {
    int rc = sqlite3_close(db);
    db = nullptr;
    return rc;
  }
  std::string message() const { return db ? sqlite3_errmsg(db) : "out of memory"; }
};

Result<void> open(Connection& c, const std::string& path, int flags) {
  if (sqlite3_open_v2(path.c_str(), &c.db, flags, nullptr) != SQLITE_OK)
    return failure("cannot open " + path + ": " + c.message());
  sqlite3_busy_timeout(c.db, static_cast<int>(std::chrono::milliseconds(kBusyWait).count()));
  return {};
}

// Runs `sql` and returns the first column of each row it yields.
Result<std::vector<std::string>> query(Connection& c, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(c.db, sql, -1, &s, nullptr) != SQLITE_OK)
    return failure(std::string(sql) + ": " + c.message());
  std::vector<std::string> rows;
  int rc = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(s, 0);
    rows.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return failure(std::string(sql) + ": " + c.message());
  return rows;
}

// Copies every page of `from` into `to` in one sqlite3_backup_step. One step
// reads the source in one read transaction: in WAL mode that sees the database
// as of the step's start while the server goes on committing (readers and the
// writer do not block each other), and no write can restart the copy halfway,
// as it would between the steps of an incremental backup.
Result<void> copy_pages(Connection& from, Connection& to) {
  sqlite3_backup* b = sqlite3_backup_init(to.db, "main", from.db, "main");
  if (!b) return failure("backup: " + to.message());
  auto until = std::chrono::steady_clock::now() + kBusyWait;
  int rc = 0;
  while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    if (std::chrono::steady_clock::now() > until) break;
    std::this_thread::sleep_for(50ms);
  }
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE)
    return failure(std::string("backup: ") + sqlite3_errstr(rc) + ": " + to.message());
  return {};
}

// fsync()s a file or folder, so that a rename after it survives a crash.
Result<void> sync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failure("open " + path + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return failure("fsync " + path + ": " + std::strerror(err));
  return {};
}

struct Summary {
  std::string rooms, steps;
  uintmax_t bytes = 0;
};

// Makes the checked copy at `tmp`: pages, then a standalone file (rollback
// journal instead of WAL, so that the copy is one file), then the checks.
Result<Summary> make_copy(const std::string& source, const std::string& tmp) {
  Connection from, to;
  // Read-only: the copy never writes to the server's files, and never creates
  // a database where there was none.
  if (auto r = open(from, source, SQLITE_OPEN_READONLY); !r) return r.error();
  if (auto r = open(to, tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE); !r) return r.error();
  if (auto r = copy_pages(from, to); !r) return r.error();
  from.close();
  // The copied header still says WAL; reopened, the copy reads it and switches.
  if (to.close() != SQLITE_OK) return failure("close " + tmp);
  if (auto r = open(to, tmp, SQLITE_OPEN_READWRITE); !r) return r.error();
  auto mode = query(to, "PRAGMA journal_mode=DELETE");
  if (!mode) return mode.error();
  if (mode->size() != 1 || (*mode)[0] != "delete")
    return failure("the copy stays in journal mode " + (mode->empty() ? "?" : (*mode)[0]));
  auto check = query(to, "PRAGMA integrity_check");
  if (!check) return check.error();
  if (check->size() != 1 || (*check)[0] != "ok")
    return failure("the copy fails PRAGMA integrity_check: " +
                   (check->empty() ? std::string("no answer") : (*check)[0]));
  Summary summary;
  auto rooms = query(to, "SELECT COUNT(*) FROM rooms");
  auto steps = query(to, "SELECT COUNT(*) FROM steps");
  if (!rooms || !steps)
    return failure(source + " is not a realtime-pm database: " +
                   (!rooms ? rooms.error() : steps.error()).message);
  summary.rooms = rooms->at(0);
  summary.steps = steps->at(0);
  if (to.close() != SQLITE_OK) return failure("close " + tmp);
  std::error_code ec;
  summary.bytes = fs::file_size(tmp, ec);
  return summary;
}

// Whether `out` names the source database or one of its WAL files, which the
// final rename would replace under the running server.
bool is_source(const std::string& out, const std::string& source) {
  std::error_code ec;
  fs::path s = fs::weakly_canonical(source, ec);
  fs::path o = fs::weakly_canonical(out, ec);
  if (ec) return false;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    if (o == fs::path(s.string() + suffix)) return true;
  return fs::exists(out, ec) && fs::equivalent(out, source, ec);
}

int run(const BackupFlags& flags) {
  auto fail = [](const std::string& message) {
    std::cerr << "realtime-pm backup: " << message << "\n";
    return 1;
  };
  std::string source = store::database_path(flags.data_dir);
  std::error_code ec;
  if (!fs::is_regular_file(source, ec))
    return fail("no database at " + source + " (--data names the server's data folder)");
  if (is_source(flags.out, source))
    return fail(flags.out + " is the server's database; choose another file");
  fs::path out = flags.out;
  fs::path folder = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(folder, ec)) return fail("no folder " + folder.string());
  if (fs::is_directory(out, ec)) return fail(flags.out + " is a folder; name a file");

  // The copy is made beside OUT and renamed over it once complete and checked.
  std::string tmp = flags.out + ".tmp";
  auto remove_tmp = [&] {
    fs::remove(tmp, ec);
    fs::remove(tmp + "-journal", ec);
  };
  remove_tmp();
  auto summary = make_copy(source, tmp);
  if (summary) {
    if (auto r = sync_path(tmp); !r) summary = r.error();
  }
  if (!summary) {
    remove_tmp();
    return fail(summary.error().message);
  }
  if (std::rename(tmp.c_str(), flags.out.c_str()) != 0) {
    int err = errno;
    remove_tmp();
    return fail("rename " + tmp + " to " + flags.out + ": " + std::strerror(err));
  }
  if (auto r = sync_path(folder.string()); !r) return fail(r.error().message);
  std::cout << "backup: " << source << " -> " << flags.out << " (rooms: " << summary->rooms
            << ", steps: " << summary->steps << ", bytes: " << summary->bytes
            << ", integrity: ok)\n";
  return 0;
}

}  // namespace

void add_backup_command(CLI::App& app) {
  auto flags = std::make_shared<BackupFlags>();
  CLI::App* cmd = app.add_subcommand(
      "backup",
      "Copy the server's SQLite database (DATA/realtime-pm.db) to OUT while it runs.\n"
      "The copy is consistent (every step committed before it started, none half), passes\n"
      "PRAGMA integrity_check, and is one file; OUT is replaced only once it is complete.\n"
      "Start a server on it by putting it in an empty folder as realtime-pm.db.");
  cmd->add_option("--data", flags->data_dir, "The server's data folder (its --data)")
      ->envname("RTPM_DATA")
      ->capture_default_str();
  cmd->add_option("out", flags->out, "The file to write (replaced if it exists)")->required();
  cmd->callback([flags] { std::exit(run(*flags)); });
}

}  // namespace rtpm::apps
