// File: brook/internal/compact_state_table.h  (internal: not part of the API)
//
// CompactStateTable<K, V, kTtl>: the heap backend's per-key-group table for
// ValueState whose key is an integer (at most 8 bytes) and whose value is
// empty (a set of keys, as the dedup's seen ids) or trivially copyable and
// at most 8 bytes (as its fingerprints). Abseil's tables hold such state at
// 29 to 57 bytes per key with a TTL; this one at about 22 (16-byte slots).
//
// Layout: one array of slots {code, value, TTL stamp}. The code is a
// bijective mix of the key (splitmix64's finalizer), so the key is recovered
// from it rather than stored beside it; code 0 marks an empty slot (the one
// key whose code is 0 is kept beside the array). Linear probing with every
// cluster kept sorted by code (hence by home slot, as Robin Hood order): a
// lookup stops at the first larger code, so a miss costs what a hit does;
// deletion shifts the rest of the cluster back (no tombstones); nothing wraps
// around: a tail past the capacity takes the last cluster, and the whole
// array stays sorted, so growing is one merge-like pass.
//
// Load: capacities are not powers of two (home = code * capacity >> 64), and
// a table grows by 1.4x once 7/8 full, so it is between 62% and 88% full.
// A table's first capacity is 16 * 1.4^u with u in [0, 1) taken from its
// first key, so the key groups of a subtask grow at different sizes and
// together stay about 74% full, instead of all dropping to 62% at once.
//
// TTL stamps (ms) of values of at most 4 bytes are kept as 32-bit offsets
// from a per-table base, so the slot stays 16 bytes: a stamp outside
// [base, base + 2^32) (about 49 days) lives in a small overflow map instead,
// and a TTL sweep moves the base up behind the oldest live stamp.
//
// Thread-safety: none; a const table may be read from several threads (the
// backend's copy-on-write snapshots).
#ifndef BROOK_INTERNAL_COMPACT_STATE_TABLE_H_
#define BROOK_INTERNAL_COMPACT_STATE_TABLE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/container/flat_hash_map.h"
#include "brook/internal/state_table_allocator.h"
#include "brook/time.h"

namespace brook::internal {

template <typename V>
struct Stamped {
  V value;
  int64_t last_update_ms;
};

namespace compact_table {

inline constexpr uint64_t kM1 = 0xbf58476d1ce4e5b9ULL;
inline constexpr uint64_t kM2 = 0x94d049bb133111ebULL;
// The inverse of an odd number modulo 2^64 (Newton's iteration: each step
// doubles the correct low bits; a * a == 1 mod 8 gives the first 3).
constexpr uint64_t InverseOdd(uint64_t a) {
  uint64_t x = a;
  for (int i = 0; i < 5; ++i) x *= 2 - a * x;
  return x;
}
static_assert(InverseOdd(kM1) * kM1 == 1 && InverseOdd(kM2) * kM2 == 1);

// splitmix64's finalizer: a bijection on 64-bit words, independent of the
// key-group hash (KeyHash + MurmurHash), so a key group's keys spread evenly.
inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * kM1;
  z = (z ^ (z >> 27)) * kM2;
  return z ^ (z >> 31);
}
inline uint64_t Unmix(uint64_t z) {
  z ^= (z >> 31) ^ (z >> 62);
  z *= InverseOdd(kM2);
  z ^= (z >> 27) ^ (z >> 54);
  z *= InverseOdd(kM1);
  return z ^ (z >> 30) ^ (z >> 60);
}

// A prefetch GCC keeps: it finds a function whose only effect is
// __builtin_prefetch free of side effects and deletes calls to it.
inline void Prefetch(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

struct NoStamp {};

template <typename V, typename Stamp>
struct Slot {
  uint64_t code;  // 0: empty
  [[no_unique_address]] V value;
  [[no_unique_address]] Stamp stamp;
};

// Zero-filled slot arrays: fresh pages are zero already, so a large array
// costs no memset; its pages are faulted in for writing when it is
// allocated (one fault per page, rather than a read fault and then a write
// fault with a TLB flush on every CPU: compact_state_table.cc).
void* AllocateZeroed(size_t bytes, bool huge_pages);
void FreeZeroed(void* p, size_t bytes, bool huge_pages);

}  // namespace compact_table

template <typename K, typename V>
inline constexpr bool kCompactStateApplies =
    std::is_integral_v<K> && !std::is_same_v<K, bool> && sizeof(K) <= 8 &&
    std::is_default_constructible_v<V> && std::is_trivially_copyable_v<V> &&
    (std::is_empty_v<V> || sizeof(V) <= 8);

template <typename K, typename V, bool kTtl>
  requires kCompactStateApplies<K, V>
class CompactStateTable {
 public:
  static constexpr bool kSet = std::is_empty_v<V>;
  static constexpr bool kNarrow = kTtl && !kSet && sizeof(V) <= 4;
  using Stamp = std::conditional_t<!kTtl, compact_table::NoStamp,
                                   std::conditional_t<kNarrow, uint32_t, int64_t>>;
  using Slot = compact_table::Slot<V, Stamp>;
  // What a key maps to in a snapshot, as the Abseil tables' value_type (so
  // that checkpoints are written and read the same way): a set's key; a
  // set's (key, stamp); (key, value); (key, Stamped value).
  using Entry = std::conditional_t<kSet, int64_t, std::conditional_t<kTtl, Stamped<V>, V>>;
  using value_type = std::conditional_t<kSet && !kTtl, K, std::pair<const K, Entry>>;

