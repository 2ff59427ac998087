// File: brook/connectors/csv.h
//
// RFC 4180 CSV output: field escaping, a row appender, a CsvWriter, and the
// dead-letter CSV encoding (columns source,line_number,reason,raw_line) that
// any job's dead-letter sink can use with TransactionalFileSink:
// Example:
//   auto sink = TransactionalFileSink<DeadLetter>::Open(
//       path, FileSinkMode::kTransactional, DeadLetterCsvSinkOptions());
//
// A field is quoted when it contains a comma, a double quote, CR or LF;
// embedded quotes are doubled. Everything else, empty fields and surrounding
// spaces included, is written as is, so that a CSV reader reads back exactly
// what was written. Rows end in "\n" (not RFC 4180's "\r\n": the files are
// for Unix tools; the CSV readers accept both).
//
// CsvWriter writes to a FILE* or appends to a std::string, neither owned.
// Write errors on a FILE* are returned as the errno's absl::Status code
// (kResourceExhausted for a full disk, kUnavailable where there is no better
// code); a string sink never fails. Nothing here is thread-safe.
#ifndef BROOK_CONNECTORS_CSV_H_
#define BROOK_CONNECTORS_CSV_H_

#include <cstdint>
#include <cstdio>
#include <charconv>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "brook/connectors/dead_letter.h"
#include "brook/connectors/transactional_file_sink.h"

namespace brook::connectors {

// `field` as one CSV field.
std::string CsvEscape(std::string_view field);
// Appends `field` as one CSV field to `out`.
void AppendCsvField(std::string_view field, std::string& out);

namespace csv_internal {
template <typename T>
void AppendValue(const T& value, std::string& out) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    AppendCsvField(std::string_view(value), out);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else {
    static_assert(std::is_arithmetic_v<T>, "AppendCsvRow writes strings and numbers");
    // The shortest text that reads back as the same number (as fmt's "{}");
    // a number's text never needs quoting.
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out.append(buffer, result.ptr);
  }
}
}  // namespace csv_internal

// AppendCsvRow(out, values...): appends one row of strings and numbers,
// comma-separated and ending in "\n"; strings are escaped, numbers
// written in their shortest exact form. Allocates nothing once `out` has grown.
template <typename... Ts>
void AppendCsvRow(std::string& out, const Ts&... values) {
  bool first = true;
  auto append = [&](const auto& value) {
    if (!first) out += ',';
    first = false;
    csv_internal::AppendValue(value, out);
  };
  (append(values), ...);
  out += '\n';
}

class CsvWriter {
 public:
  explicit CsvWriter(std::FILE* file) : file_(file) {}
  explicit CsvWriter(std::string* buffer) : buffer_(buffer) {}

  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;

  // CsvWriter::WriteRow(): one row of text fields: WriteRow({"a", name, "c"}).
  absl::Status WriteRow(std::initializer_list<std::string_view> fields);
  absl::Status WriteRow(const std::vector<std::string>& fields);

  // CsvWriter::WriteValues(): one row of values, as AppendCsvRow.
  template <typename... Ts>
  absl::Status WriteValues(const Ts&... values) {
    row_.clear();
    AppendCsvRow(row_, values...);
    return EndRow();
  }

  // CsvWriter::Flush(): fflush for a FILE*; a no-op for a string.
  absl::Status Flush();

  int64_t rows_written() const { return rows_written_; }

 private:
  // Sends row_ (which ends in "\n") to the sink.
  absl::Status EndRow();

  std::FILE* file_ = nullptr;
  std::string* buffer_ = nullptr;
  std::string row_;
  int64_t rows_written_ = 0;
};

// ---- dead letters as CSV

// The dead-letter CSV's header line (without "\n").
inline constexpr std::string_view kDeadLetterCsvHeader = "source,line_number,reason,raw_line";

// AppendDeadLetterCsv(): appends `letter` as one row of the dead-letter CSV.
inline void AppendDeadLetterCsv(const DeadLetter& letter, std::string& out) {
  AppendCsvRow(out, letter.source, letter.line_number, letter.reason, letter.raw_line);
}

// DeadLetterInputOrder(): orders dead letters by where they were read
// (source, line number, then reason). Dead letters reach one sink from
// several subtasks; written in this order between watermarks, the file is
// the same at any parallelism.
bool DeadLetterInputOrder(const DeadLetter& a, const DeadLetter& b);

// DeadLetterCsvSinkOptions(): the dead-letter CSV for TransactionalFileSink:
// its header, AppendDeadLetterCsv, and DeadLetterInputOrder between
// watermarks.
FileSinkOptions<DeadLetter> DeadLetterCsvSinkOptions();

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_CSV_H_
