// File: brook/window.h
//
// Event-time windows, with Flink's semantics (DESIGN.md §6): window assigners
// (tumbling, sliding, global), an event-time trigger with allowed lateness and
// a side output for late data, optional early firings, and a keyed window
// operator that runs an incremental aggregate per key and window.
// Example:
//   brook::OutputTag<Event> late("late-events");
//   auto counts = env.FromCollection(events, strategy)
//       .KeyBy(&Event::user_id)
//       .Window(brook::TumblingEventTimeWindows::Of(absl::Minutes(1)))
//       .AllowedLateness(absl::Seconds(30))
//       .SideOutputLateData(late)
//       .Aggregate(CountPerWindow(), "count-per-minute");
//   counts.GetSideOutput(late).SinkTo(late_sink);
//
// The window operator is an ordinary KeyedProcessFunction written against the
// public API (ValueState + TimerService + OutputTag), so it can also be used
// directly: `keyed.Process(brook::WindowOperator<K, T, Agg>(agg, options))`.
//
// Semantics (each rule is Flink's WindowOperator + EventTimeTrigger):
// - A record with timestamp ts belongs to the windows AssignWindows(ts)
//   returns. A window [start, end) has max_timestamp() = end - 1.
// - The event-time trigger fires a window once `max_timestamp <= watermark`:
//   an event-time timer at max_timestamp emits the window's result with the
//   output timestamp max_timestamp (Flink's TimestampedCollector).
// - A window is late when `max_timestamp + allowed_lateness <= watermark`
//   (WindowOperator.isWindowLate); a record is not added to its late windows.
//   A record none of whose windows accepted it, and that is itself late
//   (`ts + allowed_lateness <= watermark`), goes to the late-data side output
//   when one is set, else is dropped and counted in num_late_records_dropped.
// - A record that reaches a window that has already fired but is not late
//   (within the allowed lateness) fires the window again at once with the
//   updated result (EventTimeTrigger.onElement: FIRE when
//   `max_timestamp <= watermark`).
// - A window's state is purged by a cleanup timer at
//   `max_timestamp + allowed_lateness` (saturating), after its firing.
// - Global windows: one window per key covering all time; it is never late
//   and fires only at the end of input (the watermark kMaxWatermarkMs), unless
//   early firings are configured. Allowed lateness is ignored (as Flink does for
//   non-event-time assigners).
// - Early firings (optional, for continuous results): every
//   `early_fire_interval` of processing time (aligned to multiples of the
//   interval, as Flink's ContinuousProcessingTimeTrigger) each key emits the
//   current result of those of its windows that received records since their
//   last firing; and/or every `early_fire_count`-th record of a key and window
//   emits that window's current result (as Flink's CountTrigger). Early
//   results are always followed by the window's final (on-time) result. Early
//   firings by processing time are, by nature, not deterministic. With an
//   early-firings side output (WindowedStream::SideOutputEarlyFirings) they
//   go there, each record stamped with its window's max_timestamp like the
//   main output's, and the main output carries the on-time and late firings
//   only: exactly, and before the same watermarks, what it carries without
//   early firings. The two outputs are separate streams: a consumer of both
//   (e.g. through Union) may see a window's last early firing after its
//   on-time one, so it must tell them apart by stream.
//
// Determinism: timers fire in (timestamp, key) order, so on-time and late
// results come out in a deterministic order for a given input order and
// watermarks; a key's windows fire in window order.
//
// Metrics (RuntimeContext::metrics(), per subtask): num_windows_fired
// (on-time and late firings), num_late_firings, num_early_firings,
// num_late_records (late records: side output or dropped),
// num_late_records_dropped (late records without a side output, Flink's
// numLateRecordsDropped); state_entries counts keys that hold windows.
//
// Errors: an invalid assigner or options (see WindowAssigner::Validate and
// WindowOperatorOptions::Validate) fail the job with kInvalidArgument when it
// is built or opened; a record whose window bounds do not fit in int64 (a
// timestamp within one window size of the int64 range ends, e.g. a record
// that never got a timestamp assigned) fails it with kInvalidArgument.
//
// Thread-safety: as any keyed function, a WindowOperator is called from its
// subtask's thread only; assigners are immutable values.
#ifndef BROOK_WINDOW_H_
#define BROOK_WINDOW_H_

#include <algorithm>
#include <compare>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "brook/functions.h"
#include "brook/key_group.h"
#include "brook/metrics.h"
#include "brook/output_tag.h"
#include "brook/state.h"
#include "brook/status.h"
#include "brook/stream.h"
#include "brook/time.h"