  // A key's value (never null when found; for a set, a pointer into the
  // slot) and TTL stamp; valid until the table next changes.
  struct Found {
    V* value = nullptr;
    int64_t stamp = 0;
    explicit operator bool() const { return value != nullptr; }
  };

  CompactStateTable() = default;
  explicit CompactStateTable(bool huge_pages) : huge_pages_(huge_pages) {}
  CompactStateTable(const CompactStateTable& o)
      : huge_pages_(o.huge_pages_), size_(o.size_), has_zero_(o.has_zero_), zero_(o.zero_),
        base_(o.base_), has_base_(o.has_base_), overflow_(o.overflow_) {
    if (o.slots_ == nullptr) return;
    Allocate(o.capacity_);
    std::memcpy(static_cast<void*>(slots_), o.slots_, Length() * sizeof(Slot));
  }
  CompactStateTable& operator=(const CompactStateTable&) = delete;
  ~CompactStateTable() { Free(); }

  size_t size() const { return size_ + (has_zero_ ? 1 : 0) + overflow_.size(); }
  bool empty() const { return size() == 0; }
  // Bytes held: the slot array and the overflow map's slots.
  int64_t bytes() const {
    return static_cast<int64_t>(Length() * sizeof(Slot)) +
           static_cast<int64_t>(overflow_.capacity() *
                                (sizeof(typename Overflow::value_type) + 1));
  }

  Found Find(const K& key) const {
    const uint64_t code = Code(key);
    if (const Slot* s = FindSlot(code)) return FoundIn(const_cast<Slot*>(s));
    if constexpr (kNarrow) {
      if (!overflow_.empty()) {
        auto it = overflow_.find(key);
        if (it != overflow_.end()) {
          return {const_cast<V*>(&it->second.value), it->second.last_update_ms};
        }
      }
    }
    return {};
  }
  bool contains(const K& key) const { return static_cast<bool>(Find(key)); }

  // The key's entry, or a new one with `value` and `stamp` (ignored without
  // TTL): (entry, whether inserted). One probe when the key is absent.
  std::pair<Found, bool> FindOrInsert(const K& key, const V& value, int64_t stamp) {
    if constexpr (kNarrow) {
      if (!overflow_.empty() || !Fits(stamp)) {
        if (Found f = Find(key)) return {f, false};
        return {Assign(key, value, stamp), true};
      }
    }
    const uint64_t code = Code(key);
    auto [slot, inserted] = FindOrInsertSlot(code);
    if (inserted) Fill(*slot, value, stamp);
    return {FoundIn(slot), inserted};
  }
  // Sets the key's value and stamp, inserting it when absent.
  Found Assign(const K& key, const V& value, int64_t stamp) {
    const uint64_t code = Code(key);
    if constexpr (kNarrow) {
      if (!Fits(stamp)) {
        EraseCode(code);
        auto& e = overflow_[key];
        e = Stamped<V>{value, stamp};
        return {&e.value, stamp};
      }
      if (!overflow_.empty()) overflow_.erase(key);
    }
    Slot* slot = FindOrInsertSlot(code).first;
    Fill(*slot, value, stamp);
    return FoundIn(slot);
  }
  bool erase(const K& key) {
    if (EraseCode(Code(key))) return true;
    if constexpr (kNarrow) return overflow_.erase(key) > 0;
    return false;
  }
  void clear() {
    if (slots_ != nullptr) std::memset(static_cast<void*>(slots_), 0, Length() * sizeof(Slot));
    size_ = 0;
    has_zero_ = false;
    overflow_.clear();
  }
  // Room for `n` keys without growing.
  void reserve(size_t n) {
    if (n > MaxSize()) Rehash(CapacityFor(n));
  }
  // Prefetches the slots a probe for `key` reads first (two cache lines).
  void prefetch(const K& key) const {
    if (slots_ == nullptr) return;
    const char* p = reinterpret_cast<const char*>(slots_ + Home(Code(key)));
    compact_table::Prefetch(p);
    compact_table::Prefetch(p + 64);
  }

