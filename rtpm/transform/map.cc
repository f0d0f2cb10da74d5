// Port of prosemirror-transform src/map.ts (1.12.6).
#include "rtpm/transform/map.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

namespace rtpm::transform {

namespace {

// Recovery values encode a range index and an offset. They are represented
// as numbers, because tons of them will be created when mapping, for example,
// a large number of decorations. The number's lower 16 bits provide the index,
// the remaining bits the offset.
//
// Port note: upstream avoids bit shifts because they clip to 32 bits in
// JavaScript and stores the value in a double; we use int64_t.
constexpr int64_t kFactor16 = 1 << 16;
int64_t make_recover(int index, int offset) { return index + offset * kFactor16; }
int recover_index(int64_t value) { return static_cast<int>(value & 0xffff); }
int recover_offset(int64_t value) {
  return static_cast<int>((value - (value & 0xffff)) / kFactor16);
}

// `pos + diff` for a position given by a caller (a cursor, a step's end),
// which may be anywhere in int's range. Port note: JavaScript's numbers hold
// any sum; here a result beyond int's range saturates at its end (no such
// position exists in a document, and callers clamp or reject it).
int shift(int pos, int64_t diff) {
  int64_t r = static_cast<int64_t>(pos) + diff;
  if (r > std::numeric_limits<int>::max()) return std::numeric_limits<int>::max();
  if (r < std::numeric_limits<int>::min()) return std::numeric_limits<int>::min();
  return static_cast<int>(r);
}

}  // namespace

// Port note: upstream returns the shared StepMap.empty from the constructor
// when `ranges` is empty, so an empty map is never flagged inverted.
StepMap::StepMap(std::vector<int> ranges, bool inverted)
    : inverted_(ranges.empty() ? false : inverted) {
  if (ranges.size() == 3)
    set_single(ranges[0], ranges[1], ranges[2]);
  else
    ranges_ = std::move(ranges);
}

StepMap StepMap::one(int start, int old_size, int new_size, bool inverted) {
  StepMap map;
  map.inverted_ = inverted;
  map.set_single(start, old_size, new_size);
  return map;
}

void StepMap::set_single(int start, int old_size, int new_size) {
  single_ = true;
  one_[0] = start;
  one_[1] = old_size;
  one_[2] = new_size;
  start_ = start;
  old_size_ = inverted_ ? new_size : old_size;
  new_size_ = inverted_ ? old_size : new_size;
}

int StepMap::recover(int64_t value) const {
  std::span<const int> r = ranges();
  int diff = 0, index = recover_index(value);
  if (!inverted_)
    for (int i = 0; i < index; i++) diff += r[i * 3 + 2] - r[i * 3 + 1];
  return r[index * 3] + diff + recover_offset(value);
}

MapResult StepMap::map_result(int pos, int assoc) const { return map_internal(pos, assoc, false); }

int StepMap::map(int pos, int assoc) const {
  if (single_) {
    // map_internal's loop for one range (whose start needs no correction).
    if (start_ > pos) return pos;
    int end = start_ + old_size_;
    if (pos > end) return shift(pos, static_cast<int64_t>(new_size_) - old_size_);
    int side = !old_size_ ? assoc : pos == start_ ? -1 : pos == end ? 1 : assoc;
    return start_ + (side < 0 ? 0 : new_size_);
  }
  return map_internal(pos, assoc, true).pos;
}

// Port note: upstream's _map returns a bare number when `simple`; here the
// simple path returns a MapResult whose pos is that number (flags unset).
MapResult StepMap::map_internal(int pos, int assoc, bool simple) const {
  std::span<const int> r = ranges();
  int diff = 0, old_index = inverted_ ? 2 : 1, new_index = inverted_ ? 1 : 2;
  for (size_t i = 0; i < r.size(); i += 3) {
    int start = r[i] - (inverted_ ? diff : 0);
    if (start > pos) break;
    int old_size = r[i + old_index], new_size = r[i + new_index], end = start + old_size;
    if (pos <= end) {
      int side = !old_size ? assoc : pos == start ? -1 : pos == end ? 1 : assoc;
      int result = start + diff + (side < 0 ? 0 : new_size);
      if (simple) return MapResult(result, 0, -1);
      int64_t recover = pos == (assoc < 0 ? start : end)
                            ? -1
                            : make_recover(static_cast<int>(i / 3), pos - start);
      int del = 0;
      if (old_size) {
        del |= pos == start ? kDelAfter : pos == end ? kDelBefore : kDelAcross;
        if (assoc < 0 ? pos != start : pos != end) del |= kDelSide;
      }
      return MapResult(result, del, recover);
    }
    diff += new_size - old_size;
  }
  return MapResult(shift(pos, diff), 0, -1);
}

bool StepMap::touches(int pos, int64_t recover) const {
  std::span<const int> r = ranges();
  int diff = 0, index = recover_index(recover);
  int old_index = inverted_ ? 2 : 1, new_index = inverted_ ? 1 : 2;
  for (size_t i = 0; i < r.size(); i += 3) {
    int start = r[i] - (inverted_ ? diff : 0);
    if (start > pos) break;
    int old_size = r[i + old_index], end = start + old_size;
    if (pos <= end && static_cast<int>(i) == index * 3) return true;
    diff += r[i + new_index] - old_size;
  }
  return false;
}

void StepMap::for_each(FunctionRef<void(int, int, int, int)> f) const {
  std::span<const int> r = ranges();
  int old_index = inverted_ ? 2 : 1, new_index = inverted_ ? 1 : 2;
  int diff = 0;
  for (size_t i = 0; i < r.size(); i += 3) {
    int start = r[i], old_start = start - (inverted_ ? diff : 0),
        new_start = start + (inverted_ ? 0 : diff);
    int old_size = r[i + old_index], new_size = r[i + new_index];
    f(old_start, old_start + old_size, new_start, new_start + new_size);
    diff += new_size - old_size;
  }
}

StepMap StepMap::invert() const {
  return single_ ? one(one_[0], one_[1], one_[2], !inverted_) : StepMap(ranges_, !inverted_);
}

StepMap StepMap::offset(int n) {
  // -INT_MIN is not an int: that offset moves by INT_MAX.
  if (n == std::numeric_limits<int>::min()) n++;
  return n == 0 ? empty() : n < 0 ? one(0, -n, 0) : one(0, 0, n);
}

const StepMap& StepMap::empty() {
  static const StepMap e;
  return e;
}

Mapping::Mapping(std::vector<StepMap> maps, std::vector<int> mirror, int from, int to)
    : from_(from), to_(to < 0 ? static_cast<int>(maps.size()) : to) {
  if (!maps.empty() || !mirror.empty())
    data_ = std::make_shared<Data>(Data{std::move(maps), std::move(mirror)});
}

Mapping::Mapping(const Mapping& other)
    : data_(other.data_ ? std::make_shared<Data>(*other.data_) : nullptr),
      from_(other.from_),
      to_(other.to_) {}

Mapping& Mapping::operator=(const Mapping& other) {
  if (this != &other) *this = Mapping(other);
  return *this;
}

const std::vector<StepMap>& Mapping::no_maps() {
  static const std::vector<StepMap> none;
  return none;
}

const std::vector<int>& Mapping::no_mirror() {
  static const std::vector<int> none;
  return none;
}

Mapping::Data& Mapping::own() {
  if (!data_)
    data_ = std::make_shared<Data>();
  else if (!own_data_)
    data_ = std::make_shared<Data>(*data_);
  own_data_ = true;
  return *data_;
}

Mapping Mapping::slice(int from, int to) const {
  Mapping s;
  s.data_ = data_;
  s.own_data_ = !data_;
  s.from_ = from;
  s.to_ = to < 0 ? static_cast<int>(maps().size()) : to;
  return s;
}

void Mapping::append_map(StepMap map, int mirrors) {
  Data& d = own();
  d.maps.push_back(std::move(map));
  to_ = static_cast<int>(d.maps.size());
  if (mirrors >= 0) set_mirror(static_cast<int>(d.maps.size()) - 1, mirrors);
}

void Mapping::append_mapping(const Mapping& mapping) {
  const std::vector<StepMap>& theirs = mapping.maps();
  for (int i = 0, start_size = static_cast<int>(maps().size()); i < static_cast<int>(theirs.size());
       i++) {
    int mirr = mapping.get_mirror(i);
    append_map(theirs[i], mirr >= 0 && mirr < i ? start_size + mirr : -1);
  }
}

int Mapping::get_mirror(int n) const {
  const std::vector<int>& mirror = this->mirror();
  for (size_t i = 0; i < mirror.size(); i++)
    if (mirror[i] == n) {
      size_t j = i % 2 ? i - 1 : i + 1;
      // Port note: upstream reads past the end (undefined) for a dangling entry.
      return j < mirror.size() ? mirror[j] : -1;
    }
  return -1;
}

// Port note: upstream pushes into a mirror array it may share with a slice;
// here a shared one is copied first, as for append_map.
void Mapping::set_mirror(int n, int m) {
  Data& d = own();
  d.mirror.push_back(n);
  d.mirror.push_back(m);
}

void Mapping::append_mapping_inverted(const Mapping& mapping) {
  const std::vector<StepMap>& theirs = mapping.maps();
  for (int i = static_cast<int>(theirs.size()) - 1,
           total_size = static_cast<int>(maps().size() + theirs.size());
       i >= 0; i--) {
    int mirr = mapping.get_mirror(i);
    append_map(theirs[i].invert(), mirr >= 0 && mirr > i ? total_size - mirr - 1 : -1);
  }
}

Mapping Mapping::invert() const {
  Mapping inverse;
  inverse.append_mapping_inverted(*this);
  return inverse;
}

// Port note: upstream takes the mirror-aware path whenever a mirror array
// exists, even an empty one; with no mirror pairs both paths give the same
// position.
int Mapping::map(int pos, int assoc) const {
  if (!mirror().empty()) return map_internal(pos, assoc, true).pos;
  const std::vector<StepMap>& maps = this->maps();
  for (int i = from_; i < to_; i++) pos = maps[i].map(pos, assoc);
  return pos;
}

MapResult Mapping::map_result(int pos, int assoc) const { return map_internal(pos, assoc, false); }

MapResult Mapping::map_internal(int pos, int assoc, bool /*simple*/) const {
  int del_info = 0;
  const std::vector<StepMap>& maps = this->maps();
  for (int i = from_; i < to_; i++) {
    const StepMap& map = maps[i];
    MapResult result = map.map_result(pos, assoc);
    if (result.recover >= 0) {
      int corr = get_mirror(i);
      if (corr >= 0 && corr > i && corr < to_) {
        i = corr;
        pos = maps[corr].recover(result.recover);
        continue;
      }
    }
    del_info |= result.del_info;
    pos = result.pos;
  }
  return MapResult(pos, del_info, -1);
}

int unchanged_below(const Mapping& mapping) {
  int low = std::numeric_limits<int>::max();
  const std::vector<StepMap>& maps = mapping.maps();
  for (int i = mapping.from(); i < mapping.to(); ++i)
    if (!maps[i].ranges().empty()) low = std::min(low, maps[i].ranges()[0]);
  return low;
}

int64_t size_change(const StepMap& map) {
  int64_t change = 0;
  map.for_each([&](int old_start, int old_end, int new_start, int new_end) {
    change += (int64_t{new_end} - new_start) - (int64_t{old_end} - old_start);
  });
  return change;
}

int MapChain::size_before(int size_after) const {
  int64_t size = size_after;
  for (const StepMap* m : maps_) size -= size_change(*m);
  return static_cast<int>(size);
}

int MapChain::map(int pos, int assoc) const {
  for (const StepMap* m : maps_) pos = m->map(pos, assoc);
  return pos;
}

MapResult MapChain::map_result(int pos, int assoc) const {
  // Mapping::map_result without mirrors: the deletion flags of every map, the last position.
  int del_info = 0;
  for (const StepMap* m : maps_) {
    MapResult r = m->map_result(pos, assoc);
    del_info |= r.del_info;
    pos = r.pos;
  }
  return MapResult(pos, del_info, -1);
}

}  // namespace rtpm::transform