namespace brook {

// TimeWindow: the half-open interval [start_ms, end_ms) of event time (Flink's
// TimeWindow). The global window is [kMinTimestampMs, kMaxWatermarkMs) and its
// max_timestamp() is kMaxWatermarkMs (Flink's GlobalWindow.maxTimestamp()).
struct TimeWindow {
  int64_t start_ms = 0;
  int64_t end_ms = 0;

  // TimeWindow::Global(): the one window of GlobalWindows.
  static constexpr TimeWindow Global() { return TimeWindow{kMinTimestampMs, kMaxWatermarkMs}; }
  constexpr bool is_global() const {
    return start_ms == kMinTimestampMs && end_ms == kMaxWatermarkMs;
  }
  // TimeWindow::max_timestamp(): the largest timestamp in the window, end - 1;
  // the event-time trigger fires the window once the watermark reaches it.
  constexpr int64_t max_timestamp() const { return is_global() ? kMaxWatermarkMs : end_ms - 1; }

  friend constexpr bool operator==(const TimeWindow&, const TimeWindow&) = default;
  friend constexpr auto operator<=>(const TimeWindow&, const TimeWindow&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const TimeWindow& w) {
    return H::combine(std::move(h), w.start_ms, w.end_ms);
  }
};

// GetWindowStartWithOffset(): the start of the window of `size` (ms, > 0),
// shifted by `offset` (ms), that contains `ts`. Current Flink's
// TimeWindow.getWindowStartWithOffset, correct for negative timestamps:
//   r = (ts - offset) % size;  start = r < 0 ? ts - (r + size) : ts - r
// e.g. (ts=-1, offset=0, size=10) -> -10; (ts=-15, offset=3, size=10) -> -17.
// REQUIRES: size > 0 and no int64 overflow (|ts| not within size of the range
// ends); WindowAssigner::AssignWindows checks this.
constexpr int64_t GetWindowStartWithOffset(int64_t ts, int64_t offset, int64_t size) {
  const int64_t r = (ts - offset) % size;
  return r < 0 ? ts - (r + size) : ts - r;
}

// WindowAssigner: which windows a record belongs to. A small value type (kind
// plus sizes in ms) so that assigning costs a switch, not a virtual call.
// Build one with TumblingEventTimeWindows::Of, SlidingEventTimeWindows::Of or
// GlobalWindows::Create.
class WindowAssigner {
 public:
  enum class Kind { kTumbling, kSliding, kGlobal };

  // The global assigner.
  WindowAssigner() = default;

  Kind kind() const { return kind_; }
  int64_t size_ms() const { return size_ms_; }
  int64_t slide_ms() const { return slide_ms_; }  // == size_ms() when tumbling
  int64_t offset_ms() const { return offset_ms_; }
  // Whether windows close with event time (Flink's isEventTime()); false for
  // global windows, which therefore know no lateness.
  bool is_event_time() const { return kind_ != Kind::kGlobal; }

