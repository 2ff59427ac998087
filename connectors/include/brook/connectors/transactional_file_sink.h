// File: brook/connectors/transactional_file_sink.h
//
// TransactionalFileSink<T>: rows of T, encoded as bytes (a CSV row, a JSON
// line), appended to one file with exactly-once two-phase commit (DESIGN.md
// §7), as Flink's FileSink (a TwoPhaseCommittingSink):
//
//   Write            rows are encoded and appended to the pending file
//                    `<path>.inprogress` (TransactionalAppendFile).
//   SnapshotState    pre-commit at the checkpoint barrier: the pending file is
//                    flushed and fsynced; the state records its length.
//   NotifyCheckpointComplete
//                    commit: the visible file `<path>` becomes the prefix the
//                    checkpoint pre-committed (idempotent).
//   RestoreState     restore: what the checkpoint pre-committed is committed,
//                    anything written after it is cut off.
//   Flush            end of input: everything is committed, the pending file
//                    removed.
//
// Options: a row encoder, an optional header line, and an optional order of
// rows between watermarks: with one, rows are buffered, stably sorted and
// written each time a watermark arrives (and at the end of input), so that a
// file fed by several upstream subtasks is the same at any parallelism; the
// buffered rows are part of the snapshot (TypeSerializer<T>). Ordered by
// event time as well (`release_by_event_time`), a row waits for the watermark
// to reach its timestamp: the file is then the same however several parallel
// readers of one input interleave (Kafka partitions read by several subtasks).
//
// FileSinkMode::kPlain writes straight to a file (truncated) or stdout
// ("-"), with no commit protocol: a checkpoint is then declined
// (SnapshotState returns kFailedPrecondition) and nothing is restorable.
//
// The sink has one file and runs at parallelism 1 (CreateWriter returns
// kFailedPrecondition otherwise; Flink's FileSink writes one part file per
// subtask instead). rows_written() may be read from any thread; it is final
// once the job is done. Per row the sink calls the encoder (and, ordering,
// the comparator) through std::function: an indirect call next to the
// encoding and the write, on a path after the aggregation.
#ifndef BROOK_CONNECTORS_TRANSACTIONAL_FILE_SINK_H_
#define BROOK_CONNECTORS_TRANSACTIONAL_FILE_SINK_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/connectors/transactional_append_file.h"
#include "brook/serialization.h"
#include "brook/sink.h"
#include "brook/status.h"
#include "brook/time.h"

namespace brook::connectors {

// Appends the bytes of one row, its terminator included, to `out`.
template <typename T>
using RowEncoder = std::function<void(const T& row, std::string& out)>;
// A strict weak order of rows: true when `a` is written before `b`.
template <typename T>
using RowOrder = std::function<bool(const T& a, const T& b)>;

template <typename T>
struct FileSinkOptions {
  // Required.
  RowEncoder<T> encoder;
  // The file's first line, without its "\n"; written even when no row
  // follows. Empty: no header.
  std::string header;
  // Empty: rows are written as they arrive. Set: rows are buffered and
  // written in this order (stable) at each watermark; needs a
  // TypeSerializer<T>.
  RowOrder<T> order;
  // With `order`: a row is held until a watermark reaches its event
  // timestamp, and the rows a watermark releases are written by timestamp,
  // then `order`. Rows travel ahead of the watermarks that follow them in
  // every channel, so the set released at each watermark, and the file, do
  // not depend on how upstream subtasks interleave (as long as no row is
  // behind its own channel's watermark, i.e. late where it was produced).
  bool release_by_event_time = false;
  // FileSinkMode::kTransactional: the file system of both files (null:
  // FileSystem::Default(), POSIX; tests pass a FaultInjectionFileSystem). It
  // must outlive the sink.
  FileSystem* file_system = nullptr;
};

enum class FileSinkMode {
  kTransactional,  // two-phase commit: `<path>.inprogress`, then `<path>`
  kPlain,          // straight to `<path>` (truncated), "-" or "" = stdout
};

namespace file_sink_internal {

// The part of a writer that does not depend on T: the output stream, the
// header, the two-phase-commit bookkeeping and the snapshot's fixed fields.
class FileSinkCore {
 public:
  // Exactly one of `file` (transactional) and `plain` is set.
  FileSinkCore(std::shared_ptr<TransactionalAppendFile> file, std::shared_ptr<std::FILE> plain,
               std::string path, std::string header);

