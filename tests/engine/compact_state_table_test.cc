// CompactStateTable against a model (absl::flat_hash_map) under random
// inserts, updates, erases, sweeps, copies and growth; and the bijection its
// slots rely on to recover keys.
#include "brook/internal/compact_state_table.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <variant>

#include <gtest/gtest.h>

#include "absl/container/flat_hash_map.h"

namespace brook::internal {
namespace {

TEST(CompactStateTableTest, TheKeyMixIsABijection) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t x = rng();
    ASSERT_EQ(compact_table::Unmix(compact_table::Mix(x)), x);
  }
  for (uint64_t x : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}, uint64_t{1} << 63}) {
    EXPECT_EQ(compact_table::Unmix(compact_table::Mix(x)), x);
  }
}

// Keys from a small range (so erases and re-inserts hit), plus the extremes
// and 0 (whose code is 0: kept beside the slots).
int64_t RandomKey(std::mt19937_64& rng) {
  switch (rng() % 16) {
    case 0: return 0;
    case 1: return std::numeric_limits<int64_t>::min();
    case 2: return std::numeric_limits<int64_t>::max();
    case 3: return -static_cast<int64_t>(rng() % 100);
    default: return static_cast<int64_t>(rng() % 5000);
  }
}

template <typename Table, typename Model>
void ExpectSameContents(const Table& t, const Model& model) {
  ASSERT_EQ(t.size(), model.size());
  size_t visited = 0;
  t.ForEach([&](const auto& e) {
    ++visited;
    auto it = model.find(e.first);
    ASSERT_NE(it, model.end()) << e.first;
    EXPECT_EQ(e.second.value, it->second.value) << e.first;
    EXPECT_EQ(e.second.last_update_ms, it->second.last_update_ms) << e.first;
  });
  EXPECT_EQ(visited, model.size());
  for (const auto& [k, e] : model) {
    const auto f = t.Find(k);
    ASSERT_TRUE(f) << k;
    EXPECT_EQ(*f.value, e.value) << k;
    EXPECT_EQ(f.stamp, e.last_update_ms) << k;
  }
}

// 4-byte values with a TTL: 16-byte slots with 32-bit stamps, and stamps
// spread over more than 2^32 ms so that some overflow and later come back.
TEST(CompactStateTableTest, MatchesAModelWithNarrowStamps) {
  using Table = CompactStateTable<int64_t, uint32_t, true>;
  static_assert(Table::kNarrow && sizeof(Table::Slot) == 16);
  std::mt19937_64 rng(42);
  Table t;
  absl::flat_hash_map<int64_t, Stamped<uint32_t>> model;
  int64_t now = 1'700'000'000'000;
  for (int step = 0; step < 200000; ++step) {
    const int64_t key = RandomKey(rng);
    // Mostly near `now`; now and then 30 to 60 days either side.
    int64_t stamp = now + static_cast<int64_t>(rng() % 10000);
    if (rng() % 50 == 0) {
      const int64_t far = static_cast<int64_t>(30 + rng() % 30) * 86'400'000;
      stamp += (rng() % 2 == 0) ? far : -far;
    }
    const uint32_t value = static_cast<uint32_t>(rng());
    switch (rng() % 8) {
      case 0:
      case 1:
      case 2: {
        auto [f, inserted] = t.FindOrInsert(key, value, stamp);
        auto [it, model_inserted] = model.try_emplace(key, Stamped<uint32_t>{value, stamp});
        ASSERT_EQ(inserted, model_inserted) << key;
        ASSERT_EQ(*f.value, it->second.value);
        ASSERT_EQ(f.stamp, it->second.last_update_ms);
        break;
      }
      case 3:
      case 4: {
        const auto f = t.Assign(key, value, stamp);
        model[key] = {value, stamp};
        ASSERT_EQ(*f.value, value);
        ASSERT_EQ(f.stamp, stamp);
        break;
      }
      case 5:
        ASSERT_EQ(t.erase(key), model.erase(key) > 0) << key;
        break;
      case 6: {
        const auto f = t.Find(key);
        ASSERT_EQ(static_cast<bool>(f), model.contains(key)) << key;
        if (f) *f.value = value;  // written in place, as GetMutable's callers do
        if (f) model[key].value = value;
        break;
      }
      default:
        if (rng() % 500 == 0) {
          // A TTL sweep (ttl 10 days, watermark now - 1): drop the stamps
          // below a floor, then move the base.
          now += 20 * 86'400'000LL;
          const int64_t ttl = 10 * 86'400'000LL;
          const int64_t floor = now - ttl;
          ASSERT_EQ(t.AnyExpired(ttl, now - 1), std::any_of(model.begin(), model.end(), [&](const auto& kv) {
                      return kv.second.last_update_ms < floor;
                    }));
          const size_t removed = t.EraseExpired(ttl, now - 1);
          ASSERT_EQ(removed, absl::erase_if(model, [&](const auto& kv) {
                      return kv.second.last_update_ms < floor;
                    }));
          if (t.WantsRebase(floor)) t.Rebase(floor);
          ExpectSameContents(t, model);
        }
        break;
    }
  }
  ExpectSameContents(t, model);
  const Table copy(t);
  ExpectSameContents(copy, model);
  t.clear();
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(t.Find(1));
  ExpectSameContents(copy, model);
}

// A set of keys: entries are the keys alone, one 8-byte slot each.
TEST(CompactStateTableTest, ASetMatchesAModelThroughGrowthAndSweeps) {
  using Table = CompactStateTable<int64_t, std::monostate, false>;
  static_assert(sizeof(Table::Slot) == 8);
  std::mt19937_64 rng(3);
  Table t;
  std::set<int64_t> model;
  for (int step = 0; step < 300000; ++step) {
    const int64_t key = step < 150000 ? static_cast<int64_t>(rng()) : RandomKey(rng);
    if (rng() % 4 != 0) {
      ASSERT_EQ(t.FindOrInsert(key, {}, 0).second, model.insert(key).second);
    } else {
      ASSERT_EQ(t.erase(key), model.erase(key) > 0);
    }
  }
  t.EraseIf([](int64_t k) { return k % 3 == 0; });
  std::erase_if(model, [](int64_t k) { return k % 3 == 0; });
  ASSERT_EQ(t.size(), model.size());
  std::set<int64_t> seen;
  t.ForEach([&](int64_t k) { seen.insert(k); });
  EXPECT_EQ(seen, model);
  for (int64_t k : model) ASSERT_TRUE(t.contains(k));
}

// The memory the issue budgets: at most 24 bytes per id for a 16-byte slot,
// whatever the size, when many tables (key groups) grow side by side.
TEST(CompactStateTableTest, KeyGroupsTogetherStayDenselyFilled) {
  using Table = CompactStateTable<int64_t, uint32_t, true>;
  std::vector<Table> tables(128);
  std::mt19937_64 rng(11);
  int64_t n = 0;
  for (int64_t target : {100'000, 300'000, 1'000'000, 3'000'000}) {
    for (; n < target; ++n) {
      const uint64_t id = rng();
      tables[id % tables.size()].FindOrInsert(static_cast<int64_t>(id), 1, n);
    }
    int64_t bytes = 0;
    for (const auto& t : tables) bytes += t.bytes();
    const double per_key = static_cast<double>(bytes) / static_cast<double>(n);
    std::printf("%ld keys in 128 tables: %.2f bytes per key\n", static_cast<long>(n), per_key);
    EXPECT_LE(per_key, 24.0) << n << " keys";
  }
}

}  // namespace
}  // namespace brook::internal
