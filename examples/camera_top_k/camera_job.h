// File: camera_top_k/camera_job.h
//
// The camera-detection job (DESIGN.md §9) as a library call, so that the
// binary, the tests and the benchmarks run the very same pipeline:
//
//   detections (file, stdin, generator or Kafka topic)
//     -> split malformed lines to the dead letters
//     -> KeyBy(detection_oid) -> Deduplicate (keep first)
//     -> LookupJoin(locations)  (inner: unknown locations to the dead letters)
//     -> KeyBy(geographical_location_oid) -> Window Top-K(item_name, top_x)
//        (late records to the dead letters)
//     -> output CSV, ordered by window end, location oid, rank
//
// Output CSV columns: window_start,window_end,geographical_location_oid,
// geographical_location,item_rank,item_name,item_count (window bounds epoch
// ms; empty for the global window). Dead-letter CSV columns:
// source,line_number,reason,raw_line.
//
// With `checkpoint_dir` the job checkpoints (docs/checkpoints.md): exactly
// once over a replayable input (a file, the generator, in-memory input), the
// output and dead-letter CSVs committed in two phases, restorable after a
// crash (`restore`) and by savepoint (TriggerSavepoint()).
#ifndef CAMERA_TOP_K_CAMERA_JOB_H_
#define CAMERA_TOP_K_CAMERA_JOB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "brook/stream.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/detection.h"
#include "camera_top_k/detection_schema.h"
#include "camera_top_k/generator.h"
#include "camera_top_k/kafka_input.h"
#include "camera_top_k/scale_out_options.h"

namespace camera {

class Dashboard;  // camera_top_k/dashboard.h

enum class JoinMode { kInner, kLeftOuter };

// A result store opened by CameraJob::Create: its sink (run at parallelism
// 1, named `name`) and its count of rows written.
struct ResultStore {
  std::string name;
  std::shared_ptr<brook::Sink<ResultRow>> sink;
  std::function<int64_t()> rows_written;
};
using LocationNames = std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>>;
using ResultStoreFactory = std::function<absl::StatusOr<ResultStore>(LocationNames names)>;

// Where a checkpointed run starts (--restore): kLatest the newest complete
// checkpoint in checkpoint_dir, if any; kNone from the beginning (the output
// files are started afresh); kPath the checkpoint or savepoint directory
// restore_path. The engine's brook::CheckpointConfig::Restore.
using RestoreMode = brook::CheckpointConfig::Restore;

struct CameraJobOptions {
  // Input: a Dataset A file ("-" for stdin), or the generator when `generate`.
  std::string detections_path;
  InputFormat input_format = InputFormat::kAuto;
  TimestampUnit timestamp_unit = TimestampUnit::kMilliseconds;
  bool generate = false;
  GeneratorOptions generator;
  // Generator pacing in events per second of wall-clock time; 0 = as fast as
  // possible. A paced or endless generator is a live (unbounded) source.
  double generate_rate = 0;

  // Input from a Kafka topic when kafka.enabled() (kafka_input.h), instead
  // of `detections_path` or the generator; read at `parallelism`.
  KafkaInputOptions kafka;
  // Scale-out over Kafka (camera_top_k/scale_out.h, docs/scale-out.md): with
  // num_processes > 1 this process runs its share of the job's two stages.
  ScaleOutOptions scale_out;

  // Input held in memory (benchmarks, embedding): when set, the job reads
  // these events in order (a brook::CollectionSource of one reader, with
  // file-source watermarks over timestamp_detected_ms), instead of
  // `detections_path` or the generator; `generate` must then be false. Their
  // line_number is what dead letters report (e.g. position + 1). The vector
  // is shared, not copied, and must not change while the job runs.
  std::shared_ptr<const std::vector<Event>> detections_in_memory;

  // Dataset B; empty with `generate` or `detections_in_memory` means the
  // generator's own locations (for `generator`).
  std::string locations_path;

  int top_x = 10;
  // Window size; zero = one global window over the whole (bounded) input.
  absl::Duration window = absl::ZeroDuration();
  absl::Duration slide = absl::ZeroDuration();  // zero = tumbling
  absl::Duration allowed_lateness = absl::ZeroDuration();
  absl::Duration out_of_orderness = absl::Seconds(5);
  absl::Duration idleness = absl::ZeroDuration();  // zero = never idle
  absl::Duration early_fire = absl::ZeroDuration();  // zero = off
  absl::Duration dedup_retention = absl::ZeroDuration();  // zero = forever
  // Sizing hint for the dedup state: about how many ids it holds at once
  // (ValueStateDescriptor::expected_keys); zero = grow on demand.
  int64_t dedup_expected_ids = 0;
  JoinMode join = JoinMode::kInner;
  int parallelism = 1;
  // Engine timing (brook::ExecutionConfig): Flink's buffer timeout, and the
  // latency marker interval (zero = off; the dashboard's freshness uses them).
  absl::Duration buffer_timeout = absl::Milliseconds(5);
  absl::Duration latency_tracking_interval = absl::ZeroDuration();
  // Records between two watermarks of a file source (deterministic).
  int64_t records_per_watermark = 1000;

