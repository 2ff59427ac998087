// The dashboard against the real tools operations and users run:
//   - promtool (Debian package `prometheus`) lints /metrics;
//   - a Prometheus server on loopback scrapes the running job and answers a
//     query for a brook_ series;
//   - headless Chromium (Debian package `chromium`) renders the page from a
//     job fed by the generator; its DOM shows the locations, ranks and items
//     of /api/topk; a screenshot is saved.
// Each test is skipped (never failed) when its tool is not installed; CI
// installs them (scripts/install-deps.sh). Children are killed on every path
// (ChildProcess), ports are picked by the kernel, and every wait is a bounded
// poll.
#include <algorithm>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "camera_top_k/camera_job.h"
#include "camera_top_k/dashboard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/camera_fixture.h"
#include "http/http_test_util.h"

namespace {

using ::brook_http_test::BackgroundJob;
using ::brook_http_test::ChildProcess;
using ::brook_http_test::FindExecutable;
using ::brook_http_test::GeneratorJob;
using ::brook_http_test::HttpGet;
using ::brook_http_test::HttpGetRetry;
using ::brook_http_test::HttpResult;
using ::brook_http_test::ParseTopKJson;
using ::brook_http_test::PollUntil;
using ::brook_http_test::ReadFile;
using ::brook_http_test::TempDir;
using ::brook_http_test::TopKByLocation;
using ::brook_http_test::WriteFile;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace json = ::brook_http_test::json;

// A dashboard with a paced, practically endless generator job behind it
// (cancelled and joined when this goes away).
struct LiveJob {
  TempDir dir{"brook_live_job"};
  std::unique_ptr<camera::Dashboard> dashboard;
  std::unique_ptr<BackgroundJob> job;

  bool Start() {
    dashboard = brook_http_test::StartDashboard();
    if (dashboard == nullptr) return false;
    camera::CameraJobOptions o = GeneratorJob(100'000'000, 20000, dir / "out.csv");
    o.dashboard = dashboard.get();
    job = BackgroundJob::Start(o);
    return job != nullptr;
  }
  int port() const { return dashboard->port(); }
  std::string url(const std::string& path = "/") const {
    return absl::StrCat("http://127.0.0.1:", port(), path);
  }
  // Until the view has results for `locations` locations while running.
  bool WaitForResults(size_t locations = 5) {
    return PollUntil(
        [&] {
          HttpResult r = HttpGet(port(), "/api/topk");
          return r.status == 200 && ParseTopKJson(r.body).size() >= locations;
        },
        180s, 100ms);
  }
  bool Stop() {
    job->Cancel();
    return job->Wait();
  }
};

// promtool check metrics: exit status 0 means no problems (lint included).
void ExpectPromtoolAccepts(const std::string& promtool, const std::string& metrics,
                           const TempDir& dir, const std::string& name) {
  const std::string in = dir / (name + ".prom");
  WriteFile(in, metrics);
  ChildProcess p;
  ASSERT_TRUE(
      p.Start({promtool, "check", "metrics"}, dir / (name + ".out"), dir / (name + ".err"), in));
  const std::optional<int> code = p.Wait(120s);
  ASSERT_TRUE(code.has_value()) << "promtool did not finish";
  EXPECT_EQ(*code, 0) << "promtool check metrics rejected /metrics:\n"
                      << ReadFile(dir / (name + ".out")) << ReadFile(dir / (name + ".err"))
                      << "\n--- metrics ---\n"
                      << metrics;
}

TEST(PromtoolTest, AcceptsMetricsWhileTheJobRunsAndAfterItEnds) {
  const std::string promtool = FindExecutable("promtool");
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool is not installed (Debian package 'prometheus'); skipping";
  }
  LiveJob live;
  ASSERT_TRUE(live.Start());
  ASSERT_TRUE(live.WaitForResults());
  std::string running;
  ASSERT_TRUE(PollUntil(
      [&] {
        running = HttpGet(live.port(), "/metrics").body;
        return running.find("brook_watermark_lag_seconds{") != std::string::npos;
      },
      120s))
      << running;
  ExpectPromtoolAccepts(promtool, running, live.dir, "running");

  ASSERT_TRUE(live.Stop());
  const std::string ended = HttpGetRetry(live.port(), "/metrics").body;
  EXPECT_THAT(ended, HasSubstr("brook_records_in_total{"));
  ExpectPromtoolAccepts(promtool, ended, live.dir, "ended");
}

