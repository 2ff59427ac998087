#include "camera_top_k/camera_io.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "brook/status.h"
#include "brook/time.h"
#include "camera_top_k/csv_writer.h"

namespace camera {
namespace {

constexpr int kRecordsPerPoll = 1024;

class FileReader final : public brook::SourceReader<SourceRecord> {
 public:
  explicit FileReader(std::unique_ptr<DetectionReader> reader) : reader_(std::move(reader)) {}

  absl::StatusOr<brook::InputStatus> PollNext(
      brook::ReaderOutput<SourceRecord>& output) override {
    for (int i = 0; i < kRecordsPerPoll; ++i) {
      BROOK_ASSIGN_OR_RETURN(bool more, reader_->Next(result_));
      if (!more) return brook::InputStatus::kEndOfInput;
      if (result_.rejected) {
        // A malformed line carries no event time of its own: give it the
        // latest seen, which moves no watermark.
        output.Collect(SourceRecord(std::in_place_type<Rejection>, result_.rejection),
                       last_timestamp_ms_);
      } else {
        last_timestamp_ms_ = result_.detection.timestamp_detected_ms;
        output.Collect(SourceRecord(std::in_place_type<Event>,
                                    Event{result_.detection, result_.line_number}),
                       last_timestamp_ms_);
      }
    }
    return brook::InputStatus::kMoreAvailable;
  }

 private:
  std::unique_ptr<DetectionReader> reader_;
  ReadResult result_;
  int64_t last_timestamp_ms_ = brook::kMinTimestampMs;
};

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

 private:
  DetectionGenerator generator_;
  double rate_;
  std::chrono::steady_clock::time_point start_;
  Detection detection_;
};

class RankedCsvWriter final : public brook::SinkWriter<ResultRow> {
 public:
  RankedCsvWriter(std::shared_ptr<std::FILE> out,
                  std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> names,
                  int64_t* rows_written)
      : out_(std::move(out)), csv_(out_.get()), names_(std::move(names)),
        rows_written_(rows_written) {}

  absl::Status Write(std::vector<brook::StreamRecord<ResultRow>>& batch) override {
    if (!header_written_) {
      BROOK_RETURN_IF_ERROR(csv_.WriteRow({"window_start", "window_end",
                                           "geographical_location_oid",
                                           "geographical_location", "item_rank", "item_name",
                                           "item_count"}));
      header_written_ = true;
    }
    for (auto& r : batch) pending_.push_back(std::move(r.value));
    return absl::OkStatus();
  }
  // Every result for windows that end at or before the watermark has
  // arrived (results travel ahead of the watermark that fired them).
  absl::Status OnWatermark(int64_t) override { return WritePending(); }
  absl::Status Flush() override {
    BROOK_RETURN_IF_ERROR(WritePending());
    return csv_.Flush();
  }

 private:
  absl::Status WritePending() {
    if (!header_written_) {
      std::vector<brook::StreamRecord<ResultRow>> none;
      BROOK_RETURN_IF_ERROR(Write(none));
    }
    if (pending_.empty()) return absl::OkStatus();
    std::stable_sort(pending_.begin(), pending_.end(), [](const ResultRow& a, const ResultRow& b) {
      return std::tie(a.window_end_ms, a.window_start_ms, a.geographical_location_oid,
                      a.item_rank) < std::tie(b.window_end_ms, b.window_start_ms,
                                              b.geographical_location_oid, b.item_rank);
    });
    static const std::string kEmpty;
    for (const ResultRow& r : pending_) {
      auto it = names_->find(r.geographical_location_oid);
      const std::string& name = it == names_->end() ? kEmpty : it->second;
      if (r.global_window) {
        BROOK_RETURN_IF_ERROR(csv_.WriteValues(kEmpty, kEmpty, r.geographical_location_oid,
                                               name, r.item_rank, r.item_name, r.item_count));
      } else {
        BROOK_RETURN_IF_ERROR(csv_.WriteValues(r.window_start_ms, r.window_end_ms,
                                               r.geographical_location_oid, name, r.item_rank,
                                               r.item_name, r.item_count));
      }
    }
    *rows_written_ += static_cast<int64_t>(pending_.size());
    pending_.clear();
    return absl::OkStatus();
  }

