// File: brook/watermark_strategy.h
//
// WatermarkStrategy<T> = timestamp assigner + watermark generator (+ optional
// idleness), as Flink's WatermarkStrategy. Attach one to a source:
// Example:
//   auto strategy = brook::WatermarkStrategy<Event>::ForBoundedOutOfOrderness(
//                       absl::Seconds(5))
//                       .WithTimestampAssigner([](const Event& e) { return e.ts_ms; })
//                       .WithIdleness(absl::Minutes(1));
//
// When watermarks are emitted (DESIGN.md §4): a bounded source (a file) asks
// the generator after every `N` records by input position and at the end of
// input, so output is deterministic; an unbounded source asks it every
// `auto_watermark_interval` of processing time (default 200 ms, as Flink's
// pipeline.auto-watermark-interval).
#ifndef BROOK_WATERMARK_STRATEGY_H_
#define BROOK_WATERMARK_STRATEGY_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "brook/serialization.h"
#include "brook/time.h"

namespace brook {

// WatermarkGenerator: sees every event's timestamp and is asked for the
// current watermark (Flink's WatermarkGenerator onEvent/onPeriodicEmit). The
// runtime guarantees watermarks never go backwards whatever it returns.
// Not thread-safe; one per source subtask.
class WatermarkGenerator {
 public:
  virtual ~WatermarkGenerator() = default;
  virtual void OnEvent(int64_t timestamp_ms) = 0;
  // The watermark to emit now, or nullopt for none.
  virtual std::optional<int64_t> OnPeriodicEmit() = 0;
  // Checkpointing: the generator's state (e.g. the maximum timestamp seen),
  // so that a restored source emits the same watermarks as before the
  // failure. kDataLoss from RestoreState for bytes that do not decode.
  virtual std::string SnapshotState() const { return std::string(); }
  virtual absl::Status RestoreState(std::string_view /*state*/) { return absl::OkStatus(); }
};

// As Flink's BoundedOutOfOrdernessWatermarks: max_ts starts at
// INT64_MIN + d + 1 and the watermark is max_ts - d - 1, i.e. events up to `d`
// behind the maximum seen are still on time.
class BoundedOutOfOrdernessWatermarks final : public WatermarkGenerator {
 public:
  explicit BoundedOutOfOrdernessWatermarks(absl::Duration max_out_of_orderness)
      : delay_ms_(std::max<int64_t>(0, ToMillis(max_out_of_orderness))),
        max_timestamp_ms_(kMinTimestampMs + delay_ms_ + 1) {}
  void OnEvent(int64_t timestamp_ms) override {
    max_timestamp_ms_ = std::max(max_timestamp_ms_, timestamp_ms);
  }
  std::optional<int64_t> OnPeriodicEmit() override {
    return max_timestamp_ms_ - delay_ms_ - 1;
  }
  int64_t max_timestamp_ms() const { return max_timestamp_ms_; }
  std::string SnapshotState() const override { return SerializeToString(max_timestamp_ms_); }
  absl::Status RestoreState(std::string_view state) override {
    return DeserializeFromString(state, &max_timestamp_ms_);
  }

 private:
  int64_t delay_ms_;
  int64_t max_timestamp_ms_;
};

// Emits nothing (Flink's NoWatermarksGenerator): event time only advances at
// the end of a bounded input.
class NoWatermarksGenerator final : public WatermarkGenerator {
 public:
  void OnEvent(int64_t) override {}
  std::optional<int64_t> OnPeriodicEmit() override { return std::nullopt; }
};

template <typename T>
class WatermarkStrategy {
 public:
  using TimestampAssigner = std::function<int64_t(const T&)>;
  using GeneratorFactory = std::function<std::unique_ptr<WatermarkGenerator>()>;

  // Watermark = max timestamp seen - d - 1 (BoundedOutOfOrdernessWatermarks).
  static WatermarkStrategy ForBoundedOutOfOrderness(absl::Duration d) {
    return WatermarkStrategy([d] {
      return std::make_unique<BoundedOutOfOrdernessWatermarks>(d);
    });
  }
  // Timestamps never decrease: bounded out-of-orderness with d = 0, as Flink's
  // AscendingTimestampsWatermarks.
  static WatermarkStrategy ForMonotonousTimestamps() {
    return ForBoundedOutOfOrderness(absl::ZeroDuration());
  }
  static WatermarkStrategy NoWatermarks() {
    return WatermarkStrategy([] { return std::make_unique<NoWatermarksGenerator>(); });
  }
  // Any generator, e.g. a user's own.
  static WatermarkStrategy ForGenerator(GeneratorFactory factory) {
    return WatermarkStrategy(std::move(factory));
  }

  // Takes the event timestamp (epoch ms) from each record. Without one, the
  // timestamp the source attached is used (0 when it attached none).
  WatermarkStrategy WithTimestampAssigner(TimestampAssigner assigner) const {
    WatermarkStrategy s = *this;
    s.assigner_ = std::move(assigner);
    return s;
  }
  // Marks a source subtask idle after `timeout` of processing time without
  // records, so it does not hold back downstream watermarks (Flink's
  // withIdleness); it becomes active again with its next record.
  // Only unbounded sources go idle: a bounded one is never waiting for data.
  WatermarkStrategy WithIdleness(absl::Duration timeout) const {
    WatermarkStrategy s = *this;
    s.idleness_ = timeout;
    return s;
  }
  // How many records a bounded source reads between two watermarks (default
  // 1000). Deterministic by input position, so replays give the same output.
  WatermarkStrategy WithRecordsPerWatermark(int64_t n) const {
    WatermarkStrategy s = *this;
    s.records_per_watermark_ = std::max<int64_t>(1, n);
    return s;
  }
  // How often an unbounded source emits watermarks (default 200 ms).
  WatermarkStrategy WithAutoWatermarkInterval(absl::Duration interval) const {
    WatermarkStrategy s = *this;
    s.auto_watermark_interval_ = interval;
    return s;
  }

  const TimestampAssigner& timestamp_assigner() const { return assigner_; }
  std::unique_ptr<WatermarkGenerator> CreateGenerator() const { return factory_(); }
  absl::Duration idleness() const { return idleness_; }
  int64_t records_per_watermark() const { return records_per_watermark_; }
  absl::Duration auto_watermark_interval() const { return auto_watermark_interval_; }

 private:
  explicit WatermarkStrategy(GeneratorFactory factory) : factory_(std::move(factory)) {}

  GeneratorFactory factory_;
  TimestampAssigner assigner_;
  absl::Duration idleness_ = absl::ZeroDuration();  // zero: never idle
  int64_t records_per_watermark_ = 1000;
  absl::Duration auto_watermark_interval_ = absl::Milliseconds(200);
};

}  // namespace brook

#endif  // BROOK_WATERMARK_STRATEGY_H_
