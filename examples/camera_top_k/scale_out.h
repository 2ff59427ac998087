// File: camera_top_k/scale_out.h
//
// The camera job across N processes (docs/scale-out.md, DESIGN.md §12),
// with Kafka as the substrate. Every process runs the same command with its
// own --process_index and --checkpoint_dir:
//
//   stage one (the process owning an input partition):
//     detections topic (its partitions) -> parse
//     [--repartition_by_detection: -> exchange JOB_ID-dedup-repartition,
//      keyed by detection_oid]
//     -> KeyBy(detection_oid) -> Deduplicate -> LookupJoin(locations)
//     -> KeyBy(location) -> window pre-aggregate: counts per
//        (window, location, item), one PartialCounts per (window, location)
//        when the window closes at this process's watermark
//     -> exchange JOB_ID-topk-repartition, keyed by location
//   stage two (the process owning an exchange partition):
//     exchange partitions -> KeyBy(location) -> MergePartialsTopK: sums the
//     partials of a (window, location) and emits the top X when the
//     exchange's watermark (the minimum over every upstream task) passes the
//     window's end -> this process's --output / --output_topic
//
// Input partitions are owned by Flink's split-owner formula over
// num_processes x parallelism subtasks (KafkaSourceOptions::num_processes).
// The union of the processes' outputs equals one process's output when every
// copy of a detection is in one input partition (a topic keyed by
// detection_oid, or --repartition_by_detection) and out-of-order records stay
// within --out_of_orderness of their partition's maximum.
//
// Stage two is idempotent per upstream task: a partial carries its origin
// (the stage-one subtask's global index) and replaces an earlier partial of
// the same origin, window and location, so a partial that an upstream
// process replays after a restore counts once even if the exchange's
// (task, sequence) check let it through.
//
// Not supported with num_processes > 1 (CameraJob::Create: kInvalidArgument):
// --allowed_lateness (a partial would have to be retracted), --early_fire and
// the dashboard's early firings, inputs other than a Kafka topic.
#ifndef CAMERA_TOP_K_SCALE_OUT_H_
#define CAMERA_TOP_K_SCALE_OUT_H_

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/connectors/kafka/kafka_exchange.h"
#include "brook/functions.h"
#include "brook/metrics.h"
#include "brook/operators/top_k.h"
#include "brook/state.h"
#include "brook/serialization.h"
#include "brook/stream.h"
#include "brook/window.h"
#include "camera_top_k/detection.h"
#include "camera_top_k/scale_out_options.h"

namespace camera {

// One stage-one window firing for one location: every item's count in the
// window, over the records of one upstream subtask (`origin`).
struct PartialCounts {
  int64_t window_start_ms = 0;
  int64_t window_end_ms = 0;
  bool global_window = false;
  int64_t location = 0;
  int32_t origin = 0;  // process_index * parallelism + stage-one subtask
  std::vector<std::pair<std::string, int64_t>> counts;  // (item, count), distinct items

  // When the partial's window fires: end - 1, kMaxWatermarkMs for the
  // global window (the partial's event time, and stage two's timer).
  int64_t max_timestamp() const {
    return global_window ? brook::kMaxWatermarkMs : window_end_ms - 1;
  }
};

}  // namespace camera

// The exchange encodings.
template <>
struct brook::TypeSerializer<camera::PartialCounts> {
  static void Serialize(const camera::PartialCounts& p, DataOutputView& out);
  static absl::Status Deserialize(DataInputView& in, camera::PartialCounts* p);
};
template <>
struct brook::TypeSerializer<camera::Event> {
  static void Serialize(const camera::Event& e, DataOutputView& out);
  static absl::Status Deserialize(DataInputView& in, camera::Event* e);
};

namespace camera {

// Stage one's window aggregate (a brook::WindowAggregateFunction): counts
// per item as the Top-K does (interned ids, TopKAggregate, whose checkpoint
// encoding it keeps), but at the window's firing emits every item's count as
// one PartialCounts instead of the top X.
template <typename T, typename ItemFn>
class PartialCountsAggregate {
  using Inner = brook::ops::TopKAggregate<int64_t, T, ItemFn>;

 public:
  using Accumulator = typename Inner::Accumulator;
  using OutputType = PartialCounts;

  PartialCountsAggregate(ItemFn item_fn, int process_index)
      : inner_(std::move(item_fn), std::numeric_limits<int>::max()),
        process_index_(process_index) {}

  absl::Status Open(brook::RuntimeContext& ctx) {
    origin_ = process_index_ * ctx.parallelism() + ctx.subtask_index();
    return inner_.Open(ctx);
  }
  Accumulator CreateAccumulator() const { return inner_.CreateAccumulator(); }
  void Add(const T& value, Accumulator& acc) { inner_.Add(value, acc); }
  void GetResult(const Accumulator& acc, const brook::TimeWindow& window, const int64_t& key,
                 std::vector<PartialCounts>& out) {
    ranked_.clear();
    inner_.GetResult(acc, window, key, ranked_);
    if (ranked_.empty()) return;
    PartialCounts& p = out.emplace_back();
    p.window_start_ms = window.start_ms;
    p.window_end_ms = window.end_ms;
    p.global_window = window.is_global();
    p.location = key;
    p.origin = origin_;
    p.counts.reserve(ranked_.size());
    for (auto& r : ranked_) p.counts.emplace_back(std::move(r.item), r.count);
  }
  std::shared_ptr<const brook::StateSerializer<Accumulator>> AccumulatorSerializer() {
    return inner_.AccumulatorSerializer();
  }

