// camera_top_k: the top X items per location from camera detections,
// deduplicated and joined with the location table. See docs/camera-job.md.
//
// Exit status: 0 done; 1 the job failed while running; 2 bad flags or
// inputs, reported before any work.
//
// With --checkpoint_dir, SIGUSR1 takes a savepoint (its path is printed on
// stderr); --restore=PATH resumes from one. See docs/checkpoints.md.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "brook/savepoint_on_signal.h"
#include "brook/status.h"
#include "camera_top_k/camera_job.h"
#include "camera_top_k/clickhouse_output.h"
#include "camera_top_k/dashboard_flags.h"
#include "camera_top_k/generator_flags.h"
#include "camera_top_k/kafka_flags.h"
#include "camera_top_k/latency_flags.h"
#include "camera_top_k/postgres_output.h"
#include "camera_top_k/scale_out_flags.h"
#include "camera_top_k/store_secret_flags.h"
#include "fmt/format.h"

ABSL_FLAG(std::string, detections, "",
          "Dataset A: CSV with a header row (columns by name, any order), or JSON Lines when "
          "the path ends in .jsonl; '-' reads stdin. Required unless --generate.");
ABSL_FLAG(std::string, input_format, "auto", "Format of --detections: auto, csv or jsonl.");
ABSL_FLAG(std::string, locations, "",
          "Dataset B: CSV with header geographical_location_oid,geographical_location. "
          "Required unless --generate (which then uses its own locations).");
ABSL_FLAG(int, top_x, 10, "How many items to rank per location and window (>= 1).");
ABSL_FLAG(std::string, output, "",
          "Result CSV path; '-' = stdout. Default: stdout, or no CSV when the rows go to "
          "--output_topic, --clickhouse_url or --postgres.");
ABSL_FLAG(std::string, kafka_brokers, "", "Kafka bootstrap servers: HOST:PORT[,HOST:PORT...].");
ABSL_FLAG(std::string, output_topic, "",
          "Also (without --output: only) write each result row to this Kafka topic, as a JSON "
          "object with the CSV's column names, keyed by geographical_location_oid.");
ABSL_FLAG(std::string, kafka_delivery, "at-least-once",
          "--output_topic's guarantee: none, at-least-once or exactly-once (transactions; "
          "needs --checkpoint_dir and read_committed consumers). See docs/kafka.md.");
ABSL_FLAG(std::string, dead_letter, "",
          "CSV of rejected records (malformed, unknown location, late) with the reason; "
          "empty = not written (they are still counted).");
ABSL_FLAG(absl::Duration, window, absl::ZeroDuration(),
          "Event-time window size, e.g. 10s, 1m; 0 = one global window over the whole "
          "bounded input (the batch answer).");
ABSL_FLAG(absl::Duration, slide, absl::ZeroDuration(),
          "Window slide for sliding windows; 0 = tumbling windows.");
ABSL_FLAG(absl::Duration, allowed_lateness, absl::ZeroDuration(),
          "How long after a window fired a late record still updates it (event time).");
ABSL_FLAG(absl::Duration, out_of_orderness, absl::Seconds(5),
          "Bound on event-time disorder: watermark = max timestamp seen - this - 1ms.");
ABSL_FLAG(absl::Duration, idleness, absl::ZeroDuration(),
          "A live source with no records for this long stops holding back the watermark; "
          "0 = never idle.");
ABSL_FLAG(absl::Duration, early_fire, absl::ZeroDuration(),
          "Emit the current top X of changed locations every this much processing time "
          "before a window closes; 0 = only final results.");
ABSL_FLAG(std::string, timestamp_unit, "ms",
          "Unit of timestamp_detected in the input: s, ms or us. Output is epoch ms.");
ABSL_FLAG(absl::Duration, dedup_retention, absl::ZeroDuration(),
          "How long (event time) a detection_oid is remembered for deduplication; "
          "0 = forever.");
ABSL_FLAG(int64_t, dedup_expected_ids, 0,
          "About how many detection_oids the dedup state holds at once (all of them with "
          "the default retention): its tables are sized for them up front, large ones on "
          "huge pages; 0 = grow on demand.");
ABSL_FLAG(std::string, join, "inner",
          "inner: unknown locations go to the dead letters; left: they are kept with an "
          "empty geographical_location.");
ABSL_FLAG(int, parallelism, 1, "Parallel subtasks per operator (threads).");
ABSL_FLAG(int64_t, records_per_watermark, 1000,
          "A file source emits a watermark after this many records (deterministic).");
ABSL_FLAG(bool, progress, true, "Print a progress line to stderr every few seconds.");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "Enables checkpointing (exactly-once): checkpoints go to this directory, and "
          "--output/--dead_letter are committed in two phases (FILE.inprogress, visible in "
          "FILE once a checkpoint covers it). Needs a file input (not stdin), a "
          "--detections_topic or --generate. "
          "SIGUSR1 then takes a savepoint. See docs/checkpoints.md.");
