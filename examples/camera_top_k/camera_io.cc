#include "camera_top_k/camera_io.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>
#include <map>
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

// The two-phase-commit side of a CSV sink writer over a
// TransactionalAppendFile: which pending length each checkpoint pre-committed,
// and a fresh start (both files emptied) when nothing was restored before the
// first row. Null file: a plain stream, which declines checkpoints.
class TwoPhaseCommit {
 public:
  explicit TwoPhaseCommit(std::shared_ptr<TransactionalAppendFile> file)
      : file_(std::move(file)) {}

  bool transactional() const { return file_ != nullptr; }

  // Before anything is written.
  absl::Status EnsureStarted() {
    if (file_ == nullptr || started_) return absl::OkStatus();
    started_ = true;
    return file_->StartFresh();
  }
  absl::StatusOr<int64_t> PreCommit(int64_t checkpoint_id) {
    if (file_ == nullptr) {
      return absl::FailedPreconditionError(
          "this CSV sink writes to a plain stream: checkpointing needs a transactional file");
    }
    BROOK_RETURN_IF_ERROR(EnsureStarted());
    BROOK_ASSIGN_OR_RETURN(const int64_t length, file_->PreCommit());
    precommitted_[checkpoint_id] = length;
    return length;
  }
  // Commits the newest pre-commit at or before `checkpoint_id` (a checkpoint
  // completes only after every earlier one has, or has been abandoned).
  absl::Status Commit(int64_t checkpoint_id) {
    if (file_ == nullptr || file_->finished()) return absl::OkStatus();
    auto it = precommitted_.upper_bound(checkpoint_id);
    if (it == precommitted_.begin()) return absl::OkStatus();
    const int64_t length = std::prev(it)->second;
    precommitted_.erase(precommitted_.begin(), it);
    return file_->Commit(length);
  }
  absl::Status Restore(int64_t length) {
    if (file_ == nullptr) {
      return absl::FailedPreconditionError(
          "this CSV sink writes to a plain stream and cannot restore a checkpoint");
    }
    if (started_) {
      return absl::FailedPreconditionError("CSV sink: restore after output was written");
    }
    started_ = true;
    return file_->Restore(length);
  }
  // End of input: everything written becomes visible.
  absl::Status CommitAll() {
    if (file_ == nullptr || file_->finished()) return absl::OkStatus();
    BROOK_RETURN_IF_ERROR(EnsureStarted());
    precommitted_.clear();
    return file_->CommitAll();
  }

 private:
  std::shared_ptr<TransactionalAppendFile> file_;
  bool started_ = false;
  std::map<int64_t, int64_t> precommitted_;  // checkpoint id -> pending length
};

// A CSV sink writer's snapshot: format version, pending length, whether the
// header is out, rows written, and the rows buffered for sorting.
constexpr uint8_t kSinkStateVersion = 1;

template <typename Row>
std::string EncodeSinkState(int64_t length, bool header_written, int64_t rows_written,
                            const std::vector<Row>& buffered) {
  std::string bytes;
  brook::DataOutputView out(&bytes);
  out.WriteUint8(kSinkStateVersion);
  out.WriteInt64(length);
  out.WriteUint8(header_written ? 1 : 0);
  out.WriteInt64(rows_written);
  brook::TypeSerializer<std::vector<Row>>::Serialize(buffered, out);
  return bytes;
}

template <typename Row>
absl::Status DecodeSinkState(const std::vector<std::string>& states, int64_t* length,
                             bool* header_written, int64_t* rows_written,
                             std::vector<Row>* buffered) {
  if (states.size() != 1) {
    return absl::FailedPreconditionError(
        "a CSV sink runs at parallelism 1 and restores from exactly one writer's state");
  }
  brook::DataInputView in(states[0]);
  uint8_t version = 0, header = 0;
  BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
  if (version != kSinkStateVersion) {
    return absl::DataLossError(absl::StrCat("CSV sink state: unknown version ", version));
  }
  BROOK_RETURN_IF_ERROR(in.ReadInt64(length));
  BROOK_RETURN_IF_ERROR(in.ReadUint8(&header));
  if (header > 1) return absl::DataLossError("CSV sink state: bad header flag");
  *header_written = header == 1;
  BROOK_RETURN_IF_ERROR(in.ReadInt64(rows_written));
  BROOK_RETURN_IF_ERROR(brook::TypeSerializer<std::vector<Row>>::Deserialize(in, buffered));
  if (!in.AtEnd()) return absl::DataLossError("CSV sink state: trailing bytes");
  return absl::OkStatus();
}

