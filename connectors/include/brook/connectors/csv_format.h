// File: brook/connectors/csv_format.h
//
// CSV with a header row (line 1), as Flink's flink-csv: CsvFormat<Schema> is
// a line format for FileSource (one line, one record or a rejection), and
// LoadCsvTable reads a small static table whole, where any bad row is an
// error instead.
//
// Columns are found in the header by name, in any order; extra columns are
// ignored. Fields may be RFC 4180 quoted (parsed by libcsv, strict mode). A
// record is one physical line: a quoted field cannot contain a line break.
// Lines first pass CheckLine (length, UTF-8; see line_reader.h), then:
//   wrong field count: expected H, got N     (H = the header's field count)
//   malformed CSV quoting at byte offset N
//   unterminated quoted field (quoted fields cannot span lines)
// then each column's rules in schema order (row_schema.h).
//
// Header errors (kInvalidArgument, reported when the source is opened):
//   SOURCE: empty input: no CSV header
//   SOURCE:1: CSV header: blank line | N bytes exceeds 1048576 |
//     invalid UTF-8 at byte offset N | <a quoting reason> |
//     duplicate column: X | missing required column(s): X, Y (header: "...")
//
// Thread-safety: a format (its parser) belongs to one reader at a time.
#ifndef BROOK_CONNECTORS_CSV_FORMAT_H_
#define BROOK_CONNECTORS_CSV_FORMAT_H_

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/connectors/line_reader.h"
#include "brook/connectors/row_schema.h"
#include "brook/status.h"

namespace brook::connectors {

// Splits one CSV line (without terminator) into fields. Lines without a '"'
// are split on ','; others go through libcsv (kept out of this header).
class CsvSplitter {
 public:
  CsvSplitter();
  CsvSplitter(CsvSplitter&&) noexcept;
  CsvSplitter& operator=(CsvSplitter&&) noexcept;
  ~CsvSplitter();

  // Fills `fields` with views into `line` or into this object, valid until the
  // next call. False, with `reason` set, for malformed quoting.
  bool Split(std::string_view line, std::vector<std::string_view>& fields, std::string& reason);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace internal {
// Reads line 1 of `lines` as a CSV header and finds each of `wanted` in it
// (index[c]: its field position); `header_size`: the header's field count.
absl::Status ReadCsvHeader(LineReader& lines, CsvSplitter& splitter,
                           std::span<const std::string_view> wanted, std::span<int> index,
                           size_t& header_size);
// "wrong field count: expected H, got N".
void FieldCountReason(size_t expected, size_t got, std::string& reason);
// kInvalidArgument "SOURCE:LINE: what".
absl::Status RowError(const std::string& source, int64_t line_number, std::string_view what);
}  // namespace internal

template <typename Schema>
class CsvFormat {
 public:
  using Record = typename Schema::Record;

  explicit CsvFormat(Schema schema) : schema_(std::move(schema)) {}

  // Reads and checks the header (line 1); the errors above.
  absl::Status ReadHeader(LineReader& lines) {
    return internal::ReadCsvHeader(lines, splitter_, schema_.names(), index_, header_size_);
  }

  // Headerless CSV (e.g. a Kafka message value holding one record): the
  // fields are the schema's columns in schema order, exactly kNumColumns of
  // them. Called instead of ReadHeader.
  void UseSchemaOrder() {
    for (size_t i = 0; i < index_.size(); ++i) index_[i] = static_cast<int>(i);
    header_size_ = Schema::kNumColumns;
  }

  // Parses one data line (after CheckLine) into `out`; false with `reason`.
  // `out` keeps stale fields after a rejection (its buffers are reused).
  bool Parse(std::string_view text, int64_t line_number, Record& out, std::string& reason) {
    if (!splitter_.Split(text, fields_, reason)) return false;
    if (fields_.size() != header_size_) {
      internal::FieldCountReason(header_size_, fields_.size(), reason);
      return false;
    }
    schema_.SetLineNumber(out, line_number);
    return schema_.ForEachColumn([&]<size_t I>(const auto& column) {
      const std::string_view field = fields_[index_[I]];
      if constexpr (std::decay_t<decltype(column)>::kType == FieldType::kInt64) {
        int64_t value = 0;
        return internal::ParseInt64Field(column.name(), field, value, reason) &&
               column.Set(out, value, reason);
      } else {
        return column.Set(out, field, reason);
      }
    });
  }

 private:
  Schema schema_;
  CsvSplitter splitter_;
  std::vector<std::string_view> fields_;
  std::array<int, Schema::kNumColumns> index_{};
  size_t header_size_ = 0;
};

// Reads the CSV table at `path` whole, calling `on_row(Record&&, int64_t
// line_number)` -> absl::Status for each data row in file order; blank lines
// are skipped. Any bad row is an error: kInvalidArgument "PATH:LINE: reason"
// (the reasons above); an error from `on_row` is returned with "PATH:LINE: "
// before its message. Open errors as LineReader::Open.
template <typename Schema, typename OnRow>
absl::Status ReadCsvTable(const std::string& path, Schema schema, OnRow&& on_row) {
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<LineReader> lines, LineReader::Open(path));
  CsvFormat<Schema> format(std::move(schema));
  BROOK_RETURN_IF_ERROR(format.ReadHeader(*lines));
  std::string reason;
  Line line;
  for (;;) {
    BROOK_ASSIGN_OR_RETURN(const bool more, lines->Next(line));
    if (!more) return absl::OkStatus();
    if (line.blank()) continue;
    typename Schema::Record row{};
    if (!CheckLine(line, reason) || !format.Parse(line.text, line.number, row, reason)) {
      return internal::RowError(lines->source(), line.number, reason);
    }
    if (absl::Status s = on_row(std::move(row), line.number); !s.ok()) {
      const std::string what(s.message());
      return absl::Status(s.code(),
                          internal::RowError(lines->source(), line.number, what).message());
    }
  }
}

// The rows of the CSV table at `path`, in file order (see ReadCsvTable).
template <typename Schema>
absl::StatusOr<std::vector<typename Schema::Record>> LoadCsvTable(const std::string& path,
                                                                  Schema schema) {
  std::vector<typename Schema::Record> rows;
  BROOK_RETURN_IF_ERROR(
      ReadCsvTable(path, std::move(schema), [&rows](typename Schema::Record&& row, int64_t) {
        rows.push_back(std::move(row));
        return absl::OkStatus();
      }));
  return rows;
}

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_CSV_FORMAT_H_