 private:
  Inner inner_;
  int process_index_;
  int origin_ = 0;
  std::vector<brook::ops::RankedItem<int64_t>> ranked_;  // scratch
};

// Stage two: per location, the partials of each window by origin (a later
// partial of an origin replaces its earlier one); when the watermark reaches
// the window's max_timestamp(), sums them and emits the top `top_x` items
// ranked as brook::ops::TopK does (count descending, item ascending), with
// the emitted rows' timestamp that max_timestamp(). A partial whose window
// has fired already is counted in `num_late_partials` and dropped (cannot
// happen when the exchange's watermark holds, see docs/scale-out.md).
class MergePartialsTopK final
    : public brook::KeyedProcessFunction<int64_t, PartialCounts,
                                         brook::ops::RankedItem<int64_t>> {
 public:
  explicit MergePartialsTopK(int top_x) : top_x_(top_x) {}
  absl::Status Open(RuntimeContext& ctx) override;
  absl::Status ProcessElement(const PartialCounts& partial, Context& ctx,
                              brook::Collector<brook::ops::RankedItem<int64_t>>& out) override;
  absl::Status OnTimer(int64_t timestamp_ms, OnTimerContext& ctx,
                       brook::Collector<brook::ops::RankedItem<int64_t>>& out) override;

  // (window_start_ms, origin -> counts): one window's partials.
  using WindowPartials =
      std::pair<int64_t, std::map<int32_t, std::vector<std::pair<std::string, int64_t>>>>;

 private:
  int top_x_;
  brook::MapState<int64_t, WindowPartials> windows_;  // by max_timestamp()
  brook::Counter* late_partials_ = nullptr;
  brook::Counter* partials_in_ = nullptr;
  brook::Counter* events_in_partials_ = nullptr;
};

// Operator names of the scale-out stages (checkpoint ids: never rename).
inline constexpr char kTopKMerge[] = "top-k-merge";

// The exchanges of a scaled-out job (brook/connectors/kafka/kafka_exchange.h),
// both with upstream and downstream parallelism `parallelism`:
// JOB_ID-topk-repartition keyed by location, and with
// repartition_by_detection JOB_ID-dedup-repartition keyed by detection_oid
// (else null). `bounded`: the input topic is read bounded.
struct ScaleOutExchanges {
  std::shared_ptr<brook::connectors::KafkaExchange<int64_t, PartialCounts>> partials;
  std::shared_ptr<brook::connectors::KafkaExchange<int64_t, Event>> detections;
};
// kInvalidArgument for options the exchange rejects. Connects to nothing.
absl::StatusOr<ScaleOutExchanges> MakeScaleOutExchanges(const ScaleOutOptions& o,
                                                         int parallelism, bool bounded);

// The parsed detections through JOB_ID-dedup-repartition, read back keyed by
// detection_oid in the process that owns them (--repartition_by_detection).
brook::DataStream<Event> ExchangeByDetection(const brook::DataStream<Event>& events,
                                             const ScaleOutExchanges& exchanges);

// Both stages of the windowed Top-K across processes: `joined` records of T
// keyed by location_fn(T) (int64), windowed by `assigner`, late records to
// `late`; returns stage two's ranked rows and stage one's late records.
template <typename T>
struct TwoStageTopKStreams {
  brook::DataStream<brook::ops::RankedItem<int64_t>> top_k;
  brook::DataStream<T> late;
};
template <typename T, typename LocationFn, typename ItemFn>
TwoStageTopKStreams<T> TwoStageTopK(const brook::DataStream<T>& joined, LocationFn location_fn,
                                    ItemFn item_fn, brook::WindowAssigner assigner,
                                    const brook::OutputTag<T>& late, int top_x,
                                    const ScaleOutOptions& o, const ScaleOutExchanges& exchanges,
                                    const std::string& stage_one_name) {
  auto partials =
      joined.KeyBy(std::move(location_fn))
          .Window(std::move(assigner))
          .SideOutputLateData(late)
          .Aggregate(PartialCountsAggregate<T, ItemFn>(std::move(item_fn), o.process_index),
                     stage_one_name);
  auto merged = exchanges.partials->Through(partials, "topk-exchange")
                    .Process(MergePartialsTopK(top_x), kTopKMerge);
  return {merged, partials.GetSideOutput(late)};
}

// "top_k_records_in process=I subtask=S records=N without_preaggregation=M"
// lines, one per stage-two (merge) subtask of this process, read from
// `metrics` after the run: N the records (partials) the Top-K subtask
// received (metric num_partials_in), M the events counted in them
// (num_events_in_partials), i.e. the records it would have received had
// stage one sent events instead of partials (exact for tumbling and global
// windows; a sliding window counts an event once per window).
std::string TopKRecordsInLines(const brook::MetricRegistry& metrics, const ScaleOutOptions& o);

}  // namespace camera

#endif  // CAMERA_TOP_K_SCALE_OUT_H_
