// File: brook/internal/keyed_state_backend.h  (internal: not part of the API)
//
// The heap keyed-state backend: every state table keeps one hash table per
// key group owned by the subtask, so a snapshot can be cut and restored by
// key group (a CompactStateTable for ValueState of an integer key and an
// empty or small value, compact_state_table.h; else an Abseil table). The backend holds the current key (set by the operator before
// each record or timer) and the current event time used for TTL.
//
// Snapshots (DESIGN.md §7) are copy-on-write per key group, as Flink's
// CopyOnWriteStateMap does per entry: each key group's table sits behind a
// std::shared_ptr. Capture() (the synchronous part of a checkpoint, on the
// subtask's thread) copies the key groups' pointers and marks every key group
// "shared": O(number of key groups), whatever the state size. The first
// mutation of a shared key group afterwards copies that key group only (if
// the snapshot still holds it); reads never copy. The asynchronous part
// serialises the captured, immutable tables on another thread. Without a
// snapshot in flight a mutation costs one extra byte test. Memory: while a
// snapshot is being written, each key group mutated meanwhile exists twice.
//
// Incremental snapshots (CheckpointConfig::incremental; FLIP-158's change
// log): each key group also logs the keys written since the last capture;
// an increment copies the logged keys' entries at the barrier (O(changes),
// no copy-on-write afterwards) and writes them, with the removed keys, in a
// version-2 blob that a restore applies after the key group's full blob.
//
// The bytes of a key group (one blob per key group, framed by
// BeginKeyGroupBlob/FinishKeyGroupBlob with a format version, the max
// parallelism and a 64-bit checksum) hold, per state table with entries in
// that key group: its name, its kind (with whether it has a TTL) and its
// entries with their TTL timestamps. The operator appends its timers.
// Restore (Flink's rules): the bytes are handed to the backend before the
// function's Open(); each table is filled when the function creates it by
// name; a state the function never creates is kFailedPrecondition; a state
// whose kind or TTL-ness changed is kFailedPrecondition; bytes that do not
// decode are kDataLoss.
#ifndef BROOK_INTERNAL_KEYED_STATE_BACKEND_H_
#define BROOK_INTERNAL_KEYED_STATE_BACKEND_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "brook/internal/compact_state_table.h"
#include "brook/internal/state_table_allocator.h"
#include "brook/key_group.h"
#include "brook/serialization.h"
#include "brook/state.h"
#include "brook/status.h"
#include "brook/time.h"