  std::shared_ptr<std::FILE> out_;
  CsvWriter csv_;
  std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> names_;
  int64_t* rows_written_;
  bool header_written_ = false;
  std::vector<ResultRow> pending_;
};

class DeadLetterWriter final : public brook::SinkWriter<Rejection> {
 public:
  explicit DeadLetterWriter(std::shared_ptr<std::FILE> out)
      : out_(std::move(out)), csv_(out_.get()) {}

  absl::Status Write(std::vector<brook::StreamRecord<Rejection>>& batch) override {
    BROOK_RETURN_IF_ERROR(WriteHeader());
    for (auto& r : batch) pending_.push_back(std::move(r.value));
    return absl::OkStatus();
  }
  absl::Status OnWatermark(int64_t) override { return WritePending(); }
  absl::Status Flush() override {
    BROOK_RETURN_IF_ERROR(WriteHeader());
    BROOK_RETURN_IF_ERROR(WritePending());
    return csv_.Flush();
  }

 private:
  absl::Status WriteHeader() {
    if (header_written_) return absl::OkStatus();
    header_written_ = true;
    return csv_.WriteRow({"source", "line_number", "reason", "raw_line"});
  }
  // Rejections reach this sink from several subtasks; ordering them by input
  // position between watermarks keeps the file stable across parallelism.
  absl::Status WritePending() {
    std::stable_sort(pending_.begin(), pending_.end(), [](const Rejection& a, const Rejection& b) {
      return std::tie(a.source, a.line_number, a.reason) <
             std::tie(b.source, b.line_number, b.reason);
    });
    for (const Rejection& r : pending_) {
      BROOK_RETURN_IF_ERROR(csv_.WriteValues(r.source, r.line_number, r.reason, r.raw_line));
    }
    pending_.clear();
    return absl::OkStatus();
  }

  std::shared_ptr<std::FILE> out_;
  CsvWriter csv_;
  bool header_written_ = false;
  std::vector<Rejection> pending_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<brook::SourceReader<SourceRecord>>>
DetectionFileSource::CreateReader(const brook::SourceReaderContext& ctx) {
  if (ctx.parallelism != 1 || reader_ == nullptr) {
    return absl::FailedPreconditionError(
        "the detections file source runs at parallelism 1 and can be read once");
  }
  return std::unique_ptr<brook::SourceReader<SourceRecord>>(new FileReader(std::move(reader_)));
}

absl::StatusOr<std::unique_ptr<brook::SourceReader<SourceRecord>>>
DetectionGeneratorSource::CreateReader(const brook::SourceReaderContext& ctx) {
  if (ctx.parallelism != 1) {
    return absl::FailedPreconditionError("the generator source runs at parallelism 1");
  }
  return std::unique_ptr<brook::SourceReader<SourceRecord>>(new GeneratorReader(options_, rate_));
}

absl::StatusOr<std::shared_ptr<std::FILE>> OpenOutput(const std::string& path) {
  if (path.empty() || path == "-") {
    return std::shared_ptr<std::FILE>(stdout, [](std::FILE* f) { std::fflush(f); });
  }
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot create '", path, "': ", std::strerror(errno)));
  }
  static constexpr size_t kBufferBytes = 1 << 20;
  std::setvbuf(f, nullptr, _IOFBF, kBufferBytes);
  return std::shared_ptr<std::FILE>(f, [](std::FILE* f) { std::fclose(f); });
}

absl::StatusOr<std::unique_ptr<brook::SinkWriter<ResultRow>>> RankedCsvSink::CreateWriter(
    const brook::SinkWriterContext& ctx) {
  if (ctx.parallelism != 1) {
    return absl::FailedPreconditionError("the result CSV sink runs at parallelism 1");
  }
  return std::unique_ptr<brook::SinkWriter<ResultRow>>(
      new RankedCsvWriter(out_, names_, &rows_written_));
}

absl::StatusOr<std::unique_ptr<brook::SinkWriter<Rejection>>> DeadLetterCsvSink::CreateWriter(
    const brook::SinkWriterContext& ctx) {
  if (ctx.parallelism != 1) {
    return absl::FailedPreconditionError("the dead-letter CSV sink runs at parallelism 1");
  }
  return std::unique_ptr<brook::SinkWriter<Rejection>>(new DeadLetterWriter(out_));
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
  AppendCsvField(d.item_name, line);
  absl::StrAppend(&line, ",", ts);
  return line;
}

}  // namespace camera
