#include "camera_top_k/camera_job.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "brook/brook.h"
#include "brook/operators/deduplicate.h"
#include "brook/operators/lookup_join.h"
#include "brook/operators/top_k.h"
#include "camera_top_k/camera_io.h"

namespace camera {
namespace {

using LocationTable = brook::ops::LookupTable<int64_t, Location>;

// A deduplicated detection joined with its location (null: a left-join miss).
struct Joined {
  Event event;
  const Location* location = nullptr;  // owned by the shared LocationTable
};

// Operator names: they scope the metrics the summary reads.
constexpr char kParse[] = "parse";
constexpr char kDedup[] = "dedup";
constexpr char kJoin[] = "join-location";
constexpr char kTopK[] = "top-k";

// Malformed lines leave the main stream here, to the dead letters.
class SplitRejections final : public brook::ProcessFunction<SourceRecord, Event> {
 public:
  explicit SplitRejections(brook::OutputTag<Rejection> malformed)
      : malformed_(std::move(malformed)) {}
  absl::Status Open(brook::RuntimeContext& ctx) override {
    num_malformed_ = ctx.metrics().GetCounter("num_malformed");
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const SourceRecord& record, Context& ctx,
                              brook::Collector<Event>& out) override {
    if (const Event* e = std::get_if<Event>(&record)) {
      out.Collect(*e);
    } else {
      num_malformed_->Inc();
      ctx.Output(malformed_, std::get<Rejection>(record));
    }
    return absl::OkStatus();
  }

 private:
  brook::OutputTag<Rejection> malformed_;
  brook::Counter* num_malformed_ = nullptr;
};

uint64_t FingerprintOf(const Event& e) {
  const Detection& d = e.detection;
  return brook::ops::Fingerprinter()
      .Add(d.geographical_location_oid)
      .Add(d.video_camera_oid)
      .Add(d.item_name)
      .Add(d.timestamp_detected_ms)
      .value();
}

brook::WindowAssigner AssignerFor(const CameraJobOptions& o) {
  if (o.window <= absl::ZeroDuration()) return brook::GlobalWindows::Create();
  if (o.slide > absl::ZeroDuration()) return brook::SlidingEventTimeWindows::Of(o.window, o.slide);
  return brook::TumblingEventTimeWindows::Of(o.window);
}

int64_t MinOverSubtasks(const brook::MetricRegistry& registry, const std::string& op,
                        const std::string& name) {
  int64_t min = std::numeric_limits<int64_t>::max();
  bool any = false;
  for (const auto& m : registry.Snapshot()) {
    if (m.scope.operator_name == op && m.name == name) {
      min = std::min(min, m.value);
      any = true;
    }
  }
  return any ? min : brook::kMinTimestampMs;
}

std::string FormatWatermark(int64_t wm) {
  if (wm == brook::kMinTimestampMs) return "none";
  if (wm == brook::kMaxWatermarkMs) return "end";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(wm), absl::UTCTimeZone());
}

CameraJobSummary Summarize(const brook::MetricRegistry& m, JoinMode join) {
  CameraJobSummary s;
  s.read = m.Sum("num_records_in", kParse);
  s.malformed = m.Sum("num_malformed", kParse);
  s.duplicates = m.Sum("num_duplicates", kDedup);
  s.conflicts = m.Sum("num_conflicting_duplicates", kDedup);
  // A left join keeps unknown locations (with an empty name): not rejected.
  s.unknown_location = join == JoinMode::kInner ? m.Sum("num_join_misses", kJoin) : 0;
  s.late = m.Sum("num_late_records", kTopK);
  s.windows_fired = m.Sum("num_windows_fired", kTopK);
  s.accepted = s.read - s.malformed - s.duplicates - s.unknown_location - s.late;
  return s;
}

}  // namespace

struct CameraJob::Inputs {
  std::unique_ptr<DetectionReader> reader;  // null with `generate`
  std::shared_ptr<const LocationTable> locations;
  std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names;
  std::shared_ptr<std::FILE> output;
  std::shared_ptr<std::FILE> dead_letters;  // null: none requested
};

double CameraJobSummary::records_per_second() const {
  const double s = absl::ToDoubleSeconds(elapsed);
  return s > 0 ? static_cast<double>(read) / s : 0;
}

std::string CameraJobSummary::ToString() const {
  return absl::StrFormat(
      "read=%d accepted=%d duplicates=%d conflicts=%d malformed=%d unknown_location=%d "
      "late=%d windows_fired=%d output_rows=%d elapsed=%.3fs records/s=%.0f",
      read, accepted, duplicates, conflicts, malformed, unknown_location, late, windows_fired,
      output_rows, absl::ToDoubleSeconds(elapsed), records_per_second());
}