  // Visits every entry as a value_type (built on the fly).
  template <typename F>
  void ForEach(F&& f) const {
    ForEachSlot([&](const Slot& s) { f(EntryOf(s)); },
                [&](const auto& kv) { f(value_type(kv)); });
  }
  // Removes the entries `pred(value_type)` holds for; returns how many.
  template <typename Pred>
  size_t EraseIf(Pred&& pred) {
    return EraseSlotsIf([&](const Slot& s) { return pred(EntryOf(s)); },
                        [&](const auto& kv) { return pred(value_type(kv)); });
  }

  // TTL sweeps: whether any entry, and removing every entry, whose stamp
  // has expired at `watermark_ms` (stamp + ttl_ms <= watermark_ms). Stamps
  // are compared where they lie; no key is decoded.
  bool AnyExpired(int64_t ttl_ms, int64_t watermark_ms) const
    requires kTtl
  {
    bool any = false;
    ForEachSlot(
        [&](const Slot& s) { any = any || IsExpired(StampOf(s), ttl_ms, watermark_ms); },
        [&](const auto& kv) {
          any = any || IsExpired(kv.second.last_update_ms, ttl_ms, watermark_ms);
        });
    return any;
  }
  size_t EraseExpired(int64_t ttl_ms, int64_t watermark_ms)
    requires kTtl
  {
    return EraseSlotsIf(
        [&](const Slot& s) { return IsExpired(StampOf(s), ttl_ms, watermark_ms); },
        [&](const auto& kv) {
          return IsExpired(kv.second.last_update_ms, ttl_ms, watermark_ms);
        });
  }

  // The Abseil tables' spelling, for checkpoint reads (HeapValueState's and
  // HeapKeySetState's ReadEntry).
  void insert_or_assign(const K& key, const Entry& e) {
    if constexpr (kSet) {
      Assign(key, V{}, e);
    } else if constexpr (kTtl) {
      Assign(key, e.value, e.last_update_ms);
    } else {
      Assign(key, e, 0);
    }
  }
  void insert(const K& key)
    requires(kSet && !kTtl)
  {
    Assign(key, V{}, 0);
  }

  // TTL sweeps (narrow stamps): every live stamp is >= `floor`. Moving the
  // base up to it keeps 2^32 ms of room ahead and brings overflowed stamps
  // back into slots; it is worth a pass only now and then.
  bool WantsRebase(int64_t floor) const {
    if constexpr (!kNarrow) {
      return false;
    } else {
      return has_base_ && floor > base_ &&
             (!overflow_.empty() ||
              static_cast<uint64_t>(floor) - static_cast<uint64_t>(base_) > (uint64_t{1} << 30));
    }
  }
  void Rebase(int64_t floor) {
    if constexpr (kNarrow) {
      const uint64_t shift = static_cast<uint64_t>(floor) - static_cast<uint64_t>(base_);
      for (size_t i = 0, n = Length(); i < n; ++i) {
        // A stamp below the floor has expired: it stays expired at 0.
        Slot& s = slots_[i];
        if (s.code != 0) s.stamp = s.stamp > shift ? static_cast<uint32_t>(s.stamp - shift) : 0;
      }
      if (has_zero_) zero_.stamp = zero_.stamp > shift ? static_cast<uint32_t>(zero_.stamp - shift) : 0;
      base_ = floor;
      Overflow rest;
      for (auto& [k, e] : overflow_) {
        if (Fits(e.last_update_ms)) {
          Slot* slot = FindOrInsertSlot(Code(k)).first;
          Fill(*slot, e.value, e.last_update_ms);
        } else {
          rest.emplace(k, e);
        }
      }
      overflow_.swap(rest);
    }
  }

