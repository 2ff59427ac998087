// File: brook/operators/top_k.h
//
// Window Top-K (DESIGN.md §8), as Flink SQL's Window Top-N:
//
//   SELECT * FROM (
//     SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, partition
//                                  ORDER BY cnt DESC, item ASC) AS rank
//     FROM (SELECT window_start, window_end, partition, item, COUNT(*) AS cnt
//           FROM TABLE(TUMBLE(...)) GROUP BY window_start, window_end, partition, item))
//   WHERE rank <= K
//
// Per partition key (the stream's KeyBy key, e.g. a location id) and window,
// the operator counts records per item (a string taken from each record) and,
// when the window fires, emits the top K items as RankedItem rows ranked 1..K
// by count descending, ties broken by item ascending in byte order, so the
// output is deterministic. Fewer than K distinct items: all of them are
// emitted; a window without records emits nothing.
// Example:
//   brook::OutputTag<Sighting> late("late-sightings");
//   auto top = sightings
//       .KeyBy(&Sighting::location_oid)
//       .Window(brook::TumblingEventTimeWindows::Of(absl::Minutes(1)))
//       .AllowedLateness(absl::Seconds(30))
//       .SideOutputLateData(late)
//       .Aggregate(brook::ops::TopK<int64_t, Sighting>(&Sighting::item_name, 10), "top-k");
//
// or, as a KeyedProcessFunction:
// Example:
//   auto top = sightings.KeyBy(&Sighting::location_oid)
//       .Process(brook::ops::WindowTopK<int64_t, Sighting>(
//                    &Sighting::item_name, 10,
//                    {.assigner = brook::GlobalWindows::Create()}), "top-k");
//
// With GlobalWindows over a bounded input the single firing at the end of
// input is the batch answer (top K items per partition over the whole input).
// Window firing, allowed lateness, late-data side output and early firings
// are brook/window.h's (Flink's WindowOperator); with early firings each
// firing emits the current top K of the windows that changed, and the final
// firing of every window follows.
//
// Interning: each subtask maps item strings to dense uint32 ids once per
// record (one string hash), and counts per key and window are kept by id (an
// array indexed by id for the first 1,024 items, a hash map beyond), so
// counting never copies or re-hashes strings. Ranking compares the strings
// themselves for ties, never ids, so results do not depend on the order in
// which a subtask first saw the items (ids differ by subtask and run). The
// dictionary only grows (an item costs its bytes plus about 40 bytes); it is
// meant for item vocabularies (object classes, product ids), not for unbounded
// high-cardinality values. Checkpoints: accumulators hold ids, which are only
// meaningful with their subtask's dictionary, so they are written as item
// strings with counts and re-interned on restore (ids then differ, results
// do not). The asynchronous part of a checkpoint reads an immutable copy of
// the dictionary's strings, re-made only when items were added since the
// previous checkpoint.
//
// Metrics (per subtask), besides the window operator's: top_k_interned_items
// (gauge: distinct items in the dictionary).
//
// Errors: k < 1 fails the job with kInvalidArgument when the operator opens.
#ifndef BROOK_OPERATORS_TOP_K_H_
#define BROOK_OPERATORS_TOP_K_H_

#include <algorithm>
#include <compare>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "brook/functions.h"
#include "brook/key_group.h"
#include "brook/metrics.h"
#include "brook/serialization.h"
#include "brook/state.h"
#include "brook/status.h"
#include "brook/window.h"

namespace brook::ops {

// RankedItem<K>: one row of a Top-K result. For the global window
// window_start_ms = kMinTimestampMs, window_end_ms = kMaxWatermarkMs and
// global_window = true. Emitted with timestamp window max_timestamp (end - 1,
// or kMaxWatermarkMs for the global window).
template <typename K>
struct RankedItem {
  int64_t window_start_ms = 0;  // inclusive, epoch ms
  int64_t window_end_ms = 0;    // exclusive, epoch ms
  bool global_window = false;
  K partition{};                // the KeyBy key
  int32_t rank = 0;             // 1..K
  std::string item;
  int64_t count = 0;            // records of `item` in the window and partition

  friend bool operator==(const RankedItem&, const RankedItem&) = default;
  friend auto operator<=>(const RankedItem&, const RankedItem&) = default;
  friend std::ostream& operator<<(std::ostream& os, const RankedItem& r) {
    return os << "{[" << r.window_start_ms << ", " << r.window_end_ms << ")"
              << (r.global_window ? " global" : "") << " partition=" << r.partition
              << " rank=" << r.rank << " item=\"" << r.item << "\" count=" << r.count << "}";
  }
};

namespace top_k_internal {

// Item string -> dense id, for one subtask. Strings live in a deque (stable
// addresses, so the map's string_view keys stay valid); lookups take a
// string_view, so interning an item already seen allocates nothing.
class ItemDictionary {
 public:
  ItemDictionary() = default;
  // Copies rebuild the index over their own strings (the views must never
  // point into another object's deque).
  ItemDictionary(const ItemDictionary& other) { *this = other; }
  ItemDictionary& operator=(const ItemDictionary& other) {
    if (this == &other) return *this;
    items_.clear();
    ids_.clear();
    for (const std::string& s : other.items_) Intern(s);
    return *this;
  }

