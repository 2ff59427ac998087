// File: bench/pipeline/pipeline_benchmark.cc
//
// bench/pipeline: the camera pipeline (DESIGN.md §9) over generated events held
// in memory (generated once), run three ways by one program, repeats
// alternating (hand, p1, p2, hand, p1, p2, ...), each repeat in a forked child
// process that shares the input copy-on-write (--fork, the default: every run
// starts from the same heap; --fork=false runs them all in this process):
//
//   hand     the best single-threaded loop we could write for exactly this job,
//            no engine: the reference;
//   brook_p1 camera::CameraJob at parallelism 1 (the whole job is one chain,
//            one thread), its dedup state sized for the ids the hand loop
//            reserves (`dedup_expected_ids`, the state's expected_keys hint);
//   brook_p2 camera::CameraJob at parallelism 2 (dedup/join and top-K at 2
//            subtasks each; the in-memory source and the result sink at 1).
//
// All three compute the same thing: dedup keep-first by detection_oid (with
// the job's 64-bit fingerprint for conflict counting, and event-time retention
// `--dedup_retention`: forever, or an id forgotten once the watermark reaches
// its first timestamp + retention), inner join with the location table,
// tumbling event-time windows (`--window`) driven by the same deterministic
// watermark (bounded out-of-orderness `--watermark_delay` over input order,
// emitted after every `--records_per_watermark` records, the maximum at the
// end), late records dropped, top `--top_k` items per location and window,
// ranked by count descending then item ascending.
//
// Each run prints events/s, CPU seconds per million events (getrusage, all
// threads; user time alone in parentheses), the peak resident memory it
// added (RSS sampled from /proc/self/statm every 5 ms, and ru_maxrss, above
// the RSS before the run: the input is held by all three)
// and a checksum of its result rows: the sum over rows of a 64-bit hash of
// (window_start, window_end, location, rank, item, count), i.e. a hash of the
// sorted multiset of rows. All checksums, row counts and counters
// (duplicates, conflicts, late, windows fired) must agree across every run,
// or the program exits with status 1. Each retention setting ends with the
// line (medians over the repeats):
//
//   brook_p1/hand=R1 brook_p2/brook_p1=R2 checksums=agree
//
// Run (Release build; see docs/performance.md):
//   cmake -S . -B build-bench -G Ninja -DBROOK_BUILD_BENCH=ON
//   ninja -C build-bench pipeline
//   build-bench/bench/pipeline                      # 20M events, 5 repeats, forever and 1m
//   build-bench/bench/pipeline --events=2000000 --repeats=1   # a quick check
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "brook/operators/deduplicate.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/camera_job.h"
#include "camera_top_k/detection.h"
#include "camera_top_k/generator.h"
#include "../build_warning.h"

ABSL_FLAG(int64_t, events, 20'000'000, "Events to generate (re-sends included).");
ABSL_FLAG(int, repeats, 5, "Repeats of each way (alternating).");
ABSL_FLAG(std::string, ways, "hand,p1,p2", "Which ways to run: any of hand, p1, p2.");
ABSL_FLAG(std::string, dedup_retention, "forever,1m",
          "Comma-separated dedup retentions to run, each 'forever' or a duration (e.g. 1m).");
ABSL_FLAG(int, locations, 1000, "Locations (Dataset B rows).");
ABSL_FLAG(int, items, 200, "Distinct item names.");
ABSL_FLAG(double, item_zipf, 1.0, "Zipf exponent of item popularity.");
ABSL_FLAG(double, duplicate_rate, 0.10, "Fraction of events that are re-sends.");
ABSL_FLAG(double, conflict_rate, 0.0,
          "Fraction of re-sends whose item differs from the original's (counted as conflicts).");
ABSL_FLAG(absl::Duration, out_of_order, absl::Seconds(1),
          "Largest lag of an event's timestamp behind its emission time.");
ABSL_FLAG(double, events_per_second, 10000, "Event-time rate of the generated stream.");
ABSL_FLAG(uint64_t, seed, 42, "Generator seed.");
ABSL_FLAG(absl::Duration, window, absl::Seconds(10), "Tumbling window size.");
ABSL_FLAG(int, top_k, 10, "Items ranked per location and window.");
ABSL_FLAG(absl::Duration, watermark_delay, absl::Seconds(1),
          "Bounded out-of-orderness of the watermark.");
ABSL_FLAG(int64_t, records_per_watermark, 1000, "Records between two watermarks.");
ABSL_FLAG(bool, fork, true,
          "Run each repeat of each way in a forked child process (input shared copy-on-write), "
          "so that runs do not share a heap; false: all in this process.");