CameraJob::CameraJob(CameraJobOptions options, std::unique_ptr<Inputs> inputs)
    : options_(std::move(options)), inputs_(std::move(inputs)) {}
CameraJob::~CameraJob() = default;

absl::StatusOr<std::unique_ptr<CameraJob>> CameraJob::Create(CameraJobOptions o) {
  auto bad = [](const std::string& flag, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", why));
  };
  if (o.top_x < 1) return bad("top_x", "must be at least 1");
  if (o.parallelism < 1 || o.parallelism > brook::kDefaultMaxParallelism) {
    return bad("parallelism", absl::StrCat("must be in [1, ", brook::kDefaultMaxParallelism, "]"));
  }
  if (o.window < absl::ZeroDuration()) return bad("window", "must not be negative");
  if (o.slide < absl::ZeroDuration()) return bad("slide", "must not be negative");
  if (o.slide > absl::ZeroDuration() && o.window <= absl::ZeroDuration()) {
    return bad("slide", "needs a --window (the global window does not slide)");
  }
  if (o.slide > o.window) return bad("slide", "must not exceed --window");
  for (auto [flag, d] : {std::pair{"allowed_lateness", o.allowed_lateness},
                         {"out_of_orderness", o.out_of_orderness},
                         {"idleness", o.idleness},
                         {"early_fire", o.early_fire},
                         {"dedup_retention", o.dedup_retention}}) {
    if (d < absl::ZeroDuration()) return bad(flag, "must not be negative");
  }
  if (o.records_per_watermark < 1) return bad("records_per_watermark", "must be at least 1");
  if (o.generate_rate < 0) return bad("generate_rate", "must not be negative");
  if (!o.generate && o.detections_path.empty()) {
    return bad("detections", "is required (or use --generate)");
  }
  if (!o.generate && o.locations_path.empty()) {
    return bad("locations", "is required (or use --generate)");
  }
  if (o.generate) {
    if (absl::Status s = ValidateGeneratorOptions(o.generator); !s.ok()) return s;
    if (o.generator.count == 0 && o.window <= absl::ZeroDuration()) {
      return bad("window", "an unbounded --generate needs a window (the global window "
                           "would never close)");
    }
  }

  auto inputs = std::make_unique<Inputs>();
  std::vector<Location> locations;
  if (!o.locations_path.empty()) {
    auto loaded = LoadLocationsCsv(o.locations_path);
    if (!loaded.ok()) return loaded.status();
    locations = *std::move(loaded);
  } else {
    locations = DetectionGenerator(o.generator).Locations();
  }
  auto names = std::make_shared<absl::flat_hash_map<int64_t, std::string>>();
  for (const Location& l : locations) (*names)[l.geographical_location_oid] = l.geographical_location;
  inputs->location_names = std::move(names);
  auto table = LocationTable::Create(std::move(locations), &Location::geographical_location_oid);
  if (!table.ok()) return table.status();
  inputs->locations = *std::move(table);

  if (!o.generate) {
    auto reader = DetectionReader::Open(o.detections_path, o.input_format, o.timestamp_unit);
    if (!reader.ok()) return reader.status();
    inputs->reader = *std::move(reader);
  }
  auto output = OpenOutput(o.output_path);
  if (!output.ok()) return output.status();
  inputs->output = *std::move(output);
  if (!o.dead_letter_path.empty()) {
    auto dead = OpenOutput(o.dead_letter_path);
    if (!dead.ok()) return dead.status();
    inputs->dead_letters = *std::move(dead);
  }
  return std::unique_ptr<CameraJob>(new CameraJob(std::move(o), std::move(inputs)));
}