  // WindowAssigner::Validate(): kInvalidArgument when the parameters broke
  // Flink's preconditions: tumbling needs |offset| < size; sliding needs
  // size > 0 and |offset| < slide (so slide > 0). Durations are whole ms.
  absl::Status Validate() const {
    if (error_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(error_);
  }

  // WindowAssigner::ForEachWindow(): calls `f(const TimeWindow&)` for each
  // window of a record at `ts`, without allocating: tumbling
  // [start, start + size); sliding [s, s + size) for s = last_start;
  // s > ts - size; s -= slide (latest first, as Flink); global:
  // TimeWindow::Global(). Returns false, having called `f` for no window, when
  // a window bound would overflow int64. The window operator's per-record
  // path. REQUIRES: Validate().ok().
  template <typename F>
  bool ForEachWindow(int64_t ts, F&& f) const {
    switch (kind_) {
      case Kind::kGlobal:
        f(TimeWindow::Global());
        return true;
      case Kind::kTumbling: {
        int64_t start, end;
        if (!StartWithOffset(ts, size_ms_, &start) ||
            __builtin_add_overflow(start, size_ms_, &end)) {
          return false;
        }
        f(TimeWindow{start, end});
        return true;
      }
      case Kind::kSliding: {
        int64_t start, lower, end;
        if (!StartWithOffset(ts, slide_ms_, &start) ||
            __builtin_sub_overflow(ts, size_ms_, &lower)) {
          return false;
        }
        // Checked before the first call: later windows start earlier, so
        // their ends cannot overflow when the latest's does not.
        if (start > lower && __builtin_add_overflow(start, size_ms_, &end)) return false;
        while (start > lower) {
          f(TimeWindow{start, start + size_ms_});
          // Below INT64_MIN is below `lower` too: the loop is over.
          if (__builtin_sub_overflow(start, slide_ms_, &start)) break;
        }
        return true;
      }
    }
    return false;
  }

  // WindowAssigner::AssignWindows(): replaces `windows` with the windows
  // ForEachWindow() visits, in its order. Returns false (and leaves `windows`
  // empty) when a window bound would overflow int64.
  // REQUIRES: Validate().ok().
  bool AssignWindows(int64_t ts, std::vector<TimeWindow>& windows) const {
    windows.clear();
    return ForEachWindow(ts, [&windows](const TimeWindow& w) { windows.push_back(w); });
  }

  std::string DebugString() const {
    switch (kind_) {
      case Kind::kGlobal:
        return "GlobalWindows";
      case Kind::kTumbling:
        return absl::StrCat("TumblingEventTimeWindows(size=", size_ms_, "ms, offset=", offset_ms_,
                            "ms)");
      case Kind::kSliding:
        return absl::StrCat("SlidingEventTimeWindows(size=", size_ms_, "ms, slide=", slide_ms_,
                            "ms, offset=", offset_ms_, "ms)");
    }
    return "?";
  }

 private:
  friend class TumblingEventTimeWindows;
  friend class SlidingEventTimeWindows;
  friend class GlobalWindows;

  WindowAssigner(Kind kind, int64_t size_ms, int64_t slide_ms, int64_t offset_ms)
      : kind_(kind), size_ms_(size_ms), slide_ms_(slide_ms), offset_ms_(offset_ms) {}

  // GetWindowStartWithOffset with overflow checks.
  bool StartWithOffset(int64_t ts, int64_t size, int64_t* start) const {
    int64_t shifted;
    if (__builtin_sub_overflow(ts, offset_ms_, &shifted)) return false;
    const int64_t r = shifted % size;
    return !__builtin_sub_overflow(ts, r < 0 ? r + size : r, start);
  }

  Kind kind_ = Kind::kGlobal;
  int64_t size_ms_ = 0;
  int64_t slide_ms_ = 0;
  int64_t offset_ms_ = 0;
  std::string error_;  // why Validate() fails; empty when valid
};

// Tumbling event-time windows (Flink's TumblingEventTimeWindows): fixed-size,
// non-overlapping windows [start, start + size) with
// start = GetWindowStartWithOffset(ts, offset, size). A non-zero offset shifts
// the window boundaries, e.g. Of(Hours(24), Hours(-8)) for days in UTC+8.
class TumblingEventTimeWindows {
 public:
  static WindowAssigner Of(absl::Duration size, absl::Duration offset = absl::ZeroDuration()) {
    const int64_t size_ms = ToMillis(size);
    const int64_t offset_ms = ToMillis(offset);
    WindowAssigner a(WindowAssigner::Kind::kTumbling, size_ms, size_ms, offset_ms);
    if (size_ms <= 0 || offset_ms <= -size_ms || offset_ms >= size_ms) {
      a.error_ = absl::StrCat("TumblingEventTimeWindows parameters must satisfy abs(offset) < "
                              "size and size > 0 (in whole ms); got size=",
                              size_ms, "ms, offset=", offset_ms, "ms");
    }
    return a;
  }
};

// Sliding event-time windows (Flink's SlidingEventTimeWindows): windows of
// `size` starting every `slide`, so a record belongs to about size / slide
// windows.
class SlidingEventTimeWindows {
 public:
  static WindowAssigner Of(absl::Duration size, absl::Duration slide,
                           absl::Duration offset = absl::ZeroDuration()) {
    const int64_t size_ms = ToMillis(size);
    const int64_t slide_ms = ToMillis(slide);
    const int64_t offset_ms = ToMillis(offset);
    WindowAssigner a(WindowAssigner::Kind::kSliding, size_ms, slide_ms, offset_ms);
    if (size_ms <= 0 || slide_ms <= 0 || offset_ms <= -slide_ms || offset_ms >= slide_ms) {
      a.error_ = absl::StrCat("SlidingEventTimeWindows parameters must satisfy abs(offset) < "
                              "slide and size > 0 (in whole ms); got size=",
                              size_ms, "ms, slide=", slide_ms, "ms, offset=", offset_ms, "ms");
    }
    return a;
  }
};

// Global windows (Flink's GlobalWindows): every record of a key goes to one
// window, which fires at the end of a bounded input (watermark
// kMaxWatermarkMs) or by early firings. Over a bounded input this gives the
// batch answer.
class GlobalWindows {
 public:
  static WindowAssigner Create() { return WindowAssigner(); }
};

// An incremental window aggregate (Flink's AggregateFunction, with the
// window and key passed to GetResult as Flink's ProcessWindowFunction gets
// them):
// Example:
//   struct CountPerWindow {
//     using Accumulator = int64_t;
//     using OutputType = std::pair<int64_t, int64_t>;  // (key, count)
//     Accumulator CreateAccumulator() const { return 0; }
//     void Add(const Event& e, Accumulator& acc) { ++acc; }
//     void GetResult(const Accumulator& acc, const brook::TimeWindow& w,
//                    const int64_t& key, std::vector<OutputType>& out) {
//       out.push_back({key, acc});
//     }
//   };
//
// GetResult appends the firing's output records to `out` (any number); they
// are emitted with timestamp window.max_timestamp(). It is called for every
// firing (early, on-time, late), so it must not consume the accumulator.
// Optionally `absl::Status Open(brook::RuntimeContext&)` is called once per
// subtask before any record (to validate parameters or register metrics).
// One copy of the function runs per subtask, so members may hold per-subtask
// caches; the function must be copyable.
template <typename F, typename K, typename T>
concept WindowAggregateFunction =
    std::copy_constructible<F> &&
    requires(F& f, const T& value, typename F::Accumulator& acc,
             const typename F::Accumulator& cacc, const TimeWindow& window, const K& key,
             std::vector<typename F::OutputType>& out) {
      { f.CreateAccumulator() } -> std::convertible_to<typename F::Accumulator>;
      f.Add(value, acc);
      f.GetResult(cacc, window, key, out);
    };

// WindowOperatorOptions<T>: how a window operator over records T assigns,
// fires and purges windows. Defaults: global windows, no lateness, no side
// output (late records are dropped and counted), no early firings.
template <typename T>
struct WindowOperatorOptions {
  WindowAssigner assigner = GlobalWindows::Create();
  // How long after a window fires it still accepts records (each re-fires it);
  // ignored for global windows. Must be >= 0.
  absl::Duration allowed_lateness = absl::ZeroDuration();
  // Where records too late for every window they belong to go; unset: they
  // are dropped and counted in num_late_records_dropped.
  std::optional<OutputTag<T>> late_data;
  // Early firing every interval of processing time for keys whose windows
  // changed since they last fired; zero: off. Must be >= 0 (whole ms).
  absl::Duration early_fire_interval = absl::ZeroDuration();
  // Early firing of a window at every N-th record it receives; 0: off.
  int64_t early_fire_count = 0;
  // The id of an OutputTag<OutputType of the aggregate> that early firings go
  // to; empty: to the main output, with the other firings.
  std::string early_firings_output;

