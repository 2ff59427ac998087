// File: bench/latency/latency_benchmark.cc
//
// bench/latency: the camera job (DESIGN.md §9) fed by its paced generator
// (a live source, `--rates` events per wall-clock second, event time in step
// with the wall clock) with 10 s tumbling windows fired early every second,
// results to an in-process hook and to the live dashboard's view, with the
// engine's default settings (buffer timeout included) and latency markers
// every `--latency_tracking_interval`. Per rate it prints two lines:
//
//   latency rate=R p50_ms=A p99_ms=B p999_ms=C
//   freshness rate=R p50_ms=A p99_ms=B p999_ms=C sustained_events_per_s=S
//
// `latency`: source-to-sink transit, Flink's way: the time from a latency
// marker's emission at the source to its arrival at the result sink
// ("output"; markers travel behind the records, through every channel and
// batch, around the operators), from the sink's "latency_us" histogram
// (quantiles interpolated within its buckets, about 1.5x apart).
// `freshness`: the dashboard's freshness (the age of the newest event its
// view reflects, camera_top_k/view_freshness.h) sampled every 10 ms; with
// early firing every second it runs from the transit up to a second more,
// so its median is about half the early-firing interval.
// Markers and samples of the first `--warmup` are left out. A rate the
// machine cannot keep up with is reported with the rate it sustained
// (events read / wall time); the run then takes longer than `--duration`.
//
// Run (Release build):
//   ninja -C build latency && build/bench/latency            # 10k, 100k, 1M ev/s, 20 s each
//   build/bench/latency --rates=10000 --duration=5s           # a quick check
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "brook/metrics.h"
#include "camera_top_k/camera_job.h"
#include "camera_top_k/dashboard.h"
#include "../build_warning.h"

ABSL_FLAG(std::string, rates, "10000,100000,1000000", "Comma-separated events/s to run.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(20), "Input per rate, in wall-clock time.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(3), "Left out of the figures at the start.");
ABSL_FLAG(absl::Duration, window, absl::Seconds(10), "Tumbling window size.");
ABSL_FLAG(absl::Duration, early_fire, absl::Seconds(1), "Early firing interval.");
ABSL_FLAG(absl::Duration, latency_tracking_interval, absl::Milliseconds(1),
          "Latency marker interval (the samples of the transit figures).");
ABSL_FLAG(absl::Duration, buffer_timeout, absl::Milliseconds(5),
          "ExecutionConfig::buffer_timeout (5ms: the engine's default; inf: off).");
ABSL_FLAG(int, parallelism, 1, "Job parallelism.");
ABSL_FLAG(int, locations, 1000, "Locations.");

namespace {

// The histogram's quantile q (0..1), linear within its bucket; the +Inf
// bucket answers its lower bound.
double Quantile(const brook::HistogramSnapshot& h, double q) {
  const int64_t total = h.count();
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  int64_t below = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    const int64_t c = h.counts[i];
    if (c > 0 && static_cast<double>(below + c) >= rank) {
      const double lo = i == 0 ? 0 : static_cast<double>(h.upper_bounds[i - 1]);
      if (i == h.upper_bounds.size()) return lo;
      const double hi = static_cast<double>(h.upper_bounds[i]);
      return lo + (hi - lo) * (rank - static_cast<double>(below)) / static_cast<double>(c);
    }
    below += c;
  }
  return h.upper_bounds.empty() ? 0 : static_cast<double>(h.upper_bounds.back());
}

// Sum of histogram `name` over the subtasks of `op` (bounds as registered).
brook::HistogramSnapshot SumHistogram(const brook::MetricRegistry& r, const std::string& op,
                                      const std::string& name) {
  brook::HistogramSnapshot sum;
  for (const brook::MetricValue& m : r.Snapshot()) {
    if (m.name != name || m.scope.operator_name != op || !m.histogram) continue;
    if (sum.counts.empty()) {
      sum.upper_bounds = m.histogram->upper_bounds;
      sum.counts.assign(m.histogram->counts.size(), 0);
    }
    for (size_t i = 0; i < sum.counts.size(); ++i) sum.counts[i] += m.histogram->counts[i];
    sum.sum += m.histogram->sum;
  }
  return sum;
}

double SampleQuantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

