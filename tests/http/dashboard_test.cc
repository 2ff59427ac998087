// The camera job's dashboard: the live view against the job's own output,
// the JSON API, /metrics, the page, abuse while the job runs, and the
// binary's --http_* flags.
#include "camera_top_k/dashboard.h"

#include <signal.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "camera_top_k/camera_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/camera_fixture.h"
#include "http/http_test_util.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;

namespace {

using ::brook_http_test::BackgroundJob;
using ::brook_http_test::ChildProcess;
using ::brook_http_test::GeneratorJob;
using ::brook_http_test::HttpGet;
using ::brook_http_test::HttpGetRetry;
using ::brook_http_test::HttpResult;
using ::brook_http_test::ParseResponse;
using ::brook_http_test::ParseTopKJson;
using ::brook_http_test::PollUntil;
using ::brook_http_test::ReadFile;
using ::brook_http_test::ReadResultCsv;
using ::brook_http_test::StartDashboard;
using ::brook_http_test::TcpClient;
using ::brook_http_test::TempDir;
using ::brook_http_test::TopKByLocation;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
namespace json = ::brook_http_test::json;

json::Value Json(const std::string& body) {
  std::optional<json::Value> v = json::Parse(body);
  EXPECT_TRUE(v.has_value()) << "not JSON: " << body.substr(0, 300);
  return v.value_or(json::Value{});
}

// Files equal; on a difference, the first differing line (not a diff of
// megabytes).
void ExpectSameFile(const std::string& actual_path, const std::string& expected_path) {
  const std::string actual = ReadFile(actual_path);
  const std::string expected = ReadFile(expected_path);
  if (actual == expected) return;
  std::istringstream a(actual);
  std::istringstream e(expected);
  std::string la;
  std::string le;
  int line = 0;
  for (;;) {
    ++line;
    const bool more_a = static_cast<bool>(std::getline(a, la));
    const bool more_e = static_cast<bool>(std::getline(e, le));
    if (!more_a && !more_e) break;
    if (la != le || more_a != more_e) {
      ADD_FAILURE() << actual_path << " differs from " << expected_path << " at line " << line
                    << ":\n  actual:   " << (more_a ? la : "<end>")
                    << "\n  expected: " << (more_e ? le : "<end>");
      return;
    }
  }
  ADD_FAILURE() << actual_path << " differs from " << expected_path;
}

absl::StatusOr<camera::CameraJobSummary> RunJob(camera::CameraJobOptions o) {
  auto job = camera::CameraJob::Create(std::move(o));
  if (!job.ok()) return job.status();
  return (*job)->Run();
}

TEST(DashboardTest, FinalViewEqualsTheJobOutputAndTheOutputIsUnchanged) {
  TempDir dir;
  // Parallelism 2: exchanges between subtasks (and their backpressure metric).
  camera::CameraJobOptions reference = GeneratorJob(20000, 0, dir / "reference.csv");
  reference.parallelism = 2;
  ASSERT_THAT(RunJob(reference), IsOk());
  auto dashboard = StartDashboard();
  ASSERT_NE(dashboard, nullptr);
  camera::CameraJobOptions o = GeneratorJob(20000, 0, dir / "out.csv");
  o.parallelism = 2;
  o.dashboard = dashboard.get();
  auto summary = RunJob(o);
  ASSERT_THAT(summary, IsOk());

  // The live view's own Top-K does not change the job's output.
  ExpectSameFile(dir / "out.csv", dir / "reference.csv");
  const TopKByLocation csv = ReadResultCsv(dir / "out.csv");
  ASSERT_EQ(csv.size(), 50u);  // the generator's locations

  HttpResult all = HttpGet(dashboard->port(), "/api/topk");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.headers["content-type"], "application/json; charset=utf-8");
  EXPECT_EQ(ParseTopKJson(all.body), csv);
  const json::Value v = Json(all.body);
  EXPECT_EQ(v["state"].str(), "finished");
  EXPECT_EQ(v["window"]["mode"].str(), "global");
  EXPECT_EQ(v["top_x"].i64(), 10);

  HttpResult one = HttpGet(dashboard->port(), "/api/topk?location=7");
  ASSERT_EQ(one.status, 200);
  const TopKByLocation seven = ParseTopKJson(one.body);
  ASSERT_EQ(seven.size(), 1u);
  EXPECT_EQ(seven.at(7), csv.at(7));

