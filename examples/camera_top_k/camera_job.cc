#include "camera_top_k/camera_job.h"

#include <filesystem>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/connectors/collection_source.h"
#include "brook/restore_log_listener.h"
#include "brook/progress_reporter.h"
#include "brook/connectors/callback_sink.h"
#include "brook/connectors/csv.h"
#include "brook/connectors/dead_letter.h"
#include "brook/connectors/split_dead_letters.h"
#include "brook/connectors/transactional_file_sink.h"
#include "brook/operators/deduplicate.h"
#include "brook/operators/lookup_join.h"
#include "brook/operators/top_k.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/dashboard.h"
#include "camera_top_k/kafka_output.h"
#include "camera_top_k/scale_out.h"

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

using Ranked = brook::ops::RankedItem<int64_t>;

// The pipeline's side outputs: rejections on their way to the dead letters,
// and the Top-K's early firings for the live view.
struct SideOutputs {
  brook::OutputTag<DeadLetter> malformed{"malformed"};
  brook::OutputTag<brook::ops::JoinMiss<Event>> unknown{"unknown-location"};
  brook::OutputTag<Joined> late{"late"};
  brook::OutputTag<Ranked> early{"live-early-firings"};
};

brook::ExecutionConfig ConfigFor(const CameraJobOptions& o,
                                 std::shared_ptr<brook::CheckpointStorage> storage) {
  brook::ExecutionConfig config;
  config.parallelism = o.parallelism;
  config.buffer_timeout = o.buffer_timeout;
  config.latency_tracking_interval = o.latency_tracking_interval;
  if (storage == nullptr) return config;
  config.checkpoint.interval = o.checkpoint_interval;
  config.checkpoint.incremental = o.checkpoint_incremental;
  config.checkpoint.storage = std::move(storage);
  config.checkpoint.restore = o.restore;
  config.checkpoint.restore_path = o.restore_path;
  return config;
}

template <typename T>
brook::WatermarkStrategy<T> StrategyFor(const CameraJobOptions& o) {
  return brook::WatermarkStrategy<T>::ForBoundedOutOfOrderness(o.out_of_orderness)
      .WithRecordsPerWatermark(o.records_per_watermark)
      .WithIdleness(o.idleness);
}

// One reader: line numbers and watermarks follow input order, so output is
// the same at any parallelism. Malformed lines leave the main stream here, to
// the dead letters (T: SourceRecord from a file or the generator, or Event).
template <typename T>
brook::DataStream<Event> ReadAndSplit(brook::StreamExecutionEnvironment& env,
                                      std::shared_ptr<brook::Source<T>> source,
                                      const brook::WatermarkStrategy<T>& strategy,
                                      const SideOutputs& tags, int parallelism = 1) {
  return env.FromSource(std::move(source), strategy, "detections")
      .SetParallelism(parallelism)
      .Process(brook::connectors::SplitDeadLetters<Event, T>(tags.malformed, "num_malformed"),
               kParse)
      .SetParallelism(parallelism);
}

// The detections, malformed lines split off. Timestamps (timestamp_detected,
// in ms) come from a file's or the generator's readers, or, in memory, from
// an assigner.
brook::DataStream<Event> ReadDetections(brook::StreamExecutionEnvironment& env,
                                        const CameraJobOptions& o,
                                        std::shared_ptr<DetectionSource> file,
                                        std::shared_ptr<brook::Source<SourceRecord>> kafka,
                                        const SideOutputs& tags) {
  if (kafka != nullptr) {  // a reader per subtask, each with its partitions
    return ReadAndSplit<SourceRecord>(env, std::move(kafka), StrategyFor<SourceRecord>(o), tags,
                                      o.parallelism);
  }
  if (o.detections_in_memory != nullptr) {
    return ReadAndSplit<Event>(
        env, std::make_shared<brook::CollectionSource<Event>>(o.detections_in_memory),
        StrategyFor<Event>(o).WithTimestampAssigner([](const Event& e) {
          return e.detection.timestamp_detected_ms;
        }),
        tags);
  }
  std::shared_ptr<brook::Source<SourceRecord>> source = std::move(file);
  if (o.generate) source = std::make_shared<DetectionGeneratorSource>(o.generator, o.generate_rate);
  return ReadAndSplit<SourceRecord>(env, std::move(source),
                                    StrategyFor<SourceRecord>(o), tags);
}

brook::DataStream<Event> Deduplicate(const brook::DataStream<Event>& events,
                                     const CameraJobOptions& o) {
  brook::ops::DeduplicateOptions<Event> options;
  options.retention = o.dedup_retention;
  options.expected_ids = o.dedup_expected_ids;
  options.fingerprint = &FingerprintOf;
  return events.KeyBy([](const Event& e) { return e.detection.detection_oid; })
      .Process(brook::ops::Deduplicate<Event>(options), kDedup);
}