namespace brook::internal {

// Abseil's tables of keyed state, on StateTableAllocator (huge pages for the
// large arrays of tables reserved from a descriptor's hint).
template <typename K, typename V>
using StateHashMap =
    absl::flat_hash_map<K, V, absl::container_internal::hash_default_hash<K>,
                        absl::container_internal::hash_default_eq<K>,
                        StateTableAllocator<std::pair<const K, V>>>;
template <typename K>
using StateHashSet = absl::flat_hash_set<K, absl::container_internal::hash_default_hash<K>,
                                         absl::container_internal::hash_default_eq<K>,
                                         StateTableAllocator<K>>;

// The current key, key group and time, shared by a subtask's state tables.
template <typename K>
struct KeyContext {
  const K* key = nullptr;
  int key_group_index = 0;  // key group - range.start
  int64_t timestamp_ms = 0;  // of the record or timer being processed
  int64_t watermark_ms = kMinTimestampMs;
};

// The kind of a state table in a snapshot; kStateTtlBit is or-ed in when the
// table has a TTL (its entries then carry last-update timestamps).
enum StateKind : uint8_t {
  kValueStateKind = 1,
  kKeySetStateKind = 2,  // ValueState of an empty type: keys only
  kMapStateKind = 3,
  kListStateKind = 4,
};
inline constexpr uint8_t kStateTtlBit = 0x80;

inline std::string StateKindName(uint8_t kind) {
  std::string name;
  switch (kind & ~kStateTtlBit) {
    case kValueStateKind: name = "ValueState"; break;
    case kKeySetStateKind: name = "ValueState of an empty type"; break;
    case kMapStateKind: name = "MapState"; break;
    case kListStateKind: name = "ListState"; break;
    default: name = absl::StrCat("unknown kind ", kind & ~kStateTtlBit); break;
  }
  return absl::StrCat(name, (kind & kStateTtlBit) ? " with TTL" : " without TTL");
}

// 64-bit checksum of snapshot bytes (MurmurHash64A over 8-byte words): not
// cryptographic; it detects the flipped bits and truncation of a corrupt
// blob, at several GB/s.
inline uint64_t SnapshotChecksum(std::string_view bytes) {
  constexpr uint64_t m = 0xc6a4a7935bd1e995ULL;
  constexpr int r = 47;
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (bytes.size() * m);
  const char* p = bytes.data();
  const size_t words = bytes.size() / 8;
  for (size_t i = 0; i < words; ++i, p += 8) {
    uint64_t k;
    std::memcpy(&k, p, 8);
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  const size_t rest = bytes.size() & 7;
  if (rest != 0) {
    uint64_t k = 0;
    std::memcpy(&k, p, rest);
    h ^= k;
    h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

// Key-group blob framing: [u8 version][varint max_parallelism] body
// [u64 checksum of everything before it]. Version 1 holds the key group's
// whole state; version 2 an increment: what changed since the previous
// snapshot of the chain (incremental checkpoints, docs/checkpoints.md).
inline constexpr uint8_t kKeyGroupBlobVersion = 1;
inline constexpr uint8_t kKeyGroupDeltaBlobVersion = 2;

inline void BeginKeyGroupBlob(DataOutputView& out, int max_parallelism, bool delta = false) {
  out.WriteUint8(delta ? kKeyGroupDeltaBlobVersion : kKeyGroupBlobVersion);
  out.WriteVarint(static_cast<uint64_t>(max_parallelism));
}
inline void FinishKeyGroupBlob(std::string* blob) {
  DataOutputView out(blob);
  out.WriteUint64(SnapshotChecksum(*blob));
}
// The body of a key group's blob, verified. kDataLoss: truncated or corrupt
// (checksum mismatch, unknown version); kFailedPrecondition: taken with
// another max parallelism (the key groups would not mean the same keys).
// `delta`, when not null, says whether the blob is an increment.
inline absl::StatusOr<std::string_view> OpenKeyGroupBlob(std::string_view blob, int key_group,
                                                         int max_parallelism,
                                                         bool* delta = nullptr) {
  if (blob.size() < 1 + 1 + 8) {
    return absl::DataLossError(absl::StrCat("key group ", key_group, ": snapshot blob of ",
                                            blob.size(), " bytes is truncated"));
  }
  const std::string_view covered = blob.substr(0, blob.size() - 8);
  uint64_t stored = 0;
  std::memcpy(&stored, blob.data() + covered.size(), 8);
  if (stored != SnapshotChecksum(covered)) {
    return absl::DataLossError(absl::StrCat("key group ", key_group,
                                            ": snapshot blob checksum mismatch (corrupt or "
                                            "truncated, ", blob.size(), " bytes)"));
  }
  DataInputView in(covered);
  uint8_t version = 0;
  uint64_t maxp = 0;
  BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
  if (delta != nullptr) *delta = version == kKeyGroupDeltaBlobVersion;
  if (version != kKeyGroupBlobVersion && version != kKeyGroupDeltaBlobVersion) {
    return absl::DataLossError(absl::StrCat("key group ", key_group,
                                            ": unknown snapshot blob version ", version));
  }
  BROOK_RETURN_IF_ERROR(in.ReadVarint(&maxp));
  if (maxp != static_cast<uint64_t>(max_parallelism)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key group ", key_group, " was checkpointed with max parallelism ", maxp,
        " but the operator now has ", max_parallelism,
        " (as in Flink, max parallelism cannot change across a restore)"));
  }
  return covered.substr(in.position());
}

// A captured, immutable view of one state table (every key group of the
// range); read from the checkpoint I/O thread.
// A full view writes [varint n][n entries] per key group; an incremental
// one (captured with CaptureOptions::delta) writes what changed since the
// base capture: [u8 kDeltaReplace][varint n][n entries] when the key group
// is rewritten whole, else [u8 kDeltaChanges][varint r][r removed keys]
// [varint n][n entries added or updated].
class StateTableSnapshot {
 public:
  virtual ~StateTableSnapshot() = default;
  // Whether there is nothing to write for the key group (no entry in a full
  // view, no change in an incremental one).
  virtual bool Empty(int key_group_index) const = 0;
  virtual void Write(int key_group_index, DataOutputView& out) const = 0;
};
inline constexpr uint8_t kDeltaReplace = 1;
inline constexpr uint8_t kDeltaChanges = 2;

// How a table captures a snapshot (see HeapKeyedStateBackend::CaptureSnapshot).
struct CaptureOptions {
  int64_t checkpoint_id = 0;
  // Keep a change log per key group from now on (incremental checkpoints).
  bool track_changes = false;
  // Write only the changes logged since the oldest retained log.
  bool delta = false;
  // Change logs of captures up to this id are no longer needed (that
  // checkpoint is complete and later increments are based on it or newer).
  int64_t drop_logs_up_to = 0;
};

// One restored blob's entries for one state table: what the backend hands
// the table (views into the restored checkpoint's bytes).
struct RestoredKeyGroupPart {
  int index;  // key group index in the subtask's range
  std::string_view entries;
  bool delta;  // an increment (applied on the key group's earlier parts)
};

class StateTableBase {
 public:
  virtual ~StateTableBase() = default;
  // Drops entries whose TTL has passed at `watermark_ms`.
  virtual void ExpireUpTo(int64_t watermark_ms) = 0;
  virtual int64_t NumEntries() const = 0;
  // Heap bytes held by the tables (slots and control bytes; not memory the
  // values themselves point to).
  virtual int64_t ApproxBytes() const = 0;
  virtual bool has_ttl() const = 0;
  // StateKind, with kStateTtlBit when the table has a TTL.
  virtual uint8_t kind() const = 0;
  // The synchronous part of a snapshot: a copy-on-write view, O(key groups).
  // kFailedPrecondition when the key or value type cannot be serialised
  // (the message says which; the caller names the state).
  virtual absl::StatusOr<std::unique_ptr<const StateTableSnapshot>> Capture(
      const CaptureOptions& options) = 0;
  // Starts the change log (a table created after incremental snapshots began,
  // or restored at the base of a chain).
  virtual void TrackChanges() = 0;
  // A descriptor's sizing hint, on creation: every key group's table is made
  // anew with room for `keys_per_key_group` keys, its arrays of 2 MiB and
  // more on huge pages (StateTableAllocator).
  virtual void Reserve(size_t keys_per_key_group) = 0;
  // Restores `parts` (ordered by key group; a key group's full snapshot
  // first, then its increments, oldest first): adds the entries a full
  // StateTableSnapshot::Write wrote, applies what an incremental one wrote.
  // Key groups are independent tables, so they are restored on up to
  // `threads` threads (the calling one included), each key group on one
  // and each thread given at least `min_bytes_per_thread` bytes;
  // the table must not be used by anything else meanwhile. kDataLoss for
  // bytes that do not decode (the first error, naming the key group).
  virtual absl::Status RestoreKeyGroups(absl::Span<const RestoredKeyGroupPart> parts,
                                        int threads, size_t min_bytes_per_thread) = 0;
};

// The state tables of one key type: adds the batch-probing hook.
template <typename K>
class KeyedStateTable : public StateTableBase {
 public:
  // Issues prefetches for the slots `key` would probe in key group
  // `key_group_index` (index in the range); no effect on the contents. The
  // keyed operator calls it a few records ahead of each record of a batch,
  // so that a large table's cache misses overlap (as a hand-written loop
  // prefetches the slot of the record 16 places ahead).
  virtual void Prefetch(int key_group_index, const K& key) const = 0;
};

template <typename Map>
int64_t MapBytes(const Map& m) {
  using Slot = typename Map::value_type;
  return static_cast<int64_t>(m.capacity()) * static_cast<int64_t>(sizeof(Slot) + 1);
}
template <typename K, typename V, bool kTtl>
int64_t MapBytes(const CompactStateTable<K, V, kTtl>& t) {
  return t.bytes();
}

// What KeyGroupedTable does with a key group's table, for both kinds of
// table: Abseil's and CompactStateTable.
template <typename Table>
inline constexpr bool kIsCompactTable = false;
template <typename K, typename V, bool kTtl>
inline constexpr bool kIsCompactTable<CompactStateTable<K, V, kTtl>> = true;

template <typename Table, typename F>
void ForEachEntry(const Table& t, F&& f) {
  if constexpr (kIsCompactTable<Table>) {
    t.ForEach(f);
  } else {
    for (const auto& e : t) f(e);
  }
}
template <typename Table, typename Pred>
size_t EraseEntriesIf(Table& t, Pred&& pred) {
  if constexpr (kIsCompactTable<Table>) {
    return t.EraseIf(pred);
  } else {
    return absl::erase_if(t, pred);
  }
}
// Copies the entry of `key` from `from` into `to`; false when absent.
template <typename Table, typename K>
bool CopyEntry(const Table& from, const K& key, Table& to) {
  if constexpr (kIsCompactTable<Table>) {
    auto f = from.Find(key);
    if (!f) return false;
    to.Assign(key, *f.value, f.stamp);
  } else {
    auto it = from.find(key);
    if (it == from.end()) return false;
    to.insert(*it);
  }
  return true;
}
// A new table with room for `n` keys, its large arrays on huge pages.
template <typename Table>
std::shared_ptr<Table> NewReservedTable(size_t n) {
  std::shared_ptr<Table> t;
  if constexpr (kIsCompactTable<Table>) {
    t = std::make_shared<Table>(/*huge_pages=*/true);
  } else {
    const typename Table::allocator_type huge_pages(/*huge_pages=*/true);
    t = std::make_shared<Table>(0, typename Table::hasher(), typename Table::key_equal(),
                                huge_pages);
  }
  t->reserve(n);
  return t;
}
// A copy of `t` with room for at least `reserved` keys.
template <typename Table>
std::shared_ptr<Table> CopyTable(const Table& t, size_t reserved) {
  if constexpr (!kIsCompactTable<Table>) {
    if (t.size() < reserved) {
      // Not the copy constructor: it sizes the copy for the entries alone,
      // and a table sized from a hint would grow again.
      auto copy = std::make_shared<Table>(0, t.hash_function(), t.key_eq(), t.get_allocator());
      copy->reserve(reserved);
      copy->insert(t.begin(), t.end());
      return copy;
    }
  }
  return std::make_shared<Table>(t);  // a CompactStateTable's copy keeps its capacity
}

inline bool Expired(int64_t last_update_ms, int64_t ttl_ms, int64_t watermark_ms) {
  return SaturatingAdd(last_update_ms, ttl_ms) <= watermark_ms;
}

// How the values of one state are encoded: the descriptor's StateSerializer
// when it has one, else TypeSerializer<V> when V is Serializable, else none
// (the state works but cannot be snapshotted).
template <typename V>
class ValueCodec {
 public:
  ValueCodec() = default;
  explicit ValueCodec(std::shared_ptr<const StateSerializer<V>> custom)
      : custom_(std::move(custom)) {}

  bool available() const {
    if constexpr (Serializable<V>) {
      return true;
    } else {
      return custom_ != nullptr;
    }
  }
  // TypeSerializer<V> (static functions): safe to read with on several
  // threads at once. A descriptor's StateSerializer deserialises on the
  // subtask's thread only (brook/state.h; Top-K's interns into its subtask's
  // dictionary, and its Duplicate() cannot deserialise at all).
  bool stateless() const { return custom_ == nullptr; }
  // A codec safe to use on the checkpoint I/O thread (StateSerializer::Duplicate).
  ValueCodec ForSnapshot() const {
    return custom_ != nullptr ? ValueCodec(custom_->Duplicate()) : *this;
  }
  void Write(const V& v, DataOutputView& out) const {
    if (custom_ != nullptr) {
      custom_->Serialize(v, out);
      return;
    }
    if constexpr (Serializable<V>) TypeSerializer<V>::Serialize(v, out);
  }
  absl::Status Read(DataInputView& in, V* v) const {
    if (custom_ != nullptr) return custom_->Deserialize(in, v);
    if constexpr (Serializable<V>) {
      return TypeSerializer<V>::Deserialize(in, v);
    } else {
      return absl::FailedPreconditionError("the value type has no serializer");
    }
  }

 private:
  std::shared_ptr<const StateSerializer<V>> custom_;
};

template <typename T>
void WriteIfSerializable(const T& v, DataOutputView& out) {
  if constexpr (Serializable<T>) TypeSerializer<T>::Serialize(v, out);
}
template <typename T>
absl::Status ReadIfSerializable(DataInputView& in, T* v) {
  if constexpr (Serializable<T>) {
    return TypeSerializer<T>::Deserialize(in, v);
  } else {
    return absl::FailedPreconditionError("type has no brook::TypeSerializer");
  }
}

// Per-key-group tables of Entry, with the bookkeeping common to all kinds and
// the copy-on-write snapshot. Derived (CRTP) supplies
//   static void WriteEntry(const Table::value_type&, DataOutputView&, const Codec&);
//   static absl::Status ReadEntry(DataInputView&, Table&, const Codec&);
//   static constexpr bool kSerializable;  // its key (and user key) types
template <typename Derived, typename K, typename Entry, typename Codec,
          typename Table = StateHashMap<K, Entry>>
class KeyGroupedTable : public KeyedStateTable<K> {
 public:
  KeyGroupedTable(KeyContext<K>* ctx, int num_key_groups, int64_t ttl_ms, Codec codec)
      : ctx_(ctx), slots_(static_cast<size_t>(num_key_groups)), ttl_ms_(ttl_ms),
        codec_(std::move(codec)) {
    for (auto& s : slots_) s.table = std::make_shared<Table>();
  }

  int64_t NumEntries() const override {
    int64_t n = 0;
    for (const auto& s : slots_) n += static_cast<int64_t>(s.table->size());
    return n;
  }
  int64_t ApproxBytes() const override {
    int64_t n = 0;
    for (const auto& s : slots_) n += MapBytes(*s.table);
    return n;
  }
  bool has_ttl() const override { return ttl_ms_ > 0; }
  void Prefetch(int key_group_index, const K& key) const override {
    slots_[static_cast<size_t>(key_group_index)].table->prefetch(key);
  }

  absl::StatusOr<std::unique_ptr<const StateTableSnapshot>> Capture(
      const CaptureOptions& options) override {
    if constexpr (!Derived::kSerializable) {
      return absl::FailedPreconditionError(
          "its key (or map key) type has no brook::TypeSerializer");
    } else {
      if (!codec_.available()) {
        return absl::FailedPreconditionError(
            "its value type has no brook::TypeSerializer and its descriptor no serializer");
      }
      auto snap = std::make_unique<Snapshot>();
      snap->codec = codec_.ForSnapshot();
      if (tracking_) {
        auto logs = std::make_shared<ChangeLogs>(slots_.size());
        for (size_t i = 0; i < slots_.size(); ++i) (*logs)[i] = std::exchange(slots_[i].log, {});
        history_.emplace_back(options.checkpoint_id, std::move(logs));
      }
      std::erase_if(history_, [&](const auto& h) { return h.first <= options.drop_logs_up_to; });
      tracking_ = options.track_changes;
      if (!tracking_) history_.clear();
      snap->delta = options.delta;
      snap->tables.resize(slots_.size());
      if (options.delta) snap->changes.resize(slots_.size());
      for (size_t i = 0; i < slots_.size(); ++i) {
        if (options.delta && CaptureChanges(i, snap->changes[i])) continue;
        snap->tables[i] = slots_[i].table;  // copy-on-write from now on
        slots_[i].shared = true;
      }
      return std::unique_ptr<const StateTableSnapshot>(std::move(snap));
    }
  }
  void TrackChanges() override { tracking_ = true; }
  void Reserve(size_t keys_per_key_group) override {
    reserved_keys_ = keys_per_key_group;
    for (auto& s : slots_) s.table = NewReservedTable<Table>(keys_per_key_group);
  }

  absl::Status RestoreKeyGroups(absl::Span<const RestoredKeyGroupPart> parts, int threads,
                                size_t min_bytes_per_thread) override {
    if (parts.empty()) return absl::OkStatus();
    // Contiguous runs of whole key groups of about equal bytes, one a thread.
    size_t total = 0;
    for (const auto& p : parts) total += p.entries.size();
    if (!codec_.stateless()) threads = 1;
    const size_t runs = std::clamp<size_t>(total / std::max<size_t>(min_bytes_per_thread, 1), 1,
                                           static_cast<size_t>(std::max(threads, 1)));
    std::vector<size_t> bounds = {0};
    size_t bytes = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      bytes += parts[i].entries.size();
      const bool boundary = i + 1 == parts.size() || parts[i + 1].index != parts[i].index;
      if (boundary && bounds.size() < runs && bytes * runs >= total * bounds.size()) {
        bounds.push_back(i + 1);
      }
    }
    if (bounds.back() != parts.size()) bounds.push_back(parts.size());
    std::vector<absl::Status> status(bounds.size() - 1);
    auto restore = [&](size_t run, const Codec& codec) {
      for (size_t i = bounds[run]; i < bounds[run + 1] && status[run].ok(); ++i) {
        DataInputView in(parts[i].entries);
        status[run] = RestoreKeyGroupPart(parts[i], in, codec);
        if (status[run].ok() && !in.AtEnd()) {
          status[run] = absl::DataLossError(absl::StrCat(in.remaining(), " unexpected bytes"));
        }
        if (!status[run].ok()) {
          status[run] = absl::Status(status[run].code(),
                                     absl::StrCat("key group index ", parts[i].index, ": ",
                                                  status[run].message()));
        }
      }
    };
    std::vector<std::thread> workers;
    for (size_t run = 1; run + 1 < bounds.size(); ++run) {
      workers.emplace_back([&, run] { restore(run, codec_); });
    }
    restore(0, codec_);
    for (auto& w : workers) w.join();
    for (auto& s : status) BROOK_RETURN_IF_ERROR(s);
    return absl::OkStatus();
  }

 protected:
  // Incremental snapshots: the keys written in a key group since the last
  // capture (with repeats), or `whole` once they outnumber its entries or a
  // TTL sweep changed it (the key group is then rewritten in full).
  struct ChangeLog {
    std::vector<K> keys;
    bool whole = false;
  };
  using ChangeLogs = std::vector<ChangeLog>;  // by key group index
  struct Slot {
    std::shared_ptr<Table> table;
    bool shared = false;  // a snapshot may still hold `table`
    ChangeLog log;
  };
  // An increment's key group without a whole rewrite: copies of the
  // entries changed since the base, and the keys removed.
  struct Changes {
    Table updated;
    std::vector<K> removed;
  };
  struct Snapshot final : StateTableSnapshot {
    Codec codec;
    // Full: every key group's table (copy-on-write). Increment: the tables
    // of the key groups written whole, else null.
    std::vector<std::shared_ptr<const Table>> tables;
    bool delta = false;
    std::vector<std::unique_ptr<const Changes>> changes;  // increment: by key group

    bool Empty(int i) const override {
      const auto& t = tables[static_cast<size_t>(i)];
      if (!delta) return t->empty();
      return t == nullptr && changes[static_cast<size_t>(i)] == nullptr;
    }
    void Write(int i, DataOutputView& out) const override {
      const auto& t = tables[static_cast<size_t>(i)];
      if (delta && t == nullptr) {
        const Changes& c = *changes[static_cast<size_t>(i)];
        out.WriteUint8(kDeltaChanges);
        out.WriteVarint(c.removed.size());
        for (const K& k : c.removed) WriteIfSerializable(k, out);
        out.WriteVarint(c.updated.size());
        ForEachEntry(c.updated, [&](const auto& e) { Derived::WriteEntry(e, out, codec); });
        return;
      }
      if (delta) out.WriteUint8(kDeltaReplace);
      out.WriteVarint(t->size());
      ForEachEntry(*t, [&](const auto& e) { Derived::WriteEntry(e, out, codec); });
    }
  };

  // The synchronous part of an increment for key group `i`: copies the
  // entries of the keys logged since the base (O(changes), and no
  // copy-on-write of the key group afterwards). False when the key group
  // must be written whole instead.
  bool CaptureChanges(size_t i, std::unique_ptr<const Changes>& out) const {
    size_t logged = 0;
    for (const auto& h : history_) {
      const ChangeLog& c = (*h.second)[i];
      if (c.whole) return false;
      logged += c.keys.size();
    }
    if (logged == 0) return true;
    const Table& t = *slots_[i].table;
    auto changes = std::make_unique<Changes>();
    changes->updated.reserve(logged);
    absl::flat_hash_set<K> removed;
    for (const auto& h : history_) {
      for (const K& k : (*h.second)[i].keys) {
        if (!CopyEntry(t, k, changes->updated) && removed.insert(k).second) {
          changes->removed.push_back(k);
        }
      }
    }
    out = std::move(changes);
    return true;
  }

  // Adds the entries that a full StateTableSnapshot::Write wrote for the key
  // group, or applies what an incremental one wrote. Touches only that key
  // group's slot (RestoreKeyGroups runs key groups on several threads).
  absl::Status RestoreKeyGroupPart(const RestoredKeyGroupPart& part, DataInputView& in,
                                   const Codec& codec) {
    Table& t = MutableAt(part.index);
    uint8_t mode = kDeltaReplace;
    if (part.delta) BROOK_RETURN_IF_ERROR(in.ReadUint8(&mode));
    size_t n = 0;
    if (mode == kDeltaReplace) {
      if (part.delta) t.clear();
      BROOK_RETURN_IF_ERROR(in.ReadLength(&n, std::is_empty_v<K> ? 0 : 1));
      t.reserve(std::max(t.size() + n, reserved_keys_));  // clear() may have freed it
      for (size_t i = 0; i < n; ++i) BROOK_RETURN_IF_ERROR(Derived::ReadEntry(in, t, codec));
      return absl::OkStatus();
    }
    if (mode != kDeltaChanges) {
      return absl::DataLossError(absl::StrCat("unknown increment mode ", mode));
    }
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n, std::is_empty_v<K> ? 0 : 1));
    for (size_t i = 0; i < n; ++i) {
      K k{};
      BROOK_RETURN_IF_ERROR(ReadIfSerializable(in, &k));
      t.erase(k);
    }
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n, std::is_empty_v<K> ? 0 : 1));
    for (size_t i = 0; i < n; ++i) {
      // An update replaces the entry (an empty map or list is written but
      // not read back as an entry).
      DataInputView peek = in;
      K k{};
      BROOK_RETURN_IF_ERROR(ReadIfSerializable(peek, &k));
      t.erase(k);
      BROOK_RETURN_IF_ERROR(Derived::ReadEntry(in, t, codec));
    }
    return absl::OkStatus();
  }

  // The current key group's table, for reading (never copies).
  const Table& read_table() const { return *slots_[static_cast<size_t>(ctx_->key_group_index)].table; }
  // The current key group's table, for writing: copies it first if a
  // snapshot still holds it.
  // Logs the current key when tracking changes (an amortised push_back).
  Table& table() {
    Slot& s = slots_[static_cast<size_t>(ctx_->key_group_index)];
    if (ABSL_PREDICT_FALSE(s.shared)) Unshare(s);
    if (tracking_ && !s.log.whole) LogChange(s);
    return *s.table;
  }
  // A TTL sweep changed key group `i`.
  void MarkWhole(size_t i) {
    if (!tracking_) return;
    slots_[i].log.whole = true;
    slots_[i].log.keys = {};
  }
  Table& MutableAt(int i) {
    Slot& s = slots_[static_cast<size_t>(i)];
    if (ABSL_PREDICT_FALSE(s.shared)) Unshare(s);
    return *s.table;
  }
  // Whether erasing in the current key group's table would copy it (lazy
  // expiry on reads skips the erase then).
  bool current_shared() const { return slots_[static_cast<size_t>(ctx_->key_group_index)].shared; }
  const K& key() const { return *ctx_->key; }
  bool IsExpired(int64_t last_update_ms) const {
    return ttl_ms_ > 0 && Expired(last_update_ms, ttl_ms_, ctx_->watermark_ms);
  }
  // erase_if over every key group, copying a shared key group only when it
  // has something to erase.
  template <typename Pred>
  void EraseIfAll(Pred pred) {
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].shared) {
        bool any = false;
        ForEachEntry(*slots_[i].table, [&](const auto& kv) { any = any || pred(kv); });
        if (!any) continue;
      }
      if (EraseEntriesIf(MutableAt(static_cast<int>(i)), pred) > 0) MarkWhole(i);
    }
  }

  KeyContext<K>* ctx_;
  std::vector<Slot> slots_;
  int64_t ttl_ms_;
  Codec codec_;
  bool tracking_ = false;
  size_t reserved_keys_ = 0;  // per key group, from the descriptor's hint
  // Change logs of captures whose checkpoint may still be an increment's
  // base: (checkpoint id, logs).
  std::vector<std::pair<int64_t, std::shared_ptr<const ChangeLogs>>> history_;

 private:
  ABSL_ATTRIBUTE_NOINLINE void LogChange(Slot& s) {
    s.log.keys.push_back(*ctx_->key);
    if (s.log.keys.size() > 64 && s.log.keys.size() > s.table->size()) {
      s.log.whole = true;
      s.log.keys = {};
    }
  }
  ABSL_ATTRIBUTE_NOINLINE void Unshare(Slot& s) const {
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer does not model the fence below (it would report the
    // snapshot's earlier reads as racing with our writes): copy always.
    constexpr bool kCopyAlways = true;
#else
    constexpr bool kCopyAlways = false;
#endif
    if (!kCopyAlways && s.table.use_count() == 1) {
      // The snapshot released it: order its reads before our writes.
      std::atomic_thread_fence(std::memory_order_acquire);
    } else {
      s.table = CopyTable(*s.table, reserved_keys_);
    }
    s.shared = false;
  }
};

