#include "rtpm/model/internal/pool.h"

#include <new>

namespace rtpm::model::internal {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kPooled = false;
#else
constexpr bool kPooled = true;
#endif
#else
constexpr bool kPooled = true;
#endif

constexpr size_t kGranule = 16;
constexpr size_t kClasses = kMaxPooledBytes / kGranule;

// A free block holds the next free block of its class.
struct FreeBlock {
  FreeBlock* next;
};

// Plain data, so that it stays usable after the thread's destructors ran
// (a node freed then goes straight to ::operator delete).
struct Lists {
  FreeBlock* head[kClasses];
  size_t count[kClasses];
  bool registered;  // the Reaper of this thread exists
  bool closed;      // the Reaper ran: pool nothing more
};
thread_local Lists lists{};

// Returns the thread's cached blocks at its exit.
struct Reaper {
  ~Reaper() {
    lists.closed = true;
    for (size_t c = 0; c < kClasses; ++c) {
      while (FreeBlock* block = lists.head[c]) {
        lists.head[c] = block->next;
        ::operator delete(block);
      }
      lists.count[c] = 0;
    }
  }
};

size_t class_of(size_t bytes) { return (bytes - 1) / kGranule; }

}  // namespace

void* pool_allocate(size_t bytes) {
  if (kPooled && bytes != 0 && bytes <= kMaxPooledBytes) {
    const size_t c = class_of(bytes);
    if (FreeBlock* block = lists.head[c]) {
      lists.head[c] = block->next;
      --lists.count[c];
      return block;
    }
    return ::operator new((c + 1) * kGranule);
  }
  return ::operator new(bytes);
}

void pool_free(void* block, size_t bytes) noexcept {
  if (kPooled && bytes != 0 && bytes <= kMaxPooledBytes && !lists.closed) {
    const size_t c = class_of(bytes);
    if (lists.count[c] < kMaxCached) {
      if (!lists.registered) {
        lists.registered = true;
        thread_local Reaper reaper;
        (void)reaper;
      }
      auto* free_block = static_cast<FreeBlock*>(block);
      free_block->next = lists.head[c];
      lists.head[c] = free_block;
      ++lists.count[c];
      return;
    }
  }
  ::operator delete(block);
}

}  // namespace rtpm::model::internal
