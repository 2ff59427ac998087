// File: camera_top_k/csv_writer.h
//
// RFC 4180 CSV output for the camera job's result and dead-letter files.
//
// A field is quoted when it contains a comma, a double quote, CR or LF;
// embedded quotes are doubled. Everything else, empty fields and surrounding
// spaces included, is written as is, so that DetectionReader reads back
// exactly what was written. Rows end in "\n" (not RFC 4180's "\r\n": the
// files are for Unix tools, and DetectionReader accepts both).
//
// CsvWriter writes to a FILE* or appends to a std::string, neither owned.
// Write errors on a FILE* are returned as the errno's absl::Status code
// (kResourceExhausted for a full disk, kUnavailable where there is no better
// code); a string sink never fails. Not thread-safe.
#ifndef CAMERA_TOP_K_CSV_WRITER_H_
#define CAMERA_TOP_K_CSV_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace camera {

// `field` as one CSV field.
std::string CsvEscape(std::string_view field);
// Appends `field` as one CSV field to `out`.
void AppendCsvField(std::string_view field, std::string& out);

class CsvWriter {
 public:
  explicit CsvWriter(std::FILE* file) : file_(file) {}
  explicit CsvWriter(std::string* buffer) : buffer_(buffer) {}

  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;

  // Writes one row of text fields: WriteRow({"a", name, "c"}).
  absl::Status WriteRow(std::initializer_list<std::string_view> fields);
  absl::Status WriteRow(const std::vector<std::string>& fields);

  // Writes one row of values of any type fmt can format; strings are
  // escaped, numbers written as fmt's "{}" does: WriteValues(oid, 3, name).
  template <typename... Ts>
  absl::Status WriteValues(const Ts&... values) {
    row_.clear();
    bool first = true;
    (AppendValue(values, first), ...);
    return EndRow();
  }

  // fflush for a FILE*; a no-op for a string.
  absl::Status Flush();

  int64_t rows_written() const { return rows_written_; }

 private:
  template <typename T>
  void AppendValue(const T& value, bool& first) {
    if (!first) row_ += ',';
    first = false;
    if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      AppendCsvField(std::string_view(value), row_);
    } else {
      scratch_.clear();
      fmt::format_to(std::back_inserter(scratch_), "{}", value);
      AppendCsvField(scratch_, row_);
    }
  }

  // Ends row_ with "\n" and sends it to the sink.
  absl::Status EndRow();

  std::FILE* file_ = nullptr;
  std::string* buffer_ = nullptr;
  std::string row_;
  std::string scratch_;
  int64_t rows_written_ = 0;
};

}  // namespace camera

#endif  // CAMERA_TOP_K_CSV_WRITER_H_
