// File: brook/connectors/file_source.h
//
// FileSource<T>: a bounded, checkpointed source over a text file (or stdin)
// read with a line format, as Flink's FileSource.forRecordStreamFormat: one
// line is one record, or a DeadLetter that says why not. Every line is
//   - blank (empty, or just "\r"): skipped and counted, never a record;
//   - a record: emitted as std::variant<T, DeadLetter> holding the T; a
//     format may store the line's number in it (RowSchema::WithLineNumber),
//     so that later rejections of the record can name its line;
//   - a rejection: emitted holding DeadLetter{source, line_number, reason,
//     raw_line}, source being the path or "stdin". A bad line never fails
//     the source; reading goes on after it. A job routes these to a
//     dead-letter side output (e.g. a ProcessFunction on the variant).
//
// A line format is any class with (see CsvFormat, JsonLinesFormat):
//   using Record = T;
//   absl::Status ReadHeader(LineReader&);  // reads its header lines, if any
//   bool Parse(std::string_view text, int64_t line_number, T& out,
//              std::string& reason);       // false: `reason` set
// Lines reach Parse only after CheckLine (length, UTF-8; line_reader.h).
//
// Opening reads the header, so a missing file (kNotFound, or the errno's
// code) or a bad header (kInvalidArgument) is reported by Open, before the
// job runs. The source runs at parallelism 1 (one reader: line numbers and
// watermarks follow input order; records_per_watermark then makes watermarks
// deterministic).
//
// Event time: `timestamp_of(const T&)` -> int64_t ms, when given, stamps each
// record; a rejection carries none of its own and gets the latest record's
// (so it moves no watermark). Without it records carry no timestamp.
//
// Checkpointing (Flink's SourceReader#snapshotState): the reader snapshots the
// next line's byte offset and number, its counters and the latest timestamp;
// a reader restored from them emits exactly the records after the snapshot.
// Restore fails with kDataLoss for bytes that do not decode and
// kFailedPrecondition for a position that does not fit the file. Stdin and
// pipes cannot be replayed: SnapshotState returns kUnimplemented.
//
// Thread-safety: a reader is used by its subtask's thread only.
#ifndef BROOK_CONNECTORS_FILE_SOURCE_H_
#define BROOK_CONNECTORS_FILE_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "brook/connectors/dead_letter.h"
#include "brook/connectors/line_reader.h"
#include "brook/serialization.h"
#include "brook/source.h"
#include "brook/status.h"
#include "brook/time.h"

namespace brook::connectors {

// One result of LineRecordReader::Next. Only the member `rejected` selects is
// meaningful; the other keeps stale contents so its buffers are reused.
template <typename T>
struct ReadResult {
  bool rejected = false;
  int64_t line_number = 0;  // the physical line of the record or rejection
  T record{};
  DeadLetter dead_letter;
};

// The pull reader under FileSource: records of a line format from a file,
// with the position and counters a checkpoint needs.
template <typename Format>
class LineRecordReader {
 public:
  using Record = typename Format::Record;

  // Opens `path` ("-": stdin) and reads the format's header.
  static absl::StatusOr<std::unique_ptr<LineRecordReader>> Open(const std::string& path,
                                                                Format format) {
    BROOK_ASSIGN_OR_RETURN(std::unique_ptr<LineReader> lines, LineReader::Open(path));
    BROOK_RETURN_IF_ERROR(format.ReadHeader(*lines));
    return std::unique_ptr<LineRecordReader>(
        new LineRecordReader(std::move(lines), std::move(format)));
  }

  // Reads the next record or rejection into `out`, skipping blank lines.
  // False at the end of the input; an error only when reading fails.
  absl::StatusOr<bool> Next(ReadResult<Record>& out) {
    Line line;
    for (;;) {
      BROOK_ASSIGN_OR_RETURN(const bool more, lines_->Next(line));
      if (!more) return false;
      if (!line.blank()) break;
      ++blank_lines_;
    }
    out.line_number = line.number;
    std::string& reason = out.dead_letter.reason;
    if (CheckLine(line, reason) && format_.Parse(line.text, line.number, out.record, reason)) {
      out.rejected = false;
      ++accepted_;
      return true;
    }
    out.rejected = true;
    out.dead_letter.source = lines_->source();
    out.dead_letter.line_number = line.number;
    out.dead_letter.raw_line.assign(line.text);
    ++rejected_;
    return true;
  }

