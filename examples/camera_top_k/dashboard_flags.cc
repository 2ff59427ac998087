#include "camera_top_k/dashboard_flags.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "brook/status.h"
#include "brook/web/http_server.h"
#include "camera_top_k/secrets.h"
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

ABSL_FLAG(std::string, http_tls_cert, "",
          "With --http_port: serve HTTPS with this PEM certificate chain (with --http_tls_key).");
ABSL_FLAG(std::string, http_tls_key, "",
          "With --http_port: the PEM private key of --http_tls_cert.");
ABSL_FLAG(std::string, http_token_file, "",
          "With --http_port: every request (page, API, events, /metrics) must carry "
          "'Authorization: Bearer TOKEN', TOKEN this file's text (trailing newline ignored); "
          "else taken from the environment variable BROOK_HTTP_TOKEN. See docs/operations.md.");
ABSL_FLAG(bool, http_insecure, false,
          "Allow --http_address other than loopback without a bearer token.");

namespace camera {
namespace {

constexpr char kHttpTokenEnv[] = "BROOK_HTTP_TOKEN";

absl::Status CheckReadable(absl::string_view flag, const std::string& path) {
  if (std::ifstream(path)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": cannot read '", path, "': ", std::strerror(errno)));
}

// The --http_tls_*, --http_token_file and --http_insecure part of `http`.
absl::Status SecurityFromFlags(brook::web::HttpServerOptions& http) {
  http.tls_cert_file = absl::GetFlag(FLAGS_http_tls_cert);
  http.tls_key_file = absl::GetFlag(FLAGS_http_tls_key);
  if (http.tls_cert_file.empty() != http.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--http_tls_cert and --http_tls_key go together");
  }
  if (!http.tls_cert_file.empty()) {
    BROOK_RETURN_IF_ERROR(CheckReadable("--http_tls_cert", http.tls_cert_file));
    BROOK_RETURN_IF_ERROR(CheckReadable("--http_tls_key", http.tls_key_file));
  }
  BROOK_ASSIGN_OR_RETURN(std::optional<std::string> token,
                         ReadSecret("--http_token_file", absl::GetFlag(FLAGS_http_token_file),
                                    kHttpTokenEnv));
  if (token.has_value()) http.bearer_token = *std::move(token);
  if (http.bearer_token.empty() && !brook::web::IsLoopbackAddress(http.address) &&
      !absl::GetFlag(FLAGS_http_insecure)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http_address=", http.address,
        " is not loopback: anyone who reaches it could read the dashboard and metrics. Set "
        "--http_token_file (or ", kHttpTokenEnv,
        ") and --http_tls_cert/--http_tls_key, or accept the risk with --http_insecure"));
  }
  return absl::OkStatus();
}

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
  BROOK_RETURN_IF_ERROR(SecurityFromFlags(options.http));
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