namespace {

using camera::Detection;
using camera::Event;
using camera::Location;


// ---------------------------------------------------------------------------
// Result checksums: order-independent (a sum of row hashes), so that brook's
// rows, which arrive in firing order from several subtasks, and the
// hand-written loop's agree exactly when the row multisets are equal.

constexpr uint64_t Fmix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t RowHash(int64_t window_start, int64_t window_end, int64_t location, int64_t rank,
                 std::string_view item, int64_t count) {
  uint64_t h = 0x243f6a8885a308d3ULL;
  for (uint64_t v : {static_cast<uint64_t>(window_start), static_cast<uint64_t>(window_end),
                     static_cast<uint64_t>(location), static_cast<uint64_t>(rank),
                     static_cast<uint64_t>(count)}) {
    h = Fmix64(h ^ v) * 0x9e3779b97f4a7c15ULL;
  }
  uint64_t s = 0xcbf29ce484222325ULL;  // FNV-1a: stable across processes
  for (unsigned char c : item) s = (s ^ c) * 0x100000001b3ULL;
  return Fmix64(h ^ s);
}

struct Checksum {
  uint64_t sum = 0;
  int64_t rows = 0;
  void Add(uint64_t row_hash) {
    sum += row_hash;
    ++rows;
  }
  friend bool operator==(const Checksum&, const Checksum&) = default;
};

// What a run computed: compared across every run.
struct Outcome {
  Checksum checksum;
  int64_t duplicates = 0;
  int64_t conflicts = 0;
  int64_t unknown_location = 0;
  int64_t late = 0;
  int64_t windows_fired = 0;
  friend bool operator==(const Outcome&, const Outcome&) = default;
  std::string ToString() const {
    return absl::StrFormat(
        "rows=%d checksum=%016x duplicates=%d conflicts=%d unknown_location=%d late=%d "
        "windows_fired=%d",
        checksum.rows, checksum.sum, duplicates, conflicts, unknown_location, late, windows_fired);
  }
};

struct JobConfig {
  camera::GeneratorOptions generator;  // for the location table
  int64_t window_ms = 10'000;
  int top_k = 10;
  int64_t watermark_delay_ms = 1'000;
  int64_t records_per_watermark = 1'000;
  int64_t retention_ms = 0;  // 0 = forever
};

// ---------------------------------------------------------------------------
// The hand-written job.

// The same 64-bit fingerprint as the brook job's (camera_job.cc), so that
// conflicts are counted alike; brook::ops::Fingerprinter is a plain function
// (FNV-1a + fmix64) with no engine behind it. For N records at once, field by
// field across them: each fingerprint is a chain of dependent multiplies
// (about 50 for a detection), and N independent chains side by side overlap
// in the CPU instead of waiting on each other's latency.
template <size_t N>
void FingerprintsOf(const Event* e, uint64_t* out) {
  brook::ops::Fingerprinter f[N];
  for (size_t k = 0; k < N; ++k) f[k].Add(e[k].detection.geographical_location_oid);
  for (size_t k = 0; k < N; ++k) f[k].Add(e[k].detection.video_camera_oid);
  for (size_t k = 0; k < N; ++k) f[k].Add(e[k].detection.item_name);
  for (size_t k = 0; k < N; ++k) f[k].Add(e[k].detection.timestamp_detected_ms);
  for (size_t k = 0; k < N; ++k) out[k] = f[k].value();
}

// Item string -> dense id; strings in a deque so the views stay valid.
// Strings of at most 16 bytes (every generated item name: std::string keeps
// them inline) are found by their bytes read as two words, with overlapping
// loads, in a small open-addressing table: a few instructions, no call and
// no loop over the bytes; longer ones (or once that table is half full) in a
// hash map.
class Interner {
 public:
  Interner() : short_(kShortSlots) {}

  uint32_t Intern(std::string_view s) {
    if (s.size() > 16) return InternLong(s);
    const ShortKey key = ShortKeyOf(s);
    for (size_t i = key.Home();; i = (i + 1) & (kShortSlots - 1)) {
      ShortSlot& slot = short_[i];
      if (slot.key == key) return slot.id;
      if (slot.key.len == kFree) {
        const uint32_t id = InternLong(s);
        if (short_size_ * 2 < kShortSlots) {
          slot = {key, id};
          ++short_size_;
        }
        return id;
      }
    }
  }
  const std::string& Item(uint32_t id) const { return items_[id]; }
  size_t size() const { return items_.size(); }

 private:
  static constexpr size_t kShortSlots = 1024;
  static constexpr uint32_t kFree = std::numeric_limits<uint32_t>::max();
  // A string of at most 16 bytes: with its length, (w0, w1) determine it.
  struct ShortKey {
    uint64_t w0 = 0, w1 = 0;
    uint32_t len = kFree;
    friend bool operator==(const ShortKey&, const ShortKey&) = default;
    size_t Home() const {
      const uint64_t h = ((w0 ^ len) * 0x9e3779b97f4a7c15ULL + w1) * 0xff51afd7ed558ccdULL;
      return static_cast<size_t>(h >> 54);  // the top 10 bits: kShortSlots
    }
  };
  struct ShortSlot {
    ShortKey key;
    uint32_t id = 0;
  };
  static ShortKey ShortKeyOf(std::string_view s) {
    const char* p = s.data();
    const size_t n = s.size();
    ShortKey k;
    k.len = static_cast<uint32_t>(n);
    if (n >= 8) {  // two 8-byte windows cover 8..16 bytes
      std::memcpy(&k.w0, p, 8);
      std::memcpy(&k.w1, p + n - 8, 8);
    } else if (n >= 4) {
      uint32_t a, b;
      std::memcpy(&a, p, 4);
      std::memcpy(&b, p + n - 4, 4);
      k.w0 = a;
      k.w1 = b;
    } else if (n > 0) {
      const auto c = [p](size_t i) {
        return static_cast<uint64_t>(static_cast<unsigned char>(p[i]));
      };
      k.w0 = c(0) | c(n / 2) << 8 | c(n - 1) << 16;
    }
    return k;
  }
  uint32_t InternLong(std::string_view s) {
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
    const uint32_t id = static_cast<uint32_t>(items_.size());
    items_.emplace_back(s);
    ids_.emplace(std::string_view(items_.back()), id);
    return id;
  }