TEST(PrometheusServerTest, ScrapesTheRunningJob) {
  const std::string prometheus = FindExecutable("prometheus");
  if (prometheus.empty()) {
    GTEST_SKIP() << "prometheus is not installed (Debian package 'prometheus'); skipping";
  }
  LiveJob live;
  ASSERT_TRUE(live.Start());
  ASSERT_TRUE(live.WaitForResults(1));

  TempDir dir("brook_prometheus");
  WriteFile(dir / "prometheus.yml", absl::StrCat("global:\n"
                                                 "  scrape_interval: 1s\n"
                                                 "  evaluation_interval: 1s\n"
                                                 "scrape_configs:\n"
                                                 "  - job_name: brook\n"
                                                 "    honor_labels: true\n"
                                                 "    static_configs:\n"
                                                 "      - targets: ['127.0.0.1:",
                                                 live.port(), "']\n"));
  ChildProcess server;
  int prometheus_port = 0;
  bool ready = false;
  // Its port is picked here and may be taken before Prometheus binds it:
  // then it exits, and we try another.
  for (int attempt = 0; attempt < 5 && !ready; ++attempt) {
    prometheus_port = brook_http_test::FreePort();
    ASSERT_TRUE(server.Start(
        {prometheus, "--config.file=" + (dir / "prometheus.yml"),
         "--storage.tsdb.path=" + (dir / absl::StrCat("data", attempt)),
         absl::StrCat("--web.listen-address=127.0.0.1:", prometheus_port), "--log.level=warn"},
        dir / "prometheus.out", dir / "prometheus.err"));
    ready =
        PollUntil(
            [&] {
              return !server.running() || HttpGet(prometheus_port, "/-/ready", 5s).status == 200;
            },
            180s, 200ms) &&
        server.running();
  }
  ASSERT_TRUE(ready) << "Prometheus did not start:\n" << ReadFile(dir / "prometheus.err");

  // The query is answered once the first scrapes are in (1s interval).
  const std::string query =
      "/api/v1/query?query=brook_records_in_total%7Bjob%3D%22camera-top-k%22%2C"
      "operator%3D%22parse%22%7D";
  json::Value sample;
  ASSERT_TRUE(PollUntil(
      [&] {
        HttpResult r = HttpGet(prometheus_port, query, 10s);
        if (r.status != 200) return false;
        std::optional<json::Value> v = json::Parse(r.body);
        if (!v.has_value() || (*v)["status"].str() != "success") return false;
        const json::Array& result = (*v)["data"]["result"].arr();
        if (result.empty()) return false;
        sample = result[0];
        return true;
      },
      180s, 500ms))
      << "Prometheus never returned brook_records_in_total:\n"
      << ReadFile(dir / "prometheus.err");
  EXPECT_EQ(sample["metric"]["__name__"].str(), "brook_records_in_total");
  EXPECT_EQ(sample["metric"]["operator"].str(), "parse");
  EXPECT_EQ(sample["metric"]["subtask"].str(), "0");
  ASSERT_EQ(sample["value"].arr().size(), 2u);
  EXPECT_GT(std::stod(sample["value"].arr()[1].str()), 0.0);
  ASSERT_TRUE(live.Stop());
}

// What the page shows in a --dump-dom: the selected location and its rows.
struct RenderedDetail {
  int64_t oid = -1;
  std::string name;
  std::vector<std::tuple<int, std::string, int64_t>> rows;  // rank, item, count
  std::vector<std::string> card_names;
  std::string state;
};

std::string HtmlUnescape(std::string s) {
  return absl::StrReplaceAll(s, {{"&lt;", "<"},
                                 {"&gt;", ">"},
                                 {"&quot;", "\""},
                                 {"&#39;", "'"},
                                 {"&nbsp;", " "},
                                 {"&amp;", "&"}});
}

RenderedDetail ParseDom(const std::string& dom) {
  RenderedDetail d;
  std::smatch m;
  if (std::regex_search(dom, m, std::regex(R"re(id="detail" data-oid="(\d+)")re"))) {
    d.oid = std::stoll(m[1]);
  }
  if (std::regex_search(dom, m, std::regex(R"re(<h2 id="loc-name">([^<]*)</h2>)re"))) {
    d.name = HtmlUnescape(m[1]);
  }
  if (std::regex_search(dom, m, std::regex(R"re(<span id="state" class="pill[^"]*">([^<]*)<)re"))) {
    d.state = m[1];
  }
  const std::regex row(
      R"re(<tr data-rank="(\d+)"><td class="rank num">(\d+)</td><td class="item">([^<]*)</td><td class="count num">([\d,]+)</td></tr>)re");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), row); it != std::sregex_iterator();
       ++it) {
    std::string count = (*it)[4];
    count.erase(std::remove(count.begin(), count.end(), ','), count.end());
    d.rows.emplace_back(std::stoi((*it)[2]), HtmlUnescape((*it)[3]), std::stoll(count));
  }
  const std::regex card(R"re(<h4 class="loc-name">([^<]*)</h4>)re");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), card); it != std::sregex_iterator();
       ++it) {
    d.card_names.push_back(HtmlUnescape((*it)[1]));
  }
  return d;
}

