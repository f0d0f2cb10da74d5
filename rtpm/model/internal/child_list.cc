#include "rtpm/model/internal/child_list.h"

#include <cassert>
#include <new>

#include "rtpm/model/node.h"

namespace rtpm::model::internal {

static_assert(alignof(Chunk) >= alignof(NodeRef));

Chunk* Chunk::allocate(bool leaf, int slots) {
  void* mem = ::operator new(sizeof(Chunk) + sizeof(void*) * static_cast<size_t>(slots));
  return new (mem) Chunk(leaf, slots);
}

void Chunk::ref_dec() const {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  Chunk* self = const_cast<Chunk*>(this);
  if (leaf_) {
    for (int i = 0; i < slots_; ++i) nodes()[i].~NodeRef();
  } else {
    for (int i = 0; i < slots_; ++i) kids()[i].~ChunkRef();
  }
  self->~Chunk();
  ::operator delete(self);
}

ChunkRef Chunk::build(const NodeRef* nodes_in, int n) {
  if (n == 0) return nullptr;
  // Leaves: as even as possible, at most kFanout each.
  int leaves = (n + kFanout - 1) / kFanout;
  std::vector<ChunkRef> level;
  level.reserve(leaves);
  for (int l = 0, pos = 0; l < leaves; ++l) {
    int take = n / leaves + (l < n % leaves ? 1 : 0);
    Chunk* c = allocate(true, take);
    for (int i = 0; i < take; ++i) {
      new (&c->nodes()[i]) NodeRef(nodes_in[pos + i]);
      c->size_ += nodes_in[pos + i]->node_size();
    }
    c->count_ = take;
    pos += take;
    level.emplace_back(c);
  }
  if (level.size() == 1) return level[0];
  return build_level(level.data(), static_cast<int>(level.size()));
}

ChunkRef Chunk::build_level(const ChunkRef* kids_in, int n) {
  if (n == 1) return kids_in[0];
  int groups = (n + kFanout - 1) / kFanout;
  std::vector<ChunkRef> up;
  up.reserve(groups);
  for (int g = 0, pos = 0; g < groups; ++g) {
    int take = n / groups + (g < n % groups ? 1 : 0);
    Chunk* c = allocate(false, take);
    for (int i = 0; i < take; ++i) {
      new (&c->kids()[i]) ChunkRef(kids_in[pos + i]);
      c->size_ += kids_in[pos + i]->size_;
      c->count_ += kids_in[pos + i]->count_;
    }
    pos += take;
    up.emplace_back(c);
  }
  return build_level(up.data(), static_cast<int>(up.size()));
}

const NodeRef& Chunk::at(int index) const {
  const Chunk* c = this;
  while (!c->leaf_) {
    const ChunkRef* k = c->kids();
    int i = 0;
    while (index >= k[i]->count_) index -= k[i++]->count_;
    c = k[i].get();
  }
  return c->nodes()[index];
}

void Chunk::find(int pos, int& index, int& offset) const {
  const Chunk* c = this;
  int idx = 0, cur = 0;
  while (!c->leaf_) {
    const ChunkRef* k = c->kids();
    int i = 0, last = c->slots_ - 1;
    // Descend into the first kid that ends at or after pos.
    while (i < last && cur + k[i]->size_ < pos) {
      cur += k[i]->size_;
      idx += k[i]->count_;
      ++i;
    }
    c = k[i].get();
  }
  const NodeRef* nodes = c->nodes();
  for (int i = 0;; ++i) {
    int end = cur + nodes[i]->node_size();
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
  if (leaf_) {
    for (int i = 0; i < slots_; ++i) new (&c->nodes()[i]) NodeRef(i == index ? node : nodes()[i]);
    c->size_ = size_ - nodes()[index]->node_size() + node->node_size();
    return ChunkRef(c);
  }
  int i = 0;
  while (index >= kids()[i]->count_) index -= kids()[i++]->count_;
  ChunkRef replaced = kids()[i]->replace(index, std::move(node));
  for (int j = 0; j < slots_; ++j) new (&c->kids()[j]) ChunkRef(j == i ? replaced : kids()[j]);
  c->size_ = size_ - kids()[i]->size_ + replaced->size_;
  return ChunkRef(c);
}

bool Chunk::each_all(int offset, int index, FunctionRef<bool(const NodeRef&, int, int)> f) const {
  if (leaf_) {
    for (int i = 0; i < slots_; ++i) {
      if (!f(nodes()[i], offset, index + i)) return false;
      offset += nodes()[i]->node_size();
    }
    return true;
  }
  for (int i = 0; i < slots_; ++i) {
    if (!kids()[i]->each_all(offset, index, f)) return false;
    offset += kids()[i]->size_;
    index += kids()[i]->count_;
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
      offset += nodes()[i]->node_size();
      ++index;
    }
    return true;
  }
  int i = 0;
  while (skip >= kids()[i]->count_) skip -= kids()[i++]->count_;
  if (!kids()[i]->walk(skip, offset, index, f)) return false;
  for (++i; i < slots_; ++i) {
    if (!kids()[i]->each_all(offset, index, f)) return false;
    offset += kids()[i]->size_;
    index += kids()[i]->count_;
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

}  // namespace rtpm::model::internal
