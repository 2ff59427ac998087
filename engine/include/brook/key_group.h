// File: brook/key_group.h
//
// Key groups: the unit in which keyed state is partitioned, checkpointed and
// redistributed. The rules are Flink's KeyGroupRangeAssignment, exactly:
//
//   key_group = MurmurHash(KeyHash(key)) % max_parallelism
//   subtask   = key_group * parallelism / max_parallelism
//
// so every subtask owns a contiguous range of key groups and a checkpoint can
// be restored at another parallelism. KeyHash<K> matches Java's hashCode() for
// integral keys and for ASCII strings, so key groups agree with a Flink job
// keyed by the same Long/Integer/String values.
#ifndef BROOK_KEY_GROUP_H_
#define BROOK_KEY_GROUP_H_

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace brook {

// Default max parallelism (number of key groups), as DESIGN.md §3.
inline constexpr int kDefaultMaxParallelism = 128;

// Flink's MathUtils.murmurHash(int): a non-negative 32-bit mix of `code`.
constexpr int32_t MurmurHash(int32_t code) {
  uint32_t h = static_cast<uint32_t>(code);
  h *= 0xcc9e2d51u;
  h = (h << 15) | (h >> 17);
  h *= 0x1b873593u;
  h = (h << 13) | (h >> 19);
  h = h * 5u + 0xe6546b64u;
  h ^= 4u;
  // bitMix (MurmurHash3's fmix32).
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  const int32_t s = static_cast<int32_t>(h);
  if (s >= 0) return s;
  if (s != INT32_MIN) return -s;
  return 0;
}

// KeyHash<K>: the 32-bit hash a key contributes to key-group assignment.
// Specialise it for your own key types (it must be deterministic across
// processes: never use a seeded or pointer-based hash here).
template <typename K, typename Enable = void>
struct KeyHash;

// Integral keys: Java's Integer/Long.hashCode().
template <typename K>
struct KeyHash<K, std::enable_if_t<std::is_integral_v<K>>> {
  constexpr int32_t operator()(K key) const {
    if constexpr (sizeof(K) <= 4) {
      return static_cast<int32_t>(key);
    } else {
      const uint64_t v = static_cast<uint64_t>(key);
      return static_cast<int32_t>(static_cast<uint32_t>(v ^ (v >> 32)));
    }
  }
};

// Strings: Java's String.hashCode() over the bytes (equal to Java's for
// ASCII; for other UTF-8 it is still deterministic, just not Java's).
template <>
struct KeyHash<std::string_view> {
  constexpr int32_t operator()(std::string_view s) const {
    uint32_t h = 0;
    for (char c : s) h = 31u * h + static_cast<unsigned char>(c);
    return static_cast<int32_t>(h);
  }
};
template <>
struct KeyHash<std::string> {
  int32_t operator()(const std::string& s) const {
    return KeyHash<std::string_view>()(s);
  }
};

// A type usable as a key after KeyBy: hashable for key groups, comparable so
// that timers at one timestamp fire in a deterministic (key) order, copyable
// and hashable for the state tables.
template <typename K>
concept Key = std::copyable<K> && std::totally_ordered<K> && requires(const K& k) {
  { KeyHash<K>()(k) } -> std::convertible_to<int32_t>;
};

// The key group of a key hash (Flink's computeKeyGroupForKeyHash).
constexpr int AssignKeyHashToKeyGroup(int32_t key_hash, int max_parallelism) {
  const int32_t h = MurmurHash(key_hash);  // >= 0
  // A power of two (the default, 128) takes a mask, the same as % for h >= 0:
  // a division per record was a tenth of the keyed operators' batch loop.
  if ((max_parallelism & (max_parallelism - 1)) == 0) return h & (max_parallelism - 1);
  return h % max_parallelism;
}

template <Key K>
constexpr int AssignToKeyGroup(const K& key, int max_parallelism) {
  return AssignKeyHashToKeyGroup(KeyHash<K>()(key), max_parallelism);
}

// The subtask that owns `key_group` (Flink's computeOperatorIndexForKeyGroup).
constexpr int ComputeOperatorIndexForKeyGroup(int max_parallelism, int parallelism,
                                              int key_group) {
  return static_cast<int>(static_cast<int64_t>(key_group) * parallelism /
                          max_parallelism);
}

// An inclusive range of key groups [start, end] (Flink's KeyGroupRange).
struct KeyGroupRange {
  int start = 0;
  int end = -1;  // inclusive; empty when end < start

  int size() const { return end < start ? 0 : end - start + 1; }
  bool Contains(int key_group) const { return key_group >= start && key_group <= end; }
  friend bool operator==(const KeyGroupRange&, const KeyGroupRange&) = default;
};

// The key groups owned by subtask `operator_index` (Flink's
// computeKeyGroupRangeForOperatorIndex): the inverse of
// ComputeOperatorIndexForKeyGroup.
constexpr KeyGroupRange ComputeKeyGroupRangeForOperatorIndex(int max_parallelism,
                                                             int parallelism,
                                                             int operator_index) {
  const int start = static_cast<int>(
      (static_cast<int64_t>(operator_index) * max_parallelism + parallelism - 1) /
      parallelism);
  const int end = static_cast<int>(
      (static_cast<int64_t>(operator_index + 1) * max_parallelism - 1) / parallelism);
  return KeyGroupRange{start, end};
}

}  // namespace brook

#endif  // BROOK_KEY_GROUP_H_