ABSL_FLAG(absl::Duration, checkpoint_interval, absl::Seconds(10),
          "With --checkpoint_dir: time between two checkpoints; 0 = savepoints only.");
ABSL_FLAG(bool, checkpoint_incremental, true,
          "With --checkpoint_dir: checkpoints write only the keyed state changed since the "
          "previous one (a full snapshot every few); false = every checkpoint is full.");
ABSL_FLAG(std::string, restore, "auto",
          "With --checkpoint_dir: auto = resume from the newest complete checkpoint in the "
          "directory if there is one; none = start from the beginning; otherwise the path of "
          "a checkpoint or savepoint directory to resume from.");
ABSL_FLAG(std::string, clickhouse_url, "",
          "Also write the results into ClickHouse at http://HOST:PORT (with credentials "
          "http://USER:PASSWORD@HOST:PORT), to the view --results_table (created if missing); "
          "exactly once with --checkpoint_dir. The CSV is then written only to --output=FILE. See "
          "docs/results-stores.md.");
ABSL_FLAG(std::string, results_table, "camera_top_k",
          "The table (ClickHouse: the view) a results store writes to; its columns are the "
          "output CSV's.");
ABSL_FLAG(std::string, postgres, "",
          "Also write the results to a PostgreSQL table, --results_table: a libpq connection "
          "string or URI (postgresql://USER:PASSWORD@HOST:PORT/DB). Exactly once with "
          "--checkpoint_dir (needs max_prepared_transactions > 0). See docs/results-stores.md.");

