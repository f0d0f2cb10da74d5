// Tests of StepMap and Mapping (map.h): upstream's test/test-mapping.ts cases,
// unit tests of the recover values, mirror bookkeeping and inversion, and every
// `map` conformance vector of ../shared/conformance (produced by the JavaScript
// library, checked by the conformance runner).
#include "rtpm/transform/map.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "rtpm/conformance/expect.h"
#include "rtpm/json/json.h"

namespace rtpm::transform {
namespace {

// --- Helpers mirroring test-mapping.ts ---------------------------------------

std::vector<int> vec(std::span<const int> r) { return {r.begin(), r.end()}; }

/// Upstream's mk(): a Mapping built with appendMap for each range list, then
/// setMirror for each [from, to] pair.
Mapping mk(std::vector<std::vector<int>> maps, std::vector<std::pair<int, int>> mirrors = {}) {
  Mapping mapping;
  for (std::vector<int>& ranges : maps) mapping.append_map(StepMap(std::move(ranges)));
  for (auto [from, to] : mirrors) mapping.set_mirror(from, to);
  return mapping;
}

/// One case of upstream's testMapping(): `from` maps to `to` with `bias`; unless
/// `lossy`, the inverted mapping maps `to` back to `from`.
struct MapCase {
  int from, to, bias = 1;
  bool lossy = false;
};

void test_mapping(const Mapping& mapping, std::vector<MapCase> cases) {
  Mapping inverted = mapping.invert();
  for (const MapCase& c : cases) {
    EXPECT_EQ(mapping.map(c.from, c.bias), c.to) << "map " << c.from << " bias " << c.bias;
    if (!c.lossy) {
      EXPECT_EQ(inverted.map(c.to, c.bias), c.from)
          << "inverted map " << c.to << " bias " << c.bias;
    }
  }
}

/// Upstream's testDel(): the deleted flags of mapResult as a string of
/// d(eleted), b(efore), a(fter), (acro)x(s).
std::string del_flags(const Mapping& mapping, int pos, int side) {
  MapResult r = mapping.map_result(pos, side);
  std::string found;
  if (r.deleted()) found += "d";
  if (r.deleted_before()) found += "b";
  if (r.deleted_after()) found += "a";
  if (r.deleted_across()) found += "x";
  return found;
}

using Tuple = std::array<int, 4>;

std::vector<Tuple> for_each_tuples(const StepMap& map) {
  std::vector<Tuple> out;
  map.for_each([&](int old_start, int old_end, int new_start, int new_end) {
    out.push_back({old_start, old_end, new_start, new_end});
  });
  return out;
}

// --- test-mapping.ts: describe("Mapping") ------------------------------------

TEST(Mapping, CanMapThroughASingleInsertion) {
  test_mapping(mk({{2, 0, 4}}), {{0, 0}, {2, 6}, {2, 2, -1}, {3, 7}});
}

TEST(Mapping, CanMapThroughASingleDeletion) {
  test_mapping(mk({{2, 4, 0}}),
               {{0, 0}, {2, 2, -1}, {3, 2, 1, true}, {6, 2, 1}, {6, 2, -1, true}, {7, 3}});
}

TEST(Mapping, CanMapThroughASingleReplace) {
  test_mapping(mk({{2, 4, 4}}),
               {{0, 0}, {2, 2, 1}, {4, 6, 1, true}, {4, 2, -1, true}, {6, 6, -1}, {8, 8}});
}

TEST(Mapping, CanMapThroughAMirroredDeleteInsert) {
  test_mapping(mk({{2, 4, 0}, {2, 0, 4}}, {{0, 1}}), {{0, 0}, {2, 2}, {4, 4}, {6, 6}, {7, 7}});
}

TEST(Mapping, CanMapThroughAMirroredInsertDelete) {
  test_mapping(mk({{2, 0, 4}, {2, 4, 0}}, {{0, 1}}), {{0, 0}, {2, 2}, {3, 3}});
}

TEST(Mapping, CanMapThroughADeleteInsertWithAnInsertInBetween) {
  test_mapping(mk({{2, 4, 0}, {1, 0, 1}, {3, 0, 4}}, {{0, 2}}),
               {{0, 0}, {1, 2}, {4, 5}, {6, 7}, {7, 8}});
}

TEST(Mapping, AssignsTheCorrectDeletedFlagsWhenDeletionsHappenBefore) {
  EXPECT_EQ(del_flags(mk({{0, 2, 0}}), 2, -1), "db");
  EXPECT_EQ(del_flags(mk({{0, 2, 0}}), 2, 1), "b");
  EXPECT_EQ(del_flags(mk({{0, 2, 2}}), 2, -1), "db");
  EXPECT_EQ(del_flags(mk({{0, 1, 0}, {0, 1, 0}}), 2, -1), "db");
  EXPECT_EQ(del_flags(mk({{0, 1, 0}}), 2, -1), "");
}

TEST(Mapping, AssignsTheCorrectDeletedFlagsWhenDeletionsHappenAfter) {
  EXPECT_EQ(del_flags(mk({{2, 2, 0}}), 2, -1), "a");
  EXPECT_EQ(del_flags(mk({{2, 2, 0}}), 2, 1), "da");
  EXPECT_EQ(del_flags(mk({{2, 2, 2}}), 2, 1), "da");
  EXPECT_EQ(del_flags(mk({{2, 1, 0}, {2, 1, 0}}), 2, 1), "da");
  EXPECT_EQ(del_flags(mk({{3, 2, 0}}), 2, -1), "");
}

TEST(Mapping, AssignsTheCorrectDeletedFlagsWhenDeletionsHappenAcross) {
  EXPECT_EQ(del_flags(mk({{0, 4, 0}}), 2, -1), "dbax");
  EXPECT_EQ(del_flags(mk({{0, 4, 0}}), 2, 1), "dbax");
  EXPECT_EQ(del_flags(mk({{0, 1, 0}, {4, 1, 0}, {0, 3, 0}}), 2, 1), "dbax");
}

TEST(Mapping, AssignsTheCorrectDeletedFlagsWhenDeletionsHappenAround) {
  EXPECT_EQ(del_flags(mk({{4, 1, 0}, {0, 1, 0}}), 2, -1), "");
  EXPECT_EQ(del_flags(mk({{2, 1, 0}, {0, 2, 0}}), 2, -1), "dba");
  EXPECT_EQ(del_flags(mk({{2, 1, 0}, {0, 1, 0}}), 2, -1), "a");
  EXPECT_EQ(del_flags(mk({{3, 1, 0}, {0, 2, 0}}), 2, -1), "db");
}

// --- Mapping: mirrors, slices, inversion -------------------------------------

TEST(Mapping, MirrorRecoversADeletedPositionWithoutDeletedFlags) {
  Mapping m = mk({{2, 4, 0}, {2, 0, 4}}, {{0, 1}});
  MapResult r = m.map_result(4, 1);
  EXPECT_EQ(r.pos, 4);
  EXPECT_FALSE(r.deleted());
  EXPECT_FALSE(r.deleted_across());
  EXPECT_EQ(r.recover, -1);  // A Mapping's result never carries a recover value.
  // Without the mirror pair the position collapses onto the deletion.
  Mapping plain = mk({{2, 4, 0}, {2, 0, 4}});
  EXPECT_EQ(plain.map(4, 1), 6);
  EXPECT_TRUE(plain.map_result(4, 1).deleted());
  EXPECT_EQ(plain.map(4, -1), 2);
}

TEST(Mapping, MirrorOutsideFromToIsIgnored) {
  Mapping m = mk({{2, 4, 0}, {2, 0, 4}}, {{0, 1}});
  // `to` stops before the mirror map: the position is deleted by map 0 alone.
  Mapping head = m.slice(0, 1);
  EXPECT_EQ(head.map(4, 1), 2);
  EXPECT_TRUE(head.map_result(4, 1).deleted());
  EXPECT_EQ(m.slice(1).map(4, 1), 8);
}

TEST(Mapping, GetMirrorScansPairsInOrder) {
  Mapping m = mk({{0, 1, 1}, {0, 1, 1}, {0, 1, 1}, {0, 1, 1}}, {{1, 2}, {0, 3}});
  EXPECT_EQ(m.mirror(), (std::vector<int>{1, 2, 0, 3}));
  EXPECT_EQ(m.get_mirror(0), 3);
  EXPECT_EQ(m.get_mirror(1), 2);
  EXPECT_EQ(m.get_mirror(2), 1);
  EXPECT_EQ(m.get_mirror(3), 0);
  EXPECT_EQ(mk({{0, 1, 1}}).get_mirror(0), -1);
}

TEST(Mapping, ConstructorDefaultsAndSlice) {
  Mapping empty;
  EXPECT_EQ(empty.from(), 0);
  EXPECT_EQ(empty.to(), 0);
  EXPECT_EQ(empty.map(5), 5);
  Mapping m({StepMap({0, 0, 2}), StepMap({1, 0, 3})});
  EXPECT_EQ(m.from(), 0);
  EXPECT_EQ(m.to(), 2);
  EXPECT_EQ(m.map(1), 6);
  Mapping s = m.slice(1);
  EXPECT_EQ(s.from(), 1);
  EXPECT_EQ(s.to(), 2);
  EXPECT_EQ(s.map(1), 4);
  EXPECT_EQ(m.slice(0, 1).map(1), 3);
  Mapping explicit_range({StepMap({0, 0, 2}), StepMap({1, 0, 3})}, {}, 1, 1);
  EXPECT_EQ(explicit_range.map(1), 1);
}

TEST(Mapping, AppendingToASliceLeavesTheOriginalAlone) {
  Mapping m = mk({{0, 0, 2}}, {});
  Mapping s = m.slice();
  s.append_map(StepMap({0, 0, 5}), 0);
  EXPECT_EQ(s.maps().size(), 2u);
  EXPECT_EQ(s.to(), 2);
  EXPECT_EQ(s.mirror(), (std::vector<int>{1, 0}));
  EXPECT_EQ(m.maps().size(), 1u);
  EXPECT_EQ(m.to(), 1);
  EXPECT_TRUE(m.mirror().empty());
}

TEST(Mapping, AppendMapSetsToToTheLength) {
  Mapping m({StepMap({0, 0, 1}), StepMap({0, 0, 1})}, {}, 0, 1);
  EXPECT_EQ(m.map(0), 1);
  m.append_map(StepMap({0, 0, 1}));
  EXPECT_EQ(m.to(), 3);
  EXPECT_EQ(m.map(0), 3);
}

TEST(Mapping, AppendMappingKeepsMirrorsPointingBackwards) {
  StepMap del({2, 4, 0});
  Mapping b;
  b.append_map(del);
  b.append_map(del.invert(), 0);
  EXPECT_EQ(b.mirror(), (std::vector<int>{1, 0}));
  Mapping c = mk({{0, 0, 1}});
  c.append_mapping(b);
  EXPECT_EQ(c.maps().size(), 3u);
  EXPECT_EQ(c.to(), 3);
  EXPECT_EQ(c.mirror(), (std::vector<int>{2, 1}));
  // Position 4 shifts to 5, is deleted by map 1 and recovered by map 2.
  EXPECT_EQ(c.map(4), 5);
  EXPECT_FALSE(c.map_result(4).deleted());
}

TEST(Mapping, AppendMappingSkipsForwardMirrors) {
  // A mirror entry whose partner comes later (mirr > i) is recorded only once,
  // when the later map is appended.
  Mapping b = mk({{2, 4, 0}, {2, 0, 4}}, {{0, 1}});
  Mapping c;
  c.append_mapping(b);
  EXPECT_EQ(c.mirror(), (std::vector<int>{1, 0}));
  EXPECT_EQ(c.map(4), 4);
}

TEST(Mapping, AppendMappingInvertedMirrorsTheInverse) {
  StepMap del({2, 4, 0});
  Mapping b;
  b.append_map(del);
  b.append_map(del.invert(), 0);
  Mapping c = mk({{0, 0, 1}});
  c.append_mapping_inverted(b);
  ASSERT_EQ(c.maps().size(), 3u);
  EXPECT_TRUE(std::ranges::equal(c.maps()[1].ranges(), del.ranges()));
  EXPECT_FALSE(c.maps()[1].inverted());  // b[1] was del.invert(); inverted back.
  EXPECT_TRUE(std::ranges::equal(c.maps()[2].ranges(), del.ranges()));
  EXPECT_TRUE(c.maps()[2].inverted());
  EXPECT_EQ(c.mirror(), (std::vector<int>{2, 1}));
}

TEST(Mapping, InvertReversesMapsAndMirrors) {
  Mapping m = mk({{2, 4, 0}, {1, 0, 1}, {3, 0, 4}}, {{0, 2}});
  Mapping inv = m.invert();
  ASSERT_EQ(inv.maps().size(), 3u);
  EXPECT_EQ(inv.from(), 0);
  EXPECT_EQ(inv.to(), 3);
  EXPECT_EQ(vec(inv.maps()[0].ranges()), (std::vector<int>{3, 0, 4}));
  EXPECT_EQ(vec(inv.maps()[2].ranges()), (std::vector<int>{2, 4, 0}));
  for (const StepMap& map : inv.maps()) EXPECT_TRUE(map.inverted());
  EXPECT_EQ(inv.mirror(), (std::vector<int>{2, 0}));
  EXPECT_EQ(inv.get_mirror(0), 2);
}

TEST(Mapping, MapUsesTheMirrorPathOnlyWhenNeeded) {
  // With and without mirror data the plain mapping answers the same.
  Mapping with_empty_mirror({StepMap({2, 4, 0}), StepMap({0, 0, 3})}, {});
  Mapping plain = mk({{2, 4, 0}, {0, 0, 3}});
  for (int pos = 0; pos < 10; pos++)
    for (int assoc : {-1, 1}) {
      EXPECT_EQ(with_empty_mirror.map(pos, assoc), plain.map(pos, assoc));
      EXPECT_EQ(plain.map(pos, assoc), plain.map_result(pos, assoc).pos);
    }
}

// --- StepMap -----------------------------------------------------------------

TEST(StepMap, MapResultFlagsAndRecover) {
  StepMap map({2, 4, 0});
  MapResult inside = map.map_result(4, 1);
  EXPECT_EQ(inside.pos, 2);
  EXPECT_TRUE(inside.deleted());
  EXPECT_TRUE(inside.deleted_across());
  EXPECT_EQ(inside.del_info, kDelAcross | kDelSide);
  EXPECT_EQ(inside.recover, 0 + 2 * 65536);
  EXPECT_EQ(map.recover(inside.recover), 4);
  // At the side the position sticks to, there is nothing to recover.
  EXPECT_EQ(map.map_result(2, -1).recover, -1);
  EXPECT_EQ(map.map_result(6, 1).recover, -1);
  EXPECT_EQ(map.map_result(2, 1).recover, 0);
  EXPECT_EQ(map.map_result(6, -1).recover, 4 * 65536);
  // Outside any range: no flags, no recover.
  MapResult after = map.map_result(8, 1);
  EXPECT_EQ(after.pos, 4);
  EXPECT_EQ(after.del_info, 0);
  EXPECT_EQ(after.recover, -1);
}

TEST(StepMap, RecoverAddsTheDiffOfEarlierRanges) {
  StepMap map({1, 1, 0, 5, 2, 4});  // Delete [1,2), replace [5,7) with 4.
  MapResult r = map.map_result(6, 1);
  EXPECT_EQ(r.recover, 1 + 1 * 65536);
  EXPECT_EQ(map.recover(r.recover), 4 + 1);       // 5 - 1 + offset 1.
  EXPECT_EQ(map.invert().recover(r.recover), 6);  // Inverted: no diff.
  EXPECT_TRUE(map.touches(6, r.recover));
  EXPECT_FALSE(map.touches(1, r.recover));
  EXPECT_FALSE(map.touches(8, r.recover));
  EXPECT_TRUE(map.touches(5, r.recover));
  EXPECT_TRUE(map.touches(7, r.recover));
}

TEST(StepMap, RecoverValuesExceed32Bits) {
  StepMap map({0, 100000, 0});
  MapResult r = map.map_result(70000, 1);
  EXPECT_EQ(r.recover, int64_t{70000} * 65536);
  EXPECT_GT(r.recover, int64_t{1} << 32);
  EXPECT_EQ(map.invert().recover(r.recover), 70000);
}

TEST(StepMap, InvertedMapSwapsSizes) {
  StepMap map({2, 0, 4});
  StepMap inv = map.invert();
  EXPECT_TRUE(inv.inverted());
  EXPECT_TRUE(std::ranges::equal(inv.ranges(), map.ranges()));
  EXPECT_EQ(inv.map(4, 1), 2);
  EXPECT_EQ(inv.map(7, 1), 3);
  EXPECT_TRUE(inv.map_result(4, 1).deleted());
  EXPECT_FALSE(inv.invert().inverted());
}

TEST(StepMap, ForEachReportsOldAndNewRanges) {
  StepMap map({1, 2, 0, 5, 0, 3});
  EXPECT_EQ(for_each_tuples(map), (std::vector<Tuple>{{1, 3, 1, 1}, {5, 5, 3, 6}}));
  EXPECT_EQ(for_each_tuples(map.invert()), (std::vector<Tuple>{{1, 1, 1, 3}, {3, 6, 5, 5}}));
  EXPECT_TRUE(for_each_tuples(StepMap::empty()).empty());
}

TEST(StepMap, Offset) {
  EXPECT_TRUE(StepMap::offset(0).ranges().empty());
  EXPECT_FALSE(StepMap::offset(0).inverted());
  EXPECT_EQ(vec(StepMap::offset(-3).ranges()), (std::vector<int>{0, 3, 0}));
  EXPECT_EQ(vec(StepMap::offset(5).ranges()), (std::vector<int>{0, 0, 5}));
  EXPECT_EQ(StepMap::offset(5).map(2), 7);
  EXPECT_EQ(StepMap::offset(-3).map(5), 2);
}

TEST(StepMap, EmptyInvertIsEmptyNotInverted) {
  EXPECT_FALSE(StepMap::empty().invert().inverted());
  EXPECT_TRUE(StepMap::empty().invert().ranges().empty());
  EXPECT_FALSE(StepMap({}, true).inverted());
  EXPECT_EQ(StepMap::empty().map(7, -1), 7);
  MapResult r = StepMap::empty().map_result(7);
  EXPECT_EQ(r.pos, 7);
  EXPECT_EQ(r.del_info, 0);
  EXPECT_EQ(r.recover, -1);
}

TEST(StepMap, AssocDecidesInsertionSide) {
  StepMap map({3, 0, 2});
  EXPECT_EQ(map.map(3, -1), 3);
  EXPECT_EQ(map.map(3, 1), 5);
  EXPECT_FALSE(map.map_result(3, 1).deleted());
  EXPECT_EQ(map.map_result(3, 1).del_info, 0);
}

// --- Conformance vectors -----------------------------------------------------

// Every `map` vector of the shared set, through the conformance runner.
TEST(MapConformance, MatchesJavaScript) { conformance::expect_kind_passes("map", 689); }

// Port note (map.cc): positions anywhere in int's range (a hostile cursor)
// map without overflow; a result beyond int saturates.
TEST(StepMapHostile, PositionsAtTheEndsOfIntDoNotOverflow) {
  constexpr int kMax = std::numeric_limits<int>::max(), kMin = std::numeric_limits<int>::min();
  StepMap insert({2, 0, 5});  // one range: the single-range fast path
  EXPECT_EQ(insert.map(kMax), kMax);
  EXPECT_EQ(insert.map(kMax - 5), kMax);
  EXPECT_EQ(insert.map(kMax - 6), kMax - 1);
  EXPECT_EQ(insert.map_result(kMax).pos, kMax);
  EXPECT_EQ(insert.map(kMin), kMin);
  StepMap two({2, 0, 5, 10, 0, 5});  // the general path
  EXPECT_EQ(two.map(kMax), kMax);
  EXPECT_EQ(two.map_result(kMax, -1).pos, kMax);
  EXPECT_EQ(two.invert().map(kMin), kMin);
  StepMap del({2, 5, 0});
  EXPECT_EQ(del.map(kMax), kMax - 5);
  EXPECT_EQ(del.invert().map(kMax), kMax);
  Mapping mapping({insert, two});
  EXPECT_EQ(mapping.map(kMax), kMax);
  EXPECT_EQ(mapping.map_result(kMax - 20).pos, kMax - 5);
  EXPECT_EQ(mapping.map_result(kMax - 10).pos, kMax);
  EXPECT_EQ(StepMap::offset(kMin).map(kMin + 10), kMin + 10);
  EXPECT_EQ(StepMap::offset(kMin).map(kMax), 0);
}

// A map of one range, made from its three numbers or from a vector, is the same map, inverted
// or not, and keeps its range inline (copies of it allocate nothing).
TEST(StepMap, OneRangeMadeEitherWayIsTheSameMap) {
  for (bool inverted : {false, true}) {
    StepMap a = StepMap::one(2, 3, 5, inverted), b(std::vector<int>{2, 3, 5}, inverted);
    EXPECT_EQ(vec(a.ranges()), (std::vector<int>{2, 3, 5}));
    EXPECT_EQ(vec(b.ranges()), vec(a.ranges()));
    EXPECT_EQ(a.inverted(), inverted);
    for (int pos = 0; pos < 12; ++pos)
      for (int assoc : {-1, 1}) {
        EXPECT_EQ(a.map(pos, assoc), b.map(pos, assoc)) << pos;
        EXPECT_EQ(a.map_result(pos, assoc).pos, a.map(pos, assoc)) << pos;
      }
    StepMap copy = a;
    EXPECT_NE(copy.ranges().data(), a.ranges().data());
    EXPECT_EQ(vec(a.invert().invert().ranges()), vec(a.ranges()));
    EXPECT_EQ(a.invert().inverted(), !inverted);
  }
  EXPECT_TRUE(StepMap(std::vector<int>{}, true).ranges().empty());
  EXPECT_FALSE(StepMap(std::vector<int>{}, true).inverted());
}

}  // namespace
// A slice shares the maps of its mapping (as upstream's `ownData`): appending
// to either afterwards leaves the other mapping as it was.
TEST(Mapping, SlicesShareMapsButAppendsStayApart) {
  Mapping whole;
  whole.append_map(StepMap({2, 0, 4}));
  whole.append_map(StepMap({0, 2, 0}), 0);
  Mapping tail = whole.slice(1);
  EXPECT_EQ(&tail.maps(), &whole.maps()) << "the slice copied the maps";
  EXPECT_EQ(tail.map(5), 3);
  tail.append_map(StepMap({0, 0, 10}));
  EXPECT_EQ(whole.maps().size(), 2u);
  EXPECT_EQ(whole.map(5), whole.slice(0, 2).map(5));
  EXPECT_EQ(tail.map(5), 13);
  whole.append_map(StepMap({0, 0, 100}));
  Mapping head = whole.slice(0, 1);
  whole.set_mirror(2, 0);
  EXPECT_EQ(head.map(3), 7);
  EXPECT_EQ(tail.map(5), 13) << "the slice saw a map appended to the mapping";
  // A copy owns its maps.
  Mapping copy = tail;
  copy.append_map(StepMap({0, 0, 1}));
  EXPECT_EQ(tail.maps().size(), 3u);
  EXPECT_EQ(copy.map(5), 14);
}

// Every position below unchanged_below maps to itself, with mirrors too.
TEST(Mapping, PositionsBelowUnchangedBelowStayWhereTheyAre) {
  Mapping m;
  m.append_map(StepMap({7, 0, 3}));
  m.append_map(StepMap({4, 2, 0}));
  m.append_map(StepMap({4, 2, 0}).invert(), 1);
  EXPECT_EQ(unchanged_below(m), 4);
  for (int pos = 0; pos < 4; ++pos) EXPECT_EQ(m.map(pos, 1), pos);
  EXPECT_NE(m.map(9, 1), 9);
  EXPECT_EQ(unchanged_below(m.slice(0, 1)), 7);
  EXPECT_EQ(unchanged_below(Mapping()), std::numeric_limits<int>::max());
}

}  // namespace rtpm::transform