int RunRate(double rate, camera::Dashboard* dashboard) {
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  camera::CameraJobOptions o;
  o.generate = true;
  o.generate_rate = rate;
  o.generator.count = static_cast<int64_t>(rate * absl::ToDoubleSeconds(duration));
  o.generator.num_locations = absl::GetFlag(FLAGS_locations);
  o.generator.events_per_second_event_time = rate;  // event time in step with the wall clock
  o.generator.start_time_ms = absl::ToUnixMillis(absl::Now());
  o.window = absl::GetFlag(FLAGS_window);
  o.early_fire = absl::GetFlag(FLAGS_early_fire);
  o.parallelism = absl::GetFlag(FLAGS_parallelism);
  o.buffer_timeout = absl::GetFlag(FLAGS_buffer_timeout);
  o.latency_tracking_interval = absl::GetFlag(FLAGS_latency_tracking_interval);
  std::atomic<int64_t> rows{0};
  o.on_result = [&rows](const camera::ResultRow&) { rows.fetch_add(1, std::memory_order_relaxed); };
  o.dashboard = dashboard;
  auto job = camera::CameraJob::Create(std::move(o));
  if (!job.ok()) {
    std::fprintf(stderr, "latency: %s\n", job.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<camera::CameraJobSummary> summary;
  const auto t0 = std::chrono::steady_clock::now();
  std::thread runner([&] { summary = (*job)->Run(); });
  std::atomic<bool> done{false};
  std::vector<double> freshness;
  brook::HistogramSnapshot at_warmup;
  bool warm = false;
  const auto warmup = std::chrono::microseconds(absl::ToInt64Microseconds(absl::GetFlag(FLAGS_warmup)));
  std::thread sampler([&] {
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!warm && std::chrono::steady_clock::now() - t0 >= warmup) {
        at_warmup = SumHistogram((*job)->metrics(), "output", "latency_us");
        warm = true;
      }
      if (warm) {
        if (auto f = dashboard->FreshnessMs()) freshness.push_back(*f);
      }
    }
  });
  runner.join();
  done = true;
  sampler.join();
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!summary.ok()) {
    std::fprintf(stderr, "latency: rate %.0f: %s\n", rate, summary.status().ToString().c_str());
    return 1;
  }
  // Markers after the warm-up only (and the freshness samples until the
  // input ended: the last firing's tail is not a live view).
  brook::HistogramSnapshot transit = SumHistogram((*job)->metrics(), "output", "latency_us");
  if (warm && !at_warmup.counts.empty()) {
    for (size_t i = 0; i < transit.counts.size(); ++i) transit.counts[i] -= at_warmup.counts[i];
  }
  const double sustained = static_cast<double>(summary->read) / wall_s;
  std::printf("# rate %.0f ev/s: read %" PRId64 " in %.2f s (%.0f ev/s sustained%s), %" PRId64
              " result rows, %" PRId64 " markers at the sink, %zu freshness samples\n",
              rate, summary->read, wall_s, sustained,
              sustained < 0.95 * rate ? ": NOT kept up" : "", rows.load(), transit.count(),
              freshness.size());
  std::printf("latency rate=%.0f p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f\n", rate,
              Quantile(transit, 0.5) / 1000, Quantile(transit, 0.99) / 1000,
              Quantile(transit, 0.999) / 1000);
  std::printf("freshness rate=%.0f p50_ms=%.1f p99_ms=%.1f p999_ms=%.1f sustained_events_per_s=%.0f\n",
              rate, SampleQuantile(freshness, 0.5), SampleQuantile(freshness, 0.99),
              SampleQuantile(freshness, 0.999), sustained);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Source-to-sink latency and dashboard freshness of the camera job at paced rates; see "
      "docs/performance.md.\n  latency [--rates=10000,100000,1000000] [--duration=20s]");
  absl::ParseCommandLine(argc, argv);
  brook_bench::WarnIfNotReleaseBuild("latency", stdout);
  auto dashboard = camera::Dashboard::Start({});  // loopback, any free port
  if (!dashboard.ok()) {
    std::fprintf(stderr, "latency: dashboard: %s\n", dashboard.status().ToString().c_str());
    return 1;
  }
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("# %u hardware threads, load average %.2f %.2f %.2f; window %s, early firing %s, "
              "buffer timeout %s, markers every %s\n",
              std::thread::hardware_concurrency(), load[0], load[1], load[2],
              absl::FormatDuration(absl::GetFlag(FLAGS_window)).c_str(),
              absl::FormatDuration(absl::GetFlag(FLAGS_early_fire)).c_str(),
              absl::FormatDuration(absl::GetFlag(FLAGS_buffer_timeout)).c_str(),
              absl::FormatDuration(absl::GetFlag(FLAGS_latency_tracking_interval)).c_str());
  for (absl::string_view r : absl::StrSplit(absl::GetFlag(FLAGS_rates), ',')) {
    double rate = 0;
    if (!absl::SimpleAtod(r, &rate) || rate <= 0) {
      std::fprintf(stderr, "latency: --rates: bad rate '%s'\n", std::string(r).c_str());
      return 2;
    }
    if (int rc = RunRate(rate, dashboard->get()); rc != 0) return rc;
  }
  return 0;
}