template <typename K, typename V, bool kTtl>
class HeapValueState final
    : public KeyGroupedTable<HeapValueState<K, V, kTtl>, K,
                             std::conditional_t<kTtl, Stamped<V>, V>, ValueCodec<V>>,
      public ValueStateImpl<V> {
  using Base = KeyGroupedTable<HeapValueState<K, V, kTtl>, K,
                               std::conditional_t<kTtl, Stamped<V>, V>, ValueCodec<V>>;
  using Entry = std::conditional_t<kTtl, Stamped<V>, V>;
  using Table = StateHashMap<K, Entry>;

 public:
  using Base::Base;
  static constexpr bool kSerializable = Serializable<K>;

  const V* Get() override {
    const auto& t = this->read_table();
    auto it = t.find(this->key());
    if (it == t.end()) return nullptr;
    if constexpr (kTtl) {
      if (this->IsExpired(it->second.last_update_ms)) {
        if (!this->current_shared()) this->table().erase(this->key());
        return nullptr;
      }
      return &it->second.value;
    } else {
      return &it->second;
    }
  }
  V* GetMutable() override {
    if (ABSL_PREDICT_FALSE(this->current_shared())) {
      if (Get() == nullptr) return nullptr;  // a miss must not copy the key group
    }
    auto& t = this->table();  // copies a shared key group before handing out a pointer
    auto it = t.find(this->key());  // one probe when no snapshot holds the key group
    if (it == t.end()) return nullptr;
    if constexpr (kTtl) {
      if (this->IsExpired(it->second.last_update_ms)) {
        t.erase(it);
        return nullptr;
      }
      return &it->second.value;
    } else {
      return &it->second;
    }
  }
  void Update(V value) override {
    if constexpr (kTtl) {
      this->table().insert_or_assign(
          this->key(), Stamped<V>{std::move(value), this->ctx_->timestamp_ms});
    } else {
      this->table().insert_or_assign(this->key(), std::move(value));
    }
  }
  void Clear() override {
    if (this->read_table().contains(this->key())) this->table().erase(this->key());
  }
  // One probe (lazy_emplace) instead of Get() + Update()'s two. While a
  // snapshot holds the key group, the two-step path avoids copying it for a
  // key that is only read.
  std::pair<const V*, bool> GetOrInsert(V value) override {
    if (this->current_shared()) return ValueStateImpl<V>::GetOrInsert(std::move(value));
    auto& t = this->table();
    bool inserted = false;
    auto it = t.lazy_emplace(this->key(), [&](const auto& ctor) {
      inserted = true;
      if constexpr (kTtl) {
        ctor(this->key(), Stamped<V>{std::move(value), this->ctx_->timestamp_ms});
      } else {
        ctor(this->key(), std::move(value));
      }
    });
    if constexpr (kTtl) {
      if (!inserted && this->IsExpired(it->second.last_update_ms)) {
        it->second = Stamped<V>{std::move(value), this->ctx_->timestamp_ms};
        inserted = true;
      }
      return {&it->second.value, inserted};
    } else {
      return {&it->second, inserted};
    }
  }
  void ExpireUpTo(int64_t watermark_ms) override {
    if constexpr (kTtl) {
      this->EraseIfAll([&](const auto& kv) {
        return Expired(kv.second.last_update_ms, this->ttl_ms_, watermark_ms);
      });
    }
  }
  uint8_t kind() const override { return kValueStateKind | (kTtl ? kStateTtlBit : 0); }

  static void WriteEntry(const typename Table::value_type& kv, DataOutputView& out,
                         const ValueCodec<V>& codec) {
    WriteIfSerializable(kv.first, out);
    if constexpr (kTtl) {
      out.WriteInt64(kv.second.last_update_ms);
      codec.Write(kv.second.value, out);
    } else {
      codec.Write(kv.second, out);
    }
  }
  template <typename T>
  static absl::Status ReadEntry(DataInputView& in, T& t, const ValueCodec<V>& codec) {
    K k{};
    BROOK_RETURN_IF_ERROR(ReadIfSerializable(in, &k));
    if constexpr (kTtl) {
      Stamped<V> e{V{}, 0};
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&e.last_update_ms));
      BROOK_RETURN_IF_ERROR(codec.Read(in, &e.value));
      t.insert_or_assign(std::move(k), std::move(e));
    } else {
      V v{};
      BROOK_RETURN_IF_ERROR(codec.Read(in, &v));
      t.insert_or_assign(std::move(k), std::move(v));
    }
    return absl::OkStatus();
  }
};

