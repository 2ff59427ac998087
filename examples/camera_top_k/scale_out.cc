#include "camera_top_k/scale_out.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "brook/metrics.h"

namespace camera {
namespace {

absl::Status Bad(absl::string_view flag, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", why));
}

}  // namespace

absl::Status ValidateScaleOut(const ScaleOutOptions& o, bool has_kafka_input,
                              bool has_allowed_lateness, bool has_early_firing) {
  if (o.num_processes < 1) return Bad("num_processes", "must be at least 1");
  if (o.process_index < 0 || o.process_index >= o.num_processes) {
    return Bad("process_index", absl::StrCat("must be in [0, --num_processes=", o.num_processes,
                                             ")"));
  }
  if (o.job_id.empty()) return Bad("job_id", "must not be empty");
  if (o.exchange_partitions < 0) return Bad("exchange_partitions", "must not be negative");
  if (!o.enabled()) {
    if (o.repartition_by_detection) {
      return Bad("repartition_by_detection", "needs --num_processes > 1 (one process "
                                             "deduplicates over every partition already)");
    }
    return absl::OkStatus();
  }
  if (!has_kafka_input) {
    return Bad("num_processes", "needs --detections_topic: processes split a topic's "
                                "partitions");
  }
  if (has_allowed_lateness) {
    return Bad("allowed_lateness", "is not supported with --num_processes > 1 (a partial count "
                                   "sent to the Top-K stage cannot be retracted)");
  }
  if (has_early_firing) {
    return Bad("early_fire", "is not supported with --num_processes > 1 (the Top-K stage "
                             "sees counts only when a window closes)");
  }
  return absl::OkStatus();
}

absl::Status MergePartialsTopK::Open(RuntimeContext& ctx) {
  if (top_x_ < 1) return absl::InvalidArgumentError("top-k-merge: top_x must be >= 1");
  BROOK_ASSIGN_OR_RETURN(windows_, ctx.GetMapState(brook::MapStateDescriptor<int64_t, WindowPartials>(
                                       "window-partials")));
  late_partials_ = ctx.metrics().GetCounter("num_late_partials");
  partials_in_ = ctx.metrics().GetCounter("num_partials_in");
  events_in_partials_ = ctx.metrics().GetCounter("num_events_in_partials");
  return absl::OkStatus();
}

absl::Status MergePartialsTopK::ProcessElement(
    const PartialCounts& partial, Context& ctx,
    brook::Collector<brook::ops::RankedItem<int64_t>>& /*out*/) {
  partials_in_->Inc();
  int64_t events = 0;
  for (const auto& item_count : partial.counts) events += item_count.second;
  events_in_partials_->Inc(events);
  const int64_t fires_at = partial.max_timestamp();
  if (fires_at <= ctx.timer_service().CurrentWatermark()) {
    late_partials_->Inc();
    return absl::OkStatus();
  }
  const WindowPartials* existing = windows_.Get(fires_at);
  WindowPartials entry = existing != nullptr ? *existing : WindowPartials{partial.window_start_ms, {}};
  entry.second[partial.origin] = partial.counts;  // a replayed partial replaces its first copy
  windows_.Put(fires_at, std::move(entry));
  ctx.timer_service().RegisterEventTimeTimer(fires_at);
  return absl::OkStatus();
}

absl::Status MergePartialsTopK::OnTimer(int64_t timestamp_ms, OnTimerContext& ctx,
                                        brook::Collector<brook::ops::RankedItem<int64_t>>& out) {
  const WindowPartials* entry = windows_.Get(timestamp_ms);
  if (entry == nullptr) return absl::OkStatus();
  absl::flat_hash_map<std::string_view, int64_t> sums;
  for (const auto& [origin, counts] : entry->second) {
    for (const auto& [item, count] : counts) sums[item] += count;
  }
  std::vector<std::pair<std::string_view, int64_t>> ranked(sums.begin(), sums.end());
  const size_t n = std::min(ranked.size(), static_cast<size_t>(top_x_));
  // (count desc, item asc), as brook::ops::TopK ranks.
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(),
                    [](const auto& a, const auto& b) {
                      if (a.second != b.second) return a.second > b.second;
                      return a.first < b.first;
                    });
  const bool global = timestamp_ms == brook::kMaxWatermarkMs;
  const int64_t start = entry->first;
  const int64_t end = global ? brook::kMaxWatermarkMs : timestamp_ms + 1;
  for (size_t i = 0; i < n; ++i) {
    out.Collect(brook::ops::RankedItem<int64_t>{start, end, global, ctx.GetCurrentKey(),
                                                static_cast<int32_t>(i + 1),
                                                std::string(ranked[i].first), ranked[i].second});
  }
  windows_.Remove(timestamp_ms);
  return absl::OkStatus();
}

