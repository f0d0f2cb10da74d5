// Small-block pool for the model's many small, short-lived objects (nodes and
// child-list chunks): freed blocks are kept on a free list per size class and
// per thread, and handed out again before asking the general allocator.
//
// Why: a keystroke frees the nodes and chunks on the path it rebuilt, and
// parsing a document makes thousands of them; with glibc's malloc, large runs
// of frees and allocations of these sizes overflow its small per-thread cache
// and go through its bins, coalescing and splitting (about a third of
// Node::from_json's time). Here both are a push or pop on a thread-local list.
//
// A block may be freed on any thread: it joins that thread's lists. Each list
// keeps at most kMaxCached blocks (the rest go back to the general allocator),
// and a thread's lists are released when it exits. Under AddressSanitizer the
// pool is bypassed, so that use after free is still caught.
#pragma once

#include <cstddef>

namespace rtpm::model::internal {

/// Blocks up to this many bytes are pooled; larger ones use ::operator new.
inline constexpr size_t kMaxPooledBytes = 256;
/// Blocks kept per size class and thread.
inline constexpr size_t kMaxCached = 4096;

/// A block of at least `bytes` bytes (aligned as ::operator new's).
void* pool_allocate(size_t bytes);
/// Frees a block from pool_allocate; `bytes` must be the size it was asked with.
void pool_free(void* block, size_t bytes) noexcept;

}  // namespace rtpm::model::internal