  // Before any output: a fresh start (transactional, nothing restored: both
  // files emptied) and the header.
  absl::Status Begin();
  absl::Status Append(std::string_view bytes);
  // Pre-commits and writes the state's fixed fields to `out`.
  absl::Status PreCommit(int64_t checkpoint_id, int64_t rows_written, DataOutputView& out);
  // Commits the newest pre-commit at or before `checkpoint_id` (a checkpoint
  // completes only after every earlier one has, or has been abandoned).
  absl::Status Commit(int64_t checkpoint_id);
  // Reads the state's fixed fields (the rows follow in `in`); kDataLoss for
  // bytes that do not decode, kFailedPrecondition in the plain mode.
  absl::Status DecodeState(const std::vector<std::string>& states, DataInputView& in,
                           int64_t* rows_written);
  // Then: commits the restored pre-commit and cuts off what followed.
  absl::Status Restore();
  // End of input: flushes, and commits everything.
  absl::Status Finish();

 private:
  absl::Status EnsureStarted();
  // kFailedPrecondition: `why` the plain mode cannot do what was asked.
  absl::Status PlainStreamError(const char* why) const;

  std::shared_ptr<TransactionalAppendFile> file_;
  std::shared_ptr<std::FILE> plain_;
  std::string path_;
  std::string header_;
  bool started_ = false;
  bool header_written_ = false;
  int64_t restored_length_ = 0;
  std::map<int64_t, int64_t> precommitted_;  // checkpoint id -> pending length
};

// Opens the output of FileSinkMode::kPlain.
absl::StatusOr<std::shared_ptr<std::FILE>> OpenPlainOutput(const std::string& path);

}  // namespace file_sink_internal

template <typename T>
class TransactionalFileSink final : public Sink<T> {
 public:
  // TransactionalFileSink::Open(): opens the output now, so that a bad path
  // fails before any work. The transactional mode opens, never truncates,
  // `path` and `<path>.inprogress` (a restore needs them); they are emptied
  // when the job starts without restoring. kInvalidArgument for a missing
  // encoder, an order without a TypeSerializer<T>, or a transactional "-";
  // kUnavailable (or the errno's code) naming the file when it cannot be
  // opened.
  static absl::StatusOr<std::shared_ptr<TransactionalFileSink>> Open(std::string path,
                                                                     FileSinkMode mode,
                                                                     FileSinkOptions<T> options);

  absl::StatusOr<std::unique_ptr<SinkWriter<T>>> CreateWriter(
      const SinkWriterContext& ctx) override;

  // Rows written by the job, those before a restored checkpoint included
  // (the count is part of the snapshot). The header is not a row.
  int64_t rows_written() const { return rows_written_.load(std::memory_order_relaxed); }
  const std::string& path() const { return path_; }
  FileSinkMode mode() const { return mode_; }

 private:
  class Writer;
  TransactionalFileSink(std::string path, FileSinkMode mode, FileSinkOptions<T> options)
      : path_(std::move(path)), mode_(mode), options_(std::move(options)) {}

  std::string path_;
  FileSinkMode mode_;
  FileSinkOptions<T> options_;
  std::shared_ptr<TransactionalAppendFile> file_;
  std::shared_ptr<std::FILE> plain_;
  std::atomic<int64_t> rows_written_{0};
};

// ---- implementation

template <typename T>
class TransactionalFileSink<T>::Writer final : public SinkWriter<T> {
 public:
  explicit Writer(TransactionalFileSink* sink)
      : sink_(sink),
        core_(sink->file_, sink->plain_, sink->path_, sink->options_.header),
        encoder_(sink->options_.encoder),
        order_(sink->options_.order),
        by_event_time_(order_ && sink->options_.release_by_event_time) {}