std::string TopKRecordsInLines(const brook::MetricRegistry& metrics, const ScaleOutOptions& o) {
  std::map<int, std::pair<int64_t, int64_t>> by_subtask;  // (partials, events in them)
  for (const brook::MetricValue& m : metrics.Snapshot()) {
    if (m.scope.operator_name != kTopKMerge) continue;
    if (m.name == "num_partials_in") by_subtask[m.scope.subtask].first = m.value;
    if (m.name == "num_events_in_partials") by_subtask[m.scope.subtask].second = m.value;
  }
  std::string lines;
  for (const auto& [subtask, n] : by_subtask) {
    absl::StrAppend(&lines, "top_k_records_in process=", o.process_index, " subtask=", subtask,
                    " records=", n.first, " without_preaggregation=", n.second, "\n");
  }
  return lines;
}

}  // namespace camera

void brook::TypeSerializer<camera::PartialCounts>::Serialize(const camera::PartialCounts& p,
                                                              DataOutputView& out) {
  out.WriteInt64(p.window_start_ms);
  out.WriteInt64(p.window_end_ms);
  out.WriteUint8(p.global_window ? 1 : 0);
  out.WriteInt64(p.location);
  out.WriteInt32(p.origin);
  TypeSerializer<std::vector<std::pair<std::string, int64_t>>>::Serialize(p.counts, out);
}

absl::Status brook::TypeSerializer<camera::PartialCounts>::Deserialize(DataInputView& in,
                                                                        camera::PartialCounts* p) {
  uint8_t global = 0;
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&p->window_start_ms));
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&p->window_end_ms));
  BROOK_RETURN_IF_ERROR(in.ReadUint8(&global));
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&p->location));
  BROOK_RETURN_IF_ERROR(in.ReadInt32(&p->origin));
  p->global_window = global != 0;
  return TypeSerializer<std::vector<std::pair<std::string, int64_t>>>::Deserialize(in, &p->counts);
}

void brook::TypeSerializer<camera::Event>::Serialize(const camera::Event& e, DataOutputView& out) {
  const camera::Detection& d = e.detection;
  out.WriteInt64(d.geographical_location_oid);
  out.WriteInt64(d.video_camera_oid);
  out.WriteInt64(d.detection_oid);
  out.WriteString(d.item_name);
  out.WriteInt64(d.timestamp_detected_ms);
  out.WriteInt64(e.line_number);
  out.WriteInt32(e.partition);
}

absl::Status brook::TypeSerializer<camera::Event>::Deserialize(DataInputView& in,
                                                                camera::Event* e) {
  camera::Detection& d = e->detection;
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&d.geographical_location_oid));
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&d.video_camera_oid));
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&d.detection_oid));
  BROOK_RETURN_IF_ERROR(in.ReadString(&d.item_name));
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&d.timestamp_detected_ms));
  BROOK_RETURN_IF_ERROR(in.ReadInt64(&e->line_number));
  return in.ReadInt32(&e->partition);
}

namespace camera {

absl::StatusOr<ScaleOutExchanges> MakeScaleOutExchanges(const ScaleOutOptions& o,
                                                         int parallelism, bool bounded) {
  auto options_for = [&](std::string topic) {
    brook::connectors::KafkaExchangeOptions x;
    x.bootstrap_servers = o.brokers;
    x.producer_properties = o.properties;
    x.consumer_properties = o.properties;
    x.topic = std::move(topic);
    if (o.exchange_partitions > 0) x.partitions = o.exchange_partitions;
    x.num_processes = o.num_processes;
    x.process_index = o.process_index;
    x.upstream_parallelism = parallelism;
    x.bounded = bounded;
    return x;
  };
  ScaleOutExchanges exchanges;
  BROOK_ASSIGN_OR_RETURN(exchanges.partials,
                         (brook::connectors::KafkaExchange<int64_t, PartialCounts>::Create(
                             options_for(o.topk_topic()),
                             [](const PartialCounts& p) { return p.location; })));
  if (o.repartition_by_detection) {
    BROOK_ASSIGN_OR_RETURN(exchanges.detections,
                           (brook::connectors::KafkaExchange<int64_t, Event>::Create(
                               options_for(o.dedup_topic()),
                               [](const Event& e) { return e.detection.detection_oid; })));
  }
  return exchanges;
}

brook::DataStream<Event> ExchangeByDetection(const brook::DataStream<Event>& events,
                                             const ScaleOutExchanges& exchanges) {
  // Sent from the parse operator's subtasks (chained to the source readers:
  // a deterministic order, as the exchange's sequence numbers need); read
  // back from the partitions this process owns; the Deduplicate's KeyBy
  // places each detection_oid inside the process.
  using Exchange = brook::connectors::KafkaExchange<int64_t, Event>;
  exchanges.detections->Send(events, "dedup-exchange-send");
  return events.env()->FromSource(exchanges.detections->source(), Exchange::watermark_strategy(),
                                  "dedup-exchange-receive");
}

}  // namespace camera