// ValueState<V> of an empty V (e.g. std::monostate, a "seen" flag): all
// values are equal, so only the keys are stored: a set of keys, or with TTL a
// map key -> last update (8 bytes per slot less than HeapValueState).
template <typename K, typename V, bool kTtl>
class HeapKeySetState final
    : public KeyGroupedTable<HeapKeySetState<K, V, kTtl>, K, int64_t, ValueCodec<V>,
                             std::conditional_t<kTtl, StateHashMap<K, int64_t>, StateHashSet<K>>>,
      public ValueStateImpl<V> {
  using Table =
      std::conditional_t<kTtl, StateHashMap<K, int64_t>, StateHashSet<K>>;
  using Base = KeyGroupedTable<HeapKeySetState<K, V, kTtl>, K, int64_t, ValueCodec<V>, Table>;

 public:
  using Base::Base;
  static constexpr bool kSerializable = Serializable<K>;

  const V* Get() override { return GetMutable(); }
  // All values are equal and empty: nothing to copy on write.
  V* GetMutable() override {
    const auto& t = this->read_table();
    auto it = t.find(this->key());
    if (it == t.end()) return nullptr;
    if constexpr (kTtl) {
      if (this->IsExpired(it->second)) {
        if (!this->current_shared()) this->table().erase(this->key());
        return nullptr;
      }
    }
    return &value_;
  }
  void Update(V /*value*/) override {
    if constexpr (kTtl) {
      this->table().insert_or_assign(this->key(), this->ctx_->timestamp_ms);
    } else {
      this->table().insert(this->key());
    }
  }
  // One probe instead of Get() + Update()'s two (see HeapValueState).
  std::pair<const V*, bool> GetOrInsert(V value) override {
    if (this->current_shared()) return ValueStateImpl<V>::GetOrInsert(std::move(value));
    auto& t = this->table();
    if constexpr (kTtl) {
      auto [it, inserted] = t.try_emplace(this->key(), this->ctx_->timestamp_ms);
      if (!inserted && this->IsExpired(it->second)) {
        it->second = this->ctx_->timestamp_ms;
        inserted = true;
      }
      return {&value_, inserted};
    } else {
      return {&value_, t.insert(this->key()).second};
    }
  }
  void Clear() override {
    if (this->read_table().contains(this->key())) this->table().erase(this->key());
  }
  void ExpireUpTo(int64_t watermark_ms) override {
    if constexpr (kTtl) {
      this->EraseIfAll(
          [&](const auto& kv) { return Expired(kv.second, this->ttl_ms_, watermark_ms); });
    }
  }
  uint8_t kind() const override { return kKeySetStateKind | (kTtl ? kStateTtlBit : 0); }

  static void WriteEntry(const typename Table::value_type& kv, DataOutputView& out,
                         const ValueCodec<V>&) {
    if constexpr (kTtl) {
      WriteIfSerializable(kv.first, out);
      out.WriteInt64(kv.second);
    } else {
      WriteIfSerializable(kv, out);
    }
  }
  template <typename T>
  static absl::Status ReadEntry(DataInputView& in, T& t, const ValueCodec<V>&) {
    K k{};
    BROOK_RETURN_IF_ERROR(ReadIfSerializable(in, &k));
    if constexpr (kTtl) {
      int64_t ts = 0;
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&ts));
      t.insert_or_assign(std::move(k), ts);
    } else {
      t.insert(std::move(k));
    }
    return absl::OkStatus();
  }

 private:
  V value_{};  // the value of every present key
};