  std::deque<std::string> items_;
  absl::flat_hash_map<std::string_view, uint32_t> ids_;
  std::vector<ShortSlot> short_;
  size_t short_size_ = 0;
};

// The dedup table: open addressing, linear probing, power-of-two capacity,
// slots of `Slot` (its first field the int64 id), reserved up front so that
// it never grows in a run; Prefetch(id) touches an id's home slot ahead of
// its probe (the table is far larger than the caches: a probe is a miss).
// kEmpty marks a free slot; an id equal to kEmpty is kept beside the table.
// An array of `n` copies of `fill` on 2 MiB-aligned memory advised as huge
// pages (MADV_HUGEPAGE): a table far larger than the caches then costs a
// TLB miss per probe far less often, and a software prefetch is not dropped
// for want of a translation.
template <typename Slot>
class HugePageArray {
 public:
  HugePageArray() = default;
  HugePageArray(size_t n, Slot fill) : n_(n) {
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t bytes = (n * sizeof(Slot) + kHuge - 1) / kHuge * kHuge;
    data_.reset(static_cast<Slot*>(std::aligned_alloc(kHuge, bytes)));
    if (data_ == nullptr) throw std::bad_alloc();
    madvise(data_.get(), bytes, MADV_HUGEPAGE);  // advice only: ignore failure
    std::uninitialized_fill_n(data_.get(), n, fill);
  }
  size_t size() const { return n_; }
  Slot& operator[](size_t i) { return data_[i]; }
  const Slot& operator[](size_t i) const { return data_[i]; }
  Slot* begin() { return data_.get(); }
  Slot* end() { return data_.get() + n_; }

 private:
  struct Free {
    void operator()(Slot* p) const { std::free(p); }
  };
  std::unique_ptr<Slot[], Free> data_;
  size_t n_ = 0;
};

// The dedup table: open addressing, linear probing, power-of-two capacity,
// slots of `Slot` (its first field the int64 id), reserved up front so that
// it never grows in a run; Prefetch(id) fetches an id's home slot ahead of
// its probe (the table is far larger than the caches: a probe is a miss).
// kEmpty marks a free slot; an id equal to kEmpty is kept beside the table.
template <typename Slot>
class IdTable {
 public:
  static constexpr int64_t kEmpty = std::numeric_limits<int64_t>::min();

  void Reserve(size_t ids) {
    size_t cap = 16;
    while (cap * 3 < ids * 4) cap *= 2;  // load at most 3/4
    if (cap > slots_.size()) Rehash(cap);
  }
  // The id's hash, computed once per record: its home slot is hash & mask
  // (the hash stays valid when the table grows or is swept).
  static uint64_t HashOf(int64_t id) { return Fmix64(static_cast<uint64_t>(id)); }
  void Prefetch(uint64_t hash) const { __builtin_prefetch(&slots_[hash & mask_], 1, 3); }

  // The id's slot, and whether it was inserted (then only `id` is set).
  std::pair<Slot*, bool> FindOrInsert(int64_t id, uint64_t hash) {
    if (id == kEmpty) {
      const bool inserted = !has_empty_key_;
      has_empty_key_ = true;
      empty_key_slot_.id = id;
      return {&empty_key_slot_, inserted};
    }
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id == id) return {&s, false};
      if (s.id == kEmpty) {
        s.id = id;
        if (++size_ * 4 > slots_.size() * 3) {  // not when reserved enough
          Rehash(slots_.size() * 2);
          return {Find(id), true};
        }
        return {&s, true};
      }
    }
  }

  // Drops the ids for which drop(slot) holds (rebuilds the table into a
  // spare array of the same capacity, kept for the next sweep).
  template <typename Drop>
  void EraseIf(Drop drop) {
    if (spare_.size() != slots_.size()) spare_ = HugePageArray<Slot>(slots_.size(), Slot{kEmpty});
    std::swap(spare_, slots_);
    std::fill(slots_.begin(), slots_.end(), Slot{kEmpty});
    size_ = 0;
    for (const Slot& s : spare_) {
      if (s.id != kEmpty && !drop(s)) Place(s);
    }
    if (has_empty_key_ && drop(empty_key_slot_)) has_empty_key_ = false;
  }

 private:
  size_t Home(int64_t id) const { return HashOf(id) & mask_; }
  Slot* Find(int64_t id) {
    for (size_t i = Home(id);; i = (i + 1) & mask_) {
      if (slots_[i].id == id) return &slots_[i];
    }
  }
  void Place(const Slot& s) {
    size_t i = Home(s.id);
    while (slots_[i].id != kEmpty) i = (i + 1) & mask_;
    slots_[i] = s;
    ++size_;
  }
  void Rehash(size_t cap) {
    HugePageArray<Slot> old = std::exchange(slots_, HugePageArray<Slot>(cap, Slot{kEmpty}));
    mask_ = cap - 1;
    size_ = 0;
    for (const Slot& s : old) {
      if (s.id != kEmpty) Place(s);
    }
    spare_ = HugePageArray<Slot>();
  }

  HugePageArray<Slot> slots_;
  HugePageArray<Slot> spare_;
  size_t mask_ = 0;
  size_t size_ = 0;
  bool has_empty_key_ = false;
  Slot empty_key_slot_{kEmpty};
};

// kRetention: ids expire (event-time retention), 24-byte slots; or they are
// kept forever, and only the first fingerprint is stored (16-byte slots).
// The ids the dedup table is sized for, by the hand loop and by brook (its
// state's expected_keys hint) alike. Forever: every id of the input may stay;
// with retention, those of about one retention period (they are swept).
size_t ExpectedIds(bool retention, size_t events) {
  return retention ? std::min(events, size_t{1} << 20) : events;
}

// The loop the issue describes: the dedup slot of the record 16 places ahead
// prefetched, one dense count array per open window (location x interned
// item), nothing allocated per record once warm.
template <bool kRetention>
class HandWrittenJob {
 public:
  explicit HandWrittenJob(const JobConfig& config) : c_(config) {}

