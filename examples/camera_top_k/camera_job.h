// File: camera_top_k/camera_job.h
//
// The camera-detection job (DESIGN.md §9) as a library call, so that the
// binary, the tests and the benchmarks run the very same pipeline:
//
//   detections (file, stdin or generator)
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
#ifndef CAMERA_TOP_K_CAMERA_JOB_H_
#define CAMERA_TOP_K_CAMERA_JOB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camera_top_k/detection.h"
#include "camera_top_k/detection_reader.h"
#include "camera_top_k/generator.h"

namespace camera {

enum class JoinMode { kInner, kLeftOuter };

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

  // Dataset B; empty with `generate` means the generator's own locations.
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
  JoinMode join = JoinMode::kInner;
  int parallelism = 1;
  // Records between two watermarks of a file source (deterministic).
  int64_t records_per_watermark = 1000;

  // Output paths; "-" (or empty output_path) = stdout. Empty dead_letter_path
  // = no dead-letter file (rejections are still counted).
  std::string output_path = "-";
  std::string dead_letter_path;

  // Called about every `progress_interval` while the job runs (empty = never).
  std::function<void(const std::string& line)> progress;
  absl::Duration progress_interval = absl::Seconds(5);
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

  double records_per_second() const;
  // One line: "read=... accepted=... ... elapsed=1.23s records/s=..."
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

 private:
  struct Inputs;
  CameraJob(CameraJobOptions options, std::unique_ptr<Inputs> inputs);
  CameraJobOptions options_;
  std::unique_ptr<Inputs> inputs_;
};

}  // namespace camera

#endif  // CAMERA_TOP_K_CAMERA_JOB_H_
