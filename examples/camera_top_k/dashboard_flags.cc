#include "camera_top_k/dashboard_flags.h"

#include <csignal>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/format.h"

ABSL_FLAG(int, http_port, 0,
          "Serve the live dashboard (/), its JSON API (/api/...) and Prometheus metrics "
          "(/metrics) on this TCP port while the job runs; 0 = off. See docs/operations.md.");
ABSL_FLAG(std::string, http_address, "127.0.0.1",
          "Address the HTTP server listens on; the default serves this machine only "
          "(0.0.0.0 or :: = every interface).");
ABSL_FLAG(absl::Duration, http_linger, absl::ZeroDuration(),
          "With --http_port: keep serving this long after the job ends (final results, last "
          "metric values), e.g. 10m or inf; SIGINT or SIGTERM ends it early.");

namespace camera {
namespace {

volatile std::sig_atomic_t g_stop_lingering = 0;

}  // namespace

absl::StatusOr<std::unique_ptr<Dashboard>> StartDashboardFromFlags(std::string_view program) {
  const int port = absl::GetFlag(FLAGS_http_port);
  if (port == 0) return nullptr;
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_port: must be in [0, 65535], got ", port));
  }
  DashboardOptions options;
  options.http.address = absl::GetFlag(FLAGS_http_address);
  options.http.port = port;
  auto dashboard = Dashboard::Start(std::move(options));
  if (!dashboard.ok()) {
    return absl::Status(dashboard.status().code(),
                        absl::StrCat("--http_port: ", dashboard.status().ToString()));
  }
  fmt::print(stderr, "{}: dashboard at {} (metrics: {}metrics)\n", program, (*dashboard)->url(),
             (*dashboard)->url());
  return dashboard;
}

void LingerFromFlags(const Dashboard* dashboard, std::string_view program) {
  const absl::Duration linger = absl::GetFlag(FLAGS_http_linger);
  if (dashboard == nullptr || linger <= absl::ZeroDuration()) return;
  std::fflush(stdout);
  fmt::print(stderr, "{}: serving {} {} (SIGINT/SIGTERM to stop)\n", program, dashboard->url(),
             linger == absl::InfiniteDuration()
                 ? std::string("until stopped")
                 : absl::StrCat("for ", absl::FormatDuration(linger), " more"));
  g_stop_lingering = 0;
  auto on_signal = [](int) { g_stop_lingering = 1; };
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const absl::Time until =
      linger == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + linger;
  while (g_stop_lingering == 0 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(100));
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

}  // namespace camera