  absl::Status Write(std::vector<StreamRecord<T>>& batch) override {
    BROOK_RETURN_IF_ERROR(core_.Begin());
    if (order_) {
      for (auto& r : batch) {
        if (by_event_time_) buffered_timestamps_.push_back(r.timestamp_ms);
        buffered_.push_back(std::move(r.value));
      }
      return absl::OkStatus();
    }
    for (const auto& r : batch) BROOK_RETURN_IF_ERROR(Encode(r.value));
    return WriteEncoded(batch.size());
  }
  // Every row for this watermark has arrived (rows travel ahead of the
  // watermark that produced them).
  absl::Status OnWatermark(int64_t watermark_ms) override { return WriteBuffered(watermark_ms); }
  absl::Status Flush() override {
    BROOK_RETURN_IF_ERROR(WriteBuffered(kMaxWatermarkMs));
    return core_.Finish();
  }

  // Rows still buffered belong to the snapshot: writing them now would sort
  // them apart from rows of the same watermark that follow.
  absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
    std::string bytes;
    DataOutputView out(&bytes);
    BROOK_RETURN_IF_ERROR(core_.PreCommit(checkpoint_id, rows_written_, out));
    if constexpr (Serializable<T>) {
      TypeSerializer<std::vector<T>>::Serialize(buffered_, out);
      // Appended, so that states without timestamps still decode.
      if (by_event_time_) TypeSerializer<std::vector<int64_t>>::Serialize(buffered_timestamps_, out);
    } else {
      out.WriteVarint(0);  // no order: nothing is ever buffered
    }
    return bytes;
  }
  absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
    return core_.Commit(checkpoint_id);
  }
  absl::Status RestoreState(std::vector<std::string> states) override {
    if (states.empty()) return absl::OkStatus();
    DataInputView in(states.front());
    BROOK_RETURN_IF_ERROR(core_.DecodeState(states, in, &rows_written_));
    buffered_.clear();
    buffered_timestamps_.clear();
    if constexpr (Serializable<T>) {
      BROOK_RETURN_IF_ERROR(TypeSerializer<std::vector<T>>::Deserialize(in, &buffered_));
      if (by_event_time_ && !in.AtEnd()) {
        BROOK_RETURN_IF_ERROR(
            TypeSerializer<std::vector<int64_t>>::Deserialize(in, &buffered_timestamps_));
      }
      // A state written without event-time release: its rows go at the next
      // watermark, as they would have.
      if (by_event_time_ && buffered_timestamps_.size() != buffered_.size()) {
        if (!buffered_timestamps_.empty()) {
          return absl::DataLossError("file sink state: row and timestamp counts differ");
        }
        buffered_timestamps_.assign(buffered_.size(), kMinTimestampMs);
      }
    } else {
      size_t n = 0;
      BROOK_RETURN_IF_ERROR(in.ReadLength(&n, 0));
      if (n != 0) return absl::DataLossError("file sink state: rows of an unserializable type");
    }
    if (!in.AtEnd()) return absl::DataLossError("file sink state: trailing bytes");
    sink_->rows_written_.store(rows_written_, std::memory_order_relaxed);
    return core_.Restore();
  }

 private:
  static constexpr size_t kChunkBytes = size_t{64} << 10;

  absl::Status Encode(const T& row) {
    encoder_(row, encoded_);
    if (encoded_.size() < kChunkBytes) return absl::OkStatus();
    BROOK_RETURN_IF_ERROR(core_.Append(encoded_));
    encoded_.clear();
    return absl::OkStatus();
  }
  absl::Status WriteEncoded(size_t rows) {
    BROOK_RETURN_IF_ERROR(core_.Append(encoded_));
    encoded_.clear();
    // No overflow: a restored count is at most the committed length in bytes.
    rows_written_ += static_cast<int64_t>(rows);
    sink_->rows_written_.store(rows_written_, std::memory_order_relaxed);
    return absl::OkStatus();
  }
  absl::Status WriteBuffered(int64_t watermark_ms) {
    BROOK_RETURN_IF_ERROR(core_.Begin());
    if (buffered_.empty()) return absl::OkStatus();
    if (by_event_time_) return WriteReleased(watermark_ms);
    std::stable_sort(buffered_.begin(), buffered_.end(), order_);
    for (const T& row : buffered_) BROOK_RETURN_IF_ERROR(Encode(row));
    const size_t rows = buffered_.size();
    buffered_.clear();
    return WriteEncoded(rows);
  }

  // Writes the rows whose timestamp the watermark has reached, by (timestamp,
  // order); keeps the others, in arrival order.
  absl::Status WriteReleased(int64_t watermark_ms) {
    std::vector<size_t> released;
    for (size_t i = 0; i < buffered_.size(); ++i) {
      if (buffered_timestamps_[i] <= watermark_ms) released.push_back(i);
    }
    if (released.empty()) return absl::OkStatus();
    std::stable_sort(released.begin(), released.end(), [this](size_t a, size_t b) {
      if (buffered_timestamps_[a] != buffered_timestamps_[b]) {
        return buffered_timestamps_[a] < buffered_timestamps_[b];
      }
      return order_(buffered_[a], buffered_[b]);
    });
    for (size_t i : released) BROOK_RETURN_IF_ERROR(Encode(buffered_[i]));
    size_t kept = 0;
    for (size_t i = 0; i < buffered_.size(); ++i) {
      if (buffered_timestamps_[i] <= watermark_ms) continue;
      if (kept != i) {  // a self-move would empty the row's strings
        buffered_[kept] = std::move(buffered_[i]);
        buffered_timestamps_[kept] = buffered_timestamps_[i];
      }
      ++kept;
    }
    buffered_.resize(kept);
    buffered_timestamps_.resize(kept);
    return WriteEncoded(released.size());
  }

  TransactionalFileSink* sink_;
  file_sink_internal::FileSinkCore core_;
  const RowEncoder<T>& encoder_;
  const RowOrder<T>& order_;
  const bool by_event_time_;
  std::vector<T> buffered_;  // with an order: rows since the last watermark
  std::vector<int64_t> buffered_timestamps_;  // by_event_time_: each row's event time
  std::string encoded_;      // encoded rows not yet appended
  int64_t rows_written_ = 0;
};