absl::StatusOr<CameraJobSummary> CameraJob::Run() {
  if (inputs_ == nullptr) return absl::FailedPreconditionError("CameraJob::Run called twice");
  const CameraJobOptions& o = options_;
  std::unique_ptr<Inputs> in = std::move(inputs_);

  brook::StreamExecutionEnvironment env({.parallelism = o.parallelism});
  const brook::OutputTag<Rejection> malformed_tag("malformed");
  const brook::OutputTag<brook::ops::JoinMiss<Event>> unknown_tag("unknown-location");
  const brook::OutputTag<Joined> late_tag("late");

  // Timestamps come from the readers (timestamp_detected, converted to ms).
  auto strategy =
      brook::WatermarkStrategy<SourceRecord>::ForBoundedOutOfOrderness(o.out_of_orderness)
          .WithRecordsPerWatermark(o.records_per_watermark)
          .WithIdleness(o.idleness);
  std::shared_ptr<brook::Source<SourceRecord>> source;
  if (o.generate) {
    source = std::make_shared<DetectionGeneratorSource>(o.generator, o.generate_rate);
  } else {
    source = std::make_shared<DetectionFileSource>(std::move(in->reader));
  }
  // One reader: line numbers and watermarks follow input order, so output is
  // the same at any parallelism.
  auto parsed = env.FromSource(source, strategy, "detections")
                    .SetParallelism(1)
                    .Process(SplitRejections(malformed_tag), kParse)
                    .SetParallelism(1);

  brook::ops::DeduplicateOptions<Event> dedup_options;
  dedup_options.retention = o.dedup_retention;
  dedup_options.fingerprint = &FingerprintOf;
  auto deduped = parsed.KeyBy([](const Event& e) { return e.detection.detection_oid; })
                     .Process(brook::ops::Deduplicate<Event>(dedup_options), kDedup);

  brook::ops::LookupJoinOptions<Event, int64_t> join_options;
  join_options.join_type = o.join == JoinMode::kInner ? brook::ops::JoinType::kInner
                                                       : brook::ops::JoinType::kLeftOuter;
  join_options.misses_output = unknown_tag;
  join_options.key_name = "geographical_location_oid";
  auto joined = deduped.Process(
      brook::ops::MakeLookupJoin<Event, Joined>(
          in->locations, [](const Event& e) { return e.detection.geographical_location_oid; },
          [](const Event& e, const Location* l) { return Joined{e, l}; }, join_options),
      kJoin);

  auto windowed = joined.KeyBy([](const Joined& j) {
                          return j.event.detection.geographical_location_oid;
                        })
                      .Window(AssignerFor(o))
                      .AllowedLateness(o.allowed_lateness)
                      .SideOutputLateData(late_tag);
  if (o.early_fire > absl::ZeroDuration()) windowed = windowed.EarlyFireEvery(o.early_fire);
  auto top_k = windowed.Aggregate(
      brook::ops::TopK<int64_t, Joined>(
          [](const Joined& j) -> std::string_view { return j.event.detection.item_name; },
          o.top_x),
      kTopK);

  auto result_sink = std::make_shared<RankedCsvSink>(in->output, in->location_names);
  top_k
      .Map([](brook::ops::RankedItem<int64_t>&& r) {
        return ResultRow{r.global_window, r.window_start_ms, r.window_end_ms, r.partition,
                         r.rank, std::move(r.item), r.count};
      }, "to-row")
      .SinkTo(result_sink, "output", 1);

  if (in->dead_letters != nullptr) {
    const std::string source_name = o.generate ? "generator" : o.detections_path == "-"
                                                                   ? "stdin"
                                                                   : o.detections_path;
    const TimestampUnit unit = o.timestamp_unit;
    auto unknown = joined.GetSideOutput(unknown_tag).Map(
        [source_name, unit](brook::ops::JoinMiss<Event>&& m) {
          return Rejection{source_name, m.record.line_number, std::move(m.reason),
                           FormatDetectionCsv(m.record.detection, unit)};
        }, "unknown-to-dead-letter");
    auto late = top_k.GetSideOutput(late_tag).Map(
        [source_name, unit](Joined&& j) {
          return Rejection{source_name, j.event.line_number,
                           absl::StrCat("late: timestamp_detected ",
                                        j.event.detection.timestamp_detected_ms,
                                        " ms is behind the watermark beyond the allowed lateness"),
                           FormatDetectionCsv(j.event.detection, unit)};
        }, "late-to-dead-letter");
    parsed.GetSideOutput(malformed_tag)
        .Union({unknown, late}, "dead-letters-union")
        .SetParallelism(1)
        .SinkTo(std::make_shared<DeadLetterCsvSink>(in->dead_letters), "dead-letters", 1);
  }

  // Progress: a reporter thread reads metrics (thread-safe) while the job runs.
  absl::Notification done;
  std::thread reporter;
  const absl::Time start = absl::Now();
  if (o.progress) {
    reporter = std::thread([&] {
      int64_t last_read = 0;
      absl::Time last = start;
      while (!done.WaitForNotificationWithTimeout(o.progress_interval)) {
        const absl::Time now = absl::Now();
        const int64_t read = env.metrics().Sum("num_records_in", kParse);
        const double rate =
            static_cast<double>(read - last_read) / absl::ToDoubleSeconds(now - last);
        o.progress(absl::StrFormat(
            "progress: read=%d records/s=%.0f watermark=%s state_entries=%d", read, rate,
            FormatWatermark(MinOverSubtasks(env.metrics(), kTopK, "current_watermark_ms")),
            env.metrics().Sum("state_entries")));
        last_read = read;
        last = now;
      }
    });
  }
  absl::Status status = env.Execute("camera-top-k");
  done.Notify();
  if (reporter.joinable()) reporter.join();
  if (!status.ok()) return status;

  CameraJobSummary summary = Summarize(env.metrics(), o.join);
  summary.elapsed = absl::Now() - start;
  summary.output_rows = result_sink->rows_written();
  return summary;
}

}  // namespace camera