  Outcome Run(const std::vector<Event>& input) {
    const std::vector<Location> locations = camera::DetectionGenerator(c_.generator).Locations();
    IndexLocations(locations);
    seen_.Reserve(ExpectedIds(kRetention, input.size()));
    int64_t max_ts = brook::kMinTimestampMs + c_.watermark_delay_ms + 1;
    int64_t since_watermark = 0;
    const Event* in = input.data();
    const size_t n = input.size();
    // Blocks of kBlock records. While block b is processed, the dedup slots
    // of block b + 1 are prefetched, all together: the table (512 MiB for
    // 20M ids) is far beyond the TLB's reach, and a prefetch waits for its
    // page walk; one prefetch per record stalls the loop once per record,
    // a block's prefetches overlap their walks and misses. The input is
    // prefetched three blocks ahead (reading the ids must not stall either).
    // Block b's fingerprints are computed together first: each is a chain of
    // dependent multiplies, and independent chains overlap.
    uint64_t hashes[2][kBlock];
    uint64_t fingerprints[kBlock];
    int32_t locs[kBlock];
    uint32_t items[kBlock];
    PrefetchSlots(in, 0, n, hashes[0]);
    for (size_t b = 0, cur = 0; b < n; b += kBlock, cur ^= 1) {
      const size_t m = std::min(kBlock, n - b);
      for (size_t byte = 0; byte < kBlock * sizeof(Event) && b + 3 * kBlock < n; byte += 64) {
        __builtin_prefetch(reinterpret_cast<const char*>(&in[b + 3 * kBlock]) + byte, 0, 3);
      }
      PrefetchSlots(in, b + kBlock, n, hashes[cur ^ 1]);
      size_t f = 0;
      for (; f + 4 <= m; f += 4) FingerprintsOf<4>(&in[b + f], &fingerprints[f]);
      for (; f < m; ++f) FingerprintsOf<1>(&in[b + f], &fingerprints[f]);
      // Each record's location index and item id, and the prefetch of its
      // count in the window of the record before the block (1 MiB of counts
      // per window: they miss the cache too). Items are interned before the
      // dedup; the ids of items only duplicates carry stay unused.
      for (size_t k = 0; k < m; ++k) {
        const Detection& d = in[b + k].detection;
        locs[k] = LocationIndex(d.geographical_location_oid);
        items[k] = interner_.Intern(d.item_name);
        if (items[k] >= item_capacity_) GrowItems();
        if (last_window_ != nullptr && locs[k] >= 0) {
          __builtin_prefetch(&last_window_->counts[CountIndex(locs[k], items[k])], 1, 3);
        }
      }
      for (size_t k = 0; k < m; ++k) {
        const Detection& d = in[b + k].detection;
        const int64_t ts = d.timestamp_detected_ms;
        max_ts = std::max(max_ts, ts);
        Process(d, ts, fingerprints[k], hashes[cur][k], locs[k], items[k]);
        if (++since_watermark == c_.records_per_watermark) {
          since_watermark = 0;
          AdvanceWatermark(max_ts - c_.watermark_delay_ms - 1);
        }
      }
    }
    AdvanceWatermark(brook::kMaxWatermarkMs);
    return outcome_;
  }

 private:
  struct SlotForever {
    int64_t id;
    uint64_t fingerprint = 0;
  };
  struct SlotRetention {
    int64_t id;
    uint64_t fingerprint = 0;
    int64_t first_ms = 0;  // timestamp of the record that was kept
  };
  using Slot = std::conditional_t<kRetention, SlotRetention, SlotForever>;
  // One open window: counts[location index * item_capacity_ + item id].
  struct Window {
    int64_t start_ms = 0;
    std::vector<int32_t> counts;
    std::vector<int32_t> per_location;  // records per location index
  };

  void IndexLocations(const std::vector<Location>& locations) {
    location_oids_.reserve(locations.size());
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
    for (const Location& l : locations) {
      lo = std::min(lo, l.geographical_location_oid);
      hi = std::max(hi, l.geographical_location_oid);
    }
    // Dense oids (the generator's 1..N): an array; otherwise a hash map.
    dense_locations_ = !locations.empty() && hi - lo < (int64_t{1} << 22);
    if (dense_locations_) {
      location_base_ = lo;
      location_dense_.assign(static_cast<size_t>(hi - lo + 1), -1);
    }
    for (const Location& l : locations) {
      const auto index = static_cast<int32_t>(location_oids_.size());
      if (dense_locations_) {
        location_dense_[static_cast<size_t>(l.geographical_location_oid - lo)] = index;
      } else {
        location_index_.emplace(l.geographical_location_oid, index);
      }
      location_oids_.push_back(l.geographical_location_oid);
    }
  }
  int32_t LocationIndex(int64_t oid) const {
    if (!dense_locations_) {
      auto it = location_index_.find(oid);
      return it == location_index_.end() ? -1 : it->second;
    }
    const uint64_t off = static_cast<uint64_t>(oid) - static_cast<uint64_t>(location_base_);
    return off < location_dense_.size() ? location_dense_[off] : -1;
  }

  static constexpr size_t kBlock = 32;

  // Hashes the ids of records [b, b + kBlock) (those below n) into `hashes`
  // and prefetches their dedup slots.
  void PrefetchSlots(const Event* in, size_t b, size_t n, uint64_t* hashes) const {
    const size_t m = b < n ? std::min(kBlock, n - b) : 0;
    for (size_t k = 0; k < m; ++k) {
      hashes[k] = IdTable<Slot>::HashOf(in[b + k].detection.detection_oid);
    }
    for (size_t k = 0; k < m; ++k) seen_.Prefetch(hashes[k]);
  }

