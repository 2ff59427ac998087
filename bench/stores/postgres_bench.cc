// File: bench/stores/postgres_bench.cc
//
// bench/stores/postgres_bench: the PostgreSQL sink's throughput, on a throwaway server
// (PostgresTestServer: loopback, fsync off) or on --postgres=CONNINFO:
//
//   sink_exactly_once  rows/s of PostgresSink<ResultRow> driven directly:
//                      batches of 1024 rows, a checkpoint (PREPARE
//                      TRANSACTION, then COMMIT PREPARED) every
//                      --rows_per_checkpoint rows;
//   sink_plain         the same without two-phase commit (a COMMIT at
//                      each watermark, every 200 ms);
//   camera_*           the camera job's events/s over --events generated
//                      events (1 s windows, top 10), with no sink but the
//                      CSV, with --postgres, and both again with
//                      checkpoints every 100 ms.
//
// Each line: name, rows or events, seconds, rate; medians of --repeats.
//   cmake -S . -B build -DBROOK_BUILD_BENCH=ON && ninja -C build postgres_bench
//   build/bench/postgres_bench [--rows=1000000] [--events=2000000] [--repeats=3]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "brook/connectors/postgres/postgres_client.h"
#include "brook/connectors/postgres/postgres_sink.h"
#include "brook/connectors/postgres/postgres_test_server.h"
#include "build_warning.h"
#include "camera_top_k/camera_job.h"
#include "camera_top_k/postgres_output.h"

ABSL_FLAG(std::string, postgres, "", "Server to use; empty = start a throwaway one.");
ABSL_FLAG(int64_t, rows, 1000000, "Rows per sink run.");
ABSL_FLAG(int64_t, rows_per_checkpoint, 100000, "Rows between two checkpoints (sink runs).");
ABSL_FLAG(int64_t, events, 2000000, "Generated events per camera job run.");
ABSL_FLAG(int, repeats, 3, "Runs of each; the median is reported.");

namespace {

[[maybe_unused]] const bool kWarned = brook_bench::WarnIfNotReleaseBuild("postgres_bench");

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Report(const std::string& name, int64_t n, const char* unit, std::vector<double> seconds) {
  const double s = Median(seconds);
  std::printf("%-28s %10lld %-6s %8.3f s  %12.0f %s/s\n", name.c_str(), static_cast<long long>(n),
              unit, s, static_cast<double>(n) / s, unit);
  std::fflush(stdout);
}

void Check(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "postgres_bench: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

// One run of the sink driven directly: seconds.
double SinkRun(const std::string& conninfo, bool exactly_once, int64_t rows,
               int64_t rows_per_checkpoint) {
  auto names = std::make_shared<absl::flat_hash_map<int64_t, std::string>>();
  for (int64_t i = 0; i < 50; ++i) (*names)[i] = absl::StrCat("Location ", i);
  // A fresh table: inserts alone are timed (not the fresh start's DELETE of
  // the previous run's rows).
  Check(brook::connectors::PostgresQuery(conninfo, "DROP TABLE IF EXISTS bench_rows").status(),
        "drop");
  auto sink = camera::OpenPostgresResults(conninfo, "bench_rows", exactly_once, names);
  Check(sink.status(), "open");
  auto writer = (*sink)->CreateWriter({});
  Check(writer.status(), "writer");
  std::vector<brook::StreamRecord<camera::ResultRow>> batch;
  const absl::Time start = absl::Now();
  int64_t checkpoint = 0;
  for (int64_t i = 0; i < rows;) {
    batch.clear();
    for (int j = 0; j < 1024 && i < rows; ++j, ++i) {
      camera::ResultRow r;
      r.global_window = false;
      r.window_start_ms = 1700000000000 + (i / 500) * 1000;
      r.window_end_ms = r.window_start_ms + 1000;
      r.geographical_location_oid = (i / 10) % 50;
      r.item_rank = static_cast<int32_t>(i % 10 + 1);
      r.item_name = absl::StrCat("item-", i % 100);
      r.item_count = 1000 - i % 10;
      batch.push_back({0, std::move(r)});
    }
    Check((*writer)->Write(batch), "write");
    Check((*writer)->OnWatermark(0), "watermark");
    if (exactly_once &&
        i / rows_per_checkpoint != (i - static_cast<int64_t>(batch.size())) / rows_per_checkpoint) {
      ++checkpoint;
      Check((*writer)->SnapshotState(checkpoint).status(), "snapshot");
      Check((*writer)->NotifyCheckpointComplete(checkpoint), "commit");
    }
  }
  Check((*writer)->Flush(), "flush");
  return absl::ToDoubleSeconds(absl::Now() - start);
}

// One camera job run: seconds.
double CameraRun(const std::string& conninfo, int64_t events, bool postgres, bool checkpoints,
                 const std::string& dir) {
  camera::CameraJobOptions o;
  o.generate = true;
  o.generator.count = events;
  o.window = absl::Seconds(1);
  o.output_path = dir + "/out.csv";
  if (postgres) {
    o.result_stores.push_back(
        camera::PostgresResultStore(conninfo, "bench_camera", /*exactly_once=*/checkpoints));
  }
  if (checkpoints) {
    std::filesystem::remove_all(dir + "/checkpoints");
    o.checkpoint_dir = dir + "/checkpoints";
    o.checkpoint_interval = absl::Milliseconds(100);
  }
  auto job = camera::CameraJob::Create(o);
  Check(job.status(), "camera job");
  auto summary = (*job)->Run();
  Check(summary.status(), "camera run");
  return absl::ToDoubleSeconds(summary->elapsed);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string conninfo = absl::GetFlag(FLAGS_postgres);
  std::unique_ptr<brook::connectors::PostgresTestServer> server;
  if (conninfo.empty()) {
    auto started = brook::connectors::PostgresTestServer::Start();
    Check(started.status(), "starting a server");
    server = *std::move(started);
    conninfo = server->conninfo();
    std::printf("throwaway server on port %d (fsync off)\n", server->port());
  }
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  const int64_t rows = absl::GetFlag(FLAGS_rows);
  const int64_t events = absl::GetFlag(FLAGS_events);
  const std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("postgres_bench_", getpid())).string();
  std::filesystem::create_directories(dir);
  for (const bool exactly_once : {true, false}) {
    std::vector<double> s;
    for (int i = 0; i < repeats; ++i) {
      s.push_back(SinkRun(conninfo, exactly_once, rows, absl::GetFlag(FLAGS_rows_per_checkpoint)));
    }
    Report(exactly_once ? "sink_exactly_once" : "sink_plain", rows, "rows", s);
  }
  struct Way {
    const char* name;
    bool postgres;
    bool checkpoints;
  };
  for (const Way& way : {Way{"camera_csv_only", false, false}, Way{"camera_postgres", true, false},
                         Way{"camera_csv_checkpoints", false, true},
                         Way{"camera_postgres_checkpoints", true, true}}) {
    std::vector<double> s;
    for (int i = 0; i < repeats; ++i) {
      s.push_back(CameraRun(conninfo, events, way.postgres, way.checkpoints, dir));
    }
    Report(way.name, events, "events", s);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