  uint32_t Intern(std::string_view item) {
    auto it = ids_.find(item);
    if (it != ids_.end()) return it->second;
    const uint32_t id = static_cast<uint32_t>(items_.size());
    items_.emplace_back(item);
    ids_.emplace(std::string_view(items_.back()), id);
    return id;
  }
  const std::string& Item(uint32_t id) const { return items_[id]; }
  size_t size() const { return items_.size(); }

  // The strings by id, immutable (safe to read from another thread while the
  // dictionary grows); O(1) unless items were added since the last call.
  std::shared_ptr<const std::vector<std::string>> Frozen() const {
    if (frozen_ == nullptr || frozen_->size() != items_.size()) {
      frozen_ = std::make_shared<const std::vector<std::string>>(items_.begin(), items_.end());
    }
    return frozen_;
  }

 private:
  std::deque<std::string> items_;
  absl::flat_hash_map<std::string_view, uint32_t> ids_;
  mutable std::shared_ptr<const std::vector<std::string>> frozen_;
};

}  // namespace top_k_internal

// TopKAggregate<K, T, ItemFn>: the Top-K window aggregate (a
// brook::WindowAggregateFunction). `item_fn(const T&)` returns the item: a
// std::string_view, a const std::string& (e.g. a member pointer such as
// &Detection::item_name) or a std::string. Build it with TopK().
template <Key K, typename T, typename ItemFn>
class TopKAggregate {
 public:
  using ItemResult = std::invoke_result_t<const ItemFn&, const T&>;
  static_assert(std::is_convertible_v<ItemResult, std::string_view>,
                "TopK: item_fn(const T&) must return std::string_view, const std::string& "
                "or std::string");

  // Counts per interned item id, for one key and window: dense (an array
  // indexed by id) for the first kDenseItems ids of the subtask's dictionary,
  // a hash map beyond, so that counting a vocabulary-sized item set never
  // hashes or rehashes, and a high-cardinality one stays bounded per window.
  class Accumulator {
   public:
    static constexpr uint32_t kDenseItems = 1024;

    // `dictionary_size` sizes the dense part on first use (one allocation).
    void Add(uint32_t id, int64_t n, size_t dictionary_size) {
      if (id < kDenseItems) {
        if (id >= dense_.size()) {
          dense_.resize(std::min<size_t>(kDenseItems, std::max<size_t>(
                                                          {dictionary_size, id + size_t{1},
                                                           2 * dense_.size()})));
        }
        if (dense_[id] == 0) ++size_;
        dense_[id] += n;
      } else {
        int64_t& c = sparse_[id];
        if (c == 0) ++size_;
        c += n;
      }
    }
    // Distinct items counted.
    size_t size() const { return size_; }
    // f(id, count) for every item counted, in no particular order.
    template <typename F>
    void ForEach(F f) const {
      for (size_t i = 0; i < dense_.size(); ++i) {
        if (dense_[i] != 0) f(static_cast<uint32_t>(i), dense_[i]);
      }
      for (const auto& [id, count] : sparse_) f(id, count);
    }
    void Clear() {
      dense_.clear();
      sparse_.clear();
      size_ = 0;
    }

   private:
    std::vector<int64_t> dense_;  // by id < kDenseItems; 0: not counted
    absl::flat_hash_map<uint32_t, int64_t> sparse_;  // ids >= kDenseItems
    size_t size_ = 0;
  };
  using OutputType = RankedItem<K>;

  TopKAggregate(ItemFn item_fn, int k) : item_fn_(std::move(item_fn)), k_(k) {}

  int k() const { return k_; }

  absl::Status Open(RuntimeContext& ctx) {
    if (k_ < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("operator '", ctx.operator_name(), "': top-K needs k >= 1, got ", k_));
    }
    interned_gauge_ = ctx.metrics().GetGauge("top_k_interned_items");
    return absl::OkStatus();
  }

  Accumulator CreateAccumulator() const { return Accumulator{}; }

  void Add(const T& value, Accumulator& acc) {
    // decltype(auto): keeps a std::string returned by value alive here.
    decltype(auto) item = std::invoke(item_fn_, value);
    const size_t before = dictionary_.size();
    const uint32_t id = dictionary_.Intern(std::string_view(item));
    if (dictionary_.size() != before && interned_gauge_ != nullptr) {
      interned_gauge_->Set(static_cast<int64_t>(dictionary_.size()));
    }
    acc.Add(id, 1, dictionary_.size());
  }