  // The next line's byte offset and number: a resume point for Seek.
  int64_t offset() const { return lines_->offset(); }
  int64_t next_line_number() const { return lines_->next_line_number(); }
  // Offset and number of the first line after the header.
  int64_t data_offset() const { return data_offset_; }
  int64_t data_line_number() const { return data_line_; }
  // Resumes at a line start after the header (LineReader::Seek's codes).
  // Counters are not reset.
  absl::Status Seek(int64_t offset, int64_t line_number) {
    return lines_->Seek(offset, line_number, data_offset_, data_line_);
  }
  // OK for a regular file; else why it cannot be read again from a position
  // (kFailedPrecondition). Changes nothing.
  absl::Status CheckReplayable() { return Seek(offset(), next_line_number()); }

  const std::string& source() const { return lines_->source(); }
  Format& format() { return format_; }

  int64_t accepted() const { return accepted_; }        // records returned so far
  int64_t rejected() const { return rejected_; }        // rejections returned so far
  int64_t blank_lines() const { return blank_lines_; }  // blank lines skipped so far
  void RestoreCounters(int64_t accepted, int64_t rejected, int64_t blank_lines) {
    accepted_ = accepted;
    rejected_ = rejected;
    blank_lines_ = blank_lines;
  }

 private:
  LineRecordReader(std::unique_ptr<LineReader> lines, Format format)
      : lines_(std::move(lines)),
        format_(std::move(format)),
        data_offset_(lines_->offset()),
        data_line_(lines_->next_line_number()) {}

  std::unique_ptr<LineReader> lines_;
  Format format_;
  const int64_t data_offset_;
  const int64_t data_line_;
  int64_t accepted_ = 0;
  int64_t rejected_ = 0;
  int64_t blank_lines_ = 0;
};

// FileSource's default: records carry no timestamp.
struct NoTimestamp {};

namespace internal {
// The checkpointed position of a file source reader.
struct FileSourcePosition {
  int64_t data_offset = 0;
  int64_t offset = 0;
  int64_t line_number = 0;
  int64_t accepted = 0;
  int64_t rejected = 0;
  int64_t blank_lines = 0;
  int64_t last_timestamp_ms = 0;
};
std::string EncodeFileSourcePosition(const FileSourcePosition& p);
// kDataLoss for bytes that do not decode, kFailedPrecondition for several.
absl::Status DecodeFileSourcePosition(const std::vector<std::string>& states,
                                      FileSourcePosition* p);
}  // namespace internal

template <typename T>
class FileSource final : public Source<std::variant<T, DeadLetter>> {
 public:
  using Output = std::variant<T, DeadLetter>;

  // Opens `path` ("-": stdin) and reads `format`'s header (errors above).
  // `timestamp_of`: int64_t(const T&), epoch ms, or NoTimestamp.
  template <typename Format, typename TimestampOf = NoTimestamp>
  static absl::StatusOr<std::shared_ptr<FileSource>> Open(const std::string& path, Format format,
                                                          TimestampOf timestamp_of = {}) {
    static_assert(std::is_same_v<typename Format::Record, T>);
    BROOK_ASSIGN_OR_RETURN(auto lines, LineRecordReader<Format>::Open(path, std::move(format)));
    auto source = std::shared_ptr<FileSource>(new FileSource());
    source->source_ = lines->source();
    source->replayable_ = lines->CheckReplayable();
    source->reader_ = std::make_unique<Reader<Format, TimestampOf>>(
        std::move(lines), std::move(timestamp_of), source->replayable_.ok());
    return source;
  }