template <typename T>
absl::StatusOr<std::shared_ptr<TransactionalFileSink<T>>> TransactionalFileSink<T>::Open(
    std::string path, FileSinkMode mode, FileSinkOptions<T> options) {
  if (!options.encoder) return absl::InvalidArgumentError("file sink: no row encoder");
  if (options.order && !Serializable<T>) {
    return absl::InvalidArgumentError(
        "file sink: ordering buffers rows in the snapshot, which needs a TypeSerializer");
  }
  std::shared_ptr<TransactionalFileSink> sink(
      new TransactionalFileSink(std::move(path), mode, std::move(options)));
  if (mode == FileSinkMode::kTransactional) {
    BROOK_ASSIGN_OR_RETURN(sink->file_, TransactionalAppendFile::Open(
                                            sink->path_, sink->options_.file_system));
  } else {
    BROOK_ASSIGN_OR_RETURN(sink->plain_, file_sink_internal::OpenPlainOutput(sink->path_));
  }
  return sink;
}

template <typename T>
absl::StatusOr<std::unique_ptr<SinkWriter<T>>> TransactionalFileSink<T>::CreateWriter(
    const SinkWriterContext& ctx) {
  if (ctx.parallelism != 1) {
    return absl::FailedPreconditionError("a file sink writes one file and runs at parallelism 1");
  }
  return std::unique_ptr<SinkWriter<T>>(new Writer(this));
}

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_TRANSACTIONAL_FILE_SINK_H_
