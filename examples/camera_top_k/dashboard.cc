#include "camera_top_k/dashboard.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <limits>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "brook/status.h"
#include "brook/time.h"
#include "brook/web/prometheus.h"
#include "camera_top_k/camera_job.h"
#include "camera_top_k/view_freshness.h"

namespace camera {

using ::brook::web::HttpRequest;
using ::brook::web::HttpResponse;

// The page (dashboard_page.cc): "@@INITIAL_STATE@@" is replaced by JSON.
extern const char kDashboardPage[];
// The body of a 401 with a bearer token (dashboard_page.cc).
extern const char kDashboardLoginPage[];

namespace {

// The page and the login page: everything inline, nothing from elsewhere.
constexpr char kPageContentSecurityPolicy[] =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

// Operator names of camera_job.cc's pipeline: they scope the metrics read here.
constexpr char kParse[] = "parse";
constexpr char kDedup[] = "dedup";
constexpr char kJoin[] = "join-location";
constexpr char kTopK[] = "top-k";

constexpr size_t kBusiest = 8;         // locations in the page's overview
constexpr int kDefaultListLimit = 50;  // /api/locations
constexpr int kMaxListLimit = 1000;
constexpr int64_t kMinPushGapMs = 250;   // at most 4 updates a second per client
constexpr int64_t kMaxPushGapMs = 1000;  // and at least one (health changes)

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// ViewFreshness's value in ms for JSON; null before the first update.
std::string FreshnessMsJson(std::optional<int64_t> us) {
  return us ? absl::StrFormat("%.1f", *us / 1000.0) : "null";
}

// JSON string literal. '<', '>' and '&' are escaped too, so the text can sit
// inside an HTML <script> element.
void AppendJsonString(std::string& out, absl::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '<':
      case '>':
      case '&':
        absl::StrAppendFormat(&out, "\\u%04x", c);
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

std::string JsonString(absl::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

std::string FormatTimeMs(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

struct Item {
  int32_t rank = 0;
  std::string item;
  int64_t count = 0;
};

// A closed window's last top X, for the history.
struct WindowTop {
  int64_t window_start_ms = 0;
  int64_t window_end_ms = 0;
  std::vector<Item> items;  // rank order
};

// Sets `row`'s rank in `items` (rank order); rank 1 starts a new firing.
void SetRank(std::vector<Item>& items, const ResultRow& row) {
  if (row.item_rank < 1) return;
  if (row.item_rank == 1) items.clear();
  const size_t index = static_cast<size_t>(row.item_rank) - 1;
  if (items.size() <= index) items.resize(index + 1);
  items[index] = Item{row.item_rank, row.item_name, row.item_count};
}

// One location's current top X (immutable once published).
struct LocationView {
  int64_t oid = 0;
  bool has_window = false;
  bool global_window = true;
  int64_t window_start_ms = 0;
  int64_t window_end_ms = 0;
  std::vector<Item> items;  // rank order
  int64_t updated_ms = 0;
  int64_t total = 0;  // sum of the items' counts
  // Its last closed windows, oldest first (at most history_windows - 1:
  // the current window is the last one shown). Shared between versions.
  std::shared_ptr<const std::vector<WindowTop>> history;
};
using ViewPtr = std::shared_ptr<const LocationView>;

bool Busier(const ViewPtr& a, const ViewPtr& b) {
  if (a->total != b->total) return a->total > b->total;
  return a->oid < b->oid;
}

// What the health section shows, from one metrics snapshot.
struct Health {
  int64_t read = 0;
  int64_t malformed = 0;
  int64_t duplicates = 0;
  int64_t conflicts = 0;
  int64_t unknown_location = 0;
  int64_t late = 0;
  int64_t accepted = 0;
  int64_t windows_fired = 0;
  int64_t early_firings = 0;
  int64_t state_entries = 0;
  int64_t state_bytes = 0;
  int64_t backpressured_ms = 0;
  std::optional<int64_t> watermark_ms;  // min over the top-k subtasks
  // The checkpoint coordinator's metrics; absent when checkpointing is off.
  bool checkpointing = false;
  int64_t checkpoints_completed = 0;
  int64_t checkpoints_failed = 0;
  int64_t last_checkpoint_id = 0;
  int64_t last_checkpoint_duration_ms = 0;
};

Health HealthOf(const std::vector<brook::MetricValue>& metrics, bool inner_join) {
  Health h;
  int64_t min_wm = std::numeric_limits<int64_t>::max();
  bool any_wm = false;
  bool no_wm = false;
  for (const brook::MetricValue& m : metrics) {
    const std::string& op = m.scope.operator_name;
    const std::string& n = m.name;
    if (op == kParse && n == "num_records_in") h.read += m.value;
    if (op == kParse && n == "num_malformed") h.malformed += m.value;
    if (op == kDedup && n == "num_duplicates") h.duplicates += m.value;
    if (op == kDedup && n == "num_conflicting_duplicates") h.conflicts += m.value;
    if (op == kJoin && n == "num_join_misses") h.unknown_location += m.value;
    if (op == kTopK && n == "num_late_records") h.late += m.value;
    if (op == kTopK && n == "num_windows_fired") h.windows_fired += m.value;
    if (op == kTopK && n == "num_early_firings") h.early_firings += m.value;
    if (n == "state_entries") h.state_entries += m.value;
    if (n == "state_bytes") h.state_bytes += m.value;
    if (n == "backpressured_time_ms") h.backpressured_ms += m.value;
    if (op == "checkpoint") {
      h.checkpointing = true;
      if (n == "checkpoints_completed") h.checkpoints_completed = m.value;
      if (n == "checkpoints_failed") h.checkpoints_failed = m.value;
      if (n == "last_completed_checkpoint_id") h.last_checkpoint_id = m.value;
      if (n == "last_checkpoint_duration_ms") h.last_checkpoint_duration_ms = m.value;
    }
    if (op == kTopK && n == "current_watermark_ms") {
      // 0 is the gauge before the subtask's first watermark.
      if (m.value == 0 || m.value == brook::kMinTimestampMs) {
        no_wm = true;
      } else {
        min_wm = std::min(min_wm, m.value);
        any_wm = true;
      }
    }
  }
  if (any_wm && !no_wm) h.watermark_ms = min_wm;
  if (!inner_join) h.unknown_location = 0;  // a left join keeps them
  h.accepted = h.read - h.malformed - h.duplicates - h.unknown_location - h.late;
  return h;
}

class LiveResultSink;

}  // namespace

struct Dashboard::Impl {
  explicit Impl(DashboardOptions o) : options(std::move(o)), server(options.http) {}

  DashboardOptions options;
  brook::web::HttpServer server;
  brook::Histogram request_duration{{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000}};  // ms
  ViewFreshness freshness{"live-view"};

  mutable absl::Mutex mu;
  DashboardJobInfo info ABSL_GUARDED_BY(mu);
  std::string state ABSL_GUARDED_BY(mu) = "waiting";
  std::string error ABSL_GUARDED_BY(mu);
  std::vector<brook::MetricValue> frozen ABSL_GUARDED_BY(mu);
  int64_t started_ms ABSL_GUARDED_BY(mu) = 0;
  int64_t ended_ms ABSL_GUARDED_BY(mu) = 0;

  mutable absl::Mutex view_mu;
  absl::flat_hash_map<int64_t, ViewPtr> views ABSL_GUARDED_BY(view_mu);
  std::atomic<uint64_t> version{0};
  // The busiest locations, recomputed at most once per version.
  mutable uint64_t busiest_version ABSL_GUARDED_BY(view_mu) = ~uint64_t{0};
  mutable std::vector<ViewPtr> busiest ABSL_GUARDED_BY(view_mu);

  // events/s: (time, records read) samples of the last few seconds.
  mutable absl::Mutex rate_mu;
  mutable std::deque<std::pair<int64_t, int64_t>> rate_samples ABSL_GUARDED_BY(rate_mu);

  // Writer side (the result sink's thread).
  template <typename RowAt>
  void Apply(size_t n, RowAt row_at);

  std::vector<brook::MetricValue> JobMetrics() const;
  double EventsPerSecond(int64_t now_ms, int64_t read, int64_t started_ms) const;
  std::string HealthObject() const;
  ViewPtr FindView(int64_t oid) const;
  std::vector<ViewPtr> Busiest() const;
  // The view's current window joins its `history` (writer side).
  void CloseWindow(const LocationView& v, std::vector<WindowTop>& history) const;
  // Its name, and whether the location table knows it.
  std::string LocationName(int64_t oid, bool* known) const;
  std::string LocationObject(int64_t oid, const ViewPtr& view) const;
  std::optional<std::string> History(int64_t oid) const;
  std::string Envelope() const;  // "job", "state", "top_x", "window" members
  std::string UpdateJson(std::optional<int64_t> selected) const;
  std::string LocationsJson(const std::string& query, int limit) const;
  std::string MetricsText() const;
  std::string PageHtml(std::optional<int64_t> selected) const;
  std::string TopKAll() const;
  std::optional<std::string> TopKOne(int64_t oid) const;
  absl::Status RegisterHandlers();
};

namespace {

class LiveResultSink final : public brook::Sink<ResultRow> {
 public:
  explicit LiveResultSink(Dashboard* dashboard) : dashboard_(dashboard) {}
  absl::StatusOr<std::unique_ptr<brook::SinkWriter<ResultRow>>> CreateWriter(
      const brook::SinkWriterContext& ctx) override {
    if (ctx.parallelism != 1) {
      return absl::FailedPreconditionError("the dashboard's result sink runs at parallelism 1");
    }
    return std::unique_ptr<brook::SinkWriter<ResultRow>>(new Writer(dashboard_));
  }

 private:
  class Writer final : public brook::SinkWriter<ResultRow> {
   public:
    explicit Writer(Dashboard* dashboard) : dashboard_(dashboard) {}
    absl::Status Write(std::vector<brook::StreamRecord<ResultRow>>& batch) override {
      rows_.clear();
      rows_.reserve(batch.size());
      for (auto& r : batch) rows_.push_back(std::move(r.value));
      dashboard_->AddResults(rows_.data(), rows_.size());
      return absl::OkStatus();
    }

   private:
    Dashboard* dashboard_;
    std::vector<ResultRow> rows_;
  };

  Dashboard* dashboard_;
};

// A firing for the live view, and whether it is an early one.
struct LiveFiring {
  ResultRow row;
  bool early = false;
};

// Orders the live view's firings: the early ones (a side output of the
// Top-K) and the others (its main output) reach it on two streams, so the
// last early firing of a window can arrive after its on-time one; it is
// stale then, and dropped. On its stream an early firing always precedes
// the watermark that reaches its window's max timestamp, so a window is
// forgotten once the watermark gets there. Not checkpointed (a live view).
class DropStaleEarlyFirings final : public brook::ProcessFunction<LiveFiring, ResultRow> {
 public:
  absl::Status ProcessElement(const LiveFiring& firing, Context& ctx,
                              brook::Collector<ResultRow>& out) override {
    while (!fired_.empty() && std::get<0>(*fired_.begin()) <= ctx.CurrentWatermark()) {
      fired_.erase(fired_.begin());
    }
    const ResultRow& r = firing.row;
    const auto window =
        std::make_tuple(r.global_window ? brook::kMaxWatermarkMs : r.window_end_ms - 1,
                        r.window_start_ms, r.geographical_location_oid);
    if (!firing.early) {
      fired_.insert(window);
    } else if (fired_.contains(window)) {
      return absl::OkStatus();
    }
    out.Collect(r);
    return absl::OkStatus();
  }

 private:
  // (max timestamp, start, location) of windows that fired on time or late.
  std::set<std::tuple<int64_t, int64_t, int64_t>> fired_;
};

}  // namespace

template <typename RowAt>
void Dashboard::Impl::Apply(size_t n, RowAt row_at) {
  if (n == 0) return;
  const int64_t now = NowMs();
  absl::flat_hash_map<int64_t, std::shared_ptr<LocationView>> touched;
  // Histories copied in this call (copy on write, once per location).
  absl::flat_hash_map<int64_t, std::shared_ptr<std::vector<WindowTop>>> histories;
  for (size_t i = 0; i < n; ++i) {
    const ResultRow& row = row_at(i);
    auto history = [&](LocationView& view) -> std::vector<WindowTop>& {
      auto& h = histories[view.oid];
      if (h == nullptr) {
        h = view.history ? std::make_shared<std::vector<WindowTop>>(*view.history)
                         : std::make_shared<std::vector<WindowTop>>();
        view.history = h;
      }
      return *h;
    };
    std::shared_ptr<LocationView>& v = touched[row.geographical_location_oid];
    if (v == nullptr) {
      // Copy on write: readers may hold the published view.
      ViewPtr current = FindView(row.geographical_location_oid);
      v = current ? std::make_shared<LocationView>(*current) : std::make_shared<LocationView>();
      v->oid = row.geographical_location_oid;
    }
    const bool newer_window = !v->has_window || row.global_window != v->global_window ||
                              (!row.global_window && row.window_start_ms > v->window_start_ms);
    if (newer_window) {
      if (v->has_window && !v->global_window && !row.global_window) {
        CloseWindow(*v, history(*v));
      }
      v->has_window = true;
      v->global_window = row.global_window;
      v->window_start_ms = row.window_start_ms;
      v->window_end_ms = row.window_end_ms;
      v->items.clear();
    } else if (!row.global_window && (row.window_start_ms < v->window_start_ms ||
                                      row.window_end_ms != v->window_end_ms)) {
      // An older (or another sliding) window's firing: a closed window's
      // final one (early firings of the next window may come first) goes to
      // its history.
      std::vector<WindowTop>& closed = history(*v);
      for (WindowTop& w : closed) {
        if (w.window_start_ms == row.window_start_ms && w.window_end_ms == row.window_end_ms) {
          SetRank(w.items, row);
        }
      }
      continue;
    }
    if (row.item_rank < 1) continue;
    SetRank(v->items, row);
    v->updated_ms = now;
  }
  absl::MutexLock lock(&view_mu);
  for (auto& [oid, v] : touched) {
    int64_t total = 0;
    for (const Item& item : v->items) total += item.count;
    v->total = total;
    views[oid] = std::move(v);
  }
  version.fetch_add(1, std::memory_order_release);
}

std::vector<brook::MetricValue> Dashboard::Impl::JobMetrics() const {
  absl::MutexLock lock(&mu);
  if (info.metrics != nullptr) return info.metrics->Snapshot();
  return frozen;
}

double Dashboard::Impl::EventsPerSecond(int64_t now_ms, int64_t read, int64_t started) const {
  absl::MutexLock lock(&rate_mu);
  if (rate_samples.empty() || now_ms - rate_samples.back().first >= 200) {
    rate_samples.emplace_back(now_ms, read);
  }
  while (rate_samples.size() > 2 && now_ms - rate_samples[1].first >= 3000) {
    rate_samples.pop_front();
  }
  const auto& [t0, r0] = rate_samples.front();
  if (now_ms - t0 >= 500) {
    return static_cast<double>(read - r0) * 1000.0 / static_cast<double>(now_ms - t0);
  }
  // Too few samples yet (first request): the average since the job started.
  if (started <= 0 || now_ms - started < 100) return 0;
  return static_cast<double>(read) * 1000.0 / static_cast<double>(now_ms - started);
}

std::string Dashboard::Impl::HealthObject() const {
  const std::vector<brook::MetricValue> metrics = JobMetrics();
  DashboardJobInfo job;
  std::string job_state;
  std::string job_error;
  int64_t started = 0;
  int64_t ended = 0;
  {
    absl::MutexLock lock(&mu);
    job.job_name = info.job_name;
    job.inner_join = info.inner_join;
    job.live_source = info.live_source;
    job_state = state;
    job_error = error;
    started = started_ms;
    ended = ended_ms;
  }
  const Health h = HealthOf(metrics, job.inner_join);
  const int64_t now = NowMs();
  const double rate = job_state == "running" ? EventsPerSecond(now, h.read, started) : 0.0;
  const brook::web::HttpServerStats http = server.stats();
  std::string out = "{";
  absl::StrAppend(&out, "\"job\":", JsonString(job.job_name), ",\"state\":", JsonString(job_state));
  if (!job_error.empty()) absl::StrAppend(&out, ",\"error\":", JsonString(job_error));
  absl::StrAppend(&out, ",\"now_ms\":", now, ",\"freshness_ms\":",
                  FreshnessMsJson(freshness.FreshnessUs(absl::GetCurrentTimeNanos() / 1000)));
  if (started > 0) {
    absl::StrAppend(&out, ",\"started_ms\":", started, ",\"uptime_s\":",
                    absl::StrFormat("%.1f", ((ended > 0 ? ended : now) - started) / 1000.0));
  }
  absl::StrAppend(&out, ",\"events_per_second\":", absl::StrFormat("%.1f", rate),
                  ",\"records_read\":", h.read, ",\"accepted\":", h.accepted,
                  ",\"duplicates\":", h.duplicates, ",\"conflicting_duplicates\":", h.conflicts,
                  ",\"malformed\":", h.malformed, ",\"unknown_location\":", h.unknown_location,
                  ",\"late\":", h.late, ",\"windows_fired\":", h.windows_fired,
                  ",\"early_firings\":", h.early_firings, ",\"state_entries\":", h.state_entries,
                  ",\"state_bytes\":", h.state_bytes, ",\"backpressured_ms\":", h.backpressured_ms);
  if (!h.watermark_ms.has_value()) {
    absl::StrAppend(&out,
                    ",\"watermark_ms\":null,\"watermark\":\"none\",\"watermark_lag_ms\":null");
  } else if (*h.watermark_ms == brook::kMaxWatermarkMs) {
    absl::StrAppend(&out,
                    ",\"watermark_ms\":null,\"watermark\":\"end of input\","
                    "\"watermark_lag_ms\":null");
  } else {
    absl::StrAppend(&out, ",\"watermark_ms\":", *h.watermark_ms,
                    ",\"watermark\":", JsonString(FormatTimeMs(*h.watermark_ms)),
                    ",\"watermark_lag_ms\":", now - *h.watermark_ms);
  }
  if (!h.checkpointing) {
    absl::StrAppend(&out, ",\"last_checkpoint\":null,\"checkpoints\":\"not enabled\"");
  } else {
    absl::StrAppend(
        &out, ",\"last_checkpoint\":",
        h.last_checkpoint_id > 0 ? absl::StrCat(h.last_checkpoint_id) : std::string("null"),
        ",\"last_checkpoint_duration_ms\":", h.last_checkpoint_duration_ms,
        ",\"checkpoints_completed\":", h.checkpoints_completed,
        ",\"checkpoints_failed\":", h.checkpoints_failed, ",\"checkpoints\":",
        JsonString(absl::StrCat(h.checkpoints_completed, " completed, ", h.checkpoints_failed,
                                " failed")));
  }
  absl::StrAppend(&out, ",\"live_source\":", JsonString(job.live_source));
  absl::StrAppend(&out, ",\"http\":{\"open_connections\":", http.open_connections,
                  ",\"event_streams\":", http.open_event_streams,
                  ",\"rejected_connections\":", http.rejected, ",\"requests\":", http.requests,
                  "}}");
  return out;
}

ViewPtr Dashboard::Impl::FindView(int64_t oid) const {
  absl::MutexLock lock(&view_mu);
  auto it = views.find(oid);
  return it == views.end() ? nullptr : it->second;
}

std::vector<ViewPtr> Dashboard::Impl::Busiest() const {
  absl::MutexLock lock(&view_mu);
  const uint64_t v = version.load(std::memory_order_acquire);
  if (busiest_version != v) {
    std::vector<ViewPtr> all;
    all.reserve(views.size());
    for (const auto& [oid, view] : views) all.push_back(view);
    const size_t k = std::min(kBusiest, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), Busier);
    all.resize(k);
    busiest = std::move(all);
    busiest_version = v;
  }
  return busiest;
}

std::string Dashboard::Impl::LocationName(int64_t oid, bool* known) const {
  absl::MutexLock lock(&mu);
  *known = false;
  if (info.location_names == nullptr) return std::string();
  auto it = info.location_names->find(oid);
  if (it == info.location_names->end()) return std::string();
  *known = true;
  return it->second;
}

void Dashboard::Impl::CloseWindow(const LocationView& v, std::vector<WindowTop>& history) const {
  history.push_back(WindowTop{v.window_start_ms, v.window_end_ms, v.items});
  const size_t keep = static_cast<size_t>(std::max(1, options.history_windows) - 1);
  if (history.size() > keep) {
    history.erase(history.begin(),
                  history.begin() + static_cast<std::ptrdiff_t>(history.size() - keep));
  }
}

// {"rank":..,"item":..,"count":..} for each item, comma-separated.
static void AppendItemsJson(const std::vector<Item>& items, std::string& out) {
  bool first = true;
  for (const Item& item : items) {
    if (item.rank == 0) continue;  // a gap left by out-of-order rows
    absl::StrAppend(&out, first ? "" : ",", "{\"rank\":", item.rank,
                    ",\"item\":", JsonString(item.item), ",\"count\":", item.count, "}");
    first = false;
  }
}

std::optional<std::string> Dashboard::Impl::History(int64_t oid) const {
  ViewPtr view = FindView(oid);
  bool known = false;
  const std::string name = LocationName(oid, &known);
  if (view == nullptr && !known) return std::nullopt;
  std::string out =
      absl::StrCat("{\"oid\":", oid, ",\"name\":", JsonString(name), ",\"windows\":[");
  auto append = [&out](const WindowTop& w, bool current) {
    if (out.back() != '[') out.push_back(',');
    absl::StrAppend(&out, "{\"start_ms\":", w.window_start_ms, ",\"end_ms\":", w.window_end_ms,
                    ",\"current\":", current ? "true" : "false", ",\"items\":[");
    AppendItemsJson(w.items, out);
    out.append("]}");
  };
  if (view != nullptr && view->history != nullptr) {
    for (const WindowTop& w : *view->history) append(w, false);
  }
  if (view != nullptr && view->has_window && !view->global_window) {
    append(WindowTop{view->window_start_ms, view->window_end_ms, view->items}, true);
  }
  out.append("]}");
  return out;
}

std::string Dashboard::Impl::LocationObject(int64_t oid, const ViewPtr& view) const {
  bool known = false;
  const std::string name = LocationName(oid, &known);
  std::string out = absl::StrCat("{\"oid\":", oid, ",\"name\":", JsonString(name),
                                 ",\"known\":", known ? "true" : "false");
  if (view == nullptr || !view->has_window) {
    absl::StrAppend(&out, ",\"window\":null,\"updated_ms\":null,\"total\":0,\"items\":[]}");
    return out;
  }
  if (view->global_window) {
    absl::StrAppend(&out, ",\"window\":{\"global\":true,\"label\":\"whole input so far\"}");
  } else {
    absl::StrAppend(&out, ",\"window\":{\"global\":false,\"start_ms\":", view->window_start_ms,
                    ",\"end_ms\":", view->window_end_ms, ",\"label\":",
                    JsonString(absl::StrCat(FormatTimeMs(view->window_start_ms), " to ",
                                            FormatTimeMs(view->window_end_ms))),
                    "}");
  }
  absl::StrAppend(&out, ",\"updated_ms\":", view->updated_ms, ",\"total\":", view->total,
                  ",\"items\":[");
  AppendItemsJson(view->items, out);
  out.append("]}");
  return out;
}

std::string Dashboard::Impl::Envelope() const {
  absl::MutexLock lock(&mu);
  std::string window;
  if (info.global_window) {
    window = "{\"mode\":\"global\",\"description\":\"whole input so far\"}";
  } else {
    const std::string size = absl::FormatDuration(absl::Milliseconds(info.window_size_ms));
    if (info.window_slide_ms > 0) {
      const std::string slide = absl::FormatDuration(absl::Milliseconds(info.window_slide_ms));
      window = absl::StrCat("{\"mode\":\"sliding\",\"size_ms\":", info.window_size_ms,
                            ",\"slide_ms\":", info.window_slide_ms, ",\"description\":",
                            JsonString(absl::StrCat(size, " windows sliding every ", slide)), "}");
    } else {
      window = absl::StrCat(
          "{\"mode\":\"tumbling\",\"size_ms\":", info.window_size_ms,
          ",\"description\":", JsonString(absl::StrCat(size, " tumbling windows")), "}");
    }
  }
  return absl::StrCat("\"job\":", JsonString(info.job_name), ",\"state\":", JsonString(state),
                      ",\"top_x\":", info.top_x, ",\"window\":", window);
}

std::string Dashboard::Impl::UpdateJson(std::optional<int64_t> selected) const {
  const std::vector<ViewPtr> top = Busiest();
  if (!selected.has_value() && !top.empty()) selected = top.front()->oid;
  std::string out =
      absl::StrCat("{", Envelope(), ",\"version\":", version.load(std::memory_order_acquire),
                   ",\"health\":", HealthObject(), ",\"selected\":");
  if (selected.has_value()) {
    out.append(LocationObject(*selected, FindView(*selected)));
  } else {
    out.append("null");
  }
  out.append(",\"busiest\":[");
  for (size_t i = 0; i < top.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(LocationObject(top[i]->oid, top[i]));
  }
  out.append("]}");
  return out;
}

std::string Dashboard::Impl::LocationsJson(const std::string& query, int limit) const {
  struct Entry {
    int64_t oid;
    const std::string* name;
    ViewPtr view;
  };
  const std::string q = absl::AsciiStrToLower(query);
  std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> names;
  {
    absl::MutexLock lock(&mu);
    names = info.location_names;
  }
  absl::flat_hash_map<int64_t, ViewPtr> all;
  {
    absl::MutexLock lock(&view_mu);
    all = views;
  }
  static const std::string kNoName;
  std::vector<Entry> matches;
  auto matches_query = [&](int64_t oid, const std::string& name) {
    return q.empty() || absl::StrContains(absl::AsciiStrToLower(name), q) ||
           absl::StrContains(absl::StrCat(oid), q);
  };
  if (names != nullptr) {
    for (const auto& [oid, name] : *names) {
      if (!matches_query(oid, name)) continue;
      auto it = all.find(oid);
      matches.push_back({oid, &name, it == all.end() ? nullptr : it->second});
    }
  }
  for (const auto& [oid, view] : all) {
    if (names != nullptr && names->contains(oid)) continue;
    if (matches_query(oid, kNoName)) matches.push_back({oid, &kNoName, view});
  }
  auto total = [](const Entry& e) { return e.view ? e.view->total : 0; };
  const size_t k = std::min(matches.size(), static_cast<size_t>(limit));
  std::partial_sort(matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(k),
                    matches.end(), [&](const Entry& a, const Entry& b) {
                      if (total(a) != total(b)) return total(a) > total(b);
                      return a.oid < b.oid;
                    });
  std::string out = absl::StrCat("{\"query\":", JsonString(query), ",\"matches\":", matches.size(),
                                 ",\"locations\":[");
  for (size_t i = 0; i < k; ++i) {
    const Entry& e = matches[i];
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"oid\":", e.oid, ",\"name\":", JsonString(*e.name),
                    ",\"total\":", total(e));
    if (e.view != nullptr && !e.view->items.empty() && e.view->items[0].rank == 1) {
      absl::StrAppend(&out, ",\"top_item\":", JsonString(e.view->items[0].item),
                      ",\"top_count\":", e.view->items[0].count);
    }
    out.push_back('}');
  }
  out.append("]}");
  return out;
}

std::string Dashboard::Impl::MetricsText() const {
  std::string text = brook::web::FormatPrometheusText(JobMetrics());
  // The dashboard's own metrics, scoped like an operator named "http".
  brook::MetricScope scope;
  {
    absl::MutexLock lock(&mu);
    scope.job = info.job_name;
  }
  scope.operator_name = "http";
  const brook::web::HttpServerStats s = server.stats();
  std::vector<brook::MetricValue> own;
  auto add = [&](const char* name, int64_t value, bool counter) {
    brook::MetricValue v;
    v.scope = scope;
    v.name = name;
    v.value = value;
    v.is_counter = counter;
    own.push_back(std::move(v));
  };
  add("http_open_connections", s.open_connections, false);
  add("http_open_event_streams", s.open_event_streams, false);
  add("num_http_connections_accepted", s.accepted, true);
  add("num_http_connections_rejected", s.rejected, true);
  add("num_http_requests", s.requests, true);
  add("num_http_bad_requests", s.bad_requests, true);
  add("num_http_timeouts", s.timeouts, true);
  add("num_http_connections_evicted", s.evicted, true);
  add("num_http_unauthorized", s.unauthorized, true);
  add("num_http_tls_handshake_failures", s.tls_handshake_failures, true);
  if (auto f = freshness.FreshnessUs(absl::GetCurrentTimeNanos() / 1000)) {
    add("view_freshness_ms", *f / 1000, false);
  }
  brook::MetricValue h;
  h.scope = scope;
  h.name = "http_request_duration_ms";
  h.histogram = request_duration.Snapshot();
  h.is_counter = false;
  h.value = h.histogram->count();
  own.push_back(std::move(h));
  text.append(brook::web::FormatPrometheusText(own, {.watermark_lag = false}));
  return text;
}

std::string Dashboard::Impl::PageHtml(std::optional<int64_t> selected) const {
  std::string state = UpdateJson(selected);
  // The page renders the list without a round trip too.
  state.pop_back();
  absl::StrAppend(&state, ",\"list\":", LocationsJson("", kDefaultListLimit), "}");
  return absl::StrReplaceAll(kDashboardPage, {{"@@INITIAL_STATE@@", state}});
}

namespace {

// "location" query parameter: nullopt when absent; an error when malformed.
absl::StatusOr<std::optional<int64_t>> LocationParam(const HttpRequest& r) {
  std::optional<std::string> p = r.QueryParam("location");
  if (!p.has_value() || p->empty()) return std::optional<int64_t>();
  int64_t oid = 0;
  if (!absl::SimpleAtoi(*p, &oid)) {
    return absl::InvalidArgumentError(
        absl::StrCat("location must be a geographical_location_oid (an integer), got '", *p, "'"));
  }
  return std::optional<int64_t>(oid);
}

HttpResponse JsonError(int status, absl::string_view message) {
  return HttpResponse::Json(status, absl::StrCat("{\"error\":", JsonString(message), "}"));
}

}  // namespace

absl::Status Dashboard::Impl::RegisterHandlers() {
  // Every plain handler is timed into brook_http_request_duration_seconds.
  auto timed = [this](brook::web::HttpHandler h) {
    return [this, h = std::move(h)](const HttpRequest& r) {
      const absl::Time start = absl::Now();
      HttpResponse response = h(r);
      request_duration.Observe(absl::ToInt64Milliseconds(absl::Now() - start));
      return response;
    };
  };
  BROOK_RETURN_IF_ERROR(server.Handle(
      "/", timed([this](const HttpRequest& r) {
        auto selected = LocationParam(r);
        if (!selected.ok())
          return HttpResponse::Text(400, std::string(selected.status().message()));
        HttpResponse response = HttpResponse::Html(200, PageHtml(*selected));
        // Everything is inline; nothing may be loaded from elsewhere.
        response.headers.emplace_back("Content-Security-Policy", kPageContentSecurityPolicy);
        response.headers.emplace_back("X-Frame-Options", "DENY");
        return response;
      })));
  BROOK_RETURN_IF_ERROR(server.Handle("/api/topk", timed([this](const HttpRequest& r) {
                                        auto location = LocationParam(r);
                                        if (!location.ok())
                                          return JsonError(400, location.status().message());
                                        if (!location->has_value())
                                          return HttpResponse::Json(200, TopKAll());
                                        std::optional<std::string> one = TopKOne(**location);
                                        if (!one.has_value()) {
                                          return JsonError(
                                              404, absl::StrCat("unknown location ", **location));
                                        }
                                        return HttpResponse::Json(200, *std::move(one));
                                      })));
  BROOK_RETURN_IF_ERROR(server.Handle("/api/history", timed([this](const HttpRequest& r) {
                                        auto location = LocationParam(r);
                                        if (!location.ok())
                                          return JsonError(400, location.status().message());
                                        if (!location->has_value())
                                          return JsonError(400, "location is required");
                                        std::optional<std::string> h = History(**location);
                                        if (!h.has_value()) {
                                          return JsonError(
                                              404, absl::StrCat("unknown location ", **location));
                                        }
                                        return HttpResponse::Json(200, *std::move(h));
                                      })));
  BROOK_RETURN_IF_ERROR(server.Handle(
      "/api/locations", timed([this](const HttpRequest& r) {
        int limit = kDefaultListLimit;
        if (std::optional<std::string> l = r.QueryParam("limit"); l.has_value()) {
          if (!absl::SimpleAtoi(*l, &limit) || limit < 1) {
            return JsonError(400, "limit must be a positive integer");
          }
          limit = std::min(limit, kMaxListLimit);
        }
        return HttpResponse::Json(200, LocationsJson(r.QueryParam("q").value_or(""), limit));
      })));
  BROOK_RETURN_IF_ERROR(server.Handle("/api/health", timed([this](const HttpRequest&) {
                                        return HttpResponse::Json(200, HealthObject());
                                      })));
  BROOK_RETURN_IF_ERROR(server.Handle("/metrics", timed([this](const HttpRequest&) {
                                        return HttpResponse::Text(
                                            200, MetricsText(), brook::web::kPrometheusContentType);
                                      })));
  return server.HandleEventStream(
      "/api/events", [this](const HttpRequest& r) -> absl::StatusOr<brook::web::EventStreamPoll> {
        auto selected = LocationParam(r);
        if (!selected.ok()) return selected.status();
        struct Client {
          std::optional<int64_t> selected;
          uint64_t sent_version = ~uint64_t{0};
          int64_t sent_ms = 0;
        };
        auto client = std::make_shared<Client>();
        client->selected = *selected;
        return brook::web::EventStreamPoll(
            [this, client](std::vector<brook::web::ServerSentEvent>& events) {
              const int64_t now = NowMs();
              const uint64_t v = version.load(std::memory_order_acquire);
              const int64_t gap = now - client->sent_ms;
              if ((v != client->sent_version && gap >= kMinPushGapMs) || gap >= kMaxPushGapMs) {
                events.push_back({"update", UpdateJson(client->selected)});
                client->sent_version = v;
                client->sent_ms = now;
              }
              return true;
            });
      });
}

std::string Dashboard::Impl::TopKAll() const {
  absl::flat_hash_map<int64_t, ViewPtr> all;
  {
    absl::MutexLock lock(&view_mu);
    all = views;
  }
  std::vector<int64_t> oids;
  oids.reserve(all.size());
  for (const auto& [oid, view] : all) oids.push_back(oid);
  std::sort(oids.begin(), oids.end());
  std::string out = absl::StrCat("{", Envelope(), ",\"locations\":[");
  for (size_t i = 0; i < oids.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(LocationObject(oids[i], all[oids[i]]));
  }
  out.append("]}");
  return out;
}

std::optional<std::string> Dashboard::Impl::TopKOne(int64_t oid) const {
  ViewPtr view = FindView(oid);
  if (view == nullptr) {
    absl::MutexLock lock(&mu);
    if (info.location_names == nullptr || !info.location_names->contains(oid)) {
      return std::nullopt;
    }
  }
  return absl::StrCat("{", Envelope(), ",\"locations\":[", LocationObject(oid, view), "]}");
}

DashboardJobInfo JobInfoFor(
    const CameraJobOptions& o, const brook::MetricRegistry& metrics,
    std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names) {
  DashboardJobInfo info;
  info.job_name = "camera-top-k";
  info.metrics = &metrics;
  info.location_names = std::move(location_names);
  info.global_window = o.window <= absl::ZeroDuration();
  info.window_size_ms = absl::ToInt64Milliseconds(o.window);
  info.window_slide_ms = absl::ToInt64Milliseconds(o.slide);
  info.top_x = o.top_x;
  info.inner_join = o.join == JoinMode::kInner;
  // Without early_fire the job fires early for the view alone (camera_job.h).
  info.live_source = absl::StrCat(
      "early firings every ",
      absl::FormatDuration(o.early_fire > absl::ZeroDuration()
                               ? o.early_fire
                               : o.dashboard->options().early_fire));
  return info;
}

absl::StatusOr<std::unique_ptr<Dashboard>> Dashboard::Start(DashboardOptions options) {
  if (options.early_fire < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError("DashboardOptions::early_fire: must be at least 1ms");
  }
  if (options.history_windows < 1) {
    return absl::InvalidArgumentError("DashboardOptions::history_windows: must be at least 1");
  }
  if (!options.http.bearer_token.empty() && !options.http.unauthorized_handler) {
    options.http.unauthorized_handler = [](const HttpRequest&) {
      HttpResponse r = HttpResponse::Html(401, kDashboardLoginPage);
      r.headers.emplace_back("Content-Security-Policy", kPageContentSecurityPolicy);
      r.headers.emplace_back("X-Frame-Options", "DENY");
      return r;
    };
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  BROOK_RETURN_IF_ERROR(impl->RegisterHandlers());
  BROOK_RETURN_IF_ERROR(impl->server.Start());
  return std::unique_ptr<Dashboard>(new Dashboard(std::move(impl)));
}

Dashboard::Dashboard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Dashboard::~Dashboard() { impl_->server.Stop(); }

const DashboardOptions& Dashboard::options() const { return impl_->options; }

int Dashboard::port() const { return impl_->server.port(); }

std::string Dashboard::url() const {
  const std::string& a = impl_->server.address();
  const bool v6 = a.find(':') != std::string::npos;
  return absl::StrCat(impl_->server.tls() ? "https://" : "http://", v6 ? "[" : "", a, v6 ? "]" : "",
                      ":", port(), "/");
}

brook::web::HttpServerStats Dashboard::http_stats() const { return impl_->server.stats(); }

void Dashboard::AttachJob(DashboardJobInfo info) {
  {
    absl::MutexLock lock(&impl_->view_mu);
    impl_->views.clear();
  }
  impl_->version.fetch_add(1, std::memory_order_release);
  {
    absl::MutexLock lock(&impl_->rate_mu);
    impl_->rate_samples.clear();
  }
  impl_->freshness.Reset();
  absl::MutexLock lock(&impl_->mu);
  impl_->info = std::move(info);
  impl_->state = "running";
  impl_->error.clear();
  impl_->frozen.clear();
  impl_->started_ms = NowMs();
  impl_->ended_ms = 0;
}

void Dashboard::DetachJob(const absl::Status& status) {
  absl::MutexLock lock(&impl_->mu);
  if (impl_->info.metrics != nullptr) impl_->frozen = impl_->info.metrics->Snapshot();
  impl_->info.metrics = nullptr;
  impl_->state = status.ok() ? "finished" : absl::IsCancelled(status) ? "cancelled" : "failed";
  impl_->error = status.ok() ? "" : std::string(status.message());
  impl_->ended_ms = NowMs();
}

std::shared_ptr<brook::Sink<ResultRow>> Dashboard::ResultSink() {
  return std::make_shared<LiveResultSink>(this);
}

void Dashboard::ShowResults(
    const brook::DataStream<ResultRow>& firings,
    const std::optional<brook::DataStream<brook::ops::RankedItem<int64_t>>>& early_firings) {
  if (!early_firings.has_value()) {
    firings.SinkTo(ResultSink(), "live-view", 1);
    return;
  }
  auto final_firings =
      firings.Map([](ResultRow&& r) { return LiveFiring{std::move(r), false}; }, "live-final");
  early_firings
      ->Map([](brook::ops::RankedItem<int64_t>&& r) {
        return LiveFiring{ToResultRow(std::move(r)), true};
      }, "live-early")
      .Union({final_firings}, "live-union")
      .SetParallelism(1)
      .Process(DropStaleEarlyFirings(), "live-order")
      .SetParallelism(1)
      .SinkTo(ResultSink(), "live-view", 1);
}

void Dashboard::AddResults(const ResultRow* rows, size_t n) {
  impl_->Apply(n, [rows](size_t i) -> const ResultRow& { return rows[i]; });
  absl::MutexLock lock(&impl_->mu);  // the registry is valid while attached
  impl_->freshness.OnUpdate(absl::GetCurrentTimeNanos() / 1000, impl_->info.metrics);
}

std::optional<double> Dashboard::FreshnessMs() const {
  auto us = impl_->freshness.FreshnessUs(absl::GetCurrentTimeNanos() / 1000);
  return us ? std::optional<double>(*us / 1000.0) : std::nullopt;
}

std::string Dashboard::TopKJson() const { return impl_->TopKAll(); }

std::optional<std::string> Dashboard::TopKJson(int64_t location_oid) const {
  return impl_->TopKOne(location_oid);
}

std::string Dashboard::HealthJson() const { return impl_->HealthObject(); }
std::optional<std::string> Dashboard::HistoryJson(int64_t location_oid) const {
  return impl_->History(location_oid);
}

}  // namespace camera
