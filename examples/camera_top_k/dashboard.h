// File: camera_top_k/dashboard.h
//
// The camera job's live dashboard and metrics endpoint (docs/operations.md):
// an HTTP server (brook::web::HttpServer, its own thread) that shows the top X
// items per location as the job produces them, the pipeline's health, and the
// job's metrics in the Prometheus text format.
//
//   auto dashboard = camera::Dashboard::Start({.http = {.port = 8080}});
//   options.dashboard = dashboard->get();          // CameraJobOptions
//   auto job = camera::CameraJob::Create(options);  // Run() feeds the dashboard
//
// Endpoints (GET only):
//   /                          the page: one self-contained HTML document (CSS
//                              and JavaScript inline, no external resources)
//                              with the current state embedded, then live
//                              updates from /api/events
//   /api/topk                  every location's current top X, JSON
//   /api/topk?location=OID     one location's (400: OID not an integer; 404:
//                              neither in the location table nor in results)
//   /api/locations?q=&limit=   locations whose name or oid contains q, busiest
//                              first (the page's location search)
//   /api/history?location=OID  the location's final top X in each of its last
//                              DashboardOptions::history_windows windows,
//                              oldest first, then the current window's (the
//                              page's history chart); 400: no or a bad OID;
//                              404: an unknown location
//   /api/health                pipeline health, JSON (with "freshness_ms",
//                              the age of the newest event in the view)
//   /api/events?location=OID   Server-Sent Events: an "update" event (health,
//                              the selected location, the busiest locations)
//                              when something changed, at most 4 per second,
//                              and at least one per second
//   /metrics                   FormatPrometheusText of the job's metrics and
//                              the dashboard's own (brook_http_*)
//
// With HttpServerOptions::bearer_token every endpoint answers 401 without
// the token; the 401 of the page asks for it (kDashboardLoginPage), and the
// page then sends it on every request (docs/operations.md, "Securing the
// endpoint").
//
// What "current" means: the view holds, per location, the rows of the most
// recent firing of the newest window it has seen (the whole input so far for
// the global window). Early firings make it live; CameraJob::Run() arranges
// them (see CameraJobOptions::dashboard). After the job ends the view keeps
// its final results and the metrics their last values, until the dashboard is
// destroyed.
//
// Thread-safety: every method may be called from any thread. The result sink
// has one writer (the job's sink subtask); HTTP handlers read immutable
// per-location snapshots, so a slow client never blocks the job.
#ifndef CAMERA_TOP_K_DASHBOARD_H_
#define CAMERA_TOP_K_DASHBOARD_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "brook/metrics.h"
#include "brook/operators/top_k.h"
#include "brook/sink.h"
#include "brook/stream.h"
#include "brook/web/http_server.h"
#include "camera_top_k/camera_io.h"

namespace camera {

struct DashboardOptions {
  // Listen address and port (0 = any free port; Dashboard::port() tells
  // which), connection and size limits, timeouts.
  brook::web::HttpServerOptions http;
  // How often a CameraJob that does not fire early itself fires early for the
  // view alone (CameraJobOptions::dashboard); at least 1 ms, whole ms.
  absl::Duration early_fire = absl::Milliseconds(500);
  // Windows per location kept for /api/history (their last firing's top X,
  // in memory: history_windows x top_x rows per location); at least 1.
  int history_windows = 20;
};

// What the dashboard needs to know about the job it shows (CameraJob::Run()
// passes it).
struct DashboardJobInfo {
  std::string job_name;
  // The job's metrics; must stay valid until DetachJob().
  const brook::MetricRegistry* metrics = nullptr;
  // geographical_location_oid -> geographical_location.
  std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names;
  bool global_window = true;
  int64_t window_size_ms = 0;
  int64_t window_slide_ms = 0;  // 0 = tumbling
  int top_x = 10;
  bool inner_join = true;  // unknown locations are rejected (counted)
  // How results reach the view, for the page, e.g. "early firings every 500ms".
  std::string live_source;
};

struct CameraJobOptions;  // camera_top_k/camera_job.h

// What CameraJob::Run() attaches for a job run with `options`: its
// `metrics` and `location_names` (oid -> geographical_location).
DashboardJobInfo JobInfoFor(
    const CameraJobOptions& options, const brook::MetricRegistry& metrics,
    std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names);

class Dashboard {
 public:
  // Dashboard::Start(): starts the HTTP server. kInvalidArgument for a bad
  // address or option, kUnavailable when it cannot listen (port in use).
  static absl::StatusOr<std::unique_ptr<Dashboard>> Start(DashboardOptions options);
  // Stops the server (closes every connection).
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  const DashboardOptions& options() const;
  int port() const;
  // e.g. "http://127.0.0.1:8080/" (IPv6 addresses in brackets).
  std::string url() const;
  brook::web::HttpServerStats http_stats() const;

  // Dashboard::AttachJob(): shows `info`'s job from now on; clears the view.
  void AttachJob(DashboardJobInfo info);
  // Dashboard::DetachJob(): the job has ended with `status` (OK: finished).
  // Keeps the last metric values; the registry may be destroyed afterwards.
  void DetachJob(const absl::Status& status);

  // Dashboard::ShowResults(): wires a Top-K's firings to the view, while the
  // job is built: `firings` (ranked rows: on-time and late firings, and early
  // ones where the job itself fires early) and, when given, `early_firings`,
  // the Top-K's side output of early firings for the view alone. An early
  // firing that arrives after its window's on-time firing is stale and
  // dropped. Operators (ids in checkpoints; none holds state): "live-final",
  // "live-early", "live-union", "live-order" (with early_firings), and the
  // sink "live-view" (ResultSink(), parallelism 1).
  void ShowResults(
      const brook::DataStream<ResultRow>& firings,
      const std::optional<brook::DataStream<brook::ops::RankedItem<int64_t>>>& early_firings);

  // Dashboard::ResultSink(): the sink that feeds the view (parallelism 1).
  std::shared_ptr<brook::Sink<ResultRow>> ResultSink();
  // Dashboard::AddResults(): what the sink calls; one writer at a time.
  // Rows of one location and window firing must come in rank order, 1 first.
  void AddResults(const ResultRow* rows, size_t n);

  // The JSON bodies of /api/topk (all locations, or one: nullopt when it is
  // unknown) and /api/health, for embedding and tests.
  std::string TopKJson() const;
  std::optional<std::string> TopKJson(int64_t location_oid) const;
  std::string HealthJson() const;
  // Dashboard::FreshnessMs(): the age of the newest event the view reflects
  // (camera_top_k/view_freshness.h), ms; nullopt before its first update.
  // Also /api/health's "freshness_ms" and /metrics' view_freshness_ms.
  std::optional<double> FreshnessMs() const;
  // The body of /api/history?location=OID; nullopt when it is unknown.
  std::optional<std::string> HistoryJson(int64_t location_oid) const;

 private:
  struct Impl;
  explicit Dashboard(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace camera

#endif  // CAMERA_TOP_K_DASHBOARD_H_