  size_t CountIndex(int32_t loc, uint32_t item) const {
    return static_cast<size_t>(loc) * item_capacity_ + item;
  }

  void Process(const Detection& d, int64_t ts, uint64_t fp, uint64_t id_hash, int32_t loc,
               uint32_t item) {
    // Dedup, keep first; an id expires once first_ms + retention <= watermark.
    auto [slot, inserted] = seen_.FindOrInsert(d.detection_oid, id_hash);
    if (inserted) {
      slot->fingerprint = fp;
      if constexpr (kRetention) slot->first_ms = ts;
    } else if (kRetention && Expired(*slot, watermark_ms_)) {
      slot->fingerprint = fp;
      if constexpr (kRetention) slot->first_ms = ts;
    } else {
      ++outcome_.duplicates;
      if (slot->fingerprint != fp) ++outcome_.conflicts;
      return;
    }
    // Inner join.
    if (loc < 0) {
      ++outcome_.unknown_location;
      return;
    }
    // Tumbling window: the previous record's when ts falls in it (no
    // division); a window whose end - 1 <= watermark has fired: late (the
    // cached window is dropped when the watermark advances).
    Window* w = last_window_;
    if (w == nullptr || static_cast<uint64_t>(ts) - static_cast<uint64_t>(w->start_ms) >=
                            static_cast<uint64_t>(c_.window_ms)) {
      int64_t r = ts % c_.window_ms;
      if (r < 0) r += c_.window_ms;
      const int64_t start = ts - r;
      if (start + c_.window_ms - 1 <= watermark_ms_) {
        ++outcome_.late;
        return;
      }
      w = &WindowAt(start);
    }
    ++w->counts[CountIndex(loc, item)];
    ++w->per_location[static_cast<size_t>(loc)];
  }

  bool Expired(const Slot& s, int64_t wm) const {
    if constexpr (kRetention) {
      return s.first_ms + c_.retention_ms <= wm;
    } else {
      return false;
    }
  }

  Window& WindowAt(int64_t start) {
    if (last_window_ != nullptr && last_window_->start_ms == start) return *last_window_;
    for (Window& x : windows_) {  // a handful open at a time
      if (x.start_ms == start) return *(last_window_ = &x);
    }
    Window w;
    if (!free_windows_.empty()) {  // reuse a fired window's arrays
      w = std::move(free_windows_.back());
      free_windows_.pop_back();
    }
    w.start_ms = start;
    if (w.counts.size() != location_oids_.size() * item_capacity_) {  // fired: zeroed
      w.counts.assign(location_oids_.size() * item_capacity_, 0);
      w.per_location.assign(location_oids_.size(), 0);
    }
    windows_.push_back(std::move(w));
    return *(last_window_ = &windows_.back());
  }

  // More items than a location's row holds: double the rows (rare).
  void GrowItems() {
    const size_t old_cap = item_capacity_;
    while (item_capacity_ <= interner_.size()) item_capacity_ *= 2;
    for (Window& w : windows_) {
      std::vector<int32_t> counts(location_oids_.size() * item_capacity_, 0);
      for (size_t l = 0; l < location_oids_.size(); ++l) {
        std::copy_n(w.counts.begin() + static_cast<std::ptrdiff_t>(l * old_cap), old_cap,
                    counts.begin() + static_cast<std::ptrdiff_t>(l * item_capacity_));
      }
      w.counts = std::move(counts);
    }
  }