brook::DataStream<Joined> JoinLocations(const brook::DataStream<Event>& events,
                                        std::shared_ptr<const LocationTable> locations,
                                        JoinMode join, const SideOutputs& tags) {
  brook::ops::LookupJoinOptions<Event, int64_t> options;
  options.join_type =
      join == JoinMode::kInner ? brook::ops::JoinType::kInner : brook::ops::JoinType::kLeftOuter;
  options.misses_output = tags.unknown;
  options.key_name = "geographical_location_oid";
  return events.Process(
      brook::ops::MakeLookupJoin<Event, Joined>(
          std::move(locations),
          [](const Event& e) { return e.detection.geographical_location_oid; },
          [](Event&& e, const Location* l) { return Joined{std::move(e), l}; }, options),
      kJoin);
}

// The top X items per location and window; late records to `tags.late`,
// and with `live_early_fire` early firings for the view to `tags.early`.
brook::DataStream<Ranked> WindowTopK(const brook::DataStream<Joined>& joined,
                                     const CameraJobOptions& o, bool live_early_fire,
                                     const SideOutputs& tags) {
  auto windowed = joined.KeyBy([](const Joined& j) {
                          return j.event.detection.geographical_location_oid;
                        })
                      .Window(AssignerFor(o))
                      .AllowedLateness(o.allowed_lateness)
                      .SideOutputLateData(tags.late);
  if (o.early_fire > absl::ZeroDuration()) windowed = windowed.EarlyFireEvery(o.early_fire);
  if (live_early_fire) {
    windowed = windowed.EarlyFireEvery(o.dashboard->options().early_fire)
                   .SideOutputEarlyFirings(tags.early);
  }
  return windowed.Aggregate(
      brook::ops::TopK<int64_t, Joined>(
          [](const Joined& j) -> std::string_view { return j.event.detection.item_name; },
          o.top_x),
      kTopK);
}

// The Top-K (scale-out: its two stages, scale_out.h) and its late records.
TwoStageTopKStreams<Joined> TopKStage(const brook::DataStream<Joined>& joined,
                                      const CameraJobOptions& o, bool live_early_fire,
                                      const SideOutputs& tags,
                                      const ScaleOutExchanges& exchanges) {
  if (o.scale_out.enabled()) {
    return TwoStageTopK(
        joined, [](const Joined& j) { return j.event.detection.geographical_location_oid; },
        [](const Joined& j) -> std::string_view { return j.event.detection.item_name; },
        AssignerFor(o), tags.late, o.top_x, o.scale_out, exchanges, kTopK);
  }
  auto top_k = WindowTopK(joined, o, live_early_fire, tags);
  return {top_k, top_k.GetSideOutput(tags.late)};
}

// Every rejection (malformed, unknown location, late) to the dead letters,
// naming the input it came from.
void SinkDeadLetters(const CameraJobOptions& o, const brook::DataStream<Event>& parsed,
                     const brook::DataStream<Joined>& joined,
                     const brook::DataStream<Joined>& late_records, const SideOutputs& tags,
                     std::shared_ptr<TransactionalFileSink<DeadLetter>> sink) {
  const RejectedEventLetters letters{o.detections_in_memory != nullptr ? "memory"
                                     : o.generate                       ? "generator"
                                     : o.detections_path == "-"         ? "stdin"
                                                                        : o.detections_path,
                                     o.kafka.topic, o.kafka.value_format, o.timestamp_unit};
  auto unknown = joined.GetSideOutput(tags.unknown).Map(
      [letters](brook::ops::JoinMiss<Event>&& m) {
        return letters(m.record, std::move(m.reason));
      }, "unknown-to-dead-letter");
  auto late = late_records.Map(
      [letters](Joined&& j) {
        return letters(j.event,
                       absl::StrCat("late: timestamp_detected ",
                                    j.event.detection.timestamp_detected_ms,
                                    " ms is behind the watermark beyond the allowed lateness"));
      }, "late-to-dead-letter");
  parsed.GetSideOutput(tags.malformed)
      .Union({unknown, late}, "dead-letters-union")
      .SetParallelism(1)
      .SinkTo(std::move(sink), "dead-letters", 1);
}

}  // namespace

