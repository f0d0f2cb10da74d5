#include "rtpm/server/storage_worker.h"

#include <utility>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "rtpm/server/metrics.h"

namespace rtpm::server {

StorageWorker::StorageWorker(store::Store& store, Metrics& metrics, bool inline_jobs)
    : store_(store), metrics_(metrics), inline_jobs_(inline_jobs), thread_([this] { run(); }) {}

StorageWorker::~StorageWorker() { stop(); }

void StorageWorker::push(Job job) {
  if (inline_jobs_) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;  // as a stopped thread: jobs after stop() do not run
    }
    return run_one(job);
  }
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void StorageWorker::run_one(Job& job) {
  if (auto* l = std::get_if<Load>(&job)) {
    l->done(store_.load_room(l->room, l->history_before));
  } else if (auto* c = std::get_if<Create>(&job)) {
    c->done(store_.create_room(c->room, c->doc));
  } else if (auto* e = std::get_if<Exists>(&job)) {
    e->done(store_.room_exists(e->room));
  } else if (auto* s = std::get_if<Snapshot>(&job)) {
    s->done(store_.save_snapshot(s->room, s->version, s->doc, s->keep, s->keep_every));
  } else if (auto* call = std::get_if<Call>(&job)) {
    call->fn(store_);
  } else if (auto* a = std::get_if<Append>(&job)) {
    std::vector<store::AppendBatch> batches;
    batches.push_back(std::move(a->batch));
    std::vector<Result<void>> results = store_.append(batches);
    metrics_.store_commits.fetch_add(1, std::memory_order_relaxed);
    a->done(std::move(results[0]));
  }
}

void StorageWorker::load(std::string room, int64_t history_before, LoadDone done) {
  push(Load{std::move(room), history_before, std::move(done)});
}
void StorageWorker::create(std::string room, std::string doc_json, Done done) {
  push(Create{std::move(room), std::move(doc_json), std::move(done)});
}
void StorageWorker::call(std::function<void(store::Store&)> fn) { push(Call{std::move(fn)}); }

void StorageWorker::exists(std::string room, ExistsDone done) {
  push(Exists{std::move(room), std::move(done)});
}
void StorageWorker::append(store::AppendBatch batch, Done done) {
  push(Append{std::move(batch), std::move(done)});
}
void StorageWorker::snapshot(std::string room, int64_t version, std::string doc_json,
                             int64_t keep_history, int64_t keep_every, Done done) {
  push(Snapshot{std::move(room), version, std::move(doc_json), keep_history, keep_every,
                std::move(done)});
}

void StorageWorker::release_memory() {
  {
    std::lock_guard lock(mutex_);
    trim_requested_ = true;
  }
  cv_.notify_one();
}

size_t StorageWorker::pending() {
  std::lock_guard lock(mutex_);
  return queue_.size() + running_;
}

void StorageWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void StorageWorker::set_running(size_t n) {
  std::lock_guard lock(mutex_);
  running_ = n;
}

void StorageWorker::run() {
  std::deque<Job> jobs;
  for (;;) {
    bool trim = false;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || trim_requested_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      jobs.swap(queue_);
      trim = std::exchange(trim_requested_, false);
      running_ = jobs.size();
    }
    while (!jobs.empty()) {
      if (std::holds_alternative<Append>(jobs.front())) {
        // Every consecutive append: one transaction.
        std::vector<store::AppendBatch> batches;
        std::vector<Done> dones;
        while (!jobs.empty() && std::holds_alternative<Append>(jobs.front())) {
          auto& a = std::get<Append>(jobs.front());
          batches.push_back(std::move(a.batch));
          dones.push_back(std::move(a.done));
          jobs.pop_front();
        }
        // One result per batch: one room's failed batch does not fail the others.
        std::vector<Result<void>> results = store_.append(batches);
        metrics_.store_commits.fetch_add(1, std::memory_order_relaxed);
        for (size_t i = 0; i < dones.size(); ++i) dones[i](std::move(results[i]));
        set_running(jobs.size());
        continue;
      }
      Job job = std::move(jobs.front());
      jobs.pop_front();
      run_one(job);
      set_running(jobs.size());
    }
    // After the jobs queued with the request: their buffers are freed by now.
#ifdef __GLIBC__
    if (trim) malloc_trim(0);
#else
    (void)trim;
#endif
  }
}

}  // namespace rtpm::server
