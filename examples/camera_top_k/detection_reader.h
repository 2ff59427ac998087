// File: camera_top_k/detection_reader.h
//
// Input parsing for the camera job.
//
// Dataset A (detections) is read by DetectionReader, a pull reader over a
// file, or stdin when the path is "-", in one of two formats:
//   * CSV with a header row (line 1). Columns are found by name, in any
//     order; extra columns are ignored. Required: geographical_location_oid,
//     video_camera_oid, detection_oid, item_name, timestamp_detected. Fields
//     may be RFC 4180 quoted. A record is one physical line ending in "\n" or
//     "\r\n"; a quoted field cannot contain a line break (such a line is
//     rejected as an unterminated quoted field, and its continuation is read
//     as a line of its own). A UTF-8 byte order mark before the header is
//     dropped.
//   * JSON Lines (path ends in ".jsonl", or InputFormat::kJsonLines): one
//     object per line with the same keys; the ids and timestamp_detected are
//     JSON integers, item_name a string; other keys are ignored.
//
// Every input line is either a record, a blank line (empty, or just "\r";
// counted by blank_lines(), never a record and never rejected), or a
// Rejection that says why, with the line's number and its raw text. A bad
// line never fails the reader and reading continues after it. The first
// problem found on a line is reported, fields checked in the order of the
// required columns above. Reasons (`X` is the field's name, "..." its text,
// truncated and escaped):
//   invalid UTF-8 at byte offset N           (0-based, within the raw line)
//   line too long: N bytes exceeds 1048576   (raw_line keeps the first
//                                             kMaxLineBytes bytes)
//   wrong field count: expected H, got N     (H = the header's field count)
//   malformed CSV quoting at byte offset N
//   unterminated quoted field (quoted fields cannot span lines)
//   X: not an integer: "..."                 (also an empty field)
//   X: integer overflow: "..."
//   item_name: empty
//   item_name: N bytes exceeds 5000
//   timestamp_detected: overflows int64 milliseconds
//   invalid JSON: <simdjson's message>       (JSONL; also a non-object line)
//   missing field: X                         (JSONL)
//   X: expected integer, got string          (JSONL; or bool, null, ...)
//   X: expected integer, got floating-point number   (JSONL; 1.5, 1e3)
//   item_name: expected string, got integer  (JSONL)
//
// Integers are strict decimal int64: optional '-', digits only. A leading
// '+', surrounding whitespace, or anything else makes the field "not an
// integer"; leading zeros are accepted. Negative ids are accepted.
// timestamp_detected is converted to epoch milliseconds by TimestampUnit:
// seconds * 1000 (a rejection when that overflows), milliseconds as is,
// microseconds / 1000 rounded toward negative infinity.
//
// Status codes: Open returns kNotFound for a missing file, the errno's code
// (kPermissionDenied, kFailedPrecondition for a directory, ...; kUnavailable
// where the errno has no better code) for one that cannot be opened or read,
// and kInvalidArgument for an empty CSV input or a header that lacks a
// required column (naming the file and the columns). Next returns an error
// only when reading the input fails (kUnavailable or the errno's code).
//
// Thread-safety: not thread-safe; use one reader per thread.
//
// Dataset B (locations) is loaded whole by LoadLocationsCsv; there a bad row
// is an error, because a small static table is fixed, not dead-lettered.
#ifndef CAMERA_TOP_K_DETECTION_READER_H_
#define CAMERA_TOP_K_DETECTION_READER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "camera_top_k/detection.h"

namespace camera {

// Longest accepted input line, in bytes, without its terminator. Bounds the
// reader's memory whatever the input holds.
inline constexpr size_t kMaxLineBytes = size_t{1} << 20;

enum class InputFormat {
  kAuto,  // kJsonLines when the path ends in ".jsonl", else kCsv
  kCsv,
  kJsonLines,
};

// Parses --input_format values: "auto", "csv", "jsonl". kInvalidArgument
// otherwise.
absl::StatusOr<InputFormat> ParseInputFormat(std::string_view text);
// Parses --timestamp_unit values: "s", "ms", "us". kInvalidArgument otherwise.
absl::StatusOr<TimestampUnit> ParseTimestampUnit(std::string_view text);

// Converts `value` in `unit` to epoch milliseconds (see the file comment for
// the rounding). False when the result does not fit in int64.
bool TimestampToMillis(int64_t value, TimestampUnit unit, int64_t& millis);

// Why a line of Dataset A was not accepted; what a dead-letter file holds.
struct Rejection {
  std::string source;       // the path given to Open, or "stdin" for "-"
  int64_t line_number = 0;  // 1-based physical line; a CSV header is line 1
  std::string reason;       // see the file comment
  std::string raw_line;     // the line without "\n" / "\r\n"
};

// One result of DetectionReader::Next. Only the member that `rejected`
// selects is meaningful; the other keeps stale contents so that its buffers
// are reused across calls.
struct ReadResult {
  bool rejected = false;
  int64_t line_number = 0;  // the physical line of the record or rejection
  Detection detection;
  Rejection rejection;
};

class DetectionReader {
 public:
  // Opens `path` ("-" for stdin) and, for CSV, reads and checks the header.
  static absl::StatusOr<std::unique_ptr<DetectionReader>> Open(
      std::string path, InputFormat format, TimestampUnit unit);

  DetectionReader(const DetectionReader&) = delete;
  DetectionReader& operator=(const DetectionReader&) = delete;
  ~DetectionReader();

  // Reads the next record or rejection into `out`, skipping blank lines.
  // Returns false at the end of the input.
  absl::StatusOr<bool> Next(ReadResult& out);

  // Byte offset of the start of the next line to read, and that line's
  // number: together a resume point for Seek.
  int64_t offset() const;
  int64_t next_line_number() const;

  // Resumes reading at `offset`, which must be the start of a data line
  // (as offset() reported it, or data_offset()), numbering that line
  // `line_number`. Only for a regular file opened by path:
  // kFailedPrecondition for stdin or a pipe; kInvalidArgument or kOutOfRange
  // for an offset that is not a line start after the header. Counters are
  // not reset.
  absl::Status Seek(int64_t offset, int64_t line_number);

  // Offset of the first data line: just after the CSV header; 0 for JSON
  // Lines.
  int64_t data_offset() const;

  InputFormat format() const;         // kCsv or kJsonLines, never kAuto
  const std::string& source() const;  // as in Rejection::source

  int64_t accepted() const;     // records returned so far
  int64_t rejected() const;     // rejections returned so far
  int64_t blank_lines() const;  // blank lines skipped so far
  // Sets the three counters above, for a reader resumed with Seek() from a
  // checkpoint that recorded them.
  void RestoreCounters(int64_t accepted, int64_t rejected, int64_t blank_lines);

 private:
  class Impl;
  explicit DetectionReader(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

// Loads Dataset B: CSV with a header that has geographical_location_oid and
// geographical_location (any order, extra columns ignored), rows in file
// order. Blank lines are skipped. Errors: kNotFound for a missing file, the
// errno's code for an unreadable one, kInvalidArgument naming the file, line
// and field for an empty file, a missing column, or any bad row (wrong field
// count, invalid UTF-8, bad integer, geographical_location over
// kMaxLocationNameBytes, a duplicate geographical_location_oid).
absl::StatusOr<std::vector<Location>> LoadLocationsCsv(const std::string& path);

}  // namespace camera

#endif  // CAMERA_TOP_K_DETECTION_READER_H_
