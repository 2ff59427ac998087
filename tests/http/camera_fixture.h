// The camera job with a dashboard, for the HTTP tests: generator-fed job
// options, a job running on a background thread (cancelled and joined on
// every path), and readers that turn the result CSV and /api/topk into the
// same shape so they can be compared.
#ifndef BROOK_TESTS_HTTP_CAMERA_FIXTURE_H_
#define BROOK_TESTS_HTTP_CAMERA_FIXTURE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "camera_top_k/camera_job.h"
#include "camera_top_k/dashboard.h"
#include "http/http_test_util.h"

namespace brook_http_test {

// Generator-fed job options: `count` events, paced at `rate` events/s (0 =
// as fast as possible), global window unless `window` is set.
inline camera::CameraJobOptions GeneratorJob(int64_t count, double rate,
                                             const std::string& output_path) {
  camera::CameraJobOptions o;
  o.generate = true;
  o.generator.count = count;
  o.generate_rate = rate;
  o.output_path = output_path;
  return o;
}

// Starts a dashboard on an ephemeral loopback port.
inline std::unique_ptr<camera::Dashboard> StartDashboard(camera::DashboardOptions options = {}) {
  options.http.address = "127.0.0.1";
  options.http.port = 0;
  auto d = camera::Dashboard::Start(options);
  if (!d.ok()) return nullptr;
  return *std::move(d);
}

// A CameraJob running on its own thread; the destructor cancels and joins it.
class BackgroundJob {
 public:
  static std::unique_ptr<BackgroundJob> Start(camera::CameraJobOptions options) {
    auto job = camera::CameraJob::Create(std::move(options));
    if (!job.ok()) return nullptr;
    return std::unique_ptr<BackgroundJob>(new BackgroundJob(*std::move(job)));
  }
  ~BackgroundJob() {
    job_->Cancel();
    if (thread_.joinable()) thread_.join();
  }
  void Cancel() { job_->Cancel(); }
  bool done() const { return done_.load(); }
  // Waits (bounded) for Run() to return; then result() is valid.
  bool Wait(std::chrono::milliseconds timeout = std::chrono::seconds(300)) {
    if (!PollUntil([&] { return done(); }, timeout)) return false;
    if (thread_.joinable()) thread_.join();
    return true;
  }
  const absl::StatusOr<camera::CameraJobSummary>& result() const { return result_; }

 private:
  explicit BackgroundJob(std::unique_ptr<camera::CameraJob> job) : job_(std::move(job)) {
    thread_ = std::thread([this] {
      result_ = job_->Run();
      done_.store(true);
    });
  }
  std::unique_ptr<camera::CameraJob> job_;
  absl::StatusOr<camera::CameraJobSummary> result_ = absl::UnknownError("still running");
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// One location's ranked items: (rank, item, count).
using Ranked = std::vector<std::tuple<int, std::string, int64_t>>;

struct LocationTopK {
  std::string name;
  int64_t window_start_ms = 0;  // 0 for the global window
  int64_t window_end_ms = 0;
  Ranked items;
  friend bool operator==(const LocationTopK&, const LocationTopK&) = default;
};
using TopKByLocation = std::map<int64_t, LocationTopK>;

inline std::vector<std::string> SplitCsvLine(const std::string& line) {
  // The generator's names have no quotes or commas: a plain split suffices.
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string field;
  while (std::getline(ss, field, ',')) out.push_back(field);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

// The result CSV; per location, the rows of its newest window (the only one
// for the global window), i.e. what the live view ends with.
inline TopKByLocation ReadResultCsv(const std::string& path) {
  TopKByLocation out;
  std::stringstream in(ReadFile(path));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> f = SplitCsvLine(line);
    if (f.size() < 7) continue;
    const int64_t start = f[0].empty() ? 0 : std::stoll(f[0]);
    const int64_t end = f[1].empty() ? 0 : std::stoll(f[1]);
    const int64_t oid = std::stoll(f[2]);
    const bool first = out.count(oid) == 0;
    LocationTopK& loc = out[oid];
    if (first || start > loc.window_start_ms) {
      loc.items.clear();
      loc.window_start_ms = start;
      loc.window_end_ms = end;
    } else if (start < loc.window_start_ms) {
      continue;
    }
    loc.name = f[3];
    loc.items.emplace_back(std::stoi(f[4]), f[5], std::stoll(f[6]));
  }
  return out;
}

// /api/topk's "locations" array in the same shape.
inline TopKByLocation ParseTopKJson(const std::string& body) {
  TopKByLocation out;
  std::optional<json::Value> v = json::Parse(body);
  if (!v.has_value()) return out;
  for (const json::Value& loc : (*v)["locations"].arr()) {
    LocationTopK t;
    t.name = loc["name"].str();
    if (!loc["window"].is_null() && !loc["window"]["global"].boolean()) {
      t.window_start_ms = loc["window"]["start_ms"].i64();
      t.window_end_ms = loc["window"]["end_ms"].i64();
    }
    for (const json::Value& item : loc["items"].arr()) {
      t.items.emplace_back(static_cast<int>(item["rank"].i64()), item["item"].str(),
                           item["count"].i64());
    }
    if (!t.items.empty()) out[loc["oid"].i64()] = std::move(t);
  }
  return out;
}

}  // namespace brook_http_test

#endif  // BROOK_TESTS_HTTP_CAMERA_FIXTURE_H_
