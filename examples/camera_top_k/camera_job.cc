#include "camera_top_k/camera_job.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/job_listener.h"
#include "brook/connectors/callback_sink.h"
#include "brook/connectors/csv.h"
#include "brook/connectors/dead_letter.h"
#include "brook/connectors/transactional_file_sink.h"
#include "brook/serialization.h"
#include "brook/operators/deduplicate.h"
#include "brook/operators/lookup_join.h"
#include "brook/operators/top_k.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/dashboard.h"

namespace camera {
namespace {

using LocationTable = brook::ops::LookupTable<int64_t, Location>;
using brook::connectors::DeadLetter;
using brook::connectors::FileSinkMode;
using brook::connectors::TransactionalFileSink;

// A deduplicated detection joined with its location (null: a left-join miss).
struct Joined {
  Event event;
  const Location* location = nullptr;  // owned by the shared LocationTable
};

// Operator names: they scope the metrics the summary reads, and are the
// operator ids in checkpoints, so every name in the job is unique and must
// not change (a renamed operator does not find its state on restore).
constexpr char kParse[] = "parse";
constexpr char kDedup[] = "dedup";
constexpr char kJoin[] = "join-location";
constexpr char kTopK[] = "top-k";

// Malformed lines leave the main stream here, to the dead letters.
class SplitRejections final : public brook::ProcessFunction<SourceRecord, Event> {
 public:
  explicit SplitRejections(brook::OutputTag<DeadLetter> malformed)
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
      ctx.Output(malformed_, std::get<DeadLetter>(record));
    }
    return absl::OkStatus();
  }

 private:
  brook::OutputTag<DeadLetter> malformed_;
  brook::Counter* num_malformed_ = nullptr;
};

// CameraJobOptions::detections_in_memory as a bounded source: one reader
// (input order, line numbers and watermarks as a file's), no parsing.
class MemoryDetectionSource final : public brook::Source<SourceRecord> {
 public:
  explicit MemoryDetectionSource(std::shared_ptr<const std::vector<Detection>> detections)
      : detections_(std::move(detections)) {}
  brook::Boundedness boundedness() const override { return brook::Boundedness::kBounded; }
  absl::StatusOr<std::unique_ptr<brook::SourceReader<SourceRecord>>> CreateReader(
      const brook::SourceReaderContext& ctx) override {
    if (ctx.parallelism != 1) {
      return absl::FailedPreconditionError("the in-memory detections source runs at parallelism 1");
    }
    return std::unique_ptr<brook::SourceReader<SourceRecord>>(new Reader(detections_));
  }

 private:
  class Reader final : public brook::SourceReader<SourceRecord> {
   public:
    explicit Reader(std::shared_ptr<const std::vector<Detection>> detections)
        : detections_(std::move(detections)) {}
    absl::StatusOr<brook::InputStatus> PollNext(
        brook::ReaderOutput<SourceRecord>& output) override {
      const size_t end = std::min(detections_->size(), next_ + 1024);
      for (; next_ < end; ++next_) {
        const Detection& d = (*detections_)[next_];
        output.Collect(SourceRecord(std::in_place_type<Event>,
                                    Event{d, static_cast<int64_t>(next_) + 1}),
                       d.timestamp_detected_ms);
      }
      return next_ < detections_->size() ? brook::InputStatus::kMoreAvailable
                                         : brook::InputStatus::kEndOfInput;
    }
    // The position: the index of the next detection.
    absl::StatusOr<std::string> SnapshotState(int64_t /*checkpoint_id*/) override {
      return brook::SerializeToString(static_cast<uint64_t>(next_));
    }
    absl::Status RestoreState(std::vector<std::string> states) override {
      if (states.empty()) return absl::OkStatus();
      if (states.size() != 1) {
        return absl::FailedPreconditionError(
            "the in-memory detections source restores from exactly one reader's state");
      }
      uint64_t next = 0;
      BROOK_RETURN_IF_ERROR(brook::DeserializeFromString(states[0], &next));
      if (next > detections_->size()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "checkpoint position ", next, " is past the ", detections_->size(),
            " in-memory detections"));
      }
      next_ = static_cast<size_t>(next);
      return absl::OkStatus();
    }

   private:
    std::shared_ptr<const std::vector<Detection>> detections_;
    size_t next_ = 0;
  };

  std::shared_ptr<const std::vector<Detection>> detections_;
};