class RankedCsvWriter final : public brook::SinkWriter<ResultRow> {
 public:
  RankedCsvWriter(std::shared_ptr<std::FILE> out,
                  std::shared_ptr<TransactionalAppendFile> transactional,
                  std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> names,
                  int64_t* rows_written)
      : out_(std::move(out)),
        commit_(transactional),
        csv_(transactional != nullptr ? transactional->pending() : out_.get()),
        names_(std::move(names)),
        rows_written_(rows_written) {}

  absl::Status Write(std::vector<brook::StreamRecord<ResultRow>>& batch) override {
    BROOK_RETURN_IF_ERROR(commit_.EnsureStarted());
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
    BROOK_RETURN_IF_ERROR(csv_.Flush());
    return commit_.CommitAll();
  }

  // Rows still buffered for sorting belong to the snapshot: writing them now
  // would sort them apart from rows of the same watermark that follow.
  absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
    BROOK_ASSIGN_OR_RETURN(const int64_t length, commit_.PreCommit(checkpoint_id));
    return EncodeSinkState(length, header_written_, *rows_written_, pending_);
  }
  absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
    return commit_.Commit(checkpoint_id);
  }
  absl::Status RestoreState(std::vector<std::string> states) override {
    if (states.empty()) return absl::OkStatus();
    int64_t length = 0;
    BROOK_RETURN_IF_ERROR(
        DecodeSinkState(states, &length, &header_written_, rows_written_, &pending_));
    return commit_.Restore(length);
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
  TwoPhaseCommit commit_;
  CsvWriter csv_;
  std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> names_;
  int64_t* rows_written_;
  bool header_written_ = false;
  std::vector<ResultRow> pending_;
};

class DeadLetterWriter final : public brook::SinkWriter<Rejection> {
 public:
  DeadLetterWriter(std::shared_ptr<std::FILE> out,
                   std::shared_ptr<TransactionalAppendFile> transactional)
      : out_(std::move(out)),
        commit_(transactional),
        csv_(transactional != nullptr ? transactional->pending() : out_.get()) {}

  absl::Status Write(std::vector<brook::StreamRecord<Rejection>>& batch) override {
    BROOK_RETURN_IF_ERROR(WriteHeader());
    for (auto& r : batch) pending_.push_back(std::move(r.value));
    return absl::OkStatus();
  }
  absl::Status OnWatermark(int64_t) override { return WritePending(); }
  absl::Status Flush() override {
    BROOK_RETURN_IF_ERROR(WriteHeader());
    BROOK_RETURN_IF_ERROR(WritePending());
    BROOK_RETURN_IF_ERROR(csv_.Flush());
    return commit_.CommitAll();
  }

  absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
    BROOK_ASSIGN_OR_RETURN(const int64_t length, commit_.PreCommit(checkpoint_id));
    return EncodeSinkState(length, header_written_, 0, pending_);
  }
  absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
    return commit_.Commit(checkpoint_id);
  }
  absl::Status RestoreState(std::vector<std::string> states) override {
    if (states.empty()) return absl::OkStatus();
    int64_t length = 0, rows = 0;
    BROOK_RETURN_IF_ERROR(DecodeSinkState(states, &length, &header_written_, &rows, &pending_));
    return commit_.Restore(length);
  }

 private:
  absl::Status WriteHeader() {
    BROOK_RETURN_IF_ERROR(commit_.EnsureStarted());
    if (header_written_) return absl::OkStatus();
    header_written_ = true;
    return csv_.WriteRow({"source", "line_number", "reason", "raw_line"});
  }
  // Rejections reach this sink from several subtasks; ordering them by input
  // position between watermarks keeps the file stable across parallelism.
  absl::Status WritePending() {
    BROOK_RETURN_IF_ERROR(commit_.EnsureStarted());
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
  TwoPhaseCommit commit_;
  CsvWriter csv_;
  bool header_written_ = false;
  std::vector<Rejection> pending_;
};

}  // namespace

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
      new RankedCsvWriter(out_, transactional_, names_, &rows_written_));
}

absl::StatusOr<std::unique_ptr<brook::SinkWriter<Rejection>>> DeadLetterCsvSink::CreateWriter(
    const brook::SinkWriterContext& ctx) {
  if (ctx.parallelism != 1) {
    return absl::FailedPreconditionError("the dead-letter CSV sink runs at parallelism 1");
  }
  return std::unique_ptr<brook::SinkWriter<Rejection>>(new DeadLetterWriter(out_, transactional_));
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
