#include "rtpm/model/internal/child_list.h"

#include <algorithm>
#include <cassert>
#include <new>

#include "rtpm/model/content_match.h"
#include "rtpm/model/internal/pool.h"
#include "rtpm/model/node.h"

namespace rtpm::model::internal {

static_assert(alignof(Chunk) >= alignof(NodeRef));

size_t Chunk::bytes(bool leaf, int slots) {
  // The slots, then the size of each slot's subtree, then (internal chunks)
  // the node count of each kid.
  const size_t per_slot = sizeof(void*) + sizeof(int) * (leaf ? 1 : 2);
  return sizeof(Chunk) + per_slot * static_cast<size_t>(slots);
}

Chunk* Chunk::allocate(bool leaf, int slots) {
  void* mem = pool_allocate(bytes(leaf, slots));
  return new (mem) Chunk(leaf, slots);
}

void Chunk::add_flags(const Node& node) {
  if (node.is_text()) flags_ |= kHasText;
  if (!node.marks().empty()) flags_ |= kHasMarks;
  node_height_ = std::max(node_height_, static_cast<uint16_t>(node.height()));
}

void Chunk::add_flags(const Chunk& kid) {
  flags_ |= kid.flags_;
  node_height_ = std::max(node_height_, kid.node_height_);
}

void Chunk::init_kid(int i, const Chunk* kid) {
  new (&kids()[i]) ChunkRef(kid);
  sizes()[i] = kid->size_;
  counts()[i] = kid->count_;
  size_ += kid->size_;
  count_ += kid->count_;
  add_flags(*kid);
}

void Chunk::prefetch_slots() const {
  // Both kinds of slot are a pointer to an object whose count is its first word.
  const void* const* slots = reinterpret_cast<const void* const*>(kids());
  for (int i = 0; i < slots_; ++i) __builtin_prefetch(slots[i], 1);
}

void Chunk::ref_dec() const {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  Chunk* self = const_cast<Chunk*>(this);
  if (leaf_) {
    prefetch_slots();
    for (int i = 0; i < slots_; ++i) nodes()[i].~NodeRef();
  } else {
    prefetch_slots();
    for (int i = 0; i < slots_; ++i) kids()[i].~ChunkRef();
  }
  const size_t size = bytes(leaf_, slots_);
  self->~Chunk();
  pool_free(self, size);
}

// A leaf over nodes[0, n) (1 <= n <= kFanout), taking the handles when `steal`.
template <bool steal, typename NodePtr>
Chunk* Chunk::make_leaf(NodePtr nodes_in, int n) {
  Chunk* c = allocate(true, n);
  for (int i = 0; i < n; ++i) {
    const Node& node = *nodes_in[i];
    c->sizes()[i] = node.node_size();
    c->size_ += node.node_size();
    c->add_flags(node);
    if constexpr (steal) {
      new (&c->nodes()[i]) NodeRef(std::move(nodes_in[i]));
    } else {
      new (&c->nodes()[i]) NodeRef(nodes_in[i]);
    }
  }
  c->count_ = n;
  return c;
}

template <bool steal, typename NodePtr>
ChunkRef Chunk::build_leaves(NodePtr nodes_in, int n) {
  if (n == 0) return nullptr;
  if (n <= kFanout) return ChunkRef(make_leaf<steal>(nodes_in, n));
  // Leaves: as even as possible, at most kFanout each.
  int leaves = (n + kFanout - 1) / kFanout;
  std::vector<ChunkRef> level;
  level.reserve(leaves);
  for (int l = 0, pos = 0; l < leaves; ++l) {
    int take = n / leaves + (l < n % leaves ? 1 : 0);
    level.emplace_back(make_leaf<steal>(nodes_in + pos, take));
    pos += take;
  }
  return build_level(level.data(), static_cast<int>(level.size()));
}

ChunkRef Chunk::build(const NodeRef* nodes_in, int n) { return build_leaves<false>(nodes_in, n); }

ChunkRef Chunk::build_from(NodeRef* nodes_in, int n) { return build_leaves<true>(nodes_in, n); }

ChunkRef Chunk::build_level(const ChunkRef* kids_in, int n) {
  if (n == 1) return kids_in[0];
  int groups = (n + kFanout - 1) / kFanout;
  std::vector<ChunkRef> up;
  up.reserve(groups);
  for (int g = 0, pos = 0; g < groups; ++g) {
    int take = n / groups + (g < n % groups ? 1 : 0);
    Chunk* c = allocate(false, take);
    for (int i = 0; i < take; ++i) {
      c->init_kid(i, kids_in[pos + i].get());
    }
    c->height_ = static_cast<uint8_t>(kids_in[pos]->height_ + 1);
    pos += take;
    up.emplace_back(c);
  }
  return build_level(up.data(), static_cast<int>(up.size()));
}

const NodeRef& Chunk::at(int index) const {
  const Chunk* c = this;
  while (!c->leaf_) {
    const int* counts = c->counts();
    int i = 0;
    while (index >= counts[i]) index -= counts[i++];
    c = c->kids()[i].get();
  }
  return c->nodes()[index];
}

void Chunk::find(int pos, int& index, int& offset) const {
  const Chunk* c = this;
  int idx = 0, cur = 0;
  while (!c->leaf_) {
    const int* sizes = c->sizes();
    const int* counts = c->counts();
    int i = 0, last = c->slots_ - 1;
    // Descend into the first kid that ends at or after pos.
    while (i < last && cur + sizes[i] < pos) {
      cur += sizes[i];
      idx += counts[i];
      ++i;
    }
    c = c->kids()[i].get();
  }
  const int* sizes = c->sizes();
  for (int i = 0;; ++i) {
    int end = cur + sizes[i];
    if (end >= pos || i == c->slots_ - 1) {
      if (end == pos) {
        index = idx + i + 1;
        offset = end;
      } else {
        index = idx + i;
        offset = cur;
      }
      return;
    }
    cur = end;
  }
}

ChunkRef Chunk::replace(int index, NodeRef node) const {
  Chunk* c = allocate(leaf_, slots_);
  c->count_ = count_;
  // The flags of the other slots are unchanged: unless the replaced node or
  // kid was the one that set a flag or the height, this chunk's values plus
  // the new slot's are exact, without reading the other slots.
  c->flags_ = flags_;
  c->node_height_ = node_height_;
  prefetch_slots();
  if (leaf_) {
    const Node& old = *nodes()[index];
    for (int i = 0; i < slots_; ++i) {
      if (i != index) new (&c->nodes()[i]) NodeRef(nodes()[i]);
    }
    std::copy(sizes(), sizes() + slots_, c->sizes());
    c->sizes()[index] = node->node_size();
    c->size_ = size_ - sizes()[index] + node->node_size();
    c->add_flags(*node);
    const bool lost_flag = (old.is_text() && !node->is_text()) ||
                           (!old.marks().empty() && node->marks().empty()) ||
                           (old.height() == node_height_ && node->height() < old.height());
    new (&c->nodes()[index]) NodeRef(std::move(node));
    if (lost_flag) {
      c->flags_ = 0;
      c->node_height_ = 0;
      for (int i = 0; i < slots_; ++i) c->add_flags(*c->nodes()[i]);
    }
    return ChunkRef(c);
  }
  int i = 0;
  while (index >= counts()[i]) index -= counts()[i++];
  const Chunk& old = *kids()[i];
  ChunkRef replaced = old.replace(index, std::move(node));
  for (int j = 0; j < slots_; ++j) {
    if (j != i) new (&c->kids()[j]) ChunkRef(kids()[j]);
  }
  std::copy(sizes(), sizes() + 2 * slots_, c->sizes());  // sizes and counts
  c->sizes()[i] = replaced->size_;
  c->size_ = size_ - sizes()[i] + replaced->size_;
  c->height_ = height_;
  c->add_flags(*replaced);
  const bool lost_flag =
      (old.flags_ & ~replaced->flags_) != 0 ||
      (old.node_height_ == node_height_ && replaced->node_height_ < old.node_height_);
  new (&c->kids()[i]) ChunkRef(std::move(replaced));
  if (lost_flag) {
    c->flags_ = 0;
    c->node_height_ = 0;
    for (int j = 0; j < slots_; ++j) c->add_flags(*c->kids()[j]);
  }
  return ChunkRef(c);
}

bool Chunk::each_all(int offset, int index, FunctionRef<bool(const NodeRef&, int, int)> f) const {
  if (leaf_) {
    for (int i = 0; i < slots_; ++i) {
      if (!f(nodes()[i], offset, index + i)) return false;
      offset += sizes()[i];
    }
    return true;
  }
  for (int i = 0; i < slots_; ++i) {
    if (!kids()[i]->each_all(offset, index, f)) return false;
    offset += sizes()[i];
    index += counts()[i];
  }
  return true;
}

bool Chunk::each_from(int start_index, int start_offset,
                      FunctionRef<bool(const NodeRef&, int, int)> f) const {
  if (start_index >= count_) return true;
  int offset = start_offset, index = start_index;
  return walk(start_index, offset, index, f);
}

bool Chunk::walk(int skip, int& offset, int& index,
                 FunctionRef<bool(const NodeRef&, int, int)> f) const {
  if (leaf_) {
    for (int i = skip; i < slots_; ++i) {
      if (!f(nodes()[i], offset, index)) return false;
      offset += sizes()[i];
      ++index;
    }
    return true;
  }
  int i = 0;
  while (skip >= counts()[i]) skip -= counts()[i++];
  if (!kids()[i]->walk(skip, offset, index, f)) return false;
  for (++i; i < slots_; ++i) {
    if (!kids()[i]->each_all(offset, index, f)) return false;
    offset += sizes()[i];
    index += counts()[i];
  }
  return true;
}

void Chunk::collect(std::vector<NodeRef>& out) const {
  out.reserve(out.size() + count_);
  each_all(0, 0, [&](const NodeRef& n, int, int) {
    out.push_back(n);
    return true;
  });
}

void Chunk::collect(int from, int to, std::vector<NodeRef>& out) const {
  if (from >= to) return;
  out.reserve(out.size() + static_cast<size_t>(to - from));
  int index = from, offset = 0;
  walk(from, offset, index, [&](const NodeRef& n, int, int i) {
    if (i >= to) return false;
    out.push_back(n);
    return true;
  });
}

// Tree surgery. Every tree keeps its leaves at one depth (height_ counts the
// levels above them); chunks on a cut or a seam may be under-full, and each
// join re-packs the seam on every level so that they do not accumulate.

struct Chunk::Joined {
  ChunkRef first, second;  // second is null when everything fit in one chunk
};

ChunkRef Chunk::make(bool leaf, const void* const* items, int n) {
  assert(n >= 1 && n <= kFanout);
  if (!leaf && n == 1) return ChunkRef(static_cast<const Chunk*>(items[0]));
  Chunk* c = allocate(leaf, n);
  if (leaf) {
    for (int i = 0; i < n; ++i) {
      const Node* node = static_cast<const Node*>(items[i]);
      new (&c->nodes()[i]) NodeRef(const_cast<Node*>(node));
      c->sizes()[i] = node->node_size();
      c->size_ += node->node_size();
      c->add_flags(*node);
    }
    c->count_ = n;
  } else {
    for (int i = 0; i < n; ++i) {
      c->init_kid(i, static_cast<const Chunk*>(items[i]));
    }
    c->height_ = static_cast<uint8_t>(static_cast<const Chunk*>(items[0])->height_ + 1);
  }
  return ChunkRef(c);
}

Chunk::Joined Chunk::pack(bool leaf, const void* const* items, int n) {
  if (n <= kFanout) return {make(leaf, items, n), nullptr};
  int half = n / 2;
  return {make(leaf, items, half), make(leaf, items + half, n - half)};
}

// a and b have the same height; the result has that height too.
Chunk::Joined Chunk::join_same(const Chunk* a, const Chunk* b) {
  const void* items[2 * kFanout + 1];
  int n = 0;
  if (a->leaf_) {
    // Two leaves that are at least half full stay as they are.
    if (a->slots_ >= kFanout / 2 && b->slots_ >= kFanout / 2) return {ChunkRef(a), ChunkRef(b)};
    for (int i = 0; i < a->slots_; ++i) items[n++] = a->nodes()[i].get();
    for (int i = 0; i < b->slots_; ++i) items[n++] = b->nodes()[i].get();
    return pack(true, items, n);
  }
  Joined seam = join_same(a->kids()[a->slots_ - 1].get(), b->kids()[0].get());
  for (int i = 0; i < a->slots_ - 1; ++i) items[n++] = a->kids()[i].get();
  items[n++] = seam.first.get();
  if (seam.second) items[n++] = seam.second.get();
  for (int i = 1; i < b->slots_; ++i) items[n++] = b->kids()[i].get();
  return pack(false, items, n);
}

// a is higher than b; the result has a's height.
Chunk::Joined Chunk::join_right(const Chunk* a, const Chunk* b) {
  const void* items[kFanout + 1];
  const Chunk* last = a->kids()[a->slots_ - 1].get();
  Joined seam = last->height_ == b->height_ ? join_same(last, b) : join_right(last, b);
  int n = 0;
  for (int i = 0; i < a->slots_ - 1; ++i) items[n++] = a->kids()[i].get();
  items[n++] = seam.first.get();
  if (seam.second) items[n++] = seam.second.get();
  return pack(false, items, n);
}

// b is higher than a; the result has b's height.
Chunk::Joined Chunk::join_left(const Chunk* a, const Chunk* b) {
  const void* items[kFanout + 1];
  const Chunk* first = b->kids()[0].get();
  Joined seam = first->height_ == a->height_ ? join_same(a, first) : join_left(a, first);
  int n = 0;
  items[n++] = seam.first.get();
  if (seam.second) items[n++] = seam.second.get();
  for (int i = 1; i < b->slots_; ++i) items[n++] = b->kids()[i].get();
  return pack(false, items, n);
}

ChunkRef Chunk::concat(const ChunkRef& a, const ChunkRef& b) {
  if (!a) return b;
  if (!b) return a;
  Joined j = a->height_ == b->height_  ? join_same(a.get(), b.get())
             : a->height_ > b->height_ ? join_right(a.get(), b.get())
                                       : join_left(a.get(), b.get());
  if (!j.second) return std::move(j.first);
  const void* items[2] = {j.first.get(), j.second.get()};
  return make(false, items, 2);
}

ChunkRef Chunk::prefix(const ChunkRef& tree, int n) {
  if (n <= 0) return nullptr;
  if (n >= tree->count_) return tree;
  const Chunk* c = tree.get();
  const void* items[kFanout];
  if (c->leaf_) {
    for (int i = 0; i < n; ++i) items[i] = c->nodes()[i].get();
    return make(true, items, n);
  }
  int i = 0;
  while (n > c->kids()[i]->count_) {
    n -= c->kids()[i]->count_;
    items[i] = c->kids()[i].get();
    ++i;
  }
  ChunkRef tail = prefix(c->kids()[i], n);
  return concat(i ? make(false, items, i) : nullptr, tail);
}

ChunkRef Chunk::suffix(const ChunkRef& tree, int n) {
  if (n <= 0) return tree;
  if (n >= tree->count_) return nullptr;
  const Chunk* c = tree.get();
  const void* items[kFanout];
  if (c->leaf_) {
    for (int i = n; i < c->slots_; ++i) items[i - n] = c->nodes()[i].get();
    return make(true, items, c->slots_ - n);
  }
  int i = 0;
  while (n >= c->kids()[i]->count_) n -= c->kids()[i++]->count_;
  ChunkRef head = suffix(c->kids()[i], n);
  int rest = 0;
  for (int j = i + 1; j < c->slots_; ++j) items[rest++] = c->kids()[j].get();
  return concat(head, rest ? make(false, items, rest) : nullptr);
}

ChunkRef Chunk::range(const ChunkRef& tree, int from, int to) {
  if (from >= to) return nullptr;
  return suffix(prefix(tree, to), from);
}

const ContentMatch* Chunk::match_all(const ContentMatch* start) const {
  // A run that fails is remembered as this sentinel (never a real state).
  static const char failed_tag = 0;
  const ContentMatch* const kFailed = reinterpret_cast<const ContentMatch*>(&failed_tag);
  uint32_t seq = memo_seq_.load(std::memory_order_acquire);
  if (!(seq & 1) && memo_start_.load(std::memory_order_relaxed) == start) {
    const ContentMatch* end = memo_end_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (memo_seq_.load(std::memory_order_relaxed) == seq) return end == kFailed ? nullptr : end;
  }
  const ContentMatch* end = run(start, 0, count_);
  if (!(seq & 1) && memo_seq_.compare_exchange_strong(seq, seq + 1, std::memory_order_relaxed)) {
    std::atomic_thread_fence(std::memory_order_release);
    memo_start_.store(start, std::memory_order_relaxed);
    memo_end_.store(end ? end : kFailed, std::memory_order_relaxed);
    memo_seq_.store(seq + 2, std::memory_order_release);
  }
  return end;
}

const ContentMatch* Chunk::run(const ContentMatch* cur, int from, int to) const {
  if (leaf_) {
    for (int i = from; cur && i < to; ++i) cur = cur->match_type(nodes()[i]->type());
    return cur;
  }
  for (int i = 0, offset = 0; cur && i < slots_ && offset < to; ++i) {
    const Chunk* kid = kids()[i].get();
    int kid_end = offset + kid->count_;
    if (kid_end > from) {
      int a = std::max(from - offset, 0), b = std::min(to - offset, kid->count_);
      cur = a == 0 && b == kid->count_ ? kid->match_all(cur) : kid->run(cur, a, b);
    }
    offset = kid_end;
  }
  return cur;
}

const ContentMatch* Chunk::match(const ContentMatch* start, int from, int to) const {
  if (from >= to || !start) return start;
  return run(start, from, to);
}

}  // namespace rtpm::model::internal