// ValueState<V> of an integer key and an empty or small trivially copyable V
// (kCompactStateApplies): the same semantics and snapshot format as
// HeapKeySetState / HeapValueState, in CompactStateTable's 8- to 24-byte
// slots instead of Abseil's tables.
template <typename K, typename V, bool kTtl>
class CompactValueState final
    : public KeyGroupedTable<CompactValueState<K, V, kTtl>, K,
                             typename CompactStateTable<K, V, kTtl>::Entry, ValueCodec<V>,
                             CompactStateTable<K, V, kTtl>>,
      public ValueStateImpl<V> {
  using Table = CompactStateTable<K, V, kTtl>;
  using Base = KeyGroupedTable<CompactValueState<K, V, kTtl>, K, typename Table::Entry,
                               ValueCodec<V>, Table>;
  static constexpr bool kSet = Table::kSet;
  // The table it stands in for, whose snapshot entries it writes and reads.
  using Format = std::conditional_t<kSet, HeapKeySetState<K, V, kTtl>, HeapValueState<K, V, kTtl>>;

 public:
  using Base::Base;
  static constexpr bool kSerializable = Serializable<K>;

  const V* Get() override {
    const typename Table::Found f = this->read_table().Find(this->key());
    if (!f) return nullptr;
    if (kTtl && this->IsExpired(f.stamp)) {
      if (!this->current_shared()) this->table().erase(this->key());
      return nullptr;
    }
    return ValueOf(f);
  }
  V* GetMutable() override {
    if constexpr (kSet) {
      return const_cast<V*>(Get());  // all values are equal and empty: nothing to copy
    } else {
      if (ABSL_PREDICT_FALSE(this->current_shared())) {
        if (Get() == nullptr) return nullptr;  // a miss must not copy the key group
      }
      Table& t = this->table();  // copies a shared key group before handing out a pointer
      const typename Table::Found f = t.Find(this->key());
      if (!f) return nullptr;
      if (kTtl && this->IsExpired(f.stamp)) {
        t.erase(this->key());
        return nullptr;
      }
      return f.value;
    }
  }
  void Update(V value) override {
    this->table().Assign(this->key(), value, this->ctx_->timestamp_ms);
  }
  void Clear() override {
    if (this->read_table().contains(this->key())) this->table().erase(this->key());
  }
  // One probe; while a snapshot holds the key group, the two-step path
  // avoids copying it for a key that is only read (see HeapValueState).
  std::pair<const V*, bool> GetOrInsert(V value) override {
    if (this->current_shared()) return ValueStateImpl<V>::GetOrInsert(std::move(value));
    Table& t = this->table();
    auto [f, inserted] = t.FindOrInsert(this->key(), value, this->ctx_->timestamp_ms);
    if (kTtl && !inserted && this->IsExpired(f.stamp)) {
      f = t.Assign(this->key(), value, this->ctx_->timestamp_ms);
      inserted = true;
    }
    return {ValueOf(f), inserted};
  }
  void ExpireUpTo(int64_t watermark_ms) override {
    if constexpr (kTtl) {
      // As EraseIfAll, on the stamps alone.
      for (size_t i = 0; i < this->slots_.size(); ++i) {
        if (this->slots_[i].shared &&
            !this->slots_[i].table->AnyExpired(this->ttl_ms_, watermark_ms)) {
          continue;
        }
        if (this->MutableAt(static_cast<int>(i)).EraseExpired(this->ttl_ms_, watermark_ms) > 0) {
          this->MarkWhole(i);
        }
      }
      if constexpr (Table::kNarrow) {
        // Every live stamp is now above watermark - ttl.
        const int64_t floor = watermark_ms - this->ttl_ms_ + 1;
        for (size_t i = 0; i < this->slots_.size(); ++i) {
          if (this->slots_[i].table->WantsRebase(floor)) {
            this->MutableAt(static_cast<int>(i)).Rebase(floor);
          }
        }
      }
    }
  }
  uint8_t kind() const override {
    return (kSet ? kKeySetStateKind : kValueStateKind) | (kTtl ? kStateTtlBit : 0);
  }

  static void WriteEntry(const typename Table::value_type& e, DataOutputView& out,
                         const ValueCodec<V>& codec) {
    Format::WriteEntry(e, out, codec);
  }
  static absl::Status ReadEntry(DataInputView& in, Table& t, const ValueCodec<V>& codec) {
    return Format::ReadEntry(in, t, codec);
  }

 private:
  const V* ValueOf(const typename Table::Found& f) const {
    if constexpr (kSet) {
      return &value_;
    } else {
      return f.value;
    }
  }
  V value_{};  // a set's value of every present key
};