// A firing for the live view, and whether it is an early one.
struct LiveFiring {
  ResultRow row;
  bool early = false;
};

// Orders the live view's firings: the early ones (a side output of the
// Top-K) and the others (its main output) reach it on two streams, so the
// last early firing of a window can arrive after its on-time one; it is
// stale then, and dropped. On its stream an early firing always precedes
// the watermark that reaches its window's max timestamp, so a window is
// forgotten once the watermark gets there. Not checkpointed (a live view).
class DropStaleEarlyFirings final : public brook::ProcessFunction<LiveFiring, ResultRow> {
 public:
  absl::Status ProcessElement(const LiveFiring& firing, Context& ctx,
                              brook::Collector<ResultRow>& out) override {
    while (!fired_.empty() && std::get<0>(*fired_.begin()) <= ctx.CurrentWatermark()) {
      fired_.erase(fired_.begin());
    }
    const ResultRow& r = firing.row;
    const auto window = std::make_tuple(r.global_window ? brook::kMaxWatermarkMs : r.window_end_ms - 1,
                                        r.window_start_ms, r.geographical_location_oid);
    if (!firing.early) {
      fired_.insert(window);
    } else if (fired_.contains(window)) {
      return absl::OkStatus();
    }
    out.Collect(r);
    return absl::OkStatus();
  }

 private:
  // (max timestamp, start, location) of windows that fired on time or late.
  std::set<std::tuple<int64_t, int64_t, int64_t>> fired_;
};

// Says where the run resumed from and what it skipped on the way; the
// engine calls it before the job starts.
class RestoreLog final : public brook::JobListener {
 public:
  explicit RestoreLog(std::function<void(const std::string&)> log) : log_(std::move(log)) {}
  void OnRestored(const brook::RestoreInfo& info) override {
    for (const std::string& skipped : info.skipped) {
      log_(absl::StrCat("skipped corrupt or incomplete checkpoint ", skipped));
    }
    if (!info.path.empty()) log_(absl::StrCat("restored from ", info.path));
  }

 private:
  std::function<void(const std::string&)> log_;
};

ResultRow ToResultRow(brook::ops::RankedItem<int64_t>&& r) {
  return ResultRow{r.global_window, r.window_start_ms, r.window_end_ms, r.partition,
                   r.rank,          std::move(r.item),  r.count};
}

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

// kNotFound if an operator of the pipeline did not register a metric read here.
absl::StatusOr<CameraJobSummary> Summarize(const brook::MetricRegistry& m, JoinMode join) {
  CameraJobSummary s;
  BROOK_ASSIGN_OR_RETURN(s.read, m.Sum("num_records_in", kParse));
  BROOK_ASSIGN_OR_RETURN(s.malformed, m.Sum("num_malformed", kParse));
  BROOK_ASSIGN_OR_RETURN(s.duplicates, m.Sum("num_duplicates", kDedup));
  BROOK_ASSIGN_OR_RETURN(s.conflicts, m.Sum("num_conflicting_duplicates", kDedup));
  // A left join keeps unknown locations (with an empty name): not rejected.
  if (join == JoinMode::kInner) {
    BROOK_ASSIGN_OR_RETURN(s.unknown_location, m.Sum("num_join_misses", kJoin));
  }
  BROOK_ASSIGN_OR_RETURN(s.late, m.Sum("num_late_records", kTopK));
  BROOK_ASSIGN_OR_RETURN(s.windows_fired, m.Sum("num_windows_fired", kTopK));
  s.accepted = s.read - s.malformed - s.duplicates - s.unknown_location - s.late;
  return s;
}

// The one place the job constructs its checkpoint storage (the engine's
// local-directory storage; the directory is created if missing).
absl::StatusOr<std::shared_ptr<brook::CheckpointStorage>> OpenCheckpointStorage(
    const std::string& directory) {
  auto storage = brook::NewLocalDirectoryCheckpointStorage(directory);
  if (!storage.ok()) return storage.status();
  return std::shared_ptr<brook::CheckpointStorage>(*std::move(storage));
}

}  // namespace