 private:
  using Overflow = absl::flat_hash_map<K, Stamped<V>>;
  static constexpr size_t kMinCapacity = 16;

  static uint64_t Code(const K& key) {
    return compact_table::Mix(static_cast<uint64_t>(static_cast<int64_t>(key)));
  }
  static K KeyOf(uint64_t code) { return static_cast<K>(compact_table::Unmix(code)); }
  // The first free slot of the array past the capacity holds the last
  // cluster's tail; its last slot stays empty, as a sentinel.
  static size_t TailFor(size_t capacity) { return std::min<size_t>(256, capacity / 64 + 16); }
  static size_t LengthFor(size_t capacity) { return capacity + TailFor(capacity); }
  size_t Length() const { return slots_ == nullptr ? 0 : LengthFor(capacity_); }
  size_t MaxSize() const { return capacity_ / 8 * 7; }
  static size_t Grown(size_t capacity) { return capacity + capacity * 2 / 5; }
  static size_t CapacityFor(size_t n) { return std::max(kMinCapacity, n / 7 * 8 + 8); }
  size_t Home(uint64_t code) const {
    return static_cast<size_t>((static_cast<unsigned __int128>(code) * capacity_) >> 64);
  }

  static bool IsExpired(int64_t stamp, int64_t ttl_ms, int64_t watermark_ms) {
    return SaturatingAdd(stamp, ttl_ms) <= watermark_ms;  // as the backend's Expired()
  }
  // Every occupied slot (the zero key's included), then every overflow entry.
  template <typename SlotFn, typename OverflowFn>
  void ForEachSlot(SlotFn&& on_slot, OverflowFn&& on_overflow) const {
    for (size_t i = 0, n = Length(); i < n; ++i) {
      if (slots_[i].code != 0) on_slot(slots_[i]);
    }
    if (has_zero_) on_slot(zero_);
    if constexpr (kNarrow) {
      for (const auto& kv : overflow_) on_overflow(kv);
    }
  }
  template <typename SlotPred, typename OverflowPred>
  size_t EraseSlotsIf(SlotPred&& slot_pred, OverflowPred&& overflow_pred) {
    size_t removed = 0;
    for (size_t i = 0, n = Length(); i < n;) {
      if (slots_[i].code != 0 && slot_pred(slots_[i])) {
        RemoveAt(i);  // the next entry may now be at i
        ++removed;
      } else {
        ++i;
      }
    }
    if (has_zero_ && slot_pred(zero_)) {
      has_zero_ = false;
      ++removed;
    }
    if constexpr (kNarrow) removed += absl::erase_if(overflow_, overflow_pred);
    return removed;
  }
  int64_t StampOf(const Slot& s) const {
    if constexpr (kNarrow) {
      return base_ + static_cast<int64_t>(s.stamp);
    } else if constexpr (kTtl) {
      return s.stamp;
    } else {
      return 0;
    }
  }
  bool Fits(int64_t stamp) const {
    if constexpr (!kNarrow) {
      return true;
    } else {
      if (!has_base_) return true;  // the first stamp sets the base
      return stamp >= base_ && static_cast<uint64_t>(stamp) - static_cast<uint64_t>(base_) <=
                                   std::numeric_limits<uint32_t>::max();
    }
  }
  void Fill(Slot& s, const V& value, int64_t stamp) {
    if constexpr (!kSet) s.value = value;
    if constexpr (kNarrow) {
      if (!has_base_) {
        // Centred on the first stamp: room for records 24 days either side.
        base_ = stamp < std::numeric_limits<int64_t>::min() + (int64_t{1} << 31)
                    ? std::numeric_limits<int64_t>::min()
                    : stamp - (int64_t{1} << 31);
        has_base_ = true;
      }
      s.stamp = static_cast<uint32_t>(static_cast<uint64_t>(stamp) - static_cast<uint64_t>(base_));
    } else if constexpr (kTtl) {
      s.stamp = stamp;
    }
  }
  Found FoundIn(Slot* s) const { return {&s->value, StampOf(*s)}; }
  value_type EntryOf(const Slot& s) const {
    const K key = KeyOf(s.code);
    if constexpr (kSet && !kTtl) {
      return key;
    } else if constexpr (kSet) {
      return value_type(key, StampOf(s));
    } else if constexpr (kTtl) {
      return value_type(key, Stamped<V>{s.value, StampOf(s)});
    } else {
      return value_type(key, s.value);
    }
  }