  Boundedness boundedness() const override { return Boundedness::kBounded; }
  // kFailedPrecondition unless parallelism is 1, or when called twice.
  absl::StatusOr<std::unique_ptr<SourceReader<Output>>> CreateReader(
      const SourceReaderContext& ctx) override {
    if (ctx.parallelism != 1 || reader_ == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("the file source '", source_, "' runs at parallelism 1 and is read once"));
    }
    return std::move(reader_);
  }

  // OK when the input can be replayed after a crash (a regular file), else
  // why not (kFailedPrecondition): checkpointing needs it.
  const absl::Status& replayable() const { return replayable_; }
  // The path, or "stdin": DeadLetter::source.
  const std::string& source_name() const { return source_; }

 private:
  static constexpr int kRecordsPerPoll = 1024;

  template <typename Format, typename TimestampOf>
  class Reader final : public SourceReader<Output> {
   public:
    Reader(std::unique_ptr<LineRecordReader<Format>> lines, TimestampOf timestamp_of,
           bool replayable)
        : lines_(std::move(lines)),
          timestamp_of_(std::move(timestamp_of)),
          replayable_(replayable) {}

    absl::StatusOr<InputStatus> PollNext(ReaderOutput<Output>& output) override {
      for (int i = 0; i < kRecordsPerPoll; ++i) {
        BROOK_ASSIGN_OR_RETURN(const bool more, lines_->Next(result_));
        if (!more) return InputStatus::kEndOfInput;
        if constexpr (std::is_same_v<TimestampOf, NoTimestamp>) {
          if (result_.rejected) {
            output.Collect(Output(std::in_place_index<1>, result_.dead_letter));
          } else {
            output.Collect(Output(std::in_place_index<0>, result_.record));
          }
        } else if (result_.rejected) {
          output.Collect(Output(std::in_place_index<1>, result_.dead_letter), last_timestamp_ms_);
        } else {
          last_timestamp_ms_ = timestamp_of_(result_.record);
          output.Collect(Output(std::in_place_index<0>, result_.record), last_timestamp_ms_);
        }
      }
      return InputStatus::kMoreAvailable;
    }

    absl::StatusOr<std::string> SnapshotState(int64_t /*checkpoint_id*/) override {
      if (!replayable_) {
        return absl::UnimplementedError(
            absl::StrCat("'", lines_->source(), "' cannot be replayed: it does not checkpoint"));
      }
      return internal::EncodeFileSourcePosition(
          {lines_->data_offset(), lines_->offset(), lines_->next_line_number(), lines_->accepted(),
           lines_->rejected(), lines_->blank_lines(), last_timestamp_ms_});
    }

    absl::Status RestoreState(std::vector<std::string> states) override {
      if (states.empty()) return absl::OkStatus();
      internal::FileSourcePosition p;
      BROOK_RETURN_IF_ERROR(internal::DecodeFileSourcePosition(states, &p));
      if (p.data_offset != lines_->data_offset()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "'", lines_->source(), "': its header ends at offset ", lines_->data_offset(),
            " but the checkpoint's input's ended at ", p.data_offset, " (a different file?)"));
      }
      if (absl::Status s = lines_->Seek(p.offset, p.line_number); !s.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("the checkpoint's position does not fit the input: ", s.message()));
      }
      lines_->RestoreCounters(p.accepted, p.rejected, p.blank_lines);
      last_timestamp_ms_ = p.last_timestamp_ms;
      return absl::OkStatus();
    }

   private:
    std::unique_ptr<LineRecordReader<Format>> lines_;
    [[no_unique_address]] TimestampOf timestamp_of_;
    const bool replayable_;  // a regular file (not stdin, not a pipe)
    ReadResult<T> result_;
    int64_t last_timestamp_ms_ = kMinTimestampMs;
  };

  FileSource() = default;

  std::string source_;
  absl::Status replayable_;
  std::unique_ptr<SourceReader<Output>> reader_;
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_FILE_SOURCE_H_