  const json::Value health = Json(HttpGet(dashboard->port(), "/api/health").body);
  EXPECT_EQ(health["state"].str(), "finished");
  EXPECT_EQ(health["records_read"].i64(), summary->read);
  EXPECT_EQ(health["accepted"].i64(), summary->accepted);
  EXPECT_EQ(health["duplicates"].i64(), summary->duplicates);
  EXPECT_EQ(health["malformed"].i64(), 0);
  EXPECT_EQ(health["watermark"].str(), "end of input");
  EXPECT_TRUE(health["last_checkpoint"].is_null());

  // The metrics outlive the job's registry, with their last values.
  HttpResult metrics = HttpGet(dashboard->port(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(metrics.body, HasSubstr(absl::StrCat(
                                "brook_records_in_total{job=\"camera-top-k\",operator=\"parse\","
                                "subtask=\"0\"} ",
                                summary->read, "\n")));
  for (const char* name :
       {"brook_records_out_total", "brook_duplicates_total", "brook_join_misses_total",
        "brook_late_records_total", "brook_malformed_total", "brook_state_entries",
        "brook_state_bytes", "brook_backpressured_time_seconds_total",
        "brook_current_watermark_timestamp_seconds", "brook_early_firings_total",
        "brook_http_requests_total", "brook_http_request_duration_seconds_bucket"}) {
    EXPECT_THAT(metrics.body, HasSubstr(absl::StrCat("\n", name, "{"))) << name;
  }
}

TEST(DashboardTest, WindowedJobShowsEachLocationsNewestWindow) {
  TempDir dir;
  auto dashboard = StartDashboard();
  ASSERT_NE(dashboard, nullptr);
  camera::CameraJobOptions o = GeneratorJob(30000, 0, dir / "out.csv");
  o.window = absl::Seconds(1);  // event time: the generator makes 10000 events/s
  o.dashboard = dashboard.get();
  ASSERT_THAT(RunJob(o), IsOk());
  const TopKByLocation csv = ReadResultCsv(dir / "out.csv");
  ASSERT_FALSE(csv.empty());
  const std::string body = HttpGet(dashboard->port(), "/api/topk").body;
  EXPECT_EQ(ParseTopKJson(body), csv);
  EXPECT_EQ(Json(body)["window"]["mode"].str(), "tumbling");
}

// /api/history: per location, the final top X of each of its last windows
// (oldest first, the newest marked current), as in the output CSV, though
// the view saw early firings of each next window before a window's final one.
TEST(DashboardTest, HistoryHoldsEachLocationsLastWindowsFinalTopX) {
  TempDir dir;
  camera::DashboardOptions options;
  options.history_windows = 3;
  auto dashboard = StartDashboard(options);
  ASSERT_NE(dashboard, nullptr);
  camera::CameraJobOptions o = GeneratorJob(60000, 0, dir / "out.csv");
  o.window = absl::Seconds(1);  // about 6 windows
  o.dashboard = dashboard.get();
  ASSERT_THAT(RunJob(o), IsOk());
  // location -> window end -> "rank:item:count" rows, from the CSV.
  std::map<int64_t, std::map<int64_t, std::vector<std::string>>> csv;
  std::stringstream in(ReadFile(dir / "out.csv"));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    const std::vector<std::string> f = brook_http_test::SplitCsvLine(line);
    ASSERT_EQ(f.size(), 7u) << line;
    csv[std::stoll(f[2])][std::stoll(f[1])].push_back(absl::StrCat(f[4], ":", f[5], ":", f[6]));
  }
  ASSERT_FALSE(csv.empty());
  const int port = dashboard->port();
  for (const auto& [oid, windows] : csv) {
    ASSERT_GE(windows.size(), 4u);
    const json::Value h = Json(HttpGet(port, absl::StrCat("/api/history?location=", oid)).body);
    EXPECT_EQ(h["oid"].i64(), oid);
    std::vector<int64_t> ends;
    for (const auto& [end, rows] : windows) ends.push_back(end);
    const std::vector<json::Value>& got = h["windows"].arr();
    ASSERT_EQ(got.size(), 3u) << "location " << oid;
    for (size_t i = 0; i < got.size(); ++i) {
      const int64_t end = ends[ends.size() - 3 + i];
      EXPECT_EQ(got[i]["end_ms"].i64(), end);
      EXPECT_EQ(got[i]["current"].boolean(), i + 1 == got.size());
      std::vector<std::string> items;
      for (const json::Value& it : got[i]["items"].arr()) {
        items.push_back(
            absl::StrCat(it["rank"].i64(), ":", it["item"].str(), ":", it["count"].i64()));
      }
      EXPECT_EQ(items, windows.at(end)) << "location " << oid << ", window ending " << end;
    }
  }
  EXPECT_EQ(HttpGet(port, "/api/history").status, 400);
  EXPECT_EQ(HttpGet(port, "/api/history?location=abc").status, 400);
  EXPECT_EQ(HttpGet(port, "/api/history?location=999999").status, 404);
  EXPECT_THAT(HttpGet(port, "/").body, HasSubstr("id=\"history\""));
}

// The Top-K fires early for the view (here every millisecond, so that a
// short run has many early firings), yet the output has exactly the final
// results of a run without a dashboard: the global window at parallelism 2,
// and tumbling windows with late firings and late records at parallelism 1
// (with allowed lateness, which records are late depends on how the
// subtasks' records and watermarks interleave at parallelism > 1, so two runs
// differ there even without a dashboard).
TEST(DashboardTest, EarlyFiringsForTheViewNeverReachTheOutput) {
  for (const bool windowed : {false, true}) {
    SCOPED_TRACE(windowed ? "tumbling windows" : "global window");
    TempDir dir;
    auto options = [&](const std::string& out) {
      camera::CameraJobOptions o = GeneratorJob(100000, 0, out);
      o.parallelism = windowed ? 1 : 2;
      o.dead_letter_path = out + ".rejected";
      if (windowed) {
        o.window = absl::Seconds(2);
        o.out_of_orderness = absl::Milliseconds(200);  // the generator is 1s out of order
        o.allowed_lateness = absl::Milliseconds(300);
      }
      return o;
    };
    ASSERT_THAT(RunJob(options(dir / "reference.csv")), IsOk());
    camera::DashboardOptions dashboard_options;
    dashboard_options.early_fire = absl::Milliseconds(1);
    auto dashboard = StartDashboard(dashboard_options);
    ASSERT_NE(dashboard, nullptr);
    camera::CameraJobOptions o = options(dir / "out.csv");
    o.dashboard = dashboard.get();
    auto summary = RunJob(o);
    ASSERT_THAT(summary, IsOk());
    ExpectSameFile(dir / "out.csv", dir / "reference.csv");
    ExpectSameFile(dir / "out.csv.rejected", dir / "reference.csv.rejected");
    if (windowed) EXPECT_GT(summary->late, 0);
    const json::Value health = Json(HttpGet(dashboard->port(), "/api/health").body);
    EXPECT_GT(health["early_firings"].i64(), 0);
    EXPECT_EQ(health["live_source"].str(), "early firings every 1ms");
    EXPECT_EQ(ParseTopKJson(HttpGet(dashboard->port(), "/api/topk").body),
              ReadResultCsv(dir / "reference.csv"));
  }
}

// With --early_fire the output has early rows by request; they feed the view.
TEST(DashboardTest, UserEarlyFiringsFeedTheView) {
  TempDir dir;
  ASSERT_THAT(RunJob(GeneratorJob(20000, 0, dir / "reference.csv")), IsOk());
  auto dashboard = StartDashboard();
  ASSERT_NE(dashboard, nullptr);
  camera::CameraJobOptions o = GeneratorJob(20000, 0, dir / "out.csv");
  o.early_fire = absl::Milliseconds(100);
  o.dashboard = dashboard.get();
  ASSERT_THAT(RunJob(o), IsOk());
  EXPECT_EQ(ParseTopKJson(HttpGet(dashboard->port(), "/api/topk").body),
            ReadResultCsv(dir / "reference.csv"));
  EXPECT_EQ(Json(HttpGet(dashboard->port(), "/api/health").body)["live_source"].str(),
            "early firings every 100ms");
}

TEST(DashboardTest, LiveViewShowsResultsWhileTheJobRunsAndCancelStopsIt) {
  TempDir dir;
  auto dashboard = StartDashboard();
  ASSERT_NE(dashboard, nullptr);
  // Paced and practically endless: only Cancel() ends it.
  camera::CameraJobOptions o = GeneratorJob(100'000'000, 20000, dir / "out.csv");
  o.dashboard = dashboard.get();
  o.latency_tracking_interval = absl::Milliseconds(10);
  auto job = BackgroundJob::Start(o);
  ASSERT_NE(job, nullptr);

  // Early firings put results on the view long before the (global) window
  // could close; the counts keep growing while the job runs.
  int64_t first_total = 0;
  ASSERT_TRUE(PollUntil(
      [&] {
        const json::Value v = Json(HttpGet(dashboard->port(), "/api/topk?location=1").body);
        if (v["state"].str() != "running" || v["locations"].arr().empty()) return false;
        first_total = v["locations"].arr()[0]["total"].i64();
        return first_total > 0;
      },
      120s))
      << "no live result while the job runs";
  ASSERT_TRUE(PollUntil(
      [&] {
        const json::Value v = Json(HttpGet(dashboard->port(), "/api/topk?location=1").body);
        return !v["locations"].arr().empty() &&
               v["locations"].arr()[0]["total"].i64() > first_total;
      },
      120s));
  const json::Value health = Json(HttpGet(dashboard->port(), "/api/health").body);
  EXPECT_EQ(health["state"].str(), "running");
  EXPECT_GT(health["records_read"].i64(), 0);
  EXPECT_THAT(health["live_source"].str(), HasSubstr("early firings every 500ms"));
  // Freshness: the age of the newest event in the view, at least the
  // source-to-view transit, at most the early-firing interval plus the
  // transit (generous: a loaded machine); latency markers reach /metrics.
  EXPECT_GE(health["freshness_ms"].num(), 0.0);
  EXPECT_LT(health["freshness_ms"].num(), 60'000.0);
  ASSERT_TRUE(dashboard->FreshnessMs().has_value());
  const std::string metrics = HttpGet(dashboard->port(), "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("brook_view_freshness_seconds"));
  EXPECT_THAT(metrics, HasSubstr("brook_latency_seconds_bucket{"));

  job->Cancel();
  ASSERT_TRUE(job->Wait());
  EXPECT_THAT(job->result().status(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(Json(HttpGet(dashboard->port(), "/api/health").body)["state"].str(), "cancelled");
}

TEST(DashboardTest, EarlyFireUnderOneMillisecondIsRejected) {
  camera::DashboardOptions options;
  options.early_fire = absl::Microseconds(500);
  EXPECT_THAT(camera::Dashboard::Start(options), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DashboardTest, JsonApiValidatesItsParameters) {
  TempDir dir;
  auto dashboard = StartDashboard();
  ASSERT_NE(dashboard, nullptr);
  camera::CameraJobOptions o = GeneratorJob(5000, 0, dir / "out.csv");
  o.dashboard = dashboard.get();
  ASSERT_THAT(RunJob(o), IsOk());
  const int port = dashboard->port();
  EXPECT_EQ(HttpGet(port, "/api/topk?location=abc").status, 400);
  EXPECT_EQ(HttpGet(port, "/api/topk?location=999999").status, 404);
  EXPECT_EQ(HttpGet(port, "/api/locations?limit=0").status, 400);
  EXPECT_EQ(HttpGet(port, "/api/events?location=x").status, 400);
  EXPECT_EQ(HttpGet(port, "/api/nope").status, 404);

  const json::Value list = Json(HttpGet(port, "/api/locations?q=district%202&limit=5").body);
  EXPECT_EQ(list["locations"].arr().size(), 5u);
  for (const json::Value& l : list["locations"].arr()) {
    EXPECT_THAT(l["name"].str(), HasSubstr("District 2"));
  }
  const json::Value by_id = Json(HttpGet(port, "/api/locations?q=42").body);
  ASSERT_FALSE(by_id["locations"].arr().empty());
  EXPECT_EQ(by_id["locations"].arr()[0]["oid"].i64(), 42);
}

TEST(DashboardTest, PageIsSelfContainedAndCarriesTheCurrentState) {
  TempDir dir;
  auto dashboard = StartDashboard();
  ASSERT_NE(dashboard, nullptr);
  camera::CameraJobOptions o = GeneratorJob(5000, 0, dir / "out.csv");
  o.dashboard = dashboard.get();
  ASSERT_THAT(RunJob(o), IsOk());
  HttpResult page = HttpGet(dashboard->port(), "/?location=3");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_THAT(page.headers["content-security-policy"], HasSubstr("default-src 'none'"));
  EXPECT_THAT(page.body, HasSubstr("<!doctype html>"));
  EXPECT_THAT(page.body, HasSubstr("new EventSource("));
  // Nothing is loaded from anywhere else.
  for (const char* external : {"src=", "href=", "url(", "@import", "http://", "https://"}) {
    EXPECT_THAT(page.body, Not(HasSubstr(external))) << external;
  }
  const size_t start = page.body.find("<script id=\"initial-state\" type=\"application/json\">");
  ASSERT_NE(start, std::string::npos);
  const size_t begin = page.body.find('>', start) + 1;
  const size_t end = page.body.find("</script>", begin);
  const json::Value state = Json(page.body.substr(begin, end - begin));
  EXPECT_EQ(state["selected"]["oid"].i64(), 3);
  EXPECT_EQ(state["selected"]["name"].str(), "Location 3 (District 1)");
  EXPECT_FALSE(state["selected"]["items"].arr().empty());
  EXPECT_EQ(state["busiest"].arr().size(), 8u);
  EXPECT_EQ(state["list"]["locations"].arr().size(), 50u);
}

TEST(DashboardTest, EventStreamPushesUpdates) {
  TempDir dir;
  auto dashboard = StartDashboard();
  ASSERT_NE(dashboard, nullptr);
  camera::CameraJobOptions o = GeneratorJob(5000, 0, dir / "out.csv");
  o.dashboard = dashboard.get();
  ASSERT_THAT(RunJob(o), IsOk());
  TcpClient c;
  ASSERT_TRUE(c.Connect(dashboard->port()));
  ASSERT_TRUE(c.Send("GET /api/events?location=2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string raw;
  // The first update comes with the response head, the next within a second.
  ASSERT_TRUE(c.ReadUntil(raw, "event: update\n", 60s));
  const size_t second_from = raw.find("event: update\n") + 1;
  ASSERT_TRUE(PollUntil(
      [&] {
        c.ReadSome(raw, 100ms);
        return raw.find("event: update\n", second_from) != std::string::npos;
      },
      60s));
  const size_t data = raw.find("data: ") + 6;
  const json::Value update = Json(raw.substr(data, raw.find('\n', data) - data));
  EXPECT_EQ(update["selected"]["oid"].i64(), 2);
  EXPECT_EQ(update["health"]["state"].str(), "finished");
}

// A burst of hostile clients while the job runs: the server keeps serving
// and the job's output is exactly that of a run without HTTP.
TEST(DashboardTest, SurvivesAbuseWhileTheJobRunsAndTheOutputStaysCorrect) {
  TempDir dir;
  // ~3 s of paced input, so that the abuse overlaps the run.
  camera::CameraJobOptions reference = GeneratorJob(60000, 20000, dir / "reference.csv");
  ASSERT_THAT(RunJob(reference), IsOk());

  camera::DashboardOptions options;
  options.http.max_connections = 16;
  options.http.max_header_bytes = 8192;
  options.http.request_timeout = absl::Seconds(1);
  options.http.write_timeout = absl::Seconds(2);
  auto dashboard = StartDashboard(options);
  ASSERT_NE(dashboard, nullptr);
  const int port = dashboard->port();
  camera::CameraJobOptions o = GeneratorJob(60000, 20000, dir / "out.csv");
  o.dashboard = dashboard.get();
  auto job = BackgroundJob::Start(o);
  ASSERT_NE(job, nullptr);

  int rounds = 0;
  while (rounds == 0 || !job->done()) {
    ++rounds;
    // Malformed requests.
    for (const std::string& bad :
         {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS hello
          std::string("GET / HTTP/1.1\r\nHost\r\n\r\n"),
          std::string("GET /api/topk?location=%%% HTTP/1.1\r\n\r\n"), std::string("\r\n\r\n\r\n"),
          std::string("BREW /coffee HTCPCP/1.0\r\n\r\n")}) {
      TcpClient c;
      if (!c.Connect(port)) continue;
      c.Send(bad);
      std::string ignored;
      EXPECT_TRUE(c.ReadToEnd(ignored, 30s));
    }
    // Oversized headers.
    {
      TcpClient c;
      ASSERT_TRUE(c.Connect(port));
      c.Send("GET /api/health HTTP/1.1\r\nCookie: " + std::string(64 * 1024, 'c') + "\r\n\r\n");
      std::string raw;
      c.ReadToEnd(raw, 30s);
      EXPECT_EQ(ParseResponse(raw).status, 431);
    }
    // Event-stream clients that vanish mid-stream, some with a reset.
    {
      std::vector<TcpClient> streams(6);
      for (size_t i = 0; i < streams.size(); ++i) {
        ASSERT_TRUE(streams[i].Connect(port));
        ASSERT_TRUE(streams[i].Send("GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n"));
        std::string raw;
        EXPECT_TRUE(streams[i].ReadUntil(raw, "event: update", 60s));
      }
      for (size_t i = 0; i < streams.size(); ++i) {
        if (i % 2 == 0) {
          streams[i].Reset();
        } else {
          streams[i].Close();
        }
      }
    }
    // More idle connections than allowed: the longest waiting make room, and
    // a normal client is served while the crowd is still there.
    {
      const int64_t evicted_before = dashboard->http_stats().evicted;
      std::vector<TcpClient> idle(options.http.max_connections + 4);
      for (TcpClient& c : idle) c.Connect(port);
      EXPECT_TRUE(PollUntil([&] { return dashboard->http_stats().evicted > evicted_before; }));
      EXPECT_EQ(HttpGet(port, "/api/health").status, 200);
    }
    HttpResult health;
    EXPECT_TRUE(PollUntil([&] { return (health = HttpGet(port, "/api/health")).status == 200; }));
  }
  ASSERT_TRUE(job->Wait());
  ASSERT_THAT(job->result(), IsOk()) << job->result().status();
  EXPECT_GE(rounds, 1);

  ExpectSameFile(dir / "out.csv", dir / "reference.csv");
  EXPECT_EQ(ParseTopKJson(HttpGetRetry(port, "/api/topk").body),
            ReadResultCsv(dir / "reference.csv"));
  EXPECT_TRUE(PollUntil([&] {
    const auto s = dashboard->http_stats();
    return s.open_connections == 0 && s.open_event_streams == 0;
  }));
  EXPECT_GT(dashboard->http_stats().bad_requests, 0);
}

#ifdef CAMERA_TOP_K_BINARY
// The binary: --http_port serves while the job runs, --http_linger keeps it
// up afterwards until SIGTERM; the result file is complete before that.
TEST(DashboardBinaryTest, ServesLingersAndStopsOnSigterm) {
  TempDir dir;
  ChildProcess job;
  std::string err;
  const int port = brook_http_test::StartOnFreePort(
      job,
      [&](int port) -> std::vector<std::string> {
        return {CAMERA_TOP_K_BINARY,      "--generate", "--generate_count=20000",
                "--progress=false",       "--http_port=" + std::to_string(port),
                "--http_linger=inf",      "--output=" + (dir / "out.csv")};
      },
      dir.path(), "result written to", err);
  ASSERT_NE(port, 0) << err;
  EXPECT_THAT(err, HasSubstr(absl::StrCat("dashboard at http://127.0.0.1:", port, "/")));
  EXPECT_THAT(err, HasSubstr("(SIGINT/SIGTERM to stop)"));

  EXPECT_EQ(Json(HttpGetRetry(port, "/api/health").body)["state"].str(), "finished");
  EXPECT_EQ(ParseTopKJson(HttpGetRetry(port, "/api/topk").body), ReadResultCsv(dir / "out.csv"));
  job.Signal(SIGTERM);
  EXPECT_EQ(job.Wait(120s), std::optional<int>(0));
}

TEST(DashboardBinaryTest, BadHttpFlagsAreRejectedBeforeAnyWork) {
  TempDir dir;
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--http_port=-1"},
        std::vector<std::string>{"--http_port=1", "--http_address=not-an-ip"}}) {
    std::vector<std::string> argv = {CAMERA_TOP_K_BINARY, "--generate", "--generate_count=10",
                                     "--output=" + (dir / "out.csv")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    ChildProcess p;
    ASSERT_TRUE(p.Start(argv, "", dir / "stderr.txt"));
    EXPECT_EQ(p.Wait(120s), std::optional<int>(2)) << ReadFile(dir / "stderr.txt");
    EXPECT_THAT(ReadFile(dir / "stderr.txt"), HasSubstr("--http_"));
  }
}
#endif  // CAMERA_TOP_K_BINARY

}  // namespace