  // WindowOperatorOptions::Validate(): kInvalidArgument naming the bad field.
  absl::Status Validate() const {
    BROOK_RETURN_IF_ERROR(assigner.Validate());
    if (allowed_lateness < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "window allowed_lateness must be >= 0, got ", absl::FormatDuration(allowed_lateness)));
    }
    if (early_fire_interval < absl::ZeroDuration() ||
        (early_fire_interval > absl::ZeroDuration() && ToMillis(early_fire_interval) == 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("window early_fire_interval must be 0 (off) or >= 1ms, got ",
                       absl::FormatDuration(early_fire_interval)));
    }
    if (early_fire_count < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("window early_fire_count must be >= 0, got ", early_fire_count));
    }
    return absl::OkStatus();
  }
};

namespace window_internal {

// One window of one key: its accumulator and firing bookkeeping.
template <typename Acc>
struct WindowEntry {
  TimeWindow window;
  Acc acc;
  int64_t num_records = 0;       // added so far, for early_fire_count
  bool changed = false;          // records added since the last firing
};

// All windows of one key (the value of the "window-contents" ValueState),
// sorted by window. A key usually has one or a few open windows (up to
// size / slide for sliding windows), so a sorted vector beats a map.
template <typename Acc>
struct KeyWindows {
  static constexpr int64_t kNoTimer = kMinTimestampMs;
  std::vector<WindowEntry<Acc>> windows;
  // The pending early-firing processing-time timer of this key, if any.
  int64_t early_timer_ms = kNoTimer;
};

// KeyWindows<Acc> for checkpoints: windows (start, end, accumulator, record
// count, changed flag) and the early-firing timer, the accumulators through
// `acc` (the aggregate's own serializer or TypeSerializer<Acc>).
template <typename Acc>
class KeyWindowsSerializer final : public StateSerializer<KeyWindows<Acc>> {
 public:
  explicit KeyWindowsSerializer(std::shared_ptr<const StateSerializer<Acc>> acc)
      : acc_(std::move(acc)) {}
  void Serialize(const KeyWindows<Acc>& v, DataOutputView& out) const override {
    out.WriteInt64(v.early_timer_ms);
    out.WriteVarint(v.windows.size());
    for (const WindowEntry<Acc>& e : v.windows) {
      out.WriteInt64(e.window.start_ms);
      out.WriteInt64(e.window.end_ms);
      out.WriteInt64(e.num_records);
      out.WriteUint8(e.changed ? 1 : 0);
      acc_->Serialize(e.acc, out);
    }
  }
  absl::Status Deserialize(DataInputView& in, KeyWindows<Acc>* v) const override {
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&v->early_timer_ms));
    size_t n = 0;
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n, 25));
    v->windows.clear();
    v->windows.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      WindowEntry<Acc>& e = v->windows.emplace_back();
      uint8_t changed = 0;
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&e.window.start_ms));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&e.window.end_ms));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&e.num_records));
      BROOK_RETURN_IF_ERROR(in.ReadUint8(&changed));
      if (changed > 1) return absl::DataLossError("window entry: changed flag is not 0 or 1");
      e.changed = changed == 1;
      BROOK_RETURN_IF_ERROR(acc_->Deserialize(in, &e.acc));
    }
    return absl::OkStatus();
  }
  std::shared_ptr<const StateSerializer<KeyWindows<Acc>>> Duplicate() const override {
    return std::make_shared<KeyWindowsSerializer<Acc>>(acc_->Duplicate());
  }

 private:
  std::shared_ptr<const StateSerializer<Acc>> acc_;
};