std::vector<std::string> ChromiumArgs(const std::string& chromium, const TempDir& profile) {
  // Root in a container needs --no-sandbox; the rest keeps Chromium from
  // reaching out to the network or doing background work.
  return {chromium,
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-dev-shm-usage",
          "--disable-quic",
          "--no-first-run",
          "--no-default-browser-check",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--disable-extensions",
          "--mute-audio",
          "--user-data-dir=" + profile.path()};
}

// Runs Chromium to completion (bounded; killed after that) and returns its
// stdout. Its exit status is not asserted: headless Chromium may complain at
// shutdown in a container (no D-Bus, no zygote) after doing its work; the
// callers check the work itself (the DOM, the PNG).
std::string RunChromium(std::vector<std::string> args, const TempDir& dir,
                        const std::string& name) {
  ChildProcess p;
  EXPECT_TRUE(p.Start(args, dir / (name + ".out"), dir / (name + ".err")));
  const std::optional<int> code = p.Wait(240s);
  if (!code.has_value() || *code != 0) {
    std::printf("%s: Chromium %s; its stderr:\n%s\n", name.c_str(),
                code.has_value() ? ("exited with " + std::to_string(*code)).c_str()
                                 : "did not finish in 240 s (killed)",
                ReadFile(dir / (name + ".err")).c_str());
  }
  p.Kill();
  return ReadFile(dir / (name + ".out"));
}

std::string ScreenshotPath() {
  const char* dir = std::getenv("BROOK_HTTP_TEST_ARTIFACTS");
  return std::string(dir != nullptr && *dir ? dir : ".") + "/dashboard_screenshot.png";
}

TEST(ChromiumTest, RendersTheLiveDashboardFedByTheGenerator) {
  const std::string chromium = FindExecutable("chromium");
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed (Debian package 'chromium'); skipping";
  }
  LiveJob live;
  ASSERT_TRUE(live.Start());
  ASSERT_TRUE(live.WaitForResults(8));
  TempDir dir("brook_chromium");

  // While the job runs: the page renders live data (it changes, so only its
  // shape is checked here), and a screenshot is taken.
  {
    TempDir profile("brook_chromium_profile");
    std::vector<std::string> args = ChromiumArgs(chromium, profile);
    args.push_back("--dump-dom");
    args.push_back(live.url("/"));
    const RenderedDetail d = ParseDom(RunChromium(args, dir, "dom-running"));
    EXPECT_EQ(d.state, "running");
    ASSERT_GT(d.oid, 0);
    const TopKByLocation api =
        ParseTopKJson(HttpGet(live.port(), absl::StrCat("/api/topk?location=", d.oid)).body);
    ASSERT_EQ(api.count(d.oid), 1u);
    EXPECT_EQ(d.name, api.at(d.oid).name);
    ASSERT_FALSE(d.rows.empty());
    for (size_t i = 0; i < d.rows.size(); ++i) EXPECT_EQ(std::get<0>(d.rows[i]), int(i + 1));
  }
  {
    TempDir profile("brook_chromium_profile");
    std::vector<std::string> args = ChromiumArgs(chromium, profile);
    const std::string png = ScreenshotPath();
    args.push_back("--hide-scrollbars");
    args.push_back("--window-size=1400,1050");
    args.push_back("--screenshot=" + png);
    args.push_back(live.url("/"));
    RunChromium(args, dir, "screenshot");
    const std::string image = ReadFile(png);
    ASSERT_GT(image.size(), 10000u) << png;
    EXPECT_EQ(image.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    RecordProperty("screenshot", png);
    std::printf("dashboard screenshot: %s\n", png.c_str());
  }

  // Stopped, the view no longer changes: the DOM must show exactly what
  // /api/topk serves.
  ASSERT_TRUE(live.Stop());
  const TopKByLocation all = ParseTopKJson(HttpGetRetry(live.port(), "/api/topk").body);
  ASSERT_GE(all.size(), 8u);
  for (int64_t oid : {int64_t{-1}, int64_t{17}}) {  // the default selection, and a chosen one
    TempDir profile("brook_chromium_profile");
    std::vector<std::string> args = ChromiumArgs(chromium, profile);
    args.push_back("--dump-dom");
    args.push_back(live.url(oid < 0 ? "/" : absl::StrCat("/?location=", oid)));
    const RenderedDetail d = ParseDom(RunChromium(args, dir, absl::StrCat("dom-", oid)));
    EXPECT_EQ(d.state, "cancelled");
    if (oid > 0) EXPECT_EQ(d.oid, oid);
    ASSERT_EQ(all.count(d.oid), 1u) << d.oid;
    const auto& expected = all.at(d.oid);
    EXPECT_EQ(d.name, expected.name);
    EXPECT_EQ(d.rows, expected.items);
    ASSERT_EQ(d.card_names.size(), 8u);
    for (const std::string& name : d.card_names) {
      EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const auto& kv) {
        return kv.second.name == name;
      })) << name;
    }
  }
}

}  // namespace
