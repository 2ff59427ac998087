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
//            one thread);
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
// threads), the peak resident memory it added (RSS sampled from
// /proc/self/statm every 5 ms, and ru_maxrss, above the RSS before the run:
// the input is held by all three)
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
// (FNV-1a + fmix64) with no engine behind it.
inline uint64_t FingerprintOf(const Detection& d) {
  return brook::ops::Fingerprinter()
      .Add(d.geographical_location_oid)
      .Add(d.video_camera_oid)
      .Add(d.item_name)
      .Add(d.timestamp_detected_ms)
      .value();
}

// Item string -> dense id; strings in a deque so the views stay valid.
class Interner {
 public:
  uint32_t Intern(std::string_view s) {
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
    const uint32_t id = static_cast<uint32_t>(items_.size());
    items_.emplace_back(s);
    ids_.emplace(std::string_view(items_.back()), id);
    return id;
  }
  const std::string& Item(uint32_t id) const { return items_[id]; }
  size_t size() const { return items_.size(); }

 private:
  std::deque<std::string> items_;
  absl::flat_hash_map<std::string_view, uint32_t> ids_;
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
  void Prefetch(int64_t id) const { __builtin_prefetch(&slots_[Home(id)], 1, 3); }

  // The id's slot, and whether it was inserted (then only `id` is set).
  std::pair<Slot*, bool> FindOrInsert(int64_t id) {
    if (id == kEmpty) {
      const bool inserted = !has_empty_key_;
      has_empty_key_ = true;
      empty_key_slot_.id = id;
      return {&empty_key_slot_, inserted};
    }
    for (size_t i = Home(id);; i = (i + 1) & mask_) {
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
  size_t Home(int64_t id) const { return Fmix64(static_cast<uint64_t>(id)) & mask_; }
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
    // Forever: every id of the input may stay; with retention, those of
    // about one retention period (they are swept), at least the window's.
    seen_.Reserve(kRetention ? std::min(input.size(), size_t{1} << 20) : input.size());
    int64_t max_ts = brook::kMinTimestampMs + c_.watermark_delay_ms + 1;
    int64_t since_watermark = 0;
    const size_t n = input.size();
    // The input record 64 places ahead (so that reading the id below does
    // not stall), the dedup slot of the record 16 places ahead.
    constexpr size_t kInputPrefetch = 64, kSlotPrefetch = 16;
    for (size_t i = 0; i < n; ++i) {
      if (i + kInputPrefetch < n) __builtin_prefetch(&input[i + kInputPrefetch], 0, 3);
      if (i + kSlotPrefetch < n) seen_.Prefetch(input[i + kSlotPrefetch].detection.detection_oid);
      const Detection& d = input[i].detection;
      const int64_t ts = d.timestamp_detected_ms;
      max_ts = std::max(max_ts, ts);
      Process(d, ts);
      if (++since_watermark == c_.records_per_watermark) {
        since_watermark = 0;
        AdvanceWatermark(max_ts - c_.watermark_delay_ms - 1);
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
    const uint64_t off = static_cast<uint64_t>(oid - location_base_);
    return off < location_dense_.size() ? location_dense_[off] : -1;
  }

  void Process(const Detection& d, int64_t ts) {
    // Dedup, keep first; an id expires once first_ms + retention <= watermark.
    const uint64_t fp = FingerprintOf(d);
    auto [slot, inserted] = seen_.FindOrInsert(d.detection_oid);
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
    const int32_t loc = LocationIndex(d.geographical_location_oid);
    if (loc < 0) {
      ++outcome_.unknown_location;
      return;
    }
    // Tumbling window; a window whose end - 1 <= watermark has fired: late.
    int64_t r = ts % c_.window_ms;
    if (r < 0) r += c_.window_ms;
    const int64_t start = ts - r;
    if (start + c_.window_ms - 1 <= watermark_ms_) {
      ++outcome_.late;
      return;
    }
    Window& w = WindowAt(start);
    const uint32_t item = interner_.Intern(d.item_name);
    if (item >= item_capacity_) GrowItems();
    ++w.counts[static_cast<size_t>(loc) * item_capacity_ + item];
    ++w.per_location[static_cast<size_t>(loc)];
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
    w.counts.assign(location_oids_.size() * item_capacity_, 0);
    w.per_location.assign(location_oids_.size(), 0);
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

  void Fire(const Window& w) {
    const int64_t end = w.start_ms + c_.window_ms;
    for (size_t l = 0; l < location_oids_.size(); ++l) {
      if (w.per_location[l] == 0) continue;
      ++outcome_.windows_fired;
      ranked_.clear();
      const int32_t* row = &w.counts[l * item_capacity_];
      for (uint32_t id = 0; id < interner_.size(); ++id) {
        if (row[id] != 0) ranked_.push_back({row[id], id});
      }
      const size_t k = std::min(ranked_.size(), static_cast<size_t>(c_.top_k));
      std::partial_sort(ranked_.begin(), ranked_.begin() + static_cast<std::ptrdiff_t>(k),
                        ranked_.end(), [this](const auto& a, const auto& b) {
                          if (a.first != b.first) return a.first > b.first;
                          return interner_.Item(a.second) < interner_.Item(b.second);
                        });
      for (size_t i = 0; i < k; ++i) {
        outcome_.checksum.Add(RowHash(w.start_ms, end, location_oids_[l],
                                      static_cast<int64_t>(i + 1),
                                      interner_.Item(ranked_[i].second), ranked_[i].first));
      }
    }
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
  Window* last_window_ = nullptr;  // the window of the previous record
  std::vector<std::pair<int64_t, uint32_t>> ranked_;
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

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
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
  int64_t peak_added_bytes = 0;  // peak RSS during the run above RSS before it
  int64_t rss_before_bytes = 0;
};

template <typename T>
T Median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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
    const double cpu0 = CpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    outcome = run();
    m.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m.cpu_seconds_per_million = (CpuSeconds() - cpu0) / (events / 1e6);
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
            "rep %d %-8s %6.2f M events/s  wall %6.2f s  cpu %.3f s/M events  "
            "peak +%5.0f MiB (rss before %.0f MiB)  %s\n",
            rep + 1, way.name.c_str(), m.events_per_second / 1e6, m.wall_seconds,
            m.cpu_seconds_per_million, MiB(m.peak_added_bytes), MiB(m.rss_before_bytes),
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