// An aggregate whose accumulators need a runtime serializer (e.g. ids of a
// subtask-local dictionary) provides one; it is created once, in Open().
template <typename Agg>
concept HasAccumulatorSerializer = requires(Agg& agg) {
  { agg.AccumulatorSerializer() }
      -> std::convertible_to<std::shared_ptr<const StateSerializer<typename Agg::Accumulator>>>;
};

}  // namespace window_internal

// WindowOperator<K, T, Agg>: the keyed window operator, as a
// KeyedProcessFunction over records T keyed by K, running the aggregate `Agg`
// (a WindowAggregateFunction) per key and window. Use it through
// KeyedStream::Window(...).Aggregate(...), or directly with
// KeyedStream::Process(). See the file comment for the semantics.
//
// State: one ValueState entry ("window-contents") per key with open windows,
// holding each window's accumulator; timers: one event-time timer per window
// end (and cleanup time), one processing-time timer per key with unfired
// changes when early_fire_interval is set.
template <Key K, typename T, typename Agg>
  requires WindowAggregateFunction<Agg, K, T>
class WindowOperator : public KeyedProcessFunction<K, T, typename Agg::OutputType> {
  using Base = KeyedProcessFunction<K, T, typename Agg::OutputType>;

 public:
  using Out = typename Agg::OutputType;
  using Acc = typename Agg::Accumulator;
  using typename Base::Context;
  using typename Base::OnTimerContext;
  using typename Base::RuntimeContext;

  WindowOperator(Agg agg, WindowOperatorOptions<T> options)
      : agg_(std::move(agg)), options_(std::move(options)) {}

