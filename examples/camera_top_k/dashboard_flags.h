// File: camera_top_k/dashboard_flags.h
//
// The live dashboard's command-line flags (--http_port, --http_address,
// --http_linger; --http_tls_cert, --http_tls_key, --http_token_file or
// BROOK_HTTP_TOKEN, --http_insecure) and what a binary does with them: start
// the dashboard before the job, keep it serving after. See
// docs/operations.md, "Securing the endpoint".
#ifndef CAMERA_TOP_K_DASHBOARD_FLAGS_H_
#define CAMERA_TOP_K_DASHBOARD_FLAGS_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "camera_top_k/dashboard.h"

namespace camera {

// Starts the dashboard the --http_* flags ask for (call after parsing) and
// prints "<program>: dashboard at URL (metrics: URLmetrics)" on stderr;
// nullptr with --http_port=0. Errors, their messages starting with
// "--http_port: ": kInvalidArgument for a port outside [0, 65535], otherwise
// Dashboard::Start's code. kInvalidArgument naming the flag (and the file)
// for an unreadable --http_tls_cert, --http_tls_key or --http_token_file, one
// of the TLS pair without the other, and an --http_address other than
// loopback without a token unless --http_insecure.
absl::StatusOr<std::unique_ptr<Dashboard>> StartDashboardFromFlags(std::string_view program);

// After the job, with --http_linger > 0 and a dashboard: flushes stdout (the
// result is complete before the wait), says so on stderr, and keeps serving
// for --http_linger ("inf": until stopped) or until SIGINT or SIGTERM, whose
// handlers it installs for the wait and then resets to the default. Returns
// at once otherwise.
void LingerFromFlags(const Dashboard* dashboard, std::string_view program);

}  // namespace camera

#endif  // CAMERA_TOP_K_DASHBOARD_FLAGS_H_