  const Slot* FindSlot(uint64_t code) const {
    if (ABSL_PREDICT_FALSE(code == 0)) return has_zero_ ? &zero_ : nullptr;
    if (slots_ == nullptr) return nullptr;
    // Clusters are sorted by code: stop at an empty slot or a larger code.
    for (const Slot* s = slots_ + Home(code);; ++s) {
      if (s->code >= code) return s->code == code ? s : nullptr;
      if (s->code == 0) return nullptr;
    }
  }
  std::pair<Slot*, bool> FindOrInsertSlot(uint64_t code) {
    if (ABSL_PREDICT_FALSE(code == 0)) {
      const bool inserted = !has_zero_;
      if (inserted) zero_ = Slot{};
      has_zero_ = true;
      return {&zero_, inserted};
    }
    if (slots_ == nullptr) InitialGrow(code);
    for (;;) {
      size_t i = Home(code);
      for (; slots_[i].code != 0 && slots_[i].code < code; ++i) {
      }
      if (slots_[i].code == code) return {&slots_[i], false};
      if (size_ < MaxSize()) {
        size_t e = i;
        while (slots_[e].code != 0) ++e;
        if (e + 1 < Length()) {  // the last slot stays empty
          if (e > i) {
            std::memmove(static_cast<void*>(slots_ + i + 1), slots_ + i, (e - i) * sizeof(Slot));
          }
          slots_[i] = Slot{};
          slots_[i].code = code;
          ++size_;
          return {&slots_[i], true};
        }
      }
      Rehash(Grown(capacity_));
    }
  }
  bool EraseCode(uint64_t code) {
    if (ABSL_PREDICT_FALSE(code == 0)) return std::exchange(has_zero_, false);
    const Slot* s = FindSlot(code);
    if (s == nullptr) return false;
    RemoveAt(static_cast<size_t>(s - slots_));
    return true;
  }
  // Backward-shift deletion: the displaced rest of the cluster moves back.
  void RemoveAt(size_t i) {
    size_t j = i + 1;
    while (slots_[j].code != 0 && Home(slots_[j].code) < j) ++j;
    std::memmove(static_cast<void*>(slots_ + i), slots_ + i + 1, (j - i - 1) * sizeof(Slot));
    slots_[j - 1] = Slot{};
    --size_;
  }

  void InitialGrow(uint64_t first_code) {
    // 16 * 1.4^u, u in [0, 1) from the first key (see the header comment).
    const double u = static_cast<double>(first_code >> 11) * 0x1.0p-53;
    Rehash(static_cast<size_t>(static_cast<double>(kMinCapacity) * std::pow(1.4, u)));
  }
  void Rehash(size_t capacity) {
    Slot* old = slots_;
    const size_t old_length = Length();
    for (;;) {
      Allocate(capacity);
      // The old array is sorted by code: each entry goes at its home or
      // right after the previous one.
      size_t next = 0;
      bool fits = true;
      for (size_t i = 0; i < old_length && fits; ++i) {
        if (old[i].code == 0) continue;
        const size_t at = std::max(next, Home(old[i].code));
        fits = at + 1 < Length();
        if (fits) slots_[at] = old[i];
        next = at + 1;
      }
      if (fits) break;
      Free();
      capacity = Grown(capacity);
    }
    if (old != nullptr) {
      compact_table::FreeZeroed(old, old_length * sizeof(Slot), huge_pages_);
    }
  }
  void Allocate(size_t capacity) {
    capacity_ = capacity;
    slots_ = static_cast<Slot*>(
        compact_table::AllocateZeroed(LengthFor(capacity) * sizeof(Slot), huge_pages_));
  }
  void Free() {
    if (slots_ != nullptr) compact_table::FreeZeroed(slots_, Length() * sizeof(Slot), huge_pages_);
    slots_ = nullptr;
    capacity_ = 0;
  }

  Slot* slots_ = nullptr;
  size_t capacity_ = 0;
  bool huge_pages_ = false;
  size_t size_ = 0;  // in slots_
  bool has_zero_ = false;
  Slot zero_{};  // the key whose code is 0
  int64_t base_ = 0;  // narrow stamps: offsets from here
  bool has_base_ = false;
  Overflow overflow_;  // narrow stamps that do not fit
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_COMPACT_STATE_TABLE_H_