  const WindowOperatorOptions<T>& options() const { return options_; }

  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_RETURN_IF_ERROR(options_.Validate());
    const WindowAssigner& a = options_.assigner;
    lateness_ms_ = a.is_event_time() ? ToMillis(options_.allowed_lateness) : 0;
    early_interval_ms_ = ToMillis(options_.early_fire_interval);
    if (!options_.early_firings_output.empty()) early_tag_.emplace(options_.early_firings_output);
    // Window contents are checkpointed with the keyed state: accumulators
    // through the aggregate's AccumulatorSerializer() when it has one, else
    // TypeSerializer<Acc>; neither makes a checkpoint fail (not the job).
    std::shared_ptr<const StateSerializer<Acc>> acc_serializer;
    if constexpr (window_internal::HasAccumulatorSerializer<Agg>) {
      acc_serializer = agg_.AccumulatorSerializer();
    } else if constexpr (Serializable<Acc>) {
      acc_serializer = std::make_shared<TypeSerializerAdapter<Acc>>();
    }
    std::shared_ptr<const StateSerializer<window_internal::KeyWindows<Acc>>> serializer;
    if (acc_serializer != nullptr) {
      serializer =
          std::make_shared<window_internal::KeyWindowsSerializer<Acc>>(std::move(acc_serializer));
    }
    BROOK_ASSIGN_OR_RETURN(
        contents_, ctx.GetState(ValueStateDescriptor<window_internal::KeyWindows<Acc>>(
                       "window-contents", {}, std::move(serializer))));
    MetricGroup& m = ctx.metrics();
    windows_fired_ = m.GetCounter("num_windows_fired");
    late_firings_ = m.GetCounter("num_late_firings");
    early_firings_ = m.GetCounter("num_early_firings");
    late_records_ = m.GetCounter("num_late_records");
    late_dropped_ = m.GetCounter("num_late_records_dropped");
    if constexpr (requires(Agg& f, brook::RuntimeContext& rc) {
                    { f.Open(rc) } -> std::convertible_to<absl::Status>;
                  }) {
      BROOK_RETURN_IF_ERROR(agg_.Open(static_cast<brook::RuntimeContext&>(ctx)));
    }
    return absl::OkStatus();
  }

  absl::Status ProcessElement(const T& value, Context& ctx, Collector<Out>& out) override {
    return Process(value, ctx, out);
  }
  // The runtime's overload: a late record moves to the late-data output.
  absl::Status ProcessElement(T&& value, Context& ctx, Collector<Out>& out) override {
    return Process(std::move(value), ctx, out);
  }

 private:
  // Per record: the windows are visited without a vector (ForEachWindow), and
  // the key's one "window-contents" entry (looked up once, on the record's
  // first accepting window) holds all its windows' accumulators; the newest
  // window, where most records go, is checked before a binary search.
  // V: const T& or T (moved from).
  template <typename V>
  absl::Status Process(V&& value, Context& ctx, Collector<Out>& out) {
    const int64_t ts = ctx.timestamp();
    TimerService& timers = ctx.timer_service();
    const int64_t watermark = timers.CurrentWatermark();
    window_internal::KeyWindows<Acc>* state = nullptr;
    bool accepted = false;
    const bool assigned = options_.assigner.ForEachWindow(ts, [&](const TimeWindow& w) {
      const int64_t cleanup = CleanupTime(w);
      // WindowOperator.isWindowLate: a purged (or due to be purged) window
      // takes no more records.
      if (options_.assigner.is_event_time() && cleanup <= watermark) return;
      accepted = true;
      if (state == nullptr) {
        state = contents_.GetMutable();
        if (state == nullptr) {
          contents_.Update(window_internal::KeyWindows<Acc>{});
          state = contents_.GetMutable();
        }
      }
      window_internal::WindowEntry<Acc>& e = FindOrAddWindow(*state, w, cleanup, timers);
      agg_.Add(value, e.acc);
      ++e.num_records;
      if (w.max_timestamp() <= watermark) {
        // Late but within the allowed lateness: fire again with the update.
        windows_fired_->Inc();
        late_firings_->Inc();
        Fire(e, ctx.GetCurrentKey(), /*early=*/false, ctx, out);
      } else if (options_.early_fire_count > 0 &&
                 e.num_records % options_.early_fire_count == 0) {
        early_firings_->Inc();
        Fire(e, ctx.GetCurrentKey(), /*early=*/true, ctx, out);
      } else {
        e.changed = true;
        if (early_interval_ms_ > 0 &&
            state->early_timer_ms == window_internal::KeyWindows<Acc>::kNoTimer) {
          // Aligned to the interval, as ContinuousProcessingTimeTrigger, so
          // that keys' early firings coalesce.
          const int64_t now = timers.CurrentProcessingTime();
          int64_t mod = now % early_interval_ms_;
          if (mod < 0) mod += early_interval_ms_;
          state->early_timer_ms = SaturatingAdd(now - mod, early_interval_ms_);
          timers.RegisterProcessingTimeTimer(state->early_timer_ms);
        }
      }
    });
    if (!assigned) {
      return absl::InvalidArgumentError(
          absl::StrCat("window operator: record timestamp ", ts, " ms is too close to the int64 "
                       "range ends for ", options_.assigner.DebugString(),
                       " (was a timestamp assigned?)"));
    }
    // Flink: a record skipped by every window is late-data output only if it
    // is itself late (isElementLate), which for time windows it always is.
    if (!accepted && options_.assigner.is_event_time() &&
        SaturatingAdd(ts, lateness_ms_) <= watermark) {
      late_records_->Inc();
      if (options_.late_data.has_value()) {
        ctx.Output(*options_.late_data, std::forward<V>(value));
      } else {
        late_dropped_->Inc();
      }
    }
    return absl::OkStatus();
  }

 public:
  absl::Status OnTimer(int64_t timestamp_ms, OnTimerContext& ctx, Collector<Out>& out) override {
    window_internal::KeyWindows<Acc>* state = contents_.GetMutable();
    if (state == nullptr) return absl::OkStatus();
    const K& key = ctx.GetCurrentKey();
    if (ctx.time_domain() == TimeDomain::kProcessingTime) {
      // Early firing: only the windows that changed since they last fired.
      if (timestamp_ms != state->early_timer_ms) return absl::OkStatus();
      state->early_timer_ms = window_internal::KeyWindows<Acc>::kNoTimer;
      for (auto& e : state->windows) {
        if (e.changed) {
          early_firings_->Inc();
          Fire(e, key, /*early=*/true, ctx, out);
        }
      }
      return absl::OkStatus();
    }
    // One timer may be several windows' firing and cleanup time (timers are
    // deduplicated per key and timestamp): fire first, then purge, as
    // WindowOperator.onEventTime.
    for (auto& e : state->windows) {
      if (e.window.max_timestamp() == timestamp_ms) {
        windows_fired_->Inc();
        Fire(e, key, /*early=*/false, ctx, out);
      }
    }
    std::erase_if(state->windows, [&](const window_internal::WindowEntry<Acc>& e) {
      return CleanupTime(e.window) <= timestamp_ms;
    });
    if (state->windows.empty()) {
      if (state->early_timer_ms != window_internal::KeyWindows<Acc>::kNoTimer) {
        ctx.timer_service().DeleteProcessingTimeTimer(state->early_timer_ms);
      }
      contents_.Clear();
    }
    return absl::OkStatus();
  }

 private:
  // The entry of window `w` in the key's sorted windows, added (with its
  // timers) when new. The newest window is checked first: with tumbling
  // windows and ordered input nearly every record goes there.
  window_internal::WindowEntry<Acc>& FindOrAddWindow(window_internal::KeyWindows<Acc>& state,
                                                      const TimeWindow& w, int64_t cleanup,
                                                      TimerService& timers) {
    auto& windows = state.windows;
    if (!windows.empty() && windows.back().window == w) return windows.back();
    auto it = std::lower_bound(
        windows.begin(), windows.end(), w,
        [](const window_internal::WindowEntry<Acc>& e, const TimeWindow& x) {
          return e.window < x;
        });
    if (it != windows.end() && it->window == w) return *it;
    it = windows.insert(it, window_internal::WindowEntry<Acc>{w, agg_.CreateAccumulator()});
    // EventTimeTrigger.onElement registers the firing timer unless the window
    // is already due; WindowOperator.registerCleanupTimer. Timers are
    // deduplicated per key and timestamp, so without allowed lateness (cleanup
    // == max_timestamp) one registration is both.
    const int64_t watermark = timers.CurrentWatermark();
    const bool fire_timer = w.max_timestamp() > watermark;
    if (fire_timer) timers.RegisterEventTimeTimer(w.max_timestamp());
    if (!fire_timer || cleanup != w.max_timestamp()) timers.RegisterEventTimeTimer(cleanup);
    return *it;
  }

  // WindowOperator.cleanupTime: max_timestamp + allowed lateness, saturating.
  int64_t CleanupTime(const TimeWindow& w) const {
    return SaturatingAdd(w.max_timestamp(), lateness_ms_);
  }

  // Emits the window's current result, stamped with its max_timestamp
  // (Flink's emitWindowContents): to the early-firings side output if
  // `early` and one is set, else to `out`.
  void Fire(window_internal::WindowEntry<Acc>& e, const K& key, bool early, Context& ctx,
            Collector<Out>& out) {
    e.changed = false;
    buffer_.clear();
    agg_.GetResult(static_cast<const Acc&>(e.acc), e.window, key, buffer_);
    const int64_t ts = e.window.max_timestamp();
    if (early && early_tag_.has_value()) {
      for (Out& o : buffer_) ctx.OutputWithTimestamp(*early_tag_, std::move(o), ts);
    } else {
      for (Out& o : buffer_) out.CollectWithTimestamp(std::move(o), ts);
    }
    buffer_.clear();
  }

  Agg agg_;
  WindowOperatorOptions<T> options_;
  int64_t lateness_ms_ = 0;
  int64_t early_interval_ms_ = 0;
  std::optional<OutputTag<Out>> early_tag_;  // set: early firings go there
  ValueState<window_internal::KeyWindows<Acc>> contents_;
  std::vector<Out> buffer_;
  Counter* windows_fired_ = nullptr;
  Counter* late_firings_ = nullptr;
  Counter* early_firings_ = nullptr;
  Counter* late_records_ = nullptr;
  Counter* late_dropped_ = nullptr;
};

