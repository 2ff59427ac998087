// Key groups must agree with Flink's KeyGroupRangeAssignment bit for bit, so
// that state partitioned by brook lines up with a Flink job keyed by the same
// values (and so that rescaling follows Flink's rules).
//
// The expected values below were NOT derived from brook's C++: they were
// printed by a throwaway Java 17 program that implements Flink's
// MathUtils.murmurHash(int) / bitMix(int) and KeyGroupRangeAssignment
// (computeKeyGroupForKeyHash, computeOperatorIndexForKeyGroup,
// computeKeyGroupRangeForOperatorIndex) from their definitions, and takes key
// hashes from the JDK itself (Long.valueOf(x).hashCode(),
// Integer.valueOf(x).hashCode(), String.hashCode()).
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "brook/key_group.h"

namespace {

constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int32_t kI32Min = std::numeric_limits<int32_t>::min();
constexpr int32_t kI32Max = std::numeric_limits<int32_t>::max();

// One key: its Java hashCode(), murmurHash(hashCode()), the key group at max
// parallelism 128, and the owning subtask at parallelism 1, 2, 3, 4.
template <typename K>
struct Expected {
  K key;
  int32_t java_hash;
  int32_t murmur;
  int key_group_128;
  int subtask[4];
};

const std::vector<Expected<int64_t>>& LongKeys() {
  static const auto* v = new std::vector<Expected<int64_t>>{
      {0, 0, 593689054, 94, {0, 1, 2, 2}},
      {1, 1, 68075478, 86, {0, 1, 2, 2}},
      {42, 42, 1134849565, 29, {0, 0, 0, 0}},
      {-1, 0, 593689054, 94, {0, 1, 2, 2}},
      {int64_t{1} << 40, 256, 1409940790, 54, {0, 0, 1, 1}},
      {123456789012, -1097262584, 723049339, 123, {0, 1, 2, 3}},
      {kI64Min, kI32Min, 1718298732, 108, {0, 1, 2, 3}},
      {kI64Max, kI32Min, 1718298732, 108, {0, 1, 2, 3}},
  };
  return *v;
}

const std::vector<Expected<int32_t>>& IntKeys() {
  static const auto* v = new std::vector<Expected<int32_t>>{
      {0, 0, 593689054, 94, {0, 1, 2, 2}},
      {7, 7, 1343918321, 113, {0, 1, 2, 3}},
      {-7, -7, 206585249, 33, {0, 0, 0, 1}},
      {kI32Min, kI32Min, 1718298732, 108, {0, 1, 2, 3}},
  };
  return *v;
}

const std::vector<Expected<std::string>>& StringKeys() {
  static const auto* v = new std::vector<Expected<std::string>>{
      {"", 0, 593689054, 94, {0, 1, 2, 2}},
      {"a", 97, 1455541201, 81, {0, 1, 1, 2}},
      {"location-7", 1541835807, 1426186981, 101, {0, 1, 2, 3}},
      {"Hello, world", -476288596, 2043917065, 9, {0, 0, 0, 0}},
      {"detection_oid_000123", 1532093457, 573634379, 75, {0, 1, 1, 2}},
  };
  return *v;
}

template <typename K>
void CheckKeys(const std::vector<Expected<K>>& keys) {
  for (const auto& e : keys) {
    SCOPED_TRACE(::testing::Message() << "key " << e.key);
    EXPECT_EQ(brook::KeyHash<K>()(e.key), e.java_hash);
    EXPECT_EQ(brook::MurmurHash(e.java_hash), e.murmur);
    EXPECT_EQ(brook::AssignToKeyGroup(e.key, 128), e.key_group_128);
    EXPECT_EQ(brook::AssignKeyHashToKeyGroup(e.java_hash, 128), e.key_group_128);
    for (int p = 1; p <= 4; ++p) {
      EXPECT_EQ(brook::ComputeOperatorIndexForKeyGroup(128, p, e.key_group_128),
                e.subtask[p - 1])
          << "parallelism " << p;
    }
  }
}

TEST(KeyGroupTest, MurmurHashMatchesFlink) {
  struct Raw {
    int32_t in;
    int32_t out;
  };
  for (const Raw& r : std::vector<Raw>{{0, 593689054},
                                       {1, 68075478},
                                       {-1, 1982413648},
                                       {kI32Min, 1718298732},
                                       {kI32Max, 1653689534},
                                       {0x12345678, 331494558}}) {
    EXPECT_EQ(brook::MurmurHash(r.in), r.out) << r.in;
  }
}

TEST(KeyGroupTest, MurmurHashIsNonNegative) {
  for (int64_t i = -100000; i <= 100000; i += 7) {
    ASSERT_GE(brook::MurmurHash(static_cast<int32_t>(i * 65537)), 0) << i;
  }
}

// A power-of-two max parallelism takes a mask instead of a division; every
// max parallelism still gets Flink's murmurHash(hash) % maxParallelism.
TEST(KeyGroupTest, KeyGroupIsMurmurHashModuloMaxParallelism) {
  for (int maxp : {1, 2, 7, 100, 128, 1000, 4096, 32768}) {
    for (int64_t i = -100000; i <= 100000; i += 13) {
      const auto hash = static_cast<int32_t>(i * 40503);
      ASSERT_EQ(brook::AssignKeyHashToKeyGroup(hash, maxp), brook::MurmurHash(hash) % maxp)
          << "hash " << hash << ", max parallelism " << maxp;
    }
    for (int32_t hash : {INT32_MIN, INT32_MAX, 0, -1}) {
      EXPECT_EQ(brook::AssignKeyHashToKeyGroup(hash, maxp), brook::MurmurHash(hash) % maxp);
    }
  }
}

TEST(KeyGroupTest, LongKeysMatchFlink) { CheckKeys(LongKeys()); }
TEST(KeyGroupTest, IntKeysMatchFlink) { CheckKeys(IntKeys()); }
TEST(KeyGroupTest, StringKeysMatchFlink) { CheckKeys(StringKeys()); }

TEST(KeyGroupTest, StringViewHashEqualsStringHash) {
  for (const auto& e : StringKeys()) {
    EXPECT_EQ(brook::KeyHash<std::string_view>()(e.key), e.java_hash);
  }
}

TEST(KeyGroupTest, OtherMaxParallelismMatchesFlink) {
  // Java: murmurHash(key.hashCode()) % 4096, then kg * p / 4096.
  EXPECT_EQ(brook::AssignToKeyGroup(int64_t{42}, 4096), 3613);
  EXPECT_EQ(brook::AssignToKeyGroup(int64_t{123456789012}, 4096), 2939);
  EXPECT_EQ(brook::AssignToKeyGroup(std::string("location-7"), 4096), 741);
  EXPECT_EQ(brook::ComputeOperatorIndexForKeyGroup(4096, 5, 3613), 4);
  EXPECT_EQ(brook::ComputeOperatorIndexForKeyGroup(4096, 7, 3613), 6);
  EXPECT_EQ(brook::ComputeOperatorIndexForKeyGroup(4096, 5, 2939), 3);
  EXPECT_EQ(brook::ComputeOperatorIndexForKeyGroup(4096, 7, 2939), 5);
  EXPECT_EQ(brook::ComputeOperatorIndexForKeyGroup(4096, 5, 741), 0);
  EXPECT_EQ(brook::ComputeOperatorIndexForKeyGroup(4096, 7, 741), 1);
}

TEST(KeyGroupTest, RangesMatchFlink) {
  using R = brook::KeyGroupRange;
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(128, 3, 0), (R{0, 42}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(128, 3, 1), (R{43, 85}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(128, 3, 2), (R{86, 127}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(10, 3, 0), (R{0, 3}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(10, 3, 1), (R{4, 6}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(10, 3, 2), (R{7, 9}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(7, 4, 0), (R{0, 1}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(7, 4, 1), (R{2, 3}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(7, 4, 2), (R{4, 5}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(7, 4, 3), (R{6, 6}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(128, 128, 5), (R{5, 5}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(4096, 5, 0), (R{0, 819}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(4096, 5, 2), (R{1639, 2457}));
  EXPECT_EQ(brook::ComputeKeyGroupRangeForOperatorIndex(4096, 5, 4), (R{3277, 4095}));
}

// Every subtask's range is non-empty, the ranges tile [0, max_parallelism)
// in subtask order, and each key group maps back to the subtask whose range
// holds it: what restoring state at another parallelism relies on.
TEST(KeyGroupTest, RangesPartitionKeyGroupsAndInvertOperatorIndex) {
  for (int max_p : {1, 2, 7, 10, 128, 129, 1000, 4096, 32768}) {
    for (int p : {1, 2, 3, 4, 5, 7, 16, 100, 127, 128}) {
      if (p > max_p) continue;
      SCOPED_TRACE(::testing::Message() << "max_parallelism " << max_p << ", parallelism " << p);
      int next = 0;
      for (int i = 0; i < p; ++i) {
        const brook::KeyGroupRange r = brook::ComputeKeyGroupRangeForOperatorIndex(max_p, p, i);
        ASSERT_EQ(r.start, next) << "subtask " << i;
        ASSERT_GE(r.size(), 1) << "subtask " << i;
        for (int kg = r.start; kg <= r.end; ++kg) {
          ASSERT_TRUE(r.Contains(kg));
          ASSERT_EQ(brook::ComputeOperatorIndexForKeyGroup(max_p, p, kg), i) << "key group " << kg;
        }
        ASSERT_FALSE(r.Contains(r.start - 1));
        ASSERT_FALSE(r.Contains(r.end + 1));
        next = r.end + 1;
      }
      ASSERT_EQ(next, max_p);
    }
  }
}

TEST(KeyGroupTest, KeyGroupIsBelowMaxParallelism) {
  for (int max_p : {1, 3, 128, 1000}) {
    for (int64_t k = -5000; k < 5000; k += 3) {
      const int kg = brook::AssignToKeyGroup(k * 1000003, max_p);
      ASSERT_GE(kg, 0);
      ASSERT_LT(kg, max_p);
    }
  }
}

TEST(KeyGroupTest, EmptyRange) {
  brook::KeyGroupRange r;
  EXPECT_EQ(r.size(), 0);
  EXPECT_FALSE(r.Contains(0));
}

}  // namespace
