// StorageWorker: the one thread that talks to the Store.
//
// Rooms hand it jobs and get their completion callbacks on the worker thread
// (they post back to their own strand). Appends that are queued together run
// as one Store::append call, i.e. one transaction and one sync for every
// batch accepted across all rooms while the previous commit was running:
// group commit without a fixed timer, so an idle server commits at once and
// a busy one amortises the sync. Each append's callback gets its own batch's
// result: one room's failed batch does not fail the other rooms of the same
// commit (a failed commit fails them all). Jobs run in the order they were
// queued.
//
// It also returns freed memory to the system (release_memory) after a large
// room unloads, off the rooms' threads.
//
// With a store that neither blocks nor needs one thread (the memory store: a
// map under a mutex), `inline_jobs` runs every job at once on the caller's
// thread instead, callbacks included: a step then costs no wake-up of the
// worker and none of the room's thread back (two task switches a step, the
// largest share of the memory store's kernel time). The thread is then only
// for release_memory.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>

#include "rtpm/store/store.h"

namespace rtpm::server {

class Metrics;

class StorageWorker {
 public:
  StorageWorker(store::Store& store, Metrics& metrics, bool inline_jobs = false);
  ~StorageWorker();
  StorageWorker(const StorageWorker&) = delete;

  using LoadDone = std::function<void(Result<std::optional<store::RoomData>>)>;
  using Done = std::function<void(Result<void>)>;
  using ExistsDone = std::function<void(Result<bool>)>;

  void load(std::string room, int64_t history_before, LoadDone done);
  void create(std::string room, std::string doc_json, Done done);
  /// Whether the store holds the room (reads of rooms not in memory ask this first).
  void exists(std::string room, ExistsDone done);
  void append(store::AppendBatch batch, Done done);
  void snapshot(std::string room, int64_t version, std::string doc_json, int64_t keep_history,
                int64_t keep_every, Done done);
  /// Runs `fn` with the store on the worker thread, in queue order (the document API's reads
  /// and writes of history, versions and deletions). `fn` must be quick: appends wait for it.
  void call(std::function<void(store::Store&)> fn);
  /// After the jobs queued so far, returns the heaps' free pages to the system
  /// (glibc's malloc_trim; nothing elsewhere): freed memory in the middle of a
  /// heap stays in the process otherwise. It walks every free chunk holding
  /// each arena's lock (about 0.25 us a chunk), so callers use it sparingly.
  /// Calls made while the worker is busy make one trim, when it is done.
  void release_memory();
  /// Jobs queued or running.
  size_t pending();
  /// Whether jobs run on the caller's thread, their callbacks before the call returns.
  bool inline_jobs() const { return inline_jobs_; }
  /// Runs every queued job, then stops the thread. Idempotent.
  void stop();

 private:
  struct Load {
    std::string room;
    int64_t history_before;
    LoadDone done;
  };
  struct Create {
    std::string room, doc;
    Done done;
  };
  struct Exists {
    std::string room;
    ExistsDone done;
  };
  struct Append {
    store::AppendBatch batch;
    Done done;
  };
  struct Snapshot {
    std::string room;
    int64_t version;
    std::string doc;
    int64_t keep;
    int64_t keep_every;
    Done done;
  };
  struct Call {
    std::function<void(store::Store&)> fn;
  };
  using Job = std::variant<Load, Create, Exists, Append, Snapshot, Call>;

  void push(Job job);
  /// Runs one job (an append as a group of its one batch: the thread's loop gathers
  /// consecutive appends into one group itself).
  void run_one(Job& job);
  void set_running(size_t n);
  void run();

  store::Store& store_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  bool trim_requested_ = false;
  const bool inline_jobs_;
  size_t running_ = 0;
  std::thread thread_;
};

}  // namespace rtpm::server