// WindowedStream<K, T>: a KeyedStream with a window assigner (Flink's
// WindowedStream), configured fluently and finished by Aggregate().
template <Key K, typename T>
class WindowedStream {
 public:
  WindowedStream(KeyedStream<K, T> input, WindowAssigner assigner) : input_(std::move(input)) {
    options_.assigner = std::move(assigner);
  }

  // See WindowOperatorOptions::allowed_lateness.
  WindowedStream AllowedLateness(absl::Duration lateness) const {
    WindowedStream w = *this;
    w.options_.allowed_lateness = lateness;
    return w;
  }
  // Late records go to `tag`; read them with GetSideOutput(tag) on the stream
  // Aggregate() returns.
  WindowedStream SideOutputLateData(OutputTag<T> tag) const {
    WindowedStream w = *this;
    w.options_.late_data = std::move(tag);
    return w;
  }
  // See WindowOperatorOptions::early_fire_interval.
  WindowedStream EarlyFireEvery(absl::Duration interval) const {
    WindowedStream w = *this;
    w.options_.early_fire_interval = interval;
    return w;
  }
  // See WindowOperatorOptions::early_fire_count.
  WindowedStream EarlyFireEveryCount(int64_t n) const {
    WindowedStream w = *this;
    w.options_.early_fire_count = n;
    return w;
  }
  // Early firings go to the side output `tag` (read it with GetSideOutput(tag)
  // on the stream Aggregate() returns); the main output then carries only the
  // on-time and late firings, as without early firings (see the file
  // comment). O must be the aggregate's OutputType: otherwise Execute() fails
  // with kInvalidArgument.
  template <typename O>
  WindowedStream SideOutputEarlyFirings(const OutputTag<O>& tag) const {
    WindowedStream w = *this;
    w.options_.early_firings_output = tag.id();
    w.early_firings_type_ = std::type_index(typeid(O));
    return w;
  }

