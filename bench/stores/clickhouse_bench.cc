// File: bench/stores/clickhouse_bench.cc
//
// bench/stores: what the ClickHouse results store costs. Starts a
// clickhouse-server on loopback (brook::connectors::ClickHouseLocalServer)
// and measures, best of --repeats:
//
//   sink_exactly_once   rows/s of ClickHouseSink<camera::ResultRow> (the
//                       camera job's rows and encoder): --rows rows written
//                       in batches of 1,024, then one pre-commit (insert,
//                       count check) and commit (marker);
//   sink_auto_commit    the same in kAutoCommit, inserting every 64K rows;
//   job_csv             the camera job's events/s on --events generated
//                       events (--window, top 10), result CSV only;
//   job_clickhouse      the same with the ClickHouse store only;
//   job_both_checkpointed  CSV and ClickHouse, checkpointing every second
//                       (exactly once).
//
// Run (Release build; see docs/performance.md):
//   cmake -S . -B build -G Ninja -DBROOK_BUILD_BENCH=ON && ninja -C build clickhouse_bench
//   build/bench/clickhouse_bench [--rows=2000000] [--events=5000000] [--repeats=3]
#include <sys/resource.h>
#include <unistd.h>

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
#include "bench/build_warning.h"
#include "brook/connectors/clickhouse/clickhouse_local_server.h"
#include "brook/connectors/clickhouse/clickhouse_sink.h"
#include "camera_top_k/camera_job.h"
#include "camera_top_k/clickhouse_output.h"

ABSL_FLAG(int64_t, rows, 2000000, "Rows written through the sink per repeat.");
ABSL_FLAG(int64_t, events, 5000000, "Generated events per camera-job run.");
ABSL_FLAG(absl::Duration, window, absl::Seconds(1), "The camera job's window.");
ABSL_FLAG(int, repeats, 3, "Repeats per measurement (the best is reported).");

namespace {

using brook::connectors::ClickHouseCommitMode;
using brook::connectors::ClickHouseSink;

// CPU seconds this process (every thread; not the server) has used.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "clickhouse_bench: %s\n", status.ToString().c_str());
  return 1;
}

// Rows/s through the sink into table `table`.
absl::StatusOr<double> SinkRowsPerSecond(const std::string& url, const std::string& table,
                                         ClickHouseCommitMode mode) {
  auto names = std::make_shared<absl::flat_hash_map<int64_t, std::string>>();
  for (int i = 0; i < 50; ++i) (*names)[i] = absl::StrCat("Location ", i);
  auto options = camera::ClickHouseResultSinkOptions(
      url, table, mode == ClickHouseCommitMode::kExactlyOnce, names);
  options.batch_rows = 65536;
  auto sink = ClickHouseSink<camera::ResultRow>::Open(options);
  if (!sink.ok()) return sink.status();
  auto writer = (*sink)->CreateWriter({});
  if (!writer.ok()) return writer.status();
  const int64_t rows = absl::GetFlag(FLAGS_rows);
  std::vector<brook::StreamRecord<camera::ResultRow>> batch;
  const absl::Time start = absl::Now();
  for (int64_t i = 0; i < rows;) {
    batch.clear();
    for (int k = 0; k < 1024 && i < rows; ++k, ++i) {
      batch.push_back({0, camera::ResultRow{false, i / 500 * 1000, i / 500 * 1000 + 1000, i % 50,
                                            static_cast<int32_t>(i % 10 + 1),
                                            absl::StrCat("item", i % 100), 1000 - i % 1000}});
    }
    if (absl::Status s = (*writer)->Write(batch); !s.ok()) return s;
  }
  if (mode == ClickHouseCommitMode::kExactlyOnce) {
    if (auto state = (*writer)->SnapshotState(1); !state.ok()) return state.status();
    if (absl::Status s = (*writer)->NotifyCheckpointComplete(1); !s.ok()) return s;
  } else if (absl::Status s = (*writer)->Flush(); !s.ok()) {
    return s;
  }
  return static_cast<double>(rows) / absl::ToDoubleSeconds(absl::Now() - start);
}

absl::StatusOr<double> JobEventsPerSecond(const std::string& url, const std::string& dir, bool csv,
                                          bool store, bool checkpoint, int run) {
  camera::CameraJobOptions o;
  o.generate = true;
  o.generator.count = absl::GetFlag(FLAGS_events);
  o.window = absl::GetFlag(FLAGS_window);
  o.output_path = csv ? absl::StrCat(dir, "/out.csv") : "";
  if (store) {
    o.result_stores.push_back(
        camera::ClickHouseResultStore(url, absl::StrCat("job_", run), checkpoint));
  }
  if (checkpoint) {
    o.checkpoint_dir = absl::StrCat(dir, "/checkpoints_", run);
    o.checkpoint_interval = absl::Seconds(1);
  }
  auto job = camera::CameraJob::Create(std::move(o));
  if (!job.ok()) return job.status();
  auto summary = (*job)->Run();
  if (!summary.ok()) return summary.status();
  return summary->records_per_second();
}

}  // namespace

int main(int argc, char** argv) {
  brook_bench::WarnIfNotReleaseBuild("clickhouse_bench");
  absl::ParseCommandLine(argc, argv);
  auto server = brook::connectors::ClickHouseLocalServer::Start();
  if (!server.ok()) return Fail(server.status());
  const std::string url = (*server)->url();
  const std::string dir = (*server)->directory();
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  int run = 0;
  // Prints the best rate of `repeats` and the client's CPU seconds per
  // million rows or events (the least; the server's CPU is not counted).
  auto best = [&](const char* name, const char* unit, int64_t per_run, auto measure) -> bool {
    double top = 0, cpu = 1e300;
    for (int r = 0; r < repeats; ++r) {
      const double cpu_before = CpuSeconds();
      absl::StatusOr<double> v = measure(++run);
      if (!v.ok()) {
        Fail(v.status());
        return false;
      }
      top = std::max(top, *v);
      cpu = std::min(cpu, (CpuSeconds() - cpu_before) * 1e6 / static_cast<double>(per_run));
    }
    std::printf("%-24s %12.0f %s  %6.3f client CPU-s per M  (best of %d)\n", name, top, unit, cpu,
                repeats);
    std::fflush(stdout);
    return true;
  };
  const bool ok =
      best("sink_exactly_once", "rows/s", absl::GetFlag(FLAGS_rows),
           [&](int r) {
             return SinkRowsPerSecond(url, absl::StrCat("sink_", r),
                                      ClickHouseCommitMode::kExactlyOnce);
           }) &&
      best("sink_auto_commit", "rows/s", absl::GetFlag(FLAGS_rows),
           [&](int r) {
             return SinkRowsPerSecond(url, absl::StrCat("sink_", r),
                                      ClickHouseCommitMode::kAutoCommit);
           }) &&
      best("job_csv", "events/s", absl::GetFlag(FLAGS_events),
           [&](int r) { return JobEventsPerSecond(url, dir, true, false, false, r); }) &&
      best("job_clickhouse", "events/s", absl::GetFlag(FLAGS_events),
           [&](int r) { return JobEventsPerSecond(url, dir, false, true, false, r); }) &&
      best("job_both_checkpointed", "events/s", absl::GetFlag(FLAGS_events),
           [&](int r) { return JobEventsPerSecond(url, dir, true, true, true, r); });
  return ok ? 0 : 1;
}
