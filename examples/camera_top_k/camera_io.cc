#include "camera_top_k/camera_io.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "brook/connectors/csv.h"
#include "brook/status.h"
#include "brook/time.h"

namespace camera {
namespace {

constexpr int kRecordsPerPoll = 1024;

class GeneratorReader final : public brook::SourceReader<SourceRecord> {
 public:
  GeneratorReader(GeneratorOptions options, double rate)
      : generator_(options), rate_(rate), start_(std::chrono::steady_clock::now()) {}

  absl::StatusOr<brook::InputStatus> PollNext(
      brook::ReaderOutput<SourceRecord>& output) override {
    int64_t budget = kRecordsPerPoll;
    if (rate_ > 0) {
      // Pace by wall clock: emit what is due now, never block for long.
      const double elapsed_s = std::chrono::duration<double>(
                                   std::chrono::steady_clock::now() - start_).count();
      const int64_t due = static_cast<int64_t>(elapsed_s * rate_) - generator_.emitted();
      budget = std::min<int64_t>(budget, due);
      if (budget <= 0) return brook::InputStatus::kNothingAvailable;
    }
    for (int64_t i = 0; i < budget; ++i) {
      if (!generator_.Next(detection_)) return brook::InputStatus::kEndOfInput;
      output.Collect(SourceRecord(std::in_place_type<Event>, Event{detection_, 0}),
                     detection_.timestamp_detected_ms);
    }
    return brook::InputStatus::kMoreAvailable;
  }

  absl::StatusOr<std::string> SnapshotState(int64_t /*checkpoint_id*/) override {
    return EncodeGeneratorState(generator_.Snapshot());
  }

  absl::Status RestoreState(std::vector<std::string> states) override {
    if (states.empty()) return absl::OkStatus();
    if (states.size() != 1) {
      return absl::FailedPreconditionError(
          "the generator source restores from exactly one reader's state");
    }
    GeneratorState state;
    BROOK_RETURN_IF_ERROR(DecodeGeneratorState(states[0], &state));
    BROOK_RETURN_IF_ERROR(generator_.CheckState(state));
    generator_.Restore(state);
    if (rate_ > 0) {
      // Pacing resumes at the restored position, not from zero.
      start_ = std::chrono::steady_clock::now() -
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(static_cast<double>(state.emitted) / rate_));
    }
    return absl::OkStatus();
  }

 private:
  DetectionGenerator generator_;
  double rate_;
  std::chrono::steady_clock::time_point start_;
  Detection detection_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<brook::SourceReader<SourceRecord>>>
DetectionGeneratorSource::CreateReader(const brook::SourceReaderContext& ctx) {
  if (ctx.parallelism != 1) {
    return absl::FailedPreconditionError("the generator source runs at parallelism 1");
  }
  return std::unique_ptr<brook::SourceReader<SourceRecord>>(new GeneratorReader(options_, rate_));
}

brook::connectors::FileSinkOptions<ResultRow> ResultCsvSinkOptions(
    std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> location_names) {
  brook::connectors::FileSinkOptions<ResultRow> options;
  options.header =
      "window_start,window_end,geographical_location_oid,geographical_location,item_rank,"
      "item_name,item_count";
  options.encoder = [names = std::move(location_names)](const ResultRow& r, std::string& out) {
    static const std::string kEmpty;
    auto it = names->find(r.geographical_location_oid);
    const std::string& name = it == names->end() ? kEmpty : it->second;
    if (r.global_window) {
      brook::connectors::AppendCsvRow(out, kEmpty, kEmpty, r.geographical_location_oid, name,
                                      r.item_rank, r.item_name, r.item_count);
    } else {
      brook::connectors::AppendCsvRow(out, r.window_start_ms, r.window_end_ms,
                                      r.geographical_location_oid, name, r.item_rank,
                                      r.item_name, r.item_count);
    }
  };
  // Every result for windows that end at or before the watermark has arrived
  // (results travel ahead of the watermark that fired them).
  options.order = [](const ResultRow& a, const ResultRow& b) {
    return std::tie(a.window_end_ms, a.window_start_ms, a.geographical_location_oid,
                    a.item_rank) <
           std::tie(b.window_end_ms, b.window_start_ms, b.geographical_location_oid, b.item_rank);
  };
  return options;
}

std::string FormatDetectionCsv(const Detection& d, TimestampUnit unit) {
  int64_t ts = d.timestamp_detected_ms;
  switch (unit) {
    case TimestampUnit::kSeconds:
      ts = ts / 1000;  // exact: parsed as seconds * 1000
      break;
    case TimestampUnit::kMilliseconds:
      break;
    case TimestampUnit::kMicroseconds:
      ts = ts * 1000;  // the sub-millisecond part was dropped when parsing
      break;
  }
  std::string line = absl::StrCat(d.geographical_location_oid, ",", d.video_camera_oid, ",",
                                  d.detection_oid, ",");
  brook::connectors::AppendCsvField(d.item_name, line);
  absl::StrAppend(&line, ",", ts);
  return line;
}

}  // namespace camera