template <typename K, typename UK, typename UV>
class HeapMapState final
    : public KeyGroupedTable<HeapMapState<K, UK, UV>, K, absl::flat_hash_map<UK, Stamped<UV>>,
                             ValueCodec<UV>>,
      public MapStateImpl<UK, UV> {
  using Inner = absl::flat_hash_map<UK, Stamped<UV>>;
  using Base = KeyGroupedTable<HeapMapState<K, UK, UV>, K, Inner, ValueCodec<UV>>;
  using Table = StateHashMap<K, Inner>;

 public:
  using Base::Base;
  static constexpr bool kSerializable = Serializable<K> && Serializable<UK>;

  const UV* Get(const UK& user_key) override {
    const auto& t = this->read_table();
    auto it = t.find(this->key());
    if (it == t.end()) return nullptr;
    auto jt = it->second.find(user_key);
    if (jt == it->second.end()) return nullptr;
    if (this->IsExpired(jt->second.last_update_ms)) {
      if (!this->current_shared()) {
        auto& mt = this->table();
        auto mit = mt.find(this->key());
        mit->second.erase(user_key);
        if (mit->second.empty()) mt.erase(mit);
      }
      return nullptr;
    }
    return &jt->second.value;
  }
  void Put(UK user_key, UV value) override {
    this->table()[this->key()].insert_or_assign(
        std::move(user_key), Stamped<UV>{std::move(value), this->ctx_->timestamp_ms});
  }
  void Remove(const UK& user_key) override {
    const auto& rt = this->read_table();
    auto rit = rt.find(this->key());
    if (rit == rt.end() || !rit->second.contains(user_key)) return;
    auto& t = this->table();
    auto it = t.find(this->key());
    it->second.erase(user_key);
    if (it->second.empty()) t.erase(it);
  }
  void ForEach(absl::FunctionRef<void(const UK&, const UV&)> fn) override {
    const auto& t = this->read_table();
    auto it = t.find(this->key());
    if (it == t.end()) return;
    for (const auto& [k, v] : it->second) {
      if (!this->IsExpired(v.last_update_ms)) fn(k, v.value);
    }
  }
  size_t Size() override {
    const auto& t = this->read_table();
    auto it = t.find(this->key());
    if (it == t.end()) return 0;
    size_t n = 0;
    for (const auto& [k, v] : it->second) n += this->IsExpired(v.last_update_ms) ? 0 : 1;
    return n;
  }
  void Clear() override {
    if (this->read_table().contains(this->key())) this->table().erase(this->key());
  }
  void ExpireUpTo(int64_t watermark_ms) override {
    if (this->ttl_ms_ <= 0) return;
    auto expired = [&](const auto& e) {
      return Expired(e.second.last_update_ms, this->ttl_ms_, watermark_ms);
    };
    for (size_t i = 0; i < this->slots_.size(); ++i) {
      if (this->slots_[i].shared) {
        const Table& t = *this->slots_[i].table;
        if (std::none_of(t.begin(), t.end(), [&](const auto& kv) {
              return std::any_of(kv.second.begin(), kv.second.end(), expired);
            })) {
          continue;
        }
      }
      bool changed = false;
      absl::erase_if(this->MutableAt(static_cast<int>(i)), [&](auto& kv) {
        changed |= absl::erase_if(kv.second, expired) > 0;
        return kv.second.empty();
      });
      if (changed) this->MarkWhole(i);
    }
  }
  int64_t NumEntries() const override {
    int64_t n = 0;
    for (const auto& s : this->slots_) {
      for (const auto& [k, m] : *s.table) n += static_cast<int64_t>(m.size());
    }
    return n;
  }
  int64_t ApproxBytes() const override {
    int64_t n = Base::ApproxBytes();
    for (const auto& s : this->slots_) {
      for (const auto& [k, m] : *s.table) n += MapBytes(m);
    }
    return n;
  }
  uint8_t kind() const override {
    return kMapStateKind | (this->ttl_ms_ > 0 ? kStateTtlBit : 0);
  }

  static void WriteEntry(const typename Table::value_type& kv, DataOutputView& out,
                         const ValueCodec<UV>& codec) {
    WriteIfSerializable(kv.first, out);
    out.WriteVarint(kv.second.size());
    for (const auto& [uk, e] : kv.second) {
      WriteIfSerializable(uk, out);
      out.WriteInt64(e.last_update_ms);
      codec.Write(e.value, out);
    }
  }
  static absl::Status ReadEntry(DataInputView& in, Table& t, const ValueCodec<UV>& codec) {
    K k{};
    BROOK_RETURN_IF_ERROR(ReadIfSerializable(in, &k));
    size_t n = 0;
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n, 8));  // at least the timestamp each
    Inner inner;
    inner.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      UK uk{};
      Stamped<UV> e{UV{}, 0};
      BROOK_RETURN_IF_ERROR(ReadIfSerializable(in, &uk));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&e.last_update_ms));
      BROOK_RETURN_IF_ERROR(codec.Read(in, &e.value));
      inner.insert_or_assign(std::move(uk), std::move(e));
    }
    if (!inner.empty()) t.insert_or_assign(std::move(k), std::move(inner));
    return absl::OkStatus();
  }
};

template <typename K, typename V>
class HeapListState final
    : public KeyGroupedTable<HeapListState<K, V>, K, Stamped<std::vector<V>>, ValueCodec<V>>,
      public ListStateImpl<V> {
  using Base =
      KeyGroupedTable<HeapListState<K, V>, K, Stamped<std::vector<V>>, ValueCodec<V>>;
  using Table = StateHashMap<K, Stamped<std::vector<V>>>;

 public:
  using Base::Base;
  static constexpr bool kSerializable = Serializable<K>;

  const std::vector<V>* Get() override {
    const auto& t = this->read_table();
    auto it = t.find(this->key());
    if (it == t.end()) return nullptr;
    if (this->IsExpired(it->second.last_update_ms)) {
      if (!this->current_shared()) this->table().erase(this->key());
      return nullptr;
    }
    return &it->second.value;
  }
  void Add(V value) override {
    auto& e = this->table()[this->key()];
    if (this->IsExpired(e.last_update_ms)) e.value.clear();
    e.value.push_back(std::move(value));
    e.last_update_ms = this->ctx_->timestamp_ms;
  }
  void Update(std::vector<V> values) override {
    if (values.empty()) {
      Clear();
      return;
    }
    this->table().insert_or_assign(
        this->key(), Stamped<std::vector<V>>{std::move(values), this->ctx_->timestamp_ms});
  }
  void Clear() override {
    if (this->read_table().contains(this->key())) this->table().erase(this->key());
  }
  void ExpireUpTo(int64_t watermark_ms) override {
    if (this->ttl_ms_ <= 0) return;
    this->EraseIfAll([&](const auto& kv) {
      return Expired(kv.second.last_update_ms, this->ttl_ms_, watermark_ms);
    });
  }
  uint8_t kind() const override {
    return kListStateKind | (this->ttl_ms_ > 0 ? kStateTtlBit : 0);
  }

  static void WriteEntry(const typename Table::value_type& kv, DataOutputView& out,
                         const ValueCodec<V>& codec) {
    WriteIfSerializable(kv.first, out);
    out.WriteInt64(kv.second.last_update_ms);
    out.WriteVarint(kv.second.value.size());
    for (const V& v : kv.second.value) codec.Write(v, out);
  }
  static absl::Status ReadEntry(DataInputView& in, Table& t, const ValueCodec<V>& codec) {
    K k{};
    BROOK_RETURN_IF_ERROR(ReadIfSerializable(in, &k));
    Stamped<std::vector<V>> e{{}, 0};
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&e.last_update_ms));
    size_t n = 0;
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n, std::is_empty_v<V> ? 0 : 1));
    if constexpr (!std::is_empty_v<V>) e.value.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      V v{};
      BROOK_RETURN_IF_ERROR(codec.Read(in, &v));
      e.value.push_back(std::move(v));
    }
    if (!e.value.empty()) t.insert_or_assign(std::move(k), std::move(e));
    return absl::OkStatus();
  }
};

