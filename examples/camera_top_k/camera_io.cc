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

class FileReader final : public brook::SourceReader<SourceRecord> {
 public:
  explicit FileReader(std::unique_ptr<DetectionReader> reader) : reader_(std::move(reader)) {
    // Only a regular file can be read again from a position; Seek() to where
    // the reader stands tells (and, before any record, changes nothing).
    replayable_ = reader_->Seek(reader_->offset(), reader_->next_line_number()).ok();
  }

  absl::StatusOr<brook::InputStatus> PollNext(
      brook::ReaderOutput<SourceRecord>& output) override {
    for (int i = 0; i < kRecordsPerPoll; ++i) {
      BROOK_ASSIGN_OR_RETURN(bool more, reader_->Next(result_));
      if (!more) return brook::InputStatus::kEndOfInput;
      if (result_.rejected) {
        // A malformed line carries no event time of its own: give it the
        // latest seen, which moves no watermark.
        const Rejection& r = result_.rejection;
        output.Collect(SourceRecord(std::in_place_type<brook::connectors::DeadLetter>,
                                    brook::connectors::DeadLetter{r.source, r.line_number,
                                                                  r.reason, r.raw_line}),
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

  // The resume point: the next line's offset and number, the reader's
  // counters and the timestamp that malformed lines inherit.
  absl::StatusOr<std::string> SnapshotState(int64_t /*checkpoint_id*/) override {
    if (!replayable_) {
      return absl::UnimplementedError(
          absl::StrCat("'", reader_->source(), "' cannot be replayed: it does not checkpoint"));
    }
    std::string bytes;
    brook::DataOutputView out(&bytes);
    out.WriteUint8(kFileStateVersion);
    out.WriteInt64(reader_->data_offset());
    out.WriteInt64(reader_->offset());
    out.WriteInt64(reader_->next_line_number());
    out.WriteInt64(reader_->accepted());
    out.WriteInt64(reader_->rejected());
    out.WriteInt64(reader_->blank_lines());
    out.WriteInt64(last_timestamp_ms_);
    return bytes;
  }

  absl::Status RestoreState(std::vector<std::string> states) override {
    if (states.empty()) return absl::OkStatus();
    if (states.size() != 1) {
      return absl::FailedPreconditionError(
          "the detections file source restores from exactly one reader's state");
    }
    brook::DataInputView in(states[0]);
    uint8_t version = 0;
    int64_t data_offset = 0, offset = 0, line = 0, accepted = 0, rejected = 0, blank = 0;
    int64_t last_timestamp_ms = 0;
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
    if (version != kFileStateVersion) {
      return absl::DataLossError(absl::StrCat("file source state: unknown version ", version));
    }
    for (int64_t* v : {&data_offset, &offset, &line, &accepted, &rejected, &blank,
                       &last_timestamp_ms}) {
      BROOK_RETURN_IF_ERROR(in.ReadInt64(v));
    }
    if (!in.AtEnd()) return absl::DataLossError("file source state: trailing bytes");
    if (data_offset != reader_->data_offset()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "'", reader_->source(), "': its header ends at offset ", reader_->data_offset(),
          " but the checkpoint's input's ended at ", data_offset, " (a different file?)"));
    }
    if (absl::Status s = reader_->Seek(offset, line); !s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the checkpoint's position does not fit the input: ", s.message()));
    }
    reader_->RestoreCounters(accepted, rejected, blank);
    last_timestamp_ms_ = last_timestamp_ms;
    return absl::OkStatus();
  }

 private:
  static constexpr uint8_t kFileStateVersion = 1;
  std::unique_ptr<DetectionReader> reader_;
  bool replayable_ = false;  // a regular file (not stdin, not a pipe)
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