struct CameraJob::Inputs {
  std::shared_ptr<DetectionSource> detections;  // null with `generate`
  std::shared_ptr<const LocationTable> locations;
  std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names;
  // Without checkpointing: plain streams. With: two-phase-commit files.
  std::shared_ptr<TransactionalFileSink<ResultRow>> output;  // null with on_result
  std::shared_ptr<TransactionalFileSink<DeadLetter>> dead_letters;  // null: none requested
  std::shared_ptr<brook::CheckpointStorage> checkpoint_storage;  // null: off
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
      output_rows, absl::ToDoubleSeconds(elapsed), records_per_second()) +
         (restored_from.empty() ? std::string() : absl::StrCat(" restored_from=", restored_from));
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
  if (o.dashboard != nullptr && o.dashboard_early_fire < absl::Milliseconds(1)) {
    return bad("dashboard_early_fire", "must be at least 1ms");
  }
  if (o.generate_rate < 0) return bad("generate_rate", "must not be negative");
  const bool in_memory = o.detections_in_memory != nullptr;
  if (in_memory && o.generate) {
    return bad("generate", "cannot be combined with detections_in_memory");
  }
  if (!o.generate && !in_memory && o.detections_path.empty()) {
    return bad("detections", "is required (or use --generate)");
  }
  if (!o.generate && !in_memory && o.locations_path.empty()) {
    return bad("locations", "is required (or use --generate)");
  }
  if (o.generate) {
    if (absl::Status s = ValidateGeneratorOptions(o.generator); !s.ok()) return s;
    if (o.generator.count == 0 && o.window <= absl::ZeroDuration()) {
      return bad("window", "an unbounded --generate needs a window (the global window "
                           "would never close)");
    }
  }

  const bool checkpointing = !o.checkpoint_dir.empty();
  if (checkpointing) {
    if (o.checkpoint_interval < absl::ZeroDuration()) {
      return bad("checkpoint_interval", "must not be negative");
    }
    if (!o.generate && !in_memory && o.detections_path == "-") {
      return bad("checkpoint_dir", "stdin cannot be replayed after a crash, so it cannot be "
                                   "checkpointed; read a file or use --generate");
    }
    if (!o.on_result && (o.output_path.empty() || o.output_path == "-")) {
      return bad("checkpoint_dir", "needs --output=FILE: output is committed transactionally "
                                   "(FILE.inprogress, then FILE), which stdout cannot be");
    }
    if (o.dead_letter_path == "-") {
      return bad("checkpoint_dir", "needs --dead_letter=FILE, not stdout");
    }
  }
  if (o.restore == RestoreMode::kPath) {
    if (!checkpointing) return bad("restore", "needs --checkpoint_dir");
    std::error_code error;
    if (!std::filesystem::exists(std::filesystem::path(o.restore_path) / "_metadata", error)) {
      return absl::NotFoundError(absl::StrCat("--restore: no complete checkpoint or savepoint at '",
                                              o.restore_path, "' (no _metadata file)"));
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

  if (!o.generate && !in_memory) {
    auto detections = OpenDetections(o.detections_path, o.input_format, o.timestamp_unit);
    if (!detections.ok()) return detections.status();
    inputs->detections = *std::move(detections);
    if (checkpointing) {
      // A restored reader seeks; only a regular file can.
      if (const absl::Status& s = inputs->detections->replayable(); !s.ok()) {
        return bad("checkpoint_dir",
                   absl::StrCat("--detections=", o.detections_path,
                                " cannot be replayed after a crash (not a regular file), so "
                                "it cannot be checkpointed: ", s.message()));
      }
    }
  }
  // Transactional files are opened, not truncated: a restore needs what
  // they hold.
  const FileSinkMode mode = checkpointing ? FileSinkMode::kTransactional : FileSinkMode::kPlain;
  if (!o.on_result) {
    auto output = TransactionalFileSink<ResultRow>::Open(
        o.output_path, mode, ResultCsvSinkOptions(inputs->location_names));
    if (!output.ok()) return output.status();
    inputs->output = *std::move(output);
  }
  if (!o.dead_letter_path.empty()) {
    auto dead = TransactionalFileSink<DeadLetter>::Open(
        o.dead_letter_path, mode, brook::connectors::DeadLetterCsvSinkOptions());
    if (!dead.ok()) return dead.status();
    inputs->dead_letters = *std::move(dead);
  }
  if (checkpointing) {
    auto storage = OpenCheckpointStorage(o.checkpoint_dir);
    if (!storage.ok()) {
      return absl::Status(storage.status().code(),
                          absl::StrCat("--checkpoint_dir: ", storage.status().message()));
    }
    inputs->checkpoint_storage = *std::move(storage);
  }
  return std::unique_ptr<CameraJob>(new CameraJob(std::move(o), std::move(inputs)));
}

absl::StatusOr<CameraJobSummary> CameraJob::Run() {
  if (inputs_ == nullptr) return absl::FailedPreconditionError("CameraJob::Run called twice");
  const CameraJobOptions& o = options_;
  std::unique_ptr<Inputs> in = std::move(inputs_);

  brook::ExecutionConfig config;
  config.parallelism = o.parallelism;
  if (in->checkpoint_storage != nullptr) {
    config.checkpoint.interval = o.checkpoint_interval;
    config.checkpoint.storage = in->checkpoint_storage;
    switch (o.restore) {
      case RestoreMode::kAuto:
        config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
        break;
      case RestoreMode::kNone:
        config.checkpoint.restore = brook::CheckpointConfig::Restore::kNone;
        break;
      case RestoreMode::kPath:
        config.checkpoint.restore = brook::CheckpointConfig::Restore::kPath;
        config.checkpoint.restore_path = o.restore_path;
        break;
    }
  }
  brook::StreamExecutionEnvironment env(config);
  const brook::OutputTag<DeadLetter> malformed_tag("malformed");
  const brook::OutputTag<brook::ops::JoinMiss<Event>> unknown_tag("unknown-location");
  const brook::OutputTag<Joined> late_tag("late");

  // Timestamps come from the readers (timestamp_detected, converted to ms).
  auto strategy =
      brook::WatermarkStrategy<SourceRecord>::ForBoundedOutOfOrderness(o.out_of_orderness)
          .WithRecordsPerWatermark(o.records_per_watermark)
          .WithIdleness(o.idleness);
  std::shared_ptr<brook::Source<SourceRecord>> source;
  if (o.detections_in_memory != nullptr) {
    source = std::make_shared<MemoryDetectionSource>(o.detections_in_memory);
  } else if (o.generate) {
    source = std::make_shared<DetectionGeneratorSource>(o.generator, o.generate_rate);
  } else {
    source = std::move(in->detections);
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
  // The live view needs results before a window closes: without early_fire,
  // the Top-K fires early for it alone, to a side output, and the output
  // keeps the on-time and late firings.
  const bool live_early_fire = o.dashboard != nullptr && o.early_fire <= absl::ZeroDuration();
  const brook::OutputTag<brook::ops::RankedItem<int64_t>> early_tag("live-early-firings");
  if (live_early_fire) {
    windowed = windowed.EarlyFireEvery(o.dashboard_early_fire).SideOutputEarlyFirings(early_tag);
  }
  auto top_k = windowed.Aggregate(
      brook::ops::TopK<int64_t, Joined>(
          [](const Joined& j) -> std::string_view { return j.event.detection.item_name; },
          o.top_x),
      kTopK);

  auto rows = top_k.Map(&ToResultRow, "to-row");
  std::shared_ptr<brook::connectors::CallbackSink<ResultRow>> hook_sink;
  if (o.on_result) {
    hook_sink = std::make_shared<brook::connectors::CallbackSink<ResultRow>>(o.on_result);
    rows.SinkTo(hook_sink, "output", 1);
  } else {
    rows.SinkTo(in->output, "output", 1);
  }

  // The live view gets every firing, early ones included.
  if (live_early_fire) {
    auto final_firings =
        rows.Map([](ResultRow&& r) { return LiveFiring{std::move(r), false}; }, "live-final");
    top_k.GetSideOutput(early_tag)
        .Map([](brook::ops::RankedItem<int64_t>&& r) {
          return LiveFiring{ToResultRow(std::move(r)), true};
        }, "live-early")
        .Union({final_firings}, "live-union")
        .SetParallelism(1)
        .Process(DropStaleEarlyFirings(), "live-order")
        .SetParallelism(1)
        .SinkTo(o.dashboard->ResultSink(), "live-view", 1);
  } else if (o.dashboard != nullptr) {
    rows.SinkTo(o.dashboard->ResultSink(), "live-view", 1);
  }

  if (in->dead_letters != nullptr) {
    const std::string source_name = o.detections_in_memory != nullptr ? "memory"
                                    : o.generate                       ? "generator"
                                    : o.detections_path == "-"         ? "stdin"
                                                                       : o.detections_path;
    const TimestampUnit unit = o.timestamp_unit;
    auto unknown = joined.GetSideOutput(unknown_tag).Map(
        [source_name, unit](brook::ops::JoinMiss<Event>&& m) {
          return DeadLetter{source_name, m.record.line_number, std::move(m.reason),
                           FormatDetectionCsv(m.record.detection, unit)};
        }, "unknown-to-dead-letter");
    auto late = top_k.GetSideOutput(late_tag).Map(
        [source_name, unit](Joined&& j) {
          return DeadLetter{source_name, j.event.line_number,
                           absl::StrCat("late: timestamp_detected ",
                                        j.event.detection.timestamp_detected_ms,
                                        " ms is behind the watermark beyond the allowed lateness"),
                           FormatDetectionCsv(j.event.detection, unit)};
        }, "late-to-dead-letter");
    parsed.GetSideOutput(malformed_tag)
        .Union({unknown, late}, "dead-letters-union")
        .SetParallelism(1)
        .SinkTo(in->dead_letters, "dead-letters", 1);
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
        // Before the job has opened its operators their metrics read as 0.
        const int64_t read = env.metrics().Sum("num_records_in", kParse).value_or(0);
        const double rate =
            static_cast<double>(read - last_read) / absl::ToDoubleSeconds(now - last);
        o.progress(absl::StrFormat(
            "progress: read=%d records/s=%.0f watermark=%s state_entries=%d", read, rate,
            FormatWatermark(MinOverSubtasks(env.metrics(), kTopK, "current_watermark_ms")),
            env.metrics().Sum("state_entries").value_or(0)));
        last_read = read;
        last = now;
      }
    });
  }
  if (o.dashboard != nullptr) {
    DashboardJobInfo info;
    info.job_name = "camera-top-k";
    info.metrics = &env.metrics();
    info.location_names = in->location_names;
    info.global_window = o.window <= absl::ZeroDuration();
    info.window_size_ms = absl::ToInt64Milliseconds(o.window);
    info.window_slide_ms = absl::ToInt64Milliseconds(o.slide);
    info.top_x = o.top_x;
    info.inner_join = o.join == JoinMode::kInner;
    info.live_source = absl::StrCat(
        "early firings every ",
        absl::FormatDuration(live_early_fire ? o.dashboard_early_fire : o.early_fire));
    o.dashboard->AttachJob(std::move(info));
  }
  if (in->checkpoint_storage != nullptr && o.checkpoint_log) {
    env.RegisterJobListener(std::make_shared<RestoreLog>(o.checkpoint_log));
  }
  {
    absl::MutexLock lock(&mu_);
    running_ = &env;
    if (cancelled_) env.Cancel();  // Execute() then returns kCancelled at once
  }
  absl::Status status = env.Execute("camera-top-k");
  {
    absl::MutexLock lock(&mu_);
    running_ = nullptr;
    // A savepoint requested while the job ran ends (fails) with it.
    mu_.Await(absl::Condition(
        +[](int* in_flight) { return *in_flight == 0; }, &savepoints_in_flight_));
  }
  if (o.dashboard != nullptr) o.dashboard->DetachJob(status);
  done.Notify();
  if (reporter.joinable()) reporter.join();
  if (!status.ok()) return status;

  BROOK_ASSIGN_OR_RETURN(CameraJobSummary summary, Summarize(env.metrics(), o.join));
  summary.elapsed = absl::Now() - start;
  summary.output_rows =
      hook_sink != nullptr ? hook_sink->records_written() : in->output->rows_written();
  summary.restored_from = env.restored_from();
  summary.restore_skipped = env.restore_skipped();
  return summary;
}

absl::StatusOr<std::string> CameraJob::TriggerSavepoint() {
  if (options_.checkpoint_dir.empty()) {
    return absl::FailedPreconditionError("savepoints need --checkpoint_dir");
  }
  brook::StreamExecutionEnvironment* env = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (running_ == nullptr) return absl::FailedPreconditionError("the job is not running");
    env = running_;
    ++savepoints_in_flight_;  // Run() keeps the environment alive until 0
  }
  absl::StatusOr<std::string> path = env->TriggerSavepoint();
  absl::MutexLock lock(&mu_);
  --savepoints_in_flight_;
  return path;
}

void CameraJob::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (running_ != nullptr) running_->Cancel();
}

}  // namespace camera