struct CameraJob::Inputs {
  std::shared_ptr<DetectionSource> detections;  // null with `generate` or Kafka
  std::shared_ptr<brook::Source<SourceRecord>> kafka;  // with o.kafka.enabled()
  std::shared_ptr<const LocationTable> locations;
  std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names;
  // Without checkpointing: plain streams. With: two-phase-commit files.
  std::shared_ptr<TransactionalFileSink<ResultRow>> output;  // null with on_result
  std::shared_ptr<brook::Sink<ResultRow>> kafka_output;  // null without output_topic
  std::shared_ptr<TransactionalFileSink<DeadLetter>> dead_letters;  // null: none requested
  std::shared_ptr<brook::CheckpointStorage> checkpoint_storage;  // null: off
  std::vector<ResultStore> result_stores;
  ScaleOutExchanges exchanges;  // null without scale-out
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
    : options_(std::move(options)),
      inputs_(std::move(inputs)),
      env_(std::make_unique<brook::StreamExecutionEnvironment>(
          ConfigFor(options_, inputs_->checkpoint_storage))) {}
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
  if (o.dedup_expected_ids < 0) return bad("dedup_expected_ids", "must not be negative");
  if (o.records_per_watermark < 1) return bad("records_per_watermark", "must be at least 1");
  if (o.generate_rate < 0) return bad("generate_rate", "must not be negative");
  const bool in_memory = o.detections_in_memory != nullptr;
  if (in_memory && o.generate) {
    return bad("generate", "cannot be combined with detections_in_memory");
  }
  BROOK_RETURN_IF_ERROR(ValidateScaleOut(o.scale_out, o.kafka.enabled(),
                                         o.allowed_lateness > absl::ZeroDuration(),
                                         o.early_fire > absl::ZeroDuration() ||
                                             o.dashboard != nullptr));
  BROOK_RETURN_IF_ERROR(ValidateKafkaInput(o.kafka, !o.detections_path.empty() || in_memory,
                                           o.generate, o.window <= absl::ZeroDuration()));
  const bool kafka = o.kafka.enabled();
  if (!o.generate && !in_memory && !kafka && o.detections_path.empty()) {
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
  // An empty output_path is stdout, unless the rows go elsewhere (a topic, a
  // results store): then no CSV.
  const bool csv_output =
      !o.on_result &&
      !(o.output_path.empty() && (!o.output_topic.empty() || !o.result_stores.empty()));
  if (o.kafka_delivery == "exactly-once" && !checkpointing) {
    return bad("kafka_delivery", "exactly-once needs --checkpoint_dir (a transaction commits "
                                 "at each checkpoint)");
  }
  if (checkpointing) {
    if (o.checkpoint_interval < absl::ZeroDuration()) {
      return bad("checkpoint_interval", "must not be negative");
    }
    if (!o.generate && !in_memory && o.detections_path == "-") {
      return bad("checkpoint_dir", "stdin cannot be replayed after a crash, so it cannot be "
                                   "checkpointed; read a file or use --generate");
    }
    if (csv_output && (o.output_path.empty() || o.output_path == "-")) {
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
  for (const Location& l : locations) {
    (*names)[l.geographical_location_oid] = l.geographical_location;
  }
  inputs->location_names = std::move(names);
  auto table = LocationTable::Create(std::move(locations), &Location::geographical_location_oid);
  if (!table.ok()) return table.status();
  inputs->locations = *std::move(table);

  if (o.scale_out.enabled()) {
    auto exchanges = MakeScaleOutExchanges(o.scale_out, o.parallelism, o.kafka.bounded);
    if (!exchanges.ok()) return exchanges.status();
    inputs->exchanges = *std::move(exchanges);
  }
  if (kafka) {
    o.kafka.num_processes = o.scale_out.num_processes;
    o.kafka.process_index = o.scale_out.process_index;
    auto source = MakeKafkaDetectionSource(o.kafka, o.timestamp_unit);
    if (!source.ok()) return source.status();
    inputs->kafka = *std::move(source);
  } else if (!o.generate && !in_memory) {
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
  for (const ResultStoreFactory& open : o.result_stores) {
    auto store = open(inputs->location_names);
    if (!store.ok()) return store.status();
    inputs->result_stores.push_back(*std::move(store));
  }
  if (csv_output) {
    auto output = TransactionalFileSink<ResultRow>::Open(
        o.output_path, mode, ResultCsvSinkOptions(inputs->location_names));
    if (!output.ok()) return output.status();
    inputs->output = *std::move(output);
  }
  if (!o.output_topic.empty()) {
    auto sink = MakeResultKafkaSink(o.kafka.brokers, o.output_topic, o.kafka_delivery,
                                    checkpointing ? o.checkpoint_interval : absl::ZeroDuration(),
                                    inputs->location_names, o.kafka.properties);
    if (!sink.ok()) return sink.status();
    inputs->kafka_output = *std::move(sink);
  }
  if (!o.dead_letter_path.empty()) {
    auto dead_options = brook::connectors::DeadLetterCsvSinkOptions();
    // Several readers of a topic interleave by timing: rows wait for the
    // watermark to reach them, so the file does not depend on it.
    dead_options.release_by_event_time = o.kafka.enabled();
    auto dead = TransactionalFileSink<DeadLetter>::Open(o.dead_letter_path, mode,
                                                        std::move(dead_options));
    if (!dead.ok()) return dead.status();
    inputs->dead_letters = *std::move(dead);
  }
  if (checkpointing) {
    // The engine's local-directory storage (the directory is created if missing).
    auto storage = brook::NewLocalDirectoryCheckpointStorage(o.checkpoint_dir);
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
  brook::StreamExecutionEnvironment& env = *env_;
  const SideOutputs tags;
  // The live view needs results before a window closes: without early_fire,
  // the Top-K fires early for it alone, to a side output, and the output
  // keeps the on-time and late firings.
  const bool live_early_fire = o.dashboard != nullptr && o.early_fire <= absl::ZeroDuration();

  // source -> parse (malformed split off) -> dedup -> join -> window Top-K -> sinks
  auto parsed = ReadDetections(env, o, std::move(in->detections), std::move(in->kafka), tags);
  auto joined = JoinLocations(
      Deduplicate(o.scale_out.repartition_by_detection
                      ? ExchangeByDetection(parsed, in->exchanges)
                      : parsed,
                  o),
      in->locations, o.join, tags);
  auto [top_k, late] = TopKStage(joined, o, live_early_fire, tags, in->exchanges);
  auto rows = top_k.Map(&ToResultRow, "to-row");
  std::shared_ptr<brook::connectors::CallbackSink<ResultRow>> hook_sink;
  if (o.on_result) {
    hook_sink = std::make_shared<brook::connectors::CallbackSink<ResultRow>>(o.on_result);
    rows.SinkTo(hook_sink, "output", 1);
  } else if (in->output != nullptr) {
    rows.SinkTo(in->output, "output", 1);
  }
  if (in->kafka_output != nullptr) rows.SinkTo(in->kafka_output, "kafka-output", 1);
  for (const ResultStore& store : in->result_stores) rows.SinkTo(store.sink, store.name, 1);
  if (o.dashboard != nullptr) {  // every firing, early ones included
    o.dashboard->ShowResults(rows, live_early_fire ? std::optional(top_k.GetSideOutput(tags.early))
                                                   : std::nullopt);
  }
  if (in->dead_letters != nullptr) {
    SinkDeadLetters(o, parsed, joined, late, tags, std::move(in->dead_letters));
  }

  const absl::Time start = absl::Now();
  brook::ProgressReporter progress(
      env.metrics(), {o.progress_interval, /*input_operator=*/kParse, /*watermark_operator=*/kTopK},
      o.progress);
  if (o.dashboard != nullptr) {
    o.dashboard->AttachJob(JobInfoFor(o, env.metrics(), in->location_names));
  }
  if (in->checkpoint_storage != nullptr && o.checkpoint_log) {
    env.RegisterJobListener(std::make_shared<brook::RestoreLogListener>(o.checkpoint_log));
  }
  const absl::Status status = env.Execute("camera-top-k");  // kCancelled after Cancel()
  if (o.dashboard != nullptr) o.dashboard->DetachJob(status);
  progress.Stop();
  if (!status.ok()) return status;

  BROOK_ASSIGN_OR_RETURN(CameraJobSummary summary, Summarize(env.metrics(), o.join));
  summary.elapsed = absl::Now() - start;
  summary.output_rows =
      hook_sink != nullptr             ? hook_sink->records_written()
      : in->output != nullptr          ? in->output->rows_written()
      : !in->result_stores.empty()     ? in->result_stores.front().rows_written()
                                       : env.metrics().Sum("records_sent", "kafka-output").value_or(0);
  summary.restored_from = env.restored_from();
  summary.restore_skipped = env.restore_skipped();
  if (o.scale_out.enabled()) summary.top_k_records_in = TopKRecordsInLines(env.metrics(), o.scale_out);
  return summary;
}

absl::StatusOr<std::string> CameraJob::TriggerSavepoint() {
  if (options_.checkpoint_dir.empty()) {
    return absl::FailedPreconditionError("savepoints need --checkpoint_dir");
  }
  return env_->TriggerSavepoint();
}

void CameraJob::Cancel() { env_->Cancel(); }

}  // namespace camera