  void AdvanceWatermark(int64_t wm) {
    if (wm <= watermark_ms_) return;
    watermark_ms_ = wm;
    for (size_t i = 0; i < windows_.size();) {
      if (windows_[i].start_ms + c_.window_ms - 1 <= wm) {
        Fire(windows_[i]);
        free_windows_.push_back(std::move(windows_[i]));
        windows_.erase(windows_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    last_window_ = nullptr;
    // Retention: drop expired ids now and then (reads check expiry anyway).
    if constexpr (kRetention) {
      if (last_sweep_ms_ == brook::kMinTimestampMs || wm == brook::kMaxWatermarkMs ||
          wm - last_sweep_ms_ >= c_.retention_ms / 2) {
        last_sweep_ms_ = wm;
        seen_.EraseIf([&](const Slot& s) { return Expired(s, wm); });
      }
    }
  }

  // Ranks each location's items (count descending, then item ascending: one
  // integer key per item, the items' string order computed once per new
  // item) and zeroes the counts it read, so that the window can be reused.
  void Fire(Window& w) {
    if (order_of_item_.size() != interner_.size()) OrderItems();
    const int64_t end = w.start_ms + c_.window_ms;
    const uint32_t items = static_cast<uint32_t>(interner_.size());
    for (size_t l = 0; l < location_oids_.size(); ++l) {
      if (w.per_location[l] == 0) continue;
      w.per_location[l] = 0;
      ++outcome_.windows_fired;
      ranked_.clear();
      int32_t* row = &w.counts[l * item_capacity_];
      for (uint32_t id = 0; id < items; ++id) {
        if (row[id] == 0) continue;
        ranked_.push_back(static_cast<uint64_t>(row[id]) << 32 |
                          (std::numeric_limits<uint32_t>::max() - order_of_item_[id]));
        row[id] = 0;
      }
      const size_t k = std::min(ranked_.size(), static_cast<size_t>(c_.top_k));
      std::partial_sort(ranked_.begin(), ranked_.begin() + static_cast<std::ptrdiff_t>(k),
                        ranked_.end(), std::greater<>());
      for (size_t i = 0; i < k; ++i) {
        const uint32_t order =
            std::numeric_limits<uint32_t>::max() - static_cast<uint32_t>(ranked_[i]);
        outcome_.checksum.Add(
            RowHash(w.start_ms, end, location_oids_[l], static_cast<int64_t>(i + 1),
                    interner_.Item(item_in_order_[order]), static_cast<int64_t>(ranked_[i] >> 32)));
      }
    }
  }

  void OrderItems() {
    item_in_order_.resize(interner_.size());
    std::iota(item_in_order_.begin(), item_in_order_.end(), 0);
    std::sort(item_in_order_.begin(), item_in_order_.end(),
              [this](uint32_t a, uint32_t b) { return interner_.Item(a) < interner_.Item(b); });
    order_of_item_.resize(interner_.size());
    for (uint32_t i = 0; i < item_in_order_.size(); ++i) order_of_item_[item_in_order_[i]] = i;
  }

  JobConfig c_;
  bool dense_locations_ = false;
  int64_t location_base_ = 0;
  std::vector<int32_t> location_dense_;  // oid - location_base_ -> index, -1: none
  absl::flat_hash_map<int64_t, int32_t> location_index_;
  std::vector<int64_t> location_oids_;
  IdTable<Slot> seen_;
  Interner interner_;
  size_t item_capacity_ = 256;  // items per location row of a window's counts
  std::vector<Window> windows_;
  std::vector<Window> free_windows_;
  Window* last_window_ = nullptr;        // the window of the previous record
  std::vector<uint64_t> ranked_;         // count << 32 | ~(item's string order)
  std::vector<uint32_t> order_of_item_;  // item id -> rank of its string
  std::vector<uint32_t> item_in_order_;  // the inverse
  int64_t watermark_ms_ = brook::kMinTimestampMs;
  int64_t last_sweep_ms_ = brook::kMinTimestampMs;
  Outcome outcome_;
};

// ---------------------------------------------------------------------------
// brook: the camera job itself, fed from memory, results to a checksum.

absl::StatusOr<Outcome> RunBrook(const JobConfig& c,
                                 std::shared_ptr<const std::vector<Event>> input,
                                 int parallelism) {
  camera::CameraJobOptions o;
  o.dedup_expected_ids = static_cast<int64_t>(ExpectedIds(c.retention_ms > 0, input->size()));
  o.detections_in_memory = std::move(input);
  o.generator = c.generator;
  o.top_x = c.top_k;
  o.window = absl::Milliseconds(c.window_ms);
  o.out_of_orderness = absl::Milliseconds(c.watermark_delay_ms);
  o.dedup_retention = absl::Milliseconds(c.retention_ms);
  o.parallelism = parallelism;
  o.records_per_watermark = c.records_per_watermark;
  Checksum checksum;  // written by the sink thread, read after Run()
  o.on_result = [&checksum](const camera::ResultRow& r) {
    checksum.Add(RowHash(r.window_start_ms, r.window_end_ms, r.geographical_location_oid,
                         r.item_rank, r.item_name, r.item_count));
  };
  auto job = camera::CameraJob::Create(std::move(o));
  if (!job.ok()) return job.status();
  auto summary = (*job)->Run();
  if (!summary.ok()) return summary.status();
  Outcome out;
  out.checksum = checksum;
  out.duplicates = summary->duplicates;
  out.conflicts = summary->conflicts;
  out.unknown_location = summary->unknown_location;
  out.late = summary->late;
  out.windows_fired = summary->windows_fired;
  return out;
}

// ---------------------------------------------------------------------------
// Measuring.

int64_t RssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long pages_total = 0, pages_resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(pages_resident) * sysconf(_SC_PAGESIZE) : 0;
}

// The process's CPU seconds so far: user, and user + system.
struct CpuTimes {
  double user = 0;
  double total = 0;
};
CpuTimes CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return {secs(u.ru_utime), secs(u.ru_utime) + secs(u.ru_stime)};
}

// Samples RSS every 5 ms on its own thread while alive; Peak() is the max.
class RssSampler {
 public:
  RssSampler()
      : peak_(RssBytes()), thread_([this] {
          while (!stop_.load(std::memory_order_relaxed)) {
            const int64_t rss = RssBytes();
            int64_t p = peak_.load(std::memory_order_relaxed);
            if (rss > p) peak_.store(rss, std::memory_order_relaxed);
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }) {}
  ~RssSampler() {
    stop_ = true;
    thread_.join();
  }
  int64_t Peak() const { return std::max(peak_.load(), RssBytes()); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> peak_;
  std::thread thread_;
};

struct Measurement {
  double events_per_second = 0;
  double wall_seconds = 0;
  double cpu_seconds_per_million = 0;
  // User time only: the system time is mostly the kernel zeroing new pages,
  // which on a VM varies from run to run far more than the job's own work.
  double user_cpu_seconds_per_million = 0;
  int64_t peak_added_bytes = 0;  // peak RSS during the run above RSS before it
  int64_t rss_before_bytes = 0;
};

template <typename T>
T Median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Advises the whole 2 MiB pages inside [p, p + bytes) as huge pages.
void AdviseHugePages(void* p, size_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

double MiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

std::string LoadLine() {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) != 3) return "load average: unknown";
  return absl::StrFormat("load average: %.2f %.2f %.2f", load[0], load[1], load[2]);
}

// One run's result, plain bytes so that a forked child can send it back.
struct RunReport {
  bool ok = false;
  char error[512] = {};
  Outcome outcome;
  Measurement measurement;
};
static_assert(std::is_trivially_copyable_v<RunReport>);

RunReport Measure(const std::function<absl::StatusOr<Outcome>()>& run, double events) {
  RunReport r;
  malloc_trim(0);  // give back what an earlier run freed, so RSS starts low
  const int64_t rss_before = RssBytes();
  absl::StatusOr<Outcome> outcome;
  Measurement& m = r.measurement;
  {
    RssSampler sampler;
    const CpuTimes cpu0 = CpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    outcome = run();
    m.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const CpuTimes cpu1 = CpuSeconds();
    m.cpu_seconds_per_million = (cpu1.total - cpu0.total) / (events / 1e6);
    m.user_cpu_seconds_per_million = (cpu1.user - cpu0.user) / (events / 1e6);
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    m.peak_added_bytes = std::max(sampler.Peak(), int64_t{u.ru_maxrss} * 1024) - rss_before;
    m.rss_before_bytes = rss_before;
  }
  m.events_per_second = events / m.wall_seconds;
  if (!outcome.ok()) {
    std::snprintf(r.error, sizeof r.error, "%s", outcome.status().ToString().c_str());
    return r;
  }
  r.ok = true;
  r.outcome = *outcome;
  return r;
}

// Measure() in a child process (fork: the input is shared copy-on-write and
// never written), so that every run starts from the same heap and its peak
// memory is its own, not hidden by memory an earlier run left to malloc.
RunReport MeasureInChild(const std::function<absl::StatusOr<Outcome>()>& run, double events) {
  RunReport r;
  int fds[2];
  if (pipe(fds) != 0) {
    std::snprintf(r.error, sizeof r.error, "pipe: %s", std::strerror(errno));
    return r;
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    std::snprintf(r.error, sizeof r.error, "fork: %s", std::strerror(errno));
    return r;
  }
  if (pid == 0) {
    close(fds[0]);
    const RunReport child = Measure(run, events);
    const char* p = reinterpret_cast<const char*>(&child);
    size_t left = sizeof child;
    while (left > 0) {
      const ssize_t n = write(fds[1], p, left);
      if (n <= 0) _exit(1);
      p += n;
      left -= static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  char* p = reinterpret_cast<char*>(&r);
  size_t got = 0;
  while (got < sizeof r) {
    const ssize_t n = read(fds[0], p + got, sizeof r - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (got != sizeof r) {
    r = RunReport{};
    std::snprintf(r.error, sizeof r.error, "the child process died (wait status %d)", wstatus);
  }
  return r;
}

struct Way {
  std::string name;
  std::function<absl::StatusOr<Outcome>()> run;
  std::vector<Measurement> runs;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The camera pipeline three ways (hand-written loop, brook at parallelism 1 and 2) over "
      "generated events in memory; see docs/performance.md.\n"
      "  pipeline [--events=20000000] [--repeats=5] [--dedup_retention=forever,1m]");
  absl::ParseCommandLine(argc, argv);
  brook_bench::WarnIfNotReleaseBuild("pipeline", stdout);

  camera::GeneratorOptions gen;
  gen.count = absl::GetFlag(FLAGS_events);
  gen.num_locations = absl::GetFlag(FLAGS_locations);
  gen.num_items = absl::GetFlag(FLAGS_items);
  gen.item_zipf_s = absl::GetFlag(FLAGS_item_zipf);
  gen.duplicate_rate = absl::GetFlag(FLAGS_duplicate_rate);
  gen.conflict_rate = absl::GetFlag(FLAGS_conflict_rate);
  gen.out_of_order = absl::GetFlag(FLAGS_out_of_order);
  gen.events_per_second_event_time = absl::GetFlag(FLAGS_events_per_second);
  gen.seed = absl::GetFlag(FLAGS_seed);
  if (absl::Status s = camera::ValidateGeneratorOptions(gen); !s.ok() || gen.count <= 0) {
    std::fprintf(stderr, "pipeline: bad generator options: %s\n",
                 s.ok() ? "--events must be > 0" : s.ToString().c_str());
    return 2;
  }
  const int repeats = absl::GetFlag(FLAGS_repeats);
  if (repeats < 1) {
    std::fprintf(stderr, "pipeline: --repeats must be >= 1\n");
    return 2;
  }
  std::vector<int64_t> retentions_ms;
  for (absl::string_view r : absl::StrSplit(absl::GetFlag(FLAGS_dedup_retention), ',')) {
    absl::Duration d;
    if (r == "forever") {
      retentions_ms.push_back(0);
    } else if (absl::ParseDuration(r, &d) && d > absl::ZeroDuration()) {
      retentions_ms.push_back(absl::ToInt64Milliseconds(d));
    } else {
      std::fprintf(stderr, "pipeline: --dedup_retention: bad value '%s'\n", std::string(r).c_str());
      return 2;
    }
  }
  std::vector<std::string> way_names;
  for (absl::string_view w : absl::StrSplit(absl::GetFlag(FLAGS_ways), ',')) {
    if (w != "hand" && w != "p1" && w != "p2") {
      std::fprintf(stderr, "pipeline: --ways: unknown way '%s'\n", std::string(w).c_str());
      return 2;
    }
    way_names.emplace_back(w);
  }

  std::printf("machine: %u hardware threads; %s\n", std::thread::hardware_concurrency(),
              LoadLine().c_str());
  std::printf("generating %" PRId64
              " events: %d locations, %d items (zipf %.2f), "
              "duplicate_rate %.2f, out_of_order %s, %.0f events/s of event time\n",
              gen.count, gen.num_locations, gen.num_items, gen.item_zipf_s, gen.duplicate_rate,
              absl::FormatDuration(gen.out_of_order).c_str(), gen.events_per_second_event_time);
  auto input = std::make_shared<std::vector<Event>>();
  {
    const auto t0 = std::chrono::steady_clock::now();
    input->reserve(static_cast<size_t>(gen.count));
    // On huge pages, for every way: each run is a forked child, whose first
    // touch of every page of the shared input costs a fault in this VM (per
    // 4 KiB page: 0.1 CPU s per million events for the hand loop).
    AdviseHugePages(input->data(), input->capacity() * sizeof(Event));
    camera::DetectionGenerator generator(gen);
    Detection d;
    while (generator.Next(d)) {
      input->push_back(Event{d, static_cast<int64_t>(input->size()) + 1});  // line numbers
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double span_s = static_cast<double>(input->back().detection.timestamp_detected_ms -
                                              input->front().detection.timestamp_detected_ms) /
                          1000.0;
    std::printf(
        "generated in %.1f s; %.0f s of event time; input holds %.0f MiB "
        "(sizeof(Event)=%zu)\n",
        s, span_s, MiB(static_cast<int64_t>(input->capacity() * sizeof(Event))),
        sizeof(Event));
  }
  std::shared_ptr<const std::vector<Event>> shared_input = input;
  const bool isolate = absl::GetFlag(FLAGS_fork);
  const double events = static_cast<double>(shared_input->size());

  bool all_agree = true;
  for (int64_t retention_ms : retentions_ms) {
    JobConfig config;
    config.generator = gen;
    config.window_ms = absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_window));
    config.top_k = absl::GetFlag(FLAGS_top_k);
    config.watermark_delay_ms = absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_watermark_delay));
    config.records_per_watermark = absl::GetFlag(FLAGS_records_per_watermark);
    config.retention_ms = retention_ms;
    const std::string retention_name =
        retention_ms == 0 ? "forever" : absl::FormatDuration(absl::Milliseconds(retention_ms));
    std::printf("\n== dedup retention %s: window %" PRId64 " ms, top %d, watermark delay %" PRId64
                " ms every %" PRId64 " records, %d repeats ==\n",
                retention_name.c_str(), config.window_ms, config.top_k, config.watermark_delay_ms,
                config.records_per_watermark, repeats);

    std::vector<Way> ways;
    for (const std::string& w : way_names) {
      if (w == "hand") {
        ways.push_back({"hand",
                        [&config, &shared_input]() -> absl::StatusOr<Outcome> {
                          if (config.retention_ms > 0) {
                            return HandWrittenJob<true>(config).Run(*shared_input);
                          }
                          return HandWrittenJob<false>(config).Run(*shared_input);
                        },
                        {}});
      } else {
        const int p = w == "p1" ? 1 : 2;
        ways.push_back({absl::StrFormat("brook_p%d", p),
                        [&config, &shared_input, p] { return RunBrook(config, shared_input, p); },
                        {}});
      }
    }
    std::optional<Outcome> reference;
    for (int rep = 0; rep < repeats; ++rep) {
      for (Way& way : ways) {
        const RunReport r = isolate ? MeasureInChild(way.run, events) : Measure(way.run, events);
        if (!r.ok) {
          std::fprintf(stderr, "pipeline: %s failed: %s\n", way.name.c_str(), r.error);
          return 1;
        }
        const Measurement& m = r.measurement;
        const std::optional<Outcome> outcome = r.outcome;
        way.runs.push_back(m);
        std::printf(
            "rep %d %-8s %6.2f M events/s  wall %6.2f s  cpu %.3f s/M events (user %.3f)  "
            "peak +%5.0f MiB (rss before %.0f MiB)  %s\n",
            rep + 1, way.name.c_str(), m.events_per_second / 1e6, m.wall_seconds,
            m.cpu_seconds_per_million, m.user_cpu_seconds_per_million, MiB(m.peak_added_bytes),
            MiB(m.rss_before_bytes),
            outcome->ToString().c_str());
        std::fflush(stdout);
        if (!reference.has_value()) {
          reference = *outcome;
        } else if (!(*reference == *outcome)) {
          all_agree = false;
          std::printf("MISMATCH: %s differs from the first run (%s)\n", way.name.c_str(),
                      reference->ToString().c_str());
        }
      }
    }
    std::printf("medians over %d repeats (%s):\n", repeats, LoadLine().c_str());
    absl::flat_hash_map<std::string, double> median_rate;
    for (const Way& way : ways) {
      std::vector<double> rate, cpu;
      std::vector<int64_t> mem;
      for (const Measurement& m : way.runs) {
        rate.push_back(m.events_per_second);
        cpu.push_back(m.cpu_seconds_per_million);
        mem.push_back(m.peak_added_bytes);
      }
      median_rate[way.name] = Median(rate);
      std::printf(
          "  %-8s %6.2f M events/s  cpu %.3f s/M events  peak +%5.0f MiB "
          "(min %.2f, max %.2f M events/s)\n",
          way.name.c_str(), Median(rate) / 1e6, Median(cpu), MiB(Median(mem)),
          *std::min_element(rate.begin(), rate.end()) / 1e6,
          *std::max_element(rate.begin(), rate.end()) / 1e6);
    }
    auto ratio = [&](const std::string& a, const std::string& b) -> std::string {
      if (!median_rate.contains(a) || !median_rate.contains(b)) return "n/a";
      return absl::StrFormat("%.2f", median_rate[a] / median_rate[b]);
    };
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    std::printf("process ru_maxrss so far: %.0f MiB (the input included)\n",
                static_cast<double>(u.ru_maxrss) / 1024);
    std::printf("brook_p1/hand=%s brook_p2/brook_p1=%s checksums=%s\n",
                ratio("brook_p1", "hand").c_str(), ratio("brook_p2", "brook_p1").c_str(),
                all_agree ? "agree" : "DISAGREE");
    std::fflush(stdout);
  }
  return all_agree ? 0 : 1;
}