// All keyed state of one operator subtask.
template <typename K>
class HeapKeyedStateBackend {
 public:
  explicit HeapKeyedStateBackend(KeyGroupRange range) : range_(range) {}

  KeyContext<K>& context() { return ctx_; }
  const KeyGroupRange& key_group_range() const { return range_; }

  // Get*State: the table named `name`, created on first use (and filled from
  // restored bytes, if any). kInvalidArgument: the name exists with another
  // kind or type; kFailedPrecondition: the restored state had another kind
  // or TTL-ness; kDataLoss: its restored bytes do not decode.
  template <typename V>
  absl::StatusOr<ValueStateImpl<V>*> GetValueState(
      const std::string& name, const StateTtlConfig& ttl,
      std::shared_ptr<const StateSerializer<V>> serializer = nullptr,
      size_t keys_per_key_group = 0) {
    ValueCodec<V> codec(std::move(serializer));
    auto make = [&]() -> std::unique_ptr<KeyedStateTable<K>> {
      const int n = range_.size();
      if constexpr (kCompactStateApplies<K, V>) {
        if (ttl.enabled()) {
          return std::make_unique<CompactValueState<K, V, true>>(&ctx_, n, ToMillis(ttl.ttl),
                                                                 codec);
        }
        return std::make_unique<CompactValueState<K, V, false>>(&ctx_, n, 0, codec);
      }
      if constexpr (std::is_empty_v<V> && std::is_default_constructible_v<V>) {
        if (ttl.enabled()) {
          return std::make_unique<HeapKeySetState<K, V, true>>(&ctx_, n, ToMillis(ttl.ttl), codec);
        }
        return std::make_unique<HeapKeySetState<K, V, false>>(&ctx_, n, 0, codec);
      }
      if (ttl.enabled()) {
        return std::make_unique<HeapValueState<K, V, true>>(&ctx_, n, ToMillis(ttl.ttl), codec);
      }
      return std::make_unique<HeapValueState<K, V, false>>(&ctx_, n, 0, codec);
    };
    return GetOrCreate<ValueStateImpl<V>>(name, ttl, keys_per_key_group, make);
  }
  template <typename UK, typename UV>
  absl::StatusOr<MapStateImpl<UK, UV>*> GetMapState(
      const std::string& name, const StateTtlConfig& ttl,
      std::shared_ptr<const StateSerializer<UV>> serializer = nullptr,
      size_t keys_per_key_group = 0) {
    auto make = [&]() -> std::unique_ptr<KeyedStateTable<K>> {
      return std::make_unique<HeapMapState<K, UK, UV>>(
          &ctx_, range_.size(), ttl.enabled() ? ToMillis(ttl.ttl) : 0,
          ValueCodec<UV>(std::move(serializer)));
    };
    return GetOrCreate<MapStateImpl<UK, UV>>(name, ttl, keys_per_key_group, make);
  }
  template <typename V>
  absl::StatusOr<ListStateImpl<V>*> GetListState(
      const std::string& name, const StateTtlConfig& ttl,
      std::shared_ptr<const StateSerializer<V>> serializer = nullptr,
      size_t keys_per_key_group = 0) {
    auto make = [&]() -> std::unique_ptr<KeyedStateTable<K>> {
      return std::make_unique<HeapListState<K, V>>(&ctx_, range_.size(),
                                                   ttl.enabled() ? ToMillis(ttl.ttl) : 0,
                                                   ValueCodec<V>(std::move(serializer)));
    };
    return GetOrCreate<ListStateImpl<V>>(name, ttl, keys_per_key_group, make);
  }

  // Called as the watermark advances: TTL cleanup. A full sweep costs O(state),
  // so it runs only once the watermark has moved by half the shortest TTL
  // since the last sweep (expired entries are invisible to reads meanwhile).
  void AdvanceWatermark(int64_t watermark_ms) {
    ctx_.watermark_ms = watermark_ms;
    if (min_ttl_ms_ == 0) return;
    if (last_sweep_ms_ != kMinTimestampMs &&
        watermark_ms != kMaxWatermarkMs &&
        watermark_ms - last_sweep_ms_ < std::max<int64_t>(1, min_ttl_ms_ / 2)) {
      return;
    }
    last_sweep_ms_ = watermark_ms;
    for (auto& [name, table] : tables_) {
      if (table->has_ttl()) table->ExpireUpTo(watermark_ms);
    }
  }

  // KeyedStateTable::Prefetch on every table of this backend (see there).
  void Prefetch(int key_group_index, const K& key) const {
    for (const KeyedStateTable<K>* t : typed_tables_) t->Prefetch(key_group_index, key);
  }

  int64_t NumEntries() const {
    int64_t n = 0;
    for (const auto& [name, t] : tables_) n += t->NumEntries();
    return n;
  }
  int64_t ApproxBytes() const {
    int64_t n = 0;
    for (const auto& [name, t] : tables_) n += t->ApproxBytes();
    return n;
  }

  // A consistent, immutable view of every table, captured by Snapshot();
  // safe to read from another thread while the subtask goes on.
  class Snapshot {
   public:
    // Whether no table has an entry in key group `key_group` (absolute).
    bool Empty(int key_group) const {
      const int i = key_group - range_.start;
      for (const auto& t : tables_) {
        if (!t.view->Empty(i)) return false;
      }
      return true;
    }
    // Writes the key group's tables: [varint n] n x ([string name][u8 kind]
    // [string entries]); tables without entries there are left out.
    void WriteKeyGroup(int key_group, DataOutputView& out) const {
      const int i = key_group - range_.start;
      size_t n = 0;
      for (const auto& t : tables_) n += t.view->Empty(i) ? 0 : 1;
      out.WriteVarint(n);
      std::string entries;
      for (const auto& t : tables_) {
        if (t.view->Empty(i)) continue;
        out.WriteString(t.name);
        out.WriteUint8(t.kind);
        entries.clear();
        DataOutputView e(&entries);
        t.view->Write(i, e);
        out.WriteString(entries);
      }
    }
    const KeyGroupRange& key_group_range() const { return range_; }
    // The checkpoint this snapshot is an increment on (its key groups then
    // hold changes only), or 0 for a full snapshot.
    int64_t delta_base() const { return delta_base_; }

   private:
    friend class HeapKeyedStateBackend;
    int64_t delta_base_ = 0;
    struct Table {
      std::string name;
      uint8_t kind;
      std::unique_ptr<const StateTableSnapshot> view;
    };
    KeyGroupRange range_;
    std::vector<Table> tables_;  // by name
  };