  void GetResult(const Accumulator& acc, const TimeWindow& window, const K& key,
                 std::vector<RankedItem<K>>& out) {
    ranked_.clear();
    ranked_.reserve(acc.size());
    acc.ForEach([this](uint32_t id, int64_t count) { ranked_.push_back({count, id}); });
    const size_t n = std::min(ranked_.size(), static_cast<size_t>(k_));
    // (count desc, item asc): a total order (items are distinct), so the
    // result is the same whatever order the ids were assigned in.
    std::partial_sort(ranked_.begin(), ranked_.begin() + static_cast<std::ptrdiff_t>(n),
                      ranked_.end(), [this](const Ranked& a, const Ranked& b) {
                        if (a.count != b.count) return a.count > b.count;
                        return dictionary_.Item(a.id) < dictionary_.Item(b.id);
                      });
    const bool global = window.is_global();
    for (size_t i = 0; i < n; ++i) {
      out.push_back(RankedItem<K>{window.start_ms, window.end_ms, global, key,
                                  static_cast<int32_t>(i + 1), dictionary_.Item(ranked_[i].id),
                                  ranked_[i].count});
    }
  }

  // Distinct items interned by this copy (this subtask).
  size_t num_interned_items() const { return dictionary_.size(); }

  // Accumulators in checkpoints: [varint n] n x ([string item][i64 count]),
  // items in byte order (deterministic bytes). Deserialize re-interns into
  // this subtask's dictionary; kDataLoss for bytes that do not decode. Used
  // by WindowOperator (window.h); valid while this aggregate lives.
  std::shared_ptr<const StateSerializer<Accumulator>> AccumulatorSerializer() {
    return std::make_shared<AccSerializer>(&dictionary_, nullptr);
  }

 private:
  struct Ranked {
    int64_t count;
    uint32_t id;
  };

  // Live (dictionary_ != nullptr: the subtask's thread, restores) or frozen
  // (items_: a Duplicate() for the checkpoint I/O thread).
  class AccSerializer final : public StateSerializer<Accumulator> {
   public:
    AccSerializer(top_k_internal::ItemDictionary* dictionary,
                  std::shared_ptr<const std::vector<std::string>> items)
        : dictionary_(dictionary), items_(std::move(items)) {}
    void Serialize(const Accumulator& acc, DataOutputView& out) const override {
      std::vector<std::pair<const std::string*, int64_t>> sorted;
      sorted.reserve(acc.size());
      acc.ForEach([&](uint32_t id, int64_t count) { sorted.emplace_back(&Item(id), count); });
      std::sort(sorted.begin(), sorted.end(),
                [](const auto& a, const auto& b) { return *a.first < *b.first; });
      out.WriteVarint(sorted.size());
      for (const auto& [item, count] : sorted) {
        out.WriteString(*item);
        out.WriteInt64(count);
      }
    }
    absl::Status Deserialize(DataInputView& in, Accumulator* acc) const override {
      if (dictionary_ == nullptr) {
        return absl::InternalError("top-K: a frozen accumulator serializer cannot restore");
      }
      size_t n = 0;
      BROOK_RETURN_IF_ERROR(in.ReadLength(&n, 9));
      acc->Clear();
      std::string_view item;
      for (size_t i = 0; i < n; ++i) {
        size_t len = 0;
        int64_t count = 0;
        BROOK_RETURN_IF_ERROR(in.ReadLength(&len));
        BROOK_RETURN_IF_ERROR(in.ReadView(len, &item));
        BROOK_RETURN_IF_ERROR(in.ReadInt64(&count));
        if (count <= 0) {
          return absl::DataLossError(absl::StrCat("top-K accumulator: item count ", count));
        }
        acc->Add(dictionary_->Intern(item), count, dictionary_->size());
      }
      return absl::OkStatus();
    }
    std::shared_ptr<const StateSerializer<Accumulator>> Duplicate() const override {
      return std::make_shared<AccSerializer>(
          nullptr, items_ != nullptr ? items_ : dictionary_->Frozen());
    }

   private:
    const std::string& Item(uint32_t id) const {
      return items_ != nullptr ? (*items_)[id] : dictionary_->Item(id);
    }
    top_k_internal::ItemDictionary* dictionary_;
    std::shared_ptr<const std::vector<std::string>> items_;
  };

  ItemFn item_fn_;
  int k_;
  top_k_internal::ItemDictionary dictionary_;
  std::vector<Ranked> ranked_;  // scratch, reused across firings
  Counter* interned_gauge_ = nullptr;
};

// TopK<K, T>(item_fn, k): the Top-K aggregate for WindowedStream::Aggregate,
// for a stream of T keyed by K (the partition).
template <Key K, typename T, typename ItemFn>
TopKAggregate<K, T, ItemFn> TopK(ItemFn item_fn, int k) {
  return TopKAggregate<K, T, ItemFn>(std::move(item_fn), k);
}

// WindowTopK<K, T>(item_fn, k, options): Window Top-K as a
// KeyedProcessFunction, for KeyedStream<K, T>::Process.
template <Key K, typename T, typename ItemFn>
WindowOperator<K, T, TopKAggregate<K, T, ItemFn>> WindowTopK(
    ItemFn item_fn, int k, WindowOperatorOptions<T> options) {
  return WindowOperator<K, T, TopKAggregate<K, T, ItemFn>>(
      TopKAggregate<K, T, ItemFn>(std::move(item_fn), k), std::move(options));
}

}  // namespace brook::ops

#endif  // BROOK_OPERATORS_TOP_K_H_