  // Runs `agg` per key and window; the stream of its results. Invalid options
  // make Execute() fail with kInvalidArgument.
  template <typename Agg>
    requires WindowAggregateFunction<Agg, K, T>
  DataStream<typename Agg::OutputType> Aggregate(Agg agg, std::string name = "Window") const {
    absl::Status s = options_.Validate();
    if (s.ok() && early_firings_type_.has_value() &&
        *early_firings_type_ != std::type_index(typeid(typename Agg::OutputType))) {
      s = absl::InvalidArgumentError(absl::StrCat("the early-firings side output '",
                                                  options_.early_firings_output,
                                                  "' has another type than the aggregate's output"));
    }
    if (!s.ok()) {
      internal::GraphAccess::Graph(*input_.Partitioned().env()).Fail(
          absl::InvalidArgumentError(absl::StrCat("operator '", name, "': ", s.message())));
    }
    return input_.Process(WindowOperator<K, T, Agg>(std::move(agg), options_), std::move(name));
  }

  const WindowOperatorOptions<T>& options() const { return options_; }

 private:
  KeyedStream<K, T> input_;
  WindowOperatorOptions<T> options_;
  std::optional<std::type_index> early_firings_type_;  // of SideOutputEarlyFirings' tag
};

// KeyedStream::Window() (declared in brook/stream.h): this stream windowed by
// `assigner`.
template <Key K, typename T>
template <typename A>
auto KeyedStream<K, T>::Window(A assigner) const {
  static_assert(std::is_convertible_v<A, WindowAssigner>,
                "KeyedStream::Window takes a brook::WindowAssigner, e.g. "
                "brook::TumblingEventTimeWindows::Of(absl::Minutes(1))");
  return WindowedStream<K, T>(*this, WindowAssigner(std::move(assigner)));
}

}  // namespace brook

#endif  // BROOK_WINDOW_H_