  // Output paths; "-" (or empty output_path) = stdout. Empty dead_letter_path
  // = no dead-letter file (rejections are still counted).
  std::string output_path = "-";
  std::string dead_letter_path;
  // Kafka output (camera_top_k/kafka_output.h, docs/kafka.md): every
  // result row also goes to `output_topic` as JSON keyed by location oid; with
  // an empty output_path, only there. kafka_delivery: none, at-least-once or
  // exactly-once (needs checkpoint_dir). The brokers are kafka.brokers.
  std::string output_topic;
  std::string kafka_delivery = "at-least-once";
  // Optional: when set, every result row goes to this hook instead of the
  // output CSV (`output_path` is then ignored and nothing is opened). Called
  // from the single result-sink thread, in arrival order: rows of one window
  // firing come in rank order, but firings are not sorted as in the CSV.
  std::function<void(const ResultRow& row)> on_result;
  // Result stores (databases: camera_top_k/clickhouse_output.h, postgres_output.h): each
  // is opened by Create(), once the location names are loaded (its error is
  // Create()'s), and receives every result row the output CSV does. With a
  // store and an empty output_path, no CSV is written.
  std::vector<ResultStoreFactory> result_stores;

  // Called about every `progress_interval` while the job runs (empty = never).
  std::function<void(const std::string& line)> progress;
  absl::Duration progress_interval = absl::Seconds(5);

  // Optional live view (camera_top_k/dashboard.h; not owned, must outlive
  // Run()). Run() shows the job on it (metrics, location names) and sends it
  // every Top-K firing (sink "live-view"), in addition to the output. The
  // view needs results before a window closes: with `early_fire` set, those
  // early firings; without, the Top-K fires early every
  // DashboardOptions::early_fire for the view alone, and the output still
  // receives only the final firings, exactly as without a dashboard.
  Dashboard* dashboard = nullptr;

  // Checkpointing (docs/checkpoints.md). Non-empty: checkpoints go to this
  // directory (created if missing), and the output and dead-letter files are
  // written in two phases (`<path>.inprogress`, visible up to the last
  // complete checkpoint). Needs a replayable input (not stdin or a pipe) and
  // file outputs (not stdout); `on_result` then sees rows at least once.
  std::string checkpoint_dir;
  // Time between two checkpoints; zero = none (savepoints only).
  absl::Duration checkpoint_interval = absl::Seconds(10);
  // Incremental checkpoints (brook::CheckpointConfig::incremental).
  bool checkpoint_incremental = true;
  RestoreMode restore = RestoreMode::kLatest;
  std::string restore_path;  // with RestoreMode::kPath
  // Checkpoint news, one line each (the checkpoint restored, corrupt ones
  // skipped); called from a job thread. Empty = not reported.
  std::function<void(const std::string& line)> checkpoint_log;
};

// What one run did; read = accepted + duplicates + malformed + unknown + late.
struct CameraJobSummary {
  int64_t read = 0;
  int64_t accepted = 0;
  int64_t duplicates = 0;
  int64_t conflicts = 0;  // duplicates whose other fields differ (also in duplicates)
  int64_t malformed = 0;
  int64_t unknown_location = 0;
  int64_t late = 0;
  int64_t windows_fired = 0;
  int64_t output_rows = 0;
  absl::Duration elapsed;
  // The checkpoint or savepoint this run resumed from ("" = from the start);
  // the counts above then cover the records read since that checkpoint,
  // output_rows the whole output.
  std::string restored_from;
  std::vector<std::string> restore_skipped;  // "<path>: <reason>"
  // Scale-out: TopKRecordsInLines(), the records each Top-K subtask received.
  std::string top_k_records_in;

  double records_per_second() const;
  // One line: "read=... accepted=... ... elapsed=1.23s records/s=..."
  // (plus " restored_from=PATH" after a restore).
  std::string ToString() const;
};

class CameraJob {
 public:
  // Checks every option and opens every input before any work: returns
  // kInvalidArgument naming the option for a bad value, kNotFound (or the
  // errno's code) for a missing or unreadable input file, kInvalidArgument
  // for a CSV header without a required column or a bad locations file.
  static absl::StatusOr<std::unique_ptr<CameraJob>> Create(CameraJobOptions options);
  ~CameraJob();

  // Runs the job to the end of a bounded input (or until a failure, or
  // forever for an unbounded one). Call once.
  absl::StatusOr<CameraJobSummary> Run();

  // CameraJob::Cancel(): stops a running Run() (or the next one), which then
  // returns kCancelled; for live inputs, which never end by themselves.
  // Thread-safe.
  void Cancel();

  // CameraJob::TriggerSavepoint(): takes a savepoint of the running job and
  // returns its directory once complete (blocks until then). Thread-safe.
  // kFailedPrecondition when the job is not running or has no
  // checkpoint_dir; otherwise as brook::StreamExecutionEnvironment's.
  absl::StatusOr<std::string> TriggerSavepoint();
  // The job's metrics (valid for the CameraJob's lifetime; read after Run()
  // for final values). Thread-safe.
  const brook::MetricRegistry& metrics() const { return env_->metrics(); }

 private:
  struct Inputs;
  CameraJob(CameraJobOptions options, std::unique_ptr<Inputs> inputs);
  CameraJobOptions options_;
  std::unique_ptr<Inputs> inputs_;  // null once Run() has started
  // Runs the job once; Cancel() and TriggerSavepoint() are thread-safe on it
  // (before, while and after it runs), so they need no lock here.
  std::unique_ptr<brook::StreamExecutionEnvironment> env_;
};

}  // namespace camera

#endif  // CAMERA_TOP_K_CAMERA_JOB_H_