  // The synchronous part of a checkpoint: O(tables x key groups), never
  // O(entries). kFailedPrecondition naming the state when a state's key or
  // value type cannot be serialised.
  //
  // Incremental checkpoints (FLIP-158's change log, kept per key group):
  // with `incremental`, every table logs the keys written from now on, and
  // the snapshot holds only the changes since checkpoint `base_id` when this
  // backend captured (or was restored from) that checkpoint and has logged
  // every change since; otherwise it is full (delta_base() == 0). `base_id`
  // must be a complete checkpoint, and never go backwards: logs up to it are
  // dropped. Without `incremental` nothing is logged (as before).
  absl::StatusOr<std::shared_ptr<const Snapshot>> CaptureSnapshot(int64_t checkpoint_id = 0,
                                                                  bool incremental = false,
                                                                  int64_t base_id = 0) {
    auto snap = std::make_shared<Snapshot>();
    snap->range_ = range_;
    snap->tables_.reserve(tables_.size());
    CaptureOptions options;
    options.checkpoint_id = checkpoint_id;
    options.track_changes = incremental;
    options.delta = incremental && base_id > 0 && tracking_ &&
                    std::find(known_bases_.begin(), known_bases_.end(), base_id) !=
                        known_bases_.end();
    // Captures that never became a base (savepoints only, failing
    // checkpoints) would keep their logs forever: past a bound, forget them;
    // the next increment can then only be on this capture (else it is full).
    const bool forget = incremental && !options.delta && known_bases_.size() >= kMaxUnconfirmed;
    options.drop_logs_up_to = forget ? checkpoint_id - 1 : incremental ? base_id : 0;
    for (auto& [name, table] : tables_) {
      auto view = table->Capture(options);
      if (!view.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "keyed state '", name, "' cannot be checkpointed: ", view.status().message()));
      }
      snap->tables_.push_back({name, table->kind(), *std::move(view)});
    }
    std::sort(snap->tables_.begin(), snap->tables_.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    snap->delta_base_ = options.delta ? base_id : 0;
    tracking_ = incremental;
    std::erase_if(known_bases_,
                  [&](int64_t id) { return !incremental || forget || id < base_id; });
    if (incremental) known_bases_.push_back(checkpoint_id);
    return std::shared_ptr<const Snapshot>(std::move(snap));
  }
  // The restored state is checkpoint `checkpoint_id`'s (same key-group
  // range): changes are logged from now on, so that the next checkpoint can
  // be an increment on it.
  void TrackChangesSince(int64_t checkpoint_id) {
    tracking_ = true;
    known_bases_ = {checkpoint_id};
    for (auto& [name, table] : tables_) table->TrackChanges();
  }

  // Restore: how many threads may fill one state's key groups (the
  // calling one included; default 1), each taking at least
  // `min_bytes_per_thread` of the state's restored bytes (a small state
  // restores on the calling thread alone).
  void set_restore_threads(int threads, size_t min_bytes_per_thread = size_t{4} << 20) {
    restore_threads_ = std::max(threads, 1);
    restore_min_bytes_per_thread_ = std::max<size_t>(min_bytes_per_thread, 1);
  }

  // Restore, before any state is created: reads the tables of key group
  // `key_group` that Snapshot::WriteKeyGroup wrote. The bytes `in` views must
  // stay alive until FinishRestore(). Increments (`delta`) of a chain follow
  // the key group's full snapshot, oldest first, and are applied in that
  // order. kDataLoss: they do not decode; kFailedPrecondition: key group
  // outside the range, or a full snapshot given twice.
  absl::Status AddRestoredKeyGroup(int key_group, DataInputView& in, bool delta = false) {
    if (!range_.Contains(key_group)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "restored key group ", key_group, " is outside this subtask's range [", range_.start,
          ", ", range_.end, "]"));
    }
    if (!tables_.empty()) {
      return absl::FailedPreconditionError("keyed state restored after states were created");
    }
    size_t n = 0;
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n, 3));
    for (size_t i = 0; i < n; ++i) {
      std::string name;
      uint8_t kind = 0;
      std::string_view entries;
      size_t len = 0;
      BROOK_RETURN_IF_ERROR(in.ReadString(&name));
      BROOK_RETURN_IF_ERROR(in.ReadUint8(&kind));
      BROOK_RETURN_IF_ERROR(in.ReadLength(&len));
      BROOK_RETURN_IF_ERROR(in.ReadView(len, &entries));
      PendingState& p = pending_[name];
      if (p.key_groups.empty()) {
        p.kind = kind;
      } else if (p.kind != kind) {
        return absl::DataLossError(absl::StrCat("restored keyed state '", name,
                                                "' has different kinds in different key groups"));
      }
      for (const auto& r : p.key_groups) {
        if (!delta && r.index == key_group - range_.start) {
          return absl::FailedPreconditionError(absl::StrCat(
              "keyed state '", name, "' restored twice for key group ", key_group));
        }
      }
      p.key_groups.push_back({key_group - range_.start, entries, delta});
    }
    return absl::OkStatus();
  }
  // After the function's Open(): kFailedPrecondition naming the restored
  // states the function never created (Flink fails such a restore unless
  // told to skip unmapped state); drops the restore bookkeeping either way.
  absl::Status FinishRestore() {
    std::vector<std::string> unclaimed;
    for (const auto& [name, p] : pending_) unclaimed.push_back(name);
    pending_.clear();
    if (unclaimed.empty()) return absl::OkStatus();
    std::sort(unclaimed.begin(), unclaimed.end());
    return absl::FailedPreconditionError(absl::StrCat(
        "the checkpoint has keyed state that the function does not create in Open(): '",
        absl::StrJoin(unclaimed, "', '"), "'"));
  }

 private:
  struct PendingState {
    uint8_t kind = 0;
    std::vector<RestoredKeyGroupPart> key_groups;  // in the order to apply
  };

  template <typename Impl, typename Make>
  absl::StatusOr<Impl*> GetOrCreate(const std::string& name, const StateTtlConfig& ttl,
                                    size_t keys_per_key_group, Make make) {
    auto it = tables_.find(name);
    if (it == tables_.end()) {
      std::unique_ptr<KeyedStateTable<K>> made = make();
      if (keys_per_key_group > 0) {
        try {
          made->Reserve(keys_per_key_group);
        } catch (const std::exception& e) {  // bad_alloc, or length_error from the table
          return absl::ResourceExhaustedError(
              absl::StrCat("state '", name, "': cannot size its tables for ", keys_per_key_group,
                           " keys per key group (expected_keys): ", e.what()));
        }
      }
      typed_tables_.push_back(made.get());
      it = tables_.emplace(name, std::move(made)).first;
      if (tracking_) it->second->TrackChanges();
      if (ttl.enabled()) {
        const int64_t t = ToMillis(ttl.ttl);
        min_ttl_ms_ = min_ttl_ms_ == 0 ? t : std::min(min_ttl_ms_, t);
      }
      if (auto p = pending_.find(name); p != pending_.end()) {
        absl::Status s = Restore(name, *it->second, p->second);
        pending_.erase(p);
        if (!s.ok()) return s;
      }
    }
    auto* impl = dynamic_cast<Impl*>(it->second.get());
    if (impl == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "state '", name, "' was already created with another kind or type"));
    }
    return impl;
  }
  absl::Status Restore(const std::string& name, StateTableBase& table,
                       const PendingState& p) const {
    if (p.kind != table.kind()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "keyed state '", name, "' was checkpointed as ", StateKindName(p.kind),
          " but is now created as ", StateKindName(table.kind()),
          " (as in Flink, a state's kind and whether it has a TTL cannot change across a "
          "restore)"));
    }
    absl::Status s =
        table.RestoreKeyGroups(p.key_groups, restore_threads_, restore_min_bytes_per_thread_);
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("restoring keyed state '", name, "': ", s.message()));
    }
    return absl::OkStatus();
  }

  KeyGroupRange range_;
  KeyContext<K> ctx_;
  absl::flat_hash_map<std::string, std::unique_ptr<StateTableBase>> tables_;
  std::vector<KeyedStateTable<K>*> typed_tables_;  // the same tables, for Prefetch
  absl::flat_hash_map<std::string, PendingState> pending_;
  int64_t min_ttl_ms_ = 0;
  int64_t last_sweep_ms_ = kMinTimestampMs;
  int restore_threads_ = 1;
  size_t restore_min_bytes_per_thread_ = 1;
  static constexpr size_t kMaxUnconfirmed = 32;
  bool tracking_ = false;
  std::vector<int64_t> known_bases_;  // checkpoints an increment can be based on
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_KEYED_STATE_BACKEND_H_
