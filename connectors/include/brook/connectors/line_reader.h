// File: brook/connectors/line_reader.h
//
// LineReader: the physical lines of a file, or of stdin when the path is
// "-", each with its 1-based number and the byte offset of the line after it,
// so that a reader can report lines and resume at one. The layer under
// FileSource and LoadCsvTable; a line format never reads the file itself.
//
// A line ends in "\n" or "\r\n" (the terminator is not part of its text); the
// last line may lack one. A UTF-8 byte order mark at offset 0 is dropped. A
// line longer than kMaxLineBytes is kept as its first kMaxLineBytes bytes and
// flagged `overlong`, so memory stays bounded whatever the input holds.
//
// Reading is a 2 MiB buffer filled by read(2) and split with memchr; a line's
// text points into that buffer (no copy), followed by at least kLinePadding
// readable bytes, so a parser that reads ahead (simdjson) needs no copy either.
//
// Status codes: Open returns kNotFound for a missing file, the errno's code
// (kPermissionDenied; kFailedPrecondition for a directory ...; kUnavailable
// where the errno has none better) for one that cannot be opened; Next returns
// kUnavailable or the errno's code when reading fails.
//
// Thread-safety: not thread-safe; one reader per thread.
#ifndef BROOK_CONNECTORS_LINE_READER_H_
#define BROOK_CONNECTORS_LINE_READER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brook::connectors {

// Longest accepted line, in bytes, without its terminator.
inline constexpr size_t kMaxLineBytes = size_t{1} << 20;
// Readable bytes guaranteed after every Line::text (simdjson's padding).
inline constexpr size_t kLinePadding = 64;

// One physical line, valid until the next call on its LineReader.
struct Line {
  std::string_view text;  // without terminator; at most kMaxLineBytes bytes
  int64_t number = 0;     // 1-based physical line number
  bool overlong = false;  // longer than kMaxLineBytes: `text` is its head
  int64_t length = 0;     // the full length in bytes, without terminator

  // Empty (or just "\r"): neither a record nor a rejection.
  bool blank() const { return text.empty() && !overlong; }
};

// Checks what every text line format requires: at most kMaxLineBytes bytes
// and valid UTF-8. False with `reason` set to "line too long: N bytes exceeds
// 1048576" or "invalid UTF-8 at byte offset N" (0-based, within the line).
bool CheckLine(const Line& line, std::string& reason);

class LineReader {
 public:
  // Opens `path`, or stdin for "-" (source() is then "stdin").
  static absl::StatusOr<std::unique_ptr<LineReader>> Open(const std::string& path);

  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  ~LineReader();

  // Reads the next line into `line`; false at the end of the input.
  absl::StatusOr<bool> Next(Line& line);

  // Resumes at `offset`, the start of a line (as offset() reported it),
  // numbering that line `line_number`. Only for a regular file opened by
  // path: kFailedPrecondition for stdin or a pipe; kInvalidArgument for an
  // offset or line before (`min_offset`, `min_line`) (a header) or not at a
  // line start; kOutOfRange for an offset past the end.
  absl::Status Seek(int64_t offset, int64_t line_number, int64_t min_offset, int64_t min_line);

  // Byte offset of the next line to read, and its number.
  int64_t offset() const { return offset_; }
  int64_t next_line_number() const { return next_line_; }
  // The path given to Open, or "stdin" for "-": DeadLetter::source.
  const std::string& source() const { return source_; }

 private:
  LineReader(int fd, bool owns_fd, std::string path, std::string source);
  absl::Status Fill();
  void Emit(Line& line, size_t stop, size_t next);
  absl::Status SkipOverlong(Line& line);

  const int fd_;
  const bool owns_fd_;
  const std::string path_;
  const std::string source_;
  std::unique_ptr<char[]> buf_;
  size_t begin_ = 0;  // start of the next line in buf_
  size_t end_ = 0;    // end of the data in buf_
  size_t scan_ = 0;   // where to look for the next '\n' (already scanned below)
  bool eof_ = false;
  int64_t offset_ = 0;  // input offset of buf_[begin_]
  int64_t next_line_ = 1;
  std::string overlong_;
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_LINE_READER_H_