namespace {

absl::StatusOr<camera::CameraJobOptions> OptionsFromFlags() {
  camera::CameraJobOptions o;
  o.detections_path = absl::GetFlag(FLAGS_detections);
  o.generate = absl::GetFlag(FLAGS_generate);
  auto format = camera::ParseInputFormat(absl::GetFlag(FLAGS_input_format));
  if (!format.ok()) return format.status();
  o.input_format = *format;
  auto unit = brook::connectors::ParseTimestampUnit(absl::GetFlag(FLAGS_timestamp_unit));
  if (!unit.ok()) return unit.status();
  o.timestamp_unit = *unit;
  o.locations_path = absl::GetFlag(FLAGS_locations);
  o.top_x = absl::GetFlag(FLAGS_top_x);
  o.output_path = absl::GetFlag(FLAGS_output);
  o.dead_letter_path = absl::GetFlag(FLAGS_dead_letter);
  o.output_topic = absl::GetFlag(FLAGS_output_topic);
  o.kafka_delivery = absl::GetFlag(FLAGS_kafka_delivery);
  o.window = absl::GetFlag(FLAGS_window);
  o.slide = absl::GetFlag(FLAGS_slide);
  o.allowed_lateness = absl::GetFlag(FLAGS_allowed_lateness);
  o.out_of_orderness = absl::GetFlag(FLAGS_out_of_orderness);
  o.idleness = absl::GetFlag(FLAGS_idleness);
  o.early_fire = absl::GetFlag(FLAGS_early_fire);
  o.dedup_retention = absl::GetFlag(FLAGS_dedup_retention);
  o.dedup_expected_ids = absl::GetFlag(FLAGS_dedup_expected_ids);
  const std::string join = absl::GetFlag(FLAGS_join);
  if (join == "inner") {
    o.join = camera::JoinMode::kInner;
  } else if (join == "left") {
    o.join = camera::JoinMode::kLeftOuter;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--join: expected 'inner' or 'left', got '", join, "'"));
  }
  o.parallelism = absl::GetFlag(FLAGS_parallelism);
  o.records_per_watermark = absl::GetFlag(FLAGS_records_per_watermark);

  o.checkpoint_dir = absl::GetFlag(FLAGS_checkpoint_dir);
  o.checkpoint_interval = absl::GetFlag(FLAGS_checkpoint_interval);
  o.checkpoint_incremental = absl::GetFlag(FLAGS_checkpoint_incremental);
  const std::string restore = absl::GetFlag(FLAGS_restore);
  if (restore == "auto") {
    o.restore = camera::RestoreMode::kLatest;
  } else if (restore == "none") {
    o.restore = camera::RestoreMode::kNone;
  } else if (restore.empty()) {
    return absl::InvalidArgumentError("--restore: expected auto, none or a path");
  } else {
    o.restore = camera::RestoreMode::kPath;
    o.restore_path = restore;
  }
  if (!o.checkpoint_dir.empty()) {
    o.checkpoint_log = [](const std::string& line) {
      fmt::print(stderr, "camera_top_k: {}\n", line);
    };
  }
  auto kafka = camera::KafkaInputOptionsFromFlags();
  if (!kafka.ok()) return kafka.status();
  o.kafka = *std::move(kafka);
  o.kafka.brokers = absl::GetFlag(FLAGS_kafka_brokers);
  o.scale_out = camera::ScaleOutOptionsFromFlags();
  o.scale_out.brokers = o.kafka.brokers;
  o.scale_out.properties = o.kafka.properties;
  if (const std::string url = absl::GetFlag(FLAGS_clickhouse_url); !url.empty()) {
    BROOK_ASSIGN_OR_RETURN(std::string with_password, camera::ClickHouseUrlFromFlags(url));
    o.result_stores.push_back(camera::ClickHouseResultStore(
        std::move(with_password), absl::GetFlag(FLAGS_results_table), !o.checkpoint_dir.empty()));
  }
  if (const std::string conninfo = absl::GetFlag(FLAGS_postgres); !conninfo.empty()) {
    BROOK_RETURN_IF_ERROR(camera::PostgresPasswordFromFlags());
    o.result_stores.push_back(camera::PostgresResultStore(
        conninfo, absl::GetFlag(FLAGS_results_table), !o.checkpoint_dir.empty()));
  }
  o.generate_rate = absl::GetFlag(FLAGS_generate_rate);
  o.generator = camera::GeneratorOptionsFromFlags();
  if (absl::Status s = camera::ApplyLatencyFlags(&o); !s.ok()) return s;
  if (absl::GetFlag(FLAGS_progress)) {
    o.progress = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Top X items per location from camera detections (deduplicated, joined with the "
      "location table).\n"
      "  camera_top_k --detections=A.csv --locations=B.csv [--top_x=10] [--window=1m]\n"
      "  camera_top_k --generate --generate_rate=10000 --window=10s --early_fire=1s");
  absl::ParseCommandLine(argc, argv);
  const bool checkpointing = !absl::GetFlag(FLAGS_checkpoint_dir).empty();
  if (checkpointing) brook::SavepointOnSignal::BlockSignal();  // before any thread starts

  auto options = OptionsFromFlags();
  if (!options.ok()) {
    fmt::print(stderr, "camera_top_k: {}\n", options.status().ToString());
    return 2;
  }
  // Where the result rows go, for the last line: the CSV, a topic, stores.
  std::vector<std::string> destinations;
  const bool elsewhere = !options->output_topic.empty() || !options->result_stores.empty();
  if (!options->output_path.empty() || !elsewhere) {
    destinations.push_back(options->output_path.empty() || options->output_path == "-"
                               ? "stdout"
                               : options->output_path);
  }
  if (!options->output_topic.empty()) {
    destinations.push_back(absl::StrCat("topic ", options->output_topic));
  }
  if (!options->result_stores.empty()) {
    destinations.push_back(absl::StrCat("table ", absl::GetFlag(FLAGS_results_table)));
  }
  auto dashboard = camera::StartDashboardFromFlags("camera_top_k");
  if (!dashboard.ok()) {
    fmt::print(stderr, "camera_top_k: {}\n", std::string(dashboard.status().message()));
    return 2;
  }
  options->dashboard = dashboard->get();
  auto job = camera::CameraJob::Create(*std::move(options));
  if (!job.ok()) {
    fmt::print(stderr, "camera_top_k: {}\n", job.status().ToString());
    return 2;
  }
  std::unique_ptr<brook::SavepointOnSignal> savepoints;
  if (checkpointing) {
    savepoints = std::make_unique<brook::SavepointOnSignal>(
        [&job] {
          fmt::print(stderr, "camera_top_k: SIGUSR1: taking a savepoint\n");
          return (*job)->TriggerSavepoint();
        },
        [](const absl::StatusOr<std::string>& path) {
          if (path.ok()) {
            fmt::print(stderr, "camera_top_k: savepoint written to {} (resume with --restore={})\n",
                       *path, *path);
          } else {
            fmt::print(stderr, "camera_top_k: savepoint failed: {}\n", path.status().ToString());
          }
        });
  }
  auto summary = (*job)->Run();
  savepoints.reset();
  if (!summary.ok()) {
    fmt::print(stderr, "camera_top_k: job failed: {}\n", summary.status().ToString());
  } else {
    fmt::print(stderr, "camera_top_k: {}\n", summary->ToString());
    fmt::print(stderr, "{}", summary->top_k_records_in);  // scale-out only
    fmt::print(stderr, "camera_top_k: result written to {}\n", absl::StrJoin(destinations, ", "));
  }
  camera::LingerFromFlags(dashboard->get(), "camera_top_k");
  return summary.ok() ? 0 : 1;
}
